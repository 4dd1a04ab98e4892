using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;

namespace Butterfly.Application.Ports;

/// <summary>What the data path needs to know of a NIC to create its port.</summary>
/// <param name="SocketPath">A vhost-user NIC's socket as nic_add recorded it; null: &lt;socket-dir&gt;/&lt;id&gt;, the path of NICs recorded before paths were kept.</param>
/// <param name="TracePath">Where the NIC's frames are captured (packet_trace_path, or the default), or null when packet_trace is off.</param>
/// <param name="Bench">What a BENCH NIC's probe does, or null for other NICs.</param>
public sealed record DataPathNic(string Id, NicType Type, string Mac, uint Vni, bool BypassFiltering, string? SocketPath = null,
    string? TracePath = null, BenchProbeSpec? Bench = null)
{
    /// <summary>The data path's view of a configured NIC.</summary>
    public static DataPathNic From(NicSpec nic)
    {
        ArgumentNullException.ThrowIfNull(nic);
        var trace = nic.PacketTrace ? nic.PacketTracePath ?? NicValidation.DefaultPacketTracePath(nic.Id) : null;
        var bench = nic.Type == NicType.Bench
            ? new BenchProbeSpec(nic.BenchType ?? string.Empty, nic.Ips.Count > 0 ? nic.Ips[0] : null, nic.BenchDestIp, nic.BenchDestMac)
            : null;
        return new(nic.Id, nic.Type, nic.Mac, nic.Vni, nic.BypassFiltering, nic.SocketPath, trace, bench);
    }
}

/// <summary>
/// A BENCH NIC's probe: <paramref name="Kind"/> is <see cref="BenchKinds.Sender"/> (echo requests
/// to <paramref name="DestinationIp"/> / <paramref name="DestinationMac"/>, round trips measured)
/// or <see cref="BenchKinds.Responder"/> (echo requests to it answered); <paramref name="Ip"/> is
/// its own address, the NIC's first IP.
/// </summary>
public sealed record BenchProbeSpec(string Kind, string? Ip, string? DestinationIp, string? DestinationMac);

/// <summary>The btype values of BENCH NICs (the original Butterfly's names).</summary>
public static class BenchKinds
{
    public const string Sender = "ICMP_SND_LIKE";
    public const string Responder = "ICMP_RCV_LIKE";
}

/// <summary>
/// A NIC's capture (packet_trace): frames written to its file, bytes written (block headers
/// included), frames lost because the writer fell behind or the disk refused, files rotated at
/// the size cap, and why the file is not being written now (null when it is).
/// </summary>
public sealed record TraceCounters(string Path, ulong Frames, ulong Bytes, ulong Dropped, int Rotations, string? Error);

/// <summary>
/// A BENCH NIC's probe since its port was made: echo requests sent and replies matched (a
/// sender), or requests received and answered (a responder); round-trip times in microseconds
/// over every reply (null before the first).
/// </summary>
public sealed record BenchCounters(string Kind, ulong Sent, ulong Received, double? MinMicros, double? MeanMicros, double? MaxMicros,
    double? P99Micros);

/// <summary>
/// Byte and packet counters of one NIC; "in" is from the VM, "out" is to the VM.
/// <paramref name="Drops"/> counts every frame from the NIC that was dropped, and frames the
/// NIC's port refused; <paramref name="FilterDrops"/> breaks down the frames its anti-spoofing and
/// firewall dropped (either way) by reason, non-zero reasons only (null when there are none).
/// </summary>
/// <paramref name="Trace"/> is the NIC's capture (null when packet_trace is off), <paramref name="Bench"/> a
/// BENCH NIC's probe (null for other NICs).
public readonly record struct NicCounters(ulong BytesIn, ulong BytesOut, ulong PacketsIn, ulong PacketsOut, ulong Drops,
    IReadOnlyList<DropCount>? FilterDrops = null, TraceCounters? Trace = null, BenchCounters? Bench = null);

/// <summary>
/// What the data path must become: the ports of every NIC of <paramref name="Configuration"/> and
/// its compiled firewall, as of event <paramref name="Version"/>. <paramref name="Committed"/> are
/// the events since the previous reconcile (at <paramref name="PreviousVersion"/>), which lets the
/// firewall apply member changes in place; null when unknown (start-up, a restore).
/// </summary>
public sealed record DesiredDataPath(ConfigurationState Configuration, long Version,
    IReadOnlyList<DomainEvent>? Committed = null, long PreviousVersion = -1)
{
    /// <summary>What the data path needs of each NIC to make its port.</summary>
    public IReadOnlyList<DataPathNic> Nics { get; } =
        [.. Configuration.Nics.Values.Select(DataPathNic.From)];
}

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

    /// <summary>
    /// The NIC's path as nic_add returns it: the vhost-user socket (<see cref="DataPathNic.SocketPath"/>,
    /// or &lt;socket-dir&gt;/&lt;id&gt; when it is null) or the tap name.
    /// </summary>
    string PathOf(DataPathNic nic);

    /// <summary>
    /// The socket path a vhost-user NIC gets when nic_add makes it (not when it replaces one of
    /// the same id and type, which keeps its path): &lt;socket-dir&gt;/qemu-vhost-&lt;id&gt;, as the
    /// original Butterfly named it.
    /// </summary>
    string NewSocketPath(string nicId);

    /// <summary>
    /// The most NICs of <paramref name="type"/> this data path serves at once (vhost-user: every
    /// one with its guest connected; tap: the DPDK ethdev ports the underlay leaves; BENCH: its
    /// probe slots); nic_add refuses one more.
    /// </summary>
    int NicCapacity(NicType type);

    /// <summary>
    /// Makes the ports equal to <paramref name="desired"/>'s NICs (creates missing ones,
    /// recreates changed ones, removes the others, without stopping traffic on the rest) and
    /// its firewall the compiled security groups of the configuration, before any frame of a
    /// new port is switched. Returns a description per NIC whose port could not be made
    /// (empty when all went well).
    /// </summary>
    IReadOnlyDictionary<string, string> Reconcile(DesiredDataPath desired);

    /// <summary>
    /// The NIC's tracked connections as a nic_export document (<see cref="Nics.SessionDocument"/>),
    /// or null when the NIC has no port.
    /// </summary>
    byte[]? ExportSessions(string nicId);

    /// <summary>
    /// Gives the NIC's port the connections of a nic_export document (a VM migrated here).
    /// Returns null when done, else why not (no port, table full).
    /// </summary>
    string? ImportSessions(string nicId, byte[] document);

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
