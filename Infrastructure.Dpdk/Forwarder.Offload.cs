using System.Runtime.CompilerServices;
using Butterfly.Infrastructure.Dpdk.Native;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Stage: a guest's offload requests, honoured on the way out of the switch.
///
/// A vhost-user guest that negotiated VIRTIO_NET_F_CSUM hands over TCP/UDP frames whose checksum
/// is only the pseudo-header seed, and one that negotiated HOST_TSO4/6 hands over TSO
/// super-frames: up to 64 KiB of TCP payload behind one set of headers, chained over several
/// mbufs, with the MSS to cut it at. The vhost library is registered in compliant mode
/// (RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS, native/vhost.c), so it reports them as a received
/// frame's state: RTE_MBUF_F_RX_L4_CKSUM_NONE for the partial checksum (the library itself
/// finishes requests it cannot describe so, such as a guest's own tunnels), RTE_MBUF_F_RX_LRO and
/// tso_segsz for a super-frame. Its enqueue to another guest reads only TX flags, and net_tap
/// reads none (no TX offload is configured on the taps), so without this stage the partial
/// checksum and the super-frame would reach the other side as they are: TCP breaks while ping
/// works. The TX forms (RTE_MBUF_F_TX_*_CKSUM, TX_TCP_SEG with l2/l3/l4_len) are accepted too.
///
/// Per destination, checked once for each frame that carries a request (one flag test per frame
/// otherwise):
/// - a vhost-user guest that negotiated GUEST_CSUM (and GUEST_TSO4/6 for a super-frame of that
///   family): the request is rewritten into TX flags and lengths, which the library turns into
///   the virtio header (NEEDS_CSUM, GSO), so local TSO traffic is copied once, whole;
/// - any other local port (a tap, a guest without the feature): the checksum is finished in
///   place (<see cref="InnerOffload.CompleteChecksum"/>, over every buffer of the frame), a
///   super-frame is cut into MSS-sized segments in fresh mbufs (<see cref="InnerOffload.FinishSegment"/>);
/// - the underlay (<see cref="Forwarder.EncapTo"/>): the same software completion and cutting,
///   each segment then encapsulated; the outer UDP source port is hashed from the segment's
///   inner headers, as for the same flow's ordinary frames, so ECMP keeps the flow in order.
///   Segments that would not fit the underlay are answered once for the whole super-frame by the
///   path-MTU stage (Forwarder.PathMtu.cs), or cut and then fragmented (IPv4 without DF).
/// Both IP families are cut, so TSO stays offered for both (--no-offload withdraws it).
/// Limits: a segment must fit one mbuf (the 2 KiB data room: guest MTU up to ~1900 bytes when it
/// uses TSO towards a tap, a guest without GUEST_TSO or the underlay); UDP super-frames (UFO) are
/// refused (never offered), and so is an MSS below <see cref="MinMss"/>.
/// Drop reasons: <see cref="DropReason.OffloadBadHeaders"/>, <see cref="DropReason.OffloadUnsupported"/>,
/// <see cref="DropReason.NoMbuf"/> (no mbuf for a segment), and encap's for segments.
/// Per packet: no allocation, lock, syscall, exception or log; one mbuf allocation per segment.
/// </summary>
internal sealed unsafe partial class Forwarder
{
    /// <summary>
    /// The smallest MSS a super-frame is cut at: Linux's floor (net.ipv4.tcp_min_snd_mss). It
    /// bounds the segments of one 64 KiB frame to 1366; a smaller MSS is refused rather than let
    /// one cheap guest frame cost the packet thread thousands of segments.
    /// </summary>
    private const int MinMss = 48;

    /// <summary>Virtio net feature bits (virtio 1.1 §5.1.3) a destination guest must have negotiated.</summary>
    private const ulong GuestCsum = 1UL << 1, GuestTso4 = 1UL << 7, GuestTso6 = 1UL << 8;

    /// <summary>Widths of tx_offload's l2_len, l3_len and l4_len bit-fields.</summary>
    private const int MaxL2Length = 127, MaxL3Length = 511, MaxL4Length = 255;

    /// <summary>True when <paramref name="m"/> carries a checksum or segmentation request.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AsksOffload(nint m) => (*(ulong*)((byte*)m + MbufLayout.OlFlags) & MbufOffload.Requests) != 0;

