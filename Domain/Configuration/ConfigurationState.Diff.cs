using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Domain.Configuration;

// Diff: the events that turn this state into another one, used by point-in-time restore.
// History is never rewritten; a restore appends these events like any command would.
// The events are as fine-grained as can be (a member added rather than a group redefined)
// so that the audit log shows what the restore really changed.
public sealed partial class ConfigurationState
{
    /// <summary>Events that, applied to this state, give a state whose content equals <paramref name="target"/>.</summary>
    public IReadOnlyList<DomainEvent> Diff(ConfigurationState target)
    {
        var events = new List<DomainEvent>();

        foreach (var id in Groups.Keys.Where(id => !target.Groups.ContainsKey(id)))
            events.Add(new SecurityGroupDeleted(id));
        foreach (var (id, wanted) in target.Groups)
        {
            if (!Groups.TryGetValue(id, out var current))
                events.Add(new SecurityGroupDefined(id, wanted.Members, wanted.Rules));
            else if (!Same(current, wanted))
                DiffGroup(current, wanted, events);
        }

        foreach (var id in Nics.Keys.Where(id => !target.Nics.ContainsKey(id)))
            events.Add(new NicRemoved(id));
        foreach (var (id, wanted) in target.Nics)
        {
            if (!Nics.TryGetValue(id, out var current))
                events.Add(new NicAdded(wanted));
            else if (!Same(current, wanted))
                DiffNic(current, wanted, events);
        }

        return events;
    }

    /// <summary>
    /// A NIC that differs only in what nic_update can change gets nic_update's events;
    /// any other difference (MAC, VNI, type, …) needs the port re-created, so NicAdded.
    /// </summary>
    private static void DiffNic(NicSpec current, NicSpec wanted, List<DomainEvent> events)
    {
        var updatable = current with
        {
            Ips = wanted.Ips,
            SecurityGroups = wanted.SecurityGroups,
            IpAntiSpoof = wanted.IpAntiSpoof,
            BypassFiltering = wanted.BypassFiltering,
            PacketTrace = wanted.PacketTrace,
            PacketTracePath = wanted.PacketTracePath,
        };
        if (updatable != wanted)
        {
            events.Add(new NicAdded(wanted));
            return;
        }

        if (!current.Ips.SequenceEqual(wanted.Ips, StringComparer.Ordinal))
            events.Add(new NicIpsReplaced(current.Id, wanted.Ips));
        if (!current.SecurityGroups.SequenceEqual(wanted.SecurityGroups, StringComparer.Ordinal))
            events.Add(new NicSecurityGroupsReplaced(current.Id, wanted.SecurityGroups));
        if (current.IpAntiSpoof != wanted.IpAntiSpoof)
            events.Add(new NicAntiSpoofChanged(current.Id, wanted.IpAntiSpoof));
        if (current.BypassFiltering != wanted.BypassFiltering)
            events.Add(new NicBypassChanged(current.Id, wanted.BypassFiltering));
        if (current.PacketTrace != wanted.PacketTrace || !string.Equals(current.PacketTracePath, wanted.PacketTracePath, StringComparison.Ordinal))
            events.Add(new NicPacketTraceChanged(current.Id, wanted.PacketTrace, wanted.PacketTracePath));
    }

    /// <summary>
    /// Member and rule additions/removals when they reproduce the wanted order exactly
    /// (kept items stay in place, new ones are appended); otherwise one SecurityGroupDefined.
    /// </summary>
    private static void DiffGroup(SecurityGroupSpec current, SecurityGroupSpec wanted, List<DomainEvent> events)
    {
        var keptMembers = current.Members.Where(m => Holds(wanted.Members, m)).ToList();
        var newMembers = wanted.Members.Where(m => !Holds(current.Members, m)).ToList();
        var keptRules = current.Rules.Where(r => Holds(wanted.Rules, r)).ToList();
        var newRules = wanted.Rules.Where(r => !Holds(current.Rules, r)).ToList();

        if (!keptMembers.Concat(newMembers).SequenceEqual(wanted.Members, StringComparer.Ordinal)
            || !keptRules.Concat(newRules).SequenceEqual(wanted.Rules))
        {
            events.Add(new SecurityGroupDefined(wanted.Id, wanted.Members, wanted.Rules));
            return;
        }

        foreach (var member in current.Members.Where(m => !Holds(wanted.Members, m)))
            events.Add(new MemberRemoved(current.Id, member));
        foreach (var member in newMembers)
            events.Add(new MemberAdded(current.Id, member));
        foreach (var rule in current.Rules.Where(r => !Holds(wanted.Rules, r)))
            events.Add(new RuleRemoved(current.Id, rule));
        foreach (var rule in newRules)
            events.Add(new RuleAdded(current.Id, rule));
    }
}
