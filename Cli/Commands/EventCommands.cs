using System.Globalization;
using System.Text;
using System.Text.Json;
using Butterfly.Cli.CommandLine;
using Butterfly.Cli.Events;
using Butterfly.Cli.TextFormat;
using Butterfly.Wire;
using Event = Butterfly.Wire.MessageV0.Types.Event;
using Request = Butterfly.Wire.MessageV0.Types.Request;

namespace Butterfly.Cli.Commands;

/// <summary>
/// The event-log commands (protocol revision 7): <c>events</c> lists what changed, page by
/// page, with who asked for it and which request it was (revision 13); <c>state --at</c> shows
/// the configuration as it was (as a replayable dump, or JSON); <c>restore --to</c> brings the
/// live configuration back to that point. <c>--host</c> reads another host's log in a store the
/// fleet shares (revision 13).
/// </summary>
internal static class EventCommands
{
    /// <summary>Events asked per request; the daemon caps pages at 10000.</summary>
    private const uint PageSize = 1000;

    private static readonly JsonWriterOptions JsonOptions = new() { Indented = true };

    public static ICliCommand Events(ArgScanner s, DateTimeOffset now)
    {
        if (Words.WantsUsage(s, "events", out var usage))
            return usage;
        var filter = new MessageV0.Types.EventListReq();
        ulong? limit = null;
        var json = false;
        while (s.TryNext(out var word))
        {
            switch (word)
            {
                case "--nic": filter.NicId = s.Value(word); break;
                case "--sg": filter.SgId = s.Value(word); break;
                case "--host": filter.HostId = s.Value(word); break;
                case "--since":
                    var since = Point(s, word, now);
                    if (since.Sequence is { } first)
                    {
                        if (first > 0)
                            filter.AfterSequence = first - 1;
                    }
                    else
                    {
                        filter.SinceUnixMs = since.UnixMs!.Value;
                    }
                    break;
                case "--until":
                    var until = Point(s, word, now);
                    if (until.Sequence is { } last)
                        filter.UntilSequence = last;
                    else
                        filter.UntilUnixMs = until.UnixMs!.Value;
                    break;
                case "--limit": limit = Words.UInt(s, word, uint.MaxValue, "a number of events"); break;
                case "--json": json = true; break;
                default: throw s.Unexpected(word);
            }
        }
        if (filter.HasNicId && filter.HasSgId)
            throw s.Error("give --nic or --sg, not both");
        return new RunCommand(ctx => ListEvents(ctx, filter, limit, json));
    }

