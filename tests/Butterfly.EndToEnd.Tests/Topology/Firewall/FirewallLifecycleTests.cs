using System.Buffers.Binary;
using Butterfly.TestKit;
using Google.Protobuf;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.EndToEnd.Tests.Topology.Firewall;

/// <summary>
/// The firewall across the daemon's life: rebuilt from the event log after kill -9 (the same
/// frames get the same decisions), taken back in time by restore_to, and a NIC's tracked
/// connections carried by nic_export / fw_data to a NIC made again (a migration's last step).
/// One host, a1 and a2 (<see cref="OneHostFirewallFabric"/>); these tests restart its daemon.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class FirewallLifecycleTests(OneHostFirewallFabric fabric) : IClassFixture<OneHostFirewallFabric>
{
    private const V0.Rule.Types.Direction In = V0.Rule.Types.Direction.Inbound;

    [Fact]
    public async Task After_kill_9_the_same_frames_get_the_same_decisions_and_restore_takes_a_rule_back()
    {
        fabric.Reset();
        var (a1, a2) = (fabric.A1, fabric.A2);
        fabric.OnAll(Requests.SgAdd("svc", rules: [Requests.Rule(In, 6, "10.79.0.0/24", 8080, 8080)]));
        fabric.Groups(a2, "svc");
        Assert.True(await Reach.Tcp(a1, a2, a2.Ipv4, 8080, Reach.Allowed), "8080 before the crash");
        Assert.False(await Reach.Tcp(a1, a2, a2.Ipv4, 8081, Reach.Refused), "8081 before the crash");

        fabric.HostA.Kill();
        await fabric.HostA.RestartAsync();
        // The restarted daemon made the taps again, in its own namespace: back to the VMs.
        fabric.Reattach(a1);
        fabric.Reattach(a2);
        Assert.True(await Reach.Tcp(a1, a2, a2.Ipv4, 8080, Reach.Allowed), "8080 after the crash");
        Assert.False(await Reach.Tcp(a1, a2, a2.Ipv4, 8081, Reach.Refused), "8081 after the crash");

        var before = fabric.Call(a1, Requests.EventList(new V0.EventListReq { Limit = 1 })).EventList.LastSequence;
        fabric.OnAll(Requests.SgRuleAdd("svc", Requests.Rule(In, 6, "10.79.0.0/24", 8081, 8081)));
        Assert.True(await Reach.Tcp(a1, a2, a2.Ipv4, 8081, Reach.Allowed), "8081 once its rule is added");

        var restore = fabric.Call(a1, Requests.RestoreTo(before)).Restore;
        Assert.True(restore.EventsAppended > 0);
        Assert.False(await Reach.Tcp(a1, a2, a2.Ipv4, 8081, Reach.Refused), "8081 after restoring to before its rule");
        Assert.True(await Reach.Tcp(a1, a2, a2.Ipv4, 8080, Reach.Allowed), "8080 still admitted");
    }

    [Fact]
    public async Task Exported_sessions_given_to_the_nic_made_again_keep_its_connection_while_new_ones_are_refused()
    {
        fabric.Reset();
        var (a1, a2) = (fabric.A1, fabric.A2);
        fabric.OnAll(Requests.SgAdd("svc", rules: [Requests.Rule(In, 6, "10.79.0.0/24", 7000, 7000)]));
        fabric.Groups(a2, "svc");
        using var session = await TcpSession.OpenAsync(a1, a2, a2.Ipv4, 7000, replySeconds: 30);
        Assert.NotNull(session);
        Assert.True(await session.EchoAsync("before"));

        var document = fabric.Call(a2, Requests.NicExport(a2.Tap)).NicExport.FwData.Data;
        Assert.Equal("BFWS"u8.ToArray(), document.Span[..4].ToArray());
        Assert.True(BinaryPrimitives.ReadUInt32BigEndian(document.Span[8..]) >= 1, "a2 tracks the connection");

        // The VM "arrives" on a NIC made again, in no group at all (default deny), with its sessions.
        fabric.Call(a2, Requests.NicDel(a2.Tap));
        var nic = Requests.Nic(a2.Tap, a2.Mac, FirewallFabric.Vni, [a2.Ipv4, a2.Ipv6], type: V0.Nic.Types.Type.Tap);
        nic.FwData = new V0.FwData { Data = ByteString.CopyFrom(document.Span) };
        fabric.Call(a2, Requests.NicAdd(nic));
        fabric.Reattach(a2);

        Assert.True(await session.EchoAsync("after"), "the established connection keeps passing");
        var refused = fabric.Dropped(a2, "firewall_inbound_denied");
        Assert.False(await Reach.Tcp(a1, a2, a2.Ipv4, 7000, Reach.Refused), "a new connection is refused");
        Assert.True(fabric.Dropped(a2, "firewall_inbound_denied") > refused);
    }
}
