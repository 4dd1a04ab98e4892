using System.Diagnostics;

namespace Butterfly.EndToEnd.Tests;

/// <summary>Reads kernel network state the way an operator would, with iproute2.</summary>
internal static class Kernel
{
    /// <summary>The MAC of a network interface, or null when it does not exist.</summary>
    public static string? MacOf(string ifName)
    {
        var path = $"/sys/class/net/{ifName}/address";
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    public static bool InterfaceExists(string ifName) => Directory.Exists($"/sys/class/net/{ifName}");

    public static string Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return output;
    }
}
