namespace Butterfly.Infrastructure.Dpdk.Tests;

/// <summary>The packet thread's per-round counters (what status dataplane reports).</summary>
public class LoopCountersTests
{
    [Fact]
    public void Rounds_split_their_ticks_between_busy_and_idle_by_what_they_received()
    {
        var counters = default(LoopCounters);

        counters.Round(100, 0, 0);
        counters.Round(250, 40, 2);
        counters.Round(5_000, 0, 0);
        counters.Round(300, 32, 1);

        var read = counters.Read();
        Assert.Equal(new LoopSnapshot(Rounds: 4, BusyRounds: 2, Packets: 72, Bursts: 3, BusyTicks: 550, IdleTicks: 5_100, read.PollGaps), read);
    }

    [Fact]
    public void A_clock_that_did_not_move_or_went_back_adds_no_time()
    {
        var counters = default(LoopCounters);

        counters.Round(0, 1, 1);
        counters.Round(-5, 0, 0);

        var read = counters.Read();
        Assert.Equal(new LoopSnapshot(2, 1, 1, 1, 0, 0, read.PollGaps), read);
        Assert.Equal(2UL, read.PollGaps[0]);
    }

    [Fact]
    public void Rounds_that_did_not_sleep_or_yield_go_to_the_poll_gap_histogram_by_length()
    {
        var counters = default(LoopCounters);

        counters.Round(500, 1, 1);              // < 1 024 ticks: entry 0
        counters.Round(1_024, 1, 1);            // [1 024, 2 048): entry 1
        counters.Round(5_000, 0, 0);            // [4 096, 8 192): entry 3, idle but not asleep (a job step)
        counters.Round(3_000_000, 1, 1);        // 3 ms: [2^11, 2^12) × 1 024 ticks: entry 12
        counters.Round(9_000_000, 0, 0, gaveWay: true);  // a sleep: not a stall
        counters.Round(long.MaxValue, 1, 1);    // beyond the last bound: the last entry

        var gaps = counters.Read().PollGaps;
        Assert.Equal(LoopCounters.PollGapBuckets, gaps.Length);
        Assert.Equal(5UL, gaps.Aggregate(0UL, (sum, c) => sum + c));
        Assert.Equal(1UL, gaps[0]);
        Assert.Equal(1UL, gaps[1]);
        Assert.Equal(1UL, gaps[3]);
        Assert.Equal(1UL, gaps[12]);
        Assert.Equal(1UL, gaps[^1]);
        Assert.Equal(6UL, counters.Read().Rounds);
    }

    [Theory]
    [InlineData(0UL, 0)]
    [InlineData(1_023UL, 0)]
    [InlineData(1_024UL, 1)]
    [InlineData(2_047UL, 1)]
    [InlineData(2_048UL, 2)]
    [InlineData(10_000_000UL, 14)]      // 10 ms: [8.4, 16.8) ms
    [InlineData(ulong.MaxValue, LoopCounters.PollGapBuckets - 1)]
    public void A_round_falls_in_the_bucket_its_length_bounds(ulong ticks, int bucket)
    {
        Assert.Equal(bucket, LoopCounters.GapBucket(ticks));
        if (bucket < LoopCounters.PollGapBuckets - 1)
        {
            Assert.True(ticks < LoopCounters.GapBucketLimitTicks(bucket));
            Assert.True(bucket == 0 || ticks >= LoopCounters.GapBucketLimitTicks(bucket - 1));
        }
    }

    [Fact]
    public void Rounds_allocate_nothing()
    {
        var counters = default(LoopCounters);
        counters.Round(1, 1, 1);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            counters.Round(i, (uint)(i & 31), (uint)(i & 1), gaveWay: (i & 2) != 0);
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Theory]
    [InlineData(1_000UL, 2_000_000_000UL, 1_000_000_000L, 2_000UL)]      // ns at 2 GHz
    [InlineData(3UL, 2_500_000_000UL, 1_000_000_000L, 7UL)]              // rounds down
    [InlineData(86_400_000_000_000UL, 4_000_000_000UL, 1_000_000_000L, 345_600_000_000_000UL)] // a day: needs 128 bits
    [InlineData(1_234UL, 0UL, 1_000_000_000L, 1_234UL)]                  // TSC rate unknown: ticks as they are
    [InlineData(ulong.MaxValue, 4_000_000_000UL, 1L, ulong.MaxValue)]    // saturates rather than wraps
    public void Ticks_become_cycles_at_the_tsc_rate(ulong ticks, ulong hz, long tickFrequency, ulong cycles) =>
        Assert.Equal(cycles, LoopCounters.ToCycles(ticks, hz, tickFrequency));
}
