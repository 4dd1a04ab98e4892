using System.Text;

namespace Butterfly.Api.Zmq.Options;

/// <summary>The text of <c>butterflyd --help</c>, built from <see cref="OptionSpecs.All"/>.</summary>
internal static class Usage
{
    public static string Text()
    {
        var sb = new StringBuilder();
        sb.AppendLine("Usage: butterflyd [OPTIONS]");
        sb.AppendLine();
        sb.AppendLine("Butterfly virtual switch daemon: connects VM NICs (vhost-user, tap) to VXLAN networks,");
        sb.AppendLine("filters them with security groups and takes orders over a ZeroMQ/protobuf API.");
        sb.AppendLine();
        sb.AppendLine("Options:");
        foreach (var o in OptionSpecs.All)
        {
            var names = (o.Short is { } s ? $"-{s}, " : "    ") + o.Long + (o.TakesValue ? " " + o.ValueName : "");
            sb.Append("  ").Append(names.PadRight(28)).Append(' ').AppendLine(o.Help);
        }

        sb.AppendLine();
        sb.AppendLine("Configuration file keys (INI; command-line options win over them):");
        foreach (var o in OptionSpecs.All.Where(o => o.IniKey is not null))
        {
            sb.Append("  [").Append(o.IniSection).Append("] ").Append(o.IniKey!.PadRight(20)).Append(' ').AppendLine(o.Long);
        }

        sb.AppendLine();
        sb.AppendLine("Example:");
        sb.AppendLine("  butterflyd -i 43.0.0.1 -s /var/run/butterfly -e tcp://127.0.0.1:9999 \\");
        sb.AppendLine("      --dpdk-args \"--no-huge -m 1024 --no-pci --vdev=net_af_packet0,iface=eth1\" --no-syslog -l info");
        return sb.ToString();
    }
}
