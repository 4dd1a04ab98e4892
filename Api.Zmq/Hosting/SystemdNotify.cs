using System.Net.Sockets;
using System.Text;

namespace Butterfly.Api.Zmq.Hosting;

/// <summary>
/// The sd_notify protocol of systemd's <c>Type=notify</c> services, without libsystemd: one
/// datagram of <c>KEY=VALUE</c> lines to the unix socket named by <c>NOTIFY_SOCKET</c> (a path,
/// or <c>@name</c> for the abstract namespace). The daemon says <c>READY=1</c> once the
/// configuration is replayed, the data path reconciled and the API bound, so <c>systemctl start</c>
/// returns when the API answers, and <c>STOPPING=1</c> when it begins to stop. Without <c>NOTIFY_SOCKET</c> (not started by systemd) nothing is sent.
/// A failure to send is returned for the log and never stops the daemon.
/// </summary>
internal static class SystemdNotify
{
    public const string SocketVariable = "NOTIFY_SOCKET";

    /// <summary>The notification socket's path from the environment, or null when not started by systemd.</summary>
    public static string? SocketPath => Environment.GetEnvironmentVariable(SocketVariable) is { Length: > 0 } path ? path : null;

    /// <summary>Sends <paramref name="state"/> (newline-separated assignments); returns why it failed, or null (also when there is no socket).</summary>
    public static string? Send(string state)
    {
        if (SocketPath is not { } path)
        {
            return null;
        }
        if (path[0] is not ('/' or '@'))
        {
            return $"{SocketVariable}='{path}' is neither a path nor an abstract socket name";
        }
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            // UnixDomainSocketEndPoint maps a leading '@' to the abstract namespace, as systemd means it.
            socket.Connect(new UnixDomainSocketEndPoint(path));
            socket.Send(Encoding.UTF8.GetBytes(state));
            return null;
        }
        catch (SocketException e)
        {
            return $"cannot notify systemd through {path}: {e.Message}";
        }
    }

    /// <summary>READY=1 with the main PID and a status line.</summary>
    public static string? Ready(string status) =>
        Send($"READY=1\nMAINPID={Environment.ProcessId}\nSTATUS={status}");

    public static string? Stopping() => Send("STOPPING=1\nSTATUS=stopping");
}
