using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// The packet thread's own counters (the <c>pmd-perf-show</c> figures): rounds, frames, non-empty
/// bursts, and the clock ticks of busy and idle rounds. Written by the packet thread only, once
/// per round (plain stores published with <see cref="Volatile.Write(ref ulong, ulong)"/>, atomic
/// on x86-64, no atomics needed with one writer); read by the control thread, which may see
/// a round half counted but never a torn value.
///
/// Time comes from the one clock read each round already makes (<see cref="Stopwatch.GetTimestamp"/>,
/// CLOCK_MONOTONIC through the vDSO: no syscall). A round lasts from its reading to the next
/// one, so it includes the sleep an idle round ends with; the ticks of each round go to busy
/// when it received a frame, to idle otherwise. The reader turns ticks into TSC cycles with
/// DPDK's TSC rate (<see cref="ToCycles"/>), which costs the loop no rdtsc of its own.
///
/// Stalls: every round that did not end by sleeping or yielding the CPU is also counted in a
/// histogram of its length (<see cref="PollGapBuckets"/> power-of-two buckets of 1 024 ticks,
/// ≈ 1 µs with Linux's nanosecond clock). Such a round is the time between two polls of the
/// ports while the thread meant to work: a burst, a job step (a firewall swap, a port added),
/// housekeeping — or the scheduler taking the CPU away. Its longest bucket is the packet
/// thread's longest stall; counts only grow, so a clear is a baseline like the other counters.
/// </summary>
internal struct LoopCounters
{
    private ulong _rounds;
    private ulong _busyRounds;
    private ulong _packets;
    private ulong _bursts;
    private ulong _busyTicks;
    private ulong _idleTicks;
    private PollGapHistogram _gaps;

    /// <summary>Buckets of <see cref="PollGapHistogram"/>: the last one holds rounds of 2^22 × 1 024 ticks (≈ 4.3 s) and longer.</summary>
    internal const int PollGapBuckets = 24;

    /// <summary>Ticks of the first bucket's upper bound (bucket k holds [2^(k-1), 2^k) × this; bucket 0 below it).</summary>
    internal const int PollGapUnitTicks = 1024;

    [InlineArray(PollGapBuckets)]
    private struct PollGapHistogram
    {
        private ulong _count;
    }

    /// <summary>
    /// Counts one finished round that lasted <paramref name="ticks"/> and received
    /// <paramref name="packets"/> frames in <paramref name="bursts"/> non-empty bursts; one that
    /// did not end by sleeping or yielding (<paramref name="gaveWay"/> false) also goes to the
    /// poll-gap histogram. Packet thread.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Round(long ticks, uint packets, uint bursts, bool gaveWay = false)
    {
        // A clock that did not move (or a negative delta, which CLOCK_MONOTONIC never gives)
        // adds nothing rather than wrapping.
        var elapsed = ticks > 0 ? (ulong)ticks : 0;
        Volatile.Write(ref _rounds, _rounds + 1);
        if (!gaveWay)
        {
            ref var bucket = ref _gaps[GapBucket(elapsed)];
            Volatile.Write(ref bucket, bucket + 1);
        }
        if (packets == 0)
        {
            Volatile.Write(ref _idleTicks, _idleTicks + elapsed);
            return;
        }
        Volatile.Write(ref _busyRounds, _busyRounds + 1);
        Volatile.Write(ref _packets, _packets + packets);
        Volatile.Write(ref _bursts, _bursts + bursts);
        Volatile.Write(ref _busyTicks, _busyTicks + elapsed);
    }

    /// <summary>Each value read atomically (not all together). Any thread.</summary>
    internal readonly LoopSnapshot Read()
    {
        // The counters first, then the histogram: a round writes its bucket before its counters,
        // so every busy round this reading counts is in the histogram it reads (busy rounds
        // never sleep).
        var rounds = Volatile.Read(in _rounds);
        var busyRounds = Volatile.Read(in _busyRounds);
        var packets = Volatile.Read(in _packets);
        var bursts = Volatile.Read(in _bursts);
        var busyTicks = Volatile.Read(in _busyTicks);
        var idleTicks = Volatile.Read(in _idleTicks);
        var gaps = new ulong[PollGapBuckets];
        for (var i = 0; i < PollGapBuckets; i++)
        {
            gaps[i] = Volatile.Read(in _gaps[i]);
        }
        return new(rounds, busyRounds, packets, bursts, busyTicks, idleTicks, gaps);
    }

    /// <summary>The histogram bucket of a round of <paramref name="ticks"/>: one bit scan, no division.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int GapBucket(ulong ticks) =>
        Math.Min(64 - BitOperations.LeadingZeroCount(ticks / PollGapUnitTicks), PollGapBuckets - 1);

    /// <summary>The upper bound of bucket <paramref name="bucket"/> in ticks (the last one has none: its lower bound).</summary>
    internal static ulong GapBucketLimitTicks(int bucket) => (ulong)PollGapUnitTicks << bucket;

    /// <summary>
    /// <paramref name="ticks"/> of <see cref="Stopwatch"/> as cycles at <paramref name="hz"/>
    /// (128-bit product: a day of nanoseconds times a 4 GHz rate does not fit 64 bits).
    /// With no known rate (0), the ticks themselves.
    /// </summary>
    internal static ulong ToCycles(ulong ticks, ulong hz, long tickFrequency)
    {
        if (hz == 0 || tickFrequency <= 0)
        {
            return ticks;
        }
        var cycles = (UInt128)ticks * hz / (ulong)tickFrequency;
        return cycles > ulong.MaxValue ? ulong.MaxValue : (ulong)cycles;
    }
}

/// <summary>A reading of <see cref="LoopCounters"/>; times in <see cref="Stopwatch"/> ticks, <see cref="PollGaps"/> per bucket.</summary>
internal readonly record struct LoopSnapshot(ulong Rounds, ulong BusyRounds, ulong Packets, ulong Bursts, ulong BusyTicks, ulong IdleTicks, ulong[] PollGaps);
