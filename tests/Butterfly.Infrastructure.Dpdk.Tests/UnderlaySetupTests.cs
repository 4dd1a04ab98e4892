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

        var tables = LocalSwitchTables.Build(Topology, 1, new Dictionary<string, string>(), peers);

        Assert.Equal(peers, tables.FloodVtepsOf(tables.SlotOfVni(10)).ToArray());
        Assert.Equal(peers, tables.FloodVtepsOf(tables.SlotOfVni(20)).ToArray());
        Assert.True(LocalSwitchTables.Build(Topology, 1, new Dictionary<string, string>()).FloodVtepsOf(0).IsEmpty);
    }

    [Fact]
    public void A_broadcast_from_a_local_port_floods_locally_and_to_the_peers()
    {
        var tables = LocalSwitchTables.Build(Topology, 1, new Dictionary<string, string>(), [IpAddr.Parse("192.0.2.2")]);
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
