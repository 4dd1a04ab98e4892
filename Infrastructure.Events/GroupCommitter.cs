using System.Threading.Channels;
using Butterfly.Application.Ports;

namespace Butterfly.Infrastructure.Events;

/// <summary>
/// Group commit: callers queue their batches, and one writer loop takes everything queued so
/// far and makes it durable with a single write + flush (file) or a single transaction
/// (PostgreSQL). While one group is being flushed the next one builds up, so the cost of a
/// flush is shared by every caller that arrived meanwhile; that is how many concurrent
/// commands get acknowledged per second with only one fsync per group.
/// </summary>
/// <remarks>
/// The commit delegate receives the batches in queue order and must return one result per
/// batch (same order) once all of them are durable, or throw if none is; an exception fails
/// every batch of the group. Batches are never split across groups.
/// </remarks>
internal sealed class GroupCommitter : IAsyncDisposable
{
    /// <summary>Bounds one group so a flood of callers cannot build a single unbounded write.</summary>
    internal const int MaxGroupEvents = 8192;

    internal const long MaxGroupBytes = 16L << 20;

    private readonly Channel<PendingAppend> _queue = Channel.CreateUnbounded<PendingAppend>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = false });

    private readonly Func<IReadOnlyList<IReadOnlyList<NewEvent>>, Task<IReadOnlyList<StoredEvent>[]>> _commit;
    private readonly Task _loop;
    private int _disposed;
    private long _groupsCommitted;

    public GroupCommitter(Func<IReadOnlyList<IReadOnlyList<NewEvent>>, Task<IReadOnlyList<StoredEvent>[]>> commit)
    {
        _commit = commit;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>How many groups were committed; fewer than the batches when appends were coalesced.</summary>
    public long GroupsCommitted => Interlocked.Read(ref _groupsCommitted);

    /// <summary>
    /// Queues a validated, non-empty batch and completes when it is durable. Cancellation is
    /// honoured until the writer takes the batch; once taken it is written, so a caller is
    /// never told "cancelled" about events that were in fact stored.
    /// </summary>
    public Task<IReadOnlyList<StoredEvent>> EnqueueAsync(IReadOnlyList<NewEvent> batch, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var pending = new PendingAppend(batch, cancellationToken);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(IEventStore), "the event store is closed");
        }
        return pending.Completion.Task;
    }

    private async Task RunAsync()
    {
        var group = new List<PendingAppend>();
        var batches = new List<IReadOnlyList<NewEvent>>();
        PendingAppend? carried = null;
        while (carried is not null || await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            batches.Clear();
            int events = 0;
            long bytes = 0;
            // A batch that did not fit the previous group opens this one.
            if (carried is not null)
            {
                Take(carried, group, batches, ref events, ref bytes);
                carried = null;
            }
            while (events < MaxGroupEvents && bytes < MaxGroupBytes && _queue.Reader.TryRead(out var next))
            {
                if (next.Cancellation.IsCancellationRequested)
                {
                    next.Completion.TrySetCanceled(next.Cancellation);
                    continue;
                }
                if (group.Count > 0 && (events + next.Batch.Count > MaxGroupEvents || bytes + next.ByteEstimate > MaxGroupBytes))
                {
                    carried = next;
                    break;
                }
                Take(next, group, batches, ref events, ref bytes);
            }
            if (group.Count == 0)
            {
                continue;
            }
            try
            {
                var results = await _commit(batches).ConfigureAwait(false);
                Interlocked.Increment(ref _groupsCommitted);
                for (var i = 0; i < group.Count; i++)
                {
                    group[i].Completion.TrySetResult(results[i]);
                }
            }
            catch (Exception ex)
            {
                foreach (var p in group)
                {
                    p.Completion.TrySetException(ex);
                }
            }
        }
    }

    private static void Take(PendingAppend p, List<PendingAppend> group, List<IReadOnlyList<NewEvent>> batches, ref int events, ref long bytes)
    {
        group.Add(p);
        batches.Add(p.Batch);
        events += p.Batch.Count;
        bytes += p.ByteEstimate;
    }

    /// <summary>Stops taking new batches, writes those already queued, then ends the loop.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }

    private sealed class PendingAppend(IReadOnlyList<NewEvent> batch, CancellationToken cancellation)
    {
        public IReadOnlyList<NewEvent> Batch { get; } = batch;

        public CancellationToken Cancellation { get; } = cancellation;

        /// <summary>Continuations run on the thread pool, never inline on the writer loop.</summary>
        public TaskCompletionSource<IReadOnlyList<StoredEvent>> Completion { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long ByteEstimate { get; } = Estimate(batch);

        private static long Estimate(IReadOnlyList<NewEvent> batch)
        {
            long total = 0;
            foreach (var e in batch)
            {
                total += 64 + e.Type.Length + e.AggregateKind.Length + e.AggregateId.Length + e.DataJson.Length
                    + e.Origin.Length + (e.MessageId?.Length ?? 0);
            }
            return total;
        }
    }
}
