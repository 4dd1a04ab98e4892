using System.Diagnostics;
using Butterfly.Application.Ports;

namespace Butterfly.Api.Zmq.Metrics;

/// <summary>
/// The event store as the daemon uses it when metrics are on: every call goes to
/// <paramref name="inner"/> unchanged; appends are timed (<see cref="DaemonMetrics.ObserveAppend"/>)
/// and the newest snapshot loaded or saved is remembered for the snapshot-age gauge
/// (<see cref="DaemonMetrics.SnapshotSeen"/>). The daemon still disposes the inner store itself.
/// </summary>
internal sealed class MeasuredEventStore(IEventStore inner, DaemonMetrics metrics) : IEventStore
{
    public string Description => inner.Description;

    public async Task<IReadOnlyList<StoredEvent>> AppendAsync(IReadOnlyList<NewEvent> batch, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var failed = true;
        try
        {
            var stored = await inner.AppendAsync(batch, cancellationToken).ConfigureAwait(false);
            failed = false;
            return stored;
        }
        finally
        {
            metrics.ObserveAppend(Stopwatch.GetElapsedTime(started), batch.Count, failed);
        }
    }

    public IAsyncEnumerable<StoredEvent> ReadAsync(long afterSequence, CancellationToken cancellationToken = default) =>
        inner.ReadAsync(afterSequence, cancellationToken);

    public Task<IReadOnlyList<StoredEvent>> QueryAsync(EventFilter filter, CancellationToken cancellationToken = default) =>
        inner.QueryAsync(filter, cancellationToken);

    public Task<long> LastSequenceAsync(CancellationToken cancellationToken = default) => inner.LastSequenceAsync(cancellationToken);

    public Task<long> SequenceAtAsync(DateTimeOffset time, CancellationToken cancellationToken = default) =>
        inner.SequenceAtAsync(time, cancellationToken);

    public async Task SaveSnapshotAsync(StoredSnapshot snapshot, CancellationToken cancellationToken = default)
    {
        await inner.SaveSnapshotAsync(snapshot, cancellationToken).ConfigureAwait(false);
        metrics.SnapshotSeen(snapshot.Sequence, snapshot.Timestamp);
    }

    public async Task<StoredSnapshot?> LoadSnapshotAsync(long atOrBeforeSequence = long.MaxValue, CancellationToken cancellationToken = default)
    {
        var snapshot = await inner.LoadSnapshotAsync(atOrBeforeSequence, cancellationToken).ConfigureAwait(false);
        if (snapshot is not null)
        {
            metrics.SnapshotSeen(snapshot.Sequence, snapshot.Timestamp);
        }
        return snapshot;
    }

    /// <summary>Nothing to release: the daemon disposes the inner store itself, after the API has stopped.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
