using Butterfly.Infrastructure.Dpdk.Pipeline;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Frames;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

public class UnderlayTests
{
    private readonly NeighbourTable _neighbours = new(64, reachable: 100, retry: 10, expire: 1000);
    private readonly byte[] _reply = new byte[UnderlayStage.ReplyBufferLength];

    private UnderlayResult Process(byte[] frame, UnderlayConfig? config = null, long now = 1) =>
        UnderlayStage.Process(frame, Parse(frame), config ?? Us(), _neighbours, now, _reply);

    private string Reply(in UnderlayResult result)
    {
        Assert.Equal(UnderlayAction.Reply, result.Action);
        return ToHex(_reply.AsSpan(0, result.ReplyLength));
    }

    [Fact]
    public void Arp_request_for_our_vtep_is_answered_and_the_asker_learned()
    {
        Assert.Equal(GoldenFrames.ArpReplyFromUs, Reply(Process(Hex(GoldenFrames.ArpRequestForUs))));
        Assert.Equal(NeighbourState.Resolved, _neighbours.Resolve(PeerV4, 2, out var mac));
        Assert.Equal(PeerMac, mac);
    }

    [Fact]
    public void Arp_reply_to_us_completes_resolution()
    {
        Assert.Equal(NeighbourState.Unresolved, _neighbours.Resolve(PeerV4, 1, out _));
        Assert.Equal(UnderlayAction.Consumed, Process(Hex(GoldenFrames.ArpReplyToUs), now: 2).Action);
        Assert.Equal(NeighbourState.Resolved, _neighbours.Resolve(PeerV4, 3, out var mac));
        Assert.Equal(PeerMac, mac);
    }

    [Fact]
    public void Arp_for_other_hosts_is_dropped_and_teaches_nothing_new()
    {
        var frame = Hex(GoldenFrames.ArpRequestForUs);
        frame[^1] = 77;
        Assert.Equal(DropReason.ArpNotForUs, Process(frame).Reason);
        Assert.Equal(0, _neighbours.Count);

        var v6Only = new UnderlayConfig(OurMac, null, new VtepAddress(OurV6, 64, default));
        Assert.Equal(DropReason.ArpNotForUs, Process(Hex(GoldenFrames.ArpRequestForUs), v6Only).Reason);
    }

    [Fact]
    public void Gratuitous_arp_refreshes_a_known_neighbour()
    {
        _neighbours.Update(PeerV4, MacAddress.Parse("02:00:00:00:00:cc"), 1, create: true);
        var garp = Hex(GoldenFrames.ArpRequestForUs);
        garp.AsSpan(14 + 14, 4).CopyTo(garp.AsSpan(14 + 24));
        Assert.Equal(DropReason.ArpNotForUs, Process(garp, now: 2).Reason);
        _neighbours.Resolve(PeerV4, 3, out var mac);
        Assert.Equal(PeerMac, mac);
    }

    [Fact]
    public void Neighbour_solicitation_for_our_vtep_is_answered_and_the_asker_learned()
    {
        Assert.Equal(GoldenFrames.NaFromUs, Reply(Process(Hex(GoldenFrames.NsForUs))));
        Assert.Equal(NeighbourState.Resolved, _neighbours.Resolve(PeerV6, 2, out var mac));
        Assert.Equal(PeerMac, mac);
    }

    [Fact]
    public void Duplicate_address_probe_is_answered_to_all_nodes()
    {
        Assert.Equal(GoldenFrames.NaDadDefence, Reply(Process(Hex(GoldenFrames.NsDad))));
        Assert.Equal(0, _neighbours.Count);
    }

    [Fact]
    public void Advertisement_completes_only_a_resolution_we_started()
    {
        Assert.Equal(DropReason.NdNotForUs, Process(Hex(GoldenFrames.NaToUs)).Reason);
        Assert.Equal(0, _neighbours.Count);

        Assert.Equal(NeighbourState.Unresolved, _neighbours.Resolve(PeerV6, 1, out _));
        Assert.Equal(UnderlayAction.Consumed, Process(Hex(GoldenFrames.NaToUs), now: 2).Action);
        Assert.Equal(NeighbourState.Resolved, _neighbours.Resolve(PeerV6, 3, out var mac));
        Assert.Equal(PeerMac, mac);
    }

