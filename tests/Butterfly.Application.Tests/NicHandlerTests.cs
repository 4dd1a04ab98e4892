using System.Buffers.Binary;
using Butterfly.Application.Commands;
using Butterfly.Application.Nics;
using Butterfly.Application.Ports;
using Butterfly.Application.Tests.Support;
using Butterfly.Domain.Nics;

namespace Butterfly.Application.Tests;

public class NicHandlerTests
{
    /// <summary>A NIC of VNI 7 whose MAC depends on its id, so the NICs of a test never share one.</summary>
    private static NicSpec Nic(string id, params string[] ips) =>
        new(id, AppHarness.MacOf(id), 7, ips, ["sg-1"]);

    [Fact]
    public async Task AddNicReturnsThePathStoresTheEventAndMakesThePort()
    {
        await using var app = await AppHarness.StartAsync();
        var outcome = await app.SendAsync(new AddNic(Nic("vm1", "2001:0db8::0001") with { Mac = "52:54:00:00:D7:11" }, AppHarness.Origin));

        Assert.Equal("/tmp/butterfly-test/qemu-vhost-vm1", outcome.Value);
        var stored = Assert.Single(app.Events.Events);
        Assert.Equal(("NicAdded", "nic", "vm1", "tcp://127.0.0.1:5000", "m-1"), (stored.Type, stored.AggregateKind, stored.AggregateId, stored.Origin, stored.MessageId));
        Assert.Contains("\"socketPath\":\"/tmp/butterfly-test/qemu-vhost-vm1\"", stored.DataJson, StringComparison.Ordinal);
        Assert.Equal([new DataPathNic("vm1", NicType.VhostUserServer, "52:54:00:00:d7:11", 7, false, "/tmp/butterfly-test/qemu-vhost-vm1")], app.DataPath.Current);
        var details = Assert.Single((await app.QueryAsync(new GetNicDetails("vm1"))).Value!);
        Assert.Equal(["2001:db8::1"], details.Nic.Ips);
        Assert.Null(details.PortError);
    }

    [Fact]
    public async Task AddNicRefusedByTheDataPathOrInvalidStoresNothing()
    {
        await using var app = await AppHarness.StartAsync();
        var refused = await app.SendAsync(new AddNic(Nic("refuse-this-name"), AppHarness.Origin));
        Assert.Equal("NIC 'refuse-this-name': tap name 'refuse-this-name' is longer than 15 characters", refused.Error);
        var invalid = await app.SendAsync(new AddNic(Nic("vm1", "10.0.0.999"), AppHarness.Origin));
        Assert.StartsWith("NIC 'vm1': ip[0] '10.0.0.999' is not a valid IP address", invalid.Error, StringComparison.Ordinal);
        Assert.Empty(app.Events.Events);
        Assert.Equal(0, app.Events.AppendCalls);
    }

