namespace Butterfly.EndToEnd.Tests.Topology;

/// <summary>Traffic between the "VMs" (tap NICs in namespaces) of the topology tests.</summary>
internal static class Traffic
{
    /// <summary>
    /// Runs a socat echo server in <paramref name="server"/> and sends <paramref name="message"/>
    /// from <paramref name="client"/> until the echo comes back (the server may need a moment
    /// to listen, a tunnel a moment to resolve its peer).
    /// </summary>
    public static async Task<CommandResult> Exchange(Vm server, string[] serverArgs, Vm client, string clientAddress, string message)
    {
        using var listener = NetworkNamespaces.Start(server.Namespace, ["socat", "-T", "10", .. serverArgs]);
        try
        {
            CommandResult last = default;
            for (var attempt = 0; attempt < 20; attempt++)
            {
                last = NetworkNamespaces.Exec(client.Namespace, "sh", "-c", $"echo '{message}' | socat -T 3 - '{clientAddress}'");
                if (last.Output.Contains(message, StringComparison.Ordinal))
                {
                    return last;
                }

                await Task.Delay(250);
            }

            return last;
        }
        finally
        {
            if (!listener.HasExited)
            {
                listener.Kill(entireProcessTree: true);
            }

            await listener.WaitForExitAsync();
        }
    }

    public static void AssertOk(CommandResult result, string what) => Assert.True(result.Ok, $"{what}: {result.Output}");

    /// <summary>Pings <paramref name="target"/> from <paramref name="source"/>: exit code 0 when an echo came back.</summary>
    public static CommandResult Ping(Vm source, string target, int count = 3) =>
        NetworkNamespaces.Exec(source.Namespace, "ping", "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-i", "0.3", "-W", "2", target);

    /// <summary>
    /// Pings once a second until one answer comes (at most <paramref name="tries"/> tries): the
    /// first frames towards a VTEP may be lost while its MAC is resolved on the underlay.
    /// </summary>
    public static CommandResult PingEventually(Vm source, string target, int tries = 10)
    {
        var last = default(CommandResult);
        for (var attempt = 0; attempt < tries; attempt++)
        {
            last = NetworkNamespaces.Exec(source.Namespace, "ping", "-c", "1", "-W", "1", target);
            if (last.Ok)
            {
                break;
            }
        }
        return last;
    }
}