    public static TheoryData<string, string> BadNd() => new()
    {
        { "hop limit 64", nameof(DropReason.NdInvalid) },
        { "code 1", nameof(DropReason.NdInvalid) },
        { "checksum", nameof(DropReason.NdBadChecksum) },
        { "zero-length option", nameof(DropReason.NdBadOption) },
        { "option past end", nameof(DropReason.NdBadOption) },
        { "multicast target", nameof(DropReason.NdInvalid) },
        { "dad with source option", nameof(DropReason.NdInvalid) },
        { "other target", nameof(DropReason.NdNotForUs) },
        { "router advertisement", nameof(DropReason.NdUnhandled) },
        { "no ipv6 vtep", nameof(DropReason.NdNotForUs) },
    };

    [Theory]
    [MemberData(nameof(BadNd))]
    public void Bad_neighbour_discovery_is_dropped_with_a_reason(string mutation, string expected)
    {
        var frame = Hex(GoldenFrames.NsForUs);
        var config = Us();
        switch (mutation)
        {
            case "hop limit 64": frame[21] = 64; break;
            case "code 1": frame[55] = 1; FixIcmpv6Checksum(frame); break;
            case "checksum": frame[^1] ^= 1; break;
            case "zero-length option": frame[54 + 25] = 0; FixIcmpv6Checksum(frame); break;
            case "option past end": frame[54 + 25] = 2; FixIcmpv6Checksum(frame); break;
            case "multicast target": frame[54 + 8] = 0xFF; FixIcmpv6Checksum(frame); break;
            case "dad with source option": frame.AsSpan(22, 16).Clear(); FixIcmpv6Checksum(frame); break;
            case "other target": frame[54 + 23] = 9; FixIcmpv6Checksum(frame); break;
            case "router advertisement": frame = Hex(GoldenFrames.RaFromRouter); break;
            case "no ipv6 vtep": config = new UnderlayConfig(OurMac, new VtepAddress(OurV4, 24, default), null); break;
            default: throw new ArgumentException(mutation);
        }
        var result = Process(frame, config);
        Assert.Equal(UnderlayAction.Drop, result.Action);
        Assert.Equal(Enum.Parse<DropReason>(expected), result.Reason);
    }

    [Fact]
    public void Vxlan_to_us_is_decapsulated()
    {
        var result = Process(Hex(GoldenFrames.VxlanV4UdpChecksum));
        Assert.Equal(UnderlayAction.Decapsulated, result.Action);
        Assert.Equal(42u, result.Decap.Vni);
        Assert.Equal(PeerV4, result.Decap.RemoteVtep);
    }

    [Fact]
    public void Underlay_noise_is_sorted_out()
    {
        var other = Hex(GoldenFrames.VxlanV4UdpChecksum);
        other[5] = 0xCC;
        Assert.Equal(DropReason.UnderlayNotOurMac, Process(other).Reason);

        var tagged = Hex(GoldenFrames.IcmpV4EchoVlan);
        OurMac.Write(tagged);
        Assert.Equal(DropReason.UnderlayTagged, Process(tagged).Reason);

        var udp = Udp4(PeerMac, OurMac, "192.168.1.2", "192.168.1.1", 5000, 53);
        Assert.Equal(DropReason.UnderlayUnhandled, Process(udp).Reason);

        var fragment = Hex(GoldenFrames.Ipv4LaterFragment);
        OurMac.Write(fragment);
        Assert.Equal(DropReason.DecapOuterFragment, Process(fragment).Reason);

        var frame = Hex(GoldenFrames.ArpRequestForUs);
        Assert.Equal(DropReason.UnderlayNoReplyBuffer,
            UnderlayStage.Process(frame, Parse(frame), Us(), _neighbours, 1, new byte[10]).Reason);
    }

