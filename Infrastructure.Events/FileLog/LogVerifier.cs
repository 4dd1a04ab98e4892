using System.Buffers.Binary;
using Serilog;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// The open-time check of a format-2 log: reads every segment, verifies every record (header
/// checksum, expected sequence, payload checksum and structure), fills the
/// <see cref="EventIndex"/>, and decides what to do with anything that is not an intact record:
/// <list type="bullet">
/// <item>an <b>interrupted append</b> — only at the very end of the newest segment, right after
/// the last intact record: zeros, or the start of the next record (its header whole, naming the
/// next sequence, or a prefix of one) with the rest missing or zero — is cut, with a warning. A
/// batch is acknowledged only after its fdatasync, so such a tail was never acknowledged;</item>
/// <item>anything else — a bad record with anything but that shape after it, intact records
/// after a bad one, a segment missing from the chain, a log that ends before a snapshot says
/// it did — throws <see cref="EventLogDamagedException"/>, and nothing on disk changes.</item>
/// </list>
/// </summary>
internal static class LogVerifier
{
    /// <summary>What the scan found: the open segments, the newest timestamp.</summary>
    internal sealed record Outcome(List<Segment> Segments, DateTimeOffset LastTimestamp);

    /// <summary>
    /// Verifies the segments listed in <paramref name="files"/> (at least one). On success every
    /// segment is open and the index holds every event; an interrupted append has been cut.
    /// </summary>
    /// <param name="snapshotSequence">The newest sequence a snapshot file names (0 when none): the log must reach it.</param>
    /// <param name="snapshotName">That snapshot's file name, for the message.</param>
    public static Outcome Verify(string directory, List<(long First, string Path)> files, EventIndex index, long snapshotSequence,
        string? snapshotName, ILogger log)
    {
        var segments = new List<Segment>();
        try
        {
            return VerifyOpen(directory, files, index, snapshotSequence, snapshotName, log, segments);
        }
        catch
        {
            foreach (var s in segments)
            {
                s.Dispose();
            }
            throw;
        }
    }

    private static Outcome VerifyOpen(string directory, List<(long First, string Path)> files, EventIndex index, long snapshotSequence,
        string? snapshotName, ILogger log, List<Segment> segments)
    {
        long expected = 1;
        var lastTimestamp = DateTimeOffset.MinValue;
        (Segment Segment, long Offset, long Bytes)? tornTail = null;
        string? tornCreation = null;
        var hashes = new ushort[4096];
        for (var i = 0; i < files.Count; i++)
        {
            var (nameFirst, path) = files[i];
            var newest = i == files.Count - 1;
            var handle = Native.OpenFile(path, readWriteCreate: true);
            var length = RandomAccess.GetLength(handle);
            var segment = new Segment(i, nameFirst, path, handle, length);
            segments.Add(segment);
            var reader = new WindowReader(handle, length);
            var headerProblem = LogFormat.CheckSegmentHeader(reader.BytesUpTo(0, LogFormat.SegmentHeaderSize), out var first);
            if (headerProblem is not null)
            {
                if (newest && length < LogFormat.SegmentHeaderSize && IsPrefixOrZeros(reader, LogFormat.SegmentHeader(expected)))
                {
                    // The writer had just created this segment when the process stopped (for the
                    // first segment of a new log, the open creates it again).
                    tornCreation = path;
                    segments.RemoveAt(segments.Count - 1);
                    segment.Dispose();
                    break;
                }
                throw Damaged(directory, segment, 0, headerProblem, expected, reader, files, i);
            }
            if (first != nameFirst || first != expected)
            {
                var why = first != nameFirst
                    ? $"its header names sequence {first} but its file name {nameFirst}"
                    : $"it starts at sequence {first} but the segment before ends at {expected - 1}: " +
                      $"sequences {expected}..{first - 1} are missing (a segment file deleted or moved?)";
                throw new EventLogDamagedException($"event log {directory} is damaged: segment {segment.Name}: {why}. " +
                    EventLogDamagedException.Advice(directory));
            }
            long offset = LogFormat.SegmentHeaderSize;
            while (offset < length)
            {
                var problem = CheckRecord(reader, offset, expected, ref hashes, out var header);
                if (problem is null)
                {
                    if (header.Kind == RecordKind.Lost)
                    {
                        index.AddRange(segment.Ordinal, offset, header.Count);
                    }
                    else
                    {
                        index.Add(segment.Ordinal, offset, hashes.AsSpan(0, header.Count));
                    }
                    expected = header.Last + 1;
                    lastTimestamp = header.Timestamp;
                    offset += header.Size;
                    continue;
                }
                if (newest && IsInterruptedAppend(reader, offset, expected))
                {
                    tornTail = (segment, offset, length - offset);
                    break;
                }
                throw Damaged(directory, segment, offset, problem, expected, reader, files, i);
            }
            if (tornTail is not null)
            {
                break;
            }
        }

        var last = expected - 1;
        if (snapshotSequence > last)
        {
            var tail = tornTail is { } t
                ? $" (and {t.Bytes} bytes of an interrupted append at offset {t.Offset} of {t.Segment.Name}, which cannot hold them all)"
                : "";
            throw new EventLogDamagedException($"event log {directory} is shorter than its snapshots say: it ends at sequence {last}{tail}, " +
                $"but snapshot {snapshotName} was taken at sequence {snapshotSequence}, so events {last + 1}..{snapshotSequence} were " +
                "acknowledged and are missing from the log (a log file truncated, replaced or restored from an older copy?). " +
                EventLogDamagedException.Advice(directory) + " The repair keeps the configuration of the snapshot and marks those sequences as lost.");
        }

        if (tornCreation is not null)
        {
            File.Delete(tornCreation);
            Native.SyncDirectory(directory);
            log.Warning("Event log {Directory}: removed {Segment}, a segment whose creation was interrupted (it held no record)",
                directory, Path.GetFileName(tornCreation));
        }
        if (tornTail is { } cut)
        {
            RandomAccess.SetLength(cut.Segment.Handle, cut.Offset);
            Native.DataSync(cut.Segment.Handle, cut.Segment.Path);
            cut.Segment.Length = cut.Offset;
            log.Warning("Event log {Directory}: cut {Bytes} bytes at offset {Offset} of {Segment}: an append interrupted by a crash or " +
                "power loss before it was acknowledged (a record cut short, or zeros); {Events} events kept",
                directory, cut.Bytes, cut.Offset, cut.Segment.Name, last);
        }
        return new Outcome(segments, lastTimestamp);
    }

