using Butterfly.Application.Commands;
using Butterfly.Application.Configuration;
using Butterfly.Application.Ports;
using Mediator;

namespace Butterfly.Application.EventLog;

// The event log extensions (protocol revision 7): audit listing, state at a point in time,
// and restore (which appends events; history is never rewritten).

public sealed class ListEventsHandler(IEventStore events) : IQueryHandler<ListEvents, Outcome<EventPage>>
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 10_000;

    public async ValueTask<Outcome<EventPage>> Handle(ListEvents query, CancellationToken cancellationToken)
    {
        var filter = query.Filter ?? new EventFilter();
        if (filter.Limit < 0)
            return Outcome<EventPage>.Failure($"event list: limit {filter.Limit} is negative: ask for 1..{MaxLimit} events, or 0 for {DefaultLimit}");
        if (filter.Limit > MaxLimit)
            return Outcome<EventPage>.Failure($"event list: limit {filter.Limit} is too large: at most {MaxLimit} events per page");
        if (filter.AfterSequence < 0)
            return Outcome<EventPage>.Failure($"event list: after sequence {filter.AfterSequence} is negative");
        if (filter.Since is { } since && filter.Until is { } until && since > until)
            return Outcome<EventPage>.Failure($"event list: time range is empty: since {since:O} is after until {until:O}");
        if (filter.AggregateKind is not null and not "nic" and not "sg")
            return Outcome<EventPage>.Failure($"event list: aggregate kind '{filter.AggregateKind}' is unknown: use 'nic' or 'sg'");

        var host = await HostLogs.ResolveAsync(events, query.Host, "event list", cancellationToken).ConfigureAwait(false);
        if (!host.IsSuccess)
            return Outcome<EventPage>.Failure(host.Error!);
        var (log, hostId) = host.Value;

        // One more than asked tells whether another page exists without a second query.
        var limit = filter.Limit == 0 ? DefaultLimit : filter.Limit;
        var found = await log.QueryAsync(filter with { Limit = limit + 1 }, cancellationToken).ConfigureAwait(false);
        var last = await log.LastSequenceAsync(cancellationToken).ConfigureAwait(false);
        var page = found.Count > limit ? found.Take(limit).ToList() : found;
        long? next = found.Count > limit ? page[^1].Sequence : null;
        return Outcome<EventPage>.Success(new EventPage(page, next, last, hostId));
    }
}

public sealed class GetStateAtHandler(ConfigurationStore store, IEventStore events) : IQueryHandler<GetStateAt, Outcome<ConfigurationView>>
{
    public async ValueTask<Outcome<ConfigurationView>> Handle(GetStateAt query, CancellationToken cancellationToken)
    {
        var host = await HostLogs.ResolveAsync(events, query.Host, "state at", cancellationToken).ConfigureAwait(false);
        if (!host.IsSuccess)
            return Outcome<ConfigurationView>.Failure(host.Error!);
        var (log, hostId) = host.Value;
        // This host's log ends where the live configuration is durable; another host's where its daemon last wrote.
        var last = ReferenceEquals(log, events) ? store.LastSequence : await log.LastSequenceAsync(cancellationToken).ConfigureAwait(false);
        var target = await PointInTimeResolver.ResolveAsync(query.At, last, log, "state at", cancellationToken).ConfigureAwait(false);
        if (!target.IsSuccess)
            return Outcome<ConfigurationView>.Failure(target.Error!);
        var (state, timestamp) = await store.StateAtAsync(log, target.Value, cancellationToken).ConfigureAwait(false);
        return Outcome<ConfigurationView>.Success(
            new ConfigurationView(target.Value, timestamp, [.. state.Nics.Values], [.. state.Groups.Values], hostId));
    }
}

