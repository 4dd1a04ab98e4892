using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Butterfly.Infrastructure.Dpdk.Native;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Capture;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Stage: one RX burst from a local NIC, run to completion as a straight chain (the VXLAN half,
/// for remote destinations and frames from the underlay, is in Forwarder.Vxlan.cs):
/// <code>
///   parse ─► anti-spoof + egress firewall (the sending NIC) ─► switch ─┬─► ingress firewall (each local NIC) ─► stage
///                                                                     └─► path MTU ─► VXLAN encap ─► stage on the underlay
///                                                                            └─► too big: ICMP back to the sending NIC,
///                                                                                or IPv4 fragments (Forwarder.PathMtu.cs)
/// </code>
/// Input: a burst of mbufs received on a NIC's port handle, the <see cref="SwitchTables"/> and
/// the <see cref="FirewallPolicy"/> the packet thread read at the start of its round.
/// Output: every frame either staged for its output port(s) and sent when the burst ends (or
/// a port's stage fills), or dropped and freed. Unicast to the local NIC owning the destination
/// MAC in the ingress NIC's VNI; unknown unicast, broadcast and multicast to every other local
/// NIC of that VNI whose port can take it and whose firewall admits it (deep copies from the
/// pool for all but the last, which gets the original; vhost-user NICs without a running guest
/// are skipped), and from a local NIC also encapsulated to every head-end peer of the VNI; a MAC
/// learned behind a remote VTEP is encapsulated to it (its host applies the ingress firewall).
/// Never across VNIs: every lookup is keyed by the ingress port's VNI slot.
/// Firewall: <see cref="FirewallStage"/>, skipped for bypass_filtering NICs; a NIC port the
/// policy does not know is refused (<see cref="DropReason.FirewallNoPolicy"/>), never let through.
/// The burst runs in three passes: (1) parse, anti-spoof, classify the flow in the sending NIC's
/// zone, switch (the decision only reads tables, so it is taken before the egress verdict), and
/// for a frame to a filtered local NIC the flow's hash in that NIC's zone (the flow is classified
/// and hashed once for both lookups; ConnectionTable.FindInZone compares it with the zone
/// replaced), each index slot prefetched; (2) prefetch every connection; (3) the egress verdict,
/// then the ingress verdict or the VXLAN path. A burst's misses in a large table overlap.
/// Anti-spoof and firewall drops are also counted per NIC (<see cref="FilterDropTable"/>): on the
/// sending NIC for anti-spoof and egress, on each refusing destination for ingress.
/// Transmit: vhost-user NICs through bf_vhost_enqueue (the library copies into the guest, so
/// the mbufs are freed whatever it took), ethdev ports (taps) through bf_tx_burst (the driver
/// owns what it took; the rest is freed).
/// Capture (packet_trace, Forwarder.Capture.cs): a traced NIC's frames are copied into its ring
/// after their verdict — from the NIC after anti-spoof and egress, to it at the ingress firewall
/// when refused and at transmission when passed.
/// Drop reasons: the parser's, the firewall's, the switch stage's, <see cref="DropReason.NoDestination"/>,
/// <see cref="DropReason.TxFull"/>, <see cref="DropReason.NoMbuf"/>.
/// State: per-port counters (out on the output port; drops on the port that dropped), the
/// <see cref="DropCounters"/>, the connection table (in the firewall), and staging arrays in
/// native memory allocated once.
/// Thread: the packet thread only. Per packet: no allocation, lock, syscall, exception or log.
/// </summary>
internal sealed unsafe partial class Forwarder : IDisposable
{
    private readonly nint _pool;
    private readonly PortCounters* _counters;
    private readonly DropCounters _drops;
    private readonly FirewallStage _firewall;
    private readonly FilterDropTable _filterDrops;

    // Staged frames: BurstSize slots per handle, how many each holds, and the handles holding
    // some (each once, flagged in _touchedFlags) so a flush visits only those.
    private nint* _staged;
    private ushort* _stagedCounts;
    private ushort* _touched;
    private byte* _touchedFlags;
    private int _touchedCount;

    // One burst's frames to free together, and the lengths of one port's staged frames (and
    // where each is staged in the port's capture ring, when it is traced).
    private nint* _toFree;
    private int _toFreeCount;
    private uint* _lengths;
    private int* _captureOffsets;

    // The ports a flood reaches; a port is at most once in a VNI, so PortHandles.Count is enough.
    private readonly ushort[] _floodPorts;

    /// <param name="underlayPort">The underlay's handle, where encapsulated frames and ARP/ND go.</param>
    /// <param name="underlay">This host's underlay, or null when it has none usable (no VXLAN then).</param>
    /// <param name="learnedAge">How long a learned remote MAC lives without traffic from it.</param>
    /// <param name="firewall">The firewall stage and its connection table (owned: disposed with the forwarder).</param>
    /// <param name="filterDrops">Per-NIC counters of anti-spoof and firewall drops.</param>
    internal Forwarder(int handles, nint pool, PortCounters* counters, DropCounters drops, ushort underlayPort, UnderlayConfig? underlay,
        TimeSpan learnedAge, FirewallStage firewall, FilterDropTable filterDrops)
    {
        _underlayPort = underlayPort;
        _underlayConfig = underlay;
        _learned = new LearnedFdb(LearnedCapacity, (long)(learnedAge.TotalSeconds * Stopwatch.Frequency));
        _neighbours = new NeighbourTable(NeighbourCapacity, NeighbourReachableTicks, NeighbourRetryTicks, NeighbourExpireTicks);
        _membership = new MulticastMembership(underlay is { HasIpv6: true } ? [MulticastGroups.SolicitedNodeOf(underlay.Ipv6Address)] : null);
        _pool = pool;
        _counters = counters;
        _drops = drops;
        _firewall = firewall;
        _filterDrops = filterDrops;
        _staged = (nint*)NativeMemory.Alloc((nuint)(handles * PacketThread.BurstSize), (nuint)sizeof(nint));
        _stagedCounts = (ushort*)NativeMemory.AllocZeroed((nuint)handles, sizeof(ushort));
        _touched = (ushort*)NativeMemory.Alloc((nuint)handles, sizeof(ushort));
        _touchedFlags = (byte*)NativeMemory.AllocZeroed((nuint)handles, 1);
        _toFree = (nint*)NativeMemory.Alloc(PacketThread.BurstSize, (nuint)sizeof(nint));
        _lengths = (uint*)NativeMemory.Alloc(PacketThread.BurstSize, sizeof(uint));
        _captureOffsets = (int*)NativeMemory.Alloc(PacketThread.BurstSize, sizeof(int));
        _floodPorts = new ushort[handles];
        _captures = new CaptureRing?[handles];
        _tooBig = NewTooBigLimiter(handles);
        if (underlay is not null)
        {
            _maxInnerFrameV4 = PathMtu.MaxInnerFrame(underlay.Mtu, v4Underlay: true, UnderlayMtu.MbufDataRoom);
            _maxInnerFrameV6 = PathMtu.MaxInnerFrame(underlay.Mtu, v4Underlay: false, UnderlayMtu.MbufDataRoom);
        }
    }

    /// <summary>The firewall stage (connection table statistics, export and import jobs). Packet thread.</summary>
    internal FirewallStage Firewall => _firewall;

    /// <summary>
    /// Switches the <paramref name="n"/> frames of <paramref name="burst"/> received on
    /// <paramref name="ingress"/> and sends them; returns how many were dropped on ingress.
    /// </summary>
    [SkipLocalsInit]
    internal uint SwitchBurst(SwitchTables tables, FirewallPolicy policy, ushort ingress, nint* burst, int n, long now)
    {
        var dropped = 0u;
        var filter = policy.FilterOf(ingress);
        var filtered = filter is not { Bypass: true };
        // Capture costs untraced NICs this one load and test per burst.
        var capture = _captures[ingress];
        Span<PacketMeta> metas = stackalloc PacketMeta[PacketThread.BurstSize];
        Span<DropReason> reasons = stackalloc DropReason[PacketThread.BurstSize];
        Span<ForwardDecision> decisions = stackalloc ForwardDecision[PacketThread.BurstSize];
        // Each frame's flow lookup in the sender's zone (egress) and, for a frame to a filtered
        // local NIC, the flow's hash in the receiver's zone: the same lookup serves both sides
        // (ingress). When the sender bypasses filtering, the lookup is made in the receiver's zone.
        Span<FlowLookup> lookups = stackalloc FlowLookup[PacketThread.BurstSize];
        Span<uint> ingressHashes = stackalloc uint[PacketThread.BurstSize];
        Span<bool> ingressStarted = stackalloc bool[PacketThread.BurstSize];

        // 1. Parse, anti-spoof, switch, and start both lookups of every frame (their index
        //    slots prefetched); 2. prefetch every connection; 3. decide and send. A burst's
        //    cache misses in the connection table then overlap instead of following one another.
        //    The switch decision is taken before the egress verdict: it only reads the tables.
        for (var i = 0; i < n; i++)
        {
            var m = new Mbuf(burst[i]);
            var frame = m.Head;
            var reason = Parse(m, frame, out metas[i]);
            if (reason == DropReason.None && filtered)
            {
                reason = filter is null ? DropReason.FirewallNoPolicy : _firewall.StartFromNic(filter, frame, metas[i], out lookups[i]);
            }
            reasons[i] = reason;
            if (reason != DropReason.None)
            {
                continue;
            }
            ref var d = ref decisions[i];
            d = SwitchStage.FromLocal(tables, _learned, ingress, metas[i], now);
            var receiver = d.Kind == ForwardKind.Local ? policy.FilterOf(d.Port) : null;
            ingressStarted[i] = receiver is { Bypass: false };
            if (ingressStarted[i])
            {
                if (filtered)
                {
                    ingressHashes[i] = _firewall.StartToNic(receiver!, lookups[i]);
                }
                else
                {
                    _firewall.StartToNic(receiver!, frame, metas[i], out lookups[i]);
                    ingressHashes[i] = lookups[i].Hash;
                }
            }
        }
        for (var i = 0; i < n; i++)
        {
            if (reasons[i] == DropReason.None)
            {
                if (filtered)
                {
                    _firewall.PrefetchConnection(lookups[i]);
                }
                if (ingressStarted[i])
                {
                    _firewall.PrefetchConnection(lookups[i], ingressHashes[i]);
                }
            }
        }

        for (var i = 0; i < n; i++)
        {
            var m = new Mbuf(burst[i]);
            var frame = m.Head;
            ref readonly var meta = ref metas[i];
            var reason = reasons[i];
            if (reason == DropReason.None && filter is { Bypass: false })
            {
                reason = _firewall.FinishFromNic(filter, policy, frame, meta, lookups[i], now);
            }
            if (reason != DropReason.None && DropReasons.IsPerNic(reason))
            {
                _filterDrops.Count(ingress, reason);
            }
            capture?.Write(frame, m.PacketLength, now, CaptureDirection.Inbound, (byte)reason);
            if (reason == DropReason.None)
            {
                ref readonly var d = ref decisions[i];
                switch (d.Kind)
                {
                    case ForwardKind.Local:
                        reason = Ingress(policy, d.Port, frame, m.PacketLength, meta, lookups[i], ingressHashes[i], now);
                        if (reason == DropReason.None)
                        {
                            Stage(d.Port, m.Address);
                            continue;
                        }
                        break;
                    case ForwardKind.Flood:
                        reason = Flood(tables, policy, d, m, frame, meta, now);
                        break;
                    case ForwardKind.Remote:
                        reason = EncapTo(m.Address, d.Vtep, d.Vni, FlowHash.Of(meta), now, ingress);
                        break;
                    default:
                        reason = d.Reason;
                        break;
                }
                if (reason == DropReason.None)
                {
                    continue;
                }
            }
            _drops.Count(reason);
            _toFree[_toFreeCount++] = m.Address;
            dropped++;
        }
        if (_toFreeCount != 0)
        {
            Shim.bf_pktmbuf_free_bulk(_toFree, (uint)_toFreeCount);
            _toFreeCount = 0;
        }
        FlushAll();
        return dropped;
    }

    public void Dispose()
    {
        if (_staged == null)
        {
            return;
        }
        FreeParked();
        NativeMemory.Free(_staged);
        NativeMemory.Free(_stagedCounts);
        NativeMemory.Free(_touched);
        NativeMemory.Free(_touchedFlags);
        NativeMemory.Free(_toFree);
        NativeMemory.Free(_lengths);
        NativeMemory.Free(_captureOffsets);
        _staged = null;
        _stagedCounts = null;
        _touched = null;
        _touchedFlags = null;
        _toFree = null;
        _lengths = null;
        _captureOffsets = null;
        _firewall.Dispose();
    }

    /// <summary>
    /// Parses the frame from its first segment, <paramref name="head"/>. A chained frame (a TSO
    /// segment of up to 64 KiB from a guest or a jumbo frame from a tap) has its L3 lengths past
    /// the first segment: its headers must lie in that segment, its lengths are checked against
    /// the whole frame (<see cref="PacketParser.ParseHeaders"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static DropReason Parse(Mbuf m, ReadOnlySpan<byte> head, out PacketMeta meta) =>
        m.Segments == 1 ? PacketParser.Parse(head, out meta) : PacketParser.ParseHeaders(head, (int)m.PacketLength, out meta);

    /// <summary>
    /// The ingress firewall of the local NIC on <paramref name="port"/> (none with bypass_filtering);
    /// a refused frame is captured here when the NIC is traced (<paramref name="packetLength"/>: the whole frame's).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DropReason Ingress(FirewallPolicy policy, ushort port, ReadOnlySpan<byte> frame, uint packetLength, in PacketMeta meta, long now)
    {
        var filter = policy.FilterOf(port);
        if (filter is { Bypass: true })
        {
            return DropReason.None;
        }
        return IngressVerdict(port, filter is null ? DropReason.FirewallNoPolicy : _firewall.ToNic(filter, policy, frame, meta, now),
            frame, packetLength, now);
    }

    /// <summary>
    /// <see cref="Ingress"/> for a frame whose ingress lookup was started in the burst's first
    /// pass (<paramref name="lookup"/> and the flow's <paramref name="hash"/> in the receiver's zone).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DropReason Ingress(FirewallPolicy policy, ushort port, ReadOnlySpan<byte> frame, uint packetLength, in PacketMeta meta, in FlowLookup lookup, uint hash, long now)
    {
        var filter = policy.FilterOf(port);
        if (filter is { Bypass: true })
        {
            return DropReason.None;
        }
        return IngressVerdict(port, filter is null ? DropReason.FirewallNoPolicy : _firewall.FinishToNic(filter, policy, frame, meta, lookup, hash, now),
            frame, packetLength, now);
    }

    /// <summary>Counts and captures a refused frame of the NIC on <paramref name="port"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DropReason IngressVerdict(ushort port, DropReason reason, ReadOnlySpan<byte> frame, uint packetLength, long now)
    {
        if (reason != DropReason.None)
        {
            _filterDrops.Count(port, reason);
            _captures[port]?.Write(frame, packetLength, now, CaptureDirection.Outbound, (byte)reason);
        }
        return reason;
    }

    /// <summary>
    /// Stages <paramref name="m"/> on every other local port of the VNI whose firewall admits it
    /// and, when the decision says so, on the underlay once per head-end peer; returns a drop
    /// reason for the original, or None.
    /// </summary>
    private DropReason Flood(SwitchTables tables, FirewallPolicy policy, in ForwardDecision d, Mbuf m, ReadOnlySpan<byte> frame, in PacketMeta meta, long now)
    {
        var found = SwitchStage.FloodPorts(tables, d, _floodPorts);
        // A vhost-user NIC without a running guest is like a link that is down: not a
        // destination, and no copy is made for it. The ingress firewalls decide before any
        // copy is encapsulated, while the frame is as it arrived.
        var count = 0;
        var refused = DropReason.None;
        for (var k = 0; k < found; k++)
        {
            var port = _floodPorts[k];
            if (PortHandles.IsVhost(port) && Shim.bf_vhost_running((uint)PortHandles.VhostSlotOf(port)) == 0)
            {
                continue;
            }
            var reason = Ingress(policy, port, frame, m.PacketLength, meta, now);
            if (reason == DropReason.None)
            {
                _floodPorts[count++] = port;
            }
            else
            {
                refused = reason;
            }
        }
        var remote = d.FloodRemote && _underlayConfig is not null ? tables.FloodVtepsOf(d.Slot).Length : 0;
        if (count == 0 && remote == 0)
        {
            return refused != DropReason.None ? refused : DropReason.NoDestination;
        }
        if (remote != 0)
        {
            // Copies first: the original goes last, to a local port or else to the last peer.
            var reason = DropReason.None;
            FloodRemote(tables, d, m.Address, meta, now, useOriginal: count == 0, ref reason);
            if (count == 0)
            {
                return reason;
            }
        }
        for (var k = 0; k < count - 1; k++)
        {
            var copy = Shim.bf_pktmbuf_copy(m.Address, _pool);
            if (copy == 0)
            {
                _drops.Count(DropReason.NoMbuf);
                Volatile.Write(ref _counters[_floodPorts[k]].Drops, _counters[_floodPorts[k]].Drops + 1);
                continue;
            }
            Stage(_floodPorts[k], copy);
        }
        Stage(_floodPorts[count - 1], m.Address);
        return DropReason.None;
    }

    /// <summary>
    /// A fresh mbuf for a frame the forwarder makes itself (ARP/ND, IGMP/MLD) and its data room;
    /// 0 (counted as <see cref="DropReason.NoMbuf"/>) when the pool is empty.
    /// </summary>
    private nint AllocFrame(out Span<byte> room)
    {
        var m = Shim.bf_pktmbuf_alloc(_pool);
        if (m == 0)
        {
            _drops.Count(DropReason.NoMbuf);
            room = default;
            return 0;
        }
        room = new Mbuf(m).Room;
        return m;
    }

    /// <summary>Stages a frame of <paramref name="length"/> bytes built in an <see cref="AllocFrame"/> mbuf on the underlay; frees it when the length is 0.</summary>
    private bool StageFrame(nint m, int length)
    {
        if (length == 0)
        {
            Shim.bf_pktmbuf_free_bulk(&m, 1);
            return false;
        }
        new Mbuf(m).SetLength(length);
        Stage(_underlayPort, m);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Stage(ushort port, nint m)
    {
        // A guest's checksum/TSO request is kept for a guest that takes it, else finished here
        // (Forwarder.Offload.cs); true when the frame went as segments or was dropped.
        if (AsksOffload(m) && StageOffloaded(port, m))
        {
            return;
        }
        if (_touchedFlags[port] == 0)
        {
            _touchedFlags[port] = 1;
            _touched[_touchedCount++] = port;
        }
        var count = _stagedCounts[port];
        _staged[(port * PacketThread.BurstSize) + count] = m;
        _stagedCounts[port] = ++count;
        if (count == PacketThread.BurstSize)
        {
            Flush(port);
        }
    }

    private void FlushAll()
    {
        for (var i = 0; i < _touchedCount; i++)
        {
            var port = _touched[i];
            if (_stagedCounts[port] != 0)
            {
                Flush(port);
            }
            _touchedFlags[port] = 0;
        }
        _touchedCount = 0;
    }

    private void Flush(ushort port)
    {
        var n = _stagedCounts[port];
        _stagedCounts[port] = 0;
        var frames = _staged + (port * PacketThread.BurstSize);
        // Lengths first: a tap's driver may free what it sent before tx_burst returns.
        for (var i = 0; i < n; i++)
        {
            _lengths[i] = new Mbuf(frames[i]).PacketLength;
        }
        var capture = _captures[port];
        if (capture is not null)
        {
            StageSent(capture, port, frames, n);
        }
        ushort sent;
        if (PortHandles.IsBench(port))
        {
            // The packet thread is the NIC: the frames are answered or timed, then freed.
            DeliverToBench(port, frames, n);
            Shim.bf_pktmbuf_free_bulk(frames, n);
            sent = n;
        }
        else if (PortHandles.IsVhost(port))
        {
            sent = Shim.bf_vhost_enqueue((uint)PortHandles.VhostSlotOf(port), frames, n);
            Shim.bf_pktmbuf_free_bulk(frames, n);
        }
        else
        {
            sent = Shim.bf_tx_burst(port, 0, frames, n);
            if (sent < n)
            {
                Shim.bf_pktmbuf_free_bulk(frames + sent, (uint)(n - sent));
            }
        }
        if (capture is not null)
        {
            PublishSent(capture, port, sent, n);
        }
        ulong bytes = 0;
        for (var i = 0; i < sent; i++)
        {
            bytes += _lengths[i];
        }
        ref var c = ref _counters[port];
        Volatile.Write(ref c.PacketsOut, c.PacketsOut + sent);
        Volatile.Write(ref c.BytesOut, c.BytesOut + bytes);
        if (sent < n)
        {
            Volatile.Write(ref c.Drops, c.Drops + (ulong)(n - sent));
            _drops.Add(DropReason.TxFull, (ulong)(n - sent));
        }
    }
}
