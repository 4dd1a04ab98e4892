namespace Butterfly.Application.Ports;

/// <summary>An event to append: a domain event already serialised, with who caused it.</summary>
/// <param name="Type">Event type name, e.g. "NicAdded".</param>
/// <param name="AggregateKind">"nic" or "sg".</param>
/// <param name="AggregateId">Id of the NIC or security group the event belongs to.</param>
/// <param name="DataJson">The event's payload as JSON.</param>
/// <param name="Origin">Client identity as seen by the server (e.g. "tcp://127.0.0.1:53211").</param>
/// <param name="MessageId">The request's message_id, when the client sent one.</param>
public sealed record NewEvent(
    string Type,
    string AggregateKind,
    string AggregateId,
    string DataJson,
    string Origin,
    string? MessageId);

/// <summary>An event as the log holds it. Sequences start at 1 and have no gaps.</summary>
public sealed record StoredEvent(
    long Sequence,
    DateTimeOffset Timestamp,
    string Type,
    string AggregateKind,
    string AggregateId,
    string DataJson,
    string Origin,
    string? MessageId);

/// <summary>The serialised configuration after event <see cref="Sequence"/> (inclusive).</summary>
public sealed record StoredSnapshot(long Sequence, DateTimeOffset Timestamp, string DataJson);

/// <summary>Filter of <see cref="IEventStore.QueryAsync"/>; null members do not filter.</summary>
public sealed record EventFilter(
    string? AggregateKind = null,
    string? AggregateId = null,
    DateTimeOffset? Since = null,
    DateTimeOffset? Until = null,
    long AfterSequence = 0,
    long? UntilSequence = null,
    int Limit = 100);

/// <summary>
/// The append-only event log behind every command. Implementations: the local file log
/// (default) and Marten on PostgreSQL; both pass the same contract tests.
/// Thread model: one writer (the API thread) at a time; reads may run concurrently.
/// </summary>
public interface IEventStore : IAsyncDisposable
{
    /// <summary>A short description for logs and status, e.g. "file:/var/lib/butterfly/events".</summary>
    string Description { get; }

    /// <summary>
    /// Appends the batch atomically (all or nothing, also across a crash) and returns only
    /// once it is durable. Assigns consecutive sequences and one timestamp to the batch.
    /// </summary>
    Task<IReadOnlyList<StoredEvent>> AppendAsync(IReadOnlyList<NewEvent> batch, CancellationToken cancellationToken = default);

    /// <summary>Every event with a sequence greater than <paramref name="afterSequence"/>, in order.</summary>
    IAsyncEnumerable<StoredEvent> ReadAsync(long afterSequence, CancellationToken cancellationToken = default);

    /// <summary>Events matching the filter, in sequence order, at most <see cref="EventFilter.Limit"/>.</summary>
    Task<IReadOnlyList<StoredEvent>> QueryAsync(EventFilter filter, CancellationToken cancellationToken = default);

    /// <summary>Sequence of the newest event, 0 when the log is empty.</summary>
    Task<long> LastSequenceAsync(CancellationToken cancellationToken = default);

    /// <summary>Sequence of the newest event appended at or before <paramref name="time"/>, 0 if none.</summary>
    Task<long> SequenceAtAsync(DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>Stores a snapshot; older snapshots may be kept or dropped.</summary>
    Task SaveSnapshotAsync(StoredSnapshot snapshot, CancellationToken cancellationToken = default);

    /// <summary>The newest snapshot whose sequence is at most <paramref name="atOrBeforeSequence"/>, or null.</summary>
    Task<StoredSnapshot?> LoadSnapshotAsync(long atOrBeforeSequence = long.MaxValue, CancellationToken cancellationToken = default);
}

/// <summary>
/// An append whose outcome the store could not establish in time: the batch may or may not
/// be durable (e.g. the connection dropped during COMMIT and the database could not be
/// reached again before the deadline). The store finds out before it takes the next append,
/// and <see cref="IEventStore.LastSequenceAsync"/> then tells (it reads the store, not a
/// cached value).
/// </summary>
public sealed class CommitOutcomeUnknownException(string message, Exception? inner = null) : IOException(message, inner);
