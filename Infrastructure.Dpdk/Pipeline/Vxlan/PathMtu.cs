using System.Buffers.Binary;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>What to do with a frame from a local NIC that does not fit the underlay once encapsulated.</summary>
internal enum TooBigAction : byte
{
    /// <summary>Drop it (<see cref="DropReason.EncapTooBig"/>): there is nobody to tell, or nothing useful to say.</summary>
    Drop,

    /// <summary>Drop it and answer the sender with ICMP "fragmentation needed" or ICMPv6 "packet too big" (<see cref="PathMtu.BuildIcmp"/>).</summary>
    Icmp,

    /// <summary>IPv4 without DF: cut it into fragments that fit (<see cref="Ipv4Fragmenter"/>), each encapsulated.</summary>
    Fragment,
}

/// <summary>
/// Stage: path MTU of the tunnel, for frames from local NICs on their way to VXLAN encap — what
/// the Linux kernel's VXLAN (skb_tunnel_check_pmtu) and VPP do, so a guest whose MTU is larger
/// than what the underlay carries learns the right one instead of losing its large frames.
///
/// Input: a parsed frame that does not fit (its length, outer headers included, exceeds the
/// underlay MTU, or it does not fit one buffer: <see cref="MaxInnerFrame"/>), its bytes (at least
/// its headers) and the largest inner frame that fits.
/// Output: a <see cref="TooBigAction"/> and the MTU to report: the largest IP packet the sender
/// may send on this path (underlay MTU − 50 over IPv4, − 70 over IPv6, 4 less for a tagged
/// frame, at most what one buffer holds); and for <see cref="TooBigAction.Icmp"/>, the answer,
/// built by <see cref="BuildIcmp"/> into a fresh buffer:
/// - IPv4 with DF: ICMP type 3 code 4, "fragmentation needed and DF set" with the next-hop MTU
///   (RFC 1191 §4), quoting as much of the packet as fits 576 bytes (RFC 1812 §4.3.2.3);
/// - IPv6: ICMPv6 type 2, "packet too big" with the MTU (RFC 4443 §3.2), quoting as much as fits
///   1280 bytes (§2.4 (c)).
/// The answer comes from the packet's destination (Ethernet and IP) to its source, with the
/// frame's own VLAN tag, TTL / hop limit 64: the switch has no address in the guest's network,
/// and every stack accepts a path-MTU message from the destination it was sending to (Linux's
/// tunnels answer bridged frames the same way, iptunnel_pmtud_build_icmp).
/// Not answered (<see cref="TooBigAction.Drop"/>), as RFC 1812 §4.3.2.7 and RFC 4443 §2.4 (e)
/// ask: ICMP/ICMPv6 errors and redirects, later fragments (their quote names no flow), packets
/// from an unspecified, multicast or loopback address or to a multicast or broadcast one, frames
/// to a group MAC, non-IP frames, and an MTU below the family's minimum (68, 1280: the guest could
/// not use it, an IPv6 underlay needs an MTU of at least 1350). IPv4 without DF is fragmented
/// instead (the README says why), unless its header leaves no room for 8 bytes of payload.
/// State: none (the rate limit is <see cref="TooBigLimiter"/>'s). Thread: any (pure functions).
/// Per packet: no allocation, lock, syscall, exception or log.
/// </summary>
internal static class PathMtu
{
    /// <summary>The smallest MTU an IPv4 host must accept (RFC 791).</summary>
    public const int MinIpv4Mtu = 68;

    /// <summary>The smallest MTU of an IPv6 link (RFC 8200 §5).</summary>
    public const int MinIpv6Mtu = 1280;

    /// <summary>An ICMP error is at most this long, IP header included (RFC 1812 §4.3.2.3).</summary>
    public const int MaxIcmpV4Datagram = 576;

    /// <summary>An ICMPv6 error is at most the minimum IPv6 MTU (RFC 4443 §2.4 (c)).</summary>
    public const int MaxIcmpV6Datagram = MinIpv6Mtu;

    public const byte V4DestinationUnreachable = 3;
    public const byte V4FragmentationNeeded = 4;
    public const byte V6PacketTooBig = 2;
    public const byte AnswerTtl = 64;

    /// <summary>The 8 bytes of an ICMP / ICMPv6 error before its quote: type, code, checksum, the MTU word.</summary>
    public const int IcmpErrorHeaderLength = 8;

    private const int V4MtuOffset = 6;
    private const int V6MtuOffset = 4;

    /// <summary>
    /// The largest IP packet of an untagged frame that an underlay of <paramref name="underlayMtu"/>
    /// carries once encapsulated: what a guest's MTU should be.
    /// </summary>
    public static int InnerMtu(int underlayMtu, bool v4Underlay) =>
        underlayMtu - (v4Underlay ? VxlanHeader.OverheadV4 : VxlanHeader.OverheadV6);

    /// <summary>
    /// The longest inner frame (its Ethernet header included) that encapsulation takes: what the
    /// underlay carries, and at most <paramref name="bufferRoom"/> (a frame is encapsulated in one buffer).
    /// </summary>
    public static int MaxInnerFrame(int underlayMtu, bool v4Underlay, int bufferRoom) =>
        Math.Min(InnerMtu(underlayMtu, v4Underlay) + EthernetHeader.Length, bufferRoom);

