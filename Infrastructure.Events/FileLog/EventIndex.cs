using Butterfly.Application.Ports;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// Every event of the log, in memory, in sequence order (configuration events are small and
/// few, so queries need no on-disk index). Event n sits at position n - 1.
/// </summary>
/// <remarks>
/// One writer (the group-commit loop) adds; any number of readers query at the same time.
/// A reader takes a <see cref="View"/>: an array and a count. Slots below the count are never
/// written again, and growing copies into a new array while the old one stays valid, so a
/// reader iterates without holding the lock.
/// </remarks>
internal sealed class EventIndex
{
    private readonly Lock _gate = new();
    private StoredEvent[] _events = new StoredEvent[1024];
    private int _count;

    public long LastSequence
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    /// <summary>Adds events that are already durable; their sequences must follow on.</summary>
    public void Add(IReadOnlyList<StoredEvent> events)
    {
        lock (_gate)
        {
            if (events.Count > 0 && events[0].Sequence != _count + 1)
            {
                throw new InvalidOperationException($"event {events[0].Sequence} does not follow {_count}");
            }
            var needed = _count + events.Count;
            if (needed > _events.Length)
            {
                var grown = new StoredEvent[Math.Max(needed, _events.Length * 2)];
                Array.Copy(_events, grown, _count);
                _events = grown;
            }
            for (var i = 0; i < events.Count; i++)
            {
                _events[_count + i] = events[i];
            }
            _count = needed;
        }
    }

    public View Snapshot()
    {
        lock (_gate)
        {
            return new View(_events, _count);
        }
    }

    /// <summary>A stable, read-only window on the first <see cref="Count"/> events.</summary>
    internal readonly struct View(StoredEvent[] events, int count)
    {
        public int Count { get; } = count;

        public StoredEvent this[int index] => events[index];

        /// <summary>Sequence of the newest event whose timestamp is at or before <paramref name="time"/>, 0 if none.</summary>
        /// <remarks>Timestamps never decrease along the log (the writer guarantees it), so this is a binary search.</remarks>
        public long SequenceAt(DateTimeOffset time)
        {
            int lo = 0, hi = Count;
            while (lo < hi)
            {
                var mid = lo + ((hi - lo) / 2);
                if (events[mid].Timestamp <= time)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }
            return lo;
        }

        /// <summary>Index of the first event whose timestamp is at or after <paramref name="time"/>.</summary>
        public int FirstAtOrAfter(DateTimeOffset time)
        {
            int lo = 0, hi = Count;
            while (lo < hi)
            {
                var mid = lo + ((hi - lo) / 2);
                if (events[mid].Timestamp < time)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }
            return lo;
        }

        public List<StoredEvent> Query(EventFilter filter, CancellationToken cancellationToken)
        {
            // Positions [start, end) hold the candidates of the sequence and time bounds.
            long start = filter.AfterSequence;
            long end = Count;
            if (filter.UntilSequence is { } untilSequence)
            {
                end = Math.Min(end, Math.Max(0, untilSequence));
            }
            if (filter.Since is { } since)
            {
                start = Math.Max(start, FirstAtOrAfter(since));
            }
            if (filter.Until is { } until)
            {
                end = Math.Min(end, SequenceAt(until));
            }
            var found = new List<StoredEvent>(Math.Min(filter.Limit, 256));
            for (var i = start; i < end && found.Count < filter.Limit; i++)
            {
                if ((i & 0xFFF) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
                var e = events[i];
                if ((filter.AggregateKind is null || string.Equals(e.AggregateKind, filter.AggregateKind, StringComparison.Ordinal))
                    && (filter.AggregateId is null || string.Equals(e.AggregateId, filter.AggregateId, StringComparison.Ordinal)))
                {
                    found.Add(e);
                }
            }
            return found;
        }
    }
}
