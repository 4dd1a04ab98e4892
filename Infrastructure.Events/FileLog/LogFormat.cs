using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;
using Butterfly.Application.Ports;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>The kinds of record a segment holds.</summary>
internal enum RecordKind : byte
{
    /// <summary>One AppendAsync batch: <c>count</c> events from <c>first</c>.</summary>
    Events = 1,

    /// <summary>
    /// Written only by the repair command: sequences <c>first .. first+count-1</c> were in a
    /// damaged record and are lost; the payload is a short UTF-8 text saying why.
    /// </summary>
    Lost = 2,

    /// <summary>
    /// A batch whose events carry what the log records about their request (<see cref="EventAudit"/>:
    /// the request's name, the client's address and CURVE key). Written when an event of the batch
    /// has them; logs written before hold kind 1 only, and both are read.
    /// </summary>
    AuditedEvents = 3,
}

internal static class RecordKinds
{
    /// <summary>Whether records of this kind hold events (as opposed to a lost range).</summary>
    public static bool HoldsEvents(this RecordKind kind) => kind is RecordKind.Events or RecordKind.AuditedEvents;
}

/// <summary>A record header that passed its own checksum and the plausibility checks.</summary>
internal readonly record struct RecordHeader(RecordKind Kind, long First, int Count, int PayloadLength, long Ticks, uint PayloadCrc)
{
    public long Last => First + Count - 1;

    public long Size => LogFormat.RecordHeaderSize + PayloadLength;

    public DateTimeOffset Timestamp => new(Ticks, TimeSpan.Zero);
}

/// <summary>
/// Byte layout of the event log, format 2. All integers little-endian. The log is a series of
/// segment files (<see cref="SegmentFiles"/>), each holding the records of a range of sequences.
/// <code>
/// segment := "BFLYEVL2" first:i64 reserved:u32(0) crc:u32  record*      crc = CRC-32C(bytes 0..19)
/// record  := header payload[payloadLength]
/// header  := magic:u32("BFLR") kind:u8 reserved:3 bytes(0) first:i64 count:i32 payloadLength:i32
///            utcTicks:i64 payloadCrc:u32 headerCrc:u32            headerCrc = CRC-32C(header bytes 0..35)
/// payload (kind 1) := event[count]
/// event   := type aggregateKind aggregateId dataJson origin messageId   (each a string)
/// string  := byteLength:i32 (-1 = null) utf8[byteLength]
/// payload (kind 2) := UTF-8 text (why the sequences were lost)
/// payload (kind 3) := audited[count]
/// audited := event cause peerAddress clientKey                         (each a string, -1 = not recorded)
/// </code>
/// Why this framing: every record says where it is in the history (its first sequence and
/// count) behind a magic and a checksum of its own, so the scanner can tell an append cut
/// short at the end of the file (the header is whole and names the next sequence, the payload
/// is not all there) from damage (a record that fails its checksum although its bytes are all
/// there, or intact records found after a bad one), and can resynchronise on the next intact
/// header past a bad record to say which sequences are affected.
/// </summary>
internal static class LogFormat
{
    public static ReadOnlySpan<byte> SegmentMagic => "BFLYEVL2"u8;

    public const int SegmentHeaderSize = 24;

    /// <summary>"BFLR" as the first four bytes of every record.</summary>
    public const uint RecordMagic = 0x524C4642;

    public static ReadOnlySpan<byte> RecordMagicBytes => "BFLR"u8;

    public const int RecordHeaderSize = 40;

    /// <summary>
    /// Upper bound of one record's payload. It keeps a corrupted length field from making the
    /// scan allocate gigabytes, and is far above any real batch of configuration events.
    /// </summary>
    public const int MaxPayloadBytes = 64 << 20;

    /// <summary>Each event takes at least six 4-byte string lengths (nine in an audited record).</summary>
    private const int MinEventBytes = 24;

    // ---- segment header ----