    /// <summary>What a frame's ol_flags ask for.</summary>
    private readonly struct OffloadRequest
    {
        public OffloadRequest(ulong flags)
        {
            Segment = (flags & (MbufOffload.RxLro | MbufOffload.TxTcpSeg | MbufOffload.TxUdpSeg)) != 0;
            Checksum = Segment || (flags & MbufOffload.RxL4Mask) == MbufOffload.RxL4None || (flags & MbufOffload.TxL4Mask) != 0;
            IpChecksum = (flags & MbufOffload.TxIpCksum) != 0;
            UdpSegment = (flags & MbufOffload.TxUdpSeg) != 0;
        }

        public bool Segment { get; }

        public bool Checksum { get; }

        public bool IpChecksum { get; }

        public bool UdpSegment { get; }

        public bool Any => Checksum || IpChecksum;
    }

    /// <summary>
    /// The <see cref="Stage"/> hook for a frame asking for offload on its way to local
    /// <paramref name="port"/>: true when it took the frame (its segments staged, or it dropped
    /// and freed it), false when the frame is ready to be staged as it now is.
    /// </summary>
    private bool StageOffloaded(ushort port, nint m)
    {
        var p = (byte*)m;
        var flags = *(ulong*)(p + MbufLayout.OlFlags);
        var request = new OffloadRequest(flags);
        if (!request.Any)
        {
            *(ulong*)(p + MbufLayout.OlFlags) = flags & ~MbufOffload.All;
            return false;
        }
        var reason = Locate(p, request, out var h);
        if (reason != DropReason.None)
        {
            DropAt(port, m, reason);
            return true;
        }
        if (PortHandles.IsVhost(port) && GuestTakes(port, h, request) && PassToGuest(p, flags, h, request))
        {
            return false;
        }
        var mss = Mss(p);
        if (!request.Segment || (SegmentsOf(h, mss) == 1 && *(ushort*)(p + MbufLayout.NbSegs) == 1))
        {
            FinishInPlace(p, h, request);
            return false;
        }
        reason = Segment(m, h, mss, port, default, 0, 0, NoSender);
        if (reason == DropReason.None)
        {
            Free(m);
        }
        else
        {
            DropAt(port, m, reason);
        }
        return true;
    }

    /// <summary>
    /// The <see cref="EncapTo"/> hook for a frame asking for offload: true when it decided the
    /// frame's fate (<paramref name="reason"/> None: its segments went to the underlay and it was
    /// freed; else why the caller drops it), false when the frame is finished in place and
    /// encapsulation goes on.
    /// </summary>
    private bool EncapOffloaded(nint m, IpAddr vtep, uint vni, long now, ushort sender, out DropReason reason)
    {
        var p = (byte*)m;
        var flags = *(ulong*)(p + MbufLayout.OlFlags);
        var request = new OffloadRequest(flags);
        reason = DropReason.None;
        if (!request.Any)
        {
            *(ulong*)(p + MbufLayout.OlFlags) = flags & ~MbufOffload.All;
            return false;
        }
        reason = Locate(p, request, out var h);
        if (reason != DropReason.None)
        {
            return true;
        }
        var mss = Mss(p);
        var single = *(ushort*)(p + MbufLayout.NbSegs) == 1;
        // A super-frame is judged by the segments it is cut into, never by its own length: the
        // path-MTU stage answers only when they would not fit (Forwarder.PathMtu.cs).
        if (request.Segment && TooBigSegments(m, h.HeadersLength + Math.Min(mss, h.PayloadLength), vtep, now, sender, out reason))
        {
            return true;
        }
        if (!request.Segment || (SegmentsOf(h, mss) == 1 && single))
        {
            // Finished in place; a frame that still does not fit (or is chained) goes to the
            // path-MTU stage from EncapTo, its checksum complete.
            FinishInPlace(p, h, request);
            return false;
        }
        reason = Segment(m, h, mss, _underlayPort, vtep, vni, now, sender);
        if (reason == DropReason.None)
        {
            Free(m);
        }
        return true;
    }

    /// <summary>Locates the headers in the first buffer; a UDP super-frame is refused (UFO is never offered).</summary>
    private static DropReason Locate(byte* p, in OffloadRequest request, out OffloadHeaders h)
    {
        // One buffer: its data_len bounds everything read later, whatever pkt_len claims.
        var head = Head(p);
        var length = *(ushort*)(p + MbufLayout.NbSegs) == 1 ? head.Length : (int)*(uint*)(p + MbufLayout.PktLen);
        var reason = InnerOffload.Locate(head, length, out h);
        if (reason == DropReason.None && request.Segment && (request.UdpSegment || h.Transport != OffloadTransport.Tcp || h.Routed))
        {
            // Routed: a segment's checksum is computed from the headers, which then name the wrong destination.
            reason = DropReason.OffloadUnsupported;
        }
        return reason;
    }

