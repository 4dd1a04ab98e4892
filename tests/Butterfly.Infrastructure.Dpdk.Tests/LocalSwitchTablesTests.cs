using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk.Tests;

/// <summary>
/// The control side's compilation of NICs into the packet thread's switching tables.
/// Topology: VNI 10 has handles 1 (:01), 2 (:02) and 40 (:03, a vhost-like high handle);
/// VNI 20 has handle 3 (:01 again: the same MAC in another VNI is another host).
/// </summary>
public class LocalSwitchTablesTests
{
    private static readonly (ushort, DataPathNic)[] Topology =
    [
        (1, Nic("a", "52:54:00:00:00:01", 10)),
        (2, Nic("b", "52:54:00:00:00:02", 10)),
        (40, Nic("c", "52:54:00:00:00:03", 10)),
        (3, Nic("d", "52:54:00:00:00:01", 20)),
    ];

    [Fact]
    public void Each_mac_maps_to_its_port_within_its_vni_only()
    {
        var errors = new Dictionary<string, string>();
        var tables = LocalSwitchTables.Build(Topology, 7, errors);

        Assert.Empty(errors);
        Assert.Equal(7, tables.Version);
        Assert.Equal(2, tables.VniCount);
        var vni10 = tables.SlotOfPort(1);
        var vni20 = tables.SlotOfPort(3);
        Assert.Equal(10u, tables.VniOf(vni10));
        Assert.Equal(20u, tables.VniOf(vni20));
        Assert.Equal(vni10, tables.SlotOfVni(10));

        Assert.True(tables.TryGetLocalPort(vni10, MacAddress.Parse("52:54:00:00:00:01"), out var port));
        Assert.Equal(1, port);
        Assert.True(tables.TryGetLocalPort(vni10, MacAddress.Parse("52:54:00:00:00:03"), out port));
        Assert.Equal(40, port);
        Assert.True(tables.TryGetLocalPort(vni20, MacAddress.Parse("52:54:00:00:00:01"), out port));
        Assert.Equal(3, port);
        Assert.False(tables.TryGetLocalPort(vni20, MacAddress.Parse("52:54:00:00:00:02"), out _));
    }

    [Fact]
    public void Flood_lists_hold_the_ports_of_the_vni_and_nothing_else()
    {
        var tables = LocalSwitchTables.Build(Topology, 1, new Dictionary<string, string>());

        Assert.Equal([1, 2, 40], tables.PortsOf(tables.SlotOfPort(2)).ToArray());
        Assert.Equal([3], tables.PortsOf(tables.SlotOfPort(3)).ToArray());
        Assert.True(tables.FloodVtepsOf(tables.SlotOfPort(1)).IsEmpty);
    }

    [Fact]
    public void A_broadcast_from_a_port_floods_to_the_other_ports_of_its_vni()
    {
        var tables = LocalSwitchTables.Build(Topology, 1, new Dictionary<string, string>());
        var meta = new PacketMeta { Destination = MacAddress.Broadcast, Source = MacAddress.Parse("52:54:00:00:00:02") };

        var d = SwitchStage.FromLocal(tables, new LearnedFdb(8, 1), 2, meta, 0);
        Span<ushort> ports = stackalloc ushort[8];
        var n = SwitchStage.FloodPorts(tables, d, ports);

        Assert.Equal(ForwardKind.Flood, d.Kind);
        Assert.Equal([1, 40], ports[..n].ToArray());
    }

    [Fact]
    public void A_unicast_to_a_mac_of_another_vni_is_flooded_in_the_own_vni_not_delivered_across()
    {
        // Port 3 (VNI 20) sends to :02, which exists only in VNI 10.
        var tables = LocalSwitchTables.Build(Topology, 1, new Dictionary<string, string>());
        var meta = new PacketMeta { Destination = MacAddress.Parse("52:54:00:00:00:02"), Source = MacAddress.Parse("52:54:00:00:00:01") };

        var d = SwitchStage.FromLocal(tables, new LearnedFdb(8, 1), 3, meta, 0);

        Assert.Equal(ForwardKind.Flood, d.Kind);
        Assert.Equal(0, SwitchStage.FloodPorts(tables, d, new ushort[8]));
    }

    [Fact]
    public void A_mac_taken_twice_in_a_vni_is_kept_by_the_lower_handle_and_the_other_nic_is_named()
    {
        var errors = new Dictionary<string, string>();
        var tables = LocalSwitchTables.Build(
            [(9, Nic("late", "52:54:00:00:00:01", 10)), (4, Nic("early", "52:54:00:00:00:01", 10))], 1, errors);

        var error = Assert.Single(errors);
        Assert.Equal("late", error.Key);
        Assert.Contains("already used", error.Value, StringComparison.Ordinal);
        Assert.Equal(SwitchTables.NoSlot, tables.SlotOfPort(9));
        Assert.True(tables.TryGetLocalPort(tables.SlotOfPort(4), MacAddress.Parse("52:54:00:00:00:01"), out var port));
        Assert.Equal(4, port);
    }

    [Theory]
    [InlineData("not-a-mac")]
    [InlineData("01:00:5e:00:00:01")]
    [InlineData("00:00:00:00:00:00")]
    public void A_mac_that_cannot_be_switched_leaves_the_nic_out_with_a_reason(string mac)
    {
        var errors = new Dictionary<string, string>();
        var tables = LocalSwitchTables.Build([(1, Nic("bad", mac, 10)), (2, Nic("good", "52:54:00:00:00:02", 10))], 1, errors);

        Assert.Contains("bad", errors.Keys);
        Assert.DoesNotContain("good", errors.Keys);
        Assert.Equal(SwitchTables.NoSlot, tables.SlotOfPort(1));
        Assert.NotEqual(SwitchTables.NoSlot, tables.SlotOfPort(2));
    }

    [Fact]
    public void No_nic_gives_empty_tables()
    {
        var tables = LocalSwitchTables.Build([], 3, new Dictionary<string, string>());

        Assert.Equal(0, tables.VniCount);
        Assert.Equal(SwitchTables.NoSlot, tables.SlotOfPort(0));
    }

    private static DataPathNic Nic(string id, string mac, uint vni) => new(id, NicType.Tap, mac, vni, BypassFiltering: true);
}
