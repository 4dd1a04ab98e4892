using Butterfly.Infrastructure.Dpdk.Pipeline;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Frames;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

public class PacketParserTests
{
    /// <summary>Every golden frame: the common case (IPv4 UDP/TCP) and all the others.</summary>
    public static TheoryData<string> AllGoldenFrames => new(
        GoldenFrames.InnerUdp, GoldenFrames.VxlanV4, GoldenFrames.VxlanV6, GoldenFrames.VxlanV4UdpChecksum,
        GoldenFrames.VxlanV4Multicast, GoldenFrames.ArpRequestForUs, GoldenFrames.ArpReplyToUs, GoldenFrames.NsForUs,
        GoldenFrames.NaToUs, GoldenFrames.RaFromRouter, GoldenFrames.TcpV4Options, GoldenFrames.IcmpV4EchoVlan,
        GoldenFrames.Ipv4LaterFragment, GoldenFrames.Ipv4FirstFragment, GoldenFrames.Icmpv6Echo, GoldenFrames.Ipv6Fragment,
        GoldenFrames.Ipv6Udp, OffloadGoldenFrames.TcpV4, OffloadGoldenFrames.UdpV4ZeroChecksum, OffloadGoldenFrames.TsoV4Segment1,
        OffloadGoldenFrames.UdpV6VlanHopByHop);

    [Theory]
    [MemberData(nameof(AllGoldenFrames))]
    public void The_common_case_fast_path_agrees_with_the_full_parser_on_every_truncation_and_corruption(string hex)
    {
        var frame = Hex(hex);
        for (var length = 0; length <= frame.Length; length++)
        {
            AssertSameVerdict(frame.AsSpan(0, length));
        }
        var corrupted = new byte[frame.Length];
        for (var i = 0; i < frame.Length; i++)
        {
            foreach (var value in new[] { (byte)0, (byte)0xFF, (byte)(frame[i] ^ 0x01), (byte)(frame[i] ^ 0x80), (byte)(frame[i] + 1) })
            {
                frame.CopyTo(corrupted, 0);
                corrupted[i] = value;
                AssertSameVerdict(corrupted);
            }
        }
        // Trailing Ethernet padding is not IP data for either.
        AssertSameVerdict([.. frame, 0, 0, 0, 0]);
    }

    [Theory]
    [InlineData(GoldenFrames.InnerUdp)]
    [InlineData(GoldenFrames.VxlanV4)]
    [InlineData(OffloadGoldenFrames.TcpV4)]
    [InlineData(OffloadGoldenFrames.TsoV4Segment1)]
    public void The_fast_path_takes_untagged_ipv4_udp_and_tcp(string hex) =>
        Assert.True(PacketParser.TryParseCommon(Hex(hex), out _));

    [Theory]
    [InlineData(GoldenFrames.IcmpV4EchoVlan)]
    [InlineData(GoldenFrames.TcpV4Options)]
    [InlineData(GoldenFrames.Ipv4FirstFragment)]
    [InlineData(GoldenFrames.Ipv6Udp)]
    [InlineData(GoldenFrames.ArpRequestForUs)]
    public void The_fast_path_leaves_tagged_optioned_fragmented_ipv6_and_arp_frames_to_the_full_parser(string hex) =>
        Assert.False(PacketParser.TryParseCommon(Hex(hex), out _));

    private static void AssertSameVerdict(ReadOnlySpan<byte> frame)
    {
        var expected = PacketParser.ParseAny(frame, frame.Length, out var expectedMeta);
        var actual = PacketParser.Parse(frame, out var actualMeta);
        Assert.Equal(expected, actual);
        if (expected == DropReason.None)
        {
            Assert.Equal(expectedMeta, actualMeta);
        }
    }

    [Fact]
    public void Udp_over_ipv4_fills_every_field()
    {
        var frame = Hex(GoldenFrames.InnerUdp);
        var meta = Parse(frame);
        Assert.Equal(Vm2, meta.Destination);
        Assert.Equal(Vm1, meta.Source);
        Assert.Equal(EthernetHeader.TypeIpv4, meta.EtherType);
        Assert.Equal(L3Kind.Ipv4, meta.L3);
        Assert.Equal(14, meta.L3Offset);
        Assert.Equal(frame.Length, meta.L3End);
        Assert.Equal(34, meta.L4Offset);
        Assert.Equal(42, meta.PayloadOffset);
        Assert.Equal(17, meta.L4Protocol);
        Assert.Equal(64, meta.Ttl);
        Assert.Equal(IpAddr.Parse("10.0.0.1"), meta.SourceIp);
        Assert.Equal(IpAddr.Parse("10.0.0.2"), meta.DestinationIp);
        Assert.Equal(1234, meta.SourcePort);
        Assert.Equal(5678, meta.DestinationPort);
        Assert.Equal(PacketFlags.None, meta.Flags);
    }

