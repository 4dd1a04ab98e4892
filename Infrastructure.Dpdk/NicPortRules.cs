using System.Text;
using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// What a NIC must satisfy to become a DPDK port, independent of the live state (pure, so it is
/// unit-tested without EAL). The live checks (an interface or file already in the way) are made
/// by <see cref="DpdkDataPath.Validate"/>.
/// </summary>
internal static class NicPortRules
{
    /// <summary>IFNAMSIZ - 1: the longest Linux interface name.</summary>
    internal const int MaxInterfaceName = 15;

    /// <summary>sizeof(sockaddr_un.sun_path) - 1: the longest unix socket path.</summary>
    internal const int MaxSocketPath = 107;

    /// <summary>Why <paramref name="nic"/> cannot have a port, or null.</summary>
    internal static string? Check(DataPathNic nic, string socketDir)
    {
        if (string.IsNullOrEmpty(nic.Id))
        {
            return "NIC id is empty";
        }
        return nic.Type switch
        {
            NicType.VhostUserServer => CheckSocket(nic.Id, nic.SocketPath ?? SocketPath(socketDir, nic.Id)),
            NicType.Tap => CheckTapName(nic.Id) ?? CheckMac(nic),
            NicType.Bench => CheckBench(nic),
            _ => $"NIC '{nic.Id}': unknown NIC type {(int)nic.Type}",
        };
    }

    /// <summary>
    /// The vhost-user socket of a NIC recorded before nic_add kept the path it chose (protocol
    /// revision 10): such a NIC keeps this path, so a restart never moves a running VM's socket.
    /// </summary>
    internal static string SocketPath(string socketDir, string nicId) => Path.Combine(socketDir, nicId);

    /// <summary>The vhost-user socket a new NIC gets, named like the original Butterfly's.</summary>
    internal static string NewSocketPath(string socketDir, string nicId) => Path.Combine(socketDir, "qemu-vhost-" + nicId);

    private static string? CheckSocket(string id, string path)
    {
        // The id becomes a file name. ',', '=' and brackets were refused when the socket path was
        // a DPDK device argument ("iface=PATH,…"); they stay refused so the set of valid ids
        // does not change under existing configurations.
        if (id is "." or ".." || id.AsSpan().IndexOfAny("/,=[]") >= 0 || HasControlOrSpace(id))
        {
            return $"NIC id '{id}' cannot name a vhost-user socket: it must be a file name without '/', ',', '=', brackets, spaces or control characters";
        }
        var bytes = Encoding.UTF8.GetByteCount(path);
        if (bytes > MaxSocketPath)
        {
            return $"NIC id '{id}': vhost-user socket path '{path}' is {bytes} bytes, longer than the {MaxSocketPath} a unix socket allows";
        }
        return null;
    }

    private static string? CheckTapName(string id)
    {
        if (Encoding.UTF8.GetByteCount(id) > MaxInterfaceName)
        {
            return $"NIC id '{id}' is too long for a tap interface name: {Encoding.UTF8.GetByteCount(id)} bytes, the kernel allows {MaxInterfaceName}";
        }
        // The kernel refuses '/', ':' and blanks and expands '%d'; DPDK device arguments split
        // on ',' and '='. Plain printable ASCII keeps the name the same everywhere.
        foreach (var c in id)
        {
            if (c is <= ' ' or > '~' or '/' or ':' or '%' or ',' or '=' or '[' or ']')
            {
                return $"NIC id '{id}' is not a valid tap interface name: use printable ASCII without '/', ':', '%', ',', '=', brackets or spaces";
            }
        }
        return id is "." or ".." ? $"NIC id '{id}' is not a valid tap interface name" : null;
    }

    /// <summary>
    /// A BENCH NIC's probe needs a btype, an address of its own (its first ip) and, to send, a
    /// destination of the same family (dip) and its MAC (dmac).
    /// </summary>
    private static string? CheckBench(DataPathNic nic)
    {
        var bench = nic.Bench;
        var prefix = $"NIC '{nic.Id}': a BENCH NIC";
        if (bench is null || bench.Kind is not (BenchKinds.Sender or BenchKinds.Responder))
        {
            return $"{prefix} needs btype {BenchKinds.Sender} (it sends echo requests to dip) or {BenchKinds.Responder} (it answers them), not '{bench?.Kind}'";
        }
        if (bench.Ip is null || !System.Net.IPAddress.TryParse(bench.Ip, out var own))
        {
            return $"{prefix} needs an ip: its probe's address is the NIC's first ip";
        }
        if (CheckMac(nic) is { } badMac)
        {
            return badMac;
        }
        if (bench.Kind == BenchKinds.Responder)
        {
            return null;
        }
        if (bench.DestinationIp is null || !System.Net.IPAddress.TryParse(bench.DestinationIp, out var destination))
        {
            return $"{prefix} of btype {BenchKinds.Sender} needs dip, the address its echo requests go to";
        }
        if (destination.AddressFamily != own.AddressFamily)
        {
            return $"{prefix}: dip {bench.DestinationIp} is not of the family of its ip {bench.Ip} (the first ip is the probe's address)";
        }
        if (bench.DestinationMac is null || !TryParseMac(bench.DestinationMac, out _))
        {
            return $"{prefix} of btype {BenchKinds.Sender} needs dmac, the MAC its echo requests go to (the destination's, or its router's)";
        }
        return null;
    }

    private static string? CheckMac(DataPathNic nic) =>
        TryParseMac(nic.Mac, out _) ? null : $"NIC '{nic.Id}': MAC '{nic.Mac}' is not of the form 52:54:00:00:d7:11";

    /// <summary>Parses "aa:bb:cc:dd:ee:ff" (either case).</summary>
    internal static bool TryParseMac(string text, out byte[] mac)
    {
        mac = new byte[6];
        var parts = text.Split(':');
        if (parts.Length != 6)
        {
            return false;
        }
        for (var i = 0; i < 6; i++)
        {
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], System.Globalization.NumberStyles.AllowHexSpecifier,
                    System.Globalization.CultureInfo.InvariantCulture, out mac[i]))
            {
                return false;
            }
        }
        return true;
    }

    private static bool HasControlOrSpace(string s)
    {
        foreach (var c in s)
        {
            if (char.IsControl(c) || char.IsWhiteSpace(c))
            {
                return true;
            }
        }
        return false;
    }
}