    [Fact]
    public async Task UpdateNicFollowsNullUnchangedAndEmptyClears()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("vm1", "10.0.0.1"), AppHarness.Origin));

        Assert.True((await app.SendAsync(new UpdateNic("vm1", null, null, null, null, null, AppHarness.Origin))).IsSuccess);
        Assert.Single(app.Events.Events);

        await app.SendAsync(new UpdateNic("vm1", true, ["10.0.0.2", "10.0.0.2"], [""], null, null, AppHarness.Origin));
        var nic = Assert.Single((await app.QueryAsync(new GetNicDetails(""))).Value!).Nic;
        Assert.Equal(["10.0.0.2"], nic.Ips);
        Assert.Empty(nic.SecurityGroups);
        Assert.True(nic.IpAntiSpoof);
        Assert.Equal(["NicAdded", "NicIpsReplaced", "NicSecurityGroupsReplaced", "NicAntiSpoofChanged"], app.Events.Events.Select(e => e.Type));

        var missing = await app.SendAsync(new UpdateNic("ghost", true, null, null, null, null, AppHarness.Origin));
        Assert.Equal("nic_update: no NIC has id 'ghost'", missing.Error);
    }

    [Fact]
    public async Task DeleteNicOfUnknownIdSucceedsWithoutEvent()
    {
        await using var app = await AppHarness.StartAsync();
        Assert.True((await app.SendAsync(new DeleteNic("ghost", AppHarness.Origin))).IsSuccess);
        Assert.Empty(app.Events.Events);

        await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin));
        await app.SendAsync(new DeleteNic("vm1", AppHarness.Origin));
        Assert.Equal("NicRemoved", app.Events.Events[^1].Type);
        Assert.Empty(app.DataPath.Current);
        Assert.Empty((await app.QueryAsync(new ListNics())).Value!);
    }

    [Fact]
    public async Task ListAndDetailsAreSortedById()
    {
        await using var app = await AppHarness.StartAsync();
        foreach (var id in new[] { "vm2", "vm10", "a", "Z" })
            await app.SendAsync(new AddNic(Nic(id), AppHarness.Origin));
        Assert.Equal(["Z", "a", "vm10", "vm2"], (await app.QueryAsync(new ListNics())).Value!);
        Assert.Equal(["Z", "a", "vm10", "vm2"], (await app.QueryAsync(new GetNicDetails(""))).Value!.Select(n => n.Nic.Id));
        Assert.Equal("nic_details: NIC not found: no NIC has id 'nope'", (await app.QueryAsync(new GetNicDetails("nope"))).Error);
    }

    [Fact]
    public async Task StatsComeFromTheDataPathAndUnknownNicIsAnError()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin));
        await app.SendAsync(new AddNic(Nic("vm2"), AppHarness.Origin));
        app.DataPath.Counters["vm1"] = new NicCounters(10, 20, 1, 2, 0);

        Assert.Equal(new NicCounters(10, 20, 1, 2, 0), (await app.QueryAsync(new GetNicStats("vm1"))).Value);
        Assert.Equal(default, (await app.QueryAsync(new GetNicStats("vm2"))).Value);
        Assert.Equal("nic_stats: NIC not found: no NIC has id 'x'", (await app.QueryAsync(new GetNicStats("x"))).Error);
    }

    [Fact]
    public async Task ExportIsTheDataPathsDocumentOrAnEmptyOneWithoutAPort()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin));
        await app.SendAsync(new AddNic(Nic("vm2"), AppHarness.Origin));
        var exported = SessionDocument.Write([Session()]);
        app.DataPath.Exports["vm1"] = exported;

        Assert.Equal(exported, (await app.QueryAsync(new ExportNic("vm1"))).Value);
        var empty = (await app.QueryAsync(new ExportNic("vm2"))).Value!;
        Assert.Equal(SessionDocument.HeaderLength, empty.Length);
        Assert.Equal("BFWS"u8.ToArray(), empty[..4]);
        Assert.Equal(SessionDocument.Version, BinaryPrimitives.ReadUInt16BigEndian(empty.AsSpan(4)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(empty.AsSpan(8)));
        Assert.Equal("nic_export: NIC not found: no NIC has id 'x'", (await app.QueryAsync(new ExportNic("x"))).Error);
    }

    [Fact]
    public async Task SessionsGivenWithNicAddOrNicUpdateReachThePortAfterTheCommit()
    {
        await using var app = await AppHarness.StartAsync();
        var document = SessionDocument.Write([Session()]);

        Assert.True((await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin, document))).IsSuccess);
        Assert.Equal([("vm1", document)], app.DataPath.Imports);
        // The port existed when the sessions arrived: the NIC was reconciled first.
        Assert.Contains(app.DataPath.Current, n => n.Id == "vm1");

        var update = new UpdateNic("vm1", null, null, null, null, null, AppHarness.Origin, Sessions: document);
        Assert.True((await app.SendAsync(update)).IsSuccess);
        Assert.Equal(2, app.DataPath.Imports.Count);
        Assert.Equal(["NicAdded"], app.Events.Events.Select(e => e.Type));
    }

    [Fact]
    public async Task A_malformed_session_document_refuses_the_request_and_stores_nothing()
    {
        await using var app = await AppHarness.StartAsync();
        var bad = SessionDocument.Write([Session()])[..^1];

        var added = await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin, bad));
        Assert.False(added.IsSuccess);
        Assert.Contains("fw_data claims 1 sessions", added.Error, StringComparison.Ordinal);
        Assert.Empty(app.Events.Events);
        Assert.Empty(app.DataPath.Imports);
    }

    [Fact]
    public async Task A_vhost_user_nic_beyond_the_data_paths_capacity_is_refused_and_nothing_is_stored()
    {
        await using var app = await AppHarness.StartAsync();
        app.DataPath.Capacity = 2;
        Assert.True((await app.SendAsync(new AddNic(Nic("vm1") with { Mac = "52:54:00:00:00:01" }, AppHarness.Origin))).IsSuccess);
        Assert.True((await app.SendAsync(new AddNic(Nic("vm2") with { Mac = "52:54:00:00:00:02" }, AppHarness.Origin))).IsSuccess);

        var refused = await app.SendAsync(new AddNic(Nic("vm3") with { Mac = "52:54:00:00:00:03" }, AppHarness.Origin));
        Assert.False(refused.IsSuccess);
        Assert.Contains("2 vhost-user NICs exist, the most this host's data path serves (2", refused.Error, StringComparison.Ordinal);
        // Replacing one of them, or adding a tap, is not one more.
        Assert.True((await app.SendAsync(new AddNic(Nic("vm2") with { Mac = "52:54:00:00:00:12" }, AppHarness.Origin))).IsSuccess);
        Assert.True((await app.SendAsync(new AddNic(Nic("tap3") with { Mac = "52:54:00:00:00:13", Type = NicType.Tap }, AppHarness.Origin))).IsSuccess);
        Assert.Equal(["vm1", "vm2", "vm2", "tap3"], app.Events.Events.Select(e => e.AggregateId));
    }

    [Fact]
    public async Task Tap_and_bench_nics_beyond_their_capacity_are_refused_each_by_its_own_count()
    {
        await using var app = await AppHarness.StartAsync();
        app.DataPath.TapCapacity = 1;
        app.DataPath.Capacity = 1;
        Assert.True((await app.SendAsync(new AddNic(Nic("tap1") with { Mac = "52:54:00:00:00:01", Type = NicType.Tap }, AppHarness.Origin))).IsSuccess);

        var refused = await app.SendAsync(new AddNic(Nic("tap2") with { Mac = "52:54:00:00:00:02", Type = NicType.Tap }, AppHarness.Origin));

        Assert.False(refused.IsSuccess);
        Assert.Contains("1 tap NICs exist, the most this host's data path serves (1: a tap takes one of DPDK's ethdev ports", refused.Error, StringComparison.Ordinal);
        // A vhost-user NIC is counted apart from the taps.
        Assert.True((await app.SendAsync(new AddNic(Nic("vm1") with { Mac = "52:54:00:00:00:03" }, AppHarness.Origin))).IsSuccess);
        Assert.Equal(["tap1", "vm1"], app.Events.Events.Select(e => e.AggregateId));
    }

    [Fact]
    public async Task Bypass_filtering_changes_with_nic_update()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin));

        await app.SendAsync(new UpdateNic("vm1", null, null, null, null, null, AppHarness.Origin, BypassFiltering: true));
        await app.SendAsync(new UpdateNic("vm1", null, null, null, null, null, AppHarness.Origin, BypassFiltering: true));

        Assert.Equal(["NicAdded", "NicBypassChanged"], app.Events.Events.Select(e => e.Type));
        Assert.True(app.Store.State.Nics["vm1"].BypassFiltering);
        Assert.True(app.DataPath.Current.Single().BypassFiltering);
    }

    [Fact]
    public async Task The_data_path_gets_the_committed_events_and_their_sequence()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin));
        await app.SendAsync(new AddMember("web", "10.0.0.9", AppHarness.Origin));

        var last = app.DataPath.Requests[^1];
        Assert.Equal(3, last.Version);
        Assert.Equal(1, last.PreviousVersion);
        Assert.Equal(["SecurityGroupCreated", "MemberAdded"], last.Committed!.Select(e => e.GetType().Name));
        Assert.Null(app.DataPath.Requests[0].Committed);
    }

    private static TrackedSession Session() => new(true, ((UInt128)0xFFFF << 32) | 0x0A00_0001, 22, ((UInt128)0xFFFF << 32) | 0x0A00_0002,
        40000, 6, Inbound: true, SeenReply: true, 60_000, new TcpSideState(1, 2, 3, 0x80, 2), new TcpSideState(4, 5, 6, 0x80, 2));

    [Fact]
    public async Task LaterRequestsOfAGroupSeeStagedChanges()
    {
        await using var app = await AppHarness.StartAsync();
        await app.Mediator.Send(new AddNic(Nic("vm1"), AppHarness.Origin));
        var update = await app.Mediator.Send(new UpdateNic("vm1", true, null, null, null, null, AppHarness.Origin));

        Assert.True(update.IsSuccess);
        Assert.True(app.Store.HasStagedEvents);
        Assert.Equal(2, app.Store.StagedEventCount);
        Assert.Empty(app.Events.Events);
        Assert.Null(await app.Store.CommitAsync(CancellationToken.None));
        Assert.Equal(1, app.Events.AppendCalls);
        Assert.Equal(2, app.Store.LastSequence);
        Assert.False(app.Store.HasStagedEvents);
    }
}
