using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>What <see cref="NeighbourTable.Resolve"/> found.</summary>
internal enum NeighbourState : byte
{
    /// <summary>The MAC is known and recently confirmed: use it.</summary>
    Resolved,

    /// <summary>The MAC is known but unconfirmed for a while: use it, and send one request to refresh it.</summary>
    ResolvedProbe,

    /// <summary>No MAC: send a request now (the frame cannot go).</summary>
    Unresolved,

    /// <summary>No MAC, and a request went out less than a retry interval ago: just wait.</summary>
    Pending,
}

/// <summary>
/// The underlay neighbour cache (ARP for IPv4, ND for IPv6): next-hop address → MAC, for the
/// outer Ethernet header of VXLAN frames. Owned by the packet thread, which fills it from ARP
/// replies and neighbour advertisements (<see cref="ArpResponder"/>, <see cref="NdResponder"/>)
/// and asks it per frame (<see cref="UnderlayRouting.PathTo"/>). This table holds no frames:
/// the forwarder parks the few frames sent to a next hop still being resolved and retries them
/// when an answer may have arrived (Forwarder.Parking.cs, like the kernel's ARP queue).
///
/// Timing (caller's clock units): an entry is trusted <c>reachable</c> ticks after its last
/// confirmation, then used while one refresh request per <c>retry</c> interval goes out; an
/// entry not confirmed for <c>expire</c> ticks is forgotten. Capacity is bounded as in
/// <see cref="AgeingTable{TKey, TValue}"/>; no allocation after construction.
/// Thread: packet thread.
/// </summary>
internal sealed class NeighbourTable
{
    private readonly AgeingTable<IpAddr, Entry> _table;
    private readonly long _reachable;
    private readonly long _retry;

    public NeighbourTable(int capacity, long reachable, long retry, long expire)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(reachable, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(retry, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(expire, reachable);
        _table = new AgeingTable<IpAddr, Entry>(capacity, expire);
        _reachable = reachable;
        _retry = retry;
    }

    public int Count => _table.Count;

    /// <summary>The MAC of <paramref name="address"/>, and whether a request should go out.</summary>
    public NeighbourState Resolve(IpAddr address, long now, out MacAddress mac)
    {
        ref var entry = ref _table.Find(address, now);
        if (Unsafe.IsNullRef(ref entry))
        {
            // Remember the request so the next frames wait for it instead of repeating it; the
            // entry's age counts from here, so an unanswered request is forgotten after "expire".
            ref var pending = ref _table.Upsert(address, now, out _);
            pending.RequestedAt = now;
            mac = default;
            return NeighbourState.Unresolved;
        }
        mac = entry.Mac;
        if (!entry.Known)
        {
            if (now - entry.RequestedAt < _retry)
            {
                return NeighbourState.Pending;
            }
            entry.RequestedAt = now;
            return NeighbourState.Unresolved;
        }
        if (now - entry.ConfirmedAt <= _reachable || now - entry.RequestedAt < _retry)
        {
            return NeighbourState.Resolved;
        }
        entry.RequestedAt = now;
        return NeighbourState.ResolvedProbe;
    }

    /// <summary>
    /// Records that <paramref name="address"/> is at <paramref name="mac"/>. Creates the entry
    /// only when <paramref name="create"/> (a message addressed to us, or an answer we asked for
    /// — an existing pending entry counts); otherwise only refreshes one we already have, so
    /// unsolicited chatter on the underlay cannot fill the table. Returns true when it stored.
    /// </summary>
    public bool Update(IpAddr address, MacAddress mac, long now, bool create)
    {
        if (mac.IsMulticast || mac.IsZero || address.IsUnspecified || address.IsMulticast)
        {
            return false;
        }
        if (!create && Unsafe.IsNullRef(ref _table.Find(address, now)))
        {
            return false;
        }
        ref var entry = ref _table.Upsert(address, now, out var outcome);
        if (outcome != UpsertOutcome.Refreshed)
        {
            // A new entry has never been refreshed: let its first refresh go out without waiting.
            entry.RequestedAt = now - _retry;
        }
        entry.Mac = mac;
        entry.Known = true;
        entry.ConfirmedAt = now;
        return true;
    }

    /// <summary>Live entries for dumps and tests; allocates.</summary>
    public List<(IpAddr Address, MacAddress Mac, bool Known)> Snapshot(long now)
    {
        var entries = new List<(IpAddr, MacAddress, bool)>();
        foreach (var (key, value, _) in _table.Snapshot(now))
        {
            entries.Add((key, value.Mac, value.Known));
        }
        return entries;
    }

    private struct Entry
    {
        public MacAddress Mac;
        public long ConfirmedAt;
        public long RequestedAt;
        public bool Known;
    }
}
