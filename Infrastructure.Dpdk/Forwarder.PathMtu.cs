using System.Diagnostics;
using System.Runtime.CompilerServices;
using Butterfly.Infrastructure.Dpdk.Native;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Stage: path MTU of the tunnel (<see cref="PathMtu"/>), between the switch and VXLAN encap.
///
/// Input: a frame from a local NIC on its way to a remote VTEP (<see cref="EncapTo"/>) that will
/// not fit once encapsulated: longer than <see cref="PathMtu.MaxInnerFrame"/> for the VTEP's
/// family (the underlay MTU − 36 or − 56 bytes, at most one mbuf's data room), or chained over
/// several mbufs. A guest's TSO super-frame is judged by the segments it is cut into
/// (<see cref="TooBigSegments"/>, from Forwarder.Offload.cs), not by its own length: a TSO guest
/// whose segments fit is never answered.
/// Output, by <see cref="PathMtu.Decide"/>:
/// - ICMP "fragmentation needed" (IPv4 with DF) or ICMPv6 "packet too big", with the MTU the
///   guest must use, built in a fresh mbuf and staged straight on the sending NIC's port, at most
///   <see cref="TooBigBurst"/> at once then <see cref="TooBigPerSecond"/> a second per NIC
///   (<see cref="TooBigLimiter"/>); the frame is dropped. The answer does not go through that NIC's
///   ingress firewall: the switch makes it about a frame the NIC itself just sent, which its
///   egress firewall admitted, so there is nothing to decide. (Through the ingress firewall it
///   would pass as well, as an error related to the connection it quotes, which that egress
///   firewall has just tracked; sent directly it costs no connection-table lookup and does not
///   depend on the NIC's inbound rules.)
/// - IPv4 without DF: fragments in fresh mbufs (<see cref="Ipv4Fragmenter"/>; the payload copied
///   from every buffer of the frame), each encapsulated with the frame's flow hash (one ECMP path,
///   in order); the frame is freed.
/// - Anything else is dropped.
/// Drop reasons: <see cref="DropReason.EncapTooBigIcmpSent"/>, <see cref="DropReason.EncapTooBigRateLimited"/>,
/// <see cref="DropReason.EncapTooBig"/>; <see cref="DropReason.NoMbuf"/> and encap's for fragments.
/// State: the limiter (one long per port handle). Thread: the packet thread only.
/// Per packet: no allocation, lock, syscall, exception or log; one mbuf per answer or fragment.
/// </summary>
internal sealed unsafe partial class Forwarder
{
    /// <summary>The sender of a frame that must not be answered (a parked frame, a fragment: checked before).</summary>
    private const ushort NoSender = ForwardDecision.NoPort;

    /// <summary>Answers a NIC gets at once (a guest's initial window of large segments needs one).</summary>
    internal const int TooBigBurst = 10;

    /// <summary>Answers a NIC gets per second after its burst (Linux's ICMP defaults: about one a second per destination, 1000 a second in all).</summary>
    internal const int TooBigPerSecond = 100;

    private readonly TooBigLimiter _tooBig;

    // The longest inner frame encapsulation takes, per underlay family (0 without an underlay).
    private readonly int _maxInnerFrameV4;
    private readonly int _maxInnerFrameV6;