    /// <summary>
    /// What to do with <paramref name="meta"/>'s frame, which is longer than <paramref name="maxFrame"/>;
    /// <paramref name="mtu"/> is the IP MTU of the path for that frame (its tag counted).
    /// </summary>
    public static TooBigAction Decide(in PacketMeta meta, int maxFrame, out int mtu)
    {
        mtu = maxFrame - meta.L3Offset;
        if (meta.L3 == L3Kind.Ipv4)
        {
            if (!meta.Has(PacketFlags.DontFragment))
            {
                return Ipv4Fragmenter.CanFragment(meta, mtu) ? TooBigAction.Fragment : TooBigAction.Drop;
            }
            return mtu >= MinIpv4Mtu && Answerable(meta) && !IsV4Broadcast(meta.DestinationIp) ? TooBigAction.Icmp : TooBigAction.Drop;
        }
        if (meta.L3 == L3Kind.Ipv6)
        {
            return mtu >= MinIpv6Mtu && Answerable(meta) ? TooBigAction.Icmp : TooBigAction.Drop;
        }
        return TooBigAction.Drop;
    }

    /// <summary>
    /// Writes the ICMP / ICMPv6 answer to the frame <paramref name="frame"/> (its bytes from the
    /// Ethernet header on; the quote stops where they stop) into <paramref name="destination"/>
    /// and returns its length, or 0 when the destination is too small. <paramref name="meta"/> is
    /// the frame's, for which <see cref="Decide"/> said <see cref="TooBigAction.Icmp"/>.
    /// </summary>
    public static int BuildIcmp(ReadOnlySpan<byte> frame, in PacketMeta meta, int mtu, Span<byte> destination)
    {
        var v4 = meta.L3 == L3Kind.Ipv4;
        int l2 = meta.L3Offset;
        var ipHeader = v4 ? Ipv4Header.MinLength : Ipv6Header.Length;
        var maxQuote = (v4 ? MaxIcmpV4Datagram : MaxIcmpV6Datagram) - ipHeader - IcmpErrorHeaderLength;
        var quoteLength = Math.Min(Math.Min(meta.L3End, frame.Length) - l2, maxQuote);
        var length = l2 + ipHeader + IcmpErrorHeaderLength + quoteLength;
        if (quoteLength <= 0 || destination.Length < length)
        {
            return 0;
        }
        var answer = destination[..length];
        // The frame's own L2 header (its VLAN tag too), the other way round.
        frame[..l2].CopyTo(answer);
        meta.Source.Write(answer[EthernetHeader.DestinationOffset..]);
        meta.Destination.Write(answer[EthernetHeader.SourceOffset..]);
        var icmp = answer.Slice(l2 + ipHeader, IcmpErrorHeaderLength + quoteLength);
        frame.Slice(l2, quoteLength).CopyTo(icmp[IcmpErrorHeaderLength..]);
        icmp[..IcmpErrorHeaderLength].Clear();
        if (v4)
        {
            Ipv4Header.Write(answer[l2..], (ushort)(ipHeader + icmp.Length), Ipv4Header.FlagDontFragment, AnswerTtl,
                Ipv4Header.ProtocolIcmp, meta.DestinationIp.V4, meta.SourceIp.V4);
            icmp[IcmpHeader.TypeOffset] = V4DestinationUnreachable;
            icmp[IcmpHeader.CodeOffset] = V4FragmentationNeeded;
            BinaryPrimitives.WriteUInt16BigEndian(icmp[V4MtuOffset..], (ushort)mtu);
            BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpHeader.ChecksumOffset..], InternetChecksum.Compute(icmp));
        }
        else
        {
            Ipv6Header.Write(answer[l2..], 0, (ushort)icmp.Length, Ipv6Header.NextIcmpv6, AnswerTtl, meta.DestinationIp, meta.SourceIp);
            icmp[IcmpHeader.TypeOffset] = V6PacketTooBig;
            BinaryPrimitives.WriteUInt32BigEndian(icmp[V6MtuOffset..], (uint)mtu);
            var pseudo = InternetChecksum.PseudoHeaderV6(meta.DestinationIp, meta.SourceIp, (uint)icmp.Length, Ipv6Header.NextIcmpv6);
            BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpHeader.ChecksumOffset..], InternetChecksum.Transport(pseudo, icmp));
        }
        return length;
    }

    /// <summary>Whether an error may be sent about this packet (RFC 1812 §4.3.2.7, RFC 4443 §2.4 (e)).</summary>
    private static bool Answerable(in PacketMeta meta)
    {
        if (meta.Has(PacketFlags.LaterFragment) || meta.Destination.IsMulticast)
        {
            return false;
        }
        var icmp = meta.L4Offset != 0 && meta.L4Protocol == (meta.L3 == L3Kind.Ipv4 ? Ipv4Header.ProtocolIcmp : Ipv6Header.NextIcmpv6);
        if (icmp && (IcmpTracker.RoleOf(meta) == IcmpRole.Error || (meta.L3 == L3Kind.Ipv6 && meta.IcmpType == NdMessage.Redirect)))
        {
            return false;
        }
        var source = meta.SourceIp;
        return !source.IsUnspecified && !source.IsMulticast && !IsLoopback(source) && !meta.DestinationIp.IsMulticast;
    }

    private static bool IsLoopback(IpAddr address) =>
        address.IsV4 ? address.V4 >> 24 == 127 : address.Hi == 0 && address.Lo == 1;

    private static bool IsV4Broadcast(IpAddr address) => address.V4 == uint.MaxValue;
}
