using System.Buffers.Binary;
using System.Text;

namespace Butterfly.Cli.Capture;

/// <summary>What <see cref="CaptureFollower"/> copies and when it stops.</summary>
/// <param name="FromStart">Every frame already in the file too (else only frames captured from now on, like ovs-tcpdump).</param>
/// <param name="RefusedOnly">Only frames whose verdict comment is <c>drop …</c>.</param>
/// <param name="Count">Stop after this many frames; null: until tracing stops or the reader goes away.</param>
/// <param name="Poll">How long to wait for the file to grow.</param>
internal sealed record FollowOptions(bool FromStart, bool RefusedOnly, long? Count, TimeSpan Poll);

/// <summary>
/// <c>butterfly nic capture</c>: follows a NIC's growing capture file (pcapng, written by the
/// daemon's capture writer) and copies it to a stream as one pcapng section — the file's
/// section and interface blocks once, then each frame — for <c>| tcpdump -r -</c> or
/// <c>| wireshark -k -i -</c>. It reads whole blocks only (a block the writer has not finished
/// is read once it is), follows rotation (the daemon renames the full file PATH.1 and starts a
/// new PATH with a section header of its own: the new file is read from its first frame once
/// the old one is read to its end), and stops when the frames asked for are copied, when
/// <c>stillTraced</c> says the NIC is no longer traced (after copying what the file holds), or
/// when the reader closes the pipe.
/// The file is read, not asked of the daemon: the command runs on the daemon's host, like
/// ovs-tcpdump, and needs read access to the file.
/// </summary>
internal sealed class CaptureFollower(string path, Stream output, FollowOptions options, Func<bool> stillTraced, TextWriter err)
{
    private const uint SectionHeaderType = 0x0A0D0D0A;
    private const uint InterfaceDescriptionType = 1;
    private const uint EnhancedPacketType = 6;
    private const int MaxBlock = 1 << 20;

    /// <summary>How often, while the file does not grow, the NIC is checked to be still traced.</summary>
    private static readonly TimeSpan TraceCheck = TimeSpan.FromSeconds(1);

    private static readonly byte[] DropPrefix = Encoding.UTF8.GetBytes("drop ");

    private long _copied;

    /// <summary>Frames copied so far.</summary>
    public long Copied => _copied;

    /// <summary>Runs until done; the exit code (0: done or reader gone, 1: no usable file).</summary>
    public int Run(CancellationToken cancellationToken = default)
    {
        var file = OpenWhenThere(TimeSpan.FromSeconds(10), cancellationToken);
        if (file is null)
        {
            err.WriteLine($"nic capture: no capture file at '{path}' (is the daemon on this host, and packet_trace on?)");
            return 1;
        }
        try
        {
            var section = ReadHeader(file, out var header);
            if (section is null)
            {
                err.WriteLine($"nic capture: '{path}' does not start like a capture of butterflyd (pcapng section and interface blocks)");
                return 1;
            }
            if (!Copy(header))
            {
                return 0;
            }
            if (!options.FromStart && !Skip(file))
            {
                return 0;
            }
            return Follow(file, section, cancellationToken);
        }
        finally
        {
            file.Dispose();
        }
    }

    private int Follow(FileStream file, byte[] section, CancellationToken cancellationToken)
    {
        var lastCheck = DateTime.UtcNow;
        while (!cancellationToken.IsCancellationRequested)
        {
            switch (Next(file, out var block))
            {
                case Step.Block:
                    if (!Emit(block))
                    {
                        return 0;
                    }
                    if (options.Count is { } count && _copied >= count)
                    {
                        return 0;
                    }
                    continue;
                case Step.Bad:
                    err.WriteLine($"nic capture: '{path}' holds a damaged block at offset {file.Position}");
                    return 1;
            }
            // Nothing complete to read: a new file after a rotation, the NIC no longer traced, or wait.
            if (Rotated(section) is { } next)
            {
                // The daemon closed the old file before starting the new one: what it wrote last is there now.
                while (Next(file, out var last) == Step.Block)
                {
                    if (!Emit(last) || (options.Count is { } most && _copied >= most))
                    {
                        next.File.Dispose();
                        return 0;
                    }
                }
                file.Dispose();
                file = next.File;
                section = next.Section;
                continue;
            }
            if (DateTime.UtcNow - lastCheck >= TraceCheck)
            {
                lastCheck = DateTime.UtcNow;
                if (!stillTraced())
                {
                    return 0;
                }
            }
            Thread.Sleep(options.Poll);
        }
        return 0;
    }

    private enum Step
    {
        Block,
        Wait,
        Bad,
    }

