using System.Buffers.Binary;
using System.Text;
using Butterfly.Cli.Capture;

namespace Butterfly.Cli.Tests.Capture;

/// <summary>
/// <c>nic capture</c>'s reading of the daemon's growing capture file: whole blocks only, the
/// header once, the frames asked for, rotation followed, an end when tracing stops.
/// </summary>
public sealed class CaptureFollowerTests : IDisposable
{
    private static readonly FollowOptions All = new(FromStart: true, RefusedOnly: false, Count: null, Poll: TimeSpan.FromMilliseconds(10));

    private readonly string _dir = Directory.CreateTempSubdirectory("bf-follow-").FullName;

    private string FilePath => Path.Combine(_dir, "vm1.pcap");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void From_the_start_it_copies_the_header_once_and_every_frame_until_tracing_stops()
    {
        File.WriteAllBytes(FilePath, [.. Pcapng.Header("file 1"), .. Pcapng.Packet(1, "pass"), .. Pcapng.Packet(2, "drop firewall_inbound_denied")]);
        using var output = new MemoryStream();

        var code = new CaptureFollower(FilePath, output, All, () => false, TextWriter.Null).Run();

        Assert.Equal(0, code);
        Assert.Equal(File.ReadAllBytes(FilePath), output.ToArray());
    }

    [Fact]
    public void Refused_only_keeps_the_frames_whose_verdict_is_a_drop()
    {
        File.WriteAllBytes(FilePath, [.. Pcapng.Header("file 1"), .. Pcapng.Packet(1, "pass"), .. Pcapng.Packet(2, "drop spoof_source_ip"), .. Pcapng.Packet(3, null)]);
        using var output = new MemoryStream();

        new CaptureFollower(FilePath, output, All with { RefusedOnly = true }, () => false, TextWriter.Null).Run();

        Assert.Equal([.. Pcapng.Header("file 1"), .. Pcapng.Packet(2, "drop spoof_source_ip")], output.ToArray());
    }

    [Fact]
    public async Task By_default_it_starts_with_the_frames_captured_from_now_on_and_waits_for_whole_blocks()
    {
        File.WriteAllBytes(FilePath, [.. Pcapng.Header("file 1"), .. Pcapng.Packet(1, "pass")]);
        using var output = new MemoryStream();
        var follower = new CaptureFollower(FilePath, new Locked(output), All with { FromStart = false, Count = 2 }, () => true, TextWriter.Null);
        var run = Task.Run(() => follower.Run());
        await WaitFor(() => Locked.LengthOf(output) == Pcapng.Header("file 1").Length);

        // Half a block, then the rest: only the whole block is copied.
        var second = Pcapng.Packet(2, "pass");
        using (var f = new FileStream(FilePath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        {
            f.Write(second.AsSpan(0, 20));
            f.Flush();
            await Task.Delay(100);
            Assert.Equal(Pcapng.Header("file 1").Length, Locked.LengthOf(output));
            f.Write(second.AsSpan(20));
            f.Write(Pcapng.Packet(3, "pass"));
        }

        Assert.Equal(0, await run);
        Assert.Equal([.. Pcapng.Header("file 1"), .. second, .. Pcapng.Packet(3, "pass")], output.ToArray());
    }

    [Fact]
    public async Task It_follows_the_file_into_its_rotation()
    {
        File.WriteAllBytes(FilePath, [.. Pcapng.Header("file 1"), .. Pcapng.Packet(1, "pass")]);
        using var output = new MemoryStream();
        var follower = new CaptureFollower(FilePath, new Locked(output), All with { Count = 3 }, () => true, TextWriter.Null);
        var run = Task.Run(() => follower.Run());
        await WaitFor(() => follower.Copied == 1);

        // As the daemon rotates: the full file gets its last frame, is closed and renamed, a new one starts.
        using (var f = new FileStream(FilePath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        {
            f.Write(Pcapng.Packet(2, "pass"));
        }
        File.Move(FilePath, FilePath + ".1");
        File.WriteAllBytes(FilePath, [.. Pcapng.Header("file 2"), .. Pcapng.Packet(3, "pass")]);

        Assert.Equal(0, await run);
        Assert.Equal([.. Pcapng.Header("file 1"), .. Pcapng.Packet(1, "pass"), .. Pcapng.Packet(2, "pass"), .. Pcapng.Packet(3, "pass")], output.ToArray());
    }

    [Fact]
    public void A_missing_or_foreign_file_is_an_error()
    {
        File.WriteAllText(FilePath, "not a capture, not at all, really not");
        var err = new StringWriter();

        Assert.Equal(1, new CaptureFollower(FilePath, Stream.Null, All, () => false, err).Run());
        Assert.Contains("does not start like a capture", err.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_reader_that_goes_away_ends_the_copy_quietly()
    {
        File.WriteAllBytes(FilePath, [.. Pcapng.Header("file 1"), .. Pcapng.Packet(1, "pass")]);
        var err = new StringWriter();

        Assert.Equal(0, new CaptureFollower(FilePath, new BrokenPipe(), All, () => true, err).Run());
        Assert.Equal("", err.ToString());
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }
        Assert.True(condition());
    }

    /// <summary>A MemoryStream the test reads while the follower writes.</summary>
    private sealed class Locked(MemoryStream inner) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public static long LengthOf(MemoryStream stream)
        {
            lock (stream)
            {
                return stream.Length;
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (inner)
            {
                inner.Write(buffer, offset, count);
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>tcpdump gone: every write fails like a write to a closed pipe.</summary>
    private sealed class BrokenPipe : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => throw new IOException("Broken pipe");

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}

/// <summary>pcapng blocks as the daemon writes them (little-endian), built from the format's draft.</summary>
internal static class Pcapng
{
    public static byte[] Header(string sectionComment) => [.. Block(0x0A0D0D0A, [.. U32(0x1A2B3C4D), .. U16(1), .. U16(0), .. U64(ulong.MaxValue), .. Option(1, sectionComment), .. U32(0)]),
        .. Block(1, [.. U16(1), .. U16(0), .. U32(2048), .. U32(0)])];

    public static byte[] Packet(byte marker, string? comment)
    {
        var frame = new byte[60];
        frame[^1] = marker;
        byte[] options = [.. U16(2), .. U16(4), .. U32(1), .. comment is null ? [] : Option(1, comment), .. U32(0)];
        return Block(6, [.. U32(0), .. U32(0), .. U32(marker), .. U32(60), .. U32(60), .. frame, .. options]);
    }

    private static byte[] Option(ushort code, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        return [.. U16(code), .. U16((ushort)bytes.Length), .. bytes, .. new byte[((bytes.Length + 3) & ~3) - bytes.Length]];
    }

    private static byte[] Block(uint type, byte[] body) => [.. U32(type), .. U32((uint)(body.Length + 12)), .. body, .. U32((uint)(body.Length + 12))];

    private static byte[] U16(ushort v)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        return b;
    }

    private static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }

    private static byte[] U64(ulong v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return b;
    }
}
