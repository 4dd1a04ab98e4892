using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>
/// Stage: the stateful firewall of every NIC — anti-spoofing, then connection tracking with
/// EC2 security-group semantics, one conntrack zone per NIC.
///
/// Input: a parsed frame (<see cref="PacketMeta"/> and its bytes), the NIC it leaves
/// (<see cref="FromNic"/>: anti-spoof, then its egress filter) or enters (<see cref="ToNic"/>:
/// its ingress filter), and the <see cref="FirewallPolicy"/> the packet thread read this round.
/// Output: <see cref="DropReason.None"/> to pass, or the drop reason.
/// Filtering, per NIC zone:
/// 1. Frames that are not IP (ARP, …), neighbour discovery and MLD are not matched by rules.
/// 2. A packet of a tracked connection passes if its tracker finds it valid (TCP in window,
///    echo replies the right way): established flows go on both ways until they idle out,
///    whatever the rules do meanwhile — unless the daemon cuts them (<c>--conntrack-cut-established</c>):
///    then a connection admitted under an older policy version is checked again by the current
///    rules on its next packet, and dropped with <see cref="DropReason.FirewallCut"/> if refused.
/// 3. An ICMP error quoting a packet of a tracked connection passes (related).
/// 4. Otherwise the packet opens a flow if the NIC's groups admit it (INBOUND rules toward the
///    NIC; OUTBOUND rules, or none at all, from it); the connection is then tracked. A TCP
///    segment that cannot open a connection (SYN-ACK, invalid flags) is
///    <see cref="DropReason.ConntrackInvalid"/>; a RST, an echo reply or an informational ICMP
///    message without a connection passes if the rules admit it, untracked.
/// 5. Later fragments pass when their datagram's first fragment passed (tracked by fragment id).
/// Drop reasons: anti-spoof's, <see cref="DropReason.FirewallInboundDenied"/>,
/// <see cref="DropReason.FirewallOutboundDenied"/>, <see cref="DropReason.ConntrackInvalid"/>,
/// <see cref="DropReason.ConntrackFull"/>, <see cref="DropReason.FirewallFragmentUnknown"/>,
/// <see cref="DropReason.FirewallCut"/>.
/// State: the <see cref="ConnectionTable"/> (owned), swept a little every round (<see cref="Sweep"/>).
/// Thread: the packet thread only. Per packet: no allocation, lock, syscall, exception or log.
/// </summary>
internal sealed class FirewallStage : IDisposable
{
    private readonly ConnectionTable _table;
    private readonly ConntrackTimeouts _timeouts;
    private readonly bool _cutEstablished;
    private int _sweepCursor;
    private ulong _opened;
    private ulong _expired;

    // The table's count, copied after every change so other threads can read it without touching the table.
    private int _countMirror;

    /// <param name="capacity">Most tracked connections at once, all NICs together.</param>
    /// <param name="timeouts">Idle lifetimes.</param>
    /// <param name="cutEstablished">Re-check established connections against the rules after every policy change.</param>
    public FirewallStage(int capacity, ConntrackTimeouts timeouts, bool cutEstablished)
    {
        _table = new ConnectionTable(capacity);
        _timeouts = timeouts;
        _cutEstablished = cutEstablished;
    }

    /// <summary>The connections (for statistics, export and tests). Packet thread, or while it is stopped.</summary>
    internal ConnectionTable Table => _table;

    internal ConntrackTimeouts Timeouts => _timeouts;

    /// <summary>Tracked connections now. Any thread (a plain read of an int the packet thread writes).</summary>
    public int Count => Volatile.Read(ref _countMirror);

    public int Capacity => _table.Capacity;

    /// <summary>Connections opened since start. Any thread.</summary>
    public ulong Opened => Volatile.Read(ref _opened);

    /// <summary>Connections removed by the sweeper (idle past their timeout, or their NIC gone). Any thread.</summary>
    public ulong Expired => Volatile.Read(ref _expired);

