using Butterfly.Application.Commands;
using Butterfly.Application.Ports;
using Butterfly.Application.Tests.Support;
using Butterfly.Domain.Nics;

namespace Butterfly.Application.Tests;

/// <summary>
/// What existing deployments rely on: nothing acknowledged that the data path will not do (one
/// MAC per VNI; ports that fail are shown), and logs written before protocol revision 10.
/// </summary>
public class DropInTests
{
    private static NicSpec Nic(string id, string mac = "52:54:00:00:00:01", uint vni = 7) => new(id, mac, vni, [], []);

    /// <summary>A NicAdded exactly as butterflyd wrote it before socket paths were recorded.</summary>
    private static NewEvent OldNicAdded(string id, string mac) => new(
        "NicAdded", "nic", id,
        $$$"""{"nic":{"id":"{{{id}}}","mac":"{{{mac}}}","vni":7,"ips":[],"securityGroups":[],"ipAntiSpoof":false,"bypassFiltering":false,"type":"vhostUserServer","packetTrace":false}}""",
        "tcp://127.0.0.1:9999 peer 0", null);

    [Fact]
    public async Task A_mac_already_used_in_the_vni_is_refused_and_nothing_is_stored()
    {
        await using var app = await AppHarness.StartAsync();
        Assert.True((await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin))).IsSuccess);

        var refused = await app.SendAsync(new AddNic(Nic("vm2"), AppHarness.Origin));

        Assert.StartsWith("NIC 'vm2': mac 52:54:00:00:00:01 is already used by NIC 'vm1' in vni 7", refused.Error, StringComparison.Ordinal);
        Assert.Single(app.Events.Events);
        Assert.Equal(["vm1"], (await app.QueryAsync(new ListNics())).Value!);
        Assert.True((await app.SendAsync(new AddNic(Nic("vm2", vni: 8), AppHarness.Origin))).IsSuccess);
    }

    [Fact]
    public async Task Two_nics_with_one_mac_in_one_batch_the_second_is_refused()
    {
        await using var app = await AppHarness.StartAsync();

        // One ZeroMQ message: both handled, then one commit (what ApiServer does).
        var first = await app.Mediator.Send(new AddNic(Nic("a1"), AppHarness.Origin));
        var second = await app.Mediator.Send(new AddNic(Nic("a2", "52:54:00:00:00:01".ToUpperInvariant()), AppHarness.Origin));
        Assert.Null(await app.Store.CommitAsync(CancellationToken.None));

        Assert.True(first.IsSuccess);
        Assert.StartsWith("NIC 'a2': mac 52:54:00:00:00:01 is already used by NIC 'a1'", second.Error, StringComparison.Ordinal);
        Assert.Equal(["a1"], app.Events.Events.Select(e => e.AggregateId));
        Assert.Equal(["a1"], app.DataPath.Current.Select(n => n.Id));
    }

    [Fact]
    public async Task Ports_that_do_not_work_show_in_details_and_status()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("ok"), AppHarness.Origin));
        await app.SendAsync(new AddNic(Nic("broken", vni: 999), AppHarness.Origin)); // RecordingDataPath fails VNI 999

        var details = (await app.QueryAsync(new GetNicDetails(""))).Value!;
        Assert.Equal([("broken", "no port for VNI 999"), ("ok", null)], details.Select(d => (d.Nic.Id, d.PortError)));
        var status = (await app.QueryAsync(new GetStatus(1))).Value!;
        Assert.Equal([new NicPortError("broken", "no port for VNI 999")], status.PortErrors);
        Assert.Null(status.DataPathError);

        // A reconcile that fails as a whole leaves every port in doubt.
        app.DataPath.ThrowOnReconcile = true;
        await app.SendAsync(new AddNic(Nic("third", "52:54:00:00:00:03"), AppHarness.Origin));
        status = (await app.QueryAsync(new GetStatus(2))).Value!;
        Assert.Equal("data path is gone", status.DataPathError);
        Assert.Empty(status.PortErrors!);
        Assert.All((await app.QueryAsync(new GetNicDetails(""))).Value!,
            d => Assert.Equal("the data path could not be reconciled: data path is gone", d.PortError));

        app.DataPath.ThrowOnReconcile = false;
        await app.SendAsync(new DeleteNic("broken", AppHarness.Origin));
        Assert.Empty((await app.QueryAsync(new GetStatus(3))).Value!.PortErrors!);
        Assert.All((await app.QueryAsync(new GetNicDetails(""))).Value!, d => Assert.Null(d.PortError));
    }

    [Fact]
    public async Task A_log_from_before_revision_10_keeps_its_socket_paths()
    {
        var events = new InMemoryEventStore();
        await events.AppendAsync([OldNicAdded("old", "52:54:00:00:00:01")]);
        await using var app = await AppHarness.StartAsync(events);

        // Null is the path such NICs always had: <socket-dir>/<id>.
        var old = Assert.Single(app.DataPath.Current);
        Assert.Null(old.SocketPath);
        Assert.Equal("/tmp/butterfly-test/old", app.DataPath.PathOf(old));

        // Re-added with the same type, it keeps it; a new NIC gets the original's name.
        Assert.Equal("/tmp/butterfly-test/old", (await app.SendAsync(new AddNic(Nic("old") with { Ips = ["10.0.0.1"] }, AppHarness.Origin))).Value);
        Assert.Equal("/tmp/butterfly-test/qemu-vhost-new", (await app.SendAsync(new AddNic(Nic("new", "52:54:00:00:00:02"), AppHarness.Origin))).Value);
        Assert.Equal(["/tmp/butterfly-test/qemu-vhost-new", null], app.DataPath.Current.OrderBy(n => n.Id, StringComparer.Ordinal).Select(n => n.SocketPath));
    }

    [Fact]
    public async Task A_restore_to_an_old_state_with_a_shared_mac_is_refused()
    {
        var events = new InMemoryEventStore();
        await events.AppendAsync([OldNicAdded("a", "52:54:00:00:00:01"), OldNicAdded("b", "52:54:00:00:00:01")]);
        await events.AppendAsync([new NewEvent("NicRemoved", "nic", "b", """{"nicId":"b"}""", "test", null)]);
        await using var app = await AppHarness.StartAsync(events);

        var refused = await app.SendAsync(new RestoreTo(new PointInTime(2, null), AppHarness.Origin));

        Assert.Equal(
            "restore to: at sequence 2 NIC 'a' and NIC 'b' share mac 52:54:00:00:00:01 in vni 7 (accepted before butterflyd refused that): "
            + "the data path could switch the frames of only one of them; restore to another point",
            refused.Error);
        Assert.Equal(3, events.Events.Count);
        Assert.True((await app.SendAsync(new RestoreTo(new PointInTime(1, null), AppHarness.Origin))).IsSuccess);
    }
}