    [Fact]
    public void Ethernet_padding_is_not_counted_as_ip_bytes()
    {
        var padded = new byte[60];
        Hex(GoldenFrames.IcmpV4EchoVlan.Replace("8100a064", "", StringComparison.Ordinal)).CopyTo(padded, 0);
        var meta = Parse(padded);
        Assert.Equal(14 + 28, meta.L3End);
        Assert.Equal(L3Kind.Ipv4, meta.L3);
    }

    [Fact]
    public void Tcp_with_ipv4_options_notes_options_and_payload_offset()
    {
        var meta = Parse(Hex(GoldenFrames.TcpV4Options));
        Assert.True(meta.Has(PacketFlags.Ipv4Options));
        Assert.Equal(14 + 24, meta.L4Offset);
        Assert.Equal(14 + 24 + 24, meta.PayloadOffset);
        Assert.Equal(40000, meta.SourcePort);
        Assert.Equal(80, meta.DestinationPort);
        Assert.Equal(TcpHeader.FlagSyn, meta.TcpFlags);
    }

    [Fact]
    public void One_vlan_tag_is_skipped_and_kept()
    {
        var meta = Parse(Hex(GoldenFrames.IcmpV4EchoVlan));
        Assert.True(meta.Has(PacketFlags.Vlan));
        Assert.Equal(0xA064, meta.VlanTci);
        Assert.Equal(18, meta.L3Offset);
        Assert.Equal(EthernetHeader.TypeIpv4, meta.EtherType);
        Assert.Equal(IcmpHeader.V4EchoRequest, meta.IcmpType);
        Assert.Equal(38, meta.L4Offset);
    }

    [Fact]
    public void A_second_tag_makes_the_frame_opaque()
    {
        var frame = Hex("525400000002525400000001" + "8100" + "0064" + "88a8" + "00c8" + "0800" + "4500");
        var meta = Parse(frame);
        Assert.True(meta.Has(PacketFlags.StackedVlan));
        Assert.Equal(L3Kind.Other, meta.L3);
        Assert.Equal(EthernetHeader.TypeQinQ, meta.EtherType);
    }

    [Fact]
    public void Unknown_ethertypes_are_opaque_not_dropped()
    {
        var meta = Parse(Hex("525400000002525400000001" + "88cc" + "0102030405"));
        Assert.Equal(L3Kind.Other, meta.L3);
        Assert.Equal(0x88CC, meta.EtherType);
        Assert.Equal(0, meta.L4Offset);
    }

    [Fact]
    public void Later_fragments_have_no_l4_fields()
    {
        var meta = Parse(Hex(GoldenFrames.Ipv4LaterFragment));
        Assert.True(meta.Has(PacketFlags.Fragment | PacketFlags.LaterFragment));
        Assert.Equal(0, meta.L4Offset);
        Assert.Equal(0, meta.SourcePort);
    }

    [Fact]
    public void First_fragment_keeps_ports_and_skips_the_datagram_length_check()
    {
        var meta = Parse(Hex(GoldenFrames.Ipv4FirstFragment));
        Assert.True(meta.Has(PacketFlags.Fragment));
        Assert.False(meta.Has(PacketFlags.LaterFragment));
        Assert.Equal(1, meta.SourcePort);
        Assert.Equal(2, meta.DestinationPort);
    }

    [Fact]
    public void Ipv6_udp_and_icmpv6_are_parsed()
    {
        var udp = Parse(Hex(GoldenFrames.Ipv6Udp));
        Assert.Equal(L3Kind.Ipv6, udp.L3);
        Assert.Equal(IpAddr.Parse("fd01::1"), udp.SourceIp);
        Assert.Equal(IpAddr.Parse("fd01::2"), udp.DestinationIp);
        Assert.Equal(5353, udp.SourcePort);
        Assert.Equal(54, udp.L4Offset);

        var echo = Parse(Hex(GoldenFrames.Icmpv6Echo));
        Assert.Equal(IcmpHeader.V6EchoRequest, echo.IcmpType);
        Assert.False(echo.Has(PacketFlags.NeighbourDiscovery));
    }

