using System.Diagnostics;
using System.Text;

namespace Butterfly.Infrastructure.Dpdk.Tests.Live;

/// <summary>
/// A real vhost-user frontend: dpdk-testpmd with a net_virtio_user port on a socket, sending
/// 64-byte frames (txonly) as soon as the link is up. Its stdin is kept open (testpmd exits on
/// EOF); <see cref="Dispose"/> closes it, waits, and removes testpmd's EAL directory.
/// </summary>
public sealed class TestPmd : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly string _prefix = "bf-test-tpmd-" + Guid.NewGuid().ToString("N")[..8];

    private TestPmd(string socket, int cpu)
    {
        var info = new ProcessStartInfo("dpdk-testpmd")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[]
                 {
                     "--no-huge", "-m", "256", "--no-pci", "--file-prefix", _prefix, "--lcores", $"0@{cpu},1@{cpu}",
                     "--vdev", $"net_virtio_user0,path={socket},queues=1", "--",
                     "--forward-mode=txonly", "--auto-start", "--total-num-mbufs=2048", "--rxd=256", "--txd=256",
                 })
        {
            info.ArgumentList.Add(a);
        }
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public static TestPmd Start(string socket, int cpu) => new(socket, cpu);

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
        }
        if (!_process.WaitForExit(10_000))
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
        var runtimeDir = Path.Combine("/var/run/dpdk", _prefix);
        if (Directory.Exists(runtimeDir))
        {
            Directory.Delete(runtimeDir, recursive: true);
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            _log.AppendLine(line);
        }
    }
}
