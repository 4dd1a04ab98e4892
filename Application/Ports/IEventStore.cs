namespace Butterfly.Application.Ports;

/// <summary>
/// What the log records about the request behind an event, beyond its connection and message
/// id (protocol revision 13). Events written before carry none; any member may be absent.
/// </summary>
/// <param name="Cause">The request that caused it: its name in the protocol ("nic_add"), a restore with its target ("restore_to 2").</param>
/// <param name="PeerAddress">The client's TCP peer address (IP), as the connection told.</param>
/// <param name="ClientKey">The client's CURVE public key (40 Z85 characters), when the API runs CURVE.</param>
public sealed record EventAudit(string? Cause, string? PeerAddress, string? ClientKey);

/// <summary>An event to append: a domain event already serialised, with who caused it.</summary>
/// <param name="Type">Event type name, e.g. "NicAdded".</param>
/// <param name="AggregateKind">"nic" or "sg".</param>
/// <param name="AggregateId">Id of the NIC or security group the event belongs to.</param>
/// <param name="DataJson">The event's payload as JSON.</param>
/// <param name="Origin">The connection as the server saw it (e.g. "tcp://0.0.0.0:9999 peer 00800041a7").</param>
/// <param name="MessageId">The request's message_id, when the client sent one.</param>
public sealed record NewEvent(
    string Type,
    string AggregateKind,
    string AggregateId,
    string DataJson,
    string Origin,
    string? MessageId)
{
    /// <summary>The request's name, the client's address and key; null when none is known.</summary>
    public EventAudit? Audit { get; init; }
}

/// <summary>An event as the log holds it. Sequences start at 1 and have no gaps.</summary>
public sealed record StoredEvent(
    long Sequence,
    DateTimeOffset Timestamp,
    string Type,
    string AggregateKind,
    string AggregateId,
    string DataJson,
    string Origin,
    string? MessageId)
{
    /// <summary>The request's name, the client's address and key; null on events written without them.</summary>
    public EventAudit? Audit { get; init; }
}

/// <summary>The serialised configuration after event <see cref="Sequence"/> (inclusive).</summary>
public sealed record StoredSnapshot(long Sequence, DateTimeOffset Timestamp, string DataJson);

/// <summary>Filter of <see cref="IEventLog.QueryAsync"/>; null members do not filter.</summary>
public sealed record EventFilter(
    string? AggregateKind = null,
    string? AggregateId = null,
    DateTimeOffset? Since = null,
    DateTimeOffset? Until = null,
    long AfterSequence = 0,
    long? UntilSequence = null,
    int Limit = 100);

/// <summary>
/// The read side of one host's event log: this daemon's (<see cref="IEventStore"/>), or another
/// host's in a store the fleet shares (<see cref="IEventStore.OpenHostLogAsync"/>). Reads may run
/// concurrently.
/// </summary>
public interface IEventLog
{
    /// <summary>Every event with a sequence greater than <paramref name="afterSequence"/>, in order.</summary>
    IAsyncEnumerable<StoredEvent> ReadAsync(long afterSequence, CancellationToken cancellationToken = default);

    /// <summary>Events matching the filter, in sequence order, at most <see cref="EventFilter.Limit"/>.</summary>
    Task<IReadOnlyList<StoredEvent>> QueryAsync(EventFilter filter, CancellationToken cancellationToken = default);

    /// <summary>Sequence of the newest event, 0 when the log is empty.</summary>
    Task<long> LastSequenceAsync(CancellationToken cancellationToken = default);

    /// <summary>Sequence of the newest event appended at or before <paramref name="time"/>, 0 if none.</summary>
    Task<long> SequenceAtAsync(DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>The newest snapshot whose sequence is at most <paramref name="atOrBeforeSequence"/>, or null.</summary>
    Task<StoredSnapshot?> LoadSnapshotAsync(long atOrBeforeSequence = long.MaxValue, CancellationToken cancellationToken = default);
}

/// <summary>
/// The append-only event log behind every command. Implementations: the local file log
/// (default) and Marten on PostgreSQL; both pass the same contract tests.
/// Thread model: one writer (the API thread) at a time; reads may run concurrently.
/// </summary>
public interface IEventStore : IEventLog, IAsyncDisposable
{
    /// <summary>A short description for logs and status, e.g. "file:/var/lib/butterfly/events".</summary>
    string Description { get; }

    /// <summary>The host whose log this is (--host-id), or null when the store was not told.</summary>
    string? HostId => null;

    /// <summary>
    /// Appends the batch atomically (all or nothing, also across a crash) and returns only
    /// once it is durable. Assigns consecutive sequences and one timestamp to the batch.
    /// </summary>
    Task<IReadOnlyList<StoredEvent>> AppendAsync(IReadOnlyList<NewEvent> batch, CancellationToken cancellationToken = default);

    /// <summary>Stores a snapshot; older snapshots may be kept or dropped.</summary>
    Task SaveSnapshotAsync(StoredSnapshot snapshot, CancellationToken cancellationToken = default);

    /// <summary>
    /// Another host's log, read-only, where hosts share the store (PostgreSQL); null when the
    /// store has no such host, or holds one host only (the file log).
    /// </summary>
    Task<IEventLog?> OpenHostLogAsync(string hostId, CancellationToken cancellationToken = default) => Task.FromResult<IEventLog?>(null);

    /// <summary>Whether the store can hold other hosts' logs (a PostgreSQL store a fleet may share).</summary>
    bool SharedByHosts => false;
}

/// <summary>
/// An append whose outcome the store could not establish in time: the batch may or may not
/// be durable (e.g. the connection dropped during COMMIT and the database could not be
/// reached again before the deadline). The store finds out before it takes the next append,
/// and <see cref="IEventLog.LastSequenceAsync"/> then tells (it reads the store, not a
/// cached value).
/// </summary>
public sealed class CommitOutcomeUnknownException(string message, Exception? inner = null) : IOException(message, inner);
