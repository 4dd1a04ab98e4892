using System.Globalization;
using System.Text;
using Butterfly.Domain.Nics;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Renders the data path as it is (ports, their devices and counters, the packet thread) in
/// Graphviz DOT, for app_status's graph_dot. Pure: the caller gathers the live values.
/// </summary>
internal static class DataPathDot
{
    internal sealed record Underlay(string Device, ushort Port, string VtepIp, ushort? Mtu, string? Mac, PortStats? Stats, ulong Dropped);

    internal sealed record Nic(NicPort Port, PortStats? Stats, ulong Dropped);

    internal static string Render(Underlay underlay, IReadOnlyList<Nic> nics, int lcore, int cpu, string filePrefix)
    {
        var dot = new StringBuilder();
        dot.Append("digraph butterfly {\n");
        dot.Append("  rankdir=LR;\n");
        dot.Append("  node [shape=box, fontname=\"monospace\"];\n");
        Node(dot, "packet_thread", "ellipse",
            "packet thread",
            $"lcore {lcore}, " + (cpu >= 0 ? $"CPU {cpu}" : "not pinned"),
            $"bursts of {PacketThread.BurstSize}",
            $"EAL prefix {filePrefix}");
        Node(dot, "drop", "octagon",
            "drop",
            "no forwarding yet: every received frame is dropped",
            $"{Sum(underlay.Dropped, nics)} frames");
        Node(dot, "underlay", "box",
            "underlay",
            $"port {underlay.Port} {underlay.Device}",
            $"VTEP {underlay.VtepIp}",
            $"MTU {(underlay.Mtu is { } m ? m.ToString(CultureInfo.InvariantCulture) : "?")}, MAC {underlay.Mac ?? "?"}",
            Counters(underlay.Stats));
        dot.Append("  underlay -> packet_thread [label=\"rx\"];\n");
        foreach (var nic in nics)
        {
            var id = "nic_" + nic.Port.Port.ToString(CultureInfo.InvariantCulture);
            var n = nic.Port.Nic;
            Node(dot, id, "box",
                $"NIC {n.Id}",
                n.Type == NicType.Tap ? "tap" : "vhost-user server",
                $"port {nic.Port.Port} {nic.Port.Device}",
                (n.Type == NicType.Tap ? "iface " : "socket ") + nic.Port.Path,
                $"MAC {n.Mac}, VNI {n.Vni.ToString(CultureInfo.InvariantCulture)}",
                Counters(nic.Stats));
            dot.Append(CultureInfo.InvariantCulture, $"  {id} -> packet_thread [label=\"rx\"];\n");
        }
        dot.Append("  packet_thread -> drop;\n");
        dot.Append("}\n");
        return dot.ToString();
    }

    private static ulong Sum(ulong underlay, IReadOnlyList<Nic> nics)
    {
        var total = underlay;
        foreach (var nic in nics)
        {
            total += nic.Dropped;
        }
        return total;
    }

    private static string Counters(PortStats? s) => s is { } v
        ? string.Create(CultureInfo.InvariantCulture, $"rx {v.IPackets} pkts {v.IBytes} B, tx {v.OPackets} pkts {v.OBytes} B, missed {v.IMissed}")
        : "counters unavailable";

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
