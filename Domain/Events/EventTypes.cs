using System.Collections.Frozen;

namespace Butterfly.Domain.Events;

/// <summary>
/// The stable names events are stored under. They are written out here rather than taken
/// from the CLR type names so that renaming a class can never orphan events already in a log.
/// </summary>
public static class EventTypes
{
    private static readonly FrozenDictionary<Type, string> NamesByType = new Dictionary<Type, string>
    {
        [typeof(NicAdded)] = "NicAdded",
        [typeof(NicIpsReplaced)] = "NicIpsReplaced",
        [typeof(NicSecurityGroupsReplaced)] = "NicSecurityGroupsReplaced",
        [typeof(NicAntiSpoofChanged)] = "NicAntiSpoofChanged",
        [typeof(NicBypassChanged)] = "NicBypassChanged",
        [typeof(NicPacketTraceChanged)] = "NicPacketTraceChanged",
        [typeof(NicRemoved)] = "NicRemoved",
        [typeof(SecurityGroupCreated)] = "SecurityGroupCreated",
        [typeof(SecurityGroupDefined)] = "SecurityGroupDefined",
        [typeof(SecurityGroupDeleted)] = "SecurityGroupDeleted",
        [typeof(RuleAdded)] = "RuleAdded",
        [typeof(RuleRemoved)] = "RuleRemoved",
        [typeof(MemberAdded)] = "MemberAdded",
        [typeof(MemberRemoved)] = "MemberRemoved",
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<string, Type> TypesByName =
        NamesByType.ToFrozenDictionary(pair => pair.Value, pair => pair.Key, StringComparer.Ordinal);

    /// <summary>Every stored event type name.</summary>
    public static IEnumerable<string> Names => TypesByName.Keys;

    public static string NameOf(DomainEvent domainEvent) => NamesByType[domainEvent.GetType()];

    public static Type? TypeOf(string name) => TypesByName.GetValueOrDefault(name);
}
