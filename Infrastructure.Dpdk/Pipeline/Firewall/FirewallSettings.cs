namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>
/// How the packet thread's firewall is sized and behaves: connection-table capacity (all NICs
/// together), idle timeouts, and whether a rule change cuts established connections it no
/// longer admits (Open vSwitch / Neutron behaviour) instead of letting them idle out (EC2's).
/// </summary>
internal sealed record FirewallSettings(int Capacity, ConntrackTimeouts Timeouts, bool CutEstablished)
{
    /// <summary>Default capacity: 1 Mi connections (96 MiB of address space, committed as used).</summary>
    public const int DefaultCapacity = 1 << 20;

    public static FirewallSettings Default { get; } = new(DefaultCapacity, ConntrackTimeouts.Default, false);
}
