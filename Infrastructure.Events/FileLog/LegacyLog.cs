using System.Buffers;
using System.Buffers.Binary;
using Butterfly.Application.Ports;
using Serilog;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// Logs of format 1 (<c>events.log</c>, <see cref="LegacyLogFormat"/>): verified with the same
/// rules as format 2 (only an interrupted append at the very end is cut; anything else stops
/// the open with <see cref="EventLogDamagedException"/>), then rewritten as format-2 segments.
/// <para>Steps, each durable before the next, so a crash anywhere is recovered by opening again:
/// (1) segments written as <c>events-N.log.migrating</c>; (2) <c>events.log</c> renamed to
/// <c>events.log.v1</c>, which stays as a copy; (3) the segments renamed into place. While
/// <c>events.log</c> exists it is the truth (leftover .migrating files are deleted and the
/// migration starts over); once it is gone, .migrating files are complete and step 3 is finished.</para>
/// </summary>
internal static class LegacyLog
{
    public const string KeptSuffix = ".v1";

    /// <summary>Finishes or performs a migration when the directory holds a format-1 log; a no-op otherwise.</summary>
    public static void MigrateIfPresent(string directory, long segmentBytes, ILogger log)
    {
        var path = Path.Combine(directory, LegacyLogFormat.FileName);
        if (!File.Exists(path))
        {
            if (SegmentFiles.ListWith(directory, SegmentFiles.MigratingSuffix).Count > 0)
            {
                SegmentWriter.Publish(directory, SegmentFiles.MigratingSuffix);
                log.Warning("Event log {Directory}: finished a migration to format 2 that a stop had interrupted", directory);
            }
            return;
        }
        if (SegmentFiles.List(directory).Count > 0)
        {
            throw new EventLogDamagedException($"event log {directory} holds both a format-1 log ({LegacyLogFormat.FileName}) and " +
                "format-2 segments (events-*.log): one of them was copied in by hand. Move the one that is not current out of the directory.");
        }
        SegmentWriter.DeleteLeftovers(directory, SegmentFiles.MigratingSuffix);
        long events;
        try
        {
            using var writer = new SegmentWriter(directory, SegmentFiles.MigratingSuffix, segmentBytes);
            events = Convert(directory, path, writer, repair: null, log);
            writer.Finish();
        }
        catch
        {
            // Refused (damage) or failed: leave the directory as it was.
            SegmentWriter.DeleteLeftovers(directory, SegmentFiles.MigratingSuffix);
            throw;
        }
        File.Move(path, path + KeptSuffix, overwrite: true);
        Native.SyncDirectory(directory);
        SegmentWriter.Publish(directory, SegmentFiles.MigratingSuffix);
        log.Warning("Event log {Directory}: migrated {Events} events from format 1 to format 2 (segments events-*.log); " +
            "the old file is kept as {Kept} and may be deleted", directory, events, LegacyLogFormat.FileName + KeptSuffix);
    }

    /// <summary>
    /// Reads every record of the format-1 file and writes it to <paramref name="writer"/> as format 2.
    /// Without <paramref name="repair"/> damage throws; with it every intact record is kept and what is
    /// dropped is reported to it. Returns the number of events written.
    /// </summary>
    internal static long Convert(string directory, string path, SegmentWriter? writer, LogRepair.Plan? repair, ILogger log)
    {
        using var handle = Native.OpenFile(path, readWriteCreate: false);
        var reader = new WindowReader(handle, RandomAccess.GetLength(handle));
        var name = Path.GetFileName(path);
        if (reader.Length < LegacyLogFormat.FileHeaderSize)
        {
            var start = reader.BytesUpTo(0, (int)reader.Length);
            if (!LegacyLogFormat.Magic.StartsWith(start))
            {
                throw new InvalidDataException($"{path} is not a Butterfly event log; refusing to touch it");
            }
            return 0;
        }
        if (!reader.Bytes(0, LegacyLogFormat.FileHeaderSize).SequenceEqual(LegacyLogFormat.Magic))
        {
            throw new InvalidDataException($"{path} is not a Butterfly event log (its first bytes are not \"BFLYEVL1\"); refusing to touch it");
        }
        var buffer = new ArrayBufferWriter<byte>();
        long offset = LegacyLogFormat.FileHeaderSize;
        long expected = 1;
        while (offset < reader.Length)
        {
            var problem = CheckRecord(reader, offset, expected, out var events, out var size);
            if (problem is null)
            {
                Write(writer, buffer, events);
                expected += events.Length;
                offset += size;
                continue;
            }
            var interrupted = IsInterruptedAppend(reader, offset);
            if (repair is null)
            {
                if (interrupted)
                {
                    log.Warning("Event log {Path}: {Bytes} bytes at offset {Offset} are an append interrupted before it was " +
                        "acknowledged ({Problem}); not migrated", path, reader.Length - offset, offset, problem);
                    break;
                }
                var after = Intact(reader, offset + 1).ToList();
                var consequence = after.Count > 0
                    ? $"{after.Count} intact record(s) follow it (sequences {after[0].Events[0].Sequence}..{after[^1].Events[^1].Sequence}), so " +
                      $"this is damage, not an interrupted append: acknowledged events from sequence {expected} on are affected"
                    : $"the {reader.Length - offset} byte(s) from there to the end are not what an interrupted append leaves; if they " +
                      $"held acknowledged events, those from sequence {expected} on are affected";
                throw new EventLogDamagedException($"event log {directory} is damaged: {name} (format 1) at offset {offset}: {problem}; " +
                    $"the last intact event before it is sequence {expected - 1}; {consequence}. " + EventLogDamagedException.Advice(directory));
            }
            // Repair: keep every intact record after the damage, in order, and say what is dropped.
            var resumed = false;
            foreach (var (at, found, foundSize) in Intact(reader, offset + 1))
            {
                repair.Drop(name, offset, at, interrupted ? "an interrupted append" : problem);
                if (found[0].Sequence < expected)
                {
                    repair.Drop(name, at, at + foundSize, $"a record of sequences {found[0].Sequence}..{found[^1].Sequence} repeats sequences already kept");
                    offset = at + foundSize;
                    resumed = true;
                    break;
                }
                if (found[0].Sequence > expected)
                {
                    repair.Lose(expected, found[0].Sequence - 1, $"unreadable in {name} at offset {offset}");
                    WriteLost(writer, buffer, expected, found[0].Sequence - expected, found[0].Timestamp, $"unreadable in {name} at offset {offset}");
                }
                Write(writer, buffer, found);
                expected = found[^1].Sequence + 1;
                offset = at + foundSize;
                resumed = true;
                break;
            }
            if (!resumed)
            {
                repair.Drop(name, offset, reader.Length, interrupted ? "an interrupted append" : problem);
                break;
            }
        }
        return expected - 1;
    }

