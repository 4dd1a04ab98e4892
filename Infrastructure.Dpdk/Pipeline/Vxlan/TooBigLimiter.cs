namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// Rate limit of the path-MTU answers (<see cref="PathMtu"/>), one token bucket per sending port:
/// at most <c>burst</c> answers at once, then one per <c>interval</c>, so a guest that keeps
/// sending frames too big (a flood of them, or a stack that ignores the answers) costs the
/// packet thread a bounded number of fresh buffers and never starves the answers other guests
/// need. One answer per flow is all path-MTU discovery needs; the frames refused meanwhile are
/// counted (<see cref="DropReason.EncapTooBigRateLimited"/>).
/// The bucket is kept as its theoretical arrival time (GCRA, ITU-T I.371): one 64-bit value per
/// port, no refill arithmetic, allocated once.
/// State: one long per port handle. Thread: the packet thread only.
/// Per packet: no allocation, lock, syscall, exception or log.
/// </summary>
internal sealed class TooBigLimiter
{
    private readonly long[] _arrival;
    private readonly long _interval;
    private readonly long _tolerance;

    /// <param name="ports">Port handles to keep a bucket for (handles at or above are refused).</param>
    /// <param name="interval">Clock ticks between two answers once the burst is spent.</param>
    /// <param name="burst">Answers allowed at once, at least 1.</param>
    public TooBigLimiter(int ports, long interval, int burst)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ports);
        ArgumentOutOfRangeException.ThrowIfLessThan(interval, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, 1);
        _arrival = new long[ports];
        _interval = interval;
        _tolerance = (burst - 1) * interval;
    }

    /// <summary>True (and a token is spent) when <paramref name="port"/> may be answered at <paramref name="now"/>.</summary>
    public bool TryTake(ushort port, long now)
    {
        if (port >= _arrival.Length)
        {
            return false;
        }
        ref var arrival = ref _arrival[port];
        var next = Math.Max(arrival, now);
        if (next - now > _tolerance)
        {
            return false;
        }
        arrival = next + _interval;
        return true;
    }
}
