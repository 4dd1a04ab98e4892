using System.Net;
using System.Net.Sockets;

namespace Butterfly.TestKit;

/// <summary>What <see cref="TcpProxy"/> does when a client sends bytes that contain a trigger.</summary>
public enum ProxyTrigger
{
    /// <summary>Relay them to the server, then close every connection before the server's answer gets back (a lost COMMIT reply).</summary>
    ForwardThenKill,

    /// <summary>Close every connection without relaying them (a COMMIT that never reached the server).</summary>
    KillBeforeForward,

    /// <summary>Relay them, then freeze (the server's answer is held, like a network partition).</summary>
    ForwardThenFreeze,
}

/// <summary>
/// A TCP relay on 127.0.0.1 in front of a server (PostgreSQL in the tests) that the test can
/// freeze (no byte passes either way, connections stay open: a network partition), thaw, and
/// kill (every connection reset), also at the exact moment a client sends given bytes
/// (e.g. "COMMIT"). Loopback only.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<(Socket Client, Socket Server)> _connections = [];
    private readonly Task _accepting;
    private TaskCompletionSource _thawed = NewOpenGate();
    private byte[]? _trigger;
    private ProxyTrigger _triggerAction;
    private volatile bool _holdReplies;

    public TcpProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener.Start();
        _accepting = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>How many times a trigger fired.</summary>
    public int Fired { get; private set; }

    private static TaskCompletionSource NewOpenGate()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }

    /// <summary>No byte passes until <see cref="Thaw"/>; new connections are accepted but not relayed.</summary>
    public void Freeze()
    {
        lock (_gate)
        {
            if (_thawed.Task.IsCompleted)
            {
                _thawed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    public void Thaw()
    {
        _holdReplies = false;
        lock (_gate)
        {
            _thawed.TrySetResult();
        }
    }

    /// <summary>Resets every connection (new ones are relayed again).</summary>
    public void KillAll()
    {
        List<(Socket, Socket)> all;
        lock (_gate)
        {
            all = [.. _connections];
            _connections.Clear();
        }
        foreach (var (client, server) in all)
        {
            Reset(client);
            Reset(server);
        }
        _holdReplies = false;
    }

    /// <summary>Fires <paramref name="action"/> once, the next time a client sends bytes containing <paramref name="pattern"/>.</summary>
    public void ArmTrigger(ReadOnlySpan<byte> pattern, ProxyTrigger action)
    {
        lock (_gate)
        {
            _trigger = pattern.ToArray();
            _triggerAction = action;
        }
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await WaitThawedAsync();
            await server.ConnectAsync(_targetHost, _targetPort, _stop.Token);
        }
        catch (Exception)
        {
            Reset(client);
            server.Dispose();
            return;
        }
        lock (_gate)
        {
            _connections.Add((client, server));
        }
        await Task.WhenAll(PumpAsync(client, server, fromClient: true), PumpAsync(server, client, fromClient: false));
        Reset(client);
        Reset(server);
    }

    private Task WaitThawedAsync()
    {
        lock (_gate)
        {
            return _thawed.Task;
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool fromClient)
    {
        var buffer = new byte[64 << 10];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                await WaitThawedAsync().WaitAsync(_stop.Token);
                if (!fromClient)
                {
                    while (_holdReplies)
                    {
                        await Task.Delay(10, _stop.Token);
                    }
                }
                else if (TakeTrigger(buffer.AsSpan(0, n)) is { } action)
                {
                    switch (action)
                    {
                        case ProxyTrigger.KillBeforeForward:
                            KillAll();
                            return;
                        case ProxyTrigger.ForwardThenKill:
                            _holdReplies = true;
                            await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
                            // Let the server act on them (commit) before the connections go.
                            await Task.Delay(300, _stop.Token);
                            KillAll();
                            return;
                        case ProxyTrigger.ForwardThenFreeze:
                            Freeze();
                            await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
                            continue;
                    }
                }
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or IOException or InvalidOperationException)
        {
            // A reset or a stop ends the pump; the other direction notices on its own.
        }
    }

    private ProxyTrigger? TakeTrigger(ReadOnlySpan<byte> bytes)
    {
        lock (_gate)
        {
            if (_trigger is null || bytes.IndexOf(_trigger) < 0)
            {
                return null;
            }
            _trigger = null;
            Fired++;
            return _triggerAction;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Thaw();
        KillAll();
        try
        {
            await _accepting;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