    /// <summary>A frame the NIC sends: anti-spoof, then the NIC's egress filter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public DropReason FromNic(NicFilter nic, FirewallPolicy policy, ReadOnlySpan<byte> frame, in PacketMeta meta, long now)
    {
        var spoof = AntiSpoof.Check(nic, frame, meta);
        if (spoof != DropReason.None)
        {
            return spoof;
        }
        Classify(nic, frame, meta, out var lookup);
        return Decide(nic, policy, frame, meta, lookup, lookup.Hash, inbound: false, now);
    }

    /// <summary>A frame toward the NIC: its ingress filter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public DropReason ToNic(NicFilter nic, FirewallPolicy policy, ReadOnlySpan<byte> frame, in PacketMeta meta, long now)
    {
        Classify(nic, frame, meta, out var lookup);
        return Decide(nic, policy, frame, meta, lookup, lookup.Hash, inbound: true, now);
    }

    /// <summary>
    /// The first half of <see cref="FromNic"/> for one frame of a burst: anti-spoofing, then the
    /// flow's key in the NIC's zone, whose index slot is prefetched. The caller does this for
    /// every frame of the burst, then <see cref="PrefetchConnection"/> for every frame, then
    /// <see cref="FinishFromNic"/> for every frame: the cache misses of a burst's lookups then
    /// overlap instead of following one another (rte_hash's bulk lookup does the same).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public DropReason StartFromNic(NicFilter nic, ReadOnlySpan<byte> frame, in PacketMeta meta, out FlowLookup lookup)
    {
        var spoof = AntiSpoof.Check(nic, frame, meta);
        if (spoof != DropReason.None)
        {
            lookup = default;
            return spoof;
        }
        Classify(nic, frame, meta, out lookup);
        if (lookup.Path == LookupPath.Track)
        {
            _table.PrefetchSlot(lookup.Hash);
        }
        return DropReason.None;
    }

    /// <summary>The second step: the connection entry the prefetched index slot names is prefetched in turn.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchConnection(in FlowLookup lookup)
    {
        if (lookup.Path == LookupPath.Track)
        {
            _table.PrefetchEntry(lookup.Hash);
        }
    }

    /// <summary>The last step of <see cref="FromNic"/>: the NIC's egress filter on a started lookup.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public DropReason FinishFromNic(NicFilter nic, FirewallPolicy policy, ReadOnlySpan<byte> frame, in PacketMeta meta, in FlowLookup lookup, long now) =>
        Decide(nic, policy, frame, meta, lookup, lookup.Hash, inbound: false, now);

    /// <summary>
    /// The first step of <see cref="ToNic"/> for a frame between two local NICs whose sender's
    /// egress lookup (<paramref name="egress"/>, from <see cref="StartFromNic"/>) is known: the
    /// flow is the same in the receiving NIC's zone, so only its hash there is computed (one
    /// instruction) and returned, and its index slot prefetched; nothing is parsed, copied or
    /// hashed again. Then <see cref="PrefetchConnection(in FlowLookup, uint)"/> and
    /// <see cref="FinishToNic"/> with the same lookup and hash.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint StartToNic(NicFilter nic, in FlowLookup egress)
    {
        if (egress.Path != LookupPath.Track)
        {
            return 0;
        }
        var hash = FlowKey.InZone(egress.ZonelessHash, nic.Zone);
        _table.PrefetchSlot(hash);
        return hash;
    }

    /// <summary>
    /// The first step of <see cref="ToNic"/> for a frame whose sender bypasses filtering (no
    /// egress lookup): classified in the receiving NIC's zone, index slot prefetched; then
    /// <see cref="PrefetchConnection(in FlowLookup)"/> and <see cref="FinishToNic"/> with
    /// <paramref name="lookup"/> and its <see cref="FlowLookup.Hash"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void StartToNic(NicFilter nic, ReadOnlySpan<byte> frame, in PacketMeta meta, out FlowLookup lookup)
    {
        Classify(nic, frame, meta, out lookup);
        if (lookup.Path == LookupPath.Track)
        {
            _table.PrefetchSlot(lookup.Hash);
        }
    }

