using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>The transport of a frame that asks for checksum or segmentation offload.</summary>
internal enum OffloadTransport : byte
{
    Tcp = 6,
    Udp = 17,
}

/// <summary>Where the headers of a frame asking for offload lie, as <see cref="InnerOffload.Locate"/> found them.</summary>
internal readonly struct OffloadHeaders
{
    public OffloadHeaders(int l2Length, int l3Length, int l4Length, bool ipv6, OffloadTransport transport, int l3End, bool routed)
    {
        L2Length = l2Length;
        L3Length = l3Length;
        L4Length = l4Length;
        Ipv6 = ipv6;
        Transport = transport;
        L3End = l3End;
        Routed = routed;
    }

    /// <summary>Ethernet header with its VLAN tags: 14, 18 or 22.</summary>
    public int L2Length { get; }

    /// <summary>IPv4 header with options, or the IPv6 header with its extension headers.</summary>
    public int L3Length { get; }

    /// <summary>TCP header with options, or the 8-byte UDP header.</summary>
    public int L4Length { get; }

    public bool Ipv6 { get; }

    public OffloadTransport Transport { get; }

    /// <summary>One past the IP packet's last byte (its own length fields); Ethernet padding may follow.</summary>
    public int L3End { get; }

    /// <summary>
    /// An IPv6 routing header with segments left: the pseudo-header then names the final
    /// destination, not the header's, so a checksum cannot be recomputed from the headers alone.
    /// </summary>
    public bool Routed { get; }

    public int L4Offset => L2Length + L3Length;

    public int HeadersLength => L4Offset + L4Length;

    public int PayloadLength => L3End - HeadersLength;

    /// <summary>Offset of the transport checksum field in the frame.</summary>
    public int ChecksumOffset => L4Offset + (Transport == OffloadTransport.Tcp ? TcpChecksumOffset : UdpHeader.ChecksumOffset);

    internal const int TcpChecksumOffset = 16;
}

/// <summary>
/// Stage: finishing what a guest left to its virtio device ("offload") before a frame leaves
/// for a port that will not do it: the VXLAN underlay (the receiving host's guest, tap or stack
/// gets exactly these bytes), a tap NIC (net_tap sends partial checksums as they are, and
/// cannot segment TCP over IPv6), or a vhost-user guest that did not negotiate the feature.
///
/// Input: a frame whose checksum the guest left partial, or a TSO super-frame (up to 64 KiB of
/// TCP payload with one set of headers and an MSS), as the vhost library hands them over.
/// Output, in place or into fresh buffers the caller provides:
/// - <see cref="CompleteChecksum"/>: the TCP/UDP checksum finished with virtio NEEDS_CSUM
///   semantics (virtio 1.1 §5.1.6.2): the guest seeded the field with the pseudo-header sum, and
///   the device folds the sum of everything from the transport header on into it. That is also
///   what the vhost library itself does for requests it cannot flag, what Linux's
///   skb_checksum_help does for tap/vhost-net, and it keeps working where the pseudo-header
///   cannot be rebuilt from the headers (IPv6 routing headers).
/// - <see cref="FinishSegment"/>: one MSS-sized TCP segment of a super-frame, as Linux's
///   tcp_gso_segment cuts them: IPv4 total length, identification + index and header checksum,
///   or the IPv6 payload length; sequence number + payload offset; CWR only on the first
///   segment, FIN and PSH only on the last; the TCP checksum computed from scratch (a guest may
///   seed a super-frame's checksum with or without the length, so the seed is not reused).
/// Drop reasons (returned by <see cref="Locate"/>, counted by the caller):
/// - <see cref="DropReason.OffloadBadHeaders"/>: headers truncated, outside the first buffer, or
///   with lengths that disagree with the frame.
/// - <see cref="DropReason.OffloadUnsupported"/>: not TCP/UDP over IPv4/IPv6 (SCTP's CRC, ...),
///   an IP fragment, an IPv6 jumbogram, AH or more than 8 extension headers.
/// State: none. Thread: any (pure functions over bytes). No allocation.
/// </summary>
internal static class InnerOffload
{
    /// <summary>Most extension headers walked before an IPv6 frame is called unsupported.</summary>
    private const int MaxExtensionHeaders = 8;

    private const byte TcpFlagCwr = 0x80;

    /// <summary>
    /// Finds the headers of a frame asking for offload. <paramref name="head"/> is its first
    /// buffer (the headers must lie within it: the vhost library fills an mbuf before chaining
    /// the next), <paramref name="frameLength"/> the whole frame's length across buffers.
    /// One 802.1Q/802.1ad tag or two are skipped.
    /// </summary>
    public static DropReason Locate(ReadOnlySpan<byte> head, int frameLength, out OffloadHeaders headers)
    {
        headers = default;
        if (head.Length < EthernetHeader.Length || frameLength < head.Length)
        {
            return DropReason.OffloadBadHeaders;
        }
        var l2 = EthernetHeader.Length;
        var type = BinaryPrimitives.ReadUInt16BigEndian(head[EthernetHeader.EtherTypeOffset..]);
        for (var tags = 0; tags < 2 && type is EthernetHeader.TypeVlan or EthernetHeader.TypeQinQ; tags++)
        {
            if (head.Length < l2 + EthernetHeader.VlanTagLength)
            {
                return DropReason.OffloadBadHeaders;
            }
            type = BinaryPrimitives.ReadUInt16BigEndian(head[(l2 + 2)..]);
            l2 += EthernetHeader.VlanTagLength;
        }
        return type switch
        {
            EthernetHeader.TypeIpv4 => LocateV4(head, frameLength, l2, out headers),
            EthernetHeader.TypeIpv6 => LocateV6(head, frameLength, l2, out headers),
            _ => DropReason.OffloadUnsupported,
        };
    }

