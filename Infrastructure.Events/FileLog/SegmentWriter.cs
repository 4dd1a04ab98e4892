namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// Writes a whole log anew as segment files with a temporary suffix (the migration from format 1
/// and the repair command): records in sequence order, a new segment whenever the current one
/// passes the size limit, every file fsync'ed by <see cref="Finish"/>. Renaming them into place
/// is the caller's step, so a crash before it leaves the old log as it was.
/// </summary>
internal sealed class SegmentWriter(string directory, string suffix, long segmentBytes) : IDisposable
{
    private readonly List<string> _written = [];
    private FileStream? _current;

    /// <summary>Appends one whole record whose first sequence is <paramref name="first"/>.</summary>
    public void Append(ReadOnlySpan<byte> record, long first)
    {
        if (_current is null || _current.Length >= segmentBytes)
        {
            Close();
            var path = Path.Combine(directory, SegmentFiles.NameOf(first) + suffix);
            _current = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            _current.Write(LogFormat.SegmentHeader(first));
            _written.Add(path);
        }
        _current.Write(record);
    }

    /// <summary>Makes every file durable and returns their paths, oldest first.</summary>
    public List<string> Finish()
    {
        Close();
        Native.SyncDirectory(directory);
        return _written;
    }

    private void Close()
    {
        if (_current is null)
        {
            return;
        }
        _current.Flush(flushToDisk: true);
        _current.Dispose();
        _current = null;
    }

    public void Dispose()
    {
        _current?.Dispose();
        _current = null;
    }

    /// <summary>Renames files written with <paramref name="suffix"/> to their segment names and syncs the directory.</summary>
    public static void Publish(string directory, string suffix)
    {
        foreach (var (_, path) in SegmentFiles.ListWith(directory, suffix))
        {
            File.Move(path, path[..^suffix.Length], overwrite: false);
        }
        Native.SyncDirectory(directory);
    }

    /// <summary>Deletes files left with <paramref name="suffix"/> by an interrupted rewrite.</summary>
    public static void DeleteLeftovers(string directory, string suffix)
    {
        foreach (var (_, path) in SegmentFiles.ListWith(directory, suffix))
        {
            File.Delete(path);
        }
    }
}
