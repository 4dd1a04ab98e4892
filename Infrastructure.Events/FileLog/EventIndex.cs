using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// Where every event of the log is, in 8 bytes per event: the segment (16 bits) and offset
/// (32 bits) of the record that holds it, and 16 bits of a hash of its aggregate (kind and
/// id), so a query for one NIC or group reads only the records that may hold its events.
/// Event n sits at position n - 1.
/// </summary>
/// <remarks>
/// <para>Entries are grouped in blocks of 4 096 (32 KiB). A full block is written to the index
/// file (an unnamed temporary file in the log directory, rebuilt by every open's scan, so it
/// needs no fsync and leaves nothing behind) and dropped from memory: memory holds the block
/// being filled and a table of one reference per block (2 KiB per million events), whatever
/// the history's length. Without an index file (a file system without O_TMPFILE), or while
/// writing it fails (a full disk), blocks stay in memory: appends never fail because of the
/// index, and the blocks are written out once the file takes them again.</para>
/// <para>One writer (the open-time scan, then the group-commit loop) adds; any number of
/// readers take a <see cref="View"/> (the block table and a count): entries below the count
/// are never changed, and a block leaves memory only after the file holds it, so a reader
/// needs no lock after taking the view.</para>
/// </remarks>
internal sealed class EventIndex : IDisposable
{
    internal const int BlockBits = 12;
    internal const int BlockSize = 1 << BlockBits;
    private const int BlockBytes = BlockSize * sizeof(long);

    private readonly Lock _gate = new();
    private readonly SafeFileHandle? _file;
    private long[]?[] _blocks = new long[]?[16];
    private long _count;
    /// <summary>Full blocks below this one are in the file (or could not be written: see <see cref="_unwritten"/>).</summary>
    private long _nextToWrite;
    /// <summary>Full blocks still in memory because the file refused them, oldest first.</summary>
    private readonly List<long> _unwritten = [];

    /// <param name="file">The index file, or null to keep every block in memory.</param>
    public EventIndex(SafeFileHandle? file)
    {
        _file = file;
    }

    /// <summary>Whether blocks go to an index file (false: the whole index is in memory).</summary>
    public bool OnDisk => _file is not null;

    /// <summary>Full blocks held in memory: those the index file did not take (a full disk) until it does, or all of them without an index file.</summary>
    public int BlocksInMemory
    {
        get
        {
            lock (_gate)
            {
                return _file is null ? (int)(_count >> BlockBits) : _unwritten.Count;
            }
        }
    }

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
            WriteFullBlocks();
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
            WriteFullBlocks();
        }
    }

    private void Append(long entry)
    {
        var block = (int)(_count >> BlockBits);
        if (block == _blocks.Length)
        {
            // Readers keep the table they took; the new one has the same blocks.
            var grown = new long[]?[_blocks.Length * 2];
            Array.Copy(_blocks, grown, _blocks.Length);
            _blocks = grown;
        }
        (_blocks[block] ??= new long[BlockSize])[_count & (BlockSize - 1)] = entry;
        _count++;
    }

    /// <summary>Writes every full block not yet in the file, retrying those a full disk refused before.</summary>
    private void WriteFullBlocks()
    {
        if (_file is null)
        {
            return;
        }
        var full = _count >> BlockBits;
        while (_unwritten.Count > 0 && TryWrite(_unwritten[0]))
        {
            _unwritten.RemoveAt(0);
        }
        for (; _nextToWrite < full; _nextToWrite++)
        {
            if (!TryWrite(_nextToWrite))
            {
                _unwritten.Add(_nextToWrite);
            }
        }
    }

    private bool TryWrite(long block)
    {
        try
        {
            RandomAccess.Write(_file!, MemoryMarshal.AsBytes(_blocks[block].AsSpan()), block * BlockBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // kept in memory, written by a later add
        }
        // Once the file holds it, a reader that finds no block in the table reads the file.
        Volatile.Write(ref _blocks[block], null);
        return true;
    }

    public View Snapshot()
    {
        lock (_gate)
        {
            return new View(_blocks, _count, _file);
        }
    }

    public void Dispose() => _file?.Dispose();

    /// <summary>A stable, read-only window on the first <see cref="Count"/> entries.</summary>
    internal readonly struct View(long[]?[] blocks, long count, SafeFileHandle? file)
    {
        public long Count { get; } = count;

        /// <summary>A reader of this view's entries that keeps the last block it read from the file.</summary>
        public Cursor Open() => new(blocks, file);
    }

    /// <summary>
    /// Reads entries, block by block: a block still in memory is read in place, one in the file
    /// with one pread of 32 KiB, kept for the next entries. One per reader, not thread-safe.
    /// </summary>
    internal sealed class Cursor(long[]?[] blocks, SafeFileHandle? file)
    {
        private long[]? _buffer;
        private long _bufferBlock = -1;

        /// <summary>The entry of the event with sequence <paramref name="sequence"/> (1 .. the view's Count).</summary>
        public long Entry(long sequence)
        {
            var position = sequence - 1;
            var block = position >> BlockBits;
            var within = (int)(position & (BlockSize - 1));
            if (block == _bufferBlock)
            {
                return _buffer![within];
            }
            if (Volatile.Read(ref blocks[block]) is { } inMemory)
            {
                return inMemory[within];
            }
            _buffer ??= new long[BlockSize];
            var bytes = MemoryMarshal.AsBytes(_buffer.AsSpan());
            WindowReader.ReadExactly(file!, bytes, block * BlockBytes);
            _bufferBlock = block;
            return _buffer[within];
        }
    }
}
