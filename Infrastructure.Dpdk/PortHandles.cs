using Butterfly.Infrastructure.Dpdk.Native;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// One number space for every port the packet thread polls, so stages and counters index flat
/// arrays with a ushort whatever the port is: handles below <see cref="EthPorts"/> are DPDK
/// ethdev port ids (the underlay, taps), the next <see cref="VhostSlots"/> are the slots of
/// the shim's vhost-user NIC table, and the last <see cref="BenchSlots"/> are BENCH NICs, whose
/// frames the packet thread makes and consumes itself (Forwarder.Bench.cs). Static readonly:
/// folded into constants by the JIT once the type is initialised (before the packet loop starts).
/// </summary>
internal static class PortHandles
{
    /// <summary>RTE_MAX_ETHPORTS of this DPDK build (32 in Debian's).</summary>
    internal static readonly int EthPorts = Shim.bf_max_ports();

    /// <summary>Slots of the vhost-user NIC table (BF_VHOST_SLOTS).</summary>
    internal static readonly int VhostSlots = Shim.bf_vhost_slots();

    /// <summary>BENCH NICs a host may have at once.</summary>
    internal const int BenchSlots = 64;

    /// <summary>The first BENCH handle.</summary>
    internal static readonly int FirstBench = EthPorts + VhostSlots;

    /// <summary>Size of an array indexed by handle.</summary>
    internal static int Count => FirstBench + BenchSlots;

    internal static bool IsVhost(ushort handle) => handle >= EthPorts && handle < FirstBench;

    internal static bool IsBench(ushort handle) => handle >= FirstBench;

    internal static bool IsEthdev(ushort handle) => handle < EthPorts;

    internal static ushort OfVhostSlot(int slot) => (ushort)(EthPorts + slot);

    internal static int VhostSlotOf(ushort handle) => handle - EthPorts;

    internal static ushort OfBenchSlot(int slot) => (ushort)(FirstBench + slot);

    internal static int BenchSlotOf(ushort handle) => handle - FirstBench;
}