    [Fact]
    public void Ipv6_extension_headers_are_walked_to_the_upper_layer()
    {
        // A first fragment (offset 0, M set) of datagram 0x12345678 carrying UDP 1 -> 2.
        var frame = Hex(GoldenFrames.Ipv6Fragment);
        WriteU32(frame, EthernetHeader.Length + Ipv6Header.Length + 4, 0x1234_5678);
        var meta = Parse(frame);
        Assert.True(meta.Has(PacketFlags.Ipv6ExtensionHeader | PacketFlags.Fragment));
        Assert.False(meta.Has(PacketFlags.LaterFragment));
        Assert.Equal(Ipv6Header.NextUdp, meta.L4Protocol);
        Assert.Equal(EthernetHeader.Length + Ipv6Header.Length + Ipv6Header.FragmentHeaderLength, meta.L4Offset);
        Assert.Equal(1, meta.SourcePort);
        Assert.Equal(2, meta.DestinationPort);
        Assert.Equal(0x1234_5678u, meta.FragmentId);
    }

    [Fact]
    public void An_ipv6_later_fragment_names_its_protocol_and_datagram_without_ports()
    {
        var frame = Hex(GoldenFrames.Ipv6Fragment);
        frame[EthernetHeader.Length + Ipv6Header.Length + 3] = 0x09; // offset 1 (8 bytes), M set
        WriteU32(frame, EthernetHeader.Length + Ipv6Header.Length + 4, 9);
        var meta = Parse(frame);
        Assert.True(meta.Has(PacketFlags.Fragment | PacketFlags.LaterFragment));
        Assert.Equal(Ipv6Header.NextUdp, meta.L4Protocol);
        Assert.Equal(0, meta.L4Offset);
        Assert.Equal(0, meta.SourcePort);
        Assert.Equal(9u, meta.FragmentId);
    }

    [Fact]
    public void Mld_behind_hop_by_hop_is_icmpv6_and_a_truncated_chain_is_dropped()
    {
        // Hop-by-hop (Router Alert, 8 bytes) then an MLDv2 report (type 143), 8 bytes shown.
        var frame = Hex("333300000016525400000001" + "86dd" + "6000000000100001" + "fe800000000000000000000000000001"
            + "ff020000000000000000000000000016" + "3a00050200000100" + "8f00000000000000");
        var meta = Parse(frame);
        Assert.Equal(Ipv6Header.NextIcmpv6, meta.L4Protocol);
        Assert.Equal(143, meta.IcmpType);
        Assert.True(meta.Has(PacketFlags.Ipv6ExtensionHeader));

        frame[EthernetHeader.Length + Ipv6Header.Length + 1] = 4; // hop-by-hop claims 40 bytes, past the payload
        Assert.Equal(DropReason.Ipv6BadExtensionHeader, PacketParser.Parse(frame, out _));
    }

    [Fact]
    public void A_chained_frame_is_parsed_from_its_head_with_lengths_checked_against_the_whole_frame()
    {
        // The head of a 3000-byte TCP segment: IPv4 total length 2986, only 60 bytes given.
        var full = Hex(GoldenFrames.TcpV4Options);
        var ipLength = full.Length - EthernetHeader.Length;
        full[EthernetHeader.Length + 2] = (byte)((ipLength + 2946) >> 8);
        full[EthernetHeader.Length + 3] = (byte)(ipLength + 2946);
        Assert.Equal(DropReason.Ipv4BadTotalLength, PacketParser.Parse(full, out _));
        Assert.Equal(DropReason.None, PacketParser.ParseHeaders(full, full.Length + 2946, out var meta));
        Assert.Equal(L3Kind.Ipv4, meta.L3);
        Assert.Equal(full.Length + 2946, meta.L3End);
        Assert.NotEqual(0, meta.TcpFlags | meta.DestinationPort);
        Assert.Equal(DropReason.Ipv4BadTotalLength, PacketParser.ParseHeaders(full, full.Length + 2945, out _));
    }

