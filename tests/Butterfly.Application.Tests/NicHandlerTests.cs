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
    public async Task ExportIsAVersionedDocumentWithNoSessions()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin));
        var data = (await app.QueryAsync(new ExportNic("vm1"))).Value!;

        Assert.Equal(SessionExport.HeaderLength, data.Length);
        Assert.Equal("BFWS"u8.ToArray(), data[..4]);
        Assert.Equal(SessionExport.Version, BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(4)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(8)));
        Assert.Equal("nic_export: NIC not found: no NIC has id 'x'", (await app.QueryAsync(new ExportNic("x"))).Error);
    }

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
