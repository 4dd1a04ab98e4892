using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>A NIC's port, as the firewall needs it: the handle the packet thread knows it by and its conntrack zone.</summary>
internal readonly record struct FirewallPort(ushort Handle, uint Zone);

/// <summary>
/// Compiles the security configuration (a projection of the event log: NICs, groups, rules,
/// members) into the packet thread's <see cref="FirewallPolicy"/>, incrementally.
///
/// Groups get a stable index the first time anything names them (a NIC, a rule referencing
/// their members, their definition), so a NIC may name a group that does not exist yet and
/// pick up its rules the moment it is defined, without being recompiled. Per commit:
/// - a group whose rules changed gets its rules recompiled (its size of work);
/// - a group whose members changed applies the committed MemberAdded/MemberRemoved events to
///   its <see cref="MemberSet"/> in place — O(1) per member however many NICs reference the
///   group — or rebuilds the set when the group was redefined, deleted, or the events are
///   not known (start-up, a restore);
/// - a NIC whose configuration or port changed gets a new <see cref="NicFilter"/>; the others
///   keep theirs (records compared by reference: the state is immutable).
/// The policy's top level (filters by handle, rules by group, member sets by group) is new
/// each time and stamped with the event sequence it reflects.
/// Thread: the control thread (one caller at a time). Free of EAL: unit tests call it directly.
/// </summary>
internal sealed class PolicyCompiler
{
    private readonly Dictionary<string, int> _groupIndex = new(StringComparer.Ordinal);
    private readonly List<SecurityGroupSpec?> _compiledGroups = [];
    private readonly List<GroupRules?> _rules = [];
    private readonly List<MemberSet> _members = [];
    private readonly Dictionary<string, (NicSpec Spec, FirewallPort Port, NicFilter Filter)> _nics = new(StringComparer.Ordinal);
    private long _version = -1;

    /// <summary>The policy of the last <see cref="Compile"/>.</summary>
    public FirewallPolicy Current { get; private set; } = FirewallPolicy.Empty;

    /// <summary>
    /// Compiles <paramref name="state"/> (as of event <paramref name="version"/>) for the NICs
    /// that have a port in <paramref name="ports"/>; <paramref name="handles"/> sizes the
    /// per-handle array. <paramref name="committed"/> are the events between the previous
    /// compile (at <paramref name="previousVersion"/>) and this one, or null when unknown.
    /// </summary>
    public FirewallPolicy Compile(ConfigurationState state, IReadOnlyDictionary<string, FirewallPort> ports, int handles,
        long version, IReadOnlyList<DomainEvent>? committed = null, long previousVersion = -1)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(ports);
        var deltas = committed is not null && previousVersion == _version ? MemberDeltas(committed) : null;

        foreach (var (id, group) in state.Groups)
        {
            var index = IndexOf(id);
            var compiled = _compiledGroups[index];
            if (ReferenceEquals(compiled, group))
            {
                continue;
            }
            if (compiled is null || !ReferenceEquals(compiled.Rules, group.Rules))
            {
                _rules[index] = CompileRules(group.Rules);
            }
            if (compiled is null || !ReferenceEquals(compiled.Members, group.Members))
            {
                if (compiled is null || deltas is null || !deltas.TryGetValue(id, out var changes) || !ApplyDeltas(_members[index], changes))
                {
                    _members[index] = BuildMembers(group.Members);
                }
            }
            _compiledGroups[index] = group;
        }
        for (var index = 0; index < _compiledGroups.Count; index++)
        {
            var compiled = _compiledGroups[index];
            if (compiled is not null && !state.Groups.ContainsKey(compiled.Id))
            {
                _compiledGroups[index] = null;
                _rules[index] = null;
                _members[index] = new MemberSet();
            }
        }

