using System.Text.Json;
using Butterfly.Cli.Tests.Support;
using Butterfly.Cli.TextFormat;
using Butterfly.Wire;
using static Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Cli.Tests.Commands;

public class EventCommandTests
{
    private static readonly ulong NowMs = (ulong)Client.Now.ToUnixTimeMilliseconds();

    private static Event Ev(ulong seq) => new()
    {
        Sequence = seq,
        UnixMs = 1764151200123 + seq,
        Type = "NicAdded",
        AggregateKind = "nic",
        AggregateId = "n" + seq,
        DataJson = "{\"vni\":" + seq + "}",
        Origin = "tcp://127.0.0.1:4242",
        MessageId = seq % 2 == 0 ? "" : "m" + seq,
    };

    /// <summary>A log of <paramref name="count"/> events served in pages of at most <paramref name="pageSize"/>.</summary>
    private static Func<Messages, Messages> Log(int count, uint pageSize) => Client.Ok((req, res) =>
    {
        var q = req.EventList;
        var limit = Math.Min(q.Limit, pageSize);
        var matching = Enumerable.Range(1, count).Select(i => (ulong)i).Where(s => s > q.AfterSequence).ToList();
        var page = matching.Take((int)limit).ToList();
        res.EventList = new EventListRes { LastSequence = (ulong)count };
        res.EventList.Event.AddRange(page.Select(Ev));
        if (matching.Count > page.Count)
            res.EventList.NextAfterSequence = page[^1];
    });

    [Fact]
    public void Events_show_who_and_which_request_caused_them_and_host_asks_for_another_hosts_log()
    {
        var r = Client.Run(Client.Ok((req, res) =>
        {
            res.EventList = new EventListRes { LastSequence = 1, HostId = req.EventList.HostId };
            var e = Ev(1);
            e.Cause = "restore_to 2";
            e.PeerAddress = "10.0.0.7";
            e.ClientKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
            res.EventList.Event.Add(e);
        }), "events", "--host", "hv-2");
        Assert.Equal(0, r.Code);
        Assert.Equal("hv-2", Assert.Single(r.Sent).EventList.HostId);
        Assert.Equal("1 2025-11-26T10:00:00.124Z NicAdded nic/n1 origin=tcp://127.0.0.1:4242 message_id=m1 cause=restore_to:2 address=10.0.0.7 " +
            "key=rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7 {\"vni\":1}", r.Out.TrimEnd('\n'));
    }

    [Fact]
    public void Events_prints_one_line_per_event_through_every_page()
    {
        var r = Client.Run(Log(5, 2), "events");
        Assert.Equal(0, r.Code);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);
        Assert.Equal("1 2025-11-26T10:00:00.124Z NicAdded nic/n1 origin=tcp://127.0.0.1:4242 message_id=m1 cause=- address=- key=- {\"vni\":1}", lines[0]);
        Assert.Equal("2 2025-11-26T10:00:00.125Z NicAdded nic/n2 origin=tcp://127.0.0.1:4242 message_id=- cause=- address=- key=- {\"vni\":2}", lines[1]);
        Assert.Equal([0UL, 2, 4], r.Sent.Select(s => s.EventList.AfterSequence));
    }

    [Fact]
    public void Events_stops_at_the_limit()
    {
        var r = Client.Run(Log(50, 4), "events", "--limit", "6");
        Assert.Equal(6, r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal([6u, 2u], r.Sent.Select(s => s.EventList.Limit));
    }

    [Fact]
    public void Events_sends_the_filters()
    {
        var r = Client.Run(Log(0, 10), "events", "--nic", "n1", "--since", "-15m", "--until", "2026-11-26T10:00:00Z");
        var q = r.Sent.Single().EventList;
        Assert.Equal("n1", q.NicId);
        Assert.False(q.HasSgId);
        Assert.Equal(NowMs - (15 * 60 * 1000), q.SinceUnixMs);
        Assert.Equal(NowMs, q.UntilUnixMs);
        var bySeq = Client.Run(Log(0, 10), "events", "--sg", "g", "--since", "10", "--until", "20").Sent.Single().EventList;
        Assert.Equal(("g", 9UL, 20UL), (bySeq.SgId, bySeq.AfterSequence, bySeq.UntilSequence));
        Assert.False(bySeq.HasSinceUnixMs);
    }

    [Fact]
    public void Events_json_is_an_array_with_the_data_embedded()
    {
        var r = Client.Run(Log(2, 10), "events", "--json");
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal(2, doc.RootElement.GetArrayLength());
        var first = doc.RootElement[0];
        Assert.Equal(1UL, first.GetProperty("sequence").GetUInt64());
        Assert.Equal("2025-11-26T10:00:00.124Z", first.GetProperty("time").GetString());
        Assert.Equal(1, first.GetProperty("data").GetProperty("vni").GetInt32());
        Assert.Equal("m1", first.GetProperty("message_id").GetString());
    }

    [Fact]
    public void Events_against_a_daemon_without_event_log_fails()
    {
        var r = Client.Run("events");
        Assert.Equal(1, r.Code);
        Assert.Contains("no event list received", r.Err, StringComparison.Ordinal);
    }

    private static readonly StateRes State = new()
    {
        Sequence = 7,
        UnixMs = 1764151200000,
        Nic = { new Nic { Id = "n", Mac = "m", Vni = 1, Type = Nic.Types.Type.Tap } },
        Sg = { new Sg { Id = "g", Member = { "1.2.3.4" } } },
    };

    [Fact]
    public void State_prints_a_replayable_dump()
    {
        var r = Client.Run(Client.Ok((_, res) => res.State = State), "state", "--at", "7");
        Assert.Equal(0, r.Code);
        Assert.Equal(new PointInTime { Sequence = 7 }, r.Sent.Single().StateAt);
        Assert.StartsWith("# state at sequence 7 (2025-11-26T10:00:00.000Z)", r.Out, StringComparison.Ordinal);
        var replay = (Messages)TextFormatParser.Parse<Messages>(r.Out).Message!;
        Assert.Equal(State.Sg[0], replay.Messages_[0].Message0.Request.SgAdd);
        Assert.Equal(State.Nic[0], replay.Messages_[1].Message0.Request.NicAdd);
    }

    [Fact]
    public void State_json()
    {
        var r = Client.Run(Client.Ok((_, res) => res.State = State), "state", "--at", "-1h", "--json");
        Assert.Equal(new PointInTime { UnixMs = NowMs - 3600000 }, r.Sent.Single().StateAt);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal(7, doc.RootElement.GetProperty("sequence").GetInt32());
        Assert.Equal("TAP", doc.RootElement.GetProperty("nic")[0].GetProperty("type").GetString());
        Assert.Equal("1.2.3.4", doc.RootElement.GetProperty("sg")[0].GetProperty("member")[0].GetString());
    }

    [Fact]
    public void Restore_prints_what_it_did()
    {
        var r = Client.Run(Client.Ok((_, res) => res.Restore = new RestoreRes { TargetSequence = 3, EventsAppended = 2, LastSequence = 9 }), "restore", "--to", "2026-11-26T09:00:00Z");
        Assert.Equal(0, r.Code);
        Assert.Equal(new PointInTime { UnixMs = NowMs - 3600000 }, r.Sent.Single().RestoreTo);
        Assert.Equal("restored to sequence 3: 2 events appended, log now at sequence 9\n", r.Out);
    }
}
