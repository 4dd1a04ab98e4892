using System.Collections.Immutable;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;
using Butterfly.Domain.Validation;

namespace Butterfly.Domain.Configuration;

/// <summary>The change a nic_update asks for; null members are left unchanged.</summary>
/// <param name="Ips">Replaces the IP list when not null; "" entries are ignored, so [""] clears it.</param>
/// <param name="SecurityGroups">Replaces the group list when not null, with the same rule as <paramref name="Ips"/>.</param>
public sealed record NicUpdate(
    string Id,
    bool? IpAntiSpoof = null,
    IReadOnlyList<string>? Ips = null,
    IReadOnlyList<string>? SecurityGroups = null,
    bool? PacketTrace = null,
    string? PacketTracePath = null,
    bool? BypassFiltering = null);

// Decisions: each API command, already validated where it carries data, becomes the events
// that express it against the current state (docs/protocol.md, "Behaviour clients rely on").
// No-ops (deleting what does not exist, adding what is already there) emit no event, so the
// log only records real changes.
public sealed partial class ConfigurationState
{
    /// <summary>
    /// nic_add: validates the NIC and replaces any NIC with that id. Security groups the NIC
    /// names need not exist and are not created: the original daemon did not create them
    /// either, and a group defined later applies to the NIC from then on (EC2 semantics).
    /// The event is emitted even when the NIC is unchanged, because the original daemon
    /// re-created the port on every nic_add and the log should show each accepted order.
    /// <para>
    /// A MAC already used by another NIC of the same VNI is refused: frames are switched by
    /// (VNI, MAC), so the data path could deliver to only one of the two, and nothing may be
    /// acknowledged that it will not do. The check runs against the state with the staged
    /// events of the same batch, so two such NICs in one message are refused too.
    /// </para>
    /// <para>
    /// A vhost-user NIC that replaces one of the same id and type keeps its socket path (a
    /// running VM's socket never moves); any other vhost-user NIC gets
    /// <paramref name="socketPathOfNewPort"/>'s path (null: the path of NICs recorded
    /// before paths were kept).
    /// </para>
    /// </summary>
    public Validated<IReadOnlyList<DomainEvent>> DecideAddNic(NicSpec nic, Func<NicSpec, string?>? socketPathOfNewPort = null)
    {
        var normalised = NicValidation.Normalise(nic);
        if (!normalised.IsValid)
            return Validated.Fail<IReadOnlyList<DomainEvent>>(normalised.Error!);
        var spec = normalised.Value!;
        if (MacOwner(spec.Vni, spec.Mac, except: spec.Id) is { } owner)
        {
            return Validated.Fail<IReadOnlyList<DomainEvent>>(
                $"NIC '{spec.Id}': mac {spec.Mac} is already used by NIC '{owner.Id}' in vni {spec.Vni}: two NICs of one VNI cannot share a MAC "
                + $"(frames to it could reach only one of them); give NIC '{spec.Id}' another MAC, or delete NIC '{owner.Id}' or change its MAC first");
        }

        var tracePath = NicValidation.EffectivePacketTracePath(spec);
        if (spec.PacketTrace && TraceOwner(tracePath, except: spec.Id) is { } tracer)
            return Validated.Fail<IReadOnlyList<DomainEvent>>(SharedTracePath(spec.Id, tracePath, tracer.Id));

        string? socketPath = null;
        if (spec.Type == NicType.VhostUserServer)
        {
            socketPath = Nics.TryGetValue(spec.Id, out var current) && current.Type == NicType.VhostUserServer
                ? current.SocketPath
                : socketPathOfNewPort?.Invoke(spec);
        }

        return Ok(new NicAdded(spec with { SocketPath = socketPath }));
    }

    /// <summary>
    /// Two NICs of one VNI with the same MAC, or null. nic_add refuses to make such a pair;
    /// logs written before it did may still hold one (see RestoreTo).
    /// </summary>
    public (NicSpec First, NicSpec Second)? SharedMac()
    {
        var owners = new Dictionary<uint, Dictionary<string, NicSpec>>();
        foreach (var nic in Nics.Values)
        {
            if (!owners.TryGetValue(nic.Vni, out var macs))
                owners.Add(nic.Vni, macs = new Dictionary<string, NicSpec>(StringComparer.OrdinalIgnoreCase));
            if (!macs.TryAdd(nic.Mac, nic))
                return (macs[nic.Mac], nic);
        }

        return null;
    }

