namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// Finds intact records past damage: from a bad spot, the next place where the record magic
/// starts a header that passes its checksum and a payload that passes its own. The open-time
/// check uses it to say which sequences follow a bad record; the repair command to keep them.
/// </summary>
internal static class LogSalvage
{
    /// <summary>An intact record and where it is.</summary>
    internal readonly record struct Found(long Offset, RecordHeader Header);

    /// <summary>Intact records after <paramref name="offset"/> in this file, then in every later file of <paramref name="files"/>.</summary>
    public static List<RecordHeader> IntactAfter(WindowReader reader, long offset, List<(long First, string Path)> files, int fileIndex)
    {
        var found = Intact(reader, offset + 1).Select(f => f.Header).ToList();
        for (var i = fileIndex + 1; i < files.Count; i++)
        {
            using var handle = Native.OpenFile(files[i].Path, readWriteCreate: false);
            var later = new WindowReader(handle, RandomAccess.GetLength(handle));
            found.AddRange(Intact(later, LogFormat.SegmentHeaderSize).Select(f => f.Header));
        }
        return found;
    }

    /// <summary>Every intact record from <paramref name="from"/> on, skipping over whatever is not one.</summary>
    public static IEnumerable<Found> Intact(WindowReader reader, long from)
    {
        var at = from;
        while (at < reader.Length)
        {
            if (IsIntact(reader, at, out var header))
            {
                yield return new Found(at, header);
                at += header.Size;
                continue;
            }
            var next = reader.IndexOf(LogFormat.RecordMagicBytes, at + 1);
            if (next < 0)
            {
                yield break;
            }
            at = next;
        }
    }

    /// <summary>True when a whole record starts at <paramref name="offset"/> and passes every check but the sequence one.</summary>
    public static bool IsIntact(WindowReader reader, long offset, out RecordHeader header)
    {
        if (LogFormat.TryReadHeader(reader.BytesUpTo(offset, LogFormat.RecordHeaderSize), out header) is not null
            || offset + header.Size > reader.Length)
        {
            return false;
        }
        return LogFormat.CheckPayload(header, reader.Bytes(offset + LogFormat.RecordHeaderSize, header.PayloadLength)) is null;
    }
}
