using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

/// <summary>
/// Topology: VNI 100 has local ports 1, 2, 3 (MACs :01 :02 :03) and floods to its multicast
/// group; VNI 200 has local port 4 (MAC :04) and floods to two head-end peers. Port 9 is unknown.
/// </summary>
public class SwitchStageTests
{
    private static readonly MacAddress M1 = MacAddress.Parse("52:54:00:00:00:01");
    private static readonly MacAddress M2 = MacAddress.Parse("52:54:00:00:00:02");
    private static readonly MacAddress M3 = MacAddress.Parse("52:54:00:00:00:03");
    private static readonly MacAddress M4 = MacAddress.Parse("52:54:00:00:00:04");
    private static readonly MacAddress Remote = MacAddress.Parse("52:54:00:00:00:99");
    private static readonly IpAddr PeerA = IpAddr.Parse("192.168.1.2");
    private static readonly IpAddr PeerB = IpAddr.Parse("192.168.1.3");

    private readonly SwitchTables _tables;
    private readonly LearnedFdb _learned = new(1024, 1000);

    public SwitchStageTests()
    {
        var builder = new SwitchTablesBuilder();
        Assert.Null(builder.AddPort(1, 100, M1));
        Assert.Null(builder.AddPort(2, 100, M2));
        Assert.Null(builder.AddPort(3, 100, M3));
        Assert.Null(builder.AddPort(4, 200, M4));
        Assert.Null(builder.SetFloodVteps(100, [MulticastGroups.Ipv4GroupOf(100)]));
        Assert.Null(builder.SetFloodVteps(200, [PeerA, PeerB]));
        _tables = builder.Build(1, out var error)!;
        Assert.Null(error);
    }

    private static PacketMeta Frame(MacAddress src, MacAddress dst) => Frames.Parse(Frames.Udp4(src, dst));

    private ForwardDecision FromPort(ushort port, MacAddress src, MacAddress dst) =>
        SwitchStage.FromLocal(_tables, _learned, port, Frame(src, dst), now: 1);

    private ushort[] FloodSet(in ForwardDecision decision)
    {
        var ports = new ushort[8];
        var count = SwitchStage.FloodPorts(_tables, decision, ports);
        return ports[..count];
    }

    [Fact]
    public void Known_local_mac_goes_to_its_port()
    {
        var decision = FromPort(1, M1, M2);
        Assert.Equal(ForwardKind.Local, decision.Kind);
        Assert.Equal(2, decision.Port);
        Assert.Equal(100u, decision.Vni);
    }

    [Fact]
    public void A_frame_never_goes_back_out_its_ingress_port()
    {
        var decision = FromPort(1, M1, M1);
        Assert.Equal(ForwardKind.Drop, decision.Kind);
        Assert.Equal(DropReason.SwitchHairpin, decision.Reason);
    }

    [Fact]
    public void Broadcast_floods_the_other_ports_of_the_vni_and_its_remote_vteps()
    {
        var decision = FromPort(2, M2, MacAddress.Broadcast);
        Assert.Equal(ForwardKind.Flood, decision.Kind);
        Assert.True(decision.FloodRemote);
        Assert.Equal([1, 3], FloodSet(decision));
        Assert.Equal([MulticastGroups.Ipv4GroupOf(100)], _tables.FloodVtepsOf(decision.Slot).ToArray());
    }

    [Fact]
    public void Multicast_floods_like_broadcast()
    {
        var decision = FromPort(3, M3, MacAddress.Parse("01:00:5e:00:00:fb"));
        Assert.Equal(ForwardKind.Flood, decision.Kind);
        Assert.Equal([1, 2], FloodSet(decision));
    }

    [Fact]
    public void A_lone_port_floods_only_to_its_head_end_peers()
    {
        var decision = FromPort(4, M4, MacAddress.Broadcast);
        Assert.Equal(ForwardKind.Flood, decision.Kind);
        Assert.Empty(FloodSet(decision));
        Assert.Equal([PeerA, PeerB], _tables.FloodVtepsOf(decision.Slot).ToArray());
    }

    [Fact]
    public void Nothing_crosses_vnis()
    {
        // M4 lives in VNI 200: from VNI 100 it is unknown unicast, flooded inside VNI 100 only.
        var decision = FromPort(1, M1, M4);
        Assert.Equal(ForwardKind.Flood, decision.Kind);
        Assert.Equal(100u, decision.Vni);
        Assert.Equal([2, 3], FloodSet(decision));

        var back = FromPort(4, M4, M1);
        Assert.Equal(200u, back.Vni);
        Assert.Empty(FloodSet(back));
    }

    [Fact]
    public void Learned_remote_mac_goes_to_its_vtep_in_its_vni_only()
    {
        _learned.Learn(100, Remote, PeerA, 0);
        var decision = FromPort(1, M1, Remote);
        Assert.Equal(ForwardKind.Remote, decision.Kind);
        Assert.Equal(PeerA, decision.Vtep);

        Assert.Equal(ForwardKind.Flood, FromPort(4, M4, Remote).Kind);
    }

    [Fact]
    public void Unknown_ingress_port_is_dropped()
    {
        var decision = FromPort(9, M1, M2);
        Assert.Equal(DropReason.SwitchUnknownPort, decision.Reason);
        Assert.Equal(DropReason.SwitchUnknownPort, SwitchStage.FromLocal(SwitchTables.Empty, _learned, 0, Frame(M1, M2), 0).Reason);
    }