    /// <summary>The second step of <see cref="StartToNic(NicFilter, in FlowLookup)"/>: the connection its hash names is prefetched.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchConnection(in FlowLookup lookup, uint hash)
    {
        if (lookup.Path == LookupPath.Track)
        {
            _table.PrefetchEntry(hash);
        }
    }

    /// <summary>
    /// The last step of <see cref="ToNic"/>: the NIC's ingress filter on a started lookup
    /// (<paramref name="lookup"/>, of this NIC's zone or the sender's) and the flow's hash in this NIC's zone.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public DropReason FinishToNic(NicFilter nic, FirewallPolicy policy, ReadOnlySpan<byte> frame, in PacketMeta meta, in FlowLookup lookup, uint hash, long now) =>
        Decide(nic, policy, frame, meta, lookup, hash, inbound: true, now);

    /// <summary>What the filter must do with a frame, and the flow key when it is tracked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Classify(NicFilter nic, ReadOnlySpan<byte> frame, in PacketMeta meta, out FlowLookup lookup)
    {
        lookup = default;
        if (meta.L3 is not (L3Kind.Ipv4 or L3Kind.Ipv6))
        {
            lookup.Path = LookupPath.Pass;
            return;
        }
        if (meta.Has(PacketFlags.LaterFragment))
        {
            lookup.Path = LookupPath.LaterFragment;
            return;
        }
        var protocol = meta.L4Protocol;
        ushort sourcePort = 0, destinationPort = 0;
        var role = IcmpRole.Untracked;
        var hasL4 = meta.L4Offset != 0;
        if (hasL4 && protocol == (meta.L3 == L3Kind.Ipv4 ? Ipv4Header.ProtocolIcmp : Ipv6Header.NextIcmpv6))
        {
            if (meta.L3 == L3Kind.Ipv6 && AntiSpoof.IsLinkScopedControl(meta.IcmpType))
            {
                lookup.Path = LookupPath.Pass;
                return;
            }
            role = IcmpTracker.RoleOf(meta);
            if (role is IcmpRole.Error or IcmpRole.Untracked)
            {
                lookup.Role = role;
                lookup.Path = LookupPath.Untracked;
                return;
            }
            sourcePort = destinationPort = IcmpTracker.EchoId(frame, meta);
        }
        else if (hasL4 && protocol is Ipv4Header.ProtocolTcp or Ipv4Header.ProtocolUdp)
        {
            sourcePort = meta.SourcePort;
            destinationPort = meta.DestinationPort;
        }
        var senderIsA = FlowKey.Write(ref lookup.Key, nic.Zone, protocol, FlowKind.Connection, meta.SourceIp, sourcePort, meta.DestinationIp, destinationPort);
        if (role != IcmpRole.Untracked)
        {
            // The request's sender asks; a reply goes to the one who asked.
            lookup.Key.Detail = senderIsA == (role == IcmpRole.EchoRequest) ? FlowKey.EchoAskedByA : FlowKey.EchoAskedByB;
        }
        lookup.ZonelessHash = FlowKey.ZonelessHashOf(lookup.Key);
        lookup.Hash = FlowKey.InZone(lookup.ZonelessHash, nic.Zone);
        lookup.SenderIsA = senderIsA;
        lookup.Role = role;
        lookup.Path = LookupPath.Track;
    }