    private static DropReason LocateV4(ReadOnlySpan<byte> head, int frameLength, int l2, out OffloadHeaders headers)
    {
        headers = default;
        if (head.Length < l2 + Ipv4Header.MinLength)
        {
            return DropReason.OffloadBadHeaders;
        }
        var ip = head[l2..];
        var ihl = (ip[Ipv4Header.VersionIhlOffset] & 0xF) * 4;
        int total = BinaryPrimitives.ReadUInt16BigEndian(ip[Ipv4Header.TotalLengthOffset..]);
        if (ip[Ipv4Header.VersionIhlOffset] >> 4 != 4 || ihl < Ipv4Header.MinLength || head.Length < l2 + ihl
            || total < ihl || l2 + total > frameLength)
        {
            return DropReason.OffloadBadHeaders;
        }
        var fragment = BinaryPrimitives.ReadUInt16BigEndian(ip[Ipv4Header.FlagsFragmentOffset..]);
        if ((fragment & (Ipv4Header.FlagMoreFragments | Ipv4Header.FragmentOffsetMask)) != 0)
        {
            return DropReason.OffloadUnsupported;
        }
        return Transport(head, ip[Ipv4Header.ProtocolOffset], l2, ihl, l2 + total, ipv6: false, routed: false, out headers);
    }

    private static DropReason LocateV6(ReadOnlySpan<byte> head, int frameLength, int l2, out OffloadHeaders headers)
    {
        headers = default;
        if (head.Length < l2 + Ipv6Header.Length)
        {
            return DropReason.OffloadBadHeaders;
        }
        var ip = head[l2..];
        int payload = BinaryPrimitives.ReadUInt16BigEndian(ip[Ipv6Header.PayloadLengthOffset..]);
        if (ip[0] >> 4 != 6 || l2 + Ipv6Header.Length + payload > frameLength)
        {
            return DropReason.OffloadBadHeaders;
        }
        if (payload == 0)
        {
            // A jumbogram (RFC 2675) carries its length in a hop-by-hop option; virtio never
            // hands one over (its GSO maximum is 64 KiB).
            return DropReason.OffloadUnsupported;
        }
        var end = l2 + Ipv6Header.Length + payload;
        var next = ip[Ipv6Header.NextHeaderOffset];
        var offset = l2 + Ipv6Header.Length;
        var routed = false;
        for (var i = 0; i < MaxExtensionHeaders && next is Ipv6Header.NextHopByHop or Ipv6Header.NextRouting or Ipv6Header.NextDestinationOptions; i++)
        {
            // Generic format (RFC 8200 §4.2-4.6): next header, length in 8-octet units past the first 8.
            if (head.Length < offset + 8)
            {
                return DropReason.OffloadBadHeaders;
            }
            if (next == Ipv6Header.NextRouting && head[offset + 3] != 0)
            {
                routed = true;
            }
            next = head[offset];
            offset += (head[offset + 1] + 1) * 8;
        }
        if (offset > end)
        {
            return DropReason.OffloadBadHeaders;
        }
        return Transport(head, next, l2, offset - l2, end, ipv6: true, routed, out headers);
    }

    private static DropReason Transport(ReadOnlySpan<byte> head, byte protocol, int l2, int l3, int end, bool ipv6, bool routed, out OffloadHeaders headers)
    {
        headers = default;
        var l4 = l2 + l3;
        int length;
        if (protocol == Ipv4Header.ProtocolTcp)
        {
            if (head.Length < l4 + TcpHeader.MinLength)
            {
                return DropReason.OffloadBadHeaders;
            }
            length = (head[l4 + TcpHeader.DataOffsetOffset] >> 4) * 4;
            if (length < TcpHeader.MinLength)
            {
                return DropReason.OffloadBadHeaders;
            }
        }
        else if (protocol == Ipv4Header.ProtocolUdp)
        {
            length = UdpHeader.Length;
        }
        else
        {
            return DropReason.OffloadUnsupported;
        }
        if (head.Length < l4 + length || l4 + length > end)
        {
            return DropReason.OffloadBadHeaders;
        }
        headers = new OffloadHeaders(l2, l3, length, ipv6, (OffloadTransport)protocol, end, routed);
        return DropReason.None;
    }