    [Fact]
    public void Replies_may_be_written_over_the_request_itself()
    {
        var buffer = new byte[128];
        Hex(GoldenFrames.NsForUs).CopyTo(buffer, 0);
        var frame = buffer.AsSpan(0, GoldenFrames.NsForUs.Length / 2);
        var result = UnderlayStage.Process(frame, Parse(frame), Us(), _neighbours, 1, buffer);
        Assert.Equal(GoldenFrames.NaFromUs, ToHex(buffer.AsSpan(0, result.ReplyLength)));
    }

    [Fact]
    public void Resolution_requests_match_the_golden_frames()
    {
        var buffer = new byte[128];
        Assert.Equal(GoldenFrames.ArpRequestFromUs, ToHex(buffer.AsSpan(0, UnderlayRouting.BuildResolutionRequest(Us(), PeerV4, buffer))));
        Assert.Equal(GoldenFrames.NsFromUs, ToHex(buffer.AsSpan(0, UnderlayRouting.BuildResolutionRequest(Us(), PeerV6, buffer))));
        Assert.Equal(0, UnderlayRouting.BuildResolutionRequest(Us(), PeerV6, new byte[20]));
    }

    [Fact]
    public void Neighbour_resolution_waits_retries_probes_and_expires()
    {
        Assert.Equal(NeighbourState.Unresolved, _neighbours.Resolve(PeerV4, 0, out _));
        Assert.Equal(NeighbourState.Pending, _neighbours.Resolve(PeerV4, 9, out _));
        Assert.Equal(NeighbourState.Unresolved, _neighbours.Resolve(PeerV4, 10, out _));
        Assert.True(_neighbours.Update(PeerV4, PeerMac, 15, create: false));
        Assert.Equal(NeighbourState.Resolved, _neighbours.Resolve(PeerV4, 115, out _));
        Assert.Equal(NeighbourState.ResolvedProbe, _neighbours.Resolve(PeerV4, 116, out var mac));
        Assert.Equal(PeerMac, mac);
        Assert.Equal(NeighbourState.Resolved, _neighbours.Resolve(PeerV4, 120, out _));
        Assert.Equal(NeighbourState.ResolvedProbe, _neighbours.Resolve(PeerV4, 126, out _));
        Assert.Equal(NeighbourState.Unresolved, _neighbours.Resolve(PeerV4, 15 + 1001, out _));
        Assert.False(_neighbours.Update(IpAddr.Parse("192.168.1.50"), PeerMac, 1, create: false));
        Assert.False(_neighbours.Update(PeerV4, MacAddress.Broadcast, 1, create: true));
    }

    [Fact]
    public void Paths_go_on_link_through_the_gateway_or_to_the_group_mac()
    {
        var gateway = IpAddr.Parse("192.168.1.254");
        var config = Us(gateway);
        Assert.Equal(PathStatus.Unresolved, UnderlayRouting.PathTo(config, _neighbours, PeerV4, 0, out _, out var hop));
        Assert.Equal(PeerV4, hop);

        var far = IpAddr.Parse("10.9.9.9");
        Assert.Equal(PathStatus.Unresolved, UnderlayRouting.PathTo(config, _neighbours, far, 0, out _, out hop));
        Assert.Equal(gateway, hop);
        _neighbours.Update(gateway, PeerMac, 1, create: false);
        Assert.Equal(PathStatus.Ready, UnderlayRouting.PathTo(config, _neighbours, far, 2, out var path, out _));
        Assert.Equal(PeerMac, path.NextHopMac);
        Assert.Equal(far, path.Destination);
        Assert.Equal(OurV4, path.Source);

        var group = MulticastGroups.Ipv6GroupOf(42);
        Assert.Equal(PathStatus.Ready, UnderlayRouting.PathTo(config, _neighbours, group, 2, out path, out _));
        Assert.Equal(MacAddress.Parse("33:33:00:00:00:2a"), path.NextHopMac);
        Assert.Equal(OurV6, path.Source);

        var v4Only = new UnderlayConfig(OurMac, new VtepAddress(OurV4, 24, default), null);
        Assert.Equal(PathStatus.NoUnderlayAddress, UnderlayRouting.PathTo(v4Only, _neighbours, PeerV6, 2, out _, out _));
    }

