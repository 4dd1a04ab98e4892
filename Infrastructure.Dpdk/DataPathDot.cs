using System.Globalization;
using System.Text;
using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Renders the data path as it is (ports, what backs them and their counters, the packet
/// thread) in Graphviz DOT, for app_status's graph_dot. Pure: the caller gathers the live values.
/// </summary>
internal static class DataPathDot
{
    /// <param name="Trace">The underlay's capture with --packet-trace, or null.</param>
    internal sealed record Underlay(string Device, ushort Port, string VtepIp, ushort? Mtu, string? Mac, PortStats? Stats, NicCounters Counters,
        TraceCounters? Trace = null);

    /// <summary>A NIC's port, the packet thread's counters of it and its state in words.</summary>
    internal sealed record Nic(NicPort Port, NicCounters Counters, string State);

    /// <summary>
    /// <paramref name="drops"/>: frames dropped per reason (<see cref="Pipeline.DropReasons.Name"/>),
    /// the non-zero ones only.
    /// </summary>
    internal static string Render(Underlay underlay, IReadOnlyList<Nic> nics, int lcore, int cpu, string filePrefix,
        IReadOnlyList<(string Reason, ulong Frames)> drops, long tablesVersion)
    {
        var dot = new StringBuilder();
        dot.Append("digraph butterfly {\n");
        dot.Append("  rankdir=LR;\n");
        dot.Append("  node [shape=box, fontname=\"monospace\"];\n");
        Node(dot, "packet_thread", "ellipse",
            "packet thread",
            $"lcore {lcore}, " + (cpu >= 0 ? $"CPU {cpu}" : "not pinned"),
            $"bursts of {PacketThread.BurstSize}, {nics.Count + 1} ports polled",
            $"EAL prefix {filePrefix}",
            $"switching tables version {tablesVersion.ToString(CultureInfo.InvariantCulture)}");
        var dropLines = new List<string> { "drop", $"{Sum(underlay.Counters, nics)} frames (ports)" };
        foreach (var (reason, frames) in drops)
        {
            dropLines.Add(string.Create(CultureInfo.InvariantCulture, $"{reason}: {frames}"));
        }
        Node(dot, "drop", "octagon", [.. dropLines]);
        Node(dot, "underlay", "box",
            [
            "underlay",
            $"port {underlay.Port} {underlay.Device}",
            $"VTEP {underlay.VtepIp}",
            $"MTU {(underlay.Mtu is { } m ? m.ToString(CultureInfo.InvariantCulture) : "?")}, MAC {underlay.Mac ?? "?"}",
            Counters(underlay.Counters),
            underlay.Stats is { } s
                ? string.Create(CultureInfo.InvariantCulture, $"device: rx {s.IPackets} tx {s.OPackets} missed {s.IMissed} errors {s.IErrors}")
                : "device counters unavailable",
            .. Trace(underlay.Trace),
            ]);
        dot.Append("  underlay -> packet_thread [label=\"rx\"];\n");
        foreach (var nic in nics)
        {
            var id = "nic_" + nic.Port.Handle.ToString(CultureInfo.InvariantCulture);
            var n = nic.Port.Nic;
            Node(dot, id, "box",
                [
                    $"NIC {n.Id}",
                    n.Type switch { NicType.Tap => "tap", NicType.Bench => "BENCH " + n.Bench?.Kind, _ => "vhost-user server" },
                    $"port handle {nic.Port.Handle}, {nic.Port.Device}",
                    n.Type switch
                    {
                        NicType.Tap => "iface " + nic.Port.Path,
                        NicType.Bench => $"probe {n.Bench?.Ip} to {n.Bench?.DestinationIp ?? "-"} ({n.Bench?.DestinationMac ?? "-"})",
                        _ => "socket " + nic.Port.Path,
                    },
                    nic.State,
                    $"MAC {n.Mac}, VNI {n.Vni.ToString(CultureInfo.InvariantCulture)}",
                    Counters(nic.Counters),
                    .. Trace(nic.Counters.Trace),
                ]);
            dot.Append(CultureInfo.InvariantCulture, $"  {id} -> packet_thread [label=\"rx\"];\n");
            dot.Append(CultureInfo.InvariantCulture, $"  packet_thread -> {id} [label=\"tx\"];\n");
        }
        dot.Append("  packet_thread -> drop;\n");
        dot.Append("}\n");
        return dot.ToString();
    }

    private static ulong Sum(NicCounters underlay, IReadOnlyList<Nic> nics)
    {
        var total = underlay.Drops;
        foreach (var nic in nics)
        {
            total += nic.Counters.Drops;
        }
        return total;
    }

    /// <summary>A capture's line, when the port is traced.</summary>
    private static string[] Trace(TraceCounters? t) => t is null ? []
        : [string.Create(CultureInfo.InvariantCulture, $"trace {t.Path}: {t.Frames} frames, {t.Dropped} dropped{(t.Error is null ? "" : ", " + t.Error)}")];

    private static string Counters(NicCounters c) => string.Create(CultureInfo.InvariantCulture,
        $"in {c.PacketsIn} pkts {c.BytesIn} B, out {c.PacketsOut} pkts {c.BytesOut} B, dropped {c.Drops}");

    private static void Node(StringBuilder dot, string id, string shape, params string[] lines)
    {
        dot.Append(CultureInfo.InvariantCulture, $"  {id} [shape={shape}, label=\"");
        for (var i = 0; i < lines.Length; i++)
        {
            if (i > 0)
            {
                dot.Append("\\n");
            }
            dot.Append(Escape(lines[i]));
        }
        dot.Append("\"];\n");
    }

    /// <summary>DOT string escaping: quotes and backslashes; NIC ids are checked but may hold either.</summary>
    private static string Escape(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
}
