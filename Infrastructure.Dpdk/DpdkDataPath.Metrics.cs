using Butterfly.Application.Ports;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>One NIC port as a metrics scrape reads it: the NIC, its VNI and its counters (with its anti-spoof and firewall drops).</summary>
public readonly record struct NicReading(string Nic, uint Vni, NicCounters Counters);

/// <summary>
/// What the data path looks like to a metrics scrape: every NIC port's counters, the underlay
/// port's, the packet thread's totals since it started (never reset by a clear, as Prometheus
/// counters must not be), and the sizes of the tables the packet thread owns.
/// </summary>
/// <param name="Nics">Every NIC that has a port, in no particular order.</param>
/// <param name="Underlay">The underlay port's counters; device misses and errors are in its drops.</param>
/// <param name="Thread">Rounds, cycles, frames, drops by reason and connection tracking since start.</param>
/// <param name="LearnedMacs">Remote MACs learned behind VTEPs, all VNIs together.</param>
/// <param name="LearnedMacCapacity">How many the table holds at most.</param>
/// <param name="UnderlayNeighbours">Entries of the underlay neighbour cache (ARP / ND), resolved or being resolved.</param>
public sealed record DataPathReading(
    IReadOnlyList<NicReading> Nics,
    NicCounters Underlay,
    PacketThreadStats Thread,
    int LearnedMacs,
    int LearnedMacCapacity,
    int UnderlayNeighbours);

/// <summary>
/// The metrics side of the data path: a reading taken on the scraping thread, without the data
/// path's lock and without asking anything of the packet thread. Every counter the packet thread
/// owns is an aligned 64-bit value it alone writes, read here with plain loads (possibly a few
/// frames old, never torn). Which NIC has which port handle comes from an immutable directory the
/// control thread publishes by reference swap in <see cref="Reconcile"/>; a reading that saw the
/// directory change while it read the counters starts again, so a port handle re-used by another
/// NIC is never reported under the old NIC's name.
/// </summary>
public sealed partial class DpdkDataPath
{
    /// <summary>NIC ports as the last reconcile left them, for <see cref="ReadForMetrics"/>.</summary>
    private MetricsPort[] _metricsPorts = [];

    /// <summary>
    /// The data path's figures for a metrics scrape, or null once it is disposed. Any thread;
    /// takes no lock, allocates only on the calling thread, and costs the packet thread nothing.
    /// </summary>
    public DataPathReading? ReadForMetrics()
    {
        for (var attempt = 0; ; attempt++)
        {
            if (Volatile.Read(ref _disposed))
            {
                return null;
            }
            var ports = Volatile.Read(ref _metricsPorts);
            var nics = new NicReading[ports.Length];
            for (var i = 0; i < ports.Length; i++)
            {
                var port = ports[i];
                var drops = _thread.FilterDropsOf(port.Handle);
                nics[i] = new NicReading(port.Nic, port.Vni, _thread.CountersOf(port.Handle) with { FilterDrops = drops.Count == 0 ? null : drops });
            }
            // A reconcile in between may have given a handle to another NIC: read again. Three
            // tries are plenty (a reconcile takes far longer than a reading); the last one is
            // kept whatever happens, as good as any scrape racing a change can be.
            if (ReferenceEquals(ports, Volatile.Read(ref _metricsPorts)) || attempt == 2)
            {
                var underlay = _thread.CountersOf(_underlay);
                if (DpdkPorts.Stats(_underlay) is { } s)
                {
                    underlay = underlay with { Drops = underlay.Drops + s.IMissed + s.IErrors };
                }
                return new DataPathReading(nics, underlay, ReadThreadStats(), _thread.LearnedMacs, Forwarder.LearnedCapacity,
                    _thread.UnderlayNeighbours);
            }
        }
    }

    /// <summary>Publishes the NIC ports of <see cref="_nics"/> for metrics scrapes. Control thread, under the lock.</summary>
    private void PublishMetricsPorts() =>
        Volatile.Write(ref _metricsPorts, [.. _nics.Values.Select(p => new MetricsPort(p.Nic.Id, p.Nic.Vni, p.Handle))]);

    private sealed record MetricsPort(string Nic, uint Vni, ushort Handle);
}

/// <summary>The neighbour cache's size, for metrics (the rest of the forwarder is in Forwarder*.cs).</summary>
internal sealed partial class Forwarder
{
    /// <summary>Entries of the underlay neighbour cache. Any thread (a plain load of a count only the packet thread writes).</summary>
    internal int NeighbourCount => _neighbours.Count;
}
