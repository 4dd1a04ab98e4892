using System.Runtime.InteropServices;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Counters of one port, written by the packet thread only (plain 64-bit stores, atomic on
/// x86-64) and read by the control thread. One cache line each, so the packet thread's writes
/// to one port never invalidate a line another port's counters share.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal struct PortCounters
{
    /// <summary>Frames and bytes received from the port (from the VM for a NIC).</summary>
    [FieldOffset(0)] internal ulong PacketsIn;
    [FieldOffset(8)] internal ulong BytesIn;

    /// <summary>Frames and bytes the port accepted for sending (to the VM for a NIC).</summary>
    [FieldOffset(16)] internal ulong PacketsOut;
    [FieldOffset(24)] internal ulong BytesOut;

    /// <summary>Frames received and then dropped, or that the port refused to send.</summary>
    [FieldOffset(32)] internal ulong Drops;
}

/// <summary>
/// <see cref="PortCounters"/> of every port handle, in cache-line-aligned native memory
/// allocated once (nothing to allocate or move on the packet path). Free it only after the
/// packet thread has stopped.
/// </summary>
internal sealed unsafe class CounterTable : IDisposable
{
    private readonly int _count;
    private PortCounters* _table;

    internal CounterTable(int count)
    {
        _count = count;
        var bytes = (nuint)count * (nuint)sizeof(PortCounters);
        _table = (PortCounters*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_table, bytes);
    }

    /// <summary>The table itself, for the packet thread.</summary>
    internal PortCounters* Table => _table;

    /// <summary>A consistent-enough snapshot: each value is read atomically, not all together.</summary>
    internal NicCounters Read(ushort handle)
    {
        ref var c = ref At(handle);
        return new NicCounters(Volatile.Read(ref c.BytesIn), Volatile.Read(ref c.BytesOut),
            Volatile.Read(ref c.PacketsIn), Volatile.Read(ref c.PacketsOut), Volatile.Read(ref c.Drops));
    }

    /// <summary>Zeroes a handle's counters; only while the packet thread does not poll it.</summary>
    internal void Reset(ushort handle) => At(handle) = default;

    public void Dispose()
    {
        if (_table != null)
        {
            NativeMemory.AlignedFree(_table);
            _table = null;
        }
    }

    private ref PortCounters At(ushort handle)
    {
        ObjectDisposedException.ThrowIf(_table == null, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(handle, _count);
        return ref _table[handle];
    }
}

/// <summary>
/// Anti-spoof and firewall drops per port handle and reason (<see cref="DropReasons.IsPerNic"/>),
/// in native memory allocated once: what nic_stats shows per NIC. Written by the packet thread
/// only (plain increments), read by the control thread (aligned 64-bit reads, never torn).
/// </summary>
internal sealed unsafe class FilterDropTable : IDisposable
{
    private readonly int _handles;
    private ulong* _table;

    internal FilterDropTable(int handles)
    {
        _handles = handles;
        var bytes = (nuint)handles * DropReasons.PerNicCount * sizeof(ulong);
        _table = (ulong*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_table, bytes);
    }

    /// <summary>Counts one frame of <paramref name="handle"/> dropped for a per-NIC <paramref name="reason"/>. Packet thread.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal void Count(ushort handle, DropReason reason)
    {
        if (DropReasons.IsPerNic(reason) && handle < _handles)
        {
            _table[(handle * DropReasons.PerNicCount) + (reason - DropReasons.FirstPerNic)]++;
        }
    }

    /// <summary>The non-zero counts of a handle, by reason name. Control thread.</summary>
    internal IReadOnlyList<DropCount> Read(ushort handle)
    {
        ObjectDisposedException.ThrowIf(_table == null, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(handle, _handles);
        var counts = new List<DropCount>();
        var row = _table + (handle * DropReasons.PerNicCount);
        for (var i = 0; i < DropReasons.PerNicCount; i++)
        {
            var frames = Volatile.Read(ref row[i]);
            if (frames != 0)
            {
                counts.Add(new DropCount(DropReasons.Name((DropReason)((int)DropReasons.FirstPerNic + i)), frames));
            }
        }
        return counts;
    }

    /// <summary>Zeroes a handle's counts; only while the packet thread does not poll it.</summary>
    internal void Reset(ushort handle)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(handle, _handles);
        NativeMemory.Clear(_table + (handle * DropReasons.PerNicCount), DropReasons.PerNicCount * sizeof(ulong));
    }

    public void Dispose()
    {
        if (_table != null)
        {
            NativeMemory.AlignedFree(_table);
            _table = null;
        }
    }
}
