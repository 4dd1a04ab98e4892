using System.Collections.Immutable;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Domain.Configuration;

/// <summary>
/// The whole switch configuration (NICs and security groups), immutable. It is the fold of
/// the event log: <see cref="Apply"/> returns the state after one event, Marten-style, and
/// never fails, so a log replays the same way every time. Listings are sorted by id
/// (ordinal); IP, group, member and rule lists keep insertion order without duplicates.
/// </summary>
public sealed partial class ConfigurationState
{
    public static readonly ConfigurationState Empty = new(
        ImmutableSortedDictionary.Create<string, NicSpec>(StringComparer.Ordinal),
        ImmutableSortedDictionary.Create<string, SecurityGroupSpec>(StringComparer.Ordinal));

    private ConfigurationState(
        ImmutableSortedDictionary<string, NicSpec> nics,
        ImmutableSortedDictionary<string, SecurityGroupSpec> groups)
    {
        Nics = nics;
        Groups = groups;
    }

    /// <summary>NICs by id, sorted by id (ordinal).</summary>
    public ImmutableSortedDictionary<string, NicSpec> Nics { get; }

    /// <summary>Security groups by id, sorted by id (ordinal).</summary>
    public ImmutableSortedDictionary<string, SecurityGroupSpec> Groups { get; }

    /// <summary>Builds a state from listings (e.g. a snapshot); lists are frozen and deduplicated.</summary>
    public static ConfigurationState From(IEnumerable<NicSpec> nics, IEnumerable<SecurityGroupSpec> groups)
    {
        var state = Empty;
        foreach (var group in groups)
            state = state.Apply(new SecurityGroupDefined(group.Id, group.Members, group.Rules));
        foreach (var nic in nics)
            state = state.Apply(new NicAdded(nic));
        return state;
    }

    public ConfigurationState Apply(DomainEvent domainEvent) => domainEvent switch
    {
        NicAdded e => WithNic(Freeze(e.Nic)),
        NicIpsReplaced e => UpdateNic(e.NicId, nic => nic with { Ips = Distinct(e.Ips) }),
        NicSecurityGroupsReplaced e => UpdateNic(e.NicId, nic => nic with { SecurityGroups = Distinct(e.SecurityGroups) }),
        NicAntiSpoofChanged e => UpdateNic(e.NicId, nic => nic with { IpAntiSpoof = e.IpAntiSpoof }),
        NicBypassChanged e => UpdateNic(e.NicId, nic => nic with { BypassFiltering = e.BypassFiltering }),
        NicPacketTraceChanged e => UpdateNic(e.NicId, nic => nic with { PacketTrace = e.PacketTrace, PacketTracePath = e.PacketTracePath }),
        NicRemoved e => new(Nics.Remove(e.NicId), Groups),
        SecurityGroupCreated e => Groups.ContainsKey(e.GroupId) ? this : WithGroup(EmptyGroup(e.GroupId)),
        SecurityGroupDefined e => WithGroup(new SecurityGroupSpec(e.GroupId, Distinct(e.Members), Distinct(e.Rules))),
        SecurityGroupDeleted e => new(Nics, Groups.Remove(e.GroupId)),

        // A rule or member for a group that does not exist creates it, as sg_rule_add and
        // sg_member_add do; a removal from a missing group changes nothing.
        RuleAdded e => UpdateGroup(e.GroupId, create: true, g => g with { Rules = Append(g.Rules, e.Rule) }),
        RuleRemoved e => UpdateGroup(e.GroupId, create: false, g => g with { Rules = Without(g.Rules, e.Rule) }),
        MemberAdded e => UpdateGroup(e.GroupId, create: true, g => g with { Members = Append(g.Members, e.Member) }),
        MemberRemoved e => UpdateGroup(e.GroupId, create: false, g => g with { Members = Without(g.Members, e.Member) }),
        _ => throw new ArgumentException($"unknown domain event type {domainEvent.GetType().Name}", nameof(domainEvent)),
    };

    public ConfigurationState ApplyAll(IEnumerable<DomainEvent> events)
    {
        var state = this;
        foreach (var domainEvent in events)
            state = state.Apply(domainEvent);
        return state;
    }

    /// <summary>True when both states hold the same NICs and groups, lists compared in order.</summary>
    public bool ContentEquals(ConfigurationState other) =>
        Nics.Count == other.Nics.Count
        && Groups.Count == other.Groups.Count
        && Nics.All(pair => other.Nics.TryGetValue(pair.Key, out var nic) && Same(pair.Value, nic))
        && Groups.All(pair => other.Groups.TryGetValue(pair.Key, out var group) && Same(pair.Value, group));

    /// <summary>Field-by-field equality of two NICs, lists compared by content and order.</summary>
    public static bool Same(NicSpec a, NicSpec b) =>
        a.Ips.SequenceEqual(b.Ips, StringComparer.Ordinal)
        && a.SecurityGroups.SequenceEqual(b.SecurityGroups, StringComparer.Ordinal)
        && (a with { Ips = b.Ips, SecurityGroups = b.SecurityGroups }) == b;

    /// <summary>Equality of two groups, members and rules compared by content and order.</summary>
    public static bool Same(SecurityGroupSpec a, SecurityGroupSpec b) =>
        string.Equals(a.Id, b.Id, StringComparison.Ordinal)
        && a.Members.SequenceEqual(b.Members, StringComparer.Ordinal)
        && a.Rules.SequenceEqual(b.Rules);

    private static SecurityGroupSpec EmptyGroup(string id) => new(id, OrderedSet<string>.Empty, OrderedSet<RuleSpec>.Empty);

    /// <summary>Copies the NIC's lists into immutable ones so no caller can change the state.</summary>
    private static NicSpec Freeze(NicSpec nic) =>
        nic with { Ips = Distinct(nic.Ips ?? []), SecurityGroups = Distinct(nic.SecurityGroups ?? []) };

    private static OrderedSet<T> Distinct<T>(IEnumerable<T>? items)
        where T : notnull => OrderedSet.From(items);

    private static OrderedSet<T> Append<T>(IReadOnlyList<T> list, T item)
        where T : notnull => OrderedSet.From(list).Add(item);

    private static OrderedSet<T> Without<T>(IReadOnlyList<T> list, T item)
        where T : notnull => OrderedSet.From(list).Remove(item);

    /// <summary>Membership in O(log n) when the list is the state's own <see cref="OrderedSet{T}"/>.</summary>
    internal static bool Holds<T>(IReadOnlyList<T> list, T item)
        where T : notnull => list is OrderedSet<T> set ? set.Contains(item) : list.Contains(item);

    private ConfigurationState WithNic(NicSpec nic) => new(Nics.SetItem(nic.Id, nic), Groups);

    private ConfigurationState WithGroup(SecurityGroupSpec group) => new(Nics, Groups.SetItem(group.Id, group));

    /// <summary>Updates of a NIC that does not exist change nothing: the NIC was removed first.</summary>
    private ConfigurationState UpdateNic(string id, Func<NicSpec, NicSpec> change) =>
        Nics.TryGetValue(id, out var nic) ? WithNic(change(nic)) : this;

    private ConfigurationState UpdateGroup(string id, bool create, Func<SecurityGroupSpec, SecurityGroupSpec> change)
    {
        if (Groups.TryGetValue(id, out var group))
            return WithGroup(change(group));
        return create ? WithGroup(change(EmptyGroup(id))) : this;
    }
}
