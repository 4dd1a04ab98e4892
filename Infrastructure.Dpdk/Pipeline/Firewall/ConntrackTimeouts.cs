using System.Diagnostics;
using System.Globalization;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>
/// How long a tracked connection lives without traffic, per protocol and state, in the packet
/// thread's clock ticks (<see cref="Stopwatch.Frequency"/> per second). Defaults follow EC2's
/// security-group connection tracking: TCP established 5 days, UDP 30 s and 180 s once it is a
/// stream (traffic seen both ways), everything else 600 s; the TCP hand-shake and close states
/// and ICMP echo follow Linux's conntrack. Operators set them with
/// <c>--conntrack-timeouts name=seconds,…</c> (names: <see cref="Names"/>).
/// </summary>
internal sealed record ConntrackTimeouts
{
    /// <summary>The names <see cref="Parse"/> accepts, with their defaults in seconds.</summary>
    public static readonly IReadOnlyList<(string Name, int Seconds)> Names =
    [
        ("tcp_opening", 120),
        ("tcp_established", 432_000),
        ("tcp_closing", 120),
        ("tcp_fin_wait", 120),
        ("tcp_closed", 10),
        ("udp", 30),
        ("udp_stream", 180),
        ("icmp", 30),
        ("other", 600),
        ("fragments", 30),
    ];

    public static ConntrackTimeouts Default { get; } = FromSeconds(Names.ToDictionary(n => n.Name, n => n.Seconds, StringComparer.Ordinal));

    /// <summary>SYN seen, hand-shake not finished.</summary>
    public long TcpOpening { get; private init; }

    public long TcpEstablished { get; private init; }

    /// <summary>One side has sent its FIN.</summary>
    public long TcpClosing { get; private init; }

    /// <summary>Both sides have sent their FIN.</summary>
    public long TcpFinWait { get; private init; }

    /// <summary>Both FINs acknowledged, or a RST seen.</summary>
    public long TcpClosed { get; private init; }

    /// <summary>UDP seen one way only.</summary>
    public long Udp { get; private init; }

    /// <summary>UDP seen both ways.</summary>
    public long UdpStream { get; private init; }

    /// <summary>ICMP / ICMPv6 echo.</summary>
    public long Icmp { get; private init; }

    /// <summary>Any other IP protocol, tracked by addresses and protocol number.</summary>
    public long Other { get; private init; }

    /// <summary>How long later fragments of a datagram whose first fragment passed are let through.</summary>
    public long Fragments { get; private init; }

    /// <summary>
    /// Parses <c>name=seconds,name=seconds</c> over the defaults; null and "" give the
    /// defaults. Null with <paramref name="error"/> set when a name is unknown or a value is
    /// not a whole number of seconds from 1 to 10 years.
    /// </summary>
    public static ConntrackTimeouts? Parse(string? text, out string? error)
    {
        error = null;
        var seconds = Names.ToDictionary(n => n.Name, n => n.Seconds, StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(text))
        {
            return Default;
        }
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? part : part[..eq].Trim();
            if (!seconds.ContainsKey(name))
            {
                error = $"conntrack timeout '{name}' is unknown; known: {string.Join(", ", Names.Select(n => n.Name))}";
                return null;
            }
            if (eq < 0 || !int.TryParse(part[(eq + 1)..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value)
                || value < 1 || value > 315_360_000)
            {
                error = $"conntrack timeout '{part}': expected {name}=SECONDS with 1 <= SECONDS <= 315360000";
                return null;
            }
            seconds[name] = value;
        }
        return FromSeconds(seconds);
    }

    private static ConntrackTimeouts FromSeconds(Dictionary<string, int> s)
    {
        long Ticks(string name) => s[name] * Stopwatch.Frequency;
        return new ConntrackTimeouts
        {
            TcpOpening = Ticks("tcp_opening"),
            TcpEstablished = Ticks("tcp_established"),
            TcpClosing = Ticks("tcp_closing"),
            TcpFinWait = Ticks("tcp_fin_wait"),
            TcpClosed = Ticks("tcp_closed"),
            Udp = Ticks("udp"),
            UdpStream = Ticks("udp_stream"),
            Icmp = Ticks("icmp"),
            Other = Ticks("other"),
            Fragments = Ticks("fragments"),
        };
    }
}
