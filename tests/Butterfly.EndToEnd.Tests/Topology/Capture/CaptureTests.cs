using System.Diagnostics;
using System.Text;
using Butterfly.EndToEnd.Tests.Topology.Firewall;
using Butterfly.TestKit;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.EndToEnd.Tests.Topology.Capture;

/// <summary>
/// Per-NIC packet capture (packet_trace) between real IP stacks, read back by tcpdump. One
/// daemon, two tap "VMs" a1 and a2 in VNI 720 (<see cref="FirewallFabric"/>, one host) filtered by
/// security groups; the daemon rotates capture files at 64 KiB and keeps 3:
///
///   ┌──────── butterflyd (--packet-trace-max-size 64K --packet-trace-files 3) ────────┐
///   │ VNI 720: a1 ───────── switch + firewall ───────── a2 (traced: FILE)              │
///   └──────────────────────────────────────────────────────────────────────────────────┘
///
/// - a2 traced, pinged by a1 while its groups refuse ICMP, then while they admit it: FILE holds the
///   refused echo requests (marked refused: "nic capture --refused" selects exactly them), the
///   admitted requests and a2's replies, ARP both ways;
/// - at the cap the file rotates: FILE, FILE.1, FILE.2, each under 64 KiB and read by tcpdump;
/// - tracing off: nothing more is written; on again: the earlier file is kept as FILE.1;
/// - "butterfly nic capture NIC --count 4 | tcpdump -r -" prints the frames as they come.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class CaptureTests(CaptureFabric fabric) : IClassFixture<CaptureFabric>, IDisposable
{
    private const V0.Rule.Types.Direction In = V0.Rule.Types.Direction.Inbound;

    private readonly string _dir = Directory.CreateTempSubdirectory("bf-capture-e2e-").FullName;

    private Vm A1 => fabric.A1;

    private Vm A2 => fabric.A2;

    public void Dispose()
    {
        foreach (var vm in fabric.Vms)
        {
            fabric.Call(vm, Requests.NicUpdate(new V0.NicUpdateReq { Id = vm.Tap, PacketTrace = false }));
        }
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_traced_nic_has_its_frames_both_ways_in_the_file_with_the_refused_ones_marked()
    {
        fabric.Reset();
        // Forget earlier tests' neighbours, so a1 asks for a2's MAC again in this capture.
        foreach (var vm in fabric.Vms)
        {
            _ = NetworkNamespaces.Exec(vm.Namespace, "ip", "neigh", "flush", "all");
        }
        var file = Path.Combine(_dir, "a2.pcap");
        var refusedFile = Path.Combine(_dir, "a2-refused.pcap");
        Trace(A2, file);

        // a2 is in no group: a1's echo requests (108 bytes of ICMP) are refused at a2's ingress.
        Assert.False(Ping(A1, A2.Ipv4, count: 2, size: 100).Ok, "a1 → a2 while a2 admits nothing");
        // Only the refused frames, from the start of the file, until tracing stops.
        var refused = new CliRunner(fabric.HostA.Endpoint).RunAsync("nic", "capture", A2.Tap, "--from-start", "--refused", "-o", refusedFile);
        Assert.True(await Eventually.TrueAsync(() => File.Exists(refusedFile) && new FileInfo(refusedFile).Length > 0), "nic capture started");

        fabric.OnAll(Requests.SgAdd("cap-ping", rules: [Requests.Rule(In, 1, "10.79.0.0/24")]));
        fabric.Groups(A2, "cap-ping");
        Traffic.AssertOk(Ping(A1, A2.Ipv4, count: 2, size: 56), "a1 → a2 once a2 admits ICMP");
        var trace = fabric.Stats(A2).Trace;
        Assert.Equal(file, trace.Path);
        Assert.True(trace.Frames >= 6, $"frames written: {trace.Frames}");
        Assert.Equal(0UL, trace.Dropped);
        Untrace(A2);
        var cli = await refused;
        Assert.True(cli.ExitCode == 0, cli.ToString());

        var all = Tcpdump(file);
        Assert.Equal(2, all.Count(l => l.Contains("10.79.0.1 > 10.79.0.2: ICMP echo request", StringComparison.Ordinal) && l.EndsWith("length 108", StringComparison.Ordinal)));
        Assert.True(all.Count(l => l.Contains("10.79.0.1 > 10.79.0.2: ICMP echo request", StringComparison.Ordinal) && l.EndsWith("length 64", StringComparison.Ordinal)) >= 2, string.Join('\n', all));
        Assert.True(all.Count(l => l.Contains("10.79.0.2 > 10.79.0.1: ICMP echo reply", StringComparison.Ordinal)) >= 2, string.Join('\n', all));
        Assert.Contains(all, l => l.Contains("ARP", StringComparison.Ordinal));
        var text = Encoding.ASCII.GetString(File.ReadAllBytes(file));
        Assert.Contains("drop firewall_inbound_denied", text, StringComparison.Ordinal);
        Assert.Contains("pass", text, StringComparison.Ordinal);

        // What the verdict marks refused is exactly the two echo requests a2's groups refused.
        var onlyRefused = Tcpdump(refusedFile);
        Assert.Equal(2, onlyRefused.Count);
        Assert.All(onlyRefused, l => Assert.Matches("10\\.79\\.0\\.1 > 10\\.79\\.0\\.2: ICMP echo request, .*length 108$", l));
    }

    [Fact]
    public async Task At_the_size_cap_the_capture_rotates_and_keeps_three_files()
    {
        fabric.Reset();
        fabric.OnAll(Requests.SgAdd("cap-ping", rules: [Requests.Rule(In, 1, "10.79.0.0/24")]));
        fabric.Groups(A2, "cap-ping");
        var file = Path.Combine(_dir, "a1.pcap");
        Trace(A1, file);

        // 150 echo requests and replies of 1042 bytes: ~330 KB of pcapng, about five 64 KiB files.
        Traffic.AssertOk(NetworkNamespaces.Exec(A1.Namespace, "ping", "-f", "-c", "150", "-s", "1000", "-W", "2", A2.Ipv4), "flood ping a1 → a2");
        // The writer drains the ring off the packet thread: the last files may come a moment after the ping.
        Assert.True(await Eventually.TrueAsync(() => fabric.Stats(A1).Trace.Rotations >= 3), $"rotations: {fabric.Stats(A1).Trace}");
        // The whole flood fits the 4 MiB ring: the writer cannot have fallen behind.
        Assert.Equal(0UL, fabric.Stats(A1).Trace.Dropped);
        Untrace(A1);

        Assert.False(File.Exists(file + ".3"), "only three files are kept");
        var total = 0;
        foreach (var f in new[] { file + ".2", file + ".1", file })
        {
            Assert.True(new FileInfo(f).Length <= 64 * 1024, $"{f}: {new FileInfo(f).Length} bytes");
            var lines = Tcpdump(f);
            Assert.Contains(lines, l => l.Contains("ICMP echo", StringComparison.Ordinal));
            total += lines.Count;
        }
        Assert.InRange(total, 60, 299);
    }

    [Fact]
    public void Tracing_off_writes_nothing_more_and_on_again_keeps_the_earlier_file()
    {
        fabric.Reset();
        fabric.OnAll(Requests.SgAdd("cap-ping", rules: [Requests.Rule(In, 1, "10.79.0.0/24")]));
        fabric.Groups(A2, "cap-ping");
        var file = Path.Combine(_dir, "toggle.pcap");

        Trace(A2, file);
        Traffic.AssertOk(Ping(A1, A2.Ipv4, count: 2, size: 56), "ping while traced");
        Untrace(A2);
        var first = Tcpdump(file);
        var length = new FileInfo(file).Length;
        Assert.True(first.Count(l => l.Contains("ICMP echo", StringComparison.Ordinal)) >= 4, string.Join('\n', first));

        Traffic.AssertOk(Ping(A1, A2.Ipv4, count: 2, size: 56), "ping while not traced");
        Assert.Equal(length, new FileInfo(file).Length);
        Assert.Null(fabric.Stats(A2).Trace);

        Trace(A2, file);
        Traffic.AssertOk(Ping(A1, A2.Ipv4, count: 2, size: 200), "ping traced again");
        Untrace(A2);
        Assert.Equal(first, Tcpdump(file + ".1"));
        var second = Tcpdump(file);
        Assert.True(second.Count(l => l.Contains("ICMP echo", StringComparison.Ordinal) && l.EndsWith("length 208", StringComparison.Ordinal)) >= 4, string.Join('\n', second));
        Assert.DoesNotContain(second, l => l.EndsWith("length 64", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_cli_streams_a_nic_capture_to_tcpdump()
    {
        fabric.Reset();
        fabric.OnAll(Requests.SgAdd("cap-ping", rules: [Requests.Rule(In, 1, "10.79.0.0/24")]));
        fabric.Groups(A2, "cap-ping");
        Trace(A2, Path.Combine(_dir, "stream.pcap"));

        var pipeline = Task.Run(() => Shell(
            $"'{CliRunner.ExecutablePath}' -e {fabric.HostA.Endpoint} nic capture {A2.Tap} --count 4 | tcpdump -nn -r -"));
        // From now on: ping until four new frames have gone through the pipe.
        for (var i = 0; i < 60 && !pipeline.IsCompleted; i++)
        {
            _ = Ping(A1, A2.Ipv4, count: 1, size: 56);
        }
        var result = await pipeline;

        Assert.True(result.Code == 0, result.Output);
        // One line per frame, each starting with its time (tcpdump's own messages do not).
        var frames = result.Output.Split('\n').Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, "^[0-9]{2}:[0-9]{2}:[0-9]{2}\\.")).ToList();
        Assert.Equal(4, frames.Count);
        Assert.Contains(frames, l => l.Contains("ICMP echo", StringComparison.Ordinal));
        Untrace(A2);
    }

    private void Trace(Vm vm, string file) =>
        fabric.Call(vm, Requests.NicUpdate(new V0.NicUpdateReq { Id = vm.Tap, PacketTrace = true, PacketTracePath = file }));

    private void Untrace(Vm vm) => fabric.Call(vm, Requests.NicUpdate(new V0.NicUpdateReq { Id = vm.Tap, PacketTrace = false }));

    private static CommandResult Ping(Vm source, string target, int count, int size) =>
        NetworkNamespaces.Exec(source.Namespace, "ping", "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", "0.3",
            "-W", "1", "-s", size.ToString(System.Globalization.CultureInfo.InvariantCulture), target);

    /// <summary>tcpdump -nn -r FILE: one line per frame; tcpdump must succeed.</summary>
    internal static List<string> Tcpdump(string file)
    {
        var psi = new ProcessStartInfo("tcpdump") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-nn", "-r", file })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"tcpdump -r {file}: exit {p.ExitCode}: {stderr.Result}");
        return [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)];
    }

    private static CommandResult Shell(string command) => NetworkNamespaces.Run("sh", "-c", command);
}

/// <summary>One host, a1 and a2, whose daemon rotates capture files at 64 KiB and keeps three.</summary>
public sealed class CaptureFabric() : FirewallFabric(twoHosts: false, cutEstablished: false,
    firstHostArgs: ["--packet-trace-max-size", "64K", "--packet-trace-files", "3"]);
