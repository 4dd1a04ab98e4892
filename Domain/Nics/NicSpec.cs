namespace Butterfly.Domain.Nics;

/// <summary>
/// The whole configuration of one NIC, as the API describes it and as NicAdded stores it.
/// Instances built by <see cref="NicSpec"/>'s validation are normalised: MAC in lower case,
/// IPs in canonical text form, IP and security group lists deduplicated in insertion order.
/// <see cref="SocketPath"/> is not part of a request: nic_add records the vhost-user socket path
/// it chose (<see cref="Configuration.ConfigurationState.DecideAddNic"/>), so that a restart never
/// moves a running VM's socket even if the naming of new sockets changes. It is null for tap
/// and BENCH NICs, and for vhost-user NICs recorded before the path was kept (protocol
/// revision 10), whose socket is &lt;socket-dir&gt;/&lt;id&gt;.
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
    string? BenchDestMac = null,
    string? SocketPath = null);
