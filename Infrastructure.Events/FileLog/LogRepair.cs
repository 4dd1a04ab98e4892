using System.Globalization;
using Serilog;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// The repair command behind <c>butterflyd --repair-log</c>, for a log the open refused as
/// damaged. It works on a stopped log (it takes the directory's lock), shows what it keeps and
/// drops, and only with <c>apply</c> changes anything:
/// <list type="number">
/// <item>every log file is first copied to <c>DIR/damaged-TIME/</c>;</item>
/// <item>every intact record is kept, with its sequences (resynchronising past bad bytes on the
/// next intact record header); sequences that were in unreadable records, or that a snapshot
/// proves existed past the end of the log, become a "lost" record, so the history keeps its
/// numbering and <c>butterfly events</c> shows the loss (type EventsLost);</item>
/// <item>the new log is written beside the old one (<c>*.repairing</c>), then swapped in; a marker
/// file makes an interrupted swap restart from the copy.</item>
/// </list>
/// Events in lost sequences are gone from the history. The configuration comes back exactly
/// when a snapshot newer than the loss exists (the daemon starts from it); otherwise the events
/// after the loss are replayed without the lost ones, and the repair says so.
/// </summary>
public static class LogRepair
{
    private const string MarkerFileName = "REPAIRING";

    /// <summary>What a repair keeps and drops.</summary>
    public sealed class Plan
    {
        private readonly List<string> _lines = [];

        public long EventsKept { get; internal set; }

        public long LostSequences { get; private set; }

        public long DroppedBytes { get; private set; }

        /// <summary>The first sequence lost, 0 when none.</summary>
        public long FirstLost { get; private set; }

        /// <summary>True when applying the plan would change the log.</summary>
        public bool ChangesAnything => _lines.Count > 0;

        public IReadOnlyList<string> Lines => _lines;

        internal void Drop(string file, long from, long to, string why)
        {
            if (to <= from)
            {
                return;
            }
            DroppedBytes += to - from;
            _lines.Add($"drop {file} bytes {from}..{to - 1} ({to - from} bytes): {why}");
        }

        internal void Lose(long first, long last, string why)
        {
            LostSequences += last - first + 1;
            if (FirstLost == 0)
            {
                FirstLost = first;
            }
            _lines.Add(first == last ? $"lose sequence {first}: {why}" : $"lose sequences {first}..{last}: {why}");
        }

        internal void Convert() => _lines.Add($"convert the format-1 log ({LegacyLogFormat.FileName}) to format 2 (segments events-*.log)");
    }

    /// <summary>
    /// Scans the log in <paramref name="directory"/> and prints the plan to <paramref name="output"/>;
    /// with <paramref name="apply"/>, carries it out. Returns 0 when the log is (now) sound, 1 when
    /// a repair is needed and was not applied.
    /// </summary>
    /// <exception cref="IOException">The daemon (or another repair) holds the log directory.</exception>
    public static int Run(string directory, bool apply, TextWriter output, ILogger log, long segmentBytes = FileEventStoreOptions.DefaultSegmentBytes)
    {
        directory = Path.GetFullPath(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"event log directory {directory} does not exist");
        }
        using var directoryLock = DirectoryLock.Acquire(directory);
        var marker = Path.Combine(directory, MarkerFileName);
        if (File.Exists(marker))
        {
            RestoreInterrupted(directory, marker, output);
        }
        var plan = Scan(directory, writer: null);
        output.WriteLine($"event log {directory}:");
        foreach (var line in plan.Lines)
        {
            output.WriteLine("  " + line);
        }
        output.WriteLine($"  keep {plan.EventsKept} intact event(s)");
        if (!plan.ChangesAnything)
        {
            output.WriteLine("nothing to repair: every record is intact and the log reaches its newest snapshot");
            return 0;
        }
        if (plan.FirstLost > 0)
        {
            var snapshot = SnapshotFiles.Newest(directory);
            output.WriteLine(snapshot.Sequence >= plan.FirstLost + plan.LostSequences - 1 && snapshot.Sequence > 0
                ? $"the configuration after the loss comes from snapshot {snapshot.Name} (sequence {snapshot.Sequence}): it is restored exactly"
                : "no snapshot covers the lost sequences: the configuration is rebuilt without their events; check it (butterfly dump) after the start");
        }
        if (!apply)
        {
            output.WriteLine("nothing was changed; run again with --yes to apply this repair (the log files are copied first)");
            return 1;
        }

        var stamp = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var backup = Path.Combine(directory, "damaged-" + stamp);
        Directory.CreateDirectory(backup);
        var originals = LogFiles(directory);
        foreach (var file in originals)
        {
            var copy = Path.Combine(backup, Path.GetFileName(file));
            File.Copy(file, copy);
            using var handle = File.OpenHandle(copy, FileMode.Open, FileAccess.ReadWrite);
            Native.DataSync(handle, copy);
        }
        Native.SyncDirectory(backup);
        Native.SyncDirectory(directory);