    private static TooBigLimiter NewTooBigLimiter(int handles) => new(handles, Stopwatch.Frequency / TooBigPerSecond, TooBigBurst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int MaxInnerFrame(IpAddr vtep) => vtep.IsV4 ? _maxInnerFrameV4 : _maxInnerFrameV6;

    /// <summary>
    /// A frame from <paramref name="sender"/> that does not fit the path to <paramref name="vtep"/>:
    /// answered, fragmented or dropped. Returns None when its fragments took it (it is freed), else
    /// why the caller drops and frees it.
    /// </summary>
    private DropReason TooBig(nint m, IpAddr vtep, uint vni, uint flowHash, long now, ushort sender)
    {
        var mbuf = new Mbuf(m);
        var head = mbuf.Head;
        if (Parse(mbuf, head, out var meta) != DropReason.None)
        {
            return DropReason.EncapTooBig;
        }
        return PathMtu.Decide(meta, MaxInnerFrame(vtep), out var mtu) switch
        {
            TooBigAction.Icmp => Answer(sender, head, meta, mtu, now),
            TooBigAction.Fragment => Fragment(m, head, meta, mtu, vtep, vni, flowHash, now),
            _ => DropReason.EncapTooBig,
        };
    }

    /// <summary>
    /// A TSO super-frame whose segments (<paramref name="segmentFrame"/> bytes, headers included)
    /// would not fit the path to <paramref name="vtep"/>: true when that decided its fate
    /// (<paramref name="reason"/>: answered, or dropped), false when it is to be cut all the same
    /// (IPv4 without DF: each segment is then fragmented).
    /// </summary>
    private bool TooBigSegments(nint m, int segmentFrame, IpAddr vtep, long now, ushort sender, out DropReason reason)
    {
        reason = DropReason.None;
        var maxFrame = MaxInnerFrame(vtep);
        if (segmentFrame <= maxFrame)
        {
            return false;
        }
        var mbuf = new Mbuf(m);
        var head = mbuf.Head;
        if (Parse(mbuf, head, out var meta) != DropReason.None)
        {
            reason = DropReason.EncapTooBig;
            return true;
        }
        switch (PathMtu.Decide(meta, maxFrame, out var mtu))
        {
            case TooBigAction.Fragment:
                return false;
            case TooBigAction.Icmp:
                reason = Answer(sender, head, meta, mtu, now);
                return true;
            default:
                reason = DropReason.EncapTooBig;
                return true;
        }
    }

    /// <summary>Stages the ICMP / ICMPv6 answer on <paramref name="sender"/>'s port, rate limit permitting; returns the reason the frame is dropped for.</summary>
    private DropReason Answer(ushort sender, ReadOnlySpan<byte> frame, in PacketMeta meta, int mtu, long now)
    {
        if (sender == NoSender)
        {
            return DropReason.EncapTooBig;
        }
        if (!_tooBig.TryTake(sender, now))
        {
            return DropReason.EncapTooBigRateLimited;
        }
        var icmp = AllocFrame(out var room);
        if (icmp == 0)
        {
            return DropReason.EncapTooBig;
        }
        var length = PathMtu.BuildIcmp(frame, meta, mtu, room);
        if (length == 0)
        {
            Free(icmp);
            return DropReason.EncapTooBig;
        }
        new Mbuf(icmp).SetLength(length);
        Stage(sender, icmp);
        return DropReason.EncapTooBigIcmpSent;
    }

    /// <summary>
    /// Cuts IPv4 packet <paramref name="m"/> into fragments of at most <paramref name="mtu"/> bytes
    /// and encapsulates each towards <paramref name="vtep"/>. Returns None when at least one went
    /// (then <paramref name="m"/> is freed here; a later failure is counted here), else why none could.
    /// </summary>
    private DropReason Fragment(nint m, ReadOnlySpan<byte> head, in PacketMeta meta, int mtu, IpAddr vtep, uint vni, uint flowHash, long now)
    {
        if (!Ipv4Fragmenter.TryPlan(head, meta, mtu, out var plan))
        {
            return DropReason.EncapTooBig;
        }
        var source = (byte*)m;
        var sourceOffset = meta.L3Offset + plan.HeaderLength;
        var reason = DropReason.None;
        var sent = 0;
        for (var i = 0; i < plan.Count; i++)
        {
            var f = Shim.bf_pktmbuf_alloc(_pool);
            if (f == 0)
            {
                reason = DropReason.NoMbuf;
                break;
            }
            var fragment = new Mbuf(f);
            var room = fragment.Room;
            var headers = Ipv4Fragmenter.WriteHeaders(head, meta, plan, i, room);
            var payload = plan.LengthOf(i);
            // The payload may run over several buffers of a chained frame; a chain shorter than its
            // IP length claims is refused like a frame that cannot be cut.
            if (headers == 0 || !Gather(ref source, ref sourceOffset, room.Slice(headers, payload)))
            {
                Free(f);
                reason = DropReason.EncapTooBig;
                break;
            }
            fragment.SetLength(headers + payload);
            var r = EncapTo(f, vtep, vni, flowHash, now, NoSender);
            if (r != DropReason.None)
            {
                Free(f);
                reason = r;
                break;
            }
            sent++;
        }
        if (sent == 0)
        {
            return reason;
        }
        if (reason != DropReason.None)
        {
            // The fragments already sent stay sent; the guest's reassembly times out without the rest.
            _drops.Count(reason);
        }
        Free(m);
        return DropReason.None;
    }
}