    [Fact]
    public void Underlay_frames_teach_the_sender_and_reach_the_local_port()
    {
        var decision = SwitchStage.FromUnderlay(_tables, _learned, 100, PeerB, Frame(Remote, M3), now: 5);
        Assert.Equal(ForwardKind.Local, decision.Kind);
        Assert.Equal(3, decision.Port);
        Assert.True(_learned.TryLookup(100, Remote, 6, out var vtep));
        Assert.Equal(PeerB, vtep);
        Assert.False(_learned.TryLookup(200, Remote, 6, out _));
    }

    [Fact]
    public void Underlay_broadcast_floods_every_local_port_and_never_the_underlay()
    {
        var decision = SwitchStage.FromUnderlay(_tables, _learned, 100, PeerB, Frame(Remote, MacAddress.Broadcast), 5);
        Assert.Equal(ForwardKind.Flood, decision.Kind);
        Assert.False(decision.FloodRemote);
        Assert.Equal(ForwardDecision.NoPort, decision.Port);
        Assert.Equal([1, 2, 3], FloodSet(decision));
    }

    [Fact]
    public void Underlay_unknown_unicast_floods_locally_and_remote_to_remote_is_refused()
    {
        var unknown = SwitchStage.FromUnderlay(_tables, _learned, 100, PeerB, Frame(Remote, MacAddress.Parse("52:54:00:00:00:77")), 5);
        Assert.Equal(ForwardKind.Flood, unknown.Kind);
        Assert.False(unknown.FloodRemote);

        _learned.Learn(100, MacAddress.Parse("52:54:00:00:00:88"), PeerA, 5);
        var hairpin = SwitchStage.FromUnderlay(_tables, _learned, 100, PeerB, Frame(Remote, MacAddress.Parse("52:54:00:00:00:88")), 6);
        Assert.Equal(DropReason.SwitchRemoteToRemote, hairpin.Reason);
    }

    [Fact]
    public void Underlay_frames_of_unknown_vnis_or_claiming_a_local_mac_are_dropped_unlearned()
    {
        Assert.Equal(DropReason.SwitchUnknownVni, SwitchStage.FromUnderlay(_tables, _learned, 300, PeerA, Frame(Remote, M1), 5).Reason);
        Assert.Equal(DropReason.SwitchSourceMacIsLocal, SwitchStage.FromUnderlay(_tables, _learned, 100, PeerA, Frame(M2, M1), 5).Reason);
        Assert.Equal(0, _learned.Count);
        // The same MAC is a stranger in another VNI: learned there.
        Assert.Equal(ForwardKind.Flood, SwitchStage.FromUnderlay(_tables, _learned, 200, PeerA, Frame(M2, M1), 5).Kind);
        Assert.Equal(1, _learned.Count);
    }

    [Fact]
    public void Local_macs_win_over_learned_ones()
    {
        _learned.Learn(100, M2, PeerA, 0);
        Assert.Equal(ForwardKind.Local, FromPort(1, M1, M2).Kind);
    }

    [Fact]
    public void Builder_refuses_bad_input_and_says_why()
    {
        var builder = new SwitchTablesBuilder();
        Assert.Null(builder.AddPort(1, 5, Frames.Vm1));
        Assert.Contains("port 1", builder.AddPort(1, 6, Frames.Vm2), StringComparison.Ordinal);
        Assert.Contains("already used", builder.AddPort(2, 5, Frames.Vm1), StringComparison.Ordinal);
        Assert.Null(builder.AddPort(2, 6, Frames.Vm1));
        Assert.Contains("out of range", builder.AddPort(3, 1 << 24, Frames.Vm2), StringComparison.Ordinal);
        Assert.Contains("unicast", builder.AddPort(3, 5, MacAddress.Broadcast), StringComparison.Ordinal);
        Assert.Contains("unspecified", builder.SetFloodVteps(5, [IpAddr.Parse("0.0.0.0")]), StringComparison.Ordinal);
        var tables = builder.Build(2, out _)!;
        Assert.Equal(2, tables.VniCount);
        Assert.Equal(2, tables.Version);
        Assert.True(tables.TryGetLocalPort(tables.SlotOfVni(6), Frames.Vm1, out var port));
        Assert.Equal(2, port);
        Assert.Equal(SwitchTables.NoSlot, tables.SlotOfVni(7));
        Assert.Equal(SwitchTables.NoSlot, tables.SlotOfPort(3));
    }

    [Fact]
    public void Large_tables_find_every_port()
    {
        var builder = new SwitchTablesBuilder();
        for (var i = 0; i < 4000; i++)
        {
            Assert.Null(builder.AddPort((ushort)i, (uint)(i % 97), new MacAddress(0x5254_0000_0000UL | (uint)i)));
        }
        var tables = builder.Build(1, out _)!;
        for (var i = 0; i < 4000; i++)
        {
            var slot = tables.SlotOfPort((ushort)i);
            Assert.Equal((uint)(i % 97), tables.VniOf(slot));
            Assert.True(tables.TryGetLocalPort(slot, new MacAddress(0x5254_0000_0000UL | (uint)i), out var port));
            Assert.Equal(i, port);
            Assert.False(tables.TryGetLocalPort(tables.SlotOfVni((uint)((i + 1) % 97)), new MacAddress(0x5254_0000_0000UL | (uint)i), out _));
        }
    }
}
