using Butterfly.Domain.Nics;

namespace Butterfly.Application.Ports;

/// <summary>What the data path needs to know of a NIC to create its port.</summary>
public sealed record DataPathNic(string Id, NicType Type, string Mac, uint Vni, bool BypassFiltering);

/// <summary>Byte and packet counters of one NIC; "in" is from the VM, "out" is to the VM.</summary>
public readonly record struct NicCounters(ulong BytesIn, ulong BytesOut, ulong PacketsIn, ulong PacketsOut, ulong Drops);

/// <summary>
/// The packet-processing side, driven by the projections of the event log.
/// All members are called from the control (API) thread only.
/// </summary>
public interface IDataPath
{
    /// <summary>
    /// Why this NIC cannot exist on this data path (e.g. a tap name longer than the kernel
    /// allows), or null when it can. Checked before a command is accepted.
    /// </summary>
    string? Validate(DataPathNic nic);

    /// <summary>The NIC's path as nic_add returns it: vhost-user socket path or tap name.</summary>
    string PathOf(DataPathNic nic);

    /// <summary>
    /// Makes the ports equal to <paramref name="desired"/>: creates missing ones, recreates
    /// changed ones, removes the others, without stopping traffic on the rest.
    /// Returns a description per NIC whose port could not be made (empty when all went well).
    /// </summary>
    IReadOnlyDictionary<string, string> Reconcile(IReadOnlyCollection<DataPathNic> desired);

    /// <summary>Counters of a NIC's port, or null when the NIC has no port.</summary>
    NicCounters? CountersOf(string nicId);

    /// <summary>The data path as it really is, in Graphviz DOT.</summary>
    string GraphDot();

    /// <summary>
    /// What the packet thread did since it started or since the last clear. With
    /// <paramref name="clear"/>, a new measurement starts right after this reading (like
    /// <c>pmd-stats-clear</c>): the record returned is the interval that ends.
    /// </summary>
    PacketThreadStats ThreadStats(bool clear);
}
