using Butterfly.Application.Commands;
using Butterfly.Application.Ports;
using Butterfly.Application.Tests.Support;

namespace Butterfly.Application.Tests;

public class PacketThreadStatsTests
{
    private static PacketThreadStats Stats(ulong rounds, ulong busyRounds, ulong packets, ulong bursts, ulong busy, ulong idle, params DropCount[] drops) =>
        new(3, 1, rounds, busyRounds, packets, bursts, busy, idle, 2_000_000_000, drops);

    [Fact]
    public void Derived_figures_divide_what_was_counted()
    {
        var s = Stats(1000, 10, 320, 12, 64_000, 1_936_000);

        Assert.Equal(200.0, s.CyclesPerPacket);
        Assert.Equal(320.0 / 12, s.PacketsPerBurst);
        Assert.Equal(2_000_000UL, s.TotalCycles);
        Assert.Equal(3.2, s.BusyPercent!.Value, 9);
        Assert.Equal(TimeSpan.FromMilliseconds(1), s.Duration);
    }

    [Fact]
    public void Nothing_received_means_no_ratio_rather_than_a_division_by_zero()
    {
        var idle = Stats(500, 0, 0, 0, 0, 4_000_000);

        Assert.Null(idle.CyclesPerPacket);
        Assert.Null(idle.PacketsPerBurst);
        Assert.Equal(0.0, idle.BusyPercent);
        Assert.Null(Stats(0, 0, 0, 0, 0, 0).BusyPercent);
        Assert.Equal(TimeSpan.Zero, (idle with { TscHz = 0 }).Duration);
        Assert.Equal(0UL, idle.DroppedFrames);
    }

    [Fact]
    public void Since_a_baseline_counts_only_what_happened_after_it()
    {
        var baseline = Stats(100, 4, 40, 5, 8_000, 92_000, new DropCount("no_destination", 7), new DropCount("tx_full", 2));
        var now = Stats(250, 9, 140, 11, 28_000, 222_000,
            new DropCount("ethernet_source_multicast", 3), new DropCount("no_destination", 7), new DropCount("tx_full", 6));

        var interval = now.Since(baseline);

        Assert.Equal((150UL, 5UL, 100UL, 6UL, 20_000UL, 130_000UL),
            (interval.Rounds, interval.BusyRounds, interval.Packets, interval.Bursts, interval.BusyCycles, interval.IdleCycles));
        Assert.Equal(200.0, interval.CyclesPerPacket);
        Assert.Equal((3, 1, 2_000_000_000UL), (interval.Lcore, interval.Cpu, interval.TscHz));
        // A reason that did not move since the baseline is left out; the others keep their order.
        Assert.Equal([new DropCount("ethernet_source_multicast", 3), new DropCount("tx_full", 4)], interval.Drops);
        Assert.Equal(7UL, interval.DroppedFrames);
    }

    [Fact]
    public void Poll_gaps_are_taken_off_their_baseline_and_bound_the_longest_stall()
    {
        var baseline = Stats(100, 4, 40, 5, 8_000, 92_000) with { PollGaps = [50, 3, 0, 1] };
        var now = Stats(250, 9, 140, 11, 28_000, 222_000) with { PollGaps = [90, 3, 2, 1] };

        var interval = now.Since(baseline);

        Assert.Equal([40UL, 0UL, 2UL, 0UL], interval.PollGaps!);
        // Entry 2 is the longest that moved: every stall of the interval was under 4 × 1.024 µs.
        Assert.Equal(4.096, interval.LongestPollGapMicroseconds!.Value, 9);
        // Over the whole run entry 3 is the last one, which has no upper bound: at least its lower one.
        Assert.Equal(4.096, now.LongestPollGapMicroseconds!.Value, 9);
        Assert.Null((now with { PollGaps = [0, 0] }).LongestPollGapMicroseconds);
        Assert.Null(Stats(1, 1, 1, 1, 1, 1).LongestPollGapMicroseconds);
    }

    [Fact]
    public void A_baseline_ahead_of_the_counters_counts_them_from_zero_instead_of_wrapping()
    {
        var baseline = Stats(1000, 10, 500, 20, 9_000, 9_000, new DropCount("tx_full", 50));
        var restarted = Stats(10, 1, 4, 1, 100, 900, new DropCount("tx_full", 2));

        var interval = restarted.Since(baseline);

        Assert.Equal((10UL, 4UL, 100UL), (interval.Rounds, interval.Packets, interval.BusyCycles));
        Assert.Equal([new DropCount("tx_full", 2)], interval.Drops);
        Assert.Equal(interval, interval.Since(Stats(0, 0, 0, 0, 0, 0)) with { Drops = interval.Drops });
    }

    [Fact]
    public async Task The_query_reads_the_data_path_and_passes_the_clear_flag()
    {
        var dataPath = new RecordingDataPath { Stats = Stats(7, 1, 3, 1, 30, 70) };
        await using var app = await AppHarness.StartAsync(dataPath: dataPath);

        var read = await app.QueryAsync(new GetPacketThreadStats(false));
        var cleared = await app.QueryAsync(new GetPacketThreadStats(true));

        Assert.Same(dataPath.Stats, read.Value);
        Assert.True(cleared.IsSuccess);
        Assert.Equal([false, true], dataPath.StatsReads);
        Assert.Empty(app.Events.Events);
    }
}