    /// <summary>
    /// The verdict on a classified frame in <paramref name="nic"/>'s zone: <paramref name="lookup"/>
    /// may come from another NIC's zone (a frame between two local NICs is classified once), so
    /// the key is looked up with the zone replaced, and <paramref name="hash"/> is its hash in
    /// this zone. The common case — a live connection's UDP packet or TCP segment, unfragmented,
    /// nothing to re-check — is decided here, inlined in the burst loop; everything else is
    /// <see cref="DecideOther"/>'s.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DropReason Decide(NicFilter nic, FirewallPolicy policy, ReadOnlySpan<byte> frame, in PacketMeta meta, in FlowLookup lookup, uint hash, bool inbound, long now)
    {
        if (lookup.Path == LookupPath.Track)
        {
            var entry = _table.FindInZone(lookup.Key, nic.Zone, hash);
            if (entry >= 0)
            {
                ref var c = ref _table[entry];
                if (now - c.Expires < 0 && (!_cutEstablished || c.PolicyVersion == (uint)policy.Version) && !meta.Has(PacketFlags.Fragment))
                {
                    var protocol = c.Key.Protocol;
                    if (protocol == Ipv4Header.ProtocolUdp)
                    {
                        UdpTracker.Update(ref c, c.IsOriginal(lookup.SenderIsA), now, _timeouts);
                        return DropReason.None;
                    }
                    if (protocol == Ipv4Header.ProtocolTcp && meta.L4Offset != 0)
                    {
                        var result = TcpTracker.Update(ref c, c.IsOriginal(lookup.SenderIsA), frame, meta, now, _timeouts);
                        if (result == TrackResult.Valid)
                        {
                            return DropReason.None;
                        }
                        if (result == TrackResult.Invalid)
                        {
                            return DropReason.ConntrackInvalid;
                        }
                        // A new SYN on a closed connection's ports: the old entry goes.
                        Remove(entry);
                        entry = -1;
                    }
                }
            }
            return DecideOther(nic, policy, frame, meta, lookup, hash, entry, inbound, now);
        }
        return DecideOther(nic, policy, frame, meta, lookup, hash, -1, inbound, now);
    }