        var byHandle = new NicFilter?[handles];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (id, port) in ports)
        {
            if (!state.Nics.TryGetValue(id, out var nic) || port.Handle >= handles)
            {
                continue;
            }
            if (!_nics.TryGetValue(id, out var known) || !ReferenceEquals(known.Spec, nic) || known.Port != port)
            {
                known = (nic, port, BuildFilter(nic, port.Zone));
                _nics[id] = known;
            }
            byHandle[port.Handle] = known.Filter;
            seen.Add(id);
        }
        foreach (var gone in _nics.Keys.Where(id => !seen.Contains(id)).ToList())
        {
            _nics.Remove(gone);
        }

        _version = version;
        Current = new FirewallPolicy(version, byHandle, [.. _rules], [.. _members]);
        return Current;
    }

    /// <summary>The index of group <paramref name="groupId"/> in the policy's arrays, or -1 when nothing has named it.</summary>
    public int GroupIndexOf(string groupId) => _groupIndex.GetValueOrDefault(groupId, -1);

    /// <summary>The compiled filter of NIC <paramref name="id"/>, or null when it has no port.</summary>
    public NicFilter? FilterOf(string id) => _nics.TryGetValue(id, out var known) ? known.Filter : null;

    private int IndexOf(string groupId)
    {
        if (!_groupIndex.TryGetValue(groupId, out var index))
        {
            index = _compiledGroups.Count;
            _groupIndex.Add(groupId, index);
            _compiledGroups.Add(null);
            _rules.Add(null);
            _members.Add(new MemberSet());
        }
        return index;
    }

    private NicFilter BuildFilter(NicSpec nic, uint zone)
    {
        // The state holds validated, normalised text: a MAC or IP that does not parse here
        // cannot happen; should it, the NIC gets no address rather than a wrong one.
        _ = MacAddress.TryParse(nic.Mac, out var mac);
        var ips = new List<IpAddr>(nic.Ips.Count);
        foreach (var text in nic.Ips)
        {
            if (IpAddr.TryParse(text, out var ip))
            {
                ips.Add(ip);
            }
        }
        var groups = new int[nic.SecurityGroups.Count];
        for (var i = 0; i < groups.Length; i++)
        {
            groups[i] = IndexOf(nic.SecurityGroups[i]);
        }
        return new NicFilter(nic.Id, zone, mac, [.. ips], nic.IpAntiSpoof, nic.BypassFiltering, groups);
    }

    private GroupRules CompileRules(IReadOnlyList<RuleSpec> rules)
    {
        var inbound = new List<CompiledRule>();
        var outbound = new List<CompiledRule>();
        foreach (var rule in rules)
        {
            (rule.Direction == Direction.Inbound ? inbound : outbound).Add(Compile(rule));
        }
        return new GroupRules([.. inbound], [.. outbound]);
    }

    private CompiledRule Compile(RuleSpec rule)
    {
        var ports = rule.Protocol is SecurityGroupValidation.Tcp or SecurityGroupValidation.Udp;
        var first = ports ? (ushort)(rule.PortStart ?? 0) : (ushort)0;
        var last = ports ? (ushort)(rule.PortEnd ?? ushort.MaxValue) : ushort.MaxValue;
        var icmpType = rule.IcmpType is { } type ? (short)type : CompiledRule.AnyIcmp;
        var icmpCode = rule.IcmpCode is { } code ? (short)code : CompiledRule.AnyIcmp;
        if (rule.SecurityGroup is not null)
        {
            return new CompiledRule(rule.Protocol, first, last, icmpType, icmpCode, default, 0, IndexOf(rule.SecurityGroup));
        }
        // A CIDR that does not parse cannot come out of validation; it then matches nothing
        // (an IPv6 /128 of ::, which no peer has) rather than everything.
        return IpAddr.TryParse(rule.Cidr!.Address, out var prefix)
            ? new CompiledRule(rule.Protocol, first, last, icmpType, icmpCode, prefix, (int)rule.Cidr.MaskSize, CompiledRule.NoGroup)
            : new CompiledRule(rule.Protocol, first, last, icmpType, icmpCode, new IpAddr(0, 0), 128, CompiledRule.NoGroup);
    }

    private static MemberSet BuildMembers(IReadOnlyList<string> members)
    {
        var set = new MemberSet(members.Count);
        foreach (var member in members)
        {
            if (IpAddr.TryParse(member, out var ip))
            {
                set.Add(ip);
            }
        }
        return set;
    }

    /// <summary>Member events per group, or no entry for a group that was redefined, deleted or created in the batch.</summary>
    private static Dictionary<string, List<(bool Add, string Member)>> MemberDeltas(IReadOnlyList<DomainEvent> events)
    {
        var deltas = new Dictionary<string, List<(bool, string)>>(StringComparer.Ordinal);
        var rebuilt = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            switch (e)
            {
                case MemberAdded added:
                    Changes(deltas, added.GroupId).Add((true, added.Member));
                    break;
                case MemberRemoved removed:
                    Changes(deltas, removed.GroupId).Add((false, removed.Member));
                    break;
                case SecurityGroupDefined or SecurityGroupDeleted or SecurityGroupCreated:
                    rebuilt.Add(e.AggregateId);
                    break;
            }
        }
        foreach (var id in rebuilt)
        {
            deltas.Remove(id);
        }
        return deltas;

        static List<(bool, string)> Changes(Dictionary<string, List<(bool, string)>> deltas, string id)
        {
            if (!deltas.TryGetValue(id, out var list))
            {
                list = [];
                deltas.Add(id, list);
            }
            return list;
        }
    }

    private static bool ApplyDeltas(MemberSet set, List<(bool Add, string Member)> changes)
    {
        foreach (var (add, member) in changes)
        {
            if (!IpAddr.TryParse(member, out var ip))
            {
                return false;
            }
            _ = add ? set.Add(ip) : set.Remove(ip);
        }
        return true;
    }
}
