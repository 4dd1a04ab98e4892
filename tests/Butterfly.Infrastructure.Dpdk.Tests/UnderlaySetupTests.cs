using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk.Tests;

/// <summary>
/// The control side of VXLAN: head-end replication peers (--vxlan-peer) checked and compiled
/// into every VNI's flood list, and this host's underlay built from the port MAC and -i.
/// </summary>
public class UnderlaySetupTests
{
    private static readonly (ushort, DataPathNic)[] Topology =
    [
        (1, new DataPathNic("a", NicType.Tap, "52:54:00:00:00:01", 10, BypassFiltering: true)),
        (2, new DataPathNic("b", NicType.Tap, "52:54:00:00:00:02", 20, BypassFiltering: true)),
    ];

    [Fact]
    public void Peers_are_parsed_in_order_without_duplicates()
    {
        var peers = UnderlaySetup.ParsePeers("192.0.2.1", ["192.0.2.2", "192.0.2.3", "192.0.2.2"]);

        Assert.Equal([IpAddr.Parse("192.0.2.2"), IpAddr.Parse("192.0.2.3")], peers);
        Assert.Empty(UnderlaySetup.ParsePeers("192.0.2.1", null));
        Assert.Equal([IpAddr.Parse("2001:db8::2")], UnderlaySetup.ParsePeers("2001:db8::1", ["2001:db8::2"]));
    }

    [Theory]
    [InlineData("not-an-ip", "is not an IPv4 or IPv6 address")]
    [InlineData("2001:db8::2", "is not of the family")]
    [InlineData("230.0.0.1", "is not a unicast address")]
    [InlineData("0.0.0.0", "is not a unicast address")]
    [InlineData("255.255.255.255", "is not a unicast address")]
    [InlineData("192.0.2.1", "own VTEP address")]
    public void Bad_peers_are_refused_with_a_reason(string peer, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => UnderlaySetup.ParsePeers("192.0.2.1", [peer]));

        Assert.Contains(peer, e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_vni_with_a_local_port_floods_to_every_peer()
    {
        IpAddr[] peers = [IpAddr.Parse("192.0.2.2"), IpAddr.Parse("192.0.2.3")];

        var tables = LocalSwitchTables.Build(Topology, 1, new Dictionary<string, string>(), UnderlayFlooding.HeadEnd(peers));

        Assert.Equal(peers, tables.FloodVtepsOf(tables.SlotOfVni(10)).ToArray());
        Assert.Equal(peers, tables.FloodVtepsOf(tables.SlotOfVni(20)).ToArray());
        Assert.True(LocalSwitchTables.Build(Topology, 1, new Dictionary<string, string>()).FloodVtepsOf(0).IsEmpty);
        Assert.Empty(tables.MulticastGroups);
    }

    [Theory]
    [InlineData(true, "230.0.0.10", "230.0.0.20")]
    [InlineData(false, "ff00::a", "ff00::14")]
    public void In_multicast_mode_every_vni_floods_to_its_own_group_and_the_tables_list_the_groups(bool v4, string group10, string group20)
    {
        var tables = LocalSwitchTables.Build(Topology, 1, new Dictionary<string, string>(), UnderlayFlooding.Multicast(v4));

        Assert.Equal([IpAddr.Parse(group10)], tables.FloodVtepsOf(tables.SlotOfVni(10)).ToArray());
        Assert.Equal([IpAddr.Parse(group20)], tables.FloodVtepsOf(tables.SlotOfVni(20)).ToArray());
        Assert.Equal([IpAddr.Parse(group10), IpAddr.Parse(group20)], tables.MulticastGroups);
    }

    [Theory]
    [InlineData("192.0.2.1", 24, "192.0.2.254", null)]
    [InlineData("2001:db8:1::1", 64, "2001:db8:1::fe", null)]
    [InlineData("192.0.2.1", 24, null, null)]
    [InlineData("192.0.2.1", 0, "192.0.2.254", "give -i 192.0.2.1/LEN")]
    [InlineData("192.0.2.1", 24, "198.51.100.1", "is not another unicast address of 192.0.2.1/24")]
    [InlineData("192.0.2.1", 24, "192.0.2.1", "is not another unicast address")]
    [InlineData("192.0.2.1", 24, "2001:db8::1", "is not an address of the family")]
    [InlineData("192.0.2.1", 33, null, "out of range")]
    public void A_gateway_needs_the_on_link_prefix_and_must_be_inside_it(string ip, int prefix, string? gateway, string? error)
    {
        if (error is null)
        {
            UnderlaySetup.CheckRouting(ip, prefix, gateway);
            var config = UnderlaySetup.BuildConfig("02:00:00:00:00:01", ip, out var buildError, prefix, gateway, 9000);
            Assert.Null(buildError);
            Assert.Equal(9000, config!.Mtu);
            return;
        }
        var e = Assert.Throws<ArgumentException>(() => UnderlaySetup.CheckRouting(ip, prefix, gateway));
        Assert.Contains(error, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void With_a_gateway_only_vteps_outside_the_prefix_go_through_it()
    {
        var config = UnderlaySetup.BuildConfig("02:00:00:00:00:01", "192.0.2.1", out _, 24, "192.0.2.254")!;
        var source = config.Ipv4!.Value;

        Assert.Equal(IpAddr.Parse("192.0.2.7"), UnderlayConfig.NextHop(source, IpAddr.Parse("192.0.2.7")));
        Assert.Equal(IpAddr.Parse("192.0.2.254"), UnderlayConfig.NextHop(source, IpAddr.Parse("198.51.100.1")));
        Assert.Equal(IpAddr.Parse("230.0.0.5"), UnderlayConfig.NextHop(source, IpAddr.Parse("230.0.0.5")));
    }

    [Fact]
    public void A_broadcast_from_a_local_port_floods_locally_and_to_the_peers()
    {
        var tables = LocalSwitchTables.Build(Topology, 1, new Dictionary<string, string>(), UnderlayFlooding.HeadEnd([IpAddr.Parse("192.0.2.2")]));
        var meta = new PacketMeta { Destination = MacAddress.Broadcast, Source = MacAddress.Parse("52:54:00:00:00:01") };

        var d = SwitchStage.FromLocal(tables, new LearnedFdb(16, 100), 1, meta, now: 0);

        Assert.Equal(ForwardKind.Flood, d.Kind);
        Assert.True(d.FloodRemote);
        Assert.Equal(10u, d.Vni);
    }

    [Fact]
    public void The_underlay_config_takes_the_port_mac_and_the_vtep_address_of_its_family()
    {
        var v4 = UnderlaySetup.BuildConfig("02:00:00:00:00:aa", "192.0.2.1", out var error);
        Assert.Null(error);
        Assert.NotNull(v4);
        Assert.Equal(MacAddress.Parse("02:00:00:00:00:aa"), v4.Mac);
        Assert.True(v4.HasIpv4);
        Assert.False(v4.HasIpv6);
        Assert.Equal(IpAddr.Parse("192.0.2.1"), v4.Ipv4Address);

        var v6 = UnderlaySetup.BuildConfig("02:00:00:00:00:aa", "2001:db8::1", out _);
        Assert.NotNull(v6);
        Assert.True(v6.HasIpv6);
        Assert.Equal(IpAddr.Parse("2001:db8::1"), v6.Ipv6Address);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("garbage")]
    [InlineData("01:00:5e:00:00:01")]
    [InlineData("00:00:00:00:00:00")]
    public void An_unusable_port_mac_gives_no_underlay_and_a_reason(string? mac)
    {
        Assert.Null(UnderlaySetup.BuildConfig(mac, "192.0.2.1", out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