    public static ICliCommand State(ArgScanner s, DateTimeOffset now)
    {
        if (Words.WantsUsage(s, "state", out var usage))
            return usage;
        LogPoint? at = null;
        string? host = null;
        var json = false;
        while (s.TryNext(out var word))
        {
            switch (word)
            {
                case "--at": at = Point(s, word, now); break;
                case "--host": host = s.Value(word); break;
                case "--json": json = true; break;
                default: throw s.Unexpected(word);
            }
        }
        if (at is null)
            throw s.Error("missing --at TIME|SEQ");
        var point = ToPointInTime(at.Value);
        if (host is not null)
            point.HostId = host;
        var request = new Request { StateAt = point };
        return new RunCommand(ctx =>
        {
            var reply = ctx.Api.Call(Requests.Of(request));
            if (reply is null)
                return 1;
            var state = Requests.Response(reply).State;
            if (state is null)
            {
                ctx.Err.WriteLine("no state received (does the daemon keep an event log?)");
                return 1;
            }
            if (json)
            {
                ctx.Out.WriteLine(Json(w => ProtoJson.Write(w, state)));
                return 0;
            }
            var of = state.HasHostId ? $" of host {state.HostId}" : "";
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"# state{of} at sequence {state.Sequence} ({FormatTime(state.UnixMs)}); `butterfly request` replays it"));
            ctx.Out.Write(TextFormatPrinter.Print(DumpCommand.Build(state.Sg, state.Nic)));
            return 0;
        });
    }

    public static ICliCommand Restore(ArgScanner s, DateTimeOffset now)
    {
        if (Words.WantsUsage(s, "restore", out var usage))
            return usage;
        LogPoint? to = null;
        while (s.TryNext(out var word))
        {
            if (word != "--to")
                throw s.Unexpected(word);
            to = Point(s, word, now);
        }
        if (to is null)
            throw s.Error("missing --to TIME|SEQ");
        var request = new Request { RestoreTo = ToPointInTime(to.Value) };
        return new RunCommand(ctx =>
        {
            var reply = ctx.Api.Call(Requests.Of(request));
            if (reply is null)
                return 1;
            var restored = Requests.Response(reply).Restore;
            if (restored is null)
            {
                ctx.Err.WriteLine("no restore result received (does the daemon keep an event log?)");
                return 1;
            }
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"restored to sequence {restored.TargetSequence}: {restored.EventsAppended} events appended, log now at sequence {restored.LastSequence}"));
            return 0;
        });
    }

    private static int ListEvents(CliContext ctx, MessageV0.Types.EventListReq filter, ulong? limit, bool json)
    {
        var events = new List<Event>();
        string? host = null;
        var page = filter.Clone();
        while (limit is null || (ulong)events.Count < limit)
        {
            var remaining = limit is null ? PageSize : (uint)Math.Min(PageSize, limit.Value - (ulong)events.Count);
            page.Limit = remaining;
            var reply = ctx.Api.Call(Requests.Of(new Request { EventList = page }));
            if (reply is null)
                return 1;
            var list = Requests.Response(reply).EventList;
            if (list is null)
            {
                ctx.Err.WriteLine("no event list received (does the daemon keep an event log?)");
                return 1;
            }
            events.AddRange(list.Event.Take((int)remaining));
            host = list.HasHostId ? list.HostId : null;
            // Stop when the daemon says there is no more, or if its cursor would not move.
            if (!list.HasNextAfterSequence || (page.HasAfterSequence && list.NextAfterSequence <= page.AfterSequence))
                break;
            page.AfterSequence = list.NextAfterSequence;
        }

        if (json)
        {
            ctx.Out.WriteLine(Json(w =>
            {
                w.WriteStartArray();
                foreach (var e in events)
                    WriteEventJson(w, e, host);
                w.WriteEndArray();
            }));
        }
        else
        {
            foreach (var e in events)
                ctx.Out.WriteLine(FormatEvent(e));
        }
        return 0;
    }

    /// <summary>
    /// "SEQ TIME TYPE KIND/ID origin=… message_id=… cause=… address=… key=… DATA", "-" for what
    /// is unknown (events recorded before revision 13 have no cause, address or key).
    /// </summary>
    internal static string FormatEvent(Event e) => string.Create(CultureInfo.InvariantCulture,
        $"{e.Sequence} {FormatTime(e.UnixMs)} {Dash(e.Type)} {Dash(e.AggregateKind)}/{Dash(e.AggregateId)} origin={Dash(e.Origin)} message_id={Dash(e.MessageId)} " +
        $"cause={Dash(e.Cause).Replace(' ', ':')} address={Dash(e.PeerAddress)} key={Dash(e.ClientKey)} {Dash(e.DataJson)}");

    private static void WriteEventJson(Utf8JsonWriter w, Event e, string? host)
    {
        w.WriteStartObject();
        w.WriteNumber("sequence", e.Sequence);
        w.WriteString("time", FormatTime(e.UnixMs));
        w.WriteNumber("unix_ms", e.UnixMs);
        w.WriteString("type", e.Type);
        w.WriteString("aggregate_kind", e.AggregateKind);
        w.WriteString("aggregate_id", e.AggregateId);
        w.WriteString("origin", e.Origin);
        w.WriteString("message_id", e.MessageId);
        WriteOptional(w, "cause", e.HasCause ? e.Cause : null);
        WriteOptional(w, "peer_address", e.HasPeerAddress ? e.PeerAddress : null);
        WriteOptional(w, "client_key", e.HasClientKey ? e.ClientKey : null);
        WriteOptional(w, "host_id", host);
        w.WritePropertyName("data");
        // The change is JSON already: embed it as such, or as a string if it is not.
        if (IsJson(e.DataJson))
            w.WriteRawValue(e.DataJson);
        else
            w.WriteStringValue(e.DataJson);
        w.WriteEndObject();
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
            w.WriteNull(name);
        else
            w.WriteString(name, value);
    }

    private static bool IsJson(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return false;
        try
        {
            using var _ = JsonDocument.Parse(text);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Json(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, JsonOptions))
            write(writer);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static string FormatTime(ulong unixMs) =>
        unixMs > (ulong)DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()
            ? unixMs.ToString(CultureInfo.InvariantCulture)
            : DateTimeOffset.FromUnixTimeMilliseconds((long)unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Dash(string s) => string.IsNullOrEmpty(s) ? "-" : s;

    private static LogPoint Point(ArgScanner s, string option, DateTimeOffset now)
    {
        var text = s.Value(option);
        if (!TimeSpec.TryParse(text, now, out var point, out var error))
            throw s.Error($"{option}: {error}");
        return point;
    }

    private static MessageV0.Types.PointInTime ToPointInTime(LogPoint p) => p.Sequence is { } seq
        ? new MessageV0.Types.PointInTime { Sequence = seq }
        : new MessageV0.Types.PointInTime { UnixMs = p.UnixMs!.Value };
}
