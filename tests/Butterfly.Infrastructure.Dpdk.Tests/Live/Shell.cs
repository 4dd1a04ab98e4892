using System.Diagnostics;

namespace Butterfly.Infrastructure.Dpdk.Tests.Live;

/// <summary>Runs a host command and returns its exit code and output.</summary>
public static class Shell
{
    public static (int Code, string Output) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }

    /// <summary>`ip -o link show dev NAME`, or null when there is no such interface.</summary>
    public static string? Link(string name)
    {
        var (code, output) = Run("ip", "-o", "link", "show", "dev", name);
        return code == 0 ? output : null;
    }

    /// <summary>Sends one broadcast Ethernet frame of <paramref name="size"/> bytes out of a kernel interface.</summary>
    public static void SendFrame(string iface, int size)
    {
        var script = "import socket,sys; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0)); "
            + "s.send(b'\\xff'*6 + b'\\x02\\x00\\x00\\x00\\x00\\x01' + b'\\x88\\xb5' + b'\\x00'*(int(sys.argv[2])-14))";
        var (code, output) = Run("/usr/bin/python3", "-c", script, iface, size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, output);
    }
}