    [Fact]
    public void Path_cache_serves_one_burst_and_only_complete_paths()
    {
        var cache = new UnderlayPathCache();
        var config = Us();
        Assert.Equal(PathStatus.Unresolved, cache.PathTo(config, _neighbours, PeerV4, 1, out _, out _));
        Assert.Equal(PathStatus.Pending, cache.PathTo(config, _neighbours, PeerV4, 1, out _, out _));
        _neighbours.Update(PeerV4, PeerMac, 1, create: false);
        Assert.Equal(PathStatus.Ready, cache.PathTo(config, _neighbours, PeerV4, 1, out var path, out _));
        Assert.Equal(PeerMac, path.NextHopMac);

        // Same burst: served from the cache even though the table changed meanwhile.
        _neighbours.Update(PeerV4, MacAddress.Parse("02:00:00:00:00:cc"), 1, create: false);
        Assert.Equal(PathStatus.Ready, cache.PathTo(config, _neighbours, PeerV4, 1, out path, out _));
        Assert.Equal(PeerMac, path.NextHopMac);

        // Next burst, or another VTEP: looked up again.
        Assert.Equal(PathStatus.Ready, cache.PathTo(config, _neighbours, PeerV4, 2, out path, out _));
        Assert.Equal(MacAddress.Parse("02:00:00:00:00:cc"), path.NextHopMac);
        Assert.Equal(PathStatus.Unresolved, cache.PathTo(config, _neighbours, IpAddr.Parse("192.168.1.9"), 2, out _, out _));
    }

    [Fact]
    public void Underlay_config_refuses_bad_settings_by_name()
    {
        Assert.Throws<ArgumentException>(() => new UnderlayConfig(MacAddress.Broadcast, new VtepAddress(OurV4, 24, default), null));
        Assert.Throws<ArgumentException>(() => new UnderlayConfig(OurMac, null, null));
        var wrongFamily = Assert.Throws<ArgumentException>(() => new UnderlayConfig(OurMac, new VtepAddress(OurV6, 64, default), null));
        Assert.Contains("IPv4", wrongFamily.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new UnderlayConfig(OurMac, new VtepAddress(OurV4, 33, default), null));
        var gateway = Assert.Throws<ArgumentException>(() => new UnderlayConfig(OurMac, new VtepAddress(OurV4, 24, IpAddr.Parse("10.0.0.1")), null));
        Assert.Contains("gateway", gateway.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new UnderlayConfig(OurMac, new VtepAddress(OurV4, 24, default), null, mtu: 100));
    }

    [Fact]
    public void Garbage_on_the_underlay_never_throws()
    {
        var random = new Random(5);
        string[] seeds = [GoldenFrames.VxlanV4, GoldenFrames.VxlanV6, GoldenFrames.NsForUs, GoldenFrames.ArpRequestForUs, GoldenFrames.NaToUs];
        var config = Peer();
        for (var i = 0; i < 30_000; i++)
        {
            var frame = Hex(seeds[random.Next(seeds.Length)]);
            frame = frame[..random.Next(1, frame.Length + 1)];
            frame[random.Next(frame.Length)] = (byte)random.Next(256);
            if (PacketParser.Parse(frame, out var meta) == DropReason.None)
            {
                var result = UnderlayStage.Process(frame, meta, i % 2 == 0 ? config : Us(), _neighbours, i, _reply);
                if (result.Action == UnderlayAction.Decapsulated)
                {
                    Assert.InRange(result.Decap.InnerOffset + result.Decap.InnerLength, 0, frame.Length);
                }
            }
        }
    }
}
