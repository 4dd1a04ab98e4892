using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>
/// The connection-tracking table: a bounded array of <see cref="Connection"/> entries and an
/// open-addressing index over them, both in native memory allocated once.
///
/// Index: a power-of-two array of 64-bit slots, at least twice the capacity (load ≤ 50 %),
/// each holding the key's 32-bit hash and the entry number + 1 (0 = empty). Lookups probe
/// linearly from the hash and compare the stored hash before touching the entry, so a miss
/// rarely reads an entry. Removal shifts later slots back (no tombstones), so probe sequences
/// stay short whatever the churn.
/// Entries: handed out from a free stack, then from the untouched end of the array, so the
/// operating system commits memory only for entries ever used (1 M entries reserve 96 MiB of
/// address space and cost what the busiest moment used).
/// Expiry is the caller's (<see cref="FirewallStage"/>): this table only stores, finds and frees.
/// Capacity: <see cref="Add"/> returns -1 when every entry is in use; nothing is evicted.
/// Thread: the packet thread only (the control side reaches it through packet-thread jobs,
/// PacketThreadJobs.cs). No allocation, lock or exception after construction.
/// </summary>
internal sealed unsafe class ConnectionTable : IDisposable
{
    /// <summary>Largest capacity accepted (index slots keep the entry number in 32 bits).</summary>
    public const int MaxCapacity = 1 << 26;

    private ulong* _index;
    private readonly int _indexMask;
    private Connection* _entries;
    private uint* _free;
    private int _freeCount;
    private int _highWater;

    /// <param name="capacity">Most entries at once, 1 .. <see cref="MaxCapacity"/>.</param>
    public ConnectionTable(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, MaxCapacity);
        Capacity = capacity;
        var slots = (int)BitOperations.RoundUpToPowerOf2((uint)capacity * 2);
        _indexMask = slots - 1;
        _index = (ulong*)NativeMemory.AllocZeroed((nuint)slots, sizeof(ulong));
        _entries = (Connection*)NativeMemory.Alloc((nuint)capacity, (nuint)sizeof(Connection));
        _free = (uint*)NativeMemory.Alloc((nuint)capacity, sizeof(uint));
    }

    /// <summary>Most entries at once.</summary>
    public int Capacity { get; }

    /// <summary>Entries in use.</summary>
    public int Count { get; private set; }

    /// <summary>Entry numbers below this have been handed out at least once (what a scan must visit).</summary>
    public int HighWater => _highWater;

    /// <summary>The entry <paramref name="entry"/> (a number from <see cref="Find"/> or <see cref="Add"/>).</summary>
    public ref Connection this[int entry]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ref _entries[entry];
    }

    /// <summary>The entry holding <paramref name="key"/> (whose <see cref="FlowKey.HashOf"/> is <paramref name="hash"/>), or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(in FlowKey key, uint hash) => FindInZone(key, key.Zone, hash);

    /// <summary>
    /// The entry holding <paramref name="key"/> moved to <paramref name="zone"/> (the same flow
    /// in another NIC's zone; <paramref name="hash"/> is that key's hash), or -1. Spares the
    /// packet path a copy of the key for the second lookup of a frame between two local NICs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int FindInZone(in FlowKey key, uint zone, uint hash)
    {
        var i = (int)hash & _indexMask;
        var tag = (ulong)hash << 32;
        while (true)
        {
            var slot = _index[i];
            if (slot == 0)
            {
                return -1;
            }
            if ((slot & 0xFFFF_FFFF_0000_0000) == tag)
            {
                var entry = (int)(uint)slot - 1;
                if (FlowKey.SameInZone(_entries[entry].Key, key, zone))
                {
                    return entry;
                }
            }
            i = (i + 1) & _indexMask;
        }
    }

    /// <summary>Starts loading the index slot where a key of <paramref name="hash"/> is looked up first (no fault, no wait).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchSlot(uint hash)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(_index + ((int)hash & _indexMask));
        }
    }

    /// <summary>
    /// Starts loading the entry the first index slot of <paramref name="hash"/> names, when its
    /// stored hash matches (the slot should be in cache by now: <see cref="PrefetchSlot"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchEntry(uint hash)
    {
        var slot = _index[(int)hash & _indexMask];
        if (Sse.IsSupported && slot != 0 && (uint)(slot >> 32) == hash)
        {
            // 96 bytes: the key and expiry in the first line, TCP state in the next.
            var entry = (byte*)(_entries + ((int)(uint)slot - 1));
            Sse.Prefetch0(entry);
            Sse.Prefetch0(entry + 64);
        }
    }

    /// <summary>
    /// Adds an entry for <paramref name="key"/>, which must not be in the table: the entry is
    /// zeroed but for its key and <see cref="ConnectionFlags.Used"/>. Returns -1 when the table is full.
    /// </summary>
    public int Add(in FlowKey key, uint hash)
    {
        int entry;
        if (_freeCount > 0)
        {
            entry = (int)_free[--_freeCount];
        }
        else if (_highWater < Capacity)
        {
            entry = _highWater++;
        }
        else
        {
            return -1;
        }
        ref var c = ref _entries[entry];
        c = default;
        c.Key = key;
        c.Flags = ConnectionFlags.Used;
        var i = (int)hash & _indexMask;
        while (_index[i] != 0)
        {
            i = (i + 1) & _indexMask;
        }
        _index[i] = ((ulong)hash << 32) | (uint)(entry + 1);
        Count++;
        return entry;
    }

    /// <summary>Frees <paramref name="entry"/> and its index slot; later slots of its run shift back.</summary>
    public void Remove(int entry)
    {
        ref var c = ref _entries[entry];
        var hash = FlowKey.HashOf(c.Key);
        var wanted = ((ulong)hash << 32) | (uint)(entry + 1);
        var i = (int)hash & _indexMask;
        while (_index[i] != wanted)
        {
            i = (i + 1) & _indexMask;
        }
        // Backward-shift deletion: move each later slot of the run into the hole unless its
        // home lies cyclically after the hole (it would then be found before reaching it).
        var j = i;
        while (true)
        {
            j = (j + 1) & _indexMask;
            var slot = _index[j];
            if (slot == 0)
            {
                break;
            }
            var home = (int)(slot >> 32) & _indexMask;
            var stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
            {
                _index[i] = slot;
                i = j;
            }
        }
        _index[i] = 0;
        c.Flags = ConnectionFlags.None;
        _free[_freeCount++] = (uint)entry;
        Count--;
    }

    /// <summary>True when <paramref name="entry"/> (below <see cref="HighWater"/>) is in use.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool InUse(int entry) => (_entries[entry].Flags & ConnectionFlags.Used) != 0;

    public void Dispose()
    {
        if (_index == null)
        {
            return;
        }
        NativeMemory.Free(_index);
        NativeMemory.Free(_entries);
        NativeMemory.Free(_free);
        _index = null;
        _entries = null;
        _free = null;
    }
}
