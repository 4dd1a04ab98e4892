using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// The outer headers towards one VTEP, resolved by <see cref="UnderlayRouting.PathTo"/>: our
/// underlay MAC and address, the next hop's MAC, the VTEP's address, TTL and the underlay MTU.
/// </summary>
internal readonly struct UnderlayPath
{
    public UnderlayPath(MacAddress sourceMac, MacAddress nextHopMac, IpAddr source, IpAddr destination, byte ttl, int mtu)
    {
        SourceMac = sourceMac;
        NextHopMac = nextHopMac;
        Source = source;
        Destination = destination;
        Ttl = ttl;
        Mtu = mtu;
    }

    public MacAddress SourceMac { get; }

    public MacAddress NextHopMac { get; }

    public IpAddr Source { get; }

    public IpAddr Destination { get; }

    public byte Ttl { get; }

    /// <summary>Largest outer IP packet the underlay carries (its interface MTU).</summary>
    public int Mtu { get; }
}

/// <summary>
/// Stage: VXLAN encap. Writes outer Ethernet / IPv4-or-IPv6 / UDP 4789 / VXLAN in front of an
/// inner frame, in place, in the buffer's headroom (an mbuf's headroom, or any array in tests),
/// and moves the data offset back over it.
///
/// Input: the buffer, the inner frame's offset and length in it, the path, the VNI and the inner
/// flow's hash (<see cref="FlowHash.Of"/>).
/// Output: offset and length of the encapsulated frame, or a drop reason.
/// Choices (RFC 7348 leaves them to the implementation):
/// - Outer UDP source port: 49152 + 14 bits of the flow hash; IPv6 flow label: 20 bits of it.
/// - IPv4: DF set and identification 0 (an atomic datagram, RFC 6864). VTEPs must not fragment
///   (RFC 7348 §4.3), and a silently fragmented tunnel halves throughput, so an outer packet is
///   never fragmented: a frame that does not fit the underlay MTU is refused here as a last guard;
///   frames from local NICs meet the path-MTU stage first (<see cref="PathMtu"/>: the guest is
///   answered with ICMP, or IPv4 without DF is fragmented inside). TOS/traffic class 0.
/// - UDP checksum: 0 over IPv4 (RFC 7348 §5). Over IPv6 it is computed over the whole datagram
///   (RFC 8200 §8.1): the zero-checksum exception of RFC 6935/6936 is only allowed where every
///   receiver is configured for it, which Linux is not by default (udp6zerocsumrx off).
/// Drop reasons:
/// - <see cref="DropReason.EncapBadBuffer"/>: offset/length outside the buffer (a caller bug, never an exception).
/// - <see cref="DropReason.EncapNoHeadroom"/>: fewer than 50 (IPv4) or 70 (IPv6) bytes before the frame.
/// - <see cref="DropReason.EncapTooBig"/>: the outer IP packet would exceed the path MTU.
/// State: none. Thread: any (pure function over the buffer).
/// </summary>
internal static class VxlanEncap
{
    [SkipLocalsInit]
    public static DropReason Encapsulate(Span<byte> buffer, ref int dataOffset, ref int dataLength, in UnderlayPath path, uint vni, uint flowHash)
    {
        if ((uint)dataOffset > (uint)buffer.Length || (uint)dataLength > (uint)(buffer.Length - dataOffset))
        {
            return DropReason.EncapBadBuffer;
        }
        var v4 = path.Destination.IsV4;
        var overhead = v4 ? VxlanHeader.OverheadV4 : VxlanHeader.OverheadV6;
        if (dataOffset < overhead)
        {
            return DropReason.EncapNoHeadroom;
        }
        var ipLength = overhead - EthernetHeader.Length + dataLength;
        if (ipLength > path.Mtu || ipLength > ushort.MaxValue)
        {
            return DropReason.EncapTooBig;
        }
        var start = dataOffset - overhead;
        var frame = buffer.Slice(start, overhead + dataLength);
        var udpLength = (ushort)(UdpHeader.Length + VxlanHeader.Length + dataLength);
        if (v4)
        {
            WriteV4(frame, path, (ushort)ipLength, udpLength, vni, FlowHash.SourcePort(flowHash));
        }
        else
        {
            WriteV6(frame, path, udpLength, vni, flowHash);
        }
        dataOffset = start;
        dataLength += overhead;
        return DropReason.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteV4(Span<byte> frame, in UnderlayPath path, ushort ipLength, ushort udpLength, uint vni, ushort sourcePort)
    {
        // The header checksum is summed from the values rather than re-read from memory:
        // only the total length and the addresses vary per path and packet.
        var source = path.Source.V4;
        var destination = path.Destination.V4;
        var sum = 0x4500u + ipLength + Ipv4Header.FlagDontFragment + ((uint)path.Ttl << 8) + Ipv4Header.ProtocolUdp
            + (source >> 16) + (source & 0xFFFF) + (destination >> 16) + (destination & 0xFFFF);
        // Every field is assigned below: no need to zero the struct first.
        Unsafe.SkipInit(out VxlanOuterV4 outer);
        outer.Ethernet.Set(path.NextHopMac, path.SourceMac, EthernetHeader.TypeIpv4);
        outer.VersionIhl = Ipv4Header.VersionIhlNoOptions;
        outer.Tos = 0;
        outer.TotalLength = EthernetWords.BigEndian(ipLength);
        outer.Identification = 0;
        outer.FlagsFragment = EthernetWords.BigEndian(Ipv4Header.FlagDontFragment);
        outer.Ttl = path.Ttl;
        outer.Protocol = Ipv4Header.ProtocolUdp;
        outer.Checksum = EthernetWords.BigEndian((ushort)~InternetChecksum.Fold(sum));
        outer.Source = EthernetWords.BigEndian(source);
        outer.Destination = EthernetWords.BigEndian(destination);
        outer.UdpVxlan.Set(sourcePort, udpLength, vni);
        MemoryMarshal.Write(frame, in outer);
    }

    private static void WriteV6(Span<byte> frame, in UnderlayPath path, ushort udpLength, uint vni, uint flowHash)
    {
        var sourcePort = FlowHash.SourcePort(flowHash);
        Unsafe.SkipInit(out VxlanOuterV6 outer);
        outer.Ethernet.Set(path.NextHopMac, path.SourceMac, EthernetHeader.TypeIpv6);
        outer.VersionClassFlow = EthernetWords.BigEndian(0x6000_0000u | (flowHash & 0xF_FFFF));
        outer.PayloadLength = EthernetWords.BigEndian(udpLength);
        outer.NextHeader = Ipv6Header.NextUdp;
        outer.HopLimit = path.Ttl;
        outer.SourceHi = EthernetWords.BigEndian(path.Source.Hi);
        outer.SourceLo = EthernetWords.BigEndian(path.Source.Lo);
        outer.DestinationHi = EthernetWords.BigEndian(path.Destination.Hi);
        outer.DestinationLo = EthernetWords.BigEndian(path.Destination.Lo);
        outer.UdpVxlan.Set(sourcePort, udpLength, vni);
        // UDP over IPv6 must carry a checksum: pseudo-header + the UDP and VXLAN headers'
        // values + the inner frame's bytes.
        var sum = InternetChecksum.PseudoHeaderV6(path.Source, path.Destination, udpLength, Ipv6Header.NextUdp)
            + sourcePort + VxlanHeader.UdpPort + udpLength + ((uint)VxlanHeader.FlagValidVni << 8)
            + (vni >> 8) + ((vni & 0xFF) << 8)
            + InternetChecksum.Sum(frame[VxlanHeader.OverheadV6..]);
        var checksum = (ushort)~InternetChecksum.Fold(sum);
        outer.UdpVxlan.Checksum = EthernetWords.BigEndian(checksum == 0 ? (ushort)0xFFFF : checksum);
        MemoryMarshal.Write(frame, in outer);
    }
}