        SegmentWriter.DeleteLeftovers(directory, SegmentFiles.RepairingSuffix);
        using (var writer = new SegmentWriter(directory, SegmentFiles.RepairingSuffix, segmentBytes))
        {
            Scan(directory, writer);
            writer.Finish();
        }
        File.WriteAllText(marker, Path.GetFileName(backup) + "\n");
        Native.SyncDirectory(directory);
        foreach (var file in originals)
        {
            File.Delete(file);
        }
        SegmentWriter.Publish(directory, SegmentFiles.RepairingSuffix);
        File.Delete(marker);
        Native.SyncDirectory(directory);
        log.Warning("Event log {Directory} repaired: {Kept} events kept, {Lost} sequences marked lost, {Bytes} bytes dropped; copy in {Backup}",
            directory, plan.EventsKept, plan.LostSequences, plan.DroppedBytes, backup);
        output.WriteLine($"repaired; the original files are in {backup}");
        return 0;
    }

    /// <summary>The files that make up the log (segments, or a format-1 events.log).</summary>
    private static List<string> LogFiles(string directory)
    {
        var files = SegmentFiles.List(directory).Select(s => s.Path).ToList();
        var legacy = Path.Combine(directory, LegacyLogFormat.FileName);
        if (File.Exists(legacy))
        {
            files.Add(legacy);
        }
        return files;
    }

    private static void RestoreInterrupted(string directory, string marker, TextWriter output)
    {
        var backup = Path.Combine(directory, File.ReadAllText(marker).Trim());
        output.WriteLine($"an earlier repair was interrupted: restoring the log files from {backup} first");
        foreach (var file in LogFiles(directory))
        {
            File.Delete(file);
        }
        SegmentWriter.DeleteLeftovers(directory, SegmentFiles.RepairingSuffix);
        foreach (var file in Directory.EnumerateFiles(backup))
        {
            File.Copy(file, Path.Combine(directory, Path.GetFileName(file)));
        }
        Native.SyncDirectory(directory);
        File.Delete(marker);
        Native.SyncDirectory(directory);
    }

    /// <summary>True when an interrupted repair left its marker: the log must not be opened.</summary>
    internal static bool IsInterrupted(string directory) => File.Exists(Path.Combine(directory, MarkerFileName));

    /// <summary>Walks the log, fills a plan, and writes the repaired log to <paramref name="writer"/> when given.</summary>
    private static Plan Scan(string directory, SegmentWriter? writer)
    {
        var plan = new Plan();
        var legacy = Path.Combine(directory, LegacyLogFormat.FileName);
        long expected;
        DateTimeOffset lastTimestamp = DateTimeOffset.UnixEpoch;
        if (File.Exists(legacy))
        {
            expected = LegacyLog.Convert(directory, legacy, writer, plan, Serilog.Core.Logger.None) + 1;
            plan.EventsKept = expected - 1 - plan.LostSequences;
            // Converting a format-1 log is itself a change.
            plan.Convert();
        }
        else
        {
            expected = ScanSegments(directory, writer, plan, ref lastTimestamp);
        }

        var snapshot = SnapshotFiles.Newest(directory);
        if (snapshot.Sequence >= expected)
        {
            var why = $"missing from the log although snapshot {snapshot.Name} was taken at sequence {snapshot.Sequence} " +
                "(its configuration stands for them)";
            plan.Lose(expected, snapshot.Sequence, why);
            if (writer is not null)
            {
                var buffer = new System.Buffers.ArrayBufferWriter<byte>();
                LogFormat.WriteLost(buffer, expected, checked((int)(snapshot.Sequence - expected + 1)), lastTimestamp, why);
                writer.Append(buffer.WrittenSpan, expected);
            }
        }
        return plan;
    }

    private static long ScanSegments(string directory, SegmentWriter? writer, Plan plan, ref DateTimeOffset lastTimestamp)
    {
        long expected = 1;
        var files = SegmentFiles.List(directory);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        foreach (var (_, path) in files)
        {
            var name = Path.GetFileName(path);
            using var handle = Native.OpenFile(path, readWriteCreate: false);
            var reader = new WindowReader(handle, RandomAccess.GetLength(handle));
            long position = LogFormat.SegmentHeaderSize;
            var headerProblem = LogFormat.CheckSegmentHeader(reader.BytesUpTo(0, LogFormat.SegmentHeaderSize), out _);
            if (headerProblem is not null)
            {
                position = 0;
            }
            foreach (var (offset, header) in LogSalvage.Intact(reader, position))
            {
                if (offset > position)
                {
                    plan.Drop(name, position, offset, Reason(reader, position, expected, headerProblem));
                }
                headerProblem = null;
                position = offset + header.Size;
                if (header.Last < expected)
                {
                    plan.Drop(name, offset, position, $"a record of sequences {header.First}..{header.Last} repeats sequences already kept");
                    continue;
                }
                if (header.First != expected)
                {
                    if (header.First < expected)
                    {
                        plan.Drop(name, offset, position, $"a record of sequences {header.First}..{header.Last} overlaps sequences already kept");
                        continue;
                    }
                    var why = $"unreadable in {name} before offset {offset}";
                    plan.Lose(expected, header.First - 1, why);
                    if (writer is not null)
                    {
                        buffer.ResetWrittenCount();
                        LogFormat.WriteLost(buffer, expected, checked((int)(header.First - expected)), lastTimestamp, why);
                        writer.Append(buffer.WrittenSpan, expected);
                    }
                }
                writer?.Append(reader.Bytes(offset, (int)header.Size), header.First);
                if (header.Kind.HoldsEvents())
                {
                    plan.EventsKept += header.Count;
                }
                expected = header.Last + 1;
                lastTimestamp = header.Timestamp;
            }
            if (position < reader.Length)
            {
                var reason = LogVerifier.IsInterruptedAppend(reader, position, expected)
                    ? "an append interrupted before it was acknowledged"
                    : Reason(reader, position, expected, headerProblem);
                plan.Drop(name, position, reader.Length, reason);
            }
        }
        return expected;
    }

    private static string Reason(WindowReader reader, long offset, long expected, string? headerProblem)
    {
        if (headerProblem is not null && offset == 0)
        {
            return headerProblem;
        }
        var hashes = new ushort[16];
        return LogVerifier.CheckRecord(reader, offset, expected, ref hashes, out _) ?? "not a record";
    }
}
