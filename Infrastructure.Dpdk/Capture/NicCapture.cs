using System.Diagnostics;
using System.Text;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Capture;

namespace Butterfly.Infrastructure.Dpdk.Capture;

/// <summary>
/// One port's capture: the ring the packet thread fills (<see cref="CaptureRing"/>) and the
/// pcapng file the writer thread empties it into (<see cref="CaptureFile"/>), with the figures
/// nic_stats shows. Records become Enhanced Packet Blocks with the frame's direction and, for a
/// NIC, its verdict as the comment (<see cref="PcapngFormat"/>).
/// A write the disk refuses (full, gone) drops what is in the ring, counted, says why in
/// <see cref="Error"/>, and is tried again on a new file a second later.
/// Threads: the packet thread writes the ring; the writer drains it (<see cref="Drain"/>); the
/// control thread makes the capture and stops it (<see cref="Stop"/>) once the packet thread no
/// longer holds the ring. Drain and Stop take the capture's lock, never the packet thread.
/// </summary>
internal sealed class NicCapture : IDisposable
{
    private static readonly byte[][] Comments = BuildComments();
    private static readonly long RetryTicks = Stopwatch.Frequency;

    private readonly Lock _lock = new();
    private readonly CaptureFile _file;
    private readonly long _baseTicks;
    private readonly long _baseMicros;
    private readonly bool _verdicts;
    private byte[] _scratch = new byte[PcapngFormat.EnhancedPacketLength(CaptureRing.MaxSnapLength, 64)];
    private ulong _frames;
    private ulong _writeDropped;
    private long _retryAt;
    private string? _error;
    private bool _stopped;

    private NicCapture(string path, CaptureRing ring, CaptureFile file, bool verdicts)
    {
        Path = path;
        Ring = ring;
        _file = file;
        _verdicts = verdicts;
        _baseTicks = Stopwatch.GetTimestamp();
        _baseMicros = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / (TimeSpan.TicksPerMillisecond / 1000);
    }

    public string Path { get; }

    /// <summary>What the packet thread writes into.</summary>
    public CaptureRing Ring { get; }

    /// <summary>Why the file is not being written now, or null.</summary>
    public string? Error
    {
        get
        {
            lock (_lock)
            {
                return _error;
            }
        }
    }

    /// <summary>
    /// Opens <paramref name="path"/> for a port called <paramref name="name"/>; null and
    /// <paramref name="error"/> when the file cannot be made. <paramref name="verdicts"/>: NIC
    /// frames, whose records carry the firewall's verdict.
    /// </summary>
    public static NicCapture? Start(string path, string name, string description, CaptureLimits limits, bool verdicts, out string? error)
    {
        var file = new CaptureFile(path, name, description, limits);
        error = file.Open();
        if (error is not null)
        {
            file.Dispose();
            return null;
        }
        return new NicCapture(path, new CaptureRing(CaptureLimits.RingBytes, limits.SnapLength), file, verdicts);
    }

    /// <summary>The figures nic_stats shows. Any thread.</summary>
    public TraceCounters Counters()
    {
        lock (_lock)
        {
            return new TraceCounters(Path, _frames, (ulong)_file.BytesWritten, Ring.Dropped + _writeDropped, _file.Rotations, _error);
        }
    }

    /// <summary>Writes what the ring holds to the file; true when there was something. Writer thread.</summary>
    public bool Drain()
    {
        lock (_lock)
        {
            return !_stopped && DrainLocked();
        }
    }

    /// <summary>
    /// Writes what is left and closes the file. Control thread, once the packet thread no longer
    /// holds the ring (after a quiescent point); the ring is freed.
    /// </summary>
    public void Stop()
    {
        lock (_lock)
        {
            if (_stopped)
            {
                return;
            }
            DrainLocked();
            _file.Dispose();
            _stopped = true;
        }
        Ring.Dispose();
    }

    public void Dispose() => Stop();

    private bool DrainLocked()
    {
        var any = false;
        if (!_file.IsOpen && !Reopen())
        {
            while (Ring.TryPeek(out var lost))
            {
                _writeDropped++;
                Ring.Release(lost);
                any = true;
            }
            return any;
        }
        try
        {
            while (Ring.TryPeek(out var record))
            {
                var comment = _verdicts && record.Verdict != CaptureRing.NoVerdict ? Comments[record.Verdict] : [];
                var length = PcapngFormat.EnhancedPacketLength(record.Data.Length, comment.Length);
                if (_scratch.Length < length)
                {
                    _scratch = new byte[length];
                }
                PcapngFormat.WriteEnhancedPacket(_scratch, Micros(record.Timestamp), record.Data, record.OriginalLength, record.Direction, comment);
                _file.Write(_scratch.AsSpan(0, length));
                _frames++;
                Ring.Release(record);
                any = true;
            }
            _file.Flush();
        }
        catch (IOException e)
        {
            _error = $"writing '{Path}' failed, frames are dropped until it works again: {e.Message}";
            _file.Close();
            _retryAt = Stopwatch.GetTimestamp() + RetryTicks;
        }
        return any;
    }

    /// <summary>After a failed write: a new file, at most once a second.</summary>
    private bool Reopen()
    {
        var now = Stopwatch.GetTimestamp();
        if (now < _retryAt)
        {
            return false;
        }
        _retryAt = now + RetryTicks;
        var error = _file.Open();
        _error = error is null ? null : $"writing '{Path}' failed, frames are dropped until it works again: {error}";
        return error is null;
    }

    /// <summary>Packet-thread ticks as microseconds since 1970.</summary>
    private ulong Micros(long ticks)
    {
        var delta = ticks - _baseTicks;
        var f = Stopwatch.Frequency;
        return (ulong)(_baseMicros + (delta / f * 1_000_000) + (delta % f * 1_000_000 / f));
    }

    private static byte[][] BuildComments()
    {
        var comments = new byte[256][];
        for (var i = 0; i < comments.Length; i++)
        {
            comments[i] = i == 0 ? Encoding.UTF8.GetBytes(PcapngFormat.PassComment)
                : i < DropReasons.Count ? Encoding.UTF8.GetBytes(PcapngFormat.DropCommentPrefix + DropReasons.Name((DropReason)i))
                : [];
        }
        return comments;
    }
}
