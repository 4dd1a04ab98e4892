using System.Diagnostics;
using Butterfly.Application.Commands;
using Butterfly.Application.Configuration;
using Butterfly.Application.Tests.Support;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Application.Tests;

public class ConfigurationStoreTests
{
    private static NicSpec Nic(string id, uint vni = 1) => new(id, AppHarness.MacOf(id), vni, ["10.0.0.1"], ["sg-1"]);

    [Fact]
    public async Task FailedCommitDiscardsTheStagedChangesAndKeepsTheDurableState()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin));
        var reconcilesBefore = app.DataPath.Reconciles.Count;

        app.Events.FailAppends = true;
        await app.Mediator.Send(new AddNic(Nic("vm2"), AppHarness.Origin));
        await app.Mediator.Send(new DeleteNic("vm1", AppHarness.Origin));
        Assert.Equal(["vm2"], app.Store.State.Nics.Keys);

        var error = await app.Store.CommitAsync(CancellationToken.None);
        Assert.Equal("the change was not saved: the event log (memory:test) refused 2 event(s): disk full", error);
        Assert.Equal(["vm1"], app.Store.State.Nics.Keys);
        Assert.False(app.Store.HasStagedEvents);
        Assert.Equal(1, app.Store.LastSequence);
        Assert.Equal(reconcilesBefore, app.DataPath.Reconciles.Count);

        app.Events.FailAppends = false;
        await app.SendAsync(new AddNic(Nic("vm3"), AppHarness.Origin));
        Assert.Equal([1L, 2L], app.Events.Events.Select(e => e.Sequence));
        Assert.Equal(["vm1", "vm3"], app.Store.State.Nics.Keys);
    }

    [Fact]
    public async Task AnUnknownOutcomeIsSettledFromTheStoreBeforeTheNextWriteAndTheBatchThatLandedIsKept()
    {
        await using var app = await AppHarness.StartAsync();
        app.Events.FailAfterAppend = true;
        await app.Mediator.Send(new AddNic(Nic("vm1"), AppHarness.Origin));
        var error = await app.Store.CommitAsync(CancellationToken.None);
        Assert.StartsWith("the change was not confirmed", error, StringComparison.Ordinal);
        Assert.True(app.Store.NeedsCatchUp);
        Assert.Empty(app.Store.State.Nics);
        app.Events.FailAfterAppend = false;

        var caughtUp = await app.Store.CatchUpAsync(CancellationToken.None);
        Assert.Null(caughtUp.Error);
        app.Store.ApplyCaughtUp(caughtUp.Events!);
        Assert.False(app.Store.NeedsCatchUp);
        Assert.Equal(1, app.Store.LastSequence);
        Assert.Equal(["vm1"], app.Store.DurableState.Nics.Keys);
        Assert.Equal(["vm1"], app.DataPath.Current.Select(n => n.Id));
        await app.SendAsync(new AddNic(Nic("vm2"), AppHarness.Origin));
        Assert.Equal([1L, 2L], app.Events.Events.Select(e => e.Sequence));
    }

    [Fact]
    public async Task AWriteTakenWhileAnOutcomeIsUnknownIsRefusedAfterTheStateCaughtUp()
    {
        await using var app = await AppHarness.StartAsync();
        app.Events.FailAfterAppend = true;
        await app.Mediator.Send(new AddNic(Nic("vm1"), AppHarness.Origin));
        Assert.NotNull(await app.Store.CommitAsync(CancellationToken.None));
        app.Events.FailAfterAppend = false;

        // Decided on a state without vm1: refused, and the state now has vm1.
        await app.Mediator.Send(new AddNic(Nic("vm2"), AppHarness.Origin));
        Assert.Contains("turned out to be stored", await app.Store.CommitAsync(CancellationToken.None), StringComparison.Ordinal);
        Assert.Equal(["vm1"], app.Store.State.Nics.Keys);
        Assert.Single(app.Events.Events);
    }

    [Fact]
    public async Task CommitWithNothingStagedDoesNotTouchTheLog()
    {
        await using var app = await AppHarness.StartAsync();
        Assert.Null(await app.Store.CommitAsync(CancellationToken.None));
        Assert.Equal(0, app.Events.AppendCalls);
    }

    [Fact]
    public async Task DataPathErrorsAreReportedButTheCommandStands()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("vm1", vni: 999), AppHarness.Origin));
        Assert.Equal("no port for VNI 999", app.Store.DataPathErrors["vm1"]);

        app.DataPath.ThrowOnReconcile = true;
        await app.SendAsync(new AddNic(Nic("vm2"), AppHarness.Origin));
        Assert.Equal(2, app.Store.LastSequence);
        Assert.Equal("data path is gone", app.Store.DataPathErrors["*"]);
    }

    [Fact]
    public async Task SnapshotIsTakenEveryThousandEventsAndAFailureIsRetriedWithBackoffNotOnEveryCommit()
    {
        var clock = new ManualTime(DateTimeOffset.UnixEpoch);
        await using var app = await AppHarness.StartAsync(time: clock);
        app.Events.FailSnapshots = true;
        for (var i = 0; i < ConfigurationStore.SnapshotInterval; i++)
            await app.SendAsync(new AddMember("sg", $"10.0.{i / 256}.{i % 256}", AppHarness.Origin));
        await app.Store.SnapshotSettledAsync();
        Assert.Empty(app.Events.Snapshots);
        Assert.Equal(1, app.Events.SnapshotAttempts);

        // Within the back-off, commits do not try again.
        for (var i = 0; i < 20; i++)
            await app.SendAsync(new AddMember("sg", $"10.8.0.{i}", AppHarness.Origin));
        Assert.Equal(1, app.Events.SnapshotAttempts);

        app.Events.FailSnapshots = false;
        clock.Advance(TimeSpan.FromSeconds(1));
        await app.SendAsync(new AddMember("sg", "10.9.9.9", AppHarness.Origin));
        await app.Store.SnapshotSettledAsync();
        var snapshot = Assert.Single(app.Events.Snapshots);
        Assert.Equal(1022, snapshot.Sequence);
        Assert.True(EventSerializer.DeserializeState(snapshot.DataJson).ContentEquals(app.Store.State));

        await app.SendAsync(new AddMember("sg", "10.9.9.10", AppHarness.Origin));
        Assert.Single(app.Events.Snapshots);
        Assert.Equal(1, app.Store.SnapshotFailures);
    }

    [Fact]
    public async Task LoadFromSnapshotAndReplayEqualsTheLiveStateAndRecreatesPorts()
    {
        var events = new InMemoryEventStore();
        await using var live = await AppHarness.StartAsync(events);
        await Scenario.RunAsync(live, 1500);
        Assert.NotEmpty(events.Snapshots);
        Assert.True(events.Snapshots[^1].Sequence < live.Store.LastSequence);

        await using var restarted = await AppHarness.StartAsync(events);
        Assert.True(restarted.Store.State.ContentEquals(live.Store.State));
        Assert.Equal(live.Store.LastSequence, restarted.Store.LastSequence);
        Assert.Equal(live.DataPath.Current, restarted.DataPath.Current);

        events.DamageSnapshots();
        await using var fromScratch = await AppHarness.StartAsync(events);
        Assert.True(fromScratch.Store.State.ContentEquals(live.Store.State));
    }

    [Fact]
    public async Task RestartWithTenThousandEventsIsFast()
    {
        var events = new InMemoryEventStore();
        var groups = new[] { "sg-1" };
        await using (var writer = await AppHarness.StartAsync(events))
        {
            for (var i = 0; i < 10_000; i++)
            {
                await writer.Mediator.Send(new AddNic(new NicSpec($"vm{i % 500}", "52:54:00:00:00:01", (uint)i, [$"10.{i / 65536}.{i / 256 % 256}.{i % 256}"], groups), AppHarness.Origin));
                if (i % 100 == 99)
                    Assert.Null(await writer.Store.CommitAsync(CancellationToken.None));
            }
        }

        events.DamageSnapshots();
        var watch = Stopwatch.StartNew();
        await using var restarted = await AppHarness.StartAsync(events);
        watch.Stop();
        Assert.Equal(10_000, restarted.Store.LastSequence);
        Assert.Equal(500, restarted.Store.State.Nics.Count);
        // About 0.1 s here, cold, full replay (the snapshot is damaged on purpose). The bound
        // is loose because CI machines are shared; it catches replay going quadratic.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"full replay of 10 000 events took {watch.Elapsed}");
    }
}

