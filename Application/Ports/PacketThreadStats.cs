namespace Butterfly.Application.Ports;

/// <summary>
/// The connection table and the firewall the packet thread uses: tracked connections now and
/// at most, connections opened since start, connections swept (idle past their timeout or
/// their NIC gone), and the event sequence the compiled firewall reflects.
/// </summary>
public sealed record ConntrackStats(long Entries, long Capacity, ulong Opened, ulong Expired, long FirewallVersion);

/// <summary>Frames the packet thread dropped for one reason (<c>ethernet_source_multicast</c>, <c>tx_full</c>, …).</summary>
public readonly record struct DropCount(string Reason, ulong Frames);

/// <summary>
/// What the packet thread did, in the terms of Open vSwitch's
/// <c>ovs-appctl dpif-netdev/pmd-perf-show</c>: its polling rounds, the frames and non-empty
/// RX bursts it received, and how its time split between rounds that moved frames (busy)
/// and rounds that did not (idle, the time it slept included). Times are TSC cycles at
/// <see cref="TscHz"/>. Counters run from the start of the thread, or from the last clear
/// once <see cref="Since"/> has taken a baseline off them.
/// </summary>
/// <param name="Lcore">The DPDK lcore of the thread.</param>
/// <param name="Cpu">The CPU it is pinned to, or -1 when it is not pinned.</param>
/// <param name="Rounds">Polling rounds (one pass over every port).</param>
/// <param name="BusyRounds">Rounds that received at least one frame.</param>
/// <param name="Packets">Frames received, on every port, the underlay included.</param>
/// <param name="Bursts">Non-empty RX bursts (one per port per busy round at most).</param>
/// <param name="BusyCycles">Cycles spent in busy rounds.</param>
/// <param name="IdleCycles">Cycles spent in idle rounds, sleeps included.</param>
/// <param name="TscHz">Cycles per second.</param>
/// <param name="Drops">Non-zero drop counts, in the data path's order of reasons.</param>
/// <param name="Conntrack">Connection tracking and the firewall in use (not measured over an interval: a clear leaves them).</param>
/// <param name="PollGaps">
/// Rounds that did not end by sleeping or yielding — the time between two polls of the ports
/// while the thread meant to work — counted by length: entry k holds rounds shorter than
/// <see cref="PollGapLimitMicroseconds"/>(k) and (for k &gt; 0) at least <see cref="PollGapLimitMicroseconds"/>(k - 1); the
/// last entry has no upper bound. The longest non-empty entry is the thread's longest stall
/// (<see cref="LongestPollGapMicroseconds"/>). Empty when the data path does not measure it.
/// </param>
public sealed record PacketThreadStats(
    int Lcore,
    int Cpu,
    ulong Rounds,
    ulong BusyRounds,
    ulong Packets,
    ulong Bursts,
    ulong BusyCycles,
    ulong IdleCycles,
    ulong TscHz,
    IReadOnlyList<DropCount> Drops,
    ConntrackStats? Conntrack = null,
    IReadOnlyList<ulong>? PollGaps = null)
{
    /// <summary>The poll-gap histogram's unit in microseconds: entry k is bounded by 2^k of these (1 024 ns).</summary>
    public const double PollGapUnitMicroseconds = 1.024;

    /// <summary>The upper bound of poll-gap entry <paramref name="bucket"/> in microseconds: 2^bucket × 1.024.</summary>
    public static double PollGapLimitMicroseconds(int bucket) => PollGapUnitMicroseconds * Math.Pow(2, bucket);

    /// <summary>
    /// The bound in microseconds below which every measured poll gap stayed (the upper bound of
    /// the longest non-empty entry of <see cref="PollGaps"/>; for the last entry, which has none,
    /// its lower bound), or null when none was measured.
    /// </summary>
    public double? LongestPollGapMicroseconds
    {
        get
        {
            var gaps = PollGaps ?? [];
            for (var k = gaps.Count - 1; k >= 0; k--)
            {
                if (gaps[k] != 0)
                {
                    return k == gaps.Count - 1 ? PollGapLimitMicroseconds(k - 1) : PollGapLimitMicroseconds(k);
                }
            }
            return null;
        }
    }

    /// <summary>Busy cycles per frame received, or null before any frame (nothing to divide).</summary>
    public double? CyclesPerPacket => Packets == 0 ? null : (double)BusyCycles / Packets;

    /// <summary>Frames per non-empty burst, or null before any burst.</summary>
    public double? PacketsPerBurst => Bursts == 0 ? null : (double)Packets / Bursts;

    /// <summary>Share of the measured cycles spent in busy rounds, 0 to 100, or null when nothing was measured.</summary>
    public double? BusyPercent => TotalCycles == 0 ? null : 100.0 * BusyCycles / TotalCycles;

    /// <summary>Busy and idle cycles together: the time measured.</summary>
    public ulong TotalCycles => BusyCycles + IdleCycles;

    /// <summary>Frames dropped for every reason together.</summary>
    public ulong DroppedFrames => Drops.Aggregate(0UL, (sum, d) => sum + d.Frames);

    /// <summary>The time measured, or zero when the cycle rate is unknown.</summary>
    public TimeSpan Duration => TscHz == 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)TotalCycles / TscHz);

    /// <summary>
    /// The counters accumulated since <paramref name="baseline"/> was taken (a clear, like
    /// <c>pmd-stats-clear</c>): every counter minus the baseline's, drop reasons matched by
    /// name and kept only when they moved. A counter that went backwards (a baseline from
    /// another thread) counts from zero rather than wrapping.
    /// </summary>
    public PacketThreadStats Since(PacketThreadStats baseline)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        var before = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var d in baseline.Drops)
        {
            before[d.Reason] = d.Frames;
        }
        var drops = new List<DropCount>(Drops.Count);
        foreach (var d in Drops)
        {
            var frames = Minus(d.Frames, before.GetValueOrDefault(d.Reason));
            if (frames != 0)
            {
                drops.Add(d with { Frames = frames });
            }
        }
        return this with
        {
            Rounds = Minus(Rounds, baseline.Rounds),
            BusyRounds = Minus(BusyRounds, baseline.BusyRounds),
            Packets = Minus(Packets, baseline.Packets),
            Bursts = Minus(Bursts, baseline.Bursts),
            BusyCycles = Minus(BusyCycles, baseline.BusyCycles),
            IdleCycles = Minus(IdleCycles, baseline.IdleCycles),
            Drops = drops,
            PollGaps = PollGaps is null ? null : [.. PollGaps.Select((count, k) => Minus(count, k < (baseline.PollGaps?.Count ?? 0) ? baseline.PollGaps![k] : 0))],
        };
    }

    private static ulong Minus(ulong now, ulong then) => now >= then ? now - then : now;
}