    private static void Write(SegmentWriter? writer, ArrayBufferWriter<byte> buffer, StoredEvent[] events)
    {
        if (writer is null)
        {
            return;
        }
        buffer.ResetWrittenCount();
        var batch = events.Select(e => new NewEvent(e.Type, e.AggregateKind, e.AggregateId, e.DataJson, e.Origin, e.MessageId)).ToList();
        LogFormat.WriteEvents(buffer, batch, events[0].Sequence, events[0].Timestamp);
        writer.Append(buffer.WrittenSpan, events[0].Sequence);
    }

    private static void WriteLost(SegmentWriter? writer, ArrayBufferWriter<byte> buffer, long first, long count, DateTimeOffset timestamp, string why)
    {
        if (writer is null)
        {
            return;
        }
        buffer.ResetWrittenCount();
        LogFormat.WriteLost(buffer, first, checked((int)count), timestamp, why);
        writer.Append(buffer.WrittenSpan, first);
    }

    /// <summary>Null when a whole, intact format-1 record for <paramref name="expected"/> starts at <paramref name="offset"/>.</summary>
    private static string? CheckRecord(WindowReader reader, long offset, long expected, out StoredEvent[] events, out long size)
    {
        events = [];
        size = 0;
        if (reader.Length - offset < LegacyLogFormat.RecordHeaderSize)
        {
            return "incomplete record header";
        }
        var header = reader.Bytes(offset, LegacyLogFormat.RecordHeaderSize);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (length == 0 || length > LegacyLogFormat.MaxPayloadBytes)
        {
            return $"invalid record length {length}";
        }
        size = LegacyLogFormat.RecordHeaderSize + length;
        if (offset + size > reader.Length)
        {
            return $"record of {length} bytes runs past the end of the file";
        }
        var record = reader.Bytes(offset, (int)size);
        if (LegacyLogFormat.Checksum(record[..4], record[LegacyLogFormat.RecordHeaderSize..]) != crc)
        {
            return "checksum mismatch";
        }
        var error = LegacyLogFormat.TryDecode(record[LegacyLogFormat.RecordHeaderSize..], expected, out events);
        return error is null ? null : $"malformed record: {error}";
    }

    /// <summary>Intact format-1 records from <paramref name="from"/> on (any sequence), found by trying every offset.</summary>
    private static IEnumerable<(long Offset, StoredEvent[] Events, long Size)> Intact(WindowReader reader, long from)
    {
        for (var at = from; at + LegacyLogFormat.RecordHeaderSize < reader.Length; at++)
        {
            var found = TryIntactAt(reader, at);
            if (found is { } record)
            {
                yield return record;
                at += record.Size - 1;
            }
        }
    }

    private static (long Offset, StoredEvent[] Events, long Size)? TryIntactAt(WindowReader reader, long at)
    {
        var header = reader.Bytes(at, LegacyLogFormat.RecordHeaderSize);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (length < 22 || length > LegacyLogFormat.MaxPayloadBytes || at + LegacyLogFormat.RecordHeaderSize + length > reader.Length)
        {
            return null;
        }
        var record = reader.Bytes(at, (int)(LegacyLogFormat.RecordHeaderSize + length));
        var payload = record[LegacyLogFormat.RecordHeaderSize..];
        if (payload[0] != 1 || LegacyLogFormat.Checksum(record[..4], payload) != crc)
        {
            return null;
        }
        var first = BinaryPrimitives.ReadInt64LittleEndian(payload[1..]);
        return LegacyLogFormat.TryDecode(payload, first, out var events) is null ? (at, events, record.Length) : null;
    }

    /// <summary>An interrupted format-1 append: zeros, a header cut short, or a record that claims more bytes than are there with no intact record after it.</summary>
    private static bool IsInterruptedAppend(WindowReader reader, long offset)
    {
        var lastNonZero = reader.LastNonZero(offset);
        if (lastNonZero < 0 || lastNonZero + 1 - offset < LegacyLogFormat.RecordHeaderSize)
        {
            return true;
        }
        var length = BinaryPrimitives.ReadUInt32LittleEndian(reader.Bytes(offset, 4));
        return length > 0 && length <= LegacyLogFormat.MaxPayloadBytes
            && offset + LegacyLogFormat.RecordHeaderSize + length > lastNonZero + 1
            && !Intact(reader, offset + 1).Any();
    }
}
