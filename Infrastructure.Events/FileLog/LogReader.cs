using System.Text;
using System.Text.Json;
using Butterfly.Application.Ports;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// Reads events back from the segments through the <see cref="EventIndex"/>: one pread per
/// record, every record checked against its checksums again (the disk may have changed since
/// the open-time scan). Queries keep the last record they decoded, so consecutive events of
/// one batch cost one read. Thread-safe: pread needs no shared file position.
/// </summary>
internal sealed class LogReader(Func<Segment[]> segments)
{
    /// <summary>The type of the event a query shows where the repair command marked sequences as lost.</summary>
    public const string LostEventType = "EventsLost";

    /// <summary>A decoded record: its header and, for an events record, its events.</summary>
    internal sealed record Record(long Entry, RecordHeader Header, StoredEvent[]? Events, string? LostWhy);

    public RecordHeader ReadHeader(long entry)
    {
        var (segment, offset) = Locate(entry);
        Span<byte> bytes = stackalloc byte[LogFormat.RecordHeaderSize];
        WindowReader.ReadExactly(segment.Handle, bytes, offset);
        var problem = LogFormat.TryReadHeader(bytes, out var header);
        return problem is null ? header : throw Unreadable(segment, offset, problem);
    }

    public Record ReadRecord(long entry)
    {
        var header = ReadHeader(entry);
        var (segment, offset) = Locate(entry);
        var payload = new byte[header.PayloadLength];
        WindowReader.ReadExactly(segment.Handle, payload, offset + LogFormat.RecordHeaderSize);
        var problem = LogFormat.CheckPayload(header, payload);
        if (problem is not null)
        {
            throw Unreadable(segment, offset, problem);
        }
        return header.Kind == RecordKind.Lost
            ? new Record(entry, header, null, Encoding.UTF8.GetString(payload))
            : new Record(entry, header, LogFormat.DecodeEvents(header, payload), null);
    }

    /// <summary>What a query shows for a lost range: one event at its first sequence.</summary>
    public static StoredEvent LostMarker(Record record)
    {
        var h = record.Header;
        var data = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["first_sequence"] = h.First,
            ["last_sequence"] = h.Last,
            ["why"] = record.LostWhy,
        });
        return new StoredEvent(h.First, h.Timestamp, LostEventType, "log", "events", data, "butterflyd --repair-log", null);
    }

    /// <summary>Timestamp of event <paramref name="sequence"/>.</summary>
    private DateTimeOffset TimestampOf(EventIndex.Cursor entries, long sequence) => ReadHeader(entries.Entry(sequence)).Timestamp;

    /// <summary>Sequence of the newest event whose timestamp is at or before <paramref name="time"/>, 0 if none.</summary>
    /// <remarks>Timestamps never decrease along the log (the writer guarantees it), so this is a binary search, one header read per step.</remarks>
    public long SequenceAt(EventIndex.View view, DateTimeOffset time)
    {
        var entries = view.Open();
        long lo = 0, hi = view.Count;
        while (lo < hi)
        {
            var mid = lo + ((hi - lo) / 2);
            if (TimestampOf(entries, mid + 1) <= time)
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

    /// <summary>Sequence of the first event whose timestamp is at or after <paramref name="time"/> (Count + 1 when none).</summary>
    public long FirstAtOrAfter(EventIndex.View view, DateTimeOffset time)
    {
        var entries = view.Open();
        long lo = 0, hi = view.Count;
        while (lo < hi)
        {
            var mid = lo + ((hi - lo) / 2);
            if (TimestampOf(entries, mid + 1) < time)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo + 1;
    }

    public List<StoredEvent> Query(EventIndex.View view, EventFilter filter, CancellationToken cancellationToken)
    {
        // Sequences (after, end] hold the candidates of the sequence and time bounds.
        var after = filter.AfterSequence;
        var end = view.Count;
        if (filter.UntilSequence is { } untilSequence)
        {
            end = Math.Min(end, Math.Max(0, untilSequence));
        }
        if (filter.Since is { } since && after < end)
        {
            after = Math.Max(after, FirstAtOrAfter(view, since) - 1);
        }
        if (filter.Until is { } until && after < end)
        {
            end = Math.Min(end, SequenceAt(view, until));
        }
        ushort? hash = filter.AggregateKind is { } kind && filter.AggregateId is { } id ? LogFormat.AggregateHash(kind, id) : null;
        var found = new List<StoredEvent>(Math.Min(filter.Limit, 256));
        var entries = view.Open();
        Record? record = null;
        for (var sequence = after + 1; sequence <= end && found.Count < filter.Limit; sequence++)
        {
            if ((sequence & 0xFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            var entry = entries.Entry(sequence);
            if (hash is { } wanted && EventIndex.HashOf(entry) != wanted)
            {
                continue;
            }
            if (record is null || record.Entry != entry)
            {
                record = ReadRecord(entry);
            }
            var e = record.Events is { } events ? events[sequence - record.Header.First]
                : sequence == record.Header.First ? LostMarker(record) : null;
            if (e is not null
                && (filter.AggregateKind is null || string.Equals(e.AggregateKind, filter.AggregateKind, StringComparison.Ordinal))
                && (filter.AggregateId is null || string.Equals(e.AggregateId, filter.AggregateId, StringComparison.Ordinal)))
            {
                found.Add(e);
            }
        }
        return found;
    }

    /// <summary>Every event after <paramref name="afterSequence"/> in order, record by record; lost ranges are skipped.</summary>
    public IEnumerable<StoredEvent> Read(EventIndex.View view, long afterSequence)
    {
        var entries = view.Open();
        for (var sequence = Math.Max(0, afterSequence) + 1; sequence <= view.Count;)
        {
            var record = ReadRecord(entries.Entry(sequence));
            if (record.Events is { } events)
            {
                for (var i = sequence - record.Header.First; i < events.Length; i++)
                {
                    yield return events[i];
                }
            }
            sequence = record.Header.Last + 1;
        }
    }

    private (Segment Segment, long Offset) Locate(long entry)
    {
        var all = segments();
        var ordinal = EventIndex.SegmentOf(entry);
        return (all[ordinal], EventIndex.OffsetOf(entry));
    }

    private static InvalidDataException Unreadable(Segment segment, long offset, string problem) =>
        new($"event log segment {segment.Path} at offset {offset} no longer reads back ({problem}); the disk may be failing: " +
            "stop the daemon and run butterflyd --repair-log");
}
