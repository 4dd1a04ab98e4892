using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Butterfly.Infrastructure.Dpdk.Capture;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Capture;
using Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk.Tests.Capture;

/// <summary>
/// Capture files as the writer makes them from the ring: read back by tcpdump (what operators
/// use), the verdict and direction of each frame where pcapng keeps them, the size cap and the
/// rotation, and the files it refuses to touch.
/// </summary>
public sealed class CaptureFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bf-capture-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Tcpdump_reads_the_frames_back_and_each_carries_its_direction_and_verdict()
    {
        var path = Path.Combine(_dir, "vm1.pcap");
        var capture = NicCapture.Start(path, "vm1", "test NIC", CaptureLimits.Default, verdicts: true, out var error)!;
        Assert.Null(error);
        var passed = Packets.Udp("10.0.0.1", 5000, "10.0.0.2", 40000);
        var refused = Packets.Tcp("10.0.0.2", 6000, "10.0.0.1", 22, Packets.Syn);
        capture.Ring.Write(passed, (uint)passed.Length, Stopwatch.GetTimestamp(), CaptureDirection.Inbound, (byte)DropReason.None);
        capture.Ring.Write(refused, (uint)refused.Length, Stopwatch.GetTimestamp(), CaptureDirection.Outbound, (byte)DropReason.FirewallInboundDenied);
        Assert.True(capture.Drain());
        capture.Stop();

        var lines = Tcpdump(path);
        Assert.Equal(2, lines.Count);
        Assert.Contains("IP 10.0.0.1.5000 > 10.0.0.2.40000: UDP", lines[0], StringComparison.Ordinal);
        Assert.Contains("IP 10.0.0.2.6000 > 10.0.0.1.22: Flags [S]", lines[1], StringComparison.Ordinal);
        var blocks = PcapngBlocks.Packets(File.ReadAllBytes(path));
        Assert.Equal([("pass", 1u), ("drop firewall_inbound_denied", 2u)], blocks.Select(b => (b.Comment, b.Flags)));
        Assert.Equal(2UL, capture.Counters().Frames);
    }

    [Fact]
    public void Frames_longer_than_the_snap_length_keep_their_original_length()
    {
        var path = Path.Combine(_dir, "snap.pcap");
        var capture = NicCapture.Start(path, "vm1", "test NIC", CaptureLimits.Default with { SnapLength = 64 }, verdicts: true, out _)!;
        var frame = Packets.Udp("10.0.0.1", 5000, "10.0.0.2", 40000, payload: 1000);
        capture.Ring.Write(frame, (uint)frame.Length, Stopwatch.GetTimestamp(), CaptureDirection.Inbound, 0);
        capture.Stop();

        var block = Assert.Single(PcapngBlocks.Packets(File.ReadAllBytes(path)));
        Assert.Equal(64, block.Captured);
        Assert.Equal((uint)frame.Length, block.Original);
        Assert.Contains("UDP, length 1000", Assert.Single(Tcpdump(path)), StringComparison.Ordinal);
    }

    [Fact]
    public void At_the_size_cap_the_file_rotates_and_only_the_newest_files_are_kept()
    {
        var path = Path.Combine(_dir, "rot.pcap");
        var limits = new CaptureLimits(CaptureLimits.MinMaxFileBytes, Files: 3, SnapLength: 2048);
        var capture = NicCapture.Start(path, "vm1", "test NIC", limits, verdicts: true, out _)!;
        var frame = Packets.Udp("10.0.0.1", 5000, "10.0.0.2", 40000, payload: 1000);
        // ~1.1 KB per block: 300 frames are ~5 files' worth of 64 KiB.
        for (var i = 0; i < 300; i++)
        {
            frame[^1] = (byte)i;
            capture.Ring.Write(frame, (uint)frame.Length, Stopwatch.GetTimestamp(), CaptureDirection.Inbound, 0);
            if (i % 50 == 0)
            {
                capture.Drain();
            }
        }
        capture.Stop();

        Assert.True(File.Exists(path));
        Assert.True(File.Exists(path + ".1"));
        Assert.True(File.Exists(path + ".2"));
        Assert.False(File.Exists(path + ".3"));
        Assert.True(capture.Counters().Rotations >= 4, $"{capture.Counters().Rotations} rotations");
        var total = 0;
        foreach (var file in new[] { path + ".2", path + ".1", path })
        {
            Assert.True(new FileInfo(file).Length <= limits.MaxFileBytes, $"{file}: {new FileInfo(file).Length} bytes");
            var lines = Tcpdump(file);
            Assert.All(lines, l => Assert.Contains("UDP, length 1000", l, StringComparison.Ordinal));
            total += lines.Count;
        }
        // The two full rotated files hold ~57 frames each; the newest holds the rest.
        Assert.InRange(total, 100, 180);
        Assert.Equal(300UL, capture.Counters().Frames);
    }

    [Fact]
    public void A_capture_started_where_an_earlier_one_is_keeps_the_earlier_one_as_path_1()
    {
        var path = Path.Combine(_dir, "again.pcap");
        var first = NicCapture.Start(path, "vm1", "test NIC", CaptureLimits.Default, verdicts: true, out _)!;
        var frame = Packets.Udp("10.0.0.1", 5000, "10.0.0.2", 40000);
        first.Ring.Write(frame, (uint)frame.Length, Stopwatch.GetTimestamp(), CaptureDirection.Inbound, 0);
        first.Stop();

        var second = NicCapture.Start(path, "vm1", "test NIC", CaptureLimits.Default, verdicts: true, out _)!;
        second.Stop();

        Assert.Single(Tcpdump(path + ".1"));
        Assert.Empty(Tcpdump(path));
    }

    [Fact]
    public void Files_that_are_not_captures_and_symbolic_links_are_refused_and_left_alone()
    {
        var text = Path.Combine(_dir, "passwd");
        File.WriteAllText(text, "root:x:0:0::/root:/bin/sh\n");
        var link = Path.Combine(_dir, "link.pcap");
        File.CreateSymbolicLink(link, text);

        Assert.Null(NicCapture.Start(text, "vm1", "test NIC", CaptureLimits.Default, verdicts: true, out var error));
        Assert.Contains("is not a capture file", error, StringComparison.Ordinal);
        Assert.Null(NicCapture.Start(link, "vm1", "test NIC", CaptureLimits.Default, verdicts: true, out error));
        Assert.Contains("symbolic link", error, StringComparison.Ordinal);
        Assert.Null(NicCapture.Start(Path.Combine(_dir, "missing", "x.pcap"), "vm1", "test NIC", CaptureLimits.Default, verdicts: true, out error));
        Assert.Contains("does not exist", error, StringComparison.Ordinal);

        Assert.Equal("root:x:0:0::/root:/bin/sh\n", File.ReadAllText(text));
        Assert.False(File.Exists(text + ".1"));
    }

    [Fact]
    public void Underlay_captures_carry_no_verdict()
    {
        var path = Path.Combine(_dir, "underlay.pcap");
        var capture = NicCapture.Start(path, "underlay", "test underlay", CaptureLimits.Default, verdicts: false, out _)!;
        var frame = Packets.Udp("192.168.0.1", 49152, "192.168.0.2", 4789);
        capture.Ring.Write(frame, (uint)frame.Length, Stopwatch.GetTimestamp(), CaptureDirection.Outbound, CaptureRing.NoVerdict);
        capture.Stop();

        var block = Assert.Single(PcapngBlocks.Packets(File.ReadAllBytes(path)));
        Assert.Null(block.Comment);
        Assert.Equal(2u, block.Flags);
    }

    /// <summary>tcpdump -nn -r FILE: one line per frame; fails the test when tcpdump does.</summary>
    internal static List<string> Tcpdump(string path)
    {
        var psi = new ProcessStartInfo("tcpdump") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-nn", "-r", path })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"tcpdump -r {path} exited {p.ExitCode}: {stderr.Result}");
        return [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)];
    }
}

