using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Butterfly.Application.Ports;
using Microsoft.Win32.SafeHandles;
using Serilog;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>Settings of <see cref="FileEventStore"/>; the defaults are what the daemon uses.</summary>
public sealed record FileEventStoreOptions
{
    public const long DefaultSegmentBytes = 64L << 20;

    /// <summary>Clock of the batch timestamps (tests substitute their own).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How many of the newest snapshots are kept on disk.</summary>
    public int SnapshotsToKeep { get; init; } = 3;

    /// <summary>A new segment file is started once the newest one holds this many bytes.</summary>
    public long SegmentBytes { get; init; } = DefaultSegmentBytes;
}

/// <summary>
/// The embedded event store: an append-only, checksummed log in segment files
/// <c>events-&lt;first sequence&gt;.log</c> in a directory, plus snapshot files. Events are
/// read back from the files through an index of 8 bytes per event that lives in an unnamed file
/// of the directory, not in memory (<see cref="EventIndex"/>), so memory does not grow with the
/// history.
/// </summary>
/// <remarks>
/// <para>Durability: a batch is one record (see <see cref="LogFormat"/>); AppendAsync returns
/// only after the record is written and fdatasync'ed. Concurrent appends are grouped by a
/// single writer loop (<see cref="GroupCommitter"/>) into one write and one fdatasync.</para>
/// <para>Recovery: opening verifies every record (<see cref="LogVerifier"/>): an append that a
/// crash interrupted is cut; any other damage refuses the open with
/// <see cref="EventLogDamagedException"/> and changes nothing, and <see cref="LogRepair"/>
/// (<c>butterflyd --repair-log</c>) repairs it. A format-1 log is migrated on open
/// (<see cref="LegacyLog"/>). An flock on DIR/LOCK keeps a second daemon out.</para>
/// <para>A failed fdatasync makes the store refuse further appends: after such a failure the
/// kernel may have dropped the unwritten pages, so retrying could acknowledge data that is
/// not on disk. Restarting re-verifies the file from its checksums.</para>
/// </remarks>
public sealed class FileEventStore : IEventStore
{
    private readonly string _directory;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly long _segmentBytes;
    private readonly DirectoryLock _lock;
    private readonly EventIndex _index;
    private readonly LogReader _reader;
    private readonly SnapshotFiles _snapshots;
    private readonly GroupCommitter _committer;
    private volatile Segment[] _segments;

    // Owned by the writer loop.
    private ArrayBufferWriter<byte> _writeBuffer = new(64 << 10);
    private DateTimeOffset _lastTimestamp;
    private Exception? _fault;

    private int _disposed;

    private FileEventStore(string directory, ILogger log, FileEventStoreOptions options, DirectoryLock directoryLock,
        EventIndex index, SnapshotFiles snapshots, LogVerifier.Outcome scan)
    {
        _directory = directory;
        _log = log;
        _time = options.Time;
        _segmentBytes = options.SegmentBytes;
        _lock = directoryLock;
        _index = index;
        _snapshots = snapshots;
        _segments = [.. scan.Segments];
        _reader = new LogReader(() => _segments);
        _lastTimestamp = scan.LastTimestamp;
        _committer = new GroupCommitter(CommitGroup);
    }

    public string Description => $"file:{_directory}";

    /// <summary>The host this log is of (the daemon's --host-id): a file log holds one host's events.</summary>
    public string? HostId { get; internal set; }

    /// <summary>Groups committed by the writer loop (for tests and diagnostics).</summary>
    internal long GroupsCommitted => _committer.GroupsCommitted;

    /// <summary>The event index (for tests and diagnostics).</summary>
    internal EventIndex Index => _index;

    /// <summary>The segment files, oldest first (for tests and diagnostics).</summary>
    internal IReadOnlyList<string> SegmentPaths => [.. _segments.Select(s => s.Path)];

    /// <summary>Opens (creating it if missing) the log in <paramref name="directory"/> with the default options.</summary>
    public static Task<FileEventStore> OpenAsync(string directory, ILogger log, CancellationToken cancellationToken = default) =>
        OpenAsync(directory, log, new FileEventStoreOptions(), cancellationToken);