    /// <summary>Null when the record at <paramref name="offset"/> is intact and holds sequence <paramref name="expected"/> on; otherwise why not.</summary>
    internal static string? CheckRecord(WindowReader reader, long offset, long expected, ref ushort[] hashes, out RecordHeader header)
    {
        var problem = LogFormat.TryReadHeader(reader.BytesUpTo(offset, LogFormat.RecordHeaderSize), out header);
        if (problem is not null)
        {
            return problem;
        }
        if (header.First != expected)
        {
            return $"the record holds sequences {header.First}..{header.Last}, expected {expected}";
        }
        if (offset + header.Size > reader.Length)
        {
            return $"the record of sequences {header.First}..{header.Last} runs past the end of the file";
        }
        if (header.Kind.HoldsEvents() && hashes.Length < header.Count)
        {
            hashes = new ushort[header.Count];
        }
        var payload = reader.Bytes(offset + LogFormat.RecordHeaderSize, header.PayloadLength);
        problem = LogFormat.CheckPayload(header, payload, header.Kind.HoldsEvents() ? hashes.AsSpan(0, header.Count) : default);
        return problem is null ? null : $"the record of sequences {header.First}..{header.Last}: {problem}";
    }

    /// <summary>
    /// True when the bytes from <paramref name="offset"/> to the end are what an append that never
    /// completed leaves: zeros, or a prefix of a record for sequence <paramref name="expected"/>
    /// (a whole, intact header naming it, or the first bytes of one), possibly followed by zeros
    /// where pages never reached the disk, and nothing after the record's claimed end.
    /// </summary>
    internal static bool IsInterruptedAppend(WindowReader reader, long offset, long expected)
    {
        var lastNonZero = reader.LastNonZero(offset);
        if (lastNonZero < 0)
        {
            return true;
        }
        var present = lastNonZero + 1 - offset;
        if (present < LogFormat.RecordHeaderSize)
        {
            // A header cut short: what is there must agree with the header the writer would have
            // written (of either events kind).
            Span<byte> model = stackalloc byte[16];
            BinaryPrimitives.WriteUInt32LittleEndian(model, LogFormat.RecordMagic);
            BinaryPrimitives.WriteInt64LittleEndian(model[8..], expected);
            var bytes = reader.Bytes(offset, (int)present);
            var comparable = (int)Math.Min(present, model.Length);
            if (comparable > 4 && bytes[4] == (byte)RecordKind.AuditedEvents)
            {
                model[4] = (byte)RecordKind.AuditedEvents;
            }
            else
            {
                model[4] = (byte)RecordKind.Events;
            }
            return bytes[..comparable].SequenceEqual(model[..comparable]);
        }
        var problem = LogFormat.TryReadHeader(reader.Bytes(offset, LogFormat.RecordHeaderSize), out var header);
        return problem is null && header.Kind.HoldsEvents() && header.First == expected && offset + header.Size > lastNonZero + 1;
    }

    private static bool IsPrefixOrZeros(WindowReader reader, ReadOnlySpan<byte> model)
    {
        var bytes = reader.BytesUpTo(0, (int)reader.Length);
        return !bytes.ContainsAnyExcept((byte)0) || model.StartsWith(bytes);
    }

    /// <summary>The one message for damage: where, what, which sequences, what to do.</summary>
    private static EventLogDamagedException Damaged(string directory, Segment segment, long offset, string problem, long expected,
        WindowReader reader, List<(long First, string Path)> files, int fileIndex)
    {
        var after = LogSalvage.IntactAfter(reader, offset, files, fileIndex);
        string consequence;
        if (after.Count > 0)
        {
            consequence = $"{after.Count} intact record(s) follow it (sequences {after[0].First}..{after[^1].Last}), so this is damage, " +
                $"not an interrupted append: acknowledged events from sequence {expected} on are affected" +
                (after[0].First > expected ? $" (sequences {expected}..{after[0].First - 1} are unreadable)" : "");
        }
        else
        {
            var bytes = reader.Length - offset;
            consequence = $"the {bytes} byte(s) from there to the end of the file are neither intact records nor what an interrupted " +
                $"append leaves (zeros, or a record for sequence {expected} cut short); if they held acknowledged events, " +
                $"those from sequence {expected} on are affected";
        }
        return new EventLogDamagedException($"event log {directory} is damaged: {segment.Name} at offset {offset}: {problem}; " +
            $"the last intact event before it is sequence {expected - 1}; {consequence}. " + EventLogDamagedException.Advice(directory));
    }
}