    /// <summary>The NIC other than <paramref name="except"/> that uses <paramref name="mac"/> in <paramref name="vni"/>, or null.</summary>
    private NicSpec? MacOwner(uint vni, string mac, string except)
    {
        foreach (var nic in Nics.Values)
        {
            if (nic.Vni == vni && string.Equals(nic.Mac, mac, StringComparison.OrdinalIgnoreCase) && !string.Equals(nic.Id, except, StringComparison.Ordinal))
                return nic;
        }

        return null;
    }

    /// <summary>The NIC other than <paramref name="except"/> whose packet_trace is on and goes to <paramref name="path"/>, or null.</summary>
    private NicSpec? TraceOwner(string path, string except)
    {
        foreach (var nic in Nics.Values)
        {
            if (nic.PacketTrace && string.Equals(NicValidation.EffectivePacketTracePath(nic), path, StringComparison.Ordinal)
                && !string.Equals(nic.Id, except, StringComparison.Ordinal))
                return nic;
        }

        return null;
    }

    private static string SharedTracePath(string nicId, string path, string tracer) =>
        $"NIC '{nicId}': packet_trace_path {path} is already the capture of NIC '{tracer}': two NICs cannot write one capture file "
        + $"(each would rotate the other's away); give NIC '{nicId}' another packet_trace_path, or turn NIC '{tracer}''s packet_trace off first";

    /// <summary>nic_update: the NIC must exist; only the fields that really change give events.</summary>
    public Validated<IReadOnlyList<DomainEvent>> DecideUpdateNic(NicUpdate update)
    {
        if (!Nics.TryGetValue(update.Id ?? string.Empty, out var nic))
            return Validated.Fail<IReadOnlyList<DomainEvent>>($"nic_update: no NIC has id '{update.Id}'");
        var prefix = $"NIC '{nic.Id}': ";
        var events = new List<DomainEvent>();

        if (update.Ips is not null)
        {
            var ips = NicValidation.NormaliseIps(update.Ips, skipEmpty: true);
            if (!ips.IsValid)
                return Validated.Fail<IReadOnlyList<DomainEvent>>(prefix + ips.Error);
            if (!ips.Value.SequenceEqual(nic.Ips, StringComparer.Ordinal))
                events.Add(new NicIpsReplaced(nic.Id, ips.Value));
        }

        if (update.SecurityGroups is not null)
        {
            var groups = NicValidation.NormaliseGroupIds(update.SecurityGroups, skipEmpty: true);
            if (!groups.IsValid)
                return Validated.Fail<IReadOnlyList<DomainEvent>>(prefix + groups.Error);
            if (!groups.Value.SequenceEqual(nic.SecurityGroups, StringComparer.Ordinal))
                events.Add(new NicSecurityGroupsReplaced(nic.Id, groups.Value));
        }

        if (update.IpAntiSpoof is { } antiSpoof && antiSpoof != nic.IpAntiSpoof)
            events.Add(new NicAntiSpoofChanged(nic.Id, antiSpoof));

        if (update.BypassFiltering is { } bypass && bypass != nic.BypassFiltering)
            events.Add(new NicBypassChanged(nic.Id, bypass));

        if (update.PacketTrace is not null || update.PacketTracePath is not null)
        {
            var trace = update.PacketTrace ?? nic.PacketTrace;
            var given = NicValidation.PacketTracePath(nic.Id, update.PacketTracePath);
            if (!given.IsValid)
                return Validated.Fail<IReadOnlyList<DomainEvent>>(given.Error!);
            var path = update.PacketTracePath is null ? nic.PacketTracePath : given.Value;
            var effective = NicValidation.EffectivePacketTracePath(nic with { PacketTracePath = path });
            if (trace && TraceOwner(effective, except: nic.Id) is { } tracer)
                return Validated.Fail<IReadOnlyList<DomainEvent>>(SharedTracePath(nic.Id, effective, tracer.Id));
            if (trace != nic.PacketTrace || !string.Equals(path, nic.PacketTracePath, StringComparison.Ordinal))
                events.Add(new NicPacketTraceChanged(nic.Id, trace, path));
        }

        return Validated.Ok<IReadOnlyList<DomainEvent>>(events);
    }

    /// <summary>nic_del: an unknown id is not an error and changes nothing.</summary>
    public IReadOnlyList<DomainEvent> DecideRemoveNic(string id) =>
        id is not null && Nics.ContainsKey(id) ? [new NicRemoved(id)] : [];

