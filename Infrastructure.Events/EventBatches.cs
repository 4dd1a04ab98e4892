using System.Text;
using Butterfly.Application.Ports;

namespace Butterfly.Infrastructure.Events;

/// <summary>Rules every store applies the same way to what it is given and what it hands back.</summary>
internal static class EventBatches
{
    /// <summary>
    /// Rejects a batch that could not be stored faithfully, before anything is written, so a
    /// bad event never leaves half a batch behind. Strings are checked for null because the
    /// callers' nullable annotations are not enforced at run time.
    /// </summary>
    public static void Validate(IReadOnlyList<NewEvent>? batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        for (var i = 0; i < batch.Count; i++)
        {
            var e = batch[i];
            var problem = e is null ? "is null"
                : Required(e.Type, nameof(NewEvent.Type))
                ?? Required(e.AggregateKind, nameof(NewEvent.AggregateKind))
                ?? Required(e.AggregateId, nameof(NewEvent.AggregateId))
                ?? Required(e.DataJson, nameof(NewEvent.DataJson))
                ?? (e.Origin is null ? "Origin is null" : Text(e.Origin, nameof(NewEvent.Origin)))
                ?? (e.MessageId is null ? null : Text(e.MessageId, nameof(NewEvent.MessageId)))
                ?? Optional(e.Audit?.Cause, "Audit.Cause")
                ?? Optional(e.Audit?.PeerAddress, "Audit.PeerAddress")
                ?? Optional(e.Audit?.ClientKey, "Audit.ClientKey");
            if (problem is not null)
            {
                throw new ArgumentException($"batch[{i}]{(e is null ? " " : ".")}{problem}", nameof(batch));
            }
        }
    }

    private static string? Optional(string? value, string field) => value is null ? null : Text(value, field);

    private static string? Required(string? value, string field) =>
        string.IsNullOrEmpty(value) ? $"{field} is null or empty" : Text(value, field);

    /// <summary>
    /// Text both stores can keep exactly: PostgreSQL's jsonb refuses NUL characters, and a lone
    /// UTF-16 surrogate has no UTF-8 form (it would come back as U+FFFD, i.e. changed).
    /// </summary>
    private static string? Text(string value, string field)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            return $"{field} contains a NUL character";
        }
        try
        {
            StrictUtf8.GetByteCount(value);
            return null;
        }
        catch (EncoderFallbackException)
        {
            return $"{field} is not valid Unicode (unpaired surrogate)";
        }
    }

    /// <summary>UTF-8 that throws on text it cannot encode instead of replacing it.</summary>
    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The timestamp for the next batch: UTC, cut to whole microseconds (what PostgreSQL keeps,
    /// so both stores hand back exactly what they later read), and never before the previous
    /// batch's, so time order is sequence order even if the wall clock steps back.
    /// </summary>
    public static DateTimeOffset NextTimestamp(TimeProvider time, DateTimeOffset previous)
    {
        var now = ToMicroseconds(time.GetUtcNow());
        return now < previous ? previous : now;
    }

    /// <summary>UTC, truncated to whole microseconds.</summary>
    public static DateTimeOffset ToMicroseconds(DateTimeOffset value)
    {
        var ticks = value.UtcTicks;
        return new DateTimeOffset(ticks - (ticks % 10), TimeSpan.Zero);
    }

    /// <summary>Gives each event of the batch its sequence (consecutive from <paramref name="first"/>) and the batch's timestamp.</summary>
    public static StoredEvent[] Stamp(IReadOnlyList<NewEvent> batch, long first, DateTimeOffset timestamp)
    {
        var stored = new StoredEvent[batch.Count];
        for (var i = 0; i < stored.Length; i++)
        {
            var e = batch[i];
            stored[i] = new StoredEvent(first + i, timestamp, e.Type, e.AggregateKind, e.AggregateId, e.DataJson, e.Origin, e.MessageId) { Audit = e.Audit };
        }
        return stored;
    }

    /// <summary>Rejects a filter whose numbers cannot mean anything.</summary>
    public static void Validate(EventFilter? filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (filter.Limit <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(filter), filter.Limit, "EventFilter.Limit must be positive");
        }
        if (filter.AfterSequence < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(filter), filter.AfterSequence, "EventFilter.AfterSequence must not be negative");
        }
    }

    /// <summary>Rejects a snapshot that does not describe a point of this log.</summary>
    public static void Validate(StoredSnapshot? snapshot, long lastSequence)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(snapshot.DataJson, nameof(snapshot));
        if (snapshot.Sequence < 0 || snapshot.Sequence > lastSequence)
        {
            throw new ArgumentOutOfRangeException(nameof(snapshot), snapshot.Sequence,
                $"snapshot sequence must be between 0 and the last sequence of the log ({lastSequence})");
        }
    }
}
