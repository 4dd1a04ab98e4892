using System.Diagnostics;
using System.Runtime.CompilerServices;
using Butterfly.Infrastructure.Dpdk.Native;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Capture;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Stage: the VXLAN half of <see cref="Forwarder"/>, run to completion like the local half.
///
/// Encap (<see cref="EncapTo"/>): a frame switched to a remote VTEP (a learned MAC, or one copy
/// per head-end peer of a flood) gets its outer Ethernet/IP/UDP/VXLAN headers written into the
/// mbuf's headroom and is staged on the underlay port; one that would not fit the underlay goes
/// to the path-MTU stage first (Forwarder.PathMtu.cs: answered with ICMP, or fragmented). A peer whose MAC is not known yet gets
/// one ARP request / neighbour solicitation per retry interval from a fresh mbuf, and the frame
/// waits for the answer a little (Forwarder.Parking.cs).
/// Underlay (<see cref="UnderlayBurst"/>): ARP/ND for our VTEP address are answered in the
/// received mbuf and sent back out the underlay; VXLAN frames are validated, stripped in place
/// (data_off moved past the outer headers), their inner source MAC learned against the remote
/// VTEP, and switched to the local NIC(s) of their VNI through each one's ingress firewall,
/// never back to the underlay.
/// Drop reasons: the underlay stage's, decap's, encap's, <see cref="DropReason.UnderlayNoTunnel"/>
/// when the underlay has no usable configuration, and the local half's.
/// State: the learned FDB, the neighbour table and the path cache, owned by the packet thread.
/// Per packet: no allocation, lock, syscall, exception or log.
/// </summary>
internal sealed unsafe partial class Forwarder
{
    /// <summary>Learned remote MACs, all VNIs together (bounded; the least recently refreshed one goes first).</summary>
    internal const int LearnedCapacity = 16384;

    private const int NeighbourCapacity = 1024;

    private static readonly long NeighbourReachableTicks = 30 * Stopwatch.Frequency;
    private static readonly long NeighbourRetryTicks = Stopwatch.Frequency / 2;
    private static readonly long NeighbourExpireTicks = 300 * Stopwatch.Frequency;

    /// <summary>Learned MACs aged out per idle round at most, so a sweep never delays a frame much.</summary>
    private const int SweepBudget = 256;

    /// <summary>Connection-table entries visited per idle round (a few microseconds).</summary>
    private const int IdleConnectionSweepBudget = 4096;

    private readonly UnderlayConfig? _underlayConfig;
    private readonly ushort _underlayPort;
    private readonly LearnedFdb _learned;
    private readonly NeighbourTable _neighbours;
    private readonly UnderlayPathCache _pathCache = new();

    /// <summary>Remote MACs learned so far (a snapshot for statistics and tests). Packet thread or quiescent.</summary>
    internal int LearnedCount => _learned.Count;

    /// <summary>
    /// Handles the <paramref name="n"/> frames received on the underlay port; returns how many
    /// were dropped (ARP/ND consumed without a reply are not drops).
    /// </summary>
    [SkipLocalsInit]
    internal uint UnderlayBurst(SwitchTables tables, FirewallPolicy policy, nint* burst, int n, long now)
    {
        var dropped = 0u;
        var config = _underlayConfig;
        var capture = _captures[_underlayPort];
        for (var i = 0; i < n; i++)
        {
            var m = burst[i];
            // --packet-trace: as received, before a reply or decapsulation rewrites the buffer.
            capture?.Write(new Mbuf(m).Head, new Mbuf(m).PacketLength, now, CaptureDirection.Inbound, CaptureRing.NoVerdict);
            var reason = config is null ? DropReason.UnderlayNoTunnel : Underlay(tables, policy, config, new Mbuf(m), now);
            if (reason == DropReason.None)
            {
                continue;
            }
            if (reason != DropReasonConsumed)
            {
                _drops.Count(reason);
                dropped++;
            }
            _toFree[_toFreeCount++] = m;
        }
        if (_toFreeCount != 0)
        {
            Shim.bf_pktmbuf_free_bulk(_toFree, (uint)_toFreeCount);
            _toFreeCount = 0;
        }
        FlushAll();
        return dropped;
    }

