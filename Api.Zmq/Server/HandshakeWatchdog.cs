using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using NetMQ;
using NetMQ.Monitoring;
using NetMQ.Sockets;
using Serilog;

namespace Butterfly.Api.Zmq.Server;

/// <summary>
/// Closes TCP connections to the API that never complete the ZeroMQ handshake (libzmq's
/// ZMQ_HANDSHAKE_IVL, which NetMQ lacks): without it, a peer that connects and sends nothing
/// holds a connection, and its memory, forever. A socket monitor reports every accepted
/// connection; <see cref="Timeout"/> later, the kernel tells how many bytes the peer sent
/// (TCP_INFO of the descriptor, found through /proc/net/tcp and /proc/self/fd). Fewer than a
/// ZMTP 3 greeting (64 bytes) means no handshake: the socket is shut down, and NetMQ drops the
/// connection as it would after any network error. Runs on the API thread.
/// </summary>
internal sealed partial class HandshakeWatchdog : IDisposable
{
    /// <summary>A ZMTP 3 greeting: signature, version, mechanism, as-server, filler.</summary>
    private const long GreetingBytes = 64;

    private const int IpProtoTcp = 6;
    private const int TcpInfo = 11;
    private const int ShutdownBoth = 2;

    /// <summary>Offset of tcpi_bytes_received in Linux's struct tcp_info (since 4.1).</summary>
    private const int BytesReceivedOffset = 128;

    private readonly NetMQMonitor _monitor;
    private readonly NetMQTimer _timer = new(TimeSpan.FromSeconds(1));
    private readonly ILogger _log;
    private readonly List<(IPEndPoint Remote, DateTime Accepted)> _pending = [];

    public HandshakeWatchdog(RouterSocket router, NetMQPoller poller, TimeSpan timeout, ILogger log)
    {
        Timeout = timeout;
        _log = log;
        _monitor = new NetMQMonitor(router, $"inproc://api-accepted-{Guid.NewGuid():N}", SocketEvents.Accepted);
        _monitor.Accepted += (_, e) =>
        {
            try
            {
                if (e.Socket?.RemoteEndPoint is { } remote)
                {
                    _pending.Add((remote, DateTime.UtcNow));
                }
            }
            catch (ObjectDisposedException)
            {
                // The connection is already gone: nothing to watch.
            }
        };
        _monitor.AttachToPoller(poller);
        _timer.Elapsed += (_, _) =>
        {
            try
            {
                Check();
            }
            catch (Exception e)
            {
                // The watchdog must never stop the API's poller.
                _log.Warning(e, "Handshake watchdog check failed");
            }
        };
        poller.Add(_timer);
    }

    public TimeSpan Timeout { get; }

    /// <summary>Connections closed since start.</summary>
    public long Closed { get; private set; }

    private void Check()
    {
        var now = DateTime.UtcNow;
        var due = _pending.Where(p => now - p.Accepted >= Timeout).ToList();
        if (due.Count == 0)
        {
            return;
        }
        _pending.RemoveAll(p => now - p.Accepted >= Timeout);
        Dictionary<string, long>? inodes = null;
        Dictionary<long, int>? descriptors = null;
        foreach (var (remote, _) in due)
        {
            try
            {
                inodes ??= SocketInodes();
                descriptors ??= SocketDescriptors();
                if (!inodes.TryGetValue(Key(remote), out var inode) || !descriptors.TryGetValue(inode, out var fd))
                {
                    continue; // Gone already.
                }
                var received = BytesReceived(fd);
                if (received is { } bytes && bytes < GreetingBytes)
                {
                    _ = ShutdownRaw(fd, ShutdownBoth);
                    Closed++;
                    _log.Warning("API connection from {Remote} closed: no ZeroMQ handshake within {Seconds} s ({Bytes} bytes received)",
                        remote, Timeout.TotalSeconds, bytes);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                _log.Debug("Handshake check of {Remote} failed: {Error}", remote, e.Message);
            }
        }
    }

    private static string Key(IPEndPoint remote)
    {
        var address = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
        return $"{address}:{remote.Port}";
    }

    /// <summary>Remote "address:port" → socket inode, for every TCP connection of the network namespace.</summary>
    private static Dictionary<string, long> SocketInodes()
    {
        var found = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(file))
            {
                continue;
            }
            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 10)
                {
                    continue;
                }
                var remote = ParseProcAddress(fields[2]);
                if (remote is not null && long.TryParse(fields[9], NumberStyles.None, CultureInfo.InvariantCulture, out var inode) && inode != 0)
                {
                    found.TryAdd(remote, inode);
                }
            }
        }
        return found;
    }

    /// <summary>"0100007F:1F90" (IPv4) or 32 hex digits:port (IPv6), in the kernel's byte order, to "address:port".</summary>
    private static string? ParseProcAddress(string text)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return null;
        }
        var hex = Convert.FromHexString(text[..colon]);
        var port = int.Parse(text[(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        // Each 32-bit word is in host (little-endian) order.
        for (var i = 0; i < hex.Length; i += 4)
        {
            Array.Reverse(hex, i, 4);
        }
        var address = new IPAddress(hex);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        return $"{address}:{port}";
    }

    /// <summary>Socket inode → descriptor of this process.</summary>
    private static Dictionary<long, int> SocketDescriptors()
    {
        var found = new Dictionary<long, int>();
        foreach (var link in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(link).LinkTarget;
            }
            catch (IOException)
            {
                continue;
            }
            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) &&
                long.TryParse(target.AsSpan(8, target.Length - 9), NumberStyles.None, CultureInfo.InvariantCulture, out var inode) &&
                int.TryParse(Path.GetFileName(link), NumberStyles.None, CultureInfo.InvariantCulture, out var fd))
            {
                found.TryAdd(inode, fd);
            }
        }
        return found;
    }

    private static unsafe long? BytesReceived(int fd)
    {
        var info = stackalloc byte[256];
        var length = 256;
        if (GetSockOptRaw(fd, IpProtoTcp, TcpInfo, info, &length) != 0 || length < BytesReceivedOffset + 8)
        {
            return null;
        }
        return *(long*)(info + BytesReceivedOffset);
    }

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    private static unsafe partial int GetSockOptRaw(int fd, int level, int name, byte* value, int* length);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    private static partial int ShutdownRaw(int fd, int how);

    public void Dispose()
    {
        _timer.Enable = false;
        try
        {
            _monitor.DetachFromPoller();
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException or NetMQException)
        {
            // The poller is already gone.
        }
        try
        {
            _monitor.Dispose();
        }
        catch (Exception e) when (e is ObjectDisposedException or NetMQException)
        {
            // Closing the monitor of a socket already closed.
        }
    }
}
