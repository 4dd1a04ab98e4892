using System.Runtime.CompilerServices;
using Butterfly.Application.Ports;

namespace Butterfly.Application.Tests.Support;

/// <summary>
/// An event store in memory with the contract's semantics (gapless sequences from 1, one
/// timestamp per batch, atomic batches) plus switches to make appends or snapshots fail.
/// </summary>
internal sealed class InMemoryEventStore : IEventStore
{
    private readonly List<StoredEvent> _events = [];
    private readonly List<StoredSnapshot> _snapshots = [];

    public DateTimeOffset Now { get; set; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Advance of <see cref="Now"/> after every append, so batches get distinct times.</summary>
    public TimeSpan Tick { get; set; } = TimeSpan.FromSeconds(1);

    public bool FailAppends { get; set; }

    /// <summary>Stores the batch, then throws: a failure reported after the data became durable.</summary>
    public bool FailAfterAppend { get; set; }

    public bool FailSnapshots { get; set; }

    public int AppendCalls { get; private set; }

    public int SnapshotAttempts { get; private set; }

    public IReadOnlyList<StoredEvent> Events => _events;

    public IReadOnlyList<StoredSnapshot> Snapshots => _snapshots;

    public string Description => "memory:test";

    public Task<IReadOnlyList<StoredEvent>> AppendAsync(IReadOnlyList<NewEvent> batch, CancellationToken cancellationToken = default)
    {
        AppendCalls++;
        if (FailAppends)
            throw new IOException("disk full");
        var stored = batch.Select((e, i) => new StoredEvent(_events.Count + i + 1, Now, e.Type, e.AggregateKind, e.AggregateId, e.DataJson, e.Origin, e.MessageId) { Audit = e.Audit }).ToList();
        _events.AddRange(stored);
        Now += Tick;
        if (FailAfterAppend)
            throw new CommitOutcomeUnknownException("the connection dropped during COMMIT");
        return Task.FromResult<IReadOnlyList<StoredEvent>>(stored);
    }

    public async IAsyncEnumerable<StoredEvent> ReadAsync(long afterSequence, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.Yield();
        foreach (var e in _events.Where(e => e.Sequence > afterSequence).ToList())
            yield return e;
    }

    public Task<IReadOnlyList<StoredEvent>> QueryAsync(EventFilter filter, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<StoredEvent>>(_events
            .Where(e => filter.AggregateKind is null || e.AggregateKind == filter.AggregateKind)
            .Where(e => filter.AggregateId is null || e.AggregateId == filter.AggregateId)
            .Where(e => filter.Since is null || e.Timestamp >= filter.Since)
            .Where(e => filter.Until is null || e.Timestamp <= filter.Until)
            .Where(e => e.Sequence > filter.AfterSequence)
            .Where(e => filter.UntilSequence is null || e.Sequence <= filter.UntilSequence)
            .Take(filter.Limit)
            .ToList());

    public Task<long> LastSequenceAsync(CancellationToken cancellationToken = default) => Task.FromResult((long)_events.Count);

    public Task<long> SequenceAtAsync(DateTimeOffset time, CancellationToken cancellationToken = default) =>
        Task.FromResult(_events.LastOrDefault(e => e.Timestamp <= time)?.Sequence ?? 0);

    public Task SaveSnapshotAsync(StoredSnapshot snapshot, CancellationToken cancellationToken = default)
    {
        SnapshotAttempts++;
        if (FailSnapshots)
            throw new IOException("snapshot directory is read-only");
        _snapshots.Add(snapshot);
        return Task.CompletedTask;
    }

    public Task<StoredSnapshot?> LoadSnapshotAsync(long atOrBeforeSequence = long.MaxValue, CancellationToken cancellationToken = default) =>
        Task.FromResult(_snapshots.Where(s => s.Sequence <= atOrBeforeSequence).MaxBy(s => s.Sequence));

    /// <summary>Replaces a stored snapshot's payload, to simulate a damaged one.</summary>
    public void DamageSnapshots()
    {
        for (var i = 0; i < _snapshots.Count; i++)
            _snapshots[i] = _snapshots[i] with { DataJson = "{not json" };
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