    /// <summary>Ages learned MACs and tracked connections out a little at a time; called by the packet thread when idle.</summary>
    internal void Sweep(FirewallPolicy policy, long now)
    {
        _learned.Sweep(now, SweepBudget);
        _firewall.Sweep(policy, now, IdleConnectionSweepBudget);
    }

    /// <summary>Marks a frame the underlay stage consumed: freed, but not a drop.</summary>
    private const DropReason DropReasonConsumed = (DropReason)byte.MaxValue;

    /// <summary>One underlay frame: None when it was staged somewhere, else why it is freed.</summary>
    [SkipLocalsInit]
    private DropReason Underlay(SwitchTables tables, FirewallPolicy policy, UnderlayConfig config, Mbuf m, long now)
    {
        if (m.Segments != 1)
        {
            // Tunnel frames fit one segment (the underlay MTU is below the mbuf's data room).
            return DropReason.DecapTruncated;
        }
        var dataOff = m.DataOffset;
        Span<byte> frame = m.Head;
        var reason = PacketParser.Parse(frame, out var outer);
        if (reason != DropReason.None)
        {
            return reason;
        }
        // The responders read the request entirely before writing, so the reply may be built in
        // the request's own buffer.
        var room = m.Room;
        var reply = room[..Math.Min(room.Length, UnderlayStage.ReplyBufferLength)];
        var r = UnderlayStage.Process(frame, outer, config, _neighbours, now, reply);
        switch (r.Action)
        {
            case UnderlayAction.Reply:
                _neighbourNews = true;
                m.SetLength(r.ReplyLength);
                m.OffloadFlags = 0;
                Stage(_underlayPort, m.Address);
                return DropReason.None;
            case UnderlayAction.Consumed:
                _neighbourNews = true;
                return DropReasonConsumed;
            case UnderlayAction.MembershipQuery:
                _membership.Queried();
                return DropReasonConsumed;
            case UnderlayAction.Decapsulated:
                break;
            default:
                return r.Reason;
        }
        var decap = r.Decap;
        var innerFrame = frame.Slice(decap.InnerOffset, decap.InnerLength);
        reason = PacketParser.Parse(innerFrame, out var inner);
        if (reason != DropReason.None)
        {
            return reason;
        }
        var d = SwitchStage.FromUnderlay(tables, _learned, decap.Vni, decap.RemoteVtep, inner, now);
        if (d.Kind is not (ForwardKind.Local or ForwardKind.Flood))
        {
            return d.Kind == ForwardKind.Drop ? d.Reason : DropReason.SwitchRemoteToRemote;
        }
        // rte_pktmbuf_adj + trim: the mbuf now holds the inner frame only.
        m.DataOffset = (ushort)(dataOff + decap.InnerOffset);
        m.SetLength(decap.InnerLength);
        m.OffloadFlags = 0;
        if (d.Kind == ForwardKind.Local)
        {
            reason = Ingress(policy, d.Port, innerFrame, m.PacketLength, inner, now);
            if (reason == DropReason.None)
            {
                Stage(d.Port, m.Address);
            }
            return reason;
        }
        return Flood(tables, policy, d, m, innerFrame, inner, now);
    }

