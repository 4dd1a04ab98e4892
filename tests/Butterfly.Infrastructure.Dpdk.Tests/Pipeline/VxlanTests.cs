using Butterfly.Infrastructure.Dpdk.Pipeline;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Frames;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

public class VxlanTests
{
    private const int Headroom = 128;

    private static UnderlayPath PathV4 => new(OurMac, PeerMac, OurV4, PeerV4, 64, 1500);

    private static UnderlayPath PathV6 => new(OurMac, PeerMac, OurV6, PeerV6, 64, 1500);

    private static (byte[] Buffer, int Offset, int Length) Encap(in UnderlayPath path)
    {
        var inner = Hex(GoldenFrames.InnerUdp);
        var buffer = WithHeadroom(inner, Headroom);
        var meta = Parse(inner);
        var offset = Headroom;
        var length = inner.Length;
        Assert.Equal(DropReason.None, VxlanEncap.Encapsulate(buffer, ref offset, ref length, path, 42, FlowHash.Of(meta)));
        return (buffer, offset, length);
    }

    [Fact]
    public void Flow_hash_matches_the_independent_implementation()
    {
        Assert.Equal(GoldenFrames.InnerFlowHash, FlowHash.Of(Parse(Hex(GoldenFrames.InnerUdp))));
    }

    [Fact]
    public void Encap_over_ipv4_gives_the_golden_frame()
    {
        var (buffer, offset, length) = Encap(PathV4);
        Assert.Equal(Headroom - 50, offset);
        Assert.Equal(GoldenFrames.VxlanV4, ToHex(buffer.AsSpan(offset, length)));
    }

    [Fact]
    public void Encap_over_ipv6_gives_the_golden_frame_with_its_udp_checksum()
    {
        var (buffer, offset, length) = Encap(PathV6);
        Assert.Equal(Headroom - 70, offset);
        Assert.Equal(GoldenFrames.VxlanV6, ToHex(buffer.AsSpan(offset, length)));
    }

    [Fact]
    public void Encap_refuses_missing_headroom_oversize_and_bad_buffers()
    {
        var inner = Hex(GoldenFrames.InnerUdp);
        var buffer = WithHeadroom(inner, 69);
        var offset = 69;
        var length = inner.Length;
        Assert.Equal(DropReason.EncapNoHeadroom, VxlanEncap.Encapsulate(buffer, ref offset, ref length, PathV6, 1, 0));
        Assert.Equal(DropReason.None, VxlanEncap.Encapsulate(buffer, ref offset, ref length, PathV4, 1, 0));
        Assert.Equal(19, offset);

        var small = new UnderlayPath(OurMac, PeerMac, OurV4, PeerV4, 64, 20 + 8 + 8 + inner.Length - 1);
        offset = Headroom;
        length = inner.Length;
        buffer = WithHeadroom(inner, Headroom);
        Assert.Equal(DropReason.EncapTooBig, VxlanEncap.Encapsulate(buffer, ref offset, ref length, small, 1, 0));
        Assert.Equal(Headroom, offset);

        length = buffer.Length;
        Assert.Equal(DropReason.EncapBadBuffer, VxlanEncap.Encapsulate(buffer, ref offset, ref length, PathV4, 1, 0));
        offset = -1;
        Assert.Equal(DropReason.EncapBadBuffer, VxlanEncap.Encapsulate(buffer, ref offset, ref length, PathV4, 1, 0));
    }

    [Fact]
    public void Source_ports_stay_in_the_dynamic_range_and_spread()
    {
        var random = new Random(1);
        var seen = new HashSet<ushort>();
        for (var i = 0; i < 10_000; i++)
        {
            var frame = Udp4(Vm1, Vm2, $"10.0.{random.Next(256)}.{random.Next(256)}", "10.1.0.1", (ushort)random.Next(65536), 80);
            var port = FlowHash.SourcePort(FlowHash.Of(Parse(frame)));
            Assert.InRange(port, 49152, 65535);
            seen.Add(port);
        }
        Assert.True(seen.Count > 5000, $"only {seen.Count} distinct ports");
    }

    [Fact]
    public void All_fragments_of_a_datagram_hash_alike()
    {
        var first = Hex(GoldenFrames.Ipv4FirstFragment);
        var later = Hex(GoldenFrames.Ipv4LaterFragment);
        Assert.Equal(FlowHash.Of(Parse(first)), FlowHash.Of(Parse(later)));
    }

    [Fact]
    public void Non_ip_frames_hash_their_macs()
    {
        var a = FlowHash.Of(Parse(Hex(GoldenFrames.ArpRequestForUs)));
        var b = FlowHash.Of(Parse(Hex(GoldenFrames.ArpReplyToUs)));
        Assert.NotEqual(a, b);
    }

