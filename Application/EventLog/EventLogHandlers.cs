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

        // One more than asked tells whether another page exists without a second query.
        var limit = filter.Limit == 0 ? DefaultLimit : filter.Limit;
        var found = await events.QueryAsync(filter with { Limit = limit + 1 }, cancellationToken).ConfigureAwait(false);
        var last = await events.LastSequenceAsync(cancellationToken).ConfigureAwait(false);
        var page = found.Count > limit ? found.Take(limit).ToList() : found;
        long? next = found.Count > limit ? page[^1].Sequence : null;
        return Outcome<EventPage>.Success(new EventPage(page, next, last));
    }
}

public sealed class GetStateAtHandler(ConfigurationStore store, IEventStore events) : IQueryHandler<GetStateAt, Outcome<ConfigurationView>>
{
    public async ValueTask<Outcome<ConfigurationView>> Handle(GetStateAt query, CancellationToken cancellationToken)
    {
        var target = await PointInTimeResolver.ResolveAsync(query.At, store, events, "state at", cancellationToken).ConfigureAwait(false);
        if (!target.IsSuccess)
            return Outcome<ConfigurationView>.Failure(target.Error!);
        var (state, timestamp) = await store.StateAtAsync(target.Value, cancellationToken).ConfigureAwait(false);
        return Outcome<ConfigurationView>.Success(
            new ConfigurationView(target.Value, timestamp, [.. state.Nics.Values], [.. state.Groups.Values]));
    }
}

/// <summary>
/// restore to: computes the configuration at the target, and stages the events that turn the
/// live configuration into it, with the command's origin. They are committed like any other
/// command's events, so the data path follows and the log shows who restored what.
/// </summary>
public sealed class RestoreToHandler(ConfigurationStore store, IEventStore events) : ICommandHandler<RestoreTo, Outcome<RestoreSummary>>
{
    public async ValueTask<Outcome<RestoreSummary>> Handle(RestoreTo command, CancellationToken cancellationToken)
    {
        var target = await PointInTimeResolver.ResolveAsync(command.At, store, events, "restore to", cancellationToken).ConfigureAwait(false);
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
        store.Stage(diff, command.Origin);
        return Outcome<RestoreSummary>.Success(new RestoreSummary(target.Value, diff.Count, store.LastSequence + store.StagedEventCount));
    }
}

internal static class PointInTimeResolver
{
    /// <summary>The sequence a point in time names: checked against the durable log.</summary>
    public static async Task<Outcome<long>> ResolveAsync(
        PointInTime? at, ConfigurationStore store, IEventStore events, string request, CancellationToken cancellationToken)
    {
        if (at is null || (at.Sequence is null) == (at.Time is null))
            return Outcome<long>.Failure($"{request}: give exactly one of a sequence number or a time");
        var last = store.LastSequence;
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
