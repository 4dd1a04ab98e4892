using Butterfly.Application.Commands;
using Butterfly.Application.Ports;
using Butterfly.Application.Tests.Support;
using Butterfly.Domain.Configuration;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Application.Tests;

public class EventLogHandlerTests
{
    private static NicSpec Nic(string id, string ip = "10.0.0.1") => new(id, AppHarness.MacOf(id), 1, [ip], []);

    [Fact]
    public async Task ListEventsPagesWithANextSequence()
    {
        await using var app = await AppHarness.StartAsync();
        for (var i = 0; i < 5; i++)
            await app.SendAsync(new AddNic(Nic($"vm{i}"), AppHarness.Origin));
        await app.SendAsync(new AddMember("sg-1", "10.0.0.1", AppHarness.Origin));

        var first = (await app.QueryAsync(new ListEvents(new EventFilter(AggregateKind: "nic", Limit: 3)))).Value!;
        Assert.Equal([1L, 2L, 3L], first.Events.Select(e => e.Sequence));
        Assert.Equal(3, first.NextAfterSequence);
        Assert.Equal(7, first.LastSequence);

        var second = (await app.QueryAsync(new ListEvents(new EventFilter(AggregateKind: "nic", AfterSequence: 3, Limit: 3)))).Value!;
        Assert.Equal([4L, 5L], second.Events.Select(e => e.Sequence));
        Assert.Null(second.NextAfterSequence);

        var byGroup = (await app.QueryAsync(new ListEvents(new EventFilter(AggregateId: "sg-1", Limit: 0)))).Value!;
        Assert.Equal(["SecurityGroupCreated", "MemberAdded"], byGroup.Events.Select(e => e.Type));
        Assert.All(byGroup.Events, e => Assert.Equal(("tcp://127.0.0.1:5000", "m-1"), (e.Origin, e.MessageId)));
    }

    [Theory]
    [InlineData(-1, "event list: limit -1 is negative: ask for 1..10000 events, or 0 for 100")]
    [InlineData(10_001, "event list: limit 10001 is too large: at most 10000 events per page")]
    public async Task ListEventsChecksTheLimit(int limit, string error)
    {
        await using var app = await AppHarness.StartAsync();
        Assert.Equal(error, (await app.QueryAsync(new ListEvents(new EventFilter(Limit: limit)))).Error);
    }

    [Fact]
    public async Task ListEventsChecksTheOtherFilters()
    {
        await using var app = await AppHarness.StartAsync();
        var now = DateTimeOffset.UnixEpoch;
        Assert.StartsWith("event list: time range is empty", (await app.QueryAsync(new ListEvents(new EventFilter(Since: now.AddDays(1), Until: now)))).Error, StringComparison.Ordinal);
        Assert.Equal("event list: aggregate kind 'vm' is unknown: use 'nic' or 'sg'", (await app.QueryAsync(new ListEvents(new EventFilter(AggregateKind: "vm")))).Error);
        Assert.Equal("event list: after sequence -4 is negative", (await app.QueryAsync(new ListEvents(new EventFilter(AfterSequence: -4)))).Error);
    }