/// <summary>A reader of the Enhanced Packet Blocks of a pcapng file, written from the format's draft for the tests.</summary>
internal static class PcapngBlocks
{
    public sealed record Packet(int Captured, uint Original, uint Flags, string? Comment);

    public static List<Packet> Packets(byte[] file)
    {
        var packets = new List<Packet>();
        var at = 0;
        while (at < file.Length)
        {
            var type = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at));
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 4));
            Assert.Equal((uint)length, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + length - 4)));
            if (type == 6)
            {
                var block = file.AsSpan(at, length);
                var captured = (int)BinaryPrimitives.ReadUInt32LittleEndian(block[20..]);
                var original = BinaryPrimitives.ReadUInt32LittleEndian(block[24..]);
                var options = block[(28 + ((captured + 3) & ~3))..^4];
                uint flags = 0;
                string? comment = null;
                while (options.Length >= 4)
                {
                    var code = BinaryPrimitives.ReadUInt16LittleEndian(options);
                    var size = BinaryPrimitives.ReadUInt16LittleEndian(options[2..]);
                    if (code == 0)
                    {
                        break;
                    }
                    var value = options.Slice(4, size);
                    if (code == 2)
                    {
                        flags = BinaryPrimitives.ReadUInt32LittleEndian(value);
                    }
                    else if (code == 1)
                    {
                        comment = Encoding.UTF8.GetString(value);
                    }
                    options = options[(4 + ((size + 3) & ~3))..];
                }
                packets.Add(new Packet(captured, original, flags, comment));
            }
            at += length;
        }
        return packets;
    }
}