    [Theory]
    [InlineData(nameof(GoldenFrames.VxlanV4), "192.168.1.1")]
    [InlineData(nameof(GoldenFrames.VxlanV6), "fd00::1")]
    public void Decap_of_our_own_encap_finds_the_inner_frame(string golden, string sender)
    {
        var frame = Hex((string)typeof(GoldenFrames).GetField(golden)!.GetRawConstantValue()!);
        var reason = VxlanDecap.Decapsulate(frame, Parse(frame), Peer(), out var result);
        Assert.Equal(DropReason.None, reason);
        Assert.Equal(42u, result.Vni);
        Assert.Equal(IpAddr.Parse(sender), result.RemoteVtep);
        Assert.Equal(GoldenFrames.InnerUdp, ToHex(frame.AsSpan(result.InnerOffset, result.InnerLength)));
    }

    [Fact]
    public void Decap_verifies_a_udp_checksum_when_present()
    {
        var frame = Hex(GoldenFrames.VxlanV4UdpChecksum);
        Assert.Equal(DropReason.None, VxlanDecap.Decapsulate(frame, Parse(frame), Us(), out var result));
        Assert.Equal(PeerV4, result.RemoteVtep);

        frame[^1] ^= 0xFF;
        Assert.Equal(DropReason.DecapBadUdpChecksum, VxlanDecap.Decapsulate(frame, Parse(frame), Us(), out _));

        var v6 = Hex(GoldenFrames.VxlanV6);
        v6[^1] ^= 0xFF;
        Assert.Equal(DropReason.DecapBadUdpChecksum, VxlanDecap.Decapsulate(v6, Parse(v6), Peer(), out _));
    }

    [Fact]
    public void Decap_accepts_the_group_of_the_frames_vni_only()
    {
        var frame = Hex(GoldenFrames.VxlanV4Multicast);
        Assert.Equal(DropReason.None, VxlanDecap.Decapsulate(frame, Parse(frame), Us(), out var result));
        Assert.Equal(42u, result.Vni);

        frame[42 + 6] = 43;
        Assert.Equal(DropReason.DecapNotOurAddress, VxlanDecap.Decapsulate(frame, Parse(frame), Us(), out _));
    }

    public static TheoryData<string, string> BadOuter() => new()
    {
        { "not vxlan", nameof(DropReason.DecapNotVxlan) },
        { "fragment", nameof(DropReason.DecapOuterFragment) },
        { "ip checksum", nameof(DropReason.DecapOuterBadChecksum) },
        { "multicast source", nameof(DropReason.DecapOuterBadSource) },
        { "unspecified source", nameof(DropReason.DecapOuterBadSource) },
        { "mapped v6 source", nameof(DropReason.DecapOuterBadSource) },
        { "from self", nameof(DropReason.DecapFromSelf) },
        { "other destination", nameof(DropReason.DecapNotOurAddress) },
        { "no inner ethernet", nameof(DropReason.DecapTruncated) },
        { "i flag clear", nameof(DropReason.DecapFlagsInvalid) },
    };

    [Theory]
    [MemberData(nameof(BadOuter))]
    public void Decap_drops_with_a_named_reason(string mutation, string expected)
    {
        var frame = Hex(GoldenFrames.VxlanV4);
        var config = Peer();
        switch (mutation)
        {
            case "not vxlan": frame = Hex(GoldenFrames.InnerUdp); break;
            case "fragment": WriteU16(frame, 20, 0x2000); break;
            case "ip checksum": frame[22] = 1; break;
            case "multicast source": frame[26] = 239; FixIpv4Checksum(frame); break;
            case "unspecified source": frame.AsSpan(26, 4).Clear(); FixIpv4Checksum(frame); break;
            case "mapped v6 source":
                frame = Hex(GoldenFrames.VxlanV6);
                IpAddr.Parse("::ffff:1.2.3.4").WriteV6(frame.AsSpan(22));
                break;
            case "from self": config = Us(); break;
            case "other destination": frame[33] = 9; FixIpv4Checksum(frame); break;
            case "no inner ethernet":
                frame = frame[..(50 + 13)];
                WriteU16(frame, 16, 20 + 8 + 8 + 13);
                WriteU16(frame, 38, 8 + 8 + 13);
                FixIpv4Checksum(frame);
                break;
            case "i flag clear": frame[42] = 0; break;
            default: throw new ArgumentException(mutation);
        }
        Assert.Equal(Enum.Parse<DropReason>(expected), VxlanDecap.Decapsulate(frame, Parse(frame), config, out _));
    }

    [Fact]
    public void Round_trip_over_both_families_for_many_frames()
    {
        var random = new Random(11);
        foreach (var path in new[] { PathV4, PathV6 })
        {
            for (var i = 0; i < 200; i++)
            {
                var inner = Udp4(Vm1, Vm2, sport: (ushort)random.Next(65536));
                var buffer = WithHeadroom(inner, Headroom);
                var offset = Headroom;
                var length = inner.Length;
                var vni = (uint)random.Next(1 << 24);
                Assert.Equal(DropReason.None, VxlanEncap.Encapsulate(buffer, ref offset, ref length, path, vni, FlowHash.Of(Parse(inner))));
                var frame = buffer.AsSpan(offset, length);
                Assert.Equal(DropReason.None, VxlanDecap.Decapsulate(frame, Parse(frame), Peer(), out var result));
                Assert.Equal(vni, result.Vni);
                Assert.True(frame.Slice(result.InnerOffset, result.InnerLength).SequenceEqual(inner));
            }
        }
    }
}
