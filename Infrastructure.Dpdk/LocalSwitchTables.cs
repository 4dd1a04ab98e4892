using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Compiles the NICs that have a port into the packet thread's <see cref="SwitchTables"/>:
/// (VNI, MAC) → port handle and, per VNI, the local ports a flood reaches and the remote VTEPs
/// it is replicated to (head-end replication: every VNI with a local NIC floods to every peer
/// given with --vxlan-peer, which then drops frames of VNIs it does not host). Control thread
/// (Reconcile); allocates freely. Free of EAL, so unit tests call it directly.
/// </summary>
internal static class LocalSwitchTables
{
    /// <summary>
    /// Builds the tables for <paramref name="ports"/>. A NIC whose MAC cannot be switched (not
    /// a unicast MAC, or taken by another NIC of its VNI: the first one in handle order keeps it)
    /// stays out of the tables (its frames are dropped as
    /// <see cref="DropReason.SwitchUnknownPort"/>), and <paramref name="errors"/> says why under its id.
    /// </summary>
    internal static SwitchTables Build(IEnumerable<(ushort Handle, DataPathNic Nic)> ports, long version,
        IDictionary<string, string> errors, UnderlayFlooding? flooding = null)
    {
        ArgumentNullException.ThrowIfNull(ports);
        ArgumentNullException.ThrowIfNull(errors);
        flooding ??= UnderlayFlooding.None;
        var builder = new SwitchTablesBuilder();
        var vnis = new HashSet<uint>();
        // Handle order, so which of two NICs claiming one MAC wins does not depend on dictionary order.
        foreach (var (handle, nic) in ports.OrderBy(p => p.Handle))
        {
            if (!MacAddress.TryParse(nic.Mac, out var mac))
            {
                errors[nic.Id] = $"NIC '{nic.Id}': MAC '{nic.Mac}' cannot be read; its frames are not switched";
                continue;
            }
            var refused = builder.AddPort(handle, nic.Vni, mac);
            if (refused is not null)
            {
                errors[nic.Id] = $"NIC '{nic.Id}': {refused}; its frames are not switched";
                continue;
            }
            if (vnis.Add(nic.Vni))
            {
                // The peers were checked when the daemon started; a refusal here is a VNI out of
                // range, which AddPort has already refused.
                _ = builder.SetFloodVteps(nic.Vni, flooding.VtepsOf(nic.Vni));
            }
        }
        var tables = builder.Build(version, out var error);
        if (tables is null)
        {
            // Only more VNIs than SwitchTablesBuilder.MaxVnis on one host gets here.
            foreach (var (_, nic) in ports)
            {
                errors.TryAdd(nic.Id, $"NIC '{nic.Id}': {error}; no frame is switched");
            }
            return SwitchTables.Empty;
        }
        return tables;
    }
}
