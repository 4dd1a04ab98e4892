using System.Text.Json;
using Butterfly.Cli.Tests.Support;
using static Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Cli.Tests.Commands;

/// <summary><c>status dataplane</c>: the packet thread's statistics (protocol revision 8).</summary>
public class DataPlaneCommandTests
{
    private static PacketThreadStatsRes Busy() => new()
    {
        Lcore = 1,
        Cpu = 1,
        Rounds = 200_000,
        BusyRounds = 1_500,
        Packets = 48_000,
        Bursts = 2_000,
        BusyCycles = 12_000_000,
        IdleCycles = 4_188_000_000,
        TscHz = 2_100_000_000,
        Drop = { new DropCount { Reason = "no_destination", Frames = 12 }, new DropCount { Reason = "tx_full", Frames = 3 } },
    };

    [Fact]
    public void Prints_the_figures_like_pmd_perf_show_then_one_line_per_drop_reason()
    {
        var r = Client.Run(Client.Ok((_, res) => res.PacketThreadStats = Busy()), "status", "dataplane");

        Assert.Equal(0, r.Code);
        var sent = Assert.Single(r.Sent);
        Assert.NotNull(sent.PacketThreadStats);
        Assert.False(sent.PacketThreadStats.HasClear);
        Assert.Equal(
            """
            packet thread: lcore 1, cpu 1
            measured: 2.000 s, TSC 2100000000 Hz
            rounds: 200000 (busy: 1500)
            packets: 48000
            bursts: 2000
            avg packets per burst: 24.00
            busy cycles: 12000000 (0.29 %)
            idle cycles: 4188000000 (99.71 %)
            avg cycles per packet: 250.00
            drops: 15
            drop no_destination: 12
            drop tx_full: 3

            """.ReplaceLineEndings("\n"),
            r.Out);
    }

    [Fact]
    public void The_poll_gap_histogram_gives_the_longest_stall_and_the_long_rounds()
    {
        var gaps = new ulong[24];
        gaps[0] = 1_000;
        gaps[11] = 2;     // [1.049, 2.097) ms
        gaps[14] = 1;     // [8.389, 16.777) ms
        var stats = Busy();
        stats.PollGaps.Add(gaps);

        var r = Client.Run(Client.Ok((_, res) => res.PacketThreadStats = stats), "status", "dataplane");

        Assert.Contains("\navg cycles per packet: 250.00\nlongest stall: < 16.777 ms (rounds >= 1.049 ms: 3, >= 8.389 ms: 1)\ndrops: 15\n", r.Out, StringComparison.Ordinal);

        gaps[23] = 1;     // the last entry has no upper bound
        stats.PollGaps.Clear();
        stats.PollGaps.Add(gaps);
        r = Client.Run(Client.Ok((_, res) => res.PacketThreadStats = stats), "status", "dataplane", "--json");
        using var json = JsonDocument.Parse(r.Out);
        Assert.Equal(24, json.RootElement.GetProperty("poll_gaps").GetArrayLength());
        Assert.Equal(1.024 * (1 << 22), json.RootElement.GetProperty("longest_poll_gap_us").GetDouble(), 1);
        r = Client.Run(Client.Ok((_, res) => res.PacketThreadStats = stats), "status", "dataplane");
        Assert.Contains("\nlongest stall: >= 4294.967 ms (", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void An_idle_unpinned_thread_has_no_ratios_rather_than_divisions_by_zero()
    {
        var idle = new PacketThreadStatsRes { Lcore = 2, Cpu = -1, Rounds = 10, IdleCycles = 2_100_000, TscHz = 2_100_000_000 };

        var r = Client.Run(Client.Ok((_, res) => res.PacketThreadStats = idle), "status", "dataplane");

        Assert.Equal(0, r.Code);
        Assert.Contains("packet thread: lcore 2, not pinned\n", r.Out, StringComparison.Ordinal);
        Assert.Contains("avg packets per burst: n/a\n", r.Out, StringComparison.Ordinal);
        Assert.Contains("avg cycles per packet: n/a\n", r.Out, StringComparison.Ordinal);
        Assert.Contains("busy cycles: 0 (0.00 %)\n", r.Out, StringComparison.Ordinal);
        Assert.EndsWith("drops: 0\n", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Clear_and_json_ask_for_a_new_measurement_and_print_an_object()
    {
        var r = Client.Run(Client.Ok((_, res) => res.PacketThreadStats = Busy()), "status", "dataplane", "--clear", "--json");

        Assert.Equal(0, r.Code);
        Assert.True(r.Sent.Single().PacketThreadStats.Clear);
        using var json = JsonDocument.Parse(r.Out);
        var root = json.RootElement;
        Assert.Equal(48_000UL, root.GetProperty("packets").GetUInt64());
        Assert.Equal(250.0, root.GetProperty("cycles_per_packet").GetDouble());
        Assert.Equal(24.0, root.GetProperty("packets_per_burst").GetDouble());
        Assert.Equal(2.0, root.GetProperty("seconds").GetDouble());
        Assert.Equal(12UL, root.GetProperty("drops").GetProperty("no_destination").GetUInt64());

        var idle = Client.Run(Client.Ok((_, res) => res.PacketThreadStats = new PacketThreadStatsRes { TscHz = 1 }), "status", "dataplane", "--json");
        using var empty = JsonDocument.Parse(idle.Out);
        Assert.Equal(JsonValueKind.Null, empty.RootElement.GetProperty("cycles_per_packet").ValueKind);
        Assert.Equal(JsonValueKind.Null, empty.RootElement.GetProperty("busy_percent").ValueKind);
    }

    [Fact]
    public void Plain_status_is_unchanged_and_help_bad_options_and_old_daemons_are_handled()
    {
        Assert.True(Client.Run(Client.Ok((_, res) => res.AppStatus = new AppStatusRes()), "status").Sent.Single().AppStatus);

        foreach (var help in new[] { "status dataplane help", "status dataplane -h", "status -h dataplane" })
        {
            var usage = Client.Run(help.Split(' '));
            Assert.Equal(0, usage.Code);
            Assert.Empty(usage.Requests);
            Assert.StartsWith("usage: butterfly status dataplane [--clear] [--json]", usage.Out, StringComparison.Ordinal);
        }
        Assert.Contains("status dataplane", Client.Run("status", "help").Out, StringComparison.Ordinal);

        var bad = Client.Run("status", "dataplane", "--reset");
        Assert.Equal(1, bad.Code);
        Assert.Empty(bad.Requests);
        Assert.Contains("status dataplane: unknown option --reset", bad.Err, StringComparison.Ordinal);

        // A daemon before revision 8 answers without the field (or refuses the request).
        var old = Client.Run(Client.Ok(), "status", "dataplane");
        Assert.Equal(1, old.Code);
        Assert.Equal("no packet-thread statistics received (butterflyd older than protocol revision 8?)\n", old.Err);
        var refused = Client.Run(Client.Fail("MessageV0.Request has no request set (or only fields unknown to this daemon): set exactly one"), "status", "dataplane");
        Assert.Equal(1, refused.Code);
        Assert.Contains("only fields unknown to this daemon", refused.Err, StringComparison.Ordinal);
    }
}