    public static byte[] SegmentHeader(long first)
    {
        var header = new byte[SegmentHeaderSize];
        SegmentMagic.CopyTo(header);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), first);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), Crc32C.Compute(header.AsSpan(0, 20)));
        return header;
    }

    /// <summary>Null when <paramref name="header"/> is a whole, intact segment header; otherwise why not.</summary>
    public static string? CheckSegmentHeader(ReadOnlySpan<byte> header, out long first)
    {
        first = 0;
        if (header.Length < SegmentHeaderSize)
        {
            return "segment header incomplete";
        }
        if (!header[..8].SequenceEqual(SegmentMagic))
        {
            return "not a segment of a Butterfly event log (format 2)";
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[20..]) != Crc32C.Compute(header[..20]))
        {
            return "segment header checksum mismatch";
        }
        first = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
        return first < 1 ? $"segment header names sequence {first}" : null;
    }

    // ---- records ----

    /// <summary>Whether the batch needs an audited record (kind 3): an event of it carries an <see cref="EventAudit"/>.</summary>
    private static bool Audited(IReadOnlyList<NewEvent> batch)
    {
        foreach (var e in batch)
        {
            if (e.Audit is not null)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Payload size of an events record for the batch.</summary>
    public static long PayloadSize(IReadOnlyList<NewEvent> batch)
    {
        var audited = Audited(batch);
        long size = 0;
        foreach (var e in batch)
        {
            size += StringSize(e.Type) + StringSize(e.AggregateKind) + StringSize(e.AggregateId)
                + StringSize(e.DataJson) + StringSize(e.Origin) + StringSize(e.MessageId);
            if (audited)
            {
                size += StringSize(e.Audit?.Cause) + StringSize(e.Audit?.PeerAddress) + StringSize(e.Audit?.ClientKey);
            }
        }
        return size;
    }

    private static long StringSize(string? s) => 4 + (s is null ? 0 : EventBatches.StrictUtf8.GetByteCount(s));

    /// <summary>Appends one complete events record for the batch to <paramref name="output"/>.</summary>
    public static void WriteEvents(IBufferWriter<byte> output, IReadOnlyList<NewEvent> batch, long first, DateTimeOffset timestamp)
    {
        var audited = Audited(batch);
        var payloadSize = checked((int)PayloadSize(batch));
        var span = output.GetSpan(RecordHeaderSize + payloadSize)[..(RecordHeaderSize + payloadSize)];
        var payload = span[RecordHeaderSize..];
        var at = 0;
        foreach (var e in batch)
        {
            at += WriteString(payload[at..], e.Type);
            at += WriteString(payload[at..], e.AggregateKind);
            at += WriteString(payload[at..], e.AggregateId);
            at += WriteString(payload[at..], e.DataJson);
            at += WriteString(payload[at..], e.Origin);
            at += WriteString(payload[at..], e.MessageId);
            if (audited)
            {
                at += WriteString(payload[at..], e.Audit?.Cause);
                at += WriteString(payload[at..], e.Audit?.PeerAddress);
                at += WriteString(payload[at..], e.Audit?.ClientKey);
            }
        }
        WriteHeader(span, audited ? RecordKind.AuditedEvents : RecordKind.Events, first, batch.Count, payload, timestamp.UtcTicks);
        output.Advance(span.Length);
    }

    /// <summary>Appends a record that marks <paramref name="count"/> sequences from <paramref name="first"/> as lost.</summary>
    public static void WriteLost(IBufferWriter<byte> output, long first, int count, DateTimeOffset timestamp, string why)
    {
        var text = Encoding.UTF8.GetBytes(why);
        var span = output.GetSpan(RecordHeaderSize + text.Length)[..(RecordHeaderSize + text.Length)];
        text.CopyTo(span[RecordHeaderSize..]);
        WriteHeader(span, RecordKind.Lost, first, count, span[RecordHeaderSize..], timestamp.UtcTicks);
        output.Advance(span.Length);
    }

    /// <summary>Appends the bytes of a record read elsewhere (the repair copies intact records as they are).</summary>
    public static void WriteRaw(IBufferWriter<byte> output, ReadOnlySpan<byte> record) => output.Write(record);

    private static void WriteHeader(Span<byte> record, RecordKind kind, long first, int count, ReadOnlySpan<byte> payload, long ticks)
    {
        var header = record[..RecordHeaderSize];
        header.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, RecordMagic);
        header[4] = (byte)kind;
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], first);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], count);
        BinaryPrimitives.WriteInt32LittleEndian(header[20..], payload.Length);
        BinaryPrimitives.WriteInt64LittleEndian(header[24..], ticks);
        BinaryPrimitives.WriteUInt32LittleEndian(header[32..], Crc32C.Compute(payload));
        BinaryPrimitives.WriteUInt32LittleEndian(header[36..], Crc32C.Compute(header[..36]));
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

    /// <summary>
    /// Null when <paramref name="bytes"/> starts with a whole header that passes its checksum and
    /// describes a plausible record; otherwise why not. Says nothing about the payload.
    /// </summary>
    public static string? TryReadHeader(ReadOnlySpan<byte> bytes, out RecordHeader header)
    {
        header = default;
        if (bytes.Length < RecordHeaderSize)
        {
            return "record header incomplete";
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes) != RecordMagic)
        {
            return "no record starts here (magic missing)";
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes[36..]) != Crc32C.Compute(bytes[..36]))
        {
            return "record header checksum mismatch";
        }
        var kind = (RecordKind)bytes[4];
        var first = BinaryPrimitives.ReadInt64LittleEndian(bytes[8..]);
        var count = BinaryPrimitives.ReadInt32LittleEndian(bytes[16..]);
        var length = BinaryPrimitives.ReadInt32LittleEndian(bytes[20..]);
        var ticks = BinaryPrimitives.ReadInt64LittleEndian(bytes[24..]);
        if (kind is not (RecordKind.Events or RecordKind.Lost or RecordKind.AuditedEvents) || bytes[5] != 0 || bytes[6] != 0 || bytes[7] != 0)
        {
            return $"unknown record kind {bytes[4]}";
        }
        if (first < 1 || count < 1 || first > long.MaxValue - count)
        {
            return $"record names sequences {first} (+{count})";
        }
        if (length < 0 || length > MaxPayloadBytes || (kind.HoldsEvents() && count > length / MinEventBytes))
        {
            return $"invalid payload length {length} for {count} events";
        }
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return "timestamp out of range";
        }
        header = new RecordHeader(kind, first, count, length, ticks, BinaryPrimitives.ReadUInt32LittleEndian(bytes[32..]));
        return null;
    }

    /// <summary>
    /// Checks a payload against its header: the checksum, and for an events record that it
    /// parses into exactly <see cref="RecordHeader.Count"/> events. Null when good.
    /// <paramref name="hashes"/>, when given, receives each event's <see cref="AggregateHash(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>.
    /// </summary>
    public static string? CheckPayload(in RecordHeader header, ReadOnlySpan<byte> payload, Span<ushort> hashes = default)
    {
        if (payload.Length != header.PayloadLength)
        {
            return "record cut short";
        }
        if (Crc32C.Compute(payload) != header.PayloadCrc)
        {
            return "payload checksum mismatch";
        }
        if (header.Kind == RecordKind.Lost)
        {
            return null;
        }
        var reader = new Reader(payload);
        for (var i = 0; i < header.Count; i++)
        {
            var type = reader.Bytes(out var typeNull);
            var kind = reader.Bytes(out var kindNull);
            var id = reader.Bytes(out var idNull);
            reader.Bytes(out var dataNull);
            reader.Bytes(out var originNull);
            reader.Bytes(out _);
            if (header.Kind == RecordKind.AuditedEvents)
            {
                reader.Bytes(out _);
                reader.Bytes(out _);
                reader.Bytes(out _);
            }
            if (reader.Error is not null)
            {
                return $"event {i}: {reader.Error}";
            }
            if (typeNull || kindNull || idNull || dataNull || originNull || type.IsEmpty)
            {
                return $"event {i}: a required field is null";
            }
            if (!hashes.IsEmpty)
            {
                hashes[i] = AggregateHash(kind, id);
            }
        }
        return reader.AtEnd ? null : "trailing bytes after the last event";
    }

    /// <summary>Decodes the events of a payload that <see cref="CheckPayload"/> accepted.</summary>
    public static StoredEvent[] DecodeEvents(in RecordHeader header, ReadOnlySpan<byte> payload)
    {
        var events = new StoredEvent[header.Count];
        var reader = new Reader(payload);
        var timestamp = header.Timestamp;
        for (var i = 0; i < events.Length; i++)
        {
            var type = reader.String()!;
            var kind = reader.String()!;
            var id = reader.String()!;
            var data = reader.String()!;
            var origin = reader.String()!;
            var messageId = reader.String();
            EventAudit? audit = null;
            if (header.Kind == RecordKind.AuditedEvents)
            {
                var (cause, peerAddress, clientKey) = (reader.String(), reader.String(), reader.String());
                audit = cause is null && peerAddress is null && clientKey is null ? null : new EventAudit(cause, peerAddress, clientKey);
            }
            if (reader.Error is not null)
            {
                throw new InvalidDataException($"record of sequence {header.First}: event {i}: {reader.Error}");
            }
            events[i] = new StoredEvent(header.First + i, timestamp, type, kind, id, data, origin, messageId) { Audit = audit };
        }
        return events;
    }

    /// <summary>
    /// 16 bits of the CRC-32C of "kind NUL id": the event index keeps it per event, so a query
    /// for one NIC or group reads only the records that may hold its events.
    /// </summary>
    public static ushort AggregateHash(ReadOnlySpan<byte> kind, ReadOnlySpan<byte> id)
    {
        var crc = Crc32C.Append(Crc32C.Append(Crc32C.Compute(kind), [0]), id);
        return (ushort)(crc ^ (crc >> 16));
    }

    public static ushort AggregateHash(string kind, string id) =>
        AggregateHash(EventBatches.StrictUtf8.GetBytes(kind), EventBatches.StrictUtf8.GetBytes(id));

    /// <summary>Bounds-checked cursor over a payload; the first problem stops it and is kept in <see cref="Error"/>.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;

        public string? Error { get; private set; }

        public readonly bool AtEnd => _rest.IsEmpty && Error is null;

        public ReadOnlySpan<byte> Bytes(out bool isNull)
        {
            isNull = true;
            if (Error is not null)
            {
                return default;
            }
            if (_rest.Length < 4)
            {
                Error = "truncated string length";
                return default;
            }
            var length = BinaryPrimitives.ReadInt32LittleEndian(_rest);
            _rest = _rest[4..];
            if (length == -1)
            {
                return default;
            }
            if (length < 0 || length > _rest.Length)
            {
                Error = $"invalid string length {length}";
                return default;
            }
            var value = _rest[..length];
            if (!Utf8.IsValid(value))
            {
                Error = "invalid UTF-8";
                return default;
            }
            _rest = _rest[length..];
            isNull = false;
            return value;
        }

        public string? String()
        {
            var bytes = Bytes(out var isNull);
            return isNull ? null : EventBatches.StrictUtf8.GetString(bytes);
        }
    }
}