    [Fact]
    public async Task StateAtASequenceOrATimeIsTheStateThen()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin));                  // 1 at T0
        await app.SendAsync(new AddRule("sg", new RuleSpec(Direction.Inbound, 1, null, null, new CidrSpec("10.0.0.0", 8), null), AppHarness.Origin)); // 2,3 at T0+1s
        await app.SendAsync(new DeleteNic("vm1", AppHarness.Origin));                      // 4 at T0+2s

        var atOne = (await app.QueryAsync(new GetStateAt(new PointInTime(1, null)))).Value!;
        Assert.Equal((1L, app.Events.Events[0].Timestamp), (atOne.Sequence, atOne.Timestamp));
        Assert.Equal(["vm1"], atOne.Nics.Select(n => n.Id));
        Assert.Empty(atOne.Groups);

        var byTime = (await app.QueryAsync(new GetStateAt(new PointInTime(null, app.Events.Events[1].Timestamp.AddMilliseconds(500))))).Value!;
        Assert.Equal(3, byTime.Sequence);
        Assert.Equal(["vm1"], byTime.Nics.Select(n => n.Id));
        Assert.Equal(["sg"], byTime.Groups.Select(g => g.Id));

        var empty = (await app.QueryAsync(new GetStateAt(new PointInTime(0, null)))).Value!;
        Assert.Equal((0L, (DateTimeOffset?)null), (empty.Sequence, empty.Timestamp));
        Assert.Empty(empty.Nics);

        var beforeEverything = (await app.QueryAsync(new GetStateAt(new PointInTime(null, DateTimeOffset.UnixEpoch)))).Value!;
        Assert.Equal(0, beforeEverything.Sequence);
    }

    [Fact]
    public async Task StateAtChecksThePointInTime()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin));
        Assert.Equal("state at: sequence 2 is out of range: the log holds events 0..1 (0 is the empty configuration)",
            (await app.QueryAsync(new GetStateAt(new PointInTime(2, null)))).Error);
        Assert.StartsWith("state at: sequence -1 is out of range", (await app.QueryAsync(new GetStateAt(new PointInTime(-1, null)))).Error, StringComparison.Ordinal);
        Assert.Equal("state at: give exactly one of a sequence number or a time",
            (await app.QueryAsync(new GetStateAt(new PointInTime(1, DateTimeOffset.UnixEpoch)))).Error);
        Assert.Equal("state at: give exactly one of a sequence number or a time",
            (await app.QueryAsync(new GetStateAt(new PointInTime(null, null)))).Error);
    }

    [Fact]
    public async Task StateAtEverySequenceMatchesALiveReplayAcrossSnapshots()
    {
        await using var app = await AppHarness.StartAsync();
        // The state after each commit, by the sequence of its last event.
        var states = new Dictionary<long, ConfigurationState> { [0] = ConfigurationState.Empty };
        var random = new Random(3);
        for (var i = 0; i < 1200; i++)
        {
            await app.Mediator.Send(new AddMember($"sg{random.Next(3)}", $"10.0.0.{random.Next(50)}", AppHarness.Origin));
            await app.Mediator.Send(new DeleteMember($"sg{random.Next(3)}", $"10.0.0.{random.Next(50)}", AppHarness.Origin));
            Assert.Null(await app.Store.CommitAsync(CancellationToken.None));
            states[app.Store.LastSequence] = app.Store.State;
        }

        Assert.NotEmpty(app.Events.Snapshots);
        var snapshotAt = app.Events.Snapshots[0].Sequence;
        var checkedSequences = states.Keys.Where(s => s % 37 == 0 || Math.Abs(s - snapshotAt) <= 3 || s >= app.Store.LastSequence - 3).ToList();
        Assert.Contains(snapshotAt, checkedSequences);
        foreach (var sequence in checkedSequences)
        {
            var (state, _) = await app.Store.StateAtAsync(sequence, CancellationToken.None);
            Assert.True(state.ContentEquals(states[sequence]), $"state at {sequence}");
        }
    }

    [Fact]
    public async Task RestoreAppendsTheEventsBackToTheTargetAndTheDataPathFollows()
    {
        var events = new InMemoryEventStore();
        await using var app = await AppHarness.StartAsync(events);
        await Scenario.RunAsync(app, 300, seed: 11);
        var targetSequence = app.Store.LastSequence;
        var target = app.Store.State;
        var targetPorts = app.DataPath.Current;
        await Scenario.RunAsync(app, 300, seed: 12);
        Assert.False(app.Store.State.ContentEquals(target));
        var historyLength = events.Events.Count;

        var restore = new RequestOrigin("restore-client", "r-1");
        var summary = await app.SendAsync(new RestoreTo(new PointInTime(targetSequence, null), restore));

        Assert.Equal(targetSequence, summary.Value!.TargetSequence);
        Assert.Equal(historyLength + summary.Value.EventsAppended, events.Events.Count);
        Assert.Equal(app.Store.LastSequence, summary.Value.LastSequence);
        Assert.True(app.Store.State.ContentEquals(target));
        Assert.Equal(targetPorts, app.DataPath.Current);
        Assert.All(events.Events.Skip(historyLength), e => Assert.Equal(("restore-client", "r-1"), (e.Origin, e.MessageId)));

        // The restore is itself history: a restart rebuilds the restored configuration.
        await using var restarted = await AppHarness.StartAsync(events);
        Assert.True(restarted.Store.State.ContentEquals(target));

        // Restoring to where we already are appends nothing.
        var again = await app.SendAsync(new RestoreTo(new PointInTime(app.Store.LastSequence, null), restore));
        Assert.Equal(0, again.Value!.EventsAppended);
    }

    [Fact]
    public async Task RestoreByTimeAndToTheBeginning()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddNic(Nic("vm1"), AppHarness.Origin));
        var afterFirst = app.Events.Events[0].Timestamp;
        await app.SendAsync(new UpdateNic("vm1", true, ["10.0.0.7"], null, null, null, AppHarness.Origin));
        await app.SendAsync(new AddNic(Nic("vm2"), AppHarness.Origin));

        var byTime = await app.SendAsync(new RestoreTo(new PointInTime(null, afterFirst), AppHarness.Origin));
        Assert.Equal(1, byTime.Value!.TargetSequence);
        var nic = Assert.Single(app.Store.State.Nics.Values);
        Assert.Equal(["10.0.0.1"], nic.Ips);
        Assert.False(nic.IpAntiSpoof);

        await app.SendAsync(new RestoreTo(new PointInTime(0, null), AppHarness.Origin));
        Assert.Empty(app.Store.State.Nics);
        Assert.Empty(app.DataPath.Current);

        var bad = await app.Mediator.Send(new RestoreTo(new PointInTime(99, null), AppHarness.Origin));
        Assert.StartsWith("restore to: sequence 99 is out of range", bad.Error, StringComparison.Ordinal);
    }
}