    /// <summary>
    /// <see cref="Decide"/> for every other case: untracked and fragment paths, new flows,
    /// expired or re-checked connections, other protocols; <paramref name="found"/> is the
    /// connection entry already found for a tracked frame, or -1.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason DecideOther(NicFilter nic, FirewallPolicy policy, ReadOnlySpan<byte> frame, in PacketMeta meta, in FlowLookup lookup, uint hash,
        int found, bool inbound, long now)
    {
        switch (lookup.Path)
        {
            case LookupPath.Pass:
                return DropReason.None;
            case LookupPath.LaterFragment:
                return FindFragments(nic.Zone, meta, now) ? DropReason.None : DropReason.FirewallFragmentUnknown;
            case LookupPath.Untracked:
                return lookup.Role == IcmpRole.Error && IsRelated(nic.Zone, frame, meta, now)
                    ? DropReason.None
                    : AdmitUntracked(nic, policy, meta, inbound);
        }
        var protocol = meta.L4Protocol;
        var hasL4 = meta.L4Offset != 0;
        var role = lookup.Role;
        var senderIsA = lookup.SenderIsA;
        var zone = nic.Zone;
        var entry = found;
        if (entry >= 0)
        {
            ref var c = ref _table[entry];
            if (now - c.Expires < 0)
            {
                if (_cutEstablished && c.PolicyVersion != (uint)policy.Version)
                {
                    if (!StillAdmitted(c, nic, policy))
                    {
                        Remove(entry);
                        return DropReason.FirewallCut;
                    }
                    c.PolicyVersion = (uint)policy.Version;
                }
                var result = Update(ref c, c.IsOriginal(senderIsA), role, frame, meta, now);
                if (result == TrackResult.Valid)
                {
                    NoteFirstFragment(nic.Zone, meta, now);
                    return DropReason.None;
                }
                if (result == TrackResult.Invalid)
                {
                    return DropReason.ConntrackInvalid;
                }
            }
            // Expired, or a new SYN on a closed connection's ports: the old entry goes.
            Remove(entry);
        }

        if (protocol == Ipv4Header.ProtocolTcp && hasL4 && !TcpTracker.CanOpen(meta.TcpFlags))
        {
            return (meta.TcpFlags & (TcpHeader.FlagRst | TcpHeader.FlagSyn)) == TcpHeader.FlagRst && !TcpTracker.InvalidFlags(meta.TcpFlags)
                ? AdmitUntracked(nic, policy, meta, inbound)
                : DropReason.ConntrackInvalid;
        }
        if (role == IcmpRole.EchoReply)
        {
            return AdmitUntracked(nic, policy, meta, inbound);
        }
        if (!policy.Admits(nic, FlowView.Of(meta, inbound), inbound))
        {
            return Denied(inbound);
        }
        var key = lookup.Key;
        key.Zone = zone;
        entry = _table.Add(key, hash);
        if (entry < 0)
        {
            return DropReason.ConntrackFull;
        }
        ref var n = ref _table[entry];
        n.Flags |= (senderIsA ? ConnectionFlags.OriginIsA : ConnectionFlags.None) | (inbound ? ConnectionFlags.Inbound : ConnectionFlags.None);
        n.PolicyVersion = (uint)policy.Version;
        Open(ref n, role, frame, meta, now);
        _countMirror = _table.Count;
        _opened++;
        NoteFirstFragment(nic.Zone, meta, now);
        return DropReason.None;
    }

    /// <summary>
    /// Removes a little of what is dead: up to <paramref name="budget"/> entries are visited from
    /// where the last call stopped; an entry idle past its timeout, or of a NIC that is gone,
    /// is removed. Lookups treat expired entries as absent anyway; this only frees the room.
    /// </summary>
    public void Sweep(FirewallPolicy policy, long now, int budget)
    {
        var end = _table.HighWater;
        if (end == 0)
        {
            return;
        }
        for (var i = 0; i < budget; i++)
        {
            if (_sweepCursor >= end)
            {
                _sweepCursor = 0;
            }
            var entry = _sweepCursor++;
            if (!_table.InUse(entry))
            {
                continue;
            }
            ref var c = ref _table[entry];
            if (now - c.Expires >= 0 || !policy.IsLiveZone(c.Key.Zone))
            {
                Remove(entry);
                _expired++;
            }
        }
    }

    /// <summary>Adds a connection from outside (a nic_export document); false when the table is full. Existing entries win.</summary>
    internal bool Insert(in Connection connection)
    {
        var hash = FlowKey.HashOf(connection.Key);
        if (_table.Find(connection.Key, hash) >= 0)
        {
            return true;
        }
        var entry = _table.Add(connection.Key, hash);
        if (entry < 0)
        {
            return false;
        }
        _table[entry] = connection;
        _table[entry].Flags |= ConnectionFlags.Used | ConnectionFlags.Imported;
        _countMirror = _table.Count;
        return true;
    }

    public void Dispose() => _table.Dispose();

    private void Remove(int entry)
    {
        _table.Remove(entry);
        _countMirror = _table.Count;
    }

    private static DropReason Denied(bool inbound) => inbound ? DropReason.FirewallInboundDenied : DropReason.FirewallOutboundDenied;

    /// <summary>A packet no connection follows: the rules alone decide, nothing is recorded.</summary>
    private static DropReason AdmitUntracked(NicFilter nic, FirewallPolicy policy, in PacketMeta meta, bool inbound) =>
        policy.Admits(nic, FlowView.Of(meta, inbound), inbound) ? DropReason.None : Denied(inbound);

    private TrackResult Update(ref Connection c, bool original, IcmpRole role, ReadOnlySpan<byte> frame, in PacketMeta meta, long now)
    {
        var protocol = c.Key.Protocol;
        if (protocol == Ipv4Header.ProtocolTcp && meta.L4Offset != 0)
        {
            return TcpTracker.Update(ref c, original, frame, meta, now, _timeouts);
        }
        if (protocol == Ipv4Header.ProtocolUdp)
        {
            return UdpTracker.Update(ref c, original, now, _timeouts);
        }
        return role is IcmpRole.EchoRequest or IcmpRole.EchoReply
            ? IcmpTracker.Update(ref c, original, role, now, _timeouts)
            : OtherTracker.Update(ref c, original, now, _timeouts);
    }

    private void Open(ref Connection c, IcmpRole role, ReadOnlySpan<byte> frame, in PacketMeta meta, long now)
    {
        var protocol = c.Key.Protocol;
        if (protocol == Ipv4Header.ProtocolTcp && meta.L4Offset != 0)
        {
            TcpTracker.Open(ref c, frame, meta, now, _timeouts);
        }
        else if (protocol == Ipv4Header.ProtocolUdp)
        {
            UdpTracker.Open(ref c, now, _timeouts);
        }
        else if (role == IcmpRole.EchoRequest)
        {
            IcmpTracker.Open(ref c, now, _timeouts);
        }
        else
        {
            OtherTracker.Open(ref c, now, _timeouts);
        }
    }

    /// <summary>An ICMP error about a packet of a live connection of the zone.</summary>
    private bool IsRelated(uint zone, ReadOnlySpan<byte> frame, in PacketMeta meta, long now)
    {
        if (!IcmpTracker.TryQuotedKey(zone, frame, meta, out var key, out _))
        {
            return false;
        }
        var entry = _table.Find(key, FlowKey.HashOf(key));
        return entry >= 0 && now - _table[entry].Expires < 0;
    }

    /// <summary>After a first fragment passed, remembers its datagram so the later fragments pass too.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void NoteFirstFragment(uint zone, in PacketMeta meta, long now)
    {
        if (!meta.Has(PacketFlags.Fragment))
        {
            return;
        }
        var key = FragmentsKey(zone, meta);
        var hash = FlowKey.HashOf(key);
        var entry = _table.Find(key, hash);
        if (entry < 0)
        {
            entry = _table.Add(key, hash);
            if (entry < 0)
            {
                return;
            }
            _countMirror = _table.Count;
        }
        _table[entry].Expires = now + _timeouts.Fragments;
    }

    private bool FindFragments(uint zone, in PacketMeta meta, long now)
    {
        var key = FragmentsKey(zone, meta);
        var entry = _table.Find(key, FlowKey.HashOf(key));
        return entry >= 0 && now - _table[entry].Expires < 0;
    }

    private static FlowKey FragmentsKey(uint zone, in PacketMeta meta) =>
        FlowKey.Of(zone, meta.L4Protocol, FlowKind.Fragments, meta.SourceIp, (ushort)(meta.FragmentId >> 16),
            meta.DestinationIp, (ushort)meta.FragmentId, out _);

    /// <summary>Whether the current rules would still admit the connection's first packet (cut mode).</summary>
    private static bool StillAdmitted(in Connection c, NicFilter nic, FirewallPolicy policy)
    {
        var key = c.Key;
        if (key.Kind != FlowKind.Connection)
        {
            return true;
        }
        var inbound = c.Has(ConnectionFlags.Inbound);
        var originIsA = c.Has(ConnectionFlags.OriginIsA);
        // The NIC's peer is the origin of an inbound connection, the answering side otherwise.
        var peerIsA = inbound == originIsA;
        var peer = peerIsA ? key.A : key.B;
        var destinationPort = originIsA ? key.BPort : key.APort;
        var v4 = peer.IsV4;
        var protocol = key.Protocol;
        var ports = protocol is Ipv4Header.ProtocolTcp or Ipv4Header.ProtocolUdp;
        var icmp = protocol == (v4 ? Ipv4Header.ProtocolIcmp : Ipv6Header.NextIcmpv6);
        var view = new FlowView(peer, protocol, ports, destinationPort, icmp,
            v4 ? IcmpHeader.V4EchoRequest : IcmpHeader.V6EchoRequest, 0);
        return policy.Admits(nic, view, inbound);
    }
}