    /// <summary>sg_add: creates or replaces the group; an identical definition changes nothing.</summary>
    public Validated<IReadOnlyList<DomainEvent>> DecideDefineGroup(SecurityGroupSpec group)
    {
        var normalised = SecurityGroupValidation.Normalise(group);
        if (!normalised.IsValid)
            return Validated.Fail<IReadOnlyList<DomainEvent>>(normalised.Error!);
        var spec = normalised.Value!;
        if (Groups.TryGetValue(spec.Id, out var existing) && Same(existing, spec))
            return Validated.Ok<IReadOnlyList<DomainEvent>>([]);
        return Ok(new SecurityGroupDefined(spec.Id, spec.Members, spec.Rules));
    }

    /// <summary>sg_del: an unknown id is not an error and changes nothing.</summary>
    public IReadOnlyList<DomainEvent> DecideDeleteGroup(string id) =>
        id is not null && Groups.ContainsKey(id) ? [new SecurityGroupDeleted(id)] : [];

    /// <summary>sg_rule_add: creates the group when missing; a rule already there is a no-op.</summary>
    public Validated<IReadOnlyList<DomainEvent>> DecideAddRule(string groupId, RuleSpec rule)
    {
        var checkedId = Identifiers.GroupId("sg_id", groupId);
        if (!checkedId.IsValid)
            return Validated.Fail<IReadOnlyList<DomainEvent>>(checkedId.Error!);
        var normalised = SecurityGroupValidation.NormaliseRule(rule);
        if (!normalised.IsValid)
            return Validated.Fail<IReadOnlyList<DomainEvent>>($"security group '{groupId}': {normalised.Error}");
        if (!Groups.TryGetValue(groupId, out var group))
            return Validated.Ok<IReadOnlyList<DomainEvent>>([new SecurityGroupCreated(groupId), new RuleAdded(groupId, normalised.Value!)]);
        return Holds(group.Rules, normalised.Value!)
            ? Validated.Ok<IReadOnlyList<DomainEvent>>([])
            : Ok(new RuleAdded(groupId, normalised.Value!));
    }

    /// <summary>sg_rule_del: the rule is validated like for sg_rule_add; a missing rule or group is a no-op.</summary>
    public Validated<IReadOnlyList<DomainEvent>> DecideRemoveRule(string groupId, RuleSpec rule)
    {
        var normalised = SecurityGroupValidation.NormaliseRule(rule);
        if (!normalised.IsValid)
            return Validated.Fail<IReadOnlyList<DomainEvent>>($"security group '{groupId}': {normalised.Error}");
        return groupId is not null && Groups.TryGetValue(groupId, out var group) && Holds(group.Rules, normalised.Value!)
            ? Ok(new RuleRemoved(groupId, normalised.Value!))
            : Validated.Ok<IReadOnlyList<DomainEvent>>([]);
    }

    /// <summary>sg_member_add: creates the group when missing; a member already there is a no-op.</summary>
    public Validated<IReadOnlyList<DomainEvent>> DecideAddMember(string groupId, string member)
    {
        var checkedId = Identifiers.GroupId("sg_id", groupId);
        if (!checkedId.IsValid)
            return Validated.Fail<IReadOnlyList<DomainEvent>>(checkedId.Error!);
        var ip = SecurityGroupValidation.NormaliseMember(member);
        if (!ip.IsValid)
            return Validated.Fail<IReadOnlyList<DomainEvent>>($"security group '{groupId}': {ip.Error}");
        if (!Groups.TryGetValue(groupId, out var group))
            return Validated.Ok<IReadOnlyList<DomainEvent>>([new SecurityGroupCreated(groupId), new MemberAdded(groupId, ip.Value!)]);
        return Holds(group.Members, ip.Value!)
            ? Validated.Ok<IReadOnlyList<DomainEvent>>([])
            : Ok(new MemberAdded(groupId, ip.Value!));
    }

    /// <summary>sg_member_del: a missing member or group is a no-op, and the group is not created.</summary>
    public Validated<IReadOnlyList<DomainEvent>> DecideRemoveMember(string groupId, string member)
    {
        var ip = SecurityGroupValidation.NormaliseMember(member);
        if (!ip.IsValid)
            return Validated.Fail<IReadOnlyList<DomainEvent>>($"security group '{groupId}': {ip.Error}");
        return groupId is not null && Groups.TryGetValue(groupId, out var group) && Holds(group.Members, ip.Value!)
            ? Ok(new MemberRemoved(groupId, ip.Value!))
            : Validated.Ok<IReadOnlyList<DomainEvent>>([]);
    }

    private static Validated<IReadOnlyList<DomainEvent>> Ok(DomainEvent domainEvent) =>
        Validated.Ok<IReadOnlyList<DomainEvent>>(ImmutableArray.Create(domainEvent));
}
