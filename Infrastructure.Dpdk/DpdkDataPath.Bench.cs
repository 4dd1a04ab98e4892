using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Bench;

namespace Butterfly.Infrastructure.Dpdk;

// BENCH NICs, the control side: a BENCH NIC's port is a slot of the BENCH handle range with a
// probe (Pipeline/Bench/BenchProbe.cs) the packet thread runs as the NIC (Forwarder.Bench.cs).
// Its figures are read here for nic_stats. Control thread, under the data path's lock.
public sealed partial class DpdkDataPath
{
    /// <summary>The BENCH ports by slot, as the packet thread indexes them.</summary>
    private BenchPort?[] BenchPorts()
    {
        var benches = new BenchPort?[PortHandles.BenchSlots];
        foreach (var port in _nics.Values)
        {
            if (port.Bench is not null)
            {
                benches[PortHandles.BenchSlotOf(port.Handle)] = port.Bench;
            }
        }
        return benches;
    }

    /// <summary>The first BENCH slot no NIC has, or -1.</summary>
    private int FreeBenchSlot()
    {
        var used = new bool[PortHandles.BenchSlots];
        foreach (var port in _nics.Values)
        {
            if (PortHandles.IsBench(port.Handle))
            {
                used[PortHandles.BenchSlotOf(port.Handle)] = true;
            }
        }
        return Array.IndexOf(used, false);
    }

    /// <summary>
    /// The probe of a BENCH NIC (checked by <see cref="NicPortRules"/>): its MAC and first IP,
    /// dip and dmac for a sender; an echo identifier of its own from the port's zone, so a new
    /// incarnation does not take an old one's late replies.
    /// </summary>
    private static BenchConfig BenchConfigOf(DataPathNic nic, uint zone)
    {
        var bench = nic.Bench!;
        var sender = bench.Kind == BenchKinds.Sender;
        return new BenchConfig(
            sender ? BenchMode.Sender : BenchMode.Responder,
            MacAddress.Parse(nic.Mac),
            IpAddr.Parse(bench.Ip!),
            sender ? MacAddress.Parse(bench.DestinationMac!) : default,
            sender ? IpAddr.Parse(bench.DestinationIp!) : default,
            (ushort)(zone ^ (zone >> 16)));
    }

    /// <summary>A BENCH NIC's figures for nic_stats: round trips in microseconds.</summary>
    private static BenchCounters BenchCountersOf(DataPathNic nic, BenchProbe probe)
    {
        var rtt = probe.Rtt.Summary();
        return new BenchCounters(nic.Bench?.Kind ?? string.Empty, probe.Sent, probe.Received,
            rtt?.Min / 1000, rtt?.Mean / 1000, rtt?.Max / 1000, rtt?.P99 / 1000);
    }
}
