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
    /// <summary>Clock of the batch timestamps (tests substitute their own).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How many of the newest snapshots are kept on disk.</summary>
    public int SnapshotsToKeep { get; init; } = 3;
}

/// <summary>
/// The embedded event store: an append-only, checksummed log file <c>events.log</c> in a
/// directory, plus snapshot files, with every event held in memory for queries.
/// </summary>
/// <remarks>
/// <para>Durability: a batch is one record (see <see cref="LogFormat"/>); AppendAsync returns
/// only after the record is written and fdatasync'ed. Concurrent appends are grouped by a
/// single writer loop (<see cref="GroupCommitter"/>) into one write and one fdatasync.</para>
/// <para>Recovery: opening verifies every record and cuts a torn or damaged tail, logging it
/// (<see cref="LogScanner"/>). An flock on DIR/LOCK keeps a second daemon out.</para>
/// <para>A failed fdatasync makes the store refuse further appends: after such a failure the
/// kernel may have dropped the unwritten pages, so retrying could acknowledge data that is
/// not on disk. Restarting re-verifies the file from its checksums.</para>
/// </remarks>
public sealed class FileEventStore : IEventStore
{
    public const string LogFileName = "events.log";

    private readonly string _directory;
    private readonly string _logPath;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly DirectoryLock _lock;
    private readonly SafeFileHandle _logFile;
    private readonly EventIndex _index;
    private readonly SnapshotFiles _snapshots;
    private readonly GroupCommitter _committer;

    // Owned by the writer loop.
    private ArrayBufferWriter<byte> _writeBuffer = new(64 << 10);
    private long _logLength;
    private DateTimeOffset _lastTimestamp;
    private Exception? _fault;

    private int _disposed;

    private FileEventStore(string directory, string logPath, ILogger log, FileEventStoreOptions options, DirectoryLock directoryLock,
        SafeFileHandle logFile, EventIndex index, SnapshotFiles snapshots, LogScanner.Outcome scan)
    {
        _directory = directory;
        _logPath = logPath;
        _log = log;
        _time = options.Time;
        _lock = directoryLock;
        _logFile = logFile;
        _index = index;
        _snapshots = snapshots;
        _logLength = scan.Length;
        _lastTimestamp = scan.LastTimestamp;
        _committer = new GroupCommitter(CommitGroup);
    }

    public string Description => $"file:{_directory}";

    /// <summary>Groups committed by the writer loop (for tests and diagnostics).</summary>
    internal long GroupsCommitted => _committer.GroupsCommitted;

    /// <summary>Opens (creating it if missing) the log in <paramref name="directory"/> with the default options.</summary>
    public static Task<FileEventStore> OpenAsync(string directory, ILogger log, CancellationToken cancellationToken = default) =>
        OpenAsync(directory, log, new FileEventStoreOptions(), cancellationToken);

    /// <summary>
    /// Opens (creating it if missing) the log in <paramref name="directory"/>: takes the
    /// directory lock, verifies and loads the log, repairs its tail.
    /// </summary>
    /// <exception cref="IOException">Another process has the directory open, or the disk failed.</exception>
    /// <exception cref="InvalidDataException">DIR/events.log is not a Butterfly event log.</exception>
    public static Task<FileEventStore> OpenAsync(string directory, ILogger log, FileEventStoreOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SnapshotsToKeep, 1, nameof(options));
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
        SafeFileHandle? logFile = null;
        try
        {
            var logPath = Path.Combine(directory, LogFileName);
            logFile = File.OpenHandle(logPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
            var index = new EventIndex();
            var scan = LogScanner.Recover(logFile, logPath, index, log);
            var snapshots = new SnapshotFiles(directory, options.SnapshotsToKeep, log);
            snapshots.Recover(index.LastSequence);
            log.Information("Event log {Path}: {Events} events, opened in {Milliseconds} ms",
                logPath, index.LastSequence, started.ElapsedMilliseconds);
            return new FileEventStore(directory, logPath, log, options, directoryLock, logFile, index, snapshots, scan);
        }
        catch
        {
            logFile?.Dispose();
            directoryLock.Dispose();
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
            throw new IOException($"event log {_logPath} refuses appends after an earlier failure ({_fault.Message}); " +
                "restart the daemon to re-verify the log", _fault);
        }
        var timestamp = EventBatches.NextTimestamp(_time, _lastTimestamp);
        var next = _index.LastSequence + 1;
        var results = new IReadOnlyList<StoredEvent>[batches.Count];
        _writeBuffer.ResetWrittenCount();
        for (var i = 0; i < batches.Count; i++)
        {
            LogFormat.WriteRecord(_writeBuffer, batches[i], next, timestamp);
            results[i] = EventBatches.Stamp(batches[i], next, timestamp);
            next += batches[i].Count;
        }
        var written = _writeBuffer.WrittenCount;
        try
        {
            RandomAccess.Write(_logFile, _writeBuffer.WrittenSpan, _logLength);
        }
        catch (Exception ex)
        {
            // E.g. a full disk: cut what may have reached the file so it ends on the last
            // acknowledged record again, and stay usable for when space comes back.
            CutBackAfterFailure(ex);
            throw;
        }
        try
        {
            Native.DataSync(_logFile, _logPath);
        }
        catch (Exception ex)
        {
            _fault = ex;
            _log.Error(ex, "Event log {Path}: fdatasync failed; refusing further appends until restart", _logPath);
            throw;
        }
        _logLength += written;
        _lastTimestamp = timestamp;
        foreach (var stored in results)
        {
            _index.Add(stored);
        }
        if (_writeBuffer.Capacity > 4 * GroupCommitter.MaxGroupBytes)
        {
            // Do not keep the memory of one exceptional group for the life of the daemon.
            _writeBuffer = new ArrayBufferWriter<byte>(64 << 10);
        }
        return Task.FromResult(results);
    }

    private void CutBackAfterFailure(Exception writeError)
    {
        try
        {
            RandomAccess.SetLength(_logFile, _logLength);
            _log.Error(writeError, "Event log {Path}: write failed; the batches were not stored", _logPath);
        }
        catch (Exception ex)
        {
            _fault = ex;
            _log.Error(ex, "Event log {Path}: write failed and the partial write could not be cut; refusing further appends", _logPath);
        }
    }

    public async IAsyncEnumerable<StoredEvent> ReadAsync(long afterSequence, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var view = _index.Snapshot();
        for (var i = Math.Max(0, afterSequence); i < view.Count; i++)
        {
            if ((i & 1023) == 1023)
            {
                cancellationToken.ThrowIfCancellationRequested();
                // A long replay should not hold a thread-pool thread for its whole length.
                await Task.Yield();
            }
            yield return view[(int)i];
        }
    }

    public Task<IReadOnlyList<StoredEvent>> QueryAsync(EventFilter filter, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        EventBatches.Validate(filter);
        return Task.FromResult<IReadOnlyList<StoredEvent>>(_index.Snapshot().Query(filter, cancellationToken));
    }

    public Task<long> LastSequenceAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Task.FromResult(_index.LastSequence);
    }

    public Task<long> SequenceAtAsync(DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Task.FromResult(_index.Snapshot().SequenceAt(time));
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
        _logFile.Dispose();
        _lock.Dispose();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