    /// <summary>Whether the guest behind vhost <paramref name="port"/> negotiated what the request needs.</summary>
    private static bool GuestTakes(ushort port, in OffloadHeaders h, in OffloadRequest request)
    {
        var features = OffloadShim.bf_vhost_guest_features((uint)PortHandles.VhostSlotOf(port));
        return (features & GuestCsum) != 0 && (!request.Segment || (features & (h.Ipv6 ? GuestTso6 : GuestTso4)) != 0);
    }

    /// <summary>
    /// Rewrites the request into the TX form the vhost library's enqueue turns into a virtio
    /// header; false when the lengths do not fit tx_offload's bit-fields.
    /// </summary>
    private static bool PassToGuest(byte* p, ulong flags, in OffloadHeaders h, in OffloadRequest request)
    {
        if (h.L2Length > MaxL2Length || h.L3Length > MaxL3Length || h.L4Length > MaxL4Length)
        {
            return false;
        }
        var mss = request.Segment ? (ulong)Mss(p) : 0;
        *(ulong*)(p + MbufOffload.TxOffload) = ((ulong)h.L2Length << MbufOffload.L2Shift) | ((ulong)h.L3Length << MbufOffload.L3Shift)
            | ((ulong)h.L4Length << MbufOffload.L4Shift) | (mss << MbufOffload.TsoShift);
        var tx = h.Ipv6 ? MbufOffload.TxIpv6 : MbufOffload.TxIpv4;
        if (request.Segment)
        {
            tx |= MbufOffload.TxTcpSeg;
        }
        else if (request.Checksum)
        {
            tx |= h.Transport == OffloadTransport.Tcp ? MbufOffload.TxTcpCksum : MbufOffload.TxUdpCksum;
        }
        if (request.IpChecksum && !h.Ipv6)
        {
            tx |= MbufOffload.TxIpCksum;
        }
        *(ulong*)(p + MbufLayout.OlFlags) = (flags & ~MbufOffload.All) | tx;
        return true;
    }

    /// <summary>
    /// Finishes a request in the frame's own buffers: the checksum (summed over every buffer), or
    /// a super-frame that is a single segment; then clears the request.
    /// </summary>
    private static void FinishInPlace(byte* p, in OffloadHeaders h, in OffloadRequest request)
    {
        var head = Head(p);
        if (request.Segment)
        {
            InnerOffload.FinishSegment(head[..h.L3End], h, 0, 0, last: true);
        }
        else
        {
            if (request.IpChecksum && !h.Ipv6)
            {
                var ip = head.Slice(h.L2Length, h.L3Length);
                ip[Ipv4Header.ChecksumOffset] = 0;
                ip[Ipv4Header.ChecksumOffset + 1] = 0;
                var checksum = InternetChecksum.Compute(ip);
                ip[Ipv4Header.ChecksumOffset] = (byte)(checksum >> 8);
                ip[Ipv4Header.ChecksumOffset + 1] = (byte)checksum;
            }
            if (request.Checksum)
            {
                InnerOffload.StoreChecksum(head, h, SumFrame(p, h.L4Offset, h.L3End));
            }
        }
        *(ulong*)(p + MbufLayout.OlFlags) &= ~MbufOffload.All;
    }

