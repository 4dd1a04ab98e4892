using System.Buffers.Binary;
using System.Globalization;
using Butterfly.Application.Ports;
using Microsoft.Win32.SafeHandles;
using Serilog;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// Opens the log file at start-up, verifies every record and loads its events, and makes the
/// file end on the last good record. What is found after it is never silently accepted:
/// <list type="bullet">
/// <item>a <b>torn tail</b> (a record cut short, or garbage/zeros up to the end of the file, as
/// an interrupted write leaves behind) is cut and logged as a warning: it was never
/// acknowledged, because a batch is acknowledged only after its fdatasync;</item>
/// <item><b>corruption in the middle</b> (a bad record followed by more data) is also cut, so the
/// daemon can start on the intact prefix, but the cut bytes are first copied to
/// <c>events.log.damaged-&lt;time&gt;</c> for an operator, and it is logged as an error.</item>
/// </list>
/// </summary>
internal sealed class LogScanner
{
    /// <summary>Reads the file in large windows; a record larger than that grows the window.</summary>
    private const int WindowBytes = 1 << 20;

    private readonly SafeFileHandle _file;
    private readonly string _path;
    private readonly long _length;
    private byte[] _window = new byte[WindowBytes];
    private long _windowStart;
    private int _windowLength;

    private LogScanner(SafeFileHandle file, string path, long length)
    {
        _file = file;
        _path = path;
        _length = length;
    }

    /// <summary>The result of a scan: the valid length of the file and the last batch's timestamp.</summary>
    internal readonly record struct Outcome(long Length, DateTimeOffset LastTimestamp);

    /// <summary>Verifies the log in <paramref name="file"/>, fills <paramref name="index"/>, repairs the tail.</summary>
    public static Outcome Recover(SafeFileHandle file, string path, EventIndex index, ILogger log)
    {
        var length = RandomAccess.GetLength(file);
        if (length < LogFormat.FileHeaderSize)
        {
            return WriteHeader(file, path, length, log);
        }
        Span<byte> magic = stackalloc byte[LogFormat.FileHeaderSize];
        ReadExactly(file, magic, 0);
        if (!magic.SequenceEqual(LogFormat.Magic))
        {
            throw new InvalidDataException($"{path} is not a Butterfly event log (its first bytes are not \"BFLYEVL1\"); refusing to touch it");
        }
        return new LogScanner(file, path, length).Scan(index, log);
    }

    private static Outcome WriteHeader(SafeFileHandle file, string path, long length, ILogger log)
    {
        if (length > 0)
        {
            // A crash while the file was being created: accept only a prefix of our own header.
            Span<byte> start = stackalloc byte[(int)length];
            ReadExactly(file, start, 0);
            if (!LogFormat.Magic[..(int)length].SequenceEqual(start))
            {
                throw new InvalidDataException($"{path} is not a Butterfly event log; refusing to touch it");
            }
            log.Warning("Event log {Path}: header incomplete ({Length} bytes), rewriting it", path, length);
        }
        RandomAccess.Write(file, LogFormat.Magic, 0);
        RandomAccess.SetLength(file, LogFormat.FileHeaderSize);
        Native.DataSync(file, path);
        Native.SyncDirectory(Path.GetDirectoryName(path)!);
        return new Outcome(LogFormat.FileHeaderSize, DateTimeOffset.MinValue);
    }

    private Outcome Scan(EventIndex index, ILogger log)
    {
        long offset = LogFormat.FileHeaderSize;
        long nextSequence = 1;
        var lastTimestamp = DateTimeOffset.MinValue;
        while (offset < _length)
        {
            var problem = CheckRecord(offset, nextSequence, out var events, out var recordEnd);
            if (problem is not null)
            {
                Cut(offset, recordEnd, problem, nextSequence - 1, log);
                return new Outcome(offset, lastTimestamp);
            }
            index.Add(events);
            nextSequence += events.Length;
            lastTimestamp = events[^1].Timestamp;
            offset = recordEnd;
        }
        return new Outcome(offset, lastTimestamp);
    }