    /// <summary>
    /// Opens (creating it if missing) the log in <paramref name="directory"/>: takes the
    /// directory lock, migrates a format-1 log, verifies and indexes every record, cuts an
    /// interrupted append.
    /// </summary>
    /// <exception cref="IOException">Another process has the directory open, or the disk failed.</exception>
    /// <exception cref="EventLogDamagedException">The log is damaged beyond an interrupted append; nothing was changed (an IOException).</exception>
    /// <exception cref="InvalidDataException">DIR/events.log is not a Butterfly event log.</exception>
    public static Task<FileEventStore> OpenAsync(string directory, ILogger log, FileEventStoreOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SnapshotsToKeep, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SegmentBytes, 4096, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.SegmentBytes, 1L << 31, nameof(options));
        // Start-up work is blocking file I/O; keep it off the caller's thread.
        return Task.Run(() => Open(Path.GetFullPath(directory), log, options), cancellationToken);
    }

    private static FileEventStore Open(string directory, ILogger log, FileEventStoreOptions options)
    {
        var started = Stopwatch.StartNew();
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory);
            Native.SyncDirectory(Path.GetDirectoryName(directory) ?? directory);
        }
        var directoryLock = DirectoryLock.Acquire(directory);
        EventIndex? index = null;
        try
        {
            if (LogRepair.IsInterrupted(directory))
            {
                throw new EventLogDamagedException($"event log {directory}: a repair was interrupted; run butterflyd --repair-log --yes " +
                    $"--event-store file:{directory} again to finish it (the original files are in {directory}/damaged-TIME/)");
            }
            LegacyLog.MigrateIfPresent(directory, options.SegmentBytes, log);
            var files = SegmentFiles.List(directory);
            if (files.Count == 0)
            {
                files.Add((1, CreateSegment(directory, 1)));
            }
            var indexFile = Native.TryOpenTemporary(directory, out var noIndexFile);
            if (indexFile is null)
            {
                log.Warning("Event log {Directory}: no index file ({Reason}); the index is kept in memory, 8 bytes per event",
                    directory, noIndexFile);
            }
            index = new EventIndex(indexFile);
            var (snapshotSequence, snapshotName) = SnapshotFiles.Newest(directory);
            var scan = LogVerifier.Verify(directory, files, index, snapshotSequence, snapshotName, log);
            if (scan.Segments.Count == 0)
            {
                // The first segment's creation was interrupted: it was removed, make it again.
                scan = LogVerifier.Verify(directory, [(1, CreateSegment(directory, 1))], index, snapshotSequence, snapshotName, log);
            }
            var snapshots = new SnapshotFiles(directory, options.SnapshotsToKeep, log);
            snapshots.Recover();
            log.Information("Event log {Directory}: {Events} events in {Segments} segment(s), opened in {Milliseconds} ms",
                directory, index.LastSequence, scan.Segments.Count, started.ElapsedMilliseconds);
            return new FileEventStore(directory, log, options, directoryLock, index, snapshots, scan);
        }
        catch
        {
            index?.Dispose();
            directoryLock.Dispose();
            throw;
        }
    }

    /// <summary>Creates an empty segment whose first sequence is <paramref name="first"/>, durably (file and name).</summary>
    private static string CreateSegment(string directory, long first)
    {
        var path = Path.Combine(directory, SegmentFiles.NameOf(first));
        try
        {
            using var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write);
            RandomAccess.Write(handle, LogFormat.SegmentHeader(first), 0);
            Native.DataSync(handle, path);
            Native.SyncDirectory(directory);
            return path;
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(path);
            throw;
        }
    }

    public Task<IReadOnlyList<StoredEvent>> AppendAsync(IReadOnlyList<NewEvent> batch, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        EventBatches.Validate(batch);
        if (batch.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<StoredEvent>>([]);
        }
        var size = LogFormat.PayloadSize(batch);
        if (size > LogFormat.MaxPayloadBytes)
        {
            throw new ArgumentException($"the batch takes {size} bytes, more than the {LogFormat.MaxPayloadBytes} one record may hold", nameof(batch));
        }
        // A private copy: the caller may reuse its list while the batch waits for the writer.
        return _committer.EnqueueAsync([.. batch], cancellationToken);
    }

    /// <summary>Runs on the writer loop: one write and one fdatasync for every batch of the group.</summary>
    private Task<IReadOnlyList<StoredEvent>[]> CommitGroup(IReadOnlyList<IReadOnlyList<NewEvent>> batches)
    {
        if (_fault is not null)
        {
            throw new IOException($"event log {_directory} refuses appends after an earlier failure ({_fault.Message}); " +
                "restart the daemon to re-verify the log", _fault);
        }
        var active = _segments[^1];
        if (active.Length >= _segmentBytes && active.Length > LogFormat.SegmentHeaderSize)
        {
            active = StartSegment(_index.LastSequence + 1);
        }
        var timestamp = EventBatches.NextTimestamp(_time, _lastTimestamp);
        var next = _index.LastSequence + 1;
        var results = new IReadOnlyList<StoredEvent>[batches.Count];
        var offsets = new long[batches.Count];
        _writeBuffer.ResetWrittenCount();
        for (var i = 0; i < batches.Count; i++)
        {
            offsets[i] = active.Length + _writeBuffer.WrittenCount;
            LogFormat.WriteEvents(_writeBuffer, batches[i], next, timestamp);
            results[i] = EventBatches.Stamp(batches[i], next, timestamp);
            next += batches[i].Count;
        }
        var written = _writeBuffer.WrittenCount;
        try
        {
            RandomAccess.Write(active.Handle, _writeBuffer.WrittenSpan, active.Length);
        }
        catch (Exception ex)
        {
            // E.g. a full disk: cut what may have reached the file so it ends on the last
            // acknowledged record again, and stay usable for when space comes back.
            CutBackAfterFailure(active, ex);
            throw;
        }
        try
        {
            Native.DataSync(active.Handle, active.Path);
        }
        catch (Exception ex)
        {
            _fault = ex;
            _log.Error(ex, "Event log {Path}: fdatasync failed; refusing further appends until restart", active.Path);
            throw;
        }
        active.Length += written;
        _lastTimestamp = timestamp;
        for (var i = 0; i < batches.Count; i++)
        {
            var hashes = new ushort[batches[i].Count];
            for (var k = 0; k < hashes.Length; k++)
            {
                hashes[k] = LogFormat.AggregateHash(batches[i][k].AggregateKind, batches[i][k].AggregateId);
            }
            _index.Add(active.Ordinal, offsets[i], hashes);
        }
        if (_writeBuffer.Capacity > 4 * GroupCommitter.MaxGroupBytes)
        {
            // Do not keep the memory of one exceptional group for the life of the daemon.
            _writeBuffer = new ArrayBufferWriter<byte>(64 << 10);
        }
        return Task.FromResult(results);
    }

    /// <summary>Seals the newest segment and starts the next one at <paramref name="first"/>.</summary>
    private Segment StartSegment(long first)
    {
        var path = CreateSegment(_directory, first);
        var handle = Native.OpenFile(path, readWriteCreate: true);
        var segment = new Segment(_segments.Length, first, path, handle, LogFormat.SegmentHeaderSize);
        _segments = [.. _segments, segment];
        _log.Information("Event log {Directory}: new segment {Segment}", _directory, segment.Name);
        return segment;
    }

    private void CutBackAfterFailure(Segment active, Exception writeError)
    {
        try
        {
            RandomAccess.SetLength(active.Handle, active.Length);
            _log.Error(writeError, "Event log {Path}: write failed; the batches were not stored", active.Path);
        }
        catch (Exception ex)
        {
            _fault = ex;
            _log.Error(ex, "Event log {Path}: write failed and the partial write could not be cut; refusing further appends", active.Path);
        }
    }

    public async IAsyncEnumerable<StoredEvent> ReadAsync(long afterSequence, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var view = _index.Snapshot();
        var n = 0;
        foreach (var e in _reader.Read(view, afterSequence))
        {
            if ((++n & 1023) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                // A long replay should not hold a thread-pool thread for its whole length.
                await Task.Yield();
            }
            yield return e;
        }
    }

    public Task<IReadOnlyList<StoredEvent>> QueryAsync(EventFilter filter, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        EventBatches.Validate(filter);
        var view = _index.Snapshot();
        return Task.Run<IReadOnlyList<StoredEvent>>(() => _reader.Query(view, filter, cancellationToken), cancellationToken);
    }

    public Task<long> LastSequenceAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Task.FromResult(_index.LastSequence);
    }

    public Task<long> SequenceAtAsync(DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var view = _index.Snapshot();
        return Task.Run(() => _reader.SequenceAt(view, time), cancellationToken);
    }

    public Task SaveSnapshotAsync(StoredSnapshot snapshot, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        EventBatches.Validate(snapshot, _index.LastSequence);
        return Task.Run(() => _snapshots.Save(snapshot), cancellationToken);
    }

    public Task<StoredSnapshot?> LoadSnapshotAsync(long atOrBeforeSequence = long.MaxValue, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Task.Run(() => _snapshots.Load(Math.Min(atOrBeforeSequence, _index.LastSequence)), cancellationToken);
    }

    /// <summary>Writes what is already queued, then closes the log and releases the directory lock.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _committer.DisposeAsync().ConfigureAwait(false);
        foreach (var segment in _segments)
        {
            segment.Dispose();
        }
        _index.Dispose();
        _lock.Dispose();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
