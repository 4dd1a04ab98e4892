using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>Key of a learned MAC: the VNI and the MAC, never one without the other.</summary>
internal readonly struct FdbKey : ITableKey<FdbKey>
{
    public FdbKey(uint vni, MacAddress mac)
    {
        Vni = vni;
        Mac = mac.Value;
    }

    public ulong Mac { get; }

    public uint Vni { get; }

    public uint Hash
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            var x = (Mac * 0x9E37_79B9_7F4A_7C15) ^ (Vni * 0xC2B2_AE3D_27D4_EB4F);
            return (uint)(x >> 32) ^ (uint)x;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Equals(FdbKey other) => Mac == other.Mac && Vni == other.Vni;

    public override bool Equals(object? obj) => obj is FdbKey other && Equals(other);

    public override int GetHashCode() => (int)Hash;
}

/// <summary>
/// Remote MACs learned from decapsulated traffic: (VNI, inner source MAC) → the VTEP that sent
/// it (IPv4 or IPv6). Local NIC MACs are never here: they come from the model through
/// <see cref="SwitchTables"/>, which the switch consults first.
///
/// Bounded and ageing as <see cref="AgeingTable{TKey, TValue}"/> describes: capacity fixed at
/// construction, an entry lives <c>ageTicks</c> after the last frame that carried its MAC, a
/// full probe window evicts its idlest entry. Lookup and learning are O(1) and allocation-free.
/// Thread: the packet thread owns it; the control side never touches it. The packet thread
/// itself forgets the VNIs that left when it sees new tables (<see cref="ForgetVnisThatLeft"/>,
/// which uses <see cref="FlushVni"/>); <see cref="FlushVtep"/> is not called by the data path
/// yet (the head-end peers are fixed at start, so MACs behind a peer that went away age out).
/// </summary>
internal sealed class LearnedFdb
{
    private readonly AgeingTable<FdbKey, IpAddr> _table;

    /// <param name="capacity">Entries (rounded up to a power of two).</param>
    /// <param name="ageTicks">Lifetime without traffic, in the units of the <c>now</c> passed to each call.</param>
    public LearnedFdb(int capacity, long ageTicks) => _table = new AgeingTable<FdbKey, IpAddr>(capacity, ageTicks);

    public int Capacity => _table.Capacity;

    public int Count => _table.Count;

    /// <summary>MACs learned for the first time (or again after expiring or being evicted).</summary>
    public ulong Learned { get; private set; }

    /// <summary>Known MACs seen behind a different VTEP than before (a VM that moved hosts).</summary>
    public ulong Moves { get; private set; }

    public ulong Evictions => _table.Evictions;

    public ulong Expirations => _table.Expirations;

    /// <summary>Records that <paramref name="mac"/> of <paramref name="vni"/> is behind <paramref name="vtep"/>. Packet thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Learn(uint vni, MacAddress mac, IpAddr vtep, long now)
    {
        ref var value = ref _table.Upsert(new FdbKey(vni, mac), now, out var outcome);
        if (outcome != UpsertOutcome.Refreshed)
        {
            Learned++;
        }
        else if (value != vtep)
        {
            Moves++;
        }
        value = vtep;
    }

    /// <summary>The VTEP behind <paramref name="mac"/> of <paramref name="vni"/>, if learned and not expired. Packet thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(uint vni, MacAddress mac, long now, out IpAddr vtep)
    {
        ref var value = ref _table.Find(new FdbKey(vni, mac), now);
        if (Unsafe.IsNullRef(ref value))
        {
            vtep = default;
            return false;
        }
        vtep = value;
        return true;
    }

    /// <summary>Frees expired entries among the next <paramref name="budget"/> slots. Packet thread, between bursts.</summary>
    public int Sweep(long now, int budget) => _table.Sweep(now, budget);

    /// <summary>Forgets every MAC of <paramref name="vni"/> (the VNI left this host). Packet thread, as a command.</summary>
    public int FlushVni(uint vni)
    {
        var predicate = new VniPredicate(vni);
        return _table.RemoveWhere(ref predicate);
    }

    /// <summary>
    /// Forgets the MACs of every VNI that has a slot in <paramref name="previous"/> but none in
    /// <paramref name="current"/> (its last local NIC left: nothing here sends to those MACs any
    /// more, and a NIC that joins the VNI later must not reach a stale VTEP until the entry
    /// ages out); returns how many went. One table scan per VNI that left, none otherwise: called
    /// by the packet thread between bursts when the tables are replaced.
    /// </summary>
    public int ForgetVnisThatLeft(SwitchTables previous, SwitchTables current)
    {
        var forgotten = 0;
        for (var slot = 0; slot < previous.VniCount && _table.Count != 0; slot++)
        {
            var vni = previous.VniOf(slot);
            if (current.SlotOfVni(vni) == SwitchTables.NoSlot)
            {
                forgotten += FlushVni(vni);
            }
        }
        return forgotten;
    }

    /// <summary>Forgets every MAC behind <paramref name="vtep"/> (a peer went away). Packet thread, as a command.</summary>
    public int FlushVtep(IpAddr vtep)
    {
        var predicate = new VtepPredicate(vtep);
        return _table.RemoveWhere(ref predicate);
    }

    public void Clear() => _table.Clear();

    /// <summary>Live entries for dumps and tests; allocates.</summary>
    public List<(FdbKey Key, IpAddr Vtep, long LastSeen)> Snapshot(long now) => _table.Snapshot(now);

    private readonly struct VniPredicate(uint vni) : IEntryPredicate<FdbKey, IpAddr>
    {
        public bool Matches(in FdbKey key, in IpAddr value) => key.Vni == vni;
    }

    private readonly struct VtepPredicate(IpAddr vtep) : IEntryPredicate<FdbKey, IpAddr>
    {
        public bool Matches(in FdbKey key, in IpAddr value) => value == vtep;
    }
}
