using System.Text.RegularExpressions;
using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;
using Butterfly.Infrastructure.Dpdk.Tests.Capture;

namespace Butterfly.Infrastructure.Dpdk.Tests.Live;

/// <summary>
/// BENCH NICs and packet capture in a live data path (EAL, the packet thread, no VM): two BENCH
/// NICs of one VNI on this host ping each other through the switch and their (bypassed)
/// firewalls; a traced one has its frames in its capture file, both ways.
/// </summary>
[Collection(DataPathCollection.Name)]
public sealed class BenchAndCaptureTests(DataPathFixture fixture) : IDisposable
{
    private readonly DpdkDataPath _dp = fixture.DataPath;
    private readonly string _dir = Directory.CreateTempSubdirectory("bf-live-capture-").FullName;

    public void Dispose()
    {
        Assert.Empty(_dp.Reconcile([]));
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void A_sender_times_the_answers_of_a_responder_on_the_same_host_and_its_capture_holds_both_ways()
    {
        var file = Path.Combine(_dir, "snd.pcap");
        var responder = Bench("b-rcv", BenchKinds.Responder, "10.42.0.2");
        var sender = Bench("b-snd", BenchKinds.Sender, "10.42.0.1", "10.42.0.2", responder.Mac) with { TracePath = file };
        Assert.Empty(_dp.Reconcile([sender, responder]));

        var counters = DataPathFixture.WaitForCounters(_dp, sender.Id, c => c.Bench is { Received: >= 3 }, () => "");
        var bench = counters.Bench!;
        Assert.Equal(BenchKinds.Sender, bench.Kind);
        Assert.True(bench.Sent >= bench.Received);
        Assert.True(bench.MinMicros > 0 && bench.MinMicros <= bench.MeanMicros && bench.MeanMicros <= bench.MaxMicros, bench.ToString());
        Assert.InRange(bench.P99Micros!.Value, bench.MinMicros!.Value, bench.MaxMicros!.Value);
        var answered = _dp.CountersOf(responder.Id)!.Value.Bench!;
        Assert.True(answered.Received >= bench.Received && answered.Sent == answered.Received, answered.ToString());
        Assert.Null(answered.MeanMicros);
        Assert.Equal(file, counters.Trace!.Path);

        // Tracing off closes the file whole: the requests out, the replies in, in tcpdump's words.
        Assert.Empty(_dp.Reconcile([sender with { TracePath = null }, responder]));
        Assert.Null(_dp.CountersOf(sender.Id)!.Value.Trace);
        var lines = CaptureFileTests.Tcpdump(file);
        Assert.Contains(lines, l => l.Contains("10.42.0.1 > 10.42.0.2: ICMP echo request", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("10.42.0.2 > 10.42.0.1: ICMP echo reply", StringComparison.Ordinal));
    }

    [Fact]
    public void Frames_a_nic_does_not_take_are_captured_as_tx_full_drops_not_as_passed()
    {
        // A vhost-user NIC without a frontend takes nothing: every echo request switched to it is refused by its port.
        var file = Path.Combine(_dir, "no-frontend.pcap");
        var target = DataPathFixture.Nic("vh-nofe", NicType.VhostUserServer) with { TracePath = file };
        var sender = Bench("b-snd3", BenchKinds.Sender, "10.42.0.1", "10.42.0.3", target.Mac);
        Assert.Empty(_dp.Reconcile([sender, target]));

        var counters = DataPathFixture.WaitForCounters(_dp, target.Id, c => c is { Drops: >= 2, Trace.Frames: >= 2 }, () => "");
        Assert.Equal(0UL, counters.PacketsOut);

        Assert.Empty(_dp.Reconcile([sender, target with { TracePath = null }]));
        var packets = PcapngBlocks.Packets(File.ReadAllBytes(file));
        Assert.True(packets.Count >= 2, $"{packets.Count} frames captured");
        Assert.All(packets, p => Assert.Equal("drop tx_full", p.Comment));
    }

    [Fact]
    public void Of_two_nics_traced_to_one_file_only_one_captures_and_the_other_shows_why()
    {
        // The API refuses this pair; an event log written before it did may still hold one.
        var file = Path.Combine(_dir, "shared.pcap");
        var a = Bench("b-sh1", BenchKinds.Responder, "10.42.0.5") with { TracePath = file };
        var b = Bench("b-sh2", BenchKinds.Responder, "10.42.0.6") with { TracePath = file };
        Assert.Empty(_dp.Reconcile([a, b]));

        var traces = new[] { _dp.CountersOf(a.Id)!.Value.Trace!, _dp.CountersOf(b.Id)!.Value.Trace! };
        Assert.Single(traces, t => t.Error is null);
        var refused = Assert.Single(traces, t => t.Error is not null);
        Assert.Matches($"^'{Regex.Escape(file)}' is already the capture of NIC b-sh[12]: two captures cannot share a file$", refused.Error);

        // Once the first stops, the other takes the file at the next reconcile.
        Assert.Empty(_dp.Reconcile([a with { TracePath = null }, b]));
        Assert.Null(_dp.CountersOf(b.Id)!.Value.Trace!.Error);
    }

    [Fact]
    public void A_bench_nic_whose_destination_changes_gets_a_port_with_the_new_probe()
    {
        var sender = Bench("b-snd2", BenchKinds.Sender, "10.42.0.1", "10.42.0.9", "52:54:00:00:00:09");
        Assert.Empty(_dp.Reconcile([sender]));
        DataPathFixture.WaitForCounters(_dp, sender.Id, c => c.Bench is { Sent: >= 1 }, () => "");
        Assert.Contains("probe 10.42.0.1 to 10.42.0.9 (52:54:00:00:00:09)", _dp.GraphDot(), StringComparison.Ordinal);

        Assert.Empty(_dp.Reconcile([sender with { Bench = sender.Bench! with { DestinationIp = "10.42.0.8" } }]));

        var dot = _dp.GraphDot();
        Assert.Contains("probe 10.42.0.1 to 10.42.0.8 (52:54:00:00:00:09)", dot, StringComparison.Ordinal);
        Assert.Contains("BENCH ICMP_SND_LIKE", dot, StringComparison.Ordinal);
        Assert.DoesNotContain("to 10.42.0.9", dot, StringComparison.Ordinal);
    }

    private static DataPathNic Bench(string id, string kind, string ip, string? dip = null, string? dmac = null) =>
        DataPathFixture.Nic(id, NicType.Bench) with { Bench = new BenchProbeSpec(kind, ip, dip, dmac) };
}
