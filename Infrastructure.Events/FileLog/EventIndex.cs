namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// Where every event of the log is, in 8 bytes per event: the segment (16 bits) and offset
/// (32 bits) of the record that holds it, and 16 bits of a hash of its aggregate (kind and
/// id), so a query for one NIC or group reads only the records that may hold its events. The
/// events themselves stay on disk: memory grows by 8 MB per million events, whatever they
/// carry. Event n sits at position n - 1.
/// </summary>
/// <remarks>
/// Entries live in fixed chunks of 65 536, so growing never copies them. One writer (the
/// open-time scan, then the group-commit loop) adds; any number of readers take a
/// <see cref="View"/> (the chunk table and a count): entries below the count are never
/// written again, so a reader needs no lock after taking the view.
/// </remarks>
internal sealed class EventIndex
{
    private const int ChunkBits = 16;
    private const int ChunkSize = 1 << ChunkBits;

    private readonly Lock _gate = new();
    private long[][] _chunks = new long[16][];
    private long _count;

    public long LastSequence
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    public static long Entry(int segment, long offset, ushort hash) => ((long)segment << 48) | (offset << 16) | hash;

    public static int SegmentOf(long entry) => (int)((ulong)entry >> 48);

    public static long OffsetOf(long entry) => (long)(((ulong)entry >> 16) & 0xFFFF_FFFF);

    public static ushort HashOf(long entry) => (ushort)entry;

    /// <summary>Adds one entry per hash, all pointing at the record at <paramref name="offset"/> of <paramref name="segment"/>.</summary>
    public void Add(int segment, long offset, ReadOnlySpan<ushort> hashes)
    {
        lock (_gate)
        {
            foreach (var hash in hashes)
            {
                Append(Entry(segment, offset, hash));
            }
        }
    }

    /// <summary>Adds <paramref name="count"/> entries for the record at <paramref name="offset"/> (a lost range).</summary>
    public void AddRange(int segment, long offset, int count)
    {
        lock (_gate)
        {
            for (var i = 0; i < count; i++)
            {
                Append(Entry(segment, offset, 0));
            }
        }
    }

    private void Append(long entry)
    {
        var chunk = (int)(_count >> ChunkBits);
        if (chunk == _chunks.Length)
        {
            var grown = new long[_chunks.Length * 2][];
            Array.Copy(_chunks, grown, _chunks.Length);
            _chunks = grown;
        }
        (_chunks[chunk] ??= new long[ChunkSize])[_count & (ChunkSize - 1)] = entry;
        _count++;
    }

    public View Snapshot()
    {
        lock (_gate)
        {
            return new View(_chunks, _count);
        }
    }

    /// <summary>A stable, read-only window on the first <see cref="Count"/> entries.</summary>
    internal readonly struct View(long[][] chunks, long count)
    {
        public long Count { get; } = count;

        /// <summary>The entry of the event with sequence <paramref name="sequence"/> (1 .. Count).</summary>
        public long this[long sequence]
        {
            get
            {
                var position = sequence - 1;
                return chunks[position >> ChunkBits][position & (ChunkSize - 1)];
            }
        }
    }
}
