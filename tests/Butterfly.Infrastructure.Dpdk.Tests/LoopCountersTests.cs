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

        Assert.Equal(new LoopSnapshot(Rounds: 4, BusyRounds: 2, Packets: 72, Bursts: 3, BusyTicks: 550, IdleTicks: 5_100), counters.Read());
    }

    [Fact]
    public void A_clock_that_did_not_move_or_went_back_adds_no_time()
    {
        var counters = default(LoopCounters);

        counters.Round(0, 1, 1);
        counters.Round(-5, 0, 0);

        Assert.Equal(new LoopSnapshot(2, 1, 1, 1, 0, 0), counters.Read());
    }

    [Fact]
    public void Rounds_allocate_nothing()
    {
        var counters = default(LoopCounters);
        counters.Round(1, 1, 1);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            counters.Round(i, (uint)(i & 31), (uint)(i & 1));
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
