using System.Diagnostics;
using System.Security.Cryptography;

namespace Butterfly.EndToEnd.Tests.Topology;

/// <summary>The outcome of a command: its exit code and everything it printed.</summary>
internal readonly record struct CommandResult(int Code, string Output)
{
    public bool Ok => Code == 0;
}

/// <summary>
/// Network namespaces standing in for VMs: each one a real Linux IP stack that gets a
/// daemon's tap NIC. Names are unique per instance (so parallel runs and leftovers of a
/// crashed run never collide); Dispose deletes every namespace it made, even after a failure.
/// Dispose it after the daemon whose taps were moved in (declare it first), so the taps go
/// away with the daemon's file descriptors rather than with the namespace.
/// </summary>
internal sealed class NetworkNamespaces : IDisposable
{
    private readonly string _prefix = "bfns" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly List<string> _made = [];

    /// <summary>Makes a namespace (loopback up) and returns its name.</summary>
    public string Create(string role)
    {
        var name = $"{_prefix}-{role}";
        Check(Run("ip", "netns", "add", name), $"ip netns add {name}");
        _made.Add(name);
        Check(Exec(name, "ip", "link", "set", "lo", "up"), "loopback up");
        return name;
    }

    /// <summary>
    /// Moves the kernel tap <paramref name="tap"/> into <paramref name="netns"/> and configures
    /// it as a VM's interface: the NIC's MAC (moving keeps it; set again in case a kernel
    /// does not), the addresses (IPv6 without DAD, so it is usable at once), and up.
    /// </summary>
    public void Attach(string netns, string tap, string mac, params string[] addresses)
    {
        Check(Run("ip", "link", "set", "dev", tap, "netns", netns), $"move {tap} into {netns}");
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
        foreach (var name in _made)
        {
            _ = Run("ip", "netns", "del", name);
        }
        _made.Clear();
    }

    private static void Check(CommandResult result, string what)
    {
        if (!result.Ok)
        {
            throw new InvalidOperationException($"{what} failed ({result.Code}): {result.Output}");
        }
    }
}
