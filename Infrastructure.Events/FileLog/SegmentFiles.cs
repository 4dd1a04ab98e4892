using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// Names and finds the segment files of a log directory: <c>events-&lt;first sequence:20 digits&gt;.log</c>,
/// oldest first in name order. Only the newest segment is ever appended to; the writer starts
/// a new one when it passes <see cref="FileEventStoreOptions.SegmentBytes"/>, so no file grows
/// without bound and old history sits in files that never change again.
/// </summary>
internal static class SegmentFiles
{
    private const string Prefix = "events-";
    private const string Suffix = ".log";

    /// <summary>Suffix of segments being written by a migration from format 1, before they count.</summary>
    public const string MigratingSuffix = ".migrating";

    /// <summary>Suffix of segments being written by the repair command, before they count.</summary>
    public const string RepairingSuffix = ".repairing";

    public static string NameOf(long first) => Prefix + first.ToString("D20", CultureInfo.InvariantCulture) + Suffix;

    /// <summary>The segments of <paramref name="directory"/> in sequence order.</summary>
    public static List<(long First, string Path)> List(string directory) => ListWith(directory, "");

    /// <summary>Files named like segments plus <paramref name="extra"/> (e.g. <see cref="MigratingSuffix"/>).</summary>
    public static List<(long First, string Path)> ListWith(string directory, string extra)
    {
        var suffix = Suffix + extra;
        var found = new List<(long, string)>();
        foreach (var path in Directory.EnumerateFiles(directory, Prefix + "*" + suffix))
        {
            var name = Path.GetFileName(path);
            if (!name.EndsWith(suffix, StringComparison.Ordinal) || name.Length != Prefix.Length + 20 + suffix.Length)
            {
                continue;
            }
            if (long.TryParse(name.AsSpan(Prefix.Length, 20), NumberStyles.None, CultureInfo.InvariantCulture, out var first))
            {
                found.Add((first, path));
            }
        }
        found.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return found;
    }
}

/// <summary>One open segment: its file, where it starts in the history and (for the newest) how long it is.</summary>
internal sealed class Segment(int ordinal, long first, string path, SafeFileHandle handle, long length) : IDisposable
{
    public int Ordinal { get; } = ordinal;

    public long First { get; } = first;

    public string Path { get; } = path;

    public string Name => System.IO.Path.GetFileName(Path);

    public SafeFileHandle Handle { get; } = handle;

    private long _length = length;

    /// <summary>Bytes that hold durable records (the writer advances it after each fdatasync).</summary>
    public long Length
    {
        get => Volatile.Read(ref _length);
        set => Volatile.Write(ref _length, value);
    }

    public void Dispose() => Handle.Dispose();
}

/// <summary>
/// Reads a file through a large window, so a scan over many small records makes few system
/// calls. Not thread-safe: one scan at a time.
/// </summary>
internal sealed class WindowReader(SafeFileHandle file, long length)
{
    private const int WindowBytes = 1 << 20;

    private byte[] _window = new byte[WindowBytes];
    private long _windowStart;
    private int _windowLength;

    public long Length { get; } = length;

    /// <summary>Bytes [offset, offset + count) of the file; the range must lie within <see cref="Length"/>.</summary>
    public ReadOnlySpan<byte> Bytes(long offset, int count)
    {
        if (offset < _windowStart || offset + count > _windowStart + _windowLength)
        {
            if (count > _window.Length)
            {
                _window = new byte[count];
            }
            _windowStart = offset;
            _windowLength = (int)Math.Min(_window.Length, Length - offset);
            ReadExactly(file, _window.AsSpan(0, _windowLength), offset);
        }
        return _window.AsSpan((int)(offset - _windowStart), count);
    }

    /// <summary>Up to <paramref name="count"/> bytes from <paramref name="offset"/>, fewer at the end of the file.</summary>
    public ReadOnlySpan<byte> BytesUpTo(long offset, int count) => Bytes(offset, (int)Math.Min(count, Length - offset));

    /// <summary>Offset of the last non-zero byte at or after <paramref name="from"/>, or -1 when everything from there is zero.</summary>
    public long LastNonZero(long from)
    {
        for (var end = Length; end > from;)
        {
            var start = Math.Max(from, end - WindowBytes);
            var chunk = Bytes(start, (int)(end - start));
            var at = chunk.LastIndexOfAnyExcept((byte)0);
            if (at >= 0)
            {
                return start + at;
            }
            end = start;
        }
        return -1;
    }

    /// <summary>The next offset after <paramref name="from"/> where <paramref name="pattern"/> starts, or -1.</summary>
    public long IndexOf(ReadOnlySpan<byte> pattern, long from)
    {
        for (var start = from; start + pattern.Length <= Length;)
        {
            var chunk = BytesUpTo(start, WindowBytes);
            var at = chunk.IndexOf(pattern);
            if (at >= 0)
            {
                return start + at;
            }
            // Overlap by the pattern's length less one, so a match across two windows is found.
            start += Math.Max(1, chunk.Length - pattern.Length + 1);
        }
        return -1;
    }

    public static void ReadExactly(SafeFileHandle file, Span<byte> into, long offset)
    {
        while (!into.IsEmpty)
        {
            var n = RandomAccess.Read(file, into, offset);
            if (n <= 0)
            {
                throw new EndOfStreamException("the event log shrank while it was being read");
            }
            into = into[n..];
            offset += n;
        }
    }
}
