using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Butterfly.Application.Ports;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// Byte layout of the event log of format 1 (<c>events.log</c>, one file), which earlier
/// versions wrote. It is only read now: opening a directory that holds such a log migrates it
/// to format 2 (<see cref="LogFormat"/>), and the repair command reads it too. Writing is kept
/// for the tests that build such logs. All integers little-endian.
/// <code>
/// file    := "BFLYEVL1" record*
/// record  := length:u32 crc:u32 payload[length]     crc = CRC-32C(length bytes ++ payload)
/// payload := kind:u8(=1) first:i64 utcTicks:i64 count:i32 event[count]
/// event   := type aggregateKind aggregateId dataJson origin messageId   (each a string)
/// string  := byteLength:i32 (-1 = null) utf8[byteLength]
/// </code>
/// One record holds one AppendAsync batch, so a batch is on disk whole or not at all: a record
/// whose checksum does not match is never read. The first sequence is stored so the scan can
/// prove there is no gap or duplicate; the timestamp is the batch's single timestamp.
/// </summary>
internal static class LegacyLogFormat
{
    public static ReadOnlySpan<byte> Magic => "BFLYEVL1"u8;

    public const string FileName = "events.log";

    public const int FileHeaderSize = 8;

    public const int RecordHeaderSize = 8;

    /// <summary>
    /// Upper bound of one record's payload. It keeps a corrupted length field from making the
    /// scan allocate gigabytes, and is far above any real batch of configuration events.
    /// </summary>
    public const int MaxPayloadBytes = 64 << 20;

    private const byte BatchRecordKind = 1;

    private const int PayloadFixedSize = 1 + 8 + 8 + 4;

    /// <summary>Payload size of a batch (without the record header).</summary>
    public static long PayloadSize(IReadOnlyList<NewEvent> batch)
    {
        long size = PayloadFixedSize;
        foreach (var e in batch)
        {
            size += StringSize(e.Type) + StringSize(e.AggregateKind) + StringSize(e.AggregateId)
                + StringSize(e.DataJson) + StringSize(e.Origin) + StringSize(e.MessageId);
        }
        return size;
    }

    private static long StringSize(string? s) => 4 + (s is null ? 0 : EventBatches.StrictUtf8.GetByteCount(s));

    /// <summary>Appends one complete record (header, checksum, payload) for the batch to <paramref name="output"/>.</summary>
    public static void WriteRecord(IBufferWriter<byte> output, IReadOnlyList<NewEvent> batch, long firstSequence, DateTimeOffset timestamp)
    {
        var payloadSize = checked((int)PayloadSize(batch));
        var span = output.GetSpan(RecordHeaderSize + payloadSize)[..(RecordHeaderSize + payloadSize)];
        var payload = span[RecordHeaderSize..];
        payload[0] = BatchRecordKind;
        BinaryPrimitives.WriteInt64LittleEndian(payload[1..], firstSequence);
        BinaryPrimitives.WriteInt64LittleEndian(payload[9..], timestamp.UtcTicks);
        BinaryPrimitives.WriteInt32LittleEndian(payload[17..], batch.Count);
        var at = PayloadFixedSize;
        foreach (var e in batch)
        {
            at += WriteString(payload[at..], e.Type);
            at += WriteString(payload[at..], e.AggregateKind);
            at += WriteString(payload[at..], e.AggregateId);
            at += WriteString(payload[at..], e.DataJson);
            at += WriteString(payload[at..], e.Origin);
            at += WriteString(payload[at..], e.MessageId);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)payloadSize);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], Checksum(span[..4], payload));
        output.Advance(span.Length);
    }

    private static int WriteString(Span<byte> into, string? value)
    {
        if (value is null)
        {
            BinaryPrimitives.WriteInt32LittleEndian(into, -1);
            return 4;
        }
        var written = EventBatches.StrictUtf8.GetBytes(value, into[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(into, written);
        return 4 + written;
    }

    public static uint Checksum(ReadOnlySpan<byte> lengthBytes, ReadOnlySpan<byte> payload) =>
        Crc32C.Append(Crc32C.Compute(lengthBytes), payload);

    /// <summary>
    /// Decodes a payload whose checksum already matched. Returns an error text instead of
    /// throwing, because a bad record is an expected outcome of the open-time scan.
    /// </summary>
    public static string? TryDecode(ReadOnlySpan<byte> payload, long expectedFirstSequence, out StoredEvent[] events)
    {
        events = [];
        if (payload.Length < PayloadFixedSize || payload[0] != BatchRecordKind)
        {
            return "unknown record kind";
        }
        var first = BinaryPrimitives.ReadInt64LittleEndian(payload[1..]);
        var ticks = BinaryPrimitives.ReadInt64LittleEndian(payload[9..]);
        var count = BinaryPrimitives.ReadInt32LittleEndian(payload[17..]);
        if (first != expectedFirstSequence)
        {
            return $"record starts at sequence {first}, expected {expectedFirstSequence}";
        }
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return "timestamp out of range";
        }
        // Each event takes at least six 4-byte length fields.
        if (count <= 0 || count > (payload.Length - PayloadFixedSize) / 24)
        {
            return $"invalid event count {count}";
        }
        var timestamp = new DateTimeOffset(ticks, TimeSpan.Zero);
        var decoded = new StoredEvent[count];
        var reader = new Reader(payload[PayloadFixedSize..]);
        for (var i = 0; i < count; i++)
        {
            var type = reader.String();
            var kind = reader.String();
            var id = reader.String();
            var data = reader.String();
            var origin = reader.String();
            var messageId = reader.String();
            if (reader.Error is not null)
            {
                return $"event {i}: {reader.Error}";
            }
            if (type is null || kind is null || id is null || data is null || origin is null)
            {
                return $"event {i}: a required field is null";
            }
            decoded[i] = new StoredEvent(first + i, timestamp, type, kind, id, data, origin, messageId);
        }
        if (!reader.AtEnd)
        {
            return "trailing bytes after the last event";
        }
        events = decoded;
        return null;
    }

    /// <summary>Bounds-checked cursor over a payload; the first problem stops it and is kept in <see cref="Error"/>.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;

        public string? Error { get; private set; }

        public readonly bool AtEnd => _rest.IsEmpty;

        public string? String()
        {
            if (Error is not null)
            {
                return null;
            }
            if (_rest.Length < 4)
            {
                Error = "truncated string length";
                return null;
            }
            var length = BinaryPrimitives.ReadInt32LittleEndian(_rest);
            _rest = _rest[4..];
            if (length == -1)
            {
                return null;
            }
            if (length < 0 || length > _rest.Length)
            {
                Error = $"invalid string length {length}";
                return null;
            }
            string value;
            try
            {
                value = EventBatches.StrictUtf8.GetString(_rest[..length]);
            }
            catch (DecoderFallbackException)
            {
                Error = "invalid UTF-8";
                return null;
            }
            _rest = _rest[length..];
            return value;
        }
    }
}