    /// <summary>Null when the record at <paramref name="offset"/> is good; otherwise why not.</summary>
    /// <param name="recordEnd">Where the record claims to end (beyond the file when its header is cut short); -1 when its length is invalid.</param>
    private string? CheckRecord(long offset, long nextSequence, out StoredEvent[] events, out long recordEnd)
    {
        events = [];
        recordEnd = -1;
        if (_length - offset < LogFormat.RecordHeaderSize)
        {
            recordEnd = long.MaxValue;
            return "incomplete record header";
        }
        var header = Window(offset, LogFormat.RecordHeaderSize);
        var payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var expectedCrc = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (payloadLength == 0 || payloadLength > LogFormat.MaxPayloadBytes)
        {
            return $"invalid record length {payloadLength}";
        }
        recordEnd = offset + LogFormat.RecordHeaderSize + payloadLength;
        if (recordEnd > _length)
        {
            return $"record of {payloadLength} bytes runs past the end of the file";
        }
        var record = Window(offset, LogFormat.RecordHeaderSize + (int)payloadLength);
        var payload = record[LogFormat.RecordHeaderSize..];
        if (LogFormat.Checksum(record[..4], payload) != expectedCrc)
        {
            return "checksum mismatch";
        }
        var error = LogFormat.TryDecode(payload, nextSequence, out events);
        return error is null ? null : $"malformed record: {error}";
    }

    private void Cut(long offset, long recordEnd, string problem, long eventsKept, ILogger log)
    {
        var dropped = _length - offset;
        // A bad record that reaches the end of the file, or zeros up to it, is what a crash in
        // the middle of an append leaves; anything else means data after it was damaged.
        var tornTail = recordEnd < 0 ? IsZeroFilled(offset) : recordEnd >= _length || IsZeroFilled(offset);
        if (tornTail)
        {
            log.Warning("Event log {Path}: torn record at offset {Offset} ({Problem}); cutting {Bytes} bytes, " +
                "{Events} events kept. An append was interrupted (crash or power loss) before it was acknowledged.",
                _path, offset, problem, dropped, eventsKept);
        }
        else
        {
            var aside = SaveAside(offset);
            log.Error("Event log {Path}: corrupt record at offset {Offset} ({Problem}) with {Bytes} more bytes after it; " +
                "keeping the {Events} events before it and cutting the rest, which is saved in {Aside}. " +
                "Acknowledged events after that point are lost from the configuration; check the disk.",
                _path, offset, problem, dropped, eventsKept, aside);
        }
        RandomAccess.SetLength(_file, offset);
        Native.DataSync(_file, _path);
    }

    /// <summary>Copies the bytes from <paramref name="offset"/> to the end into a side file, durably.</summary>
    private string SaveAside(long offset)
    {
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
        var aside = $"{_path}.damaged-{stamp}";
        using (var output = new FileStream(aside, FileMode.CreateNew, FileAccess.Write))
        {
            var buffer = new byte[WindowBytes];
            for (var at = offset; at < _length;)
            {
                var n = RandomAccess.Read(_file, buffer.AsSpan(0, (int)Math.Min(buffer.Length, _length - at)), at);
                if (n <= 0)
                {
                    break;
                }
                output.Write(buffer, 0, n);
                at += n;
            }
            output.Flush(flushToDisk: true);
        }
        Native.SyncDirectory(Path.GetDirectoryName(_path)!);
        return aside;
    }

    private bool IsZeroFilled(long offset)
    {
        for (var at = offset; at < _length;)
        {
            var n = (int)Math.Min(WindowBytes, _length - at);
            if (Window(at, n).ContainsAnyExcept((byte)0))
            {
                return false;
            }
            at += n;
        }
        return true;
    }

    /// <summary>Bytes [offset, offset + count) of the file, which must exist, from the read window.</summary>
    private ReadOnlySpan<byte> Window(long offset, int count)
    {
        if (offset < _windowStart || offset + count > _windowStart + _windowLength)
        {
            if (count > _window.Length)
            {
                _window = new byte[count];
            }
            _windowStart = offset;
            _windowLength = (int)Math.Min(_window.Length, _length - offset);
            ReadExactly(_file, _window.AsSpan(0, _windowLength), offset);
        }
        return _window.AsSpan((int)(offset - _windowStart), count);
    }

    private static void ReadExactly(SafeFileHandle file, Span<byte> into, long offset)
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
