using System.Numerics;
using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>A key of <see cref="AgeingTable{TKey, TValue}"/>: equality plus a well-mixed 32-bit hash.</summary>
internal interface ITableKey<TSelf> : IEquatable<TSelf>
    where TSelf : struct, ITableKey<TSelf>
{
    uint Hash { get; }
}

/// <summary>Selects entries for <see cref="AgeingTable{TKey, TValue}.RemoveWhere{TPredicate}"/>.</summary>
internal interface IEntryPredicate<TKey, TValue>
{
    bool Matches(in TKey key, in TValue value);
}

/// <summary>What <see cref="AgeingTable{TKey, TValue}.Upsert"/> did.</summary>
internal enum UpsertOutcome : byte
{
    /// <summary>The key was present and live; its value is returned as it was.</summary>
    Refreshed,

    /// <summary>The key took a free or expired slot; its value is returned zeroed.</summary>
    Inserted,

    /// <summary>The key's probe window was full of live entries; the least recently seen one gave way.</summary>
    Evicted,
}

/// <summary>
/// A bounded, preallocated open-addressing table whose entries expire, for state the packet
/// thread owns (learned MACs, underlay neighbours). One array of slots, allocated once; no
/// allocation, lock or exception after construction.
///
/// Placement: a key lives in one of the <see cref="ProbeWindow"/> slots starting at its hash.
/// Lookups scan at most that window (O(1), no tombstones: a removed or expired slot is simply
/// free, and lookups never stop early at a hole).
/// Ageing: an entry whose last <see cref="Upsert"/> is older than <see cref="MaxAge"/> (in the
/// caller's clock units: TSC cycles or Stopwatch ticks, passed in, never read here) is absent;
/// lookups free it lazily and <see cref="Sweep"/> frees the rest a few slots at a time.
/// Capacity and eviction: the table never grows. When an insert finds all 8 slots of its
/// window held by live entries, the least recently refreshed of them is evicted (an
/// approximation of LRU that stays O(1)) and <see cref="Evictions"/> counts it. At the default
/// load this is rare; a flood of new keys evicts the idlest entries, never the active ones.
/// Thread: one owner (the packet thread); no other thread touches it.
/// </summary>
internal sealed class AgeingTable<TKey, TValue>
    where TKey : struct, ITableKey<TKey>
    where TValue : struct
{
    public const int ProbeWindow = 8;

    private readonly Slot[] _slots;
    private readonly int _mask;
    private int _sweepCursor;

    /// <param name="capacity">Slots; rounded up to a power of two, at least <see cref="ProbeWindow"/>.</param>
    /// <param name="maxAge">Entry lifetime since its last refresh, in the caller's clock units.</param>
    public AgeingTable(int capacity, long maxAge)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, 1 << 24);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAge, 1);
        var size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, ProbeWindow));
        _slots = new Slot[size];
        _mask = size - 1;
        MaxAge = maxAge;
    }

    public int Capacity => _slots.Length;

    public long MaxAge { get; }

    /// <summary>Slots in use, expired ones not yet freed included.</summary>
    public int Count { get; private set; }

    /// <summary>Live entries pushed out by <see cref="Upsert"/> on a full window since construction.</summary>
    public ulong Evictions { get; private set; }

    /// <summary>Entries freed because they expired (by a lookup, an insert or a sweep).</summary>
    public ulong Expirations { get; private set; }

    /// <summary>
    /// The value of a live entry, or a null reference (<see cref="Unsafe.IsNullRef{T}(ref readonly T)"/>).
    /// Does not refresh the entry.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TValue Find(in TKey key, long now)
    {
        var slots = _slots;
        var start = (int)(key.Hash & (uint)_mask);
        for (var i = 0; i < ProbeWindow; i++)
        {
            ref var slot = ref slots[(start + i) & _mask];
            if (slot.Used && slot.Key.Equals(key))
            {
                if (now - slot.LastSeen > MaxAge)
                {
                    Free(ref slot);
                    Expirations++;
                    return ref Unsafe.NullRef<TValue>();
                }
                return ref slot.Value;
            }
        }
        return ref Unsafe.NullRef<TValue>();
    }

    /// <summary>
    /// The value slot of <paramref name="key"/>, created if absent, and its last-seen time set
    /// to <paramref name="now"/>. Never fails: a full window evicts its idlest entry.
    /// </summary>
    public ref TValue Upsert(in TKey key, long now, out UpsertOutcome outcome)
    {
        var slots = _slots;
        var start = (int)(key.Hash & (uint)_mask);
        var free = -1;
        var oldest = start;
        var oldestSeen = long.MaxValue;
        for (var i = 0; i < ProbeWindow; i++)
        {
            var index = (start + i) & _mask;
            ref var slot = ref slots[index];
            if (!slot.Used)
            {
                if (free < 0)
                {
                    free = index;
                }
                continue;
            }
            var expired = now - slot.LastSeen > MaxAge;
            if (slot.Key.Equals(key))
            {
                if (expired)
                {
                    Expirations++;
                    slot.Value = default;
                    outcome = UpsertOutcome.Inserted;
                }
                else
                {
                    outcome = UpsertOutcome.Refreshed;
                }
                slot.LastSeen = now;
                return ref slot.Value;
            }
            if (expired)
            {
                // Reclaim now rather than at the end: the key may still be further in the window,
                // and a freed slot is only taken once the whole window has been searched.
                Free(ref slot);
                Expirations++;
                if (free < 0)
                {
                    free = index;
                }
            }
            else if (slot.LastSeen < oldestSeen)
            {
                oldest = index;
                oldestSeen = slot.LastSeen;
            }
        }

        if (free >= 0)
        {
            ref var slot = ref slots[free];
            slot.Key = key;
            slot.Value = default;
            slot.LastSeen = now;
            slot.Used = true;
            Count++;
            outcome = UpsertOutcome.Inserted;
            return ref slot.Value;
        }

        ref var victim = ref slots[oldest];
        victim.Key = key;
        victim.Value = default;
        victim.LastSeen = now;
        Evictions++;
        outcome = UpsertOutcome.Evicted;
        return ref victim.Value;
    }

    /// <summary>
    /// Frees the expired entries among the next <paramref name="budget"/> slots, continuing
    /// where the previous call stopped, so the packet thread can spread a full pass over many
    /// idle moments. Returns how many it freed.
    /// </summary>
    public int Sweep(long now, int budget)
    {
        var freed = 0;
        var slots = _slots;
        budget = Math.Min(budget, slots.Length);
        for (var i = 0; i < budget; i++)
        {
            ref var slot = ref slots[_sweepCursor];
            _sweepCursor = (_sweepCursor + 1) & _mask;
            if (slot.Used && now - slot.LastSeen > MaxAge)
            {
                Free(ref slot);
                Expirations++;
                freed++;
            }
        }
        return freed;
    }

    /// <summary>Removes every entry <paramref name="predicate"/> matches; a full pass, for control commands.</summary>
    public int RemoveWhere<TPredicate>(ref TPredicate predicate)
        where TPredicate : struct, IEntryPredicate<TKey, TValue>
    {
        var removed = 0;
        var slots = _slots;
        for (var i = 0; i < slots.Length; i++)
        {
            ref var slot = ref slots[i];
            if (slot.Used && predicate.Matches(slot.Key, slot.Value))
            {
                Free(ref slot);
                removed++;
            }
        }
        return removed;
    }

    public void Clear()
    {
        Array.Clear(_slots);
        Count = 0;
    }

    /// <summary>The live entries, for dumps and tests. Allocates: not for the packet path.</summary>
    public List<(TKey Key, TValue Value, long LastSeen)> Snapshot(long now)
    {
        var entries = new List<(TKey, TValue, long)>(Count);
        foreach (ref readonly var slot in _slots.AsSpan())
        {
            if (slot.Used && now - slot.LastSeen <= MaxAge)
            {
                entries.Add((slot.Key, slot.Value, slot.LastSeen));
            }
        }
        return entries;
    }

    private void Free(ref Slot slot)
    {
        slot = default;
        Count--;
    }

    private struct Slot
    {
        public TKey Key;
        public TValue Value;
        public long LastSeen;
        public bool Used;
    }
}
