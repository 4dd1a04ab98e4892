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
}
