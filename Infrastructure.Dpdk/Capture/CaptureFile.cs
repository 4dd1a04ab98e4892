using System.Buffers.Binary;
using System.Globalization;
using Butterfly.Infrastructure.Dpdk.Pipeline.Capture;

namespace Butterfly.Infrastructure.Dpdk.Capture;

/// <summary>
/// One capture's pcapng file with a size cap and rotation, like <c>tcpdump -C SIZE -W FILES</c>:
/// when the next block would take the file past <see cref="CaptureLimits.MaxFileBytes"/>, it is
/// closed and renamed PATH.1 (PATH.1 becomes PATH.2 …, the oldest of <see cref="CaptureLimits.Files"/>
/// files is deleted) and a new PATH starts with its own section and interface blocks, so every
/// file opens on its own in tcpdump or Wireshark. A file already at PATH when the capture starts
/// (an earlier capture of the NIC) is rotated the same way, never overwritten.
/// Safety: the daemon runs as root and the path comes from the API, so it only ever renames,
/// deletes or writes files that are empty or already captures (pcapng or pcap magic), never
/// through a symbolic link, and creates PATH with O_EXCL.
/// Thread: the capture writer (and the control thread when it opens or closes the capture),
/// never two at once (<see cref="NicCapture"/> serialises them).
/// </summary>
internal sealed class CaptureFile : IDisposable
{
    private static readonly uint[] CaptureMagics = [PcapngFormat.SectionHeaderType, 0xA1B2C3D4, 0xD4C3B2A1, 0xA1B23C4D, 0x4D3CB2A1];

    private readonly string _path;
    private readonly string _interfaceName;
    private readonly string _description;
    private readonly CaptureLimits _limits;
    private FileStream? _stream;
    private long _length;
    private long _headerLength;
    private int _sequence;

    public CaptureFile(string path, string interfaceName, string description, CaptureLimits limits)
    {
        _path = path;
        _interfaceName = interfaceName;
        _description = description;
        _limits = limits;
    }

    /// <summary>Bytes written to every file of this capture so far, block headers included.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>Files closed because they reached the cap.</summary>
    public int Rotations { get; private set; }

    public bool IsOpen => _stream is not null;

    /// <summary>Rotates what is at the path away and starts a new file; null, or why it cannot.</summary>
    public string? Open()
    {
        Close();
        try
        {
            var refusal = Rotate();
            if (refusal is not null)
            {
                return refusal;
            }
            var directory = Path.GetDirectoryName(_path);
            if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
            {
                return $"cannot write '{_path}': the directory '{directory}' does not exist";
            }
            _stream = new FileStream(_path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.Read | FileShare.Delete,
                BufferSize = 64 * 1024,
            });
            _sequence++;
            var started = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture);
            var section = PcapngFormat.SectionHeader("butterflyd",
                $"butterfly capture of {_interfaceName}, file {_sequence.ToString(CultureInfo.InvariantCulture)} started {started}");
            var idb = PcapngFormat.InterfaceDescription(_interfaceName, _description, _limits.SnapLength);
            _stream.Write(section);
            _stream.Write(idb);
            _headerLength = section.Length + idb.Length;
            _length = _headerLength;
            BytesWritten += _headerLength;
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            Close();
            return $"cannot write '{_path}': {e.Message}";
        }
    }

    /// <summary>Appends one block, rotating first when it would take the file past the cap. Throws IOException when the disk refuses.</summary>
    public void Write(ReadOnlySpan<byte> block)
    {
        if (_stream is null)
        {
            throw new IOException($"'{_path}' is not open");
        }
        if (_length + block.Length > _limits.MaxFileBytes && _length > _headerLength)
        {
            Rotations++;
            var error = Open();
            if (error is not null)
            {
                throw new IOException(error);
            }
        }
        _stream!.Write(block);
        _length += block.Length;
        BytesWritten += block.Length;
    }

    /// <summary>Hands what is buffered to the kernel, so readers (tcpdump, <c>butterfly nic capture</c>) see it.</summary>
    public void Flush() => _stream?.Flush();

    public void Close()
    {
        var stream = _stream;
        _stream = null;
        if (stream is null)
        {
            return;
        }
        try
        {
            stream.Dispose();
        }
        catch (IOException)
        {
            // The disk refused the last buffered bytes; the file ends before them.
        }
    }

    public void Dispose() => Close();

    /// <summary>What is in the way at <paramref name="path"/>, or null when it is absent, empty or a capture.</summary>
    internal static string? Refusal(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null)
        {
            return $"'{path}' is a symbolic link; a capture is never written through one";
        }
        if (!info.Exists)
        {
            return Directory.Exists(path) ? $"'{path}' is a directory" : null;
        }
        Span<byte> magic = stackalloc byte[4];
        // Not through FileStream: opening a FIFO for reading would wait for a writer.
        var read = Native.Libc.ReadHead(path, magic);
        if (read == 0 && info.Length == 0)
        {
            return null;
        }
        if (read < 4)
        {
            return $"'{path}' exists and is not a capture file; remove it or choose another packet_trace_path";
        }
        var le = BinaryPrimitives.ReadUInt32LittleEndian(magic);
        return Array.IndexOf(CaptureMagics, le) >= 0 ? null
            : $"'{path}' exists and is not a capture file; remove it or choose another packet_trace_path";
    }

    /// <summary>Moves PATH to PATH.1, PATH.1 to PATH.2 …, dropping the oldest; null, or why not.</summary>
    private string? Rotate()
    {
        var files = _limits.Files;
        for (var k = 0; k < files; k++)
        {
            var refusal = Refusal(NameOf(k));
            if (refusal is not null)
            {
                return refusal;
            }
        }
        var oldest = NameOf(files - 1);
        if (File.Exists(oldest))
        {
            File.Delete(oldest);
        }
        for (var k = files - 2; k >= 0; k--)
        {
            if (File.Exists(NameOf(k)))
            {
                File.Move(NameOf(k), NameOf(k + 1));
            }
        }
        return null;
    }

    private string NameOf(int k) => k == 0 ? _path : _path + "." + k.ToString(CultureInfo.InvariantCulture);
}

/// <summary>How big captures grow (--packet-trace-max-size, --packet-trace-files) and how much of each frame they keep (--packet-trace-snaplen).</summary>
internal sealed record CaptureLimits(long MaxFileBytes, int Files, int SnapLength)
{
    public const long DefaultMaxFileBytes = 64L << 20;
    public const long MinMaxFileBytes = 64L << 10;
    public const int DefaultFiles = 2;
    public const int MaxFiles = 1000;
    public const int DefaultSnapLength = 2048;

    /// <summary>Bytes of each capture's ring between the packet thread and the writer.</summary>
    public const int RingBytes = 4 << 20;

    public static CaptureLimits Default { get; } = new(DefaultMaxFileBytes, DefaultFiles, DefaultSnapLength);
}
