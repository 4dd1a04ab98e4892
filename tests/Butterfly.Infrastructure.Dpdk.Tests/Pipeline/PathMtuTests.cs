using System.Buffers.Binary;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;
using Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

/// <summary>
/// The path-MTU stage on synthetic frames: what fits an underlay, what is answered, fragmented
/// or dropped, and the ICMP / ICMPv6 answers byte by byte (types, codes, MTU field, quote,
/// addresses, checksums).
/// </summary>
public class PathMtuTests
{
    /// <summary>A guest at MTU 1500 over an IPv4 underlay of 1500: frames up to 1464 bytes fit.</summary>
    private const int MaxFrameV4 = 1500 - 36;

    /// <summary>The same over an IPv6 underlay: 1444.</summary>
    private const int MaxFrameV6 = 1500 - 56;

    private const int BufferRoom = 2048;

    /// <summary>A full-size TCP segment of a guest at MTU 1500 (a 1514-byte frame), with DF unless told otherwise.</summary>
    internal static byte[] Tcp4(int ipLength = 1500, bool dontFragment = true, string src = "10.0.0.1", string dst = "10.0.0.2", ushort fragment = 0)
    {
        var l4 = Payload(ipLength - 20);
        BinaryPrimitives.WriteUInt16BigEndian(l4, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(2), 5001);
        l4[12] = 5 << 4;
        l4[13] = TcpHeader.FlagAck;
        var flags = (ushort)(fragment | (dontFragment ? Ipv4Header.FlagDontFragment : 0));
        return Packets.Ip(src, dst, Ipv4Header.ProtocolTcp, l4, fragment: flags, id: 0x1234);
    }

