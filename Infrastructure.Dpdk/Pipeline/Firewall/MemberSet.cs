using System.Numerics;
using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>
/// The member IPs of one security group, as a rule referencing the group sees them: a hash set
/// changed in place by one writer (the control thread) while the packet thread reads it, so
/// adding or removing one member is O(1) however many NICs reference the group — no table is
/// rebuilt and nothing is recompiled.
///
/// How reads stay safe without a lock: a slot's address is written once and never changes;
/// its state goes Empty → Full, then Full ↔ Removed for that same address only. The writer
/// stores the address before publishing the state (a release store) and the reader reads the
/// state before the address (an acquire load), so a reader sees either no entry or a whole
/// one. When live and removed slots pass half the array, the writer builds a larger (or
/// cleaner) array and publishes it with one reference swap; a reader still on the old array
/// sees the set as it was a moment ago. Open addressing with linear probing over a power of
/// two; lookups stop at the first Empty slot.
/// Thread: <see cref="Add"/>, <see cref="Remove"/> and <see cref="Clear"/> from one writer at a
/// time; <see cref="Contains"/> from any thread, without allocation.
/// </summary>
internal sealed class MemberSet
{
    private const int Empty = 0;
    private const int Full = 1;
    private const int Removed = 2;
    private const int MinSlots = 8;

    private Slot[] _slots;
    private int _used;

    public MemberSet(int expected = 0)
    {
        _slots = new Slot[SlotsFor(expected)];
    }

    /// <summary>Members in the set. Writer's view.</summary>
    public int Count { get; private set; }

    /// <summary>True when <paramref name="address"/> is a member. Any thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Contains(IpAddr address)
    {
        var slots = Volatile.Read(ref _slots);
        var mask = slots.Length - 1;
        var i = (int)address.Hash & mask;
        while (true)
        {
            ref var slot = ref slots[i];
            var state = Volatile.Read(ref slot.State);
            if (state == Empty)
            {
                return false;
            }
            if (slot.Hi == address.Hi && slot.Lo == address.Lo)
            {
                return state == Full;
            }
            i = (i + 1) & mask;
        }
    }

    /// <summary>Adds <paramref name="address"/>; false when it was already a member. Writer.</summary>
    public bool Add(IpAddr address)
    {
        var slots = _slots;
        var i = Find(slots, address);
        if (slots[i].State == Full)
        {
            return false;
        }
        if (slots[i].State == Removed)
        {
            Volatile.Write(ref slots[i].State, Full);
            Count++;
            return true;
        }
        if ((_used + 1) * 2 > slots.Length)
        {
            slots = Rebuild(Math.Max(Count + 1, 1));
            i = Find(slots, address);
        }
        slots[i].Hi = address.Hi;
        slots[i].Lo = address.Lo;
        Volatile.Write(ref slots[i].State, Full);
        _used++;
        Count++;
        return true;
    }

    /// <summary>Removes <paramref name="address"/>; false when it was not a member. Writer.</summary>
    public bool Remove(IpAddr address)
    {
        var slots = _slots;
        var i = Find(slots, address);
        if (slots[i].State != Full)
        {
            return false;
        }
        Volatile.Write(ref slots[i].State, Removed);
        Count--;
        return true;
    }

    /// <summary>Makes the set empty (a fresh array, published at once). Writer.</summary>
    public void Clear()
    {
        Volatile.Write(ref _slots, new Slot[MinSlots]);
        _used = 0;
        Count = 0;
    }

    /// <summary>The slot holding <paramref name="address"/>, or the Empty slot where it would go.</summary>
    private static int Find(Slot[] slots, IpAddr address)
    {
        var mask = slots.Length - 1;
        var i = (int)address.Hash & mask;
        while (slots[i].State != Empty && (slots[i].Hi != address.Hi || slots[i].Lo != address.Lo))
        {
            i = (i + 1) & mask;
        }
        return i;
    }

    /// <summary>Copies the members into a new array sized for <paramref name="members"/> and publishes it.</summary>
    private Slot[] Rebuild(int members)
    {
        var old = _slots;
        var slots = new Slot[SlotsFor(members)];
        foreach (var slot in old)
        {
            if (slot.State == Full)
            {
                var address = new IpAddr(slot.Hi, slot.Lo);
                var i = Find(slots, address);
                slots[i] = slot;
            }
        }
        _used = Count;
        Volatile.Write(ref _slots, slots);
        return slots;
    }

    private static int SlotsFor(int members) => (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(MinSlots, members * 4));

    private struct Slot
    {
        public ulong Hi;
        public ulong Lo;
        public int State;
    }
}
