using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Capture;

/// <summary>
/// Stage: packet capture's hand-over from the packet thread to the capture writer — a lock-free
/// single-producer single-consumer ring of copied frame bytes in native memory.
///
/// Input (producer, the packet thread): a frame's bytes (its first segment), its whole length,
/// the round's timestamp, its direction and verdict (<see cref="Write"/>). At most the snap
/// length is copied, into the ring's own memory: the mbuf is free to go on at once.
/// A producer may stage records (<see cref="Stage"/>), change their verdicts, then publish them
/// (<see cref="Publish"/>): frames to a port are captured before they are sent and marked
/// dropped when the port does not take them.
/// Output (consumer, the writer thread): records in order (<see cref="TryPeek"/>, <see cref="Release"/>).
/// Drops: a record that does not fit the free space is not written and is counted
/// (<see cref="Dropped"/>): the producer never waits for the writer.
/// State: the buffer; head (written by the producer only, published with a release store after
/// the records), the staged head (the producer's own), tail (written by the consumer only, after it is done with a record); the
/// producer's counters. Each record is 8-aligned: a 24-byte header (length, captured length,
/// original length, direction, verdict, timestamp) and the bytes. A record that would cross the
/// end of the buffer is preceded by a wrap marker (length 0) and starts at offset 0.
/// Thread: one producer (the packet thread) and one consumer (the capture writer) at a time.
/// Per frame: no allocation, lock, syscall, exception or log; one copy of at most the snap length.
/// </summary>
internal sealed unsafe class CaptureRing : IDisposable
{
    /// <summary>length, captured, original (u32 each), direction, verdict, 2 reserved, timestamp (i64).</summary>
    public const int HeaderLength = 24;

    /// <summary>Where a record's verdict byte is, from the record's start.</summary>
    private const int VerdictOffset = 13;

    /// <summary>The verdict of a frame with none (underlay frames).</summary>
    public const byte NoVerdict = byte.MaxValue;

    /// <summary>Largest snap length: a frame's first segment never holds more.</summary>
    public const int MaxSnapLength = 65535;

    private readonly int _capacity;
    private readonly int _mask;
    private readonly int _snapLength;
    private byte* _buffer;

    // Producer side (the packet thread), then consumer side (the writer), on separate cache lines.
    private readonly Padded _producer = new();
    private readonly Padded _consumer = new();

    // The producer's own: the head past the records staged and not yet published, and how many.
    private long _staged;
    private ulong _stagedCount;

    /// <param name="capacity">Bytes of the ring, a power of two of at least 4 KiB.</param>
    /// <param name="snapLength">Most bytes copied of each frame, 1 to <see cref="MaxSnapLength"/>.</param>
    public CaptureRing(int capacity, int snapLength)
    {
        if (capacity < 4096 || (capacity & (capacity - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "a power of two of at least 4096 bytes");
        }
        if (snapLength is < 1 or > MaxSnapLength || HeaderLength + Align8(snapLength) > capacity / 2)
        {
            throw new ArgumentOutOfRangeException(nameof(snapLength), snapLength, "from 1 to 65535 bytes, and at most half the ring");
        }
        _capacity = capacity;
        _mask = capacity - 1;
        _snapLength = snapLength;
        _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, 64);
    }

    /// <summary>Bytes of the ring.</summary>
    public int Capacity => _capacity;

    /// <summary>Most bytes copied of each frame.</summary>
    public int SnapLength => _snapLength;

    /// <summary>Frames written into the ring so far. Any thread.</summary>
    public ulong Written => Volatile.Read(ref _producer.Count);

    /// <summary>Frames that found the ring full (the writer was behind) and were not captured. Any thread.</summary>
    public ulong Dropped => Volatile.Read(ref _producer.Dropped);

    /// <summary>
    /// Copies a record of <paramref name="frame"/> (at most the snap length of it) into the ring
    /// and publishes it (with any staged before); false, and counted in <see cref="Dropped"/>,
    /// when it does not fit. Producer only.
    /// </summary>
    public bool Write(ReadOnlySpan<byte> frame, uint originalLength, long timestamp, CaptureDirection direction, byte verdict)
    {
        var written = Stage(frame, originalLength, timestamp, direction, verdict) >= 0;
        Publish();
        return written;
    }