    /// <summary>
    /// Encapsulates <paramref name="m"/> towards <paramref name="vtep"/> and stages it on the
    /// underlay (or parks it while the next hop's MAC is resolved, <see cref="Park"/>); returns
    /// None when it took the frame, or why the caller must drop and free it.
    /// <paramref name="sender"/> is the local NIC port the frame came from, answered when the frame
    /// does not fit (Forwarder.PathMtu.cs), or <see cref="NoSender"/>; <paramref name="parkedSince"/>
    /// is when a parked frame was first parked, -1 for a new one.
    /// </summary>
    private DropReason EncapTo(nint m, IpAddr vtep, uint vni, uint flowHash, long now, ushort sender, long parkedSince = -1)
    {
        var config = _underlayConfig;
        if (config is null)
        {
            return DropReason.UnderlayNoTunnel;
        }
        var mbuf = new Mbuf(m);
        // A guest's partial checksum is finished in place, a TSO frame is cut into segments that
        // come back through here (Forwarder.Offload.cs); true when that decided the frame's fate.
        if (AsksOffload(m) && EncapOffloaded(m, vtep, vni, now, sender, out var offloaded))
        {
            return offloaded;
        }
        if (mbuf.Segments != 1 || mbuf.DataLength > MaxInnerFrame(vtep))
        {
            // Too big for the underlay, or chained (a jumbo frame: encapsulation takes one buffer,
            // and the mbufs chain only past their data room, which bounds the inner frame too).
            return TooBig(m, vtep, vni, flowHash, now, sender);
        }
        var status = _pathCache.PathTo(config, _neighbours, vtep, now, out var path, out var nextHop);
        if (status is PathStatus.ReadyProbe or PathStatus.Unresolved)
        {
            SendResolution(config, nextHop);
        }
        if (status is not (PathStatus.Ready or PathStatus.ReadyProbe))
        {
            if (status == PathStatus.NoUnderlayAddress)
            {
                return DropReason.EncapNoUnderlayAddress;
            }
            return Park(m, vtep, nextHop, vni, flowHash, parkedSince < 0 ? now : parkedSince)
                ? DropReason.None
                : DropReason.EncapNeighbourUnresolved;
        }
        int offset = mbuf.DataOffset;
        int length = mbuf.DataLength;
        var buffer = new Span<byte>(mbuf.Buffer, offset + length);
        var reason = VxlanEncap.Encapsulate(buffer, ref offset, ref length, path, vni, flowHash);
        if (reason != DropReason.None)
        {
            return reason;
        }
        mbuf.DataOffset = (ushort)offset;
        mbuf.SetLength(length);
        // The inner frame's offload requests were finished above; none may reach the underlay port.
        mbuf.OffloadFlags = 0;
        Stage(_underlayPort, m);
        return DropReason.None;
    }

    /// <summary>Stages one copy of a flooded frame per head-end peer; the original too when <paramref name="useOriginal"/>.</summary>
    private void FloodRemote(SwitchTables tables, in ForwardDecision d, nint m, in PacketMeta meta, long now, bool useOriginal, ref DropReason originalReason)
    {
        var vteps = tables.FloodVtepsOf(d.Slot);
        var hash = FlowHash.Of(meta);
        for (var v = 0; v < vteps.Length; v++)
        {
            var last = useOriginal && v == vteps.Length - 1;
            var frame = last ? m : Shim.bf_pktmbuf_copy(m, _pool);
            if (frame == 0)
            {
                _drops.Count(DropReason.NoMbuf);
                continue;
            }
            // A flood from a local NIC excludes its ingress port: that is the sender to answer.
            var reason = EncapTo(frame, vteps[v], d.Vni, hash, now, d.Port);
            if (reason == DropReason.None)
            {
                continue;
            }
            if (last)
            {
                originalReason = reason;
            }
            else
            {
                _drops.Count(reason);
                Shim.bf_pktmbuf_free_bulk(&frame, 1);
            }
        }
    }

    /// <summary>Sends an ARP request or neighbour solicitation for <paramref name="nextHop"/> from a fresh mbuf.</summary>
    private void SendResolution(UnderlayConfig config, IpAddr nextHop)
    {
        var m = AllocFrame(out var room);
        if (m != 0)
        {
            _ = StageFrame(m, UnderlayRouting.BuildResolutionRequest(config, nextHop, room));
        }
    }
}
