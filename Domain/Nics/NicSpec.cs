namespace Butterfly.Domain.Nics;

/// <summary>
/// The whole configuration of one NIC, as the API describes it and as NicAdded stores it.
/// Instances built by <see cref="NicSpec"/>'s validation are normalised: MAC in lower case,
/// IPs in canonical text form, IP and security group lists deduplicated in insertion order.
/// </summary>
public sealed record NicSpec(
    string Id,
    string Mac,
    uint Vni,
    IReadOnlyList<string> Ips,
    IReadOnlyList<string> SecurityGroups,
    bool IpAntiSpoof = false,
    string? SniffTargetNicId = null,
    bool BypassFiltering = false,
    NicType Type = NicType.VhostUserServer,
    bool PacketTrace = false,
    string? PacketTracePath = null,
    string? BenchType = null,
    string? BenchDestIp = null,
    string? BenchDestMac = null);
