using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Butterfly.EndToEnd.Tests.Frontends;

/// <summary>
/// A real vhost-user frontend without a VM: dpdk-testpmd with one net_virtio_user port
/// attached (as the client) to a NIC's vhost-user socket, sending UDP frames in txonly mode.
/// Its stdin is kept open (testpmd exits on EOF); Dispose stops it by PID and removes its
/// DPDK runtime directory.
/// </summary>
internal sealed class VirtioUserFrontend : IDisposable
{
    private const int Sigint = 2;
    private readonly Process _process;
    private readonly string _prefix;

    private VirtioUserFrontend(Process process, string prefix)
    {
        _process = process;
        _prefix = prefix;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Starts testpmd sending 64-byte frames from <paramref name="mac"/> into <paramref name="socketPath"/>.</summary>
    public static VirtioUserFrontend StartSending(string socketPath, string mac)
    {
        var prefix = "bfe" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var psi = new ProcessStartInfo("dpdk-testpmd")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--no-huge", "-m", "256", "--no-pci", "--file-prefix", prefix, "--log-level", "error",
            "--vdev", $"net_virtio_user0,path={socketPath},queues=1,queue_size=256,mac={mac}",
            "--", "--forward-mode=txonly", "--auto-start", "--txpkts=64", "--total-num-mbufs=2048",
            "--rxd=256", "--txd=256", "--burst=8",
        })
        {
            psi.ArgumentList.Add(arg);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("dpdk-testpmd did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new VirtioUserFrontend(process, prefix);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _ = kill(_process.Id, Sigint);
            if (!_process.WaitForExit(5000))
            {
                _process.Kill();
                _process.WaitForExit();
            }
        }

        _process.Dispose();
        try
        {
            Directory.Delete(Path.Combine("/var/run/dpdk", _prefix), recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
