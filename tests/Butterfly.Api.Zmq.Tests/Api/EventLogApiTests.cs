using Butterfly.TestKit;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>The revision 7 fields (21-23 / 12-14): event list, state at, restore to.</summary>
public class EventLogApiTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private readonly ApiClient _api = fixture.Client;

    private ulong LastSequence() => ApiAssert.Ok(_api.Call(Requests.EventList(new V0.EventListReq { Limit = 1 }))).EventList.LastSequence;

    [Fact]
    public void Events_record_type_aggregate_origin_and_message_id()
    {
        var sg = Ids.New("sg");
        ApiAssert.Ok(_api.Call(Requests.SgAdd(sg, ["10.0.0.1"]), "audit-1"));

        var page = ApiAssert.Ok(_api.Call(Requests.EventList(new V0.EventListReq { SgId = sg }))).EventList;

        var e = Assert.Single(page.Event);
        Assert.Equal("sg", e.AggregateKind);
        Assert.Equal(sg, e.AggregateId);
        Assert.Equal("audit-1", e.MessageId);
        Assert.StartsWith(fixture.Daemon.Endpoint + " peer ", e.Origin, StringComparison.Ordinal);
        Assert.Contains("10.0.0.1", e.DataJson, StringComparison.Ordinal);
        Assert.InRange((long)e.UnixMs, DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds());
        Assert.Equal(e.Sequence, page.LastSequence);
        Assert.False(page.HasNextAfterSequence);
    }

    [Fact]
    public void Event_list_pages_with_a_cursor()
    {
        var sg = Ids.New("sg");
        for (var i = 1; i <= 5; i++)
        {
            ApiAssert.Ok(_api.Call(Requests.SgMemberAdd(sg, $"10.0.0.{i}")));
        }

        var first = ApiAssert.Ok(_api.Call(Requests.EventList(new V0.EventListReq { SgId = sg, Limit = 3 }))).EventList;
        var second = ApiAssert.Ok(_api.Call(Requests.EventList(new V0.EventListReq { SgId = sg, Limit = 3, AfterSequence = first.NextAfterSequence }))).EventList;

        Assert.Equal(3, first.Event.Count);
        Assert.True(first.HasNextAfterSequence);
        Assert.True(second.Event.Count >= 2);
        Assert.True(second.Event[0].Sequence > first.Event[^1].Sequence);
    }

    [Fact]
    public void State_at_and_restore_to_bring_back_an_earlier_configuration()
    {
        var sg = Ids.New("sg");
        ApiAssert.Ok(_api.Call(Requests.SgAdd(sg, ["10.0.0.1"])));
        var before = LastSequence();
        ApiAssert.Ok(_api.Call(Requests.SgMemberAdd(sg, "10.0.0.2")));

        var state = ApiAssert.Ok(_api.Call(Requests.StateAt(before))).State;
        Assert.Equal(["10.0.0.1"], state.Sg.Single(s => s.Id == sg).Member);

        var restore = ApiAssert.Ok(_api.Call(Requests.RestoreTo(before))).Restore;
        Assert.Equal(before, restore.TargetSequence);
        Assert.True(restore.EventsAppended >= 1);
        Assert.Equal(["10.0.0.1"], _api.Call(Requests.SgMemberList(sg)).SgMemberList);
    }

    [Fact]
    public void Bad_event_requests_are_explained()
    {
        ApiAssert.Fails(_api.Call(Requests.EventList(new V0.EventListReq { NicId = "a", SgId = "b" })), "not both");
        ApiAssert.Fails(_api.Call(new V0.Request { StateAt = new V0.PointInTime() }), "state_at", "exactly one");
        ApiAssert.Fails(_api.Call(new V0.Request { RestoreTo = new V0.PointInTime { Sequence = 1, UnixMs = 1 } }), "restore_to", "exactly one");
    }
}