    [Theory]
    [InlineData(nameof(GoldenFrames.NsForUs), NdMessage.NeighbourSolicitation)]
    [InlineData(nameof(GoldenFrames.NaToUs), NdMessage.NeighbourAdvertisement)]
    [InlineData(nameof(GoldenFrames.RaFromRouter), NdMessage.RouterAdvertisement)]
    public void Neighbour_discovery_is_recognised(string name, byte type)
    {
        var meta = Parse(Golden(name));
        Assert.True(meta.Has(PacketFlags.NeighbourDiscovery));
        Assert.Equal(type, meta.IcmpType);
        Assert.Equal(255, meta.Ttl);
    }

    [Fact]
    public void Arp_fills_operation_and_addresses()
    {
        var meta = Parse(Hex(GoldenFrames.ArpRequestForUs));
        Assert.Equal(L3Kind.Arp, meta.L3);
        Assert.Equal(ArpHeader.OperationRequest, meta.ArpOperation);
        Assert.Equal(PeerV4, meta.SourceIp);
        Assert.Equal(OurV4, meta.DestinationIp);
        Assert.True(meta.Destination.IsBroadcast);
    }

    public static TheoryData<string, string> Malformed() => new()
    {
        { "too short for ethernet", nameof(DropReason.EthernetTruncated) },
        { "multicast source", nameof(DropReason.EthernetSourceMulticast) },
        { "tag without room", nameof(DropReason.VlanTruncated) },
        { "arp cut", nameof(DropReason.ArpTruncated) },
        { "arp hlen 8", nameof(DropReason.ArpUnsupportedFormat) },
        { "arp ptype ipv6", nameof(DropReason.ArpUnsupportedFormat) },
        { "ipv4 cut", nameof(DropReason.Ipv4Truncated) },
        { "ipv4 version 6", nameof(DropReason.Ipv4BadVersion) },
        { "ipv4 ihl 4", nameof(DropReason.Ipv4BadHeaderLength) },
        { "ipv4 ihl past frame", nameof(DropReason.Ipv4BadHeaderLength) },
        { "ipv4 total below ihl", nameof(DropReason.Ipv4BadTotalLength) },
        { "ipv4 total past frame", nameof(DropReason.Ipv4BadTotalLength) },
        { "ipv6 cut", nameof(DropReason.Ipv6Truncated) },
        { "ipv6 version 4", nameof(DropReason.Ipv6BadVersion) },
        { "ipv6 payload past frame", nameof(DropReason.Ipv6BadPayloadLength) },
        { "ipv6 extension past payload", nameof(DropReason.Ipv6BadExtensionHeader) },
        { "udp cut by ip length", nameof(DropReason.UdpTruncated) },
        { "udp length 4", nameof(DropReason.UdpBadLength) },
        { "udp length past ip", nameof(DropReason.UdpBadLength) },
        { "tiny first fragment", nameof(DropReason.UdpTruncated) },
        { "tcp cut", nameof(DropReason.TcpTruncated) },
        { "tcp offset 4", nameof(DropReason.TcpBadDataOffset) },
        { "tcp offset past segment", nameof(DropReason.TcpBadDataOffset) },
        { "icmp cut", nameof(DropReason.IcmpTruncated) },
        { "icmpv6 cut", nameof(DropReason.Icmpv6Truncated) },
        { "ns cut", nameof(DropReason.NdTruncated) },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_frames_get_their_drop_reason(string mutation, string expected)
    {
        var frame = Mutate(mutation);
        Assert.Equal(Enum.Parse<DropReason>(expected), PacketParser.Parse(frame, out _));
    }

    [Fact]
    public void Frames_longer_than_an_mbuf_segment_are_refused()
    {
        var frame = new byte[ushort.MaxValue + 1];
        Hex(GoldenFrames.InnerUdp).CopyTo(frame, 0);
        Assert.Equal(DropReason.EthernetTooLong, PacketParser.Parse(frame, out _));
    }

    [Fact]
    public void Every_parser_drop_reason_is_exercised()
    {
        var seen = new HashSet<DropReason>();
        foreach (var row in Malformed())
        {
            seen.Add(Enum.Parse<DropReason>((string)row[1]));
        }
        seen.Add(DropReason.EthernetTooLong);
        for (var r = DropReason.EthernetTruncated; r <= DropReason.NdTruncated; r++)
        {
            Assert.Contains(r, seen);
        }
    }

    [Fact]
    public void Garbage_and_mutations_never_throw_and_accepted_offsets_stay_in_bounds()
    {
        var random = new Random(7);
        string[] seeds = [GoldenFrames.InnerUdp, GoldenFrames.TcpV4Options, GoldenFrames.IcmpV4EchoVlan, GoldenFrames.Ipv6Udp,
            GoldenFrames.NsForUs, GoldenFrames.ArpRequestForUs, GoldenFrames.VxlanV6, GoldenFrames.Ipv4FirstFragment];
        for (var i = 0; i < 50_000; i++)
        {
            byte[] frame;
            if (i % 4 == 0)
            {
                frame = new byte[random.Next(0, 200)];
                random.NextBytes(frame);
            }
            else
            {
                var seed = Hex(seeds[random.Next(seeds.Length)]);
                frame = seed.AsSpan(0, random.Next(0, seed.Length + 1)).ToArray();
                for (var flips = random.Next(1, 4); flips > 0 && frame.Length > 0; flips--)
                {
                    frame[random.Next(frame.Length)] = (byte)random.Next(256);
                }
            }
            if (PacketParser.Parse(frame, out var meta) == DropReason.None)
            {
                Assert.InRange(meta.L3End, meta.L3Offset, frame.Length);
                Assert.InRange(meta.L4Offset, 0, meta.L3End);
                Assert.InRange(meta.PayloadOffset, 0, meta.L3End);
            }
        }
    }

    private static byte[] Golden(string name) =>
        Hex((string)typeof(GoldenFrames).GetField(name)!.GetRawConstantValue()!);

    private static byte[] Mutate(string mutation)
    {
        var udp = Hex(GoldenFrames.InnerUdp);
        var tcp = Hex(GoldenFrames.TcpV4Options);
        var arp = Hex(GoldenFrames.ArpRequestForUs);
        var v6 = Hex(GoldenFrames.Ipv6Udp);
        switch (mutation)
        {
            case "too short for ethernet": return udp[..13];
            case "multicast source": udp[6] = 0x01; return udp;
            case "tag without room": return Hex(GoldenFrames.IcmpV4EchoVlan)[..17];
            case "arp cut": return arp[..(14 + 27)];
            case "arp hlen 8": arp[14 + 4] = 8; return arp;
            case "arp ptype ipv6": WriteU16(arp, 14 + 2, 0x86DD); return arp;
            case "ipv4 cut": return udp[..(14 + 19)];
            case "ipv4 version 6": udp[14] = 0x65; return udp;
            case "ipv4 ihl 4": udp[14] = 0x44; return udp;
            case "ipv4 ihl past frame": udp[14] = 0x4F; return udp;
            case "ipv4 total below ihl": WriteU16(udp, 16, 16); return udp;
            case "ipv4 total past frame": WriteU16(udp, 16, udp.Length); return udp;
            case "ipv6 cut": return v6[..(14 + 39)];
            case "ipv6 version 4": v6[14] = 0x40; return v6;
            case "ipv6 payload past frame": WriteU16(v6, 18, 10); return v6;
            case "ipv6 extension past payload": v6[20] = Ipv6Header.NextDestinationOptions; v6[55] = 1; return v6;
            case "udp cut by ip length": WriteU16(udp, 16, 24); return udp;
            case "udp length 4": WriteU16(udp, 38, 4); return udp;
            case "udp length past ip": WriteU16(udp, 38, 200); return udp;
            case "tiny first fragment":
                var fragment = Hex(GoldenFrames.Ipv4FirstFragment);
                WriteU16(fragment, 16, 24);
                return fragment;
            case "tcp cut": WriteU16(tcp, 16, 24 + 19); return tcp;
            case "tcp offset 4": tcp[14 + 24 + 12] = 0x40; return tcp;
            case "tcp offset past segment": tcp[14 + 24 + 12] = 0xF0; return tcp;
            case "icmp cut":
                var icmp = Hex(GoldenFrames.IcmpV4EchoVlan);
                WriteU16(icmp, 18 + 2, 20 + 7);
                return icmp;
            case "icmpv6 cut":
                var echo = Hex(GoldenFrames.Icmpv6Echo);
                WriteU16(echo, 18, 4);
                return echo;
            case "ns cut":
                var ns = Hex(GoldenFrames.NsForUs);
                WriteU16(ns, 18, 20);
                return ns;
            default: throw new ArgumentException(mutation);
        }
    }

    private static void WriteU32(byte[] frame, int offset, uint value) => System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(offset), value);
}
