using System.Diagnostics;
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
/// </summary>
internal struct LoopCounters
{
    private ulong _rounds;
    private ulong _busyRounds;
    private ulong _packets;
    private ulong _bursts;
    private ulong _busyTicks;
    private ulong _idleTicks;

    /// <summary>
    /// Counts one finished round that lasted <paramref name="ticks"/> and received
    /// <paramref name="packets"/> frames in <paramref name="bursts"/> non-empty bursts. Packet thread.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Round(long ticks, uint packets, uint bursts)
    {
        // A clock that did not move (or a negative delta, which CLOCK_MONOTONIC never gives)
        // adds nothing rather than wrapping.
        var elapsed = ticks > 0 ? (ulong)ticks : 0;
        Volatile.Write(ref _rounds, _rounds + 1);
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
    internal readonly LoopSnapshot Read() => new(
        Volatile.Read(in _rounds), Volatile.Read(in _busyRounds), Volatile.Read(in _packets),
        Volatile.Read(in _bursts), Volatile.Read(in _busyTicks), Volatile.Read(in _idleTicks));

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

/// <summary>A reading of <see cref="LoopCounters"/>; times in <see cref="Stopwatch"/> ticks.</summary>
internal readonly record struct LoopSnapshot(ulong Rounds, ulong BusyRounds, ulong Packets, ulong Bursts, ulong BusyTicks, ulong IdleTicks);
