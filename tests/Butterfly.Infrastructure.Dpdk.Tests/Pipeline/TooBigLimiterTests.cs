using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

/// <summary>The rate limit of path-MTU answers: a burst, then one per interval, per port.</summary>
public class TooBigLimiterTests
{
    [Fact]
    public void A_port_gets_its_burst_then_one_answer_per_interval()
    {
        var limiter = new TooBigLimiter(ports: 8, interval: 10, burst: 3);

        Assert.True(limiter.TryTake(1, 1000));
        Assert.True(limiter.TryTake(1, 1000));
        Assert.True(limiter.TryTake(1, 1000));
        Assert.False(limiter.TryTake(1, 1000));
        Assert.False(limiter.TryTake(1, 1009));
        Assert.True(limiter.TryTake(1, 1010));
        Assert.False(limiter.TryTake(1, 1010));
        // Idle long enough, the whole burst is back, never more.
        Assert.True(limiter.TryTake(1, 5000));
        Assert.True(limiter.TryTake(1, 5000));
        Assert.True(limiter.TryTake(1, 5000));
        Assert.False(limiter.TryTake(1, 5000));
    }

    [Fact]
    public void Ports_are_limited_apart_and_unknown_ports_never_answered()
    {
        var limiter = new TooBigLimiter(ports: 4, interval: 100, burst: 1);

        Assert.True(limiter.TryTake(0, 50));
        Assert.False(limiter.TryTake(0, 60));
        Assert.True(limiter.TryTake(3, 60));
        Assert.False(limiter.TryTake(4, 60));
        Assert.False(limiter.TryTake(ushort.MaxValue, 60));
    }
}