    /// <summary>
    /// Finishes the partial transport checksum of a frame held in one buffer (see the class
    /// comment for the semantics). The IPv4 header checksum is left alone: guests compute it.
    /// </summary>
    public static void CompleteChecksum(Span<byte> frame, in OffloadHeaders h) =>
        StoreChecksum(frame, h, InternetChecksum.Sum(frame[h.L4Offset..h.L3End]));

    /// <summary>
    /// Adds to <paramref name="sum"/> the sum of <paramref name="piece"/>, which starts
    /// <paramref name="offset"/> bytes into the summed range: a range spread over several buffers
    /// is summed piece by piece. A piece at an odd offset pairs its bytes the other way round,
    /// and by RFC 1071's byte-order independence its sum is then the byte-swapped one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AddPiece(ulong sum, ReadOnlySpan<byte> piece, int offset)
    {
        var s = InternetChecksum.Sum(piece);
        return sum + ((offset & 1) == 0 ? s : ((s & 0xFF) << 8) | (s >> 8));
    }

    /// <summary>
    /// Stores the checksum for a wide <paramref name="sum"/> (of the pseudo-header, or the seed in
    /// the field, and the transport bytes) into the frame's checksum field. A result of 0 is sent
    /// as 0xFFFF: for UDP 0 would mean "no checksum" (RFC 768), for TCP both verify the same.
    /// </summary>
    public static void StoreChecksum(Span<byte> headers, in OffloadHeaders h, ulong sum)
    {
        var checksum = (ushort)~InternetChecksum.Fold(sum);
        BinaryPrimitives.WriteUInt16BigEndian(headers[h.ChecksumOffset..], checksum == 0 ? (ushort)0xFFFF : checksum);
    }

    /// <summary>How many segments a super-frame with <paramref name="payloadLength"/> bytes of payload makes.</summary>
    public static int SegmentCount(int payloadLength, int mss) => mss <= 0 ? 0 : (payloadLength + mss - 1) / mss;

    /// <summary>
    /// Rewrites the copied headers of segment <paramref name="index"/> (its payload starts
    /// <paramref name="payloadOffset"/> bytes into the super-frame's payload and is
    /// <paramref name="payloadLength"/> bytes long) and zeroes its TCP checksum field; returns the
    /// pseudo-header sum the checksum starts from. <paramref name="headers"/> holds at least
    /// <see cref="OffloadHeaders.HeadersLength"/> bytes copied from the super-frame.
    /// </summary>
    public static ulong PatchSegmentHeaders(Span<byte> headers, in OffloadHeaders h, int index, int payloadOffset, int payloadLength, bool last)
    {
        var ip = headers[h.L2Length..];
        var transportLength = h.L4Length + payloadLength;
        ulong pseudo;
        if (h.Ipv6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv6Header.PayloadLengthOffset..], (ushort)(h.L3Length - Ipv6Header.Length + transportLength));
            pseudo = InternetChecksum.PseudoHeaderV6(IpAddr.ReadV6(ip[Ipv6Header.SourceOffset..]), IpAddr.ReadV6(ip[Ipv6Header.DestinationOffset..]),
                (uint)transportLength, Ipv6Header.NextTcp);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Header.TotalLengthOffset..], (ushort)(h.L3Length + transportLength));
            var id = BinaryPrimitives.ReadUInt16BigEndian(ip[Ipv4Header.IdentificationOffset..]);
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Header.IdentificationOffset..], (ushort)(id + index));
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Header.ChecksumOffset..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Header.ChecksumOffset..], InternetChecksum.Compute(ip[..h.L3Length]));
            pseudo = InternetChecksum.PseudoHeaderV4(BinaryPrimitives.ReadUInt32BigEndian(ip[Ipv4Header.SourceOffset..]),
                BinaryPrimitives.ReadUInt32BigEndian(ip[Ipv4Header.DestinationOffset..]), (ushort)transportLength, Ipv4Header.ProtocolTcp);
        }
        var tcp = headers[h.L4Offset..];
        var sequence = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], unchecked(sequence + (uint)payloadOffset));
        var flags = tcp[TcpHeader.FlagsOffset];
        if (index != 0)
        {
            flags &= unchecked((byte)~TcpFlagCwr);
        }
        if (!last)
        {
            flags &= unchecked((byte)~(TcpHeader.FlagFin | TcpHeader.FlagPsh));
        }
        tcp[TcpHeader.FlagsOffset] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[OffloadHeaders.TcpChecksumOffset..], 0);
        return pseudo;
    }

    /// <summary>
    /// Finishes a segment held in one buffer: <paramref name="segment"/> is the super-frame's
    /// headers followed by this segment's payload, exactly (see <see cref="PatchSegmentHeaders"/>).
    /// </summary>
    public static void FinishSegment(Span<byte> segment, in OffloadHeaders h, int index, int payloadOffset, bool last)
    {
        var pseudo = PatchSegmentHeaders(segment, h, index, payloadOffset, segment.Length - h.HeadersLength, last);
        StoreChecksum(segment, h, pseudo + InternetChecksum.Sum(segment[h.L4Offset..]));
    }
}