    /// <summary>The next whole block at the file's position, or Wait when the writer has not finished one.</summary>
    private static Step Next(FileStream file, out byte[] block)
    {
        block = [];
        var start = file.Position;
        Span<byte> head = stackalloc byte[8];
        if (file.Length - start < 8)
        {
            return Step.Wait;
        }
        file.ReadExactly(head);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(head[4..]);
        if (length < 12 || length % 4 != 0 || length > MaxBlock)
        {
            file.Position = start;
            return Step.Bad;
        }
        if (file.Length - start < length)
        {
            file.Position = start;
            return Step.Wait;
        }
        block = new byte[length];
        head.CopyTo(block);
        file.ReadExactly(block.AsSpan(8));
        return Step.Block;
    }

    /// <summary>Copies a frame's block if it passes the filter; false when the reader has gone.</summary>
    private bool Emit(byte[] block)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(block) != EnhancedPacketType)
        {
            return true;
        }
        if (options.RefusedOnly && !Refused(block))
        {
            return true;
        }
        _copied++;
        return Copy(block);
    }

    private bool Copy(ReadOnlySpan<byte> bytes)
    {
        try
        {
            output.Write(bytes);
            output.Flush();
            return true;
        }
        catch (IOException)
        {
            // tcpdump exited (EPIPE): nothing is left to do.
            return false;
        }
    }

    /// <summary>Skips the frames already in the file; false when the file is damaged.</summary>
    private bool Skip(FileStream file)
    {
        while (true)
        {
            switch (Next(file, out _))
            {
                case Step.Block:
                    continue;
                case Step.Wait:
                    return true;
                default:
                    err.WriteLine($"nic capture: '{path}' holds a damaged block at offset {file.Position}");
                    return false;
            }
        }
    }

    /// <summary>The section and interface blocks (the header to copy) and the section's own bytes, or null.</summary>
    private static byte[]? ReadHeader(FileStream file, out byte[] header)
    {
        header = [];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        var blocks = new List<byte[]>();
        while (blocks.Count < 2)
        {
            var step = Next(file, out var block);
            if (step == Step.Bad)
            {
                return null;
            }
            if (step == Step.Wait)
            {
                if (DateTime.UtcNow > deadline)
                {
                    return null;
                }
                Thread.Sleep(20);
                continue;
            }
            blocks.Add(block);
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(blocks[0]) != SectionHeaderType
            || BinaryPrimitives.ReadUInt32LittleEndian(blocks[1]) != InterfaceDescriptionType)
        {
            return null;
        }
        header = [.. blocks[0], .. blocks[1]];
        return blocks[0];
    }

    /// <summary>
    /// When the file at the path is no longer the one being read (its section header differs: the
    /// daemon rotated it), that new file, positioned after its own header; null otherwise.
    /// </summary>
    private (FileStream File, byte[] Section)? Rotated(byte[] section)
    {
        FileStream? candidate = null;
        try
        {
            candidate = Open();
            if (candidate is null)
            {
                return null;
            }
            if (Next(candidate, out var first) != Step.Block || first.AsSpan().SequenceEqual(section))
            {
                candidate.Dispose();
                return null;
            }
            candidate.Position = 0;
            var newSection = ReadHeader(candidate, out _);
            if (newSection is null)
            {
                candidate.Dispose();
                return null;
            }
            return (candidate, newSection);
        }
        catch (IOException)
        {
            candidate?.Dispose();
            return null;
        }
    }

    private FileStream? OpenWhenThere(TimeSpan patience, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + patience;
        while (!cancellationToken.IsCancellationRequested)
        {
            var file = Open();
            if (file is not null || DateTime.UtcNow > deadline)
            {
                return file;
            }
            Thread.Sleep(100);
        }
        return null;
    }

    private FileStream? Open()
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>True when the Enhanced Packet Block's comment says the frame was dropped.</summary>
    internal static bool Refused(ReadOnlySpan<byte> block)
    {
        var captured = (int)BinaryPrimitives.ReadUInt32LittleEndian(block[20..]);
        var at = 28 + ((captured + 3) & ~3);
        var end = block.Length - 4;
        while (at + 4 <= end)
        {
            var code = BinaryPrimitives.ReadUInt16LittleEndian(block[at..]);
            var size = BinaryPrimitives.ReadUInt16LittleEndian(block[(at + 2)..]);
            if (code == 0 || at + 4 + size > end)
            {
                return false;
            }
            if (code == 1 && block.Slice(at + 4, size).StartsWith(DropPrefix))
            {
                return true;
            }
            at += 4 + ((size + 3) & ~3);
        }
        return false;
    }
}