    /// <summary>A UDP datagram of <paramref name="ipLength"/> bytes of IP, without DF (a Linux guest's large datagram).</summary>
    internal static byte[] Udp4(int ipLength, ushort fragment = 0)
    {
        var l4 = Payload(ipLength - 20);
        BinaryPrimitives.WriteUInt16BigEndian(l4, 5353);
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(2), 53);
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(4), (ushort)l4.Length);
        return Packets.Ip("10.0.0.1", "10.0.0.2", Ipv4Header.ProtocolUdp, l4, fragment: fragment, id: 0x4321);
    }

    internal static byte[] Tcp6(int ipLength = 1500, string src = "fd00::1", string dst = "fd00::2")
    {
        var l4 = Payload(ipLength - 40);
        BinaryPrimitives.WriteUInt16BigEndian(l4, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(2), 5001);
        l4[12] = 5 << 4;
        l4[13] = TcpHeader.FlagAck;
        return Packets.Ip(src, dst, Ipv6Header.NextTcp, l4);
    }

    /// <summary>Bytes that differ from position to position, so a misplaced copy shows.</summary>
    private static byte[] Payload(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)((i * 7) + 3);
        }
        return bytes;
    }

    /// <summary>The same frame with an 802.1Q tag (VID 100) after the MACs.</summary>
    private static byte[] Tagged(byte[] frame)
    {
        var tagged = new byte[frame.Length + 4];
        frame.AsSpan(0, 12).CopyTo(tagged);
        BinaryPrimitives.WriteUInt16BigEndian(tagged.AsSpan(12), EthernetHeader.TypeVlan);
        BinaryPrimitives.WriteUInt16BigEndian(tagged.AsSpan(14), 100);
        frame.AsSpan(12).CopyTo(tagged.AsSpan(16));
        return tagged;
    }

    private static int Answer(byte[] frame, int maxFrame, out byte[] answer, out int mtu)
    {
        var meta = Packets.Parse(frame);
        Assert.Equal(TooBigAction.Icmp, PathMtu.Decide(meta, maxFrame, out mtu));
        answer = new byte[BufferRoom];
        var length = PathMtu.BuildIcmp(frame, meta, mtu, answer);
        Assert.True(length > 0);
        return length;
    }

    [Fact]
    public void The_inner_mtu_is_the_underlay_mtu_less_50_or_70_and_a_frame_fits_one_buffer()
    {
        Assert.Equal(1450, PathMtu.InnerMtu(1500, v4Underlay: true));
        Assert.Equal(1430, PathMtu.InnerMtu(1500, v4Underlay: false));
        Assert.Equal(1550, PathMtu.InnerMtu(1600, v4Underlay: true));
        Assert.Equal(MaxFrameV4, PathMtu.MaxInnerFrame(1500, v4Underlay: true, BufferRoom));
        Assert.Equal(MaxFrameV6, PathMtu.MaxInnerFrame(1500, v4Underlay: false, BufferRoom));
        // A jumbo underlay still encapsulates a frame from one buffer: guests are told 2034.
        Assert.Equal(BufferRoom, PathMtu.MaxInnerFrame(9000, v4Underlay: true, BufferRoom));
    }

    [Fact]
    public void Ipv4_with_df_is_answered_with_the_mtu_of_the_path_and_a_tagged_frame_with_4_bytes_less()
    {
        Assert.Equal(TooBigAction.Icmp, PathMtu.Decide(Packets.Parse(Tcp4()), MaxFrameV4, out var mtu));
        Assert.Equal(1450, mtu);
        Assert.Equal(TooBigAction.Icmp, PathMtu.Decide(Packets.Parse(Tagged(Tcp4())), MaxFrameV4, out mtu));
        Assert.Equal(1446, mtu);
        Assert.Equal(TooBigAction.Icmp, PathMtu.Decide(Packets.Parse(Tcp6()), MaxFrameV6, out mtu));
        Assert.Equal(1430, mtu);
    }

    [Fact]
    public void Ipv4_without_df_is_fragmented_and_non_ip_is_dropped()
    {
        Assert.Equal(TooBigAction.Fragment, PathMtu.Decide(Packets.Parse(Udp4(1500)), MaxFrameV4, out _));
        Assert.Equal(TooBigAction.Fragment, PathMtu.Decide(Packets.Parse(Tcp4(dontFragment: false)), MaxFrameV4, out _));
        var opaque = new byte[1514];
        EthernetHeader.Write(opaque, Packets.MacB, Packets.MacA, 0x88B5);
        Assert.Equal(TooBigAction.Drop, PathMtu.Decide(Packets.Parse(opaque), MaxFrameV4, out _));
    }

    [Theory]
    [InlineData("10.0.0.1", "224.0.0.5")]
    [InlineData("10.0.0.1", "255.255.255.255")]
    [InlineData("0.0.0.0", "10.0.0.2")]
    [InlineData("127.0.0.1", "10.0.0.2")]
    [InlineData("fd00::1", "ff02::1")]
    [InlineData("::", "fd00::2")]
    [InlineData("::1", "fd00::2")]
    public void Packets_from_or_to_addresses_nobody_can_answer_are_dropped(string src, string dst)
    {
        var frame = src.Contains(':', StringComparison.Ordinal) ? Tcp6(src: src, dst: dst) : Tcp4(src: src, dst: dst);
        Assert.Equal(TooBigAction.Drop, PathMtu.Decide(Packets.Parse(frame), MaxFrameV4, out _));
    }

    [Fact]
    public void Icmp_errors_redirects_group_macs_later_fragments_and_mtus_below_the_minimum_are_not_answered()
    {
        // Port unreachable with DF, quoting a whole 1400-byte packet.
        var unreachable = new byte[8 + 1400];
        unreachable[0] = 3;
        unreachable[1] = 3;
        Tcp4(ipLength: 1400).AsSpan(14).CopyTo(unreachable.AsSpan(8));
        var v4Error = Packets.Ip("10.0.0.1", "10.0.0.2", Ipv4Header.ProtocolIcmp, unreachable, fragment: Ipv4Header.FlagDontFragment);
        var meta = Packets.Parse(v4Error);
        Assert.Equal(IcmpRole.Error, IcmpTracker.RoleOf(meta));
        Assert.Equal(TooBigAction.Drop, PathMtu.Decide(meta, MaxFrameV4, out _));

        var v6Error = Packets.Icmp("fd00::1", "fd00::2", 1, 4, body: new byte[1400]);
        Assert.Equal(TooBigAction.Drop, PathMtu.Decide(Packets.Parse(v6Error), MaxFrameV6, out _));
        var redirect = Packets.Icmp("fd00::1", "fd00::2", NdMessage.Redirect, body: new byte[1400]);
        Assert.Equal(TooBigAction.Drop, PathMtu.Decide(Packets.Parse(redirect), MaxFrameV6, out _));

        var toGroup = Tcp4();
        MacAddress.Parse("01:00:5e:00:00:05").Write(toGroup);
        Assert.Equal(TooBigAction.Drop, PathMtu.Decide(Packets.Parse(toGroup), MaxFrameV4, out _));

        Assert.Equal(TooBigAction.Drop, PathMtu.Decide(Packets.Parse(LaterFragment6()), MaxFrameV6, out _));

        // An IPv6 underlay of 1340 leaves 1270 bytes: below IPv6's minimum, a guest could not use it.
        Assert.Equal(TooBigAction.Drop, PathMtu.Decide(Packets.Parse(Tcp6()), 1340 - 56, out _));
        Assert.Equal(TooBigAction.Icmp, PathMtu.Decide(Packets.Parse(Tcp6()), 1350 - 56, out var mtu));
        Assert.Equal(1280, mtu);
    }

    [Fact]
    public void The_ipv4_answer_is_fragmentation_needed_from_the_destination_with_the_mtu_and_576_bytes_at_most()
    {
        var frame = Tcp4();
        var length = Answer(frame, MaxFrameV4, out var answer, out var mtu);
        var a = answer.AsSpan(0, length);

        Assert.Equal(14 + PathMtu.MaxIcmpV4Datagram, length);
        // Ethernet: to the sender, from the MAC it sent to.
        Assert.Equal(Packets.MacA, MacAddress.Read(a));
        Assert.Equal(Packets.MacB, MacAddress.Read(a[6..]));
        Assert.Equal(EthernetHeader.TypeIpv4, BinaryPrimitives.ReadUInt16BigEndian(a[12..]));
        // IPv4: 576 bytes, DF, TTL 64, ICMP, from the packet's destination to its source, valid checksum.
        var ip = a[14..];
        Assert.Equal(0x45, ip[0]);
        Assert.Equal(576, BinaryPrimitives.ReadUInt16BigEndian(ip[2..]));
        Assert.Equal(Ipv4Header.FlagDontFragment, BinaryPrimitives.ReadUInt16BigEndian(ip[6..]));
        Assert.Equal(64, ip[8]);
        Assert.Equal(Ipv4Header.ProtocolIcmp, ip[9]);
        Assert.Equal(IpAddr.Parse("10.0.0.2"), IpAddr.ReadV4(ip[12..]));
        Assert.Equal(IpAddr.Parse("10.0.0.1"), IpAddr.ReadV4(ip[16..]));
        Assert.True(InternetChecksum.Ipv4HeaderValid(ip[..20]));
        // ICMP: type 3 code 4, unused 0, next-hop MTU 1450, valid checksum, and the packet itself.
        var icmp = ip[20..];
        Assert.Equal(3, icmp[0]);
        Assert.Equal(4, icmp[1]);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(icmp[4..]));
        Assert.Equal(1450, BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]));
        Assert.Equal(1450, mtu);
        Assert.Equal(0xFFFFu, InternetChecksum.Sum(icmp));
        Assert.True(icmp[8..].SequenceEqual(frame.AsSpan(14, 576 - 28)));

        // Parsed like any ICMP error: the firewall finds the flow it quotes.
        var meta = Packets.Parse(a.ToArray());
        Assert.Equal(IcmpRole.Error, IcmpTracker.RoleOf(meta));
    }

    [Fact]
    public void The_ipv6_answer_is_packet_too_big_with_a_32_bit_mtu_and_1280_bytes_at_most()
    {
        var frame = Tcp6();
        var length = Answer(frame, MaxFrameV6, out var answer, out _);
        var a = answer.AsSpan(0, length);

        Assert.Equal(14 + PathMtu.MaxIcmpV6Datagram, length);
        Assert.Equal(Packets.MacA, MacAddress.Read(a));
        Assert.Equal(Packets.MacB, MacAddress.Read(a[6..]));
        Assert.Equal(EthernetHeader.TypeIpv6, BinaryPrimitives.ReadUInt16BigEndian(a[12..]));
        var ip = a[14..];
        Assert.Equal(6, ip[0] >> 4);
        Assert.Equal(1280 - 40, BinaryPrimitives.ReadUInt16BigEndian(ip[4..]));
        Assert.Equal(Ipv6Header.NextIcmpv6, ip[6]);
        Assert.Equal(64, ip[7]);
        var source = IpAddr.ReadV6(ip[8..]);
        var destination = IpAddr.ReadV6(ip[24..]);
        Assert.Equal(IpAddr.Parse("fd00::2"), source);
        Assert.Equal(IpAddr.Parse("fd00::1"), destination);
        var icmp = ip[40..];
        Assert.Equal(2, icmp[0]);
        Assert.Equal(0, icmp[1]);
        Assert.Equal(1430u, BinaryPrimitives.ReadUInt32BigEndian(icmp[4..]));
        Assert.True(InternetChecksum.VerifyTransport(InternetChecksum.PseudoHeaderV6(source, destination, (uint)icmp.Length, Ipv6Header.NextIcmpv6), icmp));
        Assert.True(icmp[8..].SequenceEqual(frame.AsSpan(14, 1280 - 48)));
        Assert.Equal(IcmpRole.Error, IcmpTracker.RoleOf(Packets.Parse(a.ToArray())));
    }

    [Fact]
    public void A_short_packet_is_quoted_whole_and_a_tagged_one_is_answered_with_its_tag()
    {
        var frame = Tagged(Tcp4(ipLength: 300));
        var length = Answer(frame, 200, out var answer, out var mtu);

        Assert.Equal(18 + 20 + 8 + 300, length);
        Assert.Equal(200 - 18, mtu);
        Assert.Equal(EthernetHeader.TypeVlan, BinaryPrimitives.ReadUInt16BigEndian(answer.AsSpan(12)));
        Assert.Equal(100, BinaryPrimitives.ReadUInt16BigEndian(answer.AsSpan(14)));
        Assert.Equal(EthernetHeader.TypeIpv4, BinaryPrimitives.ReadUInt16BigEndian(answer.AsSpan(16)));
        Assert.True(answer.AsSpan(18 + 28, 300).SequenceEqual(frame.AsSpan(18)));
        Assert.Equal(0xFFFFu, InternetChecksum.Sum(answer.AsSpan(18 + 20, 8 + 300)));
    }

    [Fact]
    public void The_quote_stops_where_the_given_bytes_stop_and_a_small_buffer_gets_nothing()
    {
        var frame = Tcp4();
        var meta = Packets.Parse(frame);
        PathMtu.Decide(meta, MaxFrameV4, out var mtu);
        var answer = new byte[BufferRoom];

        // Only the first buffer of a chained frame is at hand: the quote is what it holds.
        Assert.Equal(14 + 28 + 100, PathMtu.BuildIcmp(frame.AsSpan(0, 14 + 100), meta, mtu, answer));
        Assert.Equal(0, PathMtu.BuildIcmp(frame, meta, mtu, new byte[100]));
    }

    /// <summary>A later fragment (offset 1448) of an IPv6 UDP datagram, 1500 bytes of IP.</summary>
    private static byte[] LaterFragment6()
    {
        var l4 = new byte[1460];
        l4[0] = Ipv6Header.NextUdp;
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(2), 1448);
        BinaryPrimitives.WriteUInt32BigEndian(l4.AsSpan(4), 99);
        return Packets.Ip("fd00::1", "fd00::2", Ipv6Header.NextFragment, l4);
    }
}
