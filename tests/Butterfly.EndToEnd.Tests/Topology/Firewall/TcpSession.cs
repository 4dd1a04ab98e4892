using System.Diagnostics;
using System.Globalization;

namespace Butterfly.EndToEnd.Tests.Topology.Firewall;

/// <summary>
/// One long-lived TCP connection between two "VMs": an echo server (socat) in the server's
/// namespace and, in the client's, a small Python client that connects once and then, for
/// every line the test writes, sends it and prints what comes back — so a test can check an
/// established connection before and after a rule change, on the same 4-tuple.
/// </summary>
internal sealed class TcpSession : IDisposable
{
    private const string Client = """
        import socket, sys
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
        s.settimeout(float(sys.argv[3]))
        print("connected", flush=True)
        for line in sys.stdin:
            try:
                s.sendall(line.encode())
                print("echo " + s.recv(4096).decode().strip(), flush=True)
            except Exception as e:
                print("error " + type(e).__name__, flush=True)
        """;

    private readonly Process _server;
    private readonly Process _client;

    private TcpSession(Process server, Process client)
    {
        _server = server;
        _client = client;
    }

    /// <summary>
    /// Connects <paramref name="client"/> to <paramref name="address"/>:<paramref name="port"/>
    /// (server in <paramref name="server"/>); null when it cannot. An echo not back within
    /// <paramref name="replySeconds"/> counts as lost.
    /// </summary>
    public static async Task<TcpSession?> OpenAsync(Vm client, Vm server, string address, int port, int replySeconds = 5)
    {
        var p = port.ToString(CultureInfo.InvariantCulture);
        var listen = address.Contains(':', StringComparison.Ordinal) ? $"TCP6-LISTEN:{p},reuseaddr,fork" : $"TCP4-LISTEN:{p},reuseaddr,fork";
        var serverProcess = NetworkNamespaces.Start(server.Namespace, "socat", listen, "SYSTEM:cat");
        for (var attempt = 0; attempt < 12; attempt++)
        {
            await Task.Delay(250);
            var psi = new ProcessStartInfo("ip") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in (string[])["netns", "exec", client.Namespace, "/usr/bin/python3", "-u", "-c", Client, address, p,
                replySeconds.ToString(CultureInfo.InvariantCulture)])
            {
                psi.ArgumentList.Add(a);
            }
            var clientProcess = Process.Start(psi)!;
            var line = await clientProcess.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            if (line == "connected")
            {
                return new TcpSession(serverProcess, clientProcess);
            }
            Reach.Stop(clientProcess);
            clientProcess.Dispose();
        }
        Reach.Stop(serverProcess);
        serverProcess.Dispose();
        return null;
    }

    /// <summary>Sends a line on the connection; true when it came back.</summary>
    public async Task<bool> EchoAsync(string text)
    {
        await _client.StandardInput.WriteLineAsync(text);
        await _client.StandardInput.FlushAsync();
        var line = await _client.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return line == "echo " + text;
    }

    public void Dispose()
    {
        Reach.Stop(_client);
        Reach.Stop(_server);
        _client.Dispose();
        _server.Dispose();
    }
}
