using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Domain.Events;

/// <summary>
/// A change to the configuration, as the event log stores it. Each event belongs to one
/// aggregate: a NIC ("nic") or a security group ("sg"), named by its id. Events are facts:
/// applying one to a state that does not expect it (e.g. a rule added to a missing group)
/// still gives a well-defined state, see <see cref="Configuration.ConfigurationState.Apply"/>.
/// </summary>
public abstract record DomainEvent
{
    public const string NicKind = "nic";
    public const string GroupKind = "sg";

    /// <summary>"nic" or "sg".</summary>
    public abstract string AggregateKind { get; }

    /// <summary>Id of the NIC or security group.</summary>
    public abstract string AggregateId { get; }
}

/// <summary>An event of a NIC.</summary>
public abstract record NicEvent(string NicId) : DomainEvent
{
    public override string AggregateKind => NicKind;

    public override string AggregateId => NicId;
}

/// <summary>An event of a security group.</summary>
public abstract record GroupEvent(string GroupId) : DomainEvent
{
    public override string AggregateKind => GroupKind;

    public override string AggregateId => GroupId;
}

/// <summary>nic_add: the NIC now has exactly this configuration (a NIC with that id is replaced).</summary>
public sealed record NicAdded(NicSpec Nic) : NicEvent(Nic.Id);

/// <summary>nic_update ip: the NIC's IP list is now exactly <see cref="Ips"/>.</summary>
public sealed record NicIpsReplaced(string NicId, IReadOnlyList<string> Ips) : NicEvent(NicId);

/// <summary>nic_update security_group: the NIC's group list is now exactly <see cref="SecurityGroups"/>.</summary>
public sealed record NicSecurityGroupsReplaced(string NicId, IReadOnlyList<string> SecurityGroups) : NicEvent(NicId);

public sealed record NicAntiSpoofChanged(string NicId, bool IpAntiSpoof) : NicEvent(NicId);

/// <summary>nic_update bypass_filtering: the NIC skips (or no longer skips) anti-spoofing and its security groups.</summary>
public sealed record NicBypassChanged(string NicId, bool BypassFiltering) : NicEvent(NicId);

public sealed record NicPacketTraceChanged(string NicId, bool PacketTrace, string? PacketTracePath) : NicEvent(NicId);

public sealed record NicRemoved(string NicId) : NicEvent(NicId);

/// <summary>An empty group made implicitly by sg_rule_add or sg_member_add naming a missing group.</summary>
public sealed record SecurityGroupCreated(string GroupId) : GroupEvent(GroupId);

/// <summary>sg_add: the group now has exactly these members and rules (created or replaced).</summary>
public sealed record SecurityGroupDefined(string GroupId, IReadOnlyList<string> Members, IReadOnlyList<RuleSpec> Rules) : GroupEvent(GroupId);

public sealed record SecurityGroupDeleted(string GroupId) : GroupEvent(GroupId);

public sealed record RuleAdded(string GroupId, RuleSpec Rule) : GroupEvent(GroupId);

public sealed record RuleRemoved(string GroupId, RuleSpec Rule) : GroupEvent(GroupId);

public sealed record MemberAdded(string GroupId, string Member) : GroupEvent(GroupId);

public sealed record MemberRemoved(string GroupId, string Member) : GroupEvent(GroupId);
