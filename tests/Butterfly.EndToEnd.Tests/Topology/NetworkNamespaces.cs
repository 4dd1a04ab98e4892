using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;

namespace Butterfly.EndToEnd.Tests.Topology;

/// <summary>The outcome of a command: its exit code and everything it printed.</summary>
internal readonly record struct CommandResult(int Code, string Output)
{
    public bool Ok => Code == 0;
}

/// <summary>A namespace standing for a host: its name and the address its daemon's API listens on.</summary>
internal sealed record HostNamespace(string Name, string ApiAddress);

/// <summary>
/// Network namespaces standing in for VMs, each one a real Linux IP stack that gets a
/// daemon's tap NIC, and for hosts, each one running a daemon. Names are unique per instance
/// (so parallel runs and leftovers of a crashed run never collide); Dispose deletes every
/// namespace and management link it made, even after a failure. Dispose it after the daemons
/// (declare it first): a daemon's taps and sockets go away with the daemon rather than with
/// its namespace.
/// </summary>
internal sealed class NetworkNamespaces : IDisposable
{
    /// <summary>
    /// 100.64.0.0/10 (shared address space, RFC 6598): no test range and, on these machines,
    /// no real network uses it. Each instance takes a /28 of it, chosen by its random id.
    /// </summary>
    private const uint ManagementRange = 0x6440_0000;

    /// <summary>A /28 is 8 management links (/31 pairs); 2^18 /28s fill the /10.</summary>
    private const int MaxHosts = 8;

    private readonly byte[] _id = RandomNumberGenerator.GetBytes(3);
    private readonly List<string> _made = [];
    private readonly List<string> _managementLinks = [];

    private string Prefix => "bfns" + Convert.ToHexStringLower(_id);

    /// <summary>Makes a namespace (loopback up) and returns its name.</summary>
    public string Create(string role)
    {
        var name = $"{Prefix}-{role}";
        Check(Run("ip", "netns", "add", name), $"ip netns add {name}");
        _made.Add(name);
        Check(Exec(name, "ip", "link", "set", "lo", "up"), "loopback up");
        return name;
    }

    /// <summary>
    /// Makes a namespace for a host, with a management link to the test's namespace: a veth
    /// with a /31 of 100.64.0.0/10 unique to this instance, over which the test reaches the
    /// daemon's API, as an operator reaches a real host. Its underlay is the caller's to add
    /// (see <see cref="BringUpQuietly"/>).
    /// </summary>
    public HostNamespace CreateHost(string role)
    {
        var slot = _managementLinks.Count;
        if (slot == MaxHosts)
        {
            throw new InvalidOperationException($"at most {MaxHosts} hosts per {nameof(NetworkNamespaces)}");
        }
        var name = Create(role);
        var (outside, inside) = (ManagementAddress(slot, 0), ManagementAddress(slot, 1));
        var link = $"bfm{Convert.ToHexStringLower(_id)}{slot}";
        Check(Run("ip", "link", "add", link, "type", "veth", "peer", "name", "mgmt", "netns", name), $"create the management link of {name}");
        _managementLinks.Add(link);
        _ = Run("sysctl", "-qw", $"net.ipv6.conf.{link}.disable_ipv6=1");
        Check(Run("ip", "address", "add", outside + "/31", "dev", link), $"address {outside} on {link}");
        Check(Run("ip", "link", "set", "dev", link, "up"), $"bring {link} up");
        BringUpQuietly(name, "mgmt");
        Check(Exec(name, "ip", "address", "add", inside + "/31", "dev", "mgmt"), $"address {inside} on mgmt in {name}");
        return new HostNamespace(name, inside);
    }

    /// <summary>
    /// Brings up <paramref name="dev"/>, an interface of <paramref name="netns"/> that carries
    /// no VM traffic, with IPv6 off: the kernel's own router solicitations and DAD on it would
    /// be noise. Done inside the namespace: a device moved there lost the settings it had outside.
    /// </summary>
    public static void BringUpQuietly(string netns, string dev)
    {
        _ = Exec(netns, "sysctl", "-qw", $"net.ipv6.conf.{dev}.disable_ipv6=1");
        Check(Exec(netns, "ip", "link", "set", "dev", dev, "up"), $"bring {dev} up in {netns}");
    }

    /// <summary>
    /// Moves the kernel tap <paramref name="tap"/> from <paramref name="sourceNetns"/> (the
    /// namespace of the daemon that made it; null: the test's) into <paramref name="netns"/>
    /// and configures it as a VM's interface: the NIC's MAC (moving keeps it; set again in
    /// case a kernel does not), the addresses (IPv6 without DAD, so it is usable at once), and up.
    /// </summary>
    public void Attach(string netns, string tap, string mac, IReadOnlyList<string> addresses, string? sourceNetns = null)
    {
        string[] move = ["link", "set", "dev", tap, "netns", netns];
        Check(sourceNetns is null ? Run("ip", move) : Run("ip", ["-n", sourceNetns, .. move]), $"move {tap} into {netns}");
        Check(Exec(netns, "ip", "link", "set", "dev", tap, "address", mac), $"set the MAC of {tap}");
        foreach (var address in addresses)
        {
            var args = address.Contains(':', StringComparison.Ordinal)
                ? new[] { "ip", "-6", "address", "add", address, "dev", tap, "nodad" }
                : ["ip", "address", "add", address, "dev", tap];
            Check(Exec(netns, args), $"add {address} to {tap}");
        }
        Check(Exec(netns, "ip", "link", "set", "dev", tap, "up"), $"bring {tap} up");
    }

    /// <summary>Runs a program inside <paramref name="netns"/>.</summary>
    public static CommandResult Exec(string netns, params string[] args) =>
        Run("ip", ["netns", "exec", netns, .. args]);

    /// <summary>Starts a program inside <paramref name="netns"/> without waiting for it (a server).</summary>
    public static Process Start(string netns, params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["netns", "exec", netns, .. args])
        {
            psi.ArgumentList.Add(a);
        }
        return Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {string.Join(' ', args)} in {netns}");
    }

    public static CommandResult Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {program}");
        var stderr = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd() + stderr.GetAwaiter().GetResult();
        p.WaitForExit();
        return new CommandResult(p.ExitCode, output);
    }

    public void Dispose()
    {
        // Deleting the test's end of a veth deletes both ends at once; a namespace's own
        // interfaces would otherwise outlive `ip netns del` until the kernel frees the namespace.
        foreach (var link in _managementLinks)
        {
            _ = Run("ip", "link", "del", link);
        }
        _managementLinks.Clear();
        foreach (var name in _made)
        {
            _ = Run("ip", "netns", "del", name);
        }
        _made.Clear();
    }

    /// <summary>Side 0 (the test's) or 1 (the host's) of management link <paramref name="slot"/>.</summary>
    private string ManagementAddress(int slot, int side)
    {
        var block = (uint)(((_id[0] & 0x3) << 16) | (_id[1] << 8) | _id[2]);
        var address = ManagementRange + (block * 16) + (uint)(slot * 2) + (uint)side;
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, address);
        return new IPAddress(bytes).ToString();
    }

    private static void Check(CommandResult result, string what)
    {
        if (!result.Ok)
        {
            throw new InvalidOperationException($"{what} failed ({result.Code}): {result.Output}");
        }
    }
}
