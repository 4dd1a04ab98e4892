using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Butterfly.TestKit;

namespace Butterfly.EndToEnd.Tests.Packaging;

/// <summary>
/// scripts/package.sh for real: the .deb is built (or taken from BUTTERFLY_DEB), its control data
/// and contents checked with dpkg-deb, installed with dpkg into a scratch root of the test's own
/// (maintainer scripts run with DPKG_ROOT, nothing of the machine changes), its systemd unit
/// checked by systemd-analyze verify, and the installed daemon started with the installed INI
/// and a NOTIFY_SOCKET the test listens on, as systemd would (systemd is not PID 1 here): READY=1
/// comes when the API answers, with the configuration replayed; the installed CLI talks to it;
/// SIGTERM gives STOPPING=1 and exit code 0. Then the package is purged.
/// </summary>
[Collection(EndToEndCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DebianPackageTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("bf-deb-").FullName;
    private readonly string _filePrefix = "bfdeb" + Environment.ProcessId;
    private readonly StringBuilder _log = new();
    private Process? _daemon;

    private string Root => Path.Combine(_work, "root");

    [Fact]
    public async Task The_package_builds_installs_verifies_and_its_daemon_notifies_readiness_once_the_api_answers()
    {
        var deb = Environment.GetEnvironmentVariable("BUTTERFLY_DEB") is { Length: > 0 } given ? given : Build();

        var info = Run("dpkg-deb", "-I", deb);
        Assert.Contains("Package: butterfly\n", info, StringComparison.Ordinal);
        Assert.Contains("Architecture: amd64\n", info, StringComparison.Ordinal);
        // DPDK is linked into the shim (native/Makefile): the package needs what its drivers
        // call, and recommends DPDK's tools (dpdk-devbind.py, dpdk-hugepages.py).
        Assert.Matches(@"Depends: libnuma1, libbsd0, libpcap0\.8, libxdp1, libbpf1, libibverbs1, ibverbs-providers, libzmq5", info);
        Assert.Contains("Recommends: dpdk (>= 22.11)\n", info, StringComparison.Ordinal);
        Assert.Equal("/etc/butterfly/butterflyd.ini", Run("dpkg-deb", "-I", deb, "conffiles").Trim());
        var contents = Run("dpkg-deb", "-c", deb);
        foreach (var path in new[]
        {
            "./usr/sbin/butterflyd -> ../lib/butterfly/butterflyd", "./usr/lib/butterfly/butterflyd\n",
            "./usr/lib/butterfly/libbutterfly_shim.so\n", "./usr/lib/butterfly/libcoreclr.so\n", "./usr/bin/butterfly\n",
            "./etc/butterfly/butterflyd.ini\n", "./lib/systemd/system/butterflyd.service\n", "./var/lib/butterfly/\n",
        })
        {
            Assert.Contains(path, contents, StringComparison.Ordinal);
        }
        // The CLI is one native executable: no managed assembly of it ships.
        Assert.DoesNotContain("butterfly.dll", contents, StringComparison.Ordinal);

        Install(deb);
        Assert.True(File.Exists(Path.Combine(Root, "usr/sbin/butterflyd")), "butterflyd installed");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute,
            File.GetUnixFileMode(Path.Combine(Root, "var/lib/butterfly")));

        VerifyUnit();

        // First start: the installed daemon with the installed INI (paths of the machine replaced
        // by the scratch root's on the command line, which wins), READY=1 once the API answers.
        using var notify = new NotifyListener(Path.Combine(_work, "notify"));
        var endpoint = $"tcp://127.0.0.1:{FreePort()}";
        var pid = Start(endpoint, notify.Path);
        var ready = await notify.WaitForAsync("READY=1", Log);
        Assert.Contains($"MAINPID={pid}", ready, StringComparison.Ordinal);
        Assert.Contains("STATUS=serving", ready, StringComparison.Ordinal);
        var cli = Path.Combine(Root, "usr/bin/butterfly");
        Assert.Contains("start date:", Run(cli, "-e", endpoint, "status"), StringComparison.Ordinal);
        Run(cli, "-e", endpoint, "nic", "add", "--id", "pkgvm", "--mac", "52:54:00:de:b0:01", "--vni", "9");
        await StopAsync(notify);

        // Second start: READY=1 comes after the replay and the reconcile, so the NIC is there.
        pid = Start(endpoint, notify.Path);
        Assert.Contains($"MAINPID={pid}", await notify.WaitForAsync("READY=1", Log), StringComparison.Ordinal);
        Assert.Equal("pkgvm", Run(cli, "-e", endpoint, "nic", "list").Trim());
        Assert.True(File.Exists(Path.Combine(Root, "run/butterfly/qemu-vhost-pkgvm")), "the NIC's socket was made again before READY=1");
        await StopAsync(notify);

        Run("dpkg", "--root", Root, "--log", Path.Combine(_work, "dpkg.log"), "--force-script-chrootless", "--purge", "butterfly");
        Assert.False(File.Exists(Path.Combine(Root, "usr/sbin/butterflyd")), "purged");
        Assert.False(Directory.Exists(Path.Combine(Root, "etc/butterfly")), "configuration purged");
        Assert.True(Directory.Exists(Path.Combine(Root, "var/lib/butterfly/events")), "the event log is the operator's and stays");
    }

    public void Dispose()
    {
        if (_daemon is { HasExited: false })
        {
            _daemon.Kill();
            _daemon.WaitForExit();
        }
        _daemon?.Dispose();
        Directory.Delete(_work, recursive: true);
        var dpdk = Path.Combine("/var/run/dpdk", _filePrefix);
        if (Directory.Exists(dpdk))
        {
            Directory.Delete(dpdk, recursive: true);
        }
    }

    private string Build()
    {
        var output = Run(Path.Combine(RepoPaths.RepoRoot, "scripts/package.sh"), TimeSpan.FromMinutes(20), "--output", Path.Combine(_work, "out"));
        // The script prints the package's path last on stdout; dpkg-deb's own line (stderr) names it too, quoted.
        var deb = output.Split('\n').LastOrDefault(line => line.EndsWith("_amd64.deb", StringComparison.Ordinal));
        Assert.True(deb is not null && File.Exists(deb), $"scripts/package.sh printed no package path:\n{output}");
        return deb;
    }

    /// <summary>dpkg into an empty database of the scratch root; the scripts run without chroot, with DPKG_ROOT set.</summary>
    private void Install(string deb)
    {
        Directory.CreateDirectory(Path.Combine(Root, "var/lib/dpkg/info"));
        Directory.CreateDirectory(Path.Combine(Root, "var/lib/dpkg/updates"));
        File.WriteAllText(Path.Combine(Root, "var/lib/dpkg/status"), "");
        // The scratch database knows none of the machine's packages: the dependencies (checked
        // in the control data above) are the machine's, where Debian's dpdk is installed.
        Run("dpkg", "--root", Root, "--log", Path.Combine(_work, "dpkg.log"), "--force-script-chrootless", "--force-depends", "-i", deb);
        Assert.Contains("ii  butterfly", Run("dpkg", "--root", Root, "-l", "butterfly"), StringComparison.Ordinal);
    }

    /// <summary>The installed unit, verified against this machine's systemd with ExecStart pointing into the scratch root.</summary>
    private void VerifyUnit()
    {
        var unit = File.ReadAllText(Path.Combine(Root, "lib/systemd/system/butterflyd.service"));
        foreach (var line in new[]
        {
            "Type=notify", "ExecStart=/usr/sbin/butterflyd -c /etc/butterfly/butterflyd.ini", "Restart=on-failure",
            "LimitMEMLOCK=infinity", "StateDirectory=butterfly", "RuntimeDirectory=butterfly", "NoNewPrivileges=yes", "ProtectSystem=full",
        })
        {
            Assert.Contains("\n" + line + "\n", unit, StringComparison.Ordinal);
        }
        var dir = Directory.CreateDirectory(Path.Combine(_work, "unit")).FullName;
        var copy = Path.Combine(dir, "butterflyd.service");
        File.WriteAllText(copy, unit.Replace("/usr/sbin/butterflyd", Path.Combine(Root, "usr/sbin/butterflyd"), StringComparison.Ordinal));
        var verify = RunRaw("systemd-analyze", TimeSpan.FromMinutes(1), "verify", copy);
        // verify exits 0 on unknown keys and bad values too, with a warning: any output is a finding.
        Assert.True(verify.Code == 0 && verify.Output.Trim().Length == 0, $"systemd-analyze verify: exit {verify.Code}\n{verify.Output}");
    }

    private int Start(string endpoint, string notifySocket)
    {
        var psi = new ProcessStartInfo(Path.Combine(Root, "usr/sbin/butterflyd"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "-c", Path.Combine(Root, "etc/butterfly/butterflyd.ini"), "-e", endpoint, "-s", Path.Combine(Root, "run/butterfly"),
            "--event-store", "file:" + Path.Combine(Root, "var/lib/butterfly/events"), "--no-syslog",
            "--dpdk-args", $"--no-huge -m 256 --no-pci --file-prefix {_filePrefix} --vdev=net_null0,no-rx=1",
        })
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["NOTIFY_SOCKET"] = notifySocket;
        _daemon?.Dispose();
        _daemon = Process.Start(psi)!;
        _log.Clear();
        _daemon.ErrorDataReceived += (_, e) => AppendLog(e.Data);
        _daemon.OutputDataReceived += (_, e) => AppendLog(e.Data);
        _daemon.BeginErrorReadLine();
        _daemon.BeginOutputReadLine();
        return _daemon.Id;
    }

    private async Task StopAsync(NotifyListener notify)
    {
        var daemon = _daemon!;
        Run("kill", "-TERM", daemon.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await notify.WaitForAsync("STOPPING=1", Log);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await daemon.WaitForExitAsync(timeout.Token);
        Assert.True(daemon.ExitCode == 0, $"exit code {daemon.ExitCode}\n{Log()}");
    }

    private void AppendLog(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }

    private string Log()
    {
        lock (_log)
        {
            return _log.ToString();
        }
    }

    private static string Run(string program, params string[] args) => Run(program, TimeSpan.FromMinutes(2), args);

    private static string Run(string program, TimeSpan timeout, params string[] args)
    {
        var (code, output) = RunRaw(program, timeout, args);
        Assert.True(code == 0, $"{program} {string.Join(' ', args)}: exit {code}\n{output}");
        return output;
    }

    private static (int Code, string Output) RunRaw(string program, TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            return (-1, $"timed out after {timeout}\n{stdout.Result}{stderr.Result}");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The NOTIFY_SOCKET end systemd would hold: a unix datagram socket collecting what the daemon says.</summary>
    private sealed class NotifyListener : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

        public NotifyListener(string path)
        {
            Path = path;
            _socket.Bind(new UnixDomainSocketEndPoint(path));
        }

        public string Path { get; }

        /// <summary>The next datagram holding the line <paramref name="line"/> (others are skipped); fails after 60 s.</summary>
        public async Task<string> WaitForAsync(string line, Func<string> log)
        {
            var buffer = new byte[4096];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var seen = new StringBuilder();
            try
            {
                while (true)
                {
                    var n = await _socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                    var datagram = Encoding.UTF8.GetString(buffer, 0, n);
                    seen.AppendLine(datagram);
                    if (datagram.Split('\n').Contains(line))
                    {
                        return datagram;
                    }
                }
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no {line} on NOTIFY_SOCKET within 60 s; received:\n{seen}\ndaemon:\n{log()}");
            }
        }

        public void Dispose()
        {
            _socket.Dispose();
            File.Delete(Path);
        }
    }
}