/// <summary>A deterministic mix of every write command.</summary>
internal static class Scenario
{
    public static async Task RunAsync(AppHarness app, int commands, int seed = 7)
    {
        var random = new Random(seed);
        string Id() => $"x{random.Next(6)}";
        string Ip() => random.Next(2) == 0 ? $"10.0.0.{random.Next(8)}" : $"2001:db8::{random.Next(8):x}";
        RuleSpec Rule() => random.Next(2) == 0
            ? new RuleSpec((Direction)random.Next(2), 17, (uint)random.Next(3), 100, new CidrSpec(Ip(), 8), null)
            : new RuleSpec(Direction.Inbound, random.Next(-1, 3), null, null, null, Id());

        for (var i = 0; i < commands; i++)
        {
            switch (random.Next(10))
            {
                case 0: await app.Mediator.Send(new AddNic(new NicSpec(Id(), $"52:54:00:00:00:0{random.Next(1, 9)}", (uint)random.Next(4), [Ip(), Ip()], [Id()]), AppHarness.Origin)); break;
                case 1: await app.Mediator.Send(new UpdateNic(Id(), random.Next(2) == 0, random.Next(2) == 0 ? [Ip()] : null, random.Next(2) == 0 ? [Id(), Id()] : [""], null, null, AppHarness.Origin)); break;
                case 2: await app.Mediator.Send(new DeleteNic(Id(), AppHarness.Origin)); break;
                case 3: await app.Mediator.Send(new AddSecurityGroup(new SecurityGroupSpec(Id(), [Ip(), Ip()], [Rule()]), AppHarness.Origin)); break;
                case 4: await app.Mediator.Send(new DeleteSecurityGroup(Id(), AppHarness.Origin)); break;
                case 5: await app.Mediator.Send(new AddRule(Id(), Rule(), AppHarness.Origin)); break;
                case 6: await app.Mediator.Send(new DeleteRule(Id(), Rule(), AppHarness.Origin)); break;
                case 7: await app.Mediator.Send(new AddMember(Id(), Ip(), AppHarness.Origin)); break;
                default: await app.Mediator.Send(new DeleteMember(Id(), Ip(), AppHarness.Origin)); break;
            }

            if (random.Next(3) == 0)
                Assert.Null(await app.Store.CommitAsync(CancellationToken.None));
        }

        Assert.Null(await app.Store.CommitAsync(CancellationToken.None));
    }
}

/// <summary>A clock that moves only when told.</summary>
internal sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
