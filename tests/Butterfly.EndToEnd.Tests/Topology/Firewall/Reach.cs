using System.Diagnostics;
using System.Globalization;

namespace Butterfly.EndToEnd.Tests.Topology.Firewall;

/// <summary>
/// Whether a flow gets through: an echo server (socat) in the server's namespace and a client
/// in the client's that sends a line and waits for it back. "Reaches" retries for a while (the
/// first frames across hosts may wait for the underlay's ARP); "refused" tries twice with short
/// timeouts, which is as sure as a firewall that drops (not rejects) can be observed.
/// </summary>
internal static class Reach
{
    public const int Allowed = 12;
    public const int Refused = 2;

    /// <summary>True when a TCP connection from <paramref name="client"/> to <paramref name="address"/>:<paramref name="port"/> echoes.</summary>
    public static Task<bool> Tcp(Vm client, Vm server, string address, int port, int attempts) =>
        Echo(client, server, address, port, tcp: true, attempts);

    /// <summary>True when a UDP datagram from <paramref name="client"/> to <paramref name="address"/>:<paramref name="port"/> is echoed.</summary>
    public static Task<bool> Udp(Vm client, Vm server, string address, int port, int attempts) =>
        Echo(client, server, address, port, tcp: false, attempts);

    /// <summary>True when <paramref name="target"/> answers a ping from <paramref name="source"/> within <paramref name="tries"/> tries.</summary>
    public static bool Ping(Vm source, string target, int tries)
    {
        for (var i = 0; i < tries; i++)
        {
            if (NetworkNamespaces.Exec(source.Namespace, "ping", "-c", "1", "-W", "1", target).Ok)
            {
                return true;
            }
        }
        return false;
    }

    private static async Task<bool> Echo(Vm client, Vm server, string address, int port, bool tcp, int attempts)
    {
        var v6 = address.Contains(':', StringComparison.Ordinal);
        var p = port.ToString(CultureInfo.InvariantCulture);
        var listen = (tcp, v6) switch
        {
            (true, false) => $"TCP4-LISTEN:{p},reuseaddr,fork",
            (true, true) => $"TCP6-LISTEN:{p},reuseaddr,fork",
            (false, false) => $"UDP4-RECVFROM:{p},fork",
            _ => $"UDP6-RECVFROM:{p},fork",
        };
        var target = (tcp, v6) switch
        {
            (true, false) => $"TCP4:{address}:{p},connect-timeout=2",
            (true, true) => $"TCP6:[{address}]:{p},connect-timeout=2",
            (false, false) => $"UDP4:{address}:{p}",
            _ => $"UDP6:[{address}]:{p}",
        };
        var message = $"fw-{Guid.NewGuid():N}";
        using var listener = NetworkNamespaces.Start(server.Namespace, "socat", "-T", "5", listen, "SYSTEM:cat");
        try
        {
            for (var attempt = 0; attempt < attempts; attempt++)
            {
                var result = NetworkNamespaces.Exec(client.Namespace, "sh", "-c", $"echo '{message}' | socat -T 2 - '{target}'");
                if (result.Output.Contains(message, StringComparison.Ordinal))
                {
                    return true;
                }
                await Task.Delay(250);
            }
            return false;
        }
        finally
        {
            Stop(listener);
        }
    }

    internal static void Stop(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }
        process.WaitForExit();
    }
}