    /// <summary>
    /// Cuts super-frame <paramref name="m"/> into segments in fresh mbufs and sends each to
    /// <paramref name="port"/>, encapsulated towards <paramref name="vtep"/> when that port is the
    /// underlay. Returns None when at least one segment went (a later failure is counted here),
    /// else why none could; <paramref name="m"/> itself is left to the caller.
    /// </summary>
    [SkipLocalsInit]
    private DropReason Segment(nint m, in OffloadHeaders h, int mss, ushort port, IpAddr vtep, uint vni, long now, ushort sender)
    {
        var count = SegmentsOf(h, mss);
        if (count == 0 || mss < MinMss)
        {
            return count == 0 ? DropReason.OffloadBadHeaders : DropReason.OffloadUnsupported;
        }
        var encap = port == _underlayPort;
        var p = (byte*)m;
        var headers = Head(p)[..h.HeadersLength];
        var source = p;
        var sourceOffset = h.HeadersLength;
        var payload = h.PayloadLength;
        var hash = 0u;
        var reason = DropReason.None;
        var sent = 0;
        for (var i = 0; i < count; i++)
        {
            var offset = i * mss;
            var length = Math.Min(mss, payload - offset);
            var s = Shim.bf_pktmbuf_alloc(_pool);
            if (s == 0)
            {
                reason = DropReason.NoMbuf;
                break;
            }
            var sp = (byte*)s;
            var dataOff = *(ushort*)(sp + MbufLayout.DataOff);
            var total = h.HeadersLength + length;
            if (*(ushort*)(sp + MbufLayout.BufLen) - dataOff < total)
            {
                Free(s);
                reason = DropReason.OffloadUnsupported;
                break;
            }
            var data = *(byte**)(sp + MbufLayout.BufAddr) + dataOff;
            var segment = new Span<byte>(data, total);
            headers.CopyTo(segment);
            if (!Gather(ref source, ref sourceOffset, segment[h.HeadersLength..]))
            {
                Free(s);
                reason = DropReason.OffloadBadHeaders;
                break;
            }
            *(ushort*)(sp + MbufLayout.DataLen) = (ushort)total;
            *(uint*)(sp + MbufLayout.PktLen) = (uint)total;
            InnerOffload.FinishSegment(segment, h, i, offset, last: i == count - 1);
            if (!encap)
            {
                Stage(port, s);
            }
            else
            {
                if (i == 0)
                {
                    // The flow's ordinary frames hash their parsed headers; so does each segment.
                    _ = PacketParser.Parse(segment, out var meta);
                    hash = FlowHash.Of(meta);
                }
                var r = EncapTo(s, vtep, vni, hash, now, sender);
                if (r != DropReason.None)
                {
                    Free(s);
                    reason = r;
                    break;
                }
            }
            sent++;
        }
        if (sent == 0)
        {
            return reason;
        }
        if (reason != DropReason.None)
        {
            // The segments already sent stay sent; TCP retransmits the rest.
            _drops.Count(reason);
        }
        return DropReason.None;
    }

    /// <summary>Copies the next <paramref name="destination"/>.Length bytes of a chain from the cursor, advancing it; false if the chain ends first.</summary>
    private static bool Gather(ref byte* segment, ref int offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            if (segment == null)
            {
                return false;
            }
            var available = *(ushort*)(segment + MbufLayout.DataLen) - offset;
            if (available <= 0)
            {
                segment = *(byte**)(segment + MbufLayout.Next);
                offset = 0;
                continue;
            }
            var n = Math.Min(available, destination.Length);
            new ReadOnlySpan<byte>(Data(segment) + offset, n).CopyTo(destination);
            destination = destination[n..];
            offset += n;
        }
        return true;
    }

    /// <summary>The Internet checksum sum of bytes [<paramref name="from"/>, <paramref name="to"/>) of a frame, over every buffer of its chain.</summary>
    private static ulong SumFrame(byte* p, int from, int to)
    {
        if (*(ushort*)(p + MbufLayout.NbSegs) == 1)
        {
            return InternetChecksum.Sum(new ReadOnlySpan<byte>(Data(p) + from, to - from));
        }
        ulong sum = 0;
        var position = 0;
        for (var s = p; s != null && position < to; s = *(byte**)(s + MbufLayout.Next))
        {
            int length = *(ushort*)(s + MbufLayout.DataLen);
            var start = Math.Max(from, position);
            var end = Math.Min(to, position + length);
            if (start < end)
            {
                sum = InnerOffload.AddPiece(sum, new ReadOnlySpan<byte>(Data(s) + (start - position), end - start), start - from);
            }
            position += length;
        }
        return sum;
    }

    private static int SegmentsOf(in OffloadHeaders h, int mss) => InnerOffload.SegmentCount(h.PayloadLength, mss);

    /// <summary>The MSS of a super-frame: tso_segsz, which the library sets for RX_LRO as for TX_TCP_SEG.</summary>
    private static int Mss(byte* p) => (ushort)(*(ulong*)(p + MbufOffload.TxOffload) >> MbufOffload.TsoShift);

    private static byte* Data(byte* p) => *(byte**)(p + MbufLayout.BufAddr) + *(ushort*)(p + MbufLayout.DataOff);

    /// <summary>The first buffer's data.</summary>
    private static Span<byte> Head(byte* p) => new(Data(p), *(ushort*)(p + MbufLayout.DataLen));

    private static void Free(nint m) => Shim.bf_pktmbuf_free_bulk(&m, 1);

    /// <summary>Drops a frame on its way to <paramref name="port"/>: counted there and by reason, then freed.</summary>
    private void DropAt(ushort port, nint m, DropReason reason)
    {
        _drops.Count(reason);
        Volatile.Write(ref _counters[port].Drops, _counters[port].Drops + 1);
        Free(m);
    }
}