    /// <summary>
    /// Copies a record of <paramref name="frame"/> into the ring without publishing it, so its
    /// verdict can still be changed (<see cref="SetVerdict"/>) until <see cref="Publish"/>: a frame
    /// about to be sent is staged as passed, and marked dropped if the port then refuses it.
    /// Returns the record's offset, or -1 (counted in <see cref="Dropped"/>) when it does not fit.
    /// Producer only.
    /// </summary>
    [SkipLocalsInit]
    public int Stage(ReadOnlySpan<byte> frame, uint originalLength, long timestamp, CaptureDirection direction, byte verdict)
    {
        var captured = Math.Min(frame.Length, _snapLength);
        var length = HeaderLength + Align8(captured);
        var head = _staged;
        var tail = Volatile.Read(ref _consumer.Position);
        var offset = (int)(head & _mask);
        var contiguous = _capacity - offset;
        var skip = contiguous < length ? contiguous : 0;
        if (_capacity - (head - tail) < length + skip)
        {
            Volatile.Write(ref _producer.Dropped, _producer.Dropped + 1);
            return -1;
        }
        if (skip != 0)
        {
            // Records are 8-aligned, so at least 8 bytes are left for the marker.
            *(uint*)(_buffer + offset) = 0;
            head += skip;
            offset = 0;
        }
        var record = new Span<byte>(_buffer + offset, length);
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)captured);
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], originalLength);
        record[12] = (byte)direction;
        record[VerdictOffset] = verdict;
        record[14] = 0;
        record[15] = 0;
        BinaryPrimitives.WriteInt64LittleEndian(record[16..], timestamp);
        frame[..captured].CopyTo(record[HeaderLength..]);
        _staged = head + length;
        _stagedCount++;
        return offset;
    }

    /// <summary>Changes the verdict of the staged record at <paramref name="offset"/> (from <see cref="Stage"/>), not yet published. Producer only.</summary>
    public void SetVerdict(int offset, byte verdict) => _buffer[offset + VerdictOffset] = verdict;

    /// <summary>Makes every staged record visible to the consumer. Producer only.</summary>
    public void Publish()
    {
        // Release: the records' bytes are visible before the head that covers them.
        Volatile.Write(ref _producer.Position, _staged);
        Volatile.Write(ref _producer.Count, _producer.Count + _stagedCount);
        _stagedCount = 0;
    }

    /// <summary>
    /// The oldest record not released yet, or false when the ring is empty. The record's bytes
    /// stay valid until <see cref="Release"/>. Consumer only.
    /// </summary>
    public bool TryPeek(out CaptureRecord record)
    {
        var tail = _consumer.Position;
        while (true)
        {
            // Acquire: a record covered by the head is entirely written.
            var head = Volatile.Read(ref _producer.Position);
            if (tail == head)
            {
                record = default;
                return false;
            }
            var offset = (int)(tail & _mask);
            var length = (int)*(uint*)(_buffer + offset);
            if (length == 0)
            {
                // The wrap marker: the record is at the start of the buffer.
                tail += _capacity - offset;
                Volatile.Write(ref _consumer.Position, tail);
                continue;
            }
            var bytes = new ReadOnlySpan<byte>(_buffer + offset, length);
            record = new CaptureRecord(
                bytes.Slice(HeaderLength, (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..])),
                BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]),
                BinaryPrimitives.ReadInt64LittleEndian(bytes[16..]),
                (CaptureDirection)bytes[12],
                bytes[VerdictOffset],
                length);
            return true;
        }
    }

    /// <summary>Gives the space of <paramref name="record"/> (the one <see cref="TryPeek"/> returned) back to the producer. Consumer only.</summary>
    public void Release(in CaptureRecord record) => Volatile.Write(ref _consumer.Position, _consumer.Position + record.RecordLength);

    /// <summary>Frees the buffer; only once neither side uses the ring any more.</summary>
    public void Dispose()
    {
        if (_buffer != null)
        {
            NativeMemory.AlignedFree(_buffer);
            _buffer = null;
        }
    }

    private static int Align8(int n) => (n + 7) & ~7;

    /// <summary>One side's position and counters, alone on their cache lines (64 bytes of padding each side).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private sealed class Padded
    {
        [FieldOffset(64)]
        public long Position;

        [FieldOffset(72)]
        public ulong Count;

        [FieldOffset(80)]
        public ulong Dropped;
    }
}

/// <summary>One frame as the ring holds it: its captured bytes (valid until released) and what the packet thread knew of it.</summary>
internal readonly ref struct CaptureRecord
{
    public CaptureRecord(ReadOnlySpan<byte> data, uint originalLength, long timestamp, CaptureDirection direction, byte verdict, int recordLength)
    {
        Data = data;
        OriginalLength = originalLength;
        Timestamp = timestamp;
        Direction = direction;
        Verdict = verdict;
        RecordLength = recordLength;
    }

    public ReadOnlySpan<byte> Data { get; }

    public uint OriginalLength { get; }

    /// <summary><see cref="System.Diagnostics.Stopwatch"/> ticks of the packet thread's round.</summary>
    public long Timestamp { get; }

    public CaptureDirection Direction { get; }

    /// <summary>A <see cref="DropReason"/> (<see cref="DropReason.None"/>: passed) or <see cref="CaptureRing.NoVerdict"/>.</summary>
    public byte Verdict { get; }

    public int RecordLength { get; }
}