/// <summary>
/// restore to: computes the configuration at the target, and stages the events that turn the
/// live configuration into it, with the command's origin and the cause "restore_to TARGET". They
/// are committed like any other command's events, so the data path follows and the log shows who
/// restored what, and to which point.
/// </summary>
public sealed class RestoreToHandler(ConfigurationStore store, IEventStore events) : ICommandHandler<RestoreTo, Outcome<RestoreSummary>>
{
    public async ValueTask<Outcome<RestoreSummary>> Handle(RestoreTo command, CancellationToken cancellationToken)
    {
        if (command.Host is { } host && host != events.HostId)
            return Outcome<RestoreSummary>.Failure(
                $"restore to: host '{host}' is not this daemon's ({events.HostId ?? "unknown"}): a daemon restores its own host only; host_id is for state_at");
        var target = await PointInTimeResolver.ResolveAsync(command.At, store.LastSequence, events, "restore to", cancellationToken).ConfigureAwait(false);
        if (!target.IsSuccess)
            return Outcome<RestoreSummary>.Failure(target.Error!);
        var (state, _) = await store.StateAtAsync(target.Value, cancellationToken).ConfigureAwait(false);

        // nic_add refuses a MAC already used in its VNI, so a state of a log written since
        // holds no such pair; one written before may. Restoring it would acknowledge a NIC
        // whose frames the data path cannot switch.
        if (state.SharedMac() is { } shared)
        {
            var (first, second) = shared;
            return Outcome<RestoreSummary>.Failure(
                $"restore to: at sequence {target.Value} NIC '{first.Id}' and NIC '{second.Id}' share mac {first.Mac} in vni {first.Vni} "
                + "(accepted before butterflyd refused that): the data path could switch the frames of only one of them; restore to another point");
        }

        var diff = store.State.Diff(state);
        // The log shows these events as the restore they are, with its target, not as plain edits.
        store.Stage(diff, command.Origin with { Cause = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"restore_to {target.Value}") });
        return Outcome<RestoreSummary>.Success(new RestoreSummary(target.Value, diff.Count, store.LastSequence + store.StagedEventCount));
    }
}

internal static class PointInTimeResolver
{
    /// <summary>The sequence a point in time names in <paramref name="events"/>: checked against its durable end, <paramref name="last"/>.</summary>
    public static async Task<Outcome<long>> ResolveAsync(
        PointInTime? at, long last, IEventLog events, string request, CancellationToken cancellationToken)
    {
        if (at is null || (at.Sequence is null) == (at.Time is null))
            return Outcome<long>.Failure($"{request}: give exactly one of a sequence number or a time");
        if (at.Sequence is { } sequence)
        {
            return sequence >= 0 && sequence <= last
                ? Outcome<long>.Success(sequence)
                : Outcome<long>.Failure($"{request}: sequence {sequence} is out of range: the log holds events 0..{last} (0 is the empty configuration)");
        }

        // Events staged but not yet committed are not in the log; never go past the durable end.
        var found = await events.SequenceAtAsync(at.Time!.Value, cancellationToken).ConfigureAwait(false);
        return Outcome<long>.Success(Math.Min(found, last));
    }
}

/// <summary>Which host's log a request reads: this daemon's, or another host's in a store the fleet shares.</summary>
internal static class HostLogs
{
    public static async Task<Outcome<(IEventLog Log, string? HostId)>> ResolveAsync(
        IEventStore events, string? host, string request, CancellationToken cancellationToken)
    {
        if (host is null || host == events.HostId)
            return Outcome<(IEventLog, string?)>.Success((events, events.HostId));
        if (!events.SharedByHosts)
            return Outcome<(IEventLog, string?)>.Failure(
                $"{request}: host '{host}' is not this daemon's ({events.HostId ?? "unknown"}), and its event store {events.Description} holds " +
                "this host's events only; other hosts' logs are read where the fleet shares a PostgreSQL store");
        var log = await events.OpenHostLogAsync(host, cancellationToken).ConfigureAwait(false);
        return log is null
            ? Outcome<(IEventLog, string?)>.Failure($"{request}: no host '{host}' in the event store {events.Description}")
            : Outcome<(IEventLog, string?)>.Success((log, host));
    }
}
