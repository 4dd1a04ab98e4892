using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Butterfly.Cli.CommandLine;
using Butterfly.Wire;
using Rule = Butterfly.Wire.MessageV0.Types.Rule;

namespace Butterfly.Cli.Rules;

/// <summary>
/// The rule options of <c>sg rule add</c> and <c>sg rule del SG [options]</c>, checked before
/// anything is sent: <c>--ip-proto</c> is required; TCP and UDP need ports with
/// start ≤ end ≤ 65535 (<c>--port P</c> or <c>--port-start A --port-end B</c>); exactly one
/// of <c>--cidr ADDR/LEN</c> and <c>--sg-members SG</c>; <c>--icmp-type T [--icmp-code C]</c>
/// only for ICMP (1) and ICMPv6 (58) rules (protocol revision 9).
/// </summary>
internal static class RuleOptions
{
    private const int Icmp = 1;
    private const int Tcp = 6;
    private const int Udp = 17;
    private const int Icmpv6 = 58;

    public static Rule Parse(ArgScanner s)
    {
        var rule = new Rule { Direction = Rule.Types.Direction.Inbound };
        int? protocol = null;
        uint? port = null;
        uint? start = null;
        uint? end = null;
        string? cidr = null;
        string? members = null;
        uint? icmpType = null;
        uint? icmpCode = null;
        while (s.TryNext(out var word))
        {
            switch (word)
            {
                case "--dir": rule.Direction = Direction(s, s.Value(word)); break;
                case "--ip-proto": protocol = Protocol(s, s.Value(word)); break;
                case "--port": port = Words.UInt(s, word, 65535, "a port"); break;
                case "--port-start": start = Words.UInt(s, word, 65535, "a port"); break;
                case "--port-end": end = Words.UInt(s, word, 65535, "a port"); break;
                case "--cidr": cidr = s.Value(word); break;
                case "--sg-members": members = s.Value(word); break;
                case "--icmp-type": icmpType = Words.UInt(s, word, 255, "an ICMP type"); break;
                case "--icmp-code": icmpCode = Words.UInt(s, word, 255, "an ICMP code"); break;
                default: throw s.Unexpected(word);
            }
        }

        if (protocol is null)
            throw s.Error("--ip-proto is mandatory");
        rule.Protocol = protocol.Value;

        if (port is not null && (start is not null || end is not null))
            throw s.Error("give either --port or --port-start/--port-end, not both");
        if (port is not null)
            start = end = port;
        if ((start is null) != (end is null))
            throw s.Error("--port-start and --port-end go together");
        if (start > end)
            throw s.Error(string.Create(CultureInfo.InvariantCulture, $"port start {start} is greater than port end {end}"));
        if (protocol is Tcp or Udp && start is null)
            throw s.Error("tcp and udp rules need --port or --port-start and --port-end");
        if (start is not null)
        {
            rule.PortStart = start.Value;
            rule.PortEnd = end!.Value;
        }

        if (icmpCode is not null && icmpType is null)
            throw s.Error("--icmp-code needs --icmp-type");
        if (icmpType is not null && protocol is not (Icmp or Icmpv6))
            throw s.Error("--icmp-type and --icmp-code are for icmp (1) and icmpv6 (58) rules");
        if (icmpType is { } type)
            rule.IcmpType = type;
        if (icmpCode is { } code)
            rule.IcmpCode = code;

        if ((cidr is null) == (members is null))
            throw s.Error(cidr is null ? "you must set --cidr or --sg-members" : "--cidr can't be set with --sg-members");
        if (cidr is not null)
            rule.Cidr = Cidr(s, cidr);
        else
            rule.SecurityGroup = members!;
        return rule;
    }

    private static Rule.Types.Direction Direction(ArgScanner s, string text) => text.ToLowerInvariant() switch
    {
        "in" or "inbound" => Rule.Types.Direction.Inbound,
        "out" or "outbound" => Rule.Types.Direction.Outbound,
        _ => throw s.Error($"--dir must be in or out, not '{text}'"),
    };

    private static int Protocol(ArgScanner s, string text)
    {
        switch (text.ToLowerInvariant())
        {
            case "tcp": return Tcp;
            case "udp": return Udp;
            case "icmp": return Icmp;
            case "icmpv6": return Icmpv6;
            case "all": return -1;
        }
        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n is >= -1 and <= 255)
            return n;
        throw s.Error($"--ip-proto must be tcp, udp, icmp, icmpv6, all or a number from 0 to 255, not '{text}'");
    }

    private static MessageV0.Types.Cidr Cidr(ArgScanner s, string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || !IPAddress.TryParse(text[..slash], out var address))
            throw s.Error($"--cidr must be ADDRESS/LENGTH such as 10.0.0.0/8, not '{text}'");
        var max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        if (!uint.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var length) || length > max)
            throw s.Error(string.Create(CultureInfo.InvariantCulture, $"--cidr prefix length must be 0 to {max}, in '{text}'"));
        return new MessageV0.Types.Cidr { Address = text[..slash], MaskSize = length };
    }
}
