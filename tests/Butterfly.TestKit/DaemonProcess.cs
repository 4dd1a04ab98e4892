using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Butterfly.TestKit;

/// <summary>How <see cref="DaemonProcess.StartAsync"/> starts butterflyd; every member has a test-friendly default.</summary>
public sealed record DaemonStartOptions
{
    /// <summary>Event store destination; null = a fresh <c>file:</c> directory under the work dir.</summary>
    public string? EventStore { get; init; }

    /// <summary>Raw EAL arguments; null = no hugepages, no PCI, a null underlay that receives nothing (no-rx=1, so an idle daemon stays idle) and a unique --file-prefix.</summary>
    public string? DpdkArgs { get; init; }

    /// <summary>A key file for the encrypted API (-k), or null.</summary>
    public string? KeyFile { get; init; }

    /// <summary>
    /// With CURVE on the API (--curve-key/--curve-allow in <see cref="ExtraArgs"/>): the keys the
    /// start-up check and <see cref="DaemonProcess.CreateClient"/> use; null for a clear API.
    /// </summary>
    public CurveClientKeys? Curve { get; init; }

    /// <summary>The VXLAN endpoint address (-i).</summary>
    public string Ip { get; init; } = "127.0.0.1";

    /// <summary>-l; debug by default so that failures come with the daemon's story; null passes no -l.</summary>
    public string? LogLevel { get; init; } = "debug";

    /// <summary>
    /// Start butterflyd with SIGINT and SIGQUIT ignored, as a non-interactive shell's
    /// <c>daemon &amp;</c> does (through <c>trap '' INT QUIT; exec</c>, so the PID is the daemon's).
    /// </summary>
    public bool SigintIgnoredAtStart { get; init; }

    /// <summary>Start the daemon with SIGHUP ignored, as <c>nohup</c> does (<c>trap '' HUP; exec</c>).</summary>
    public bool SighupIgnoredAtStart { get; init; }

    /// <summary>More arguments appended as they are (e.g. "-t").</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];

    /// <summary>How long start-up may take before the daemon is declared failed.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Wait until app_status answers (false: return as soon as the process runs).</summary>
    public bool WaitUntilReady { get; init; } = true;

    /// <summary>
    /// A named network namespace (/run/netns/NAME) to run the daemon in, as a host of its own,
    /// or null for the test's namespace. Its API must then listen on an address of that
    /// namespace the test can reach (<see cref="ApiAddress"/>, e.g. a management veth).
    /// </summary>
    public string? NetworkNamespace { get; init; }

    /// <summary>The address the API listens on (-e tcp://ADDRESS:PORT) and clients connect to.</summary>
    public string ApiAddress { get; init; } = "127.0.0.1";

    /// <summary>The butterflyd to run, e.g. a published (ReadyToRun) or installed one; null = the built one (<see cref="RepoPaths.Butterflyd"/>).</summary>
    public string? Executable { get; init; }
}

/// <summary>
/// A real butterflyd process for tests: built binary of the same configuration, optionally in a
/// network namespace of its own, a free TCP port on 127.0.0.1 (or on the API address given), a
/// private work directory (sockets, <c>file:</c> event log), stderr logging at debug level
/// captured for diagnostics, and a unique DPDK --file-prefix.
/// Dispose always ends the process (by PID) and removes what it made, including DPDK's
/// runtime directory, which a SIGKILL leaves behind.
/// </summary>
public sealed class DaemonProcess : IDisposable, IAsyncDisposable
{
    private const int Sigterm = 15;

    private readonly DaemonStartOptions _options;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _outputLock = new();
    private Process? _process;
    private bool _disposed;

    private DaemonProcess(DaemonStartOptions options)
    {
        _options = options;
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5));
        WorkDir = Directory.CreateTempSubdirectory($"bft-{suffix}-").FullName;
        SocketDir = Path.Combine(WorkDir, "sockets");
        Directory.CreateDirectory(SocketDir);
        EventStore = options.EventStore ?? "file:" + Path.Combine(WorkDir, "events");
        FilePrefix = PrefixIn(options.DpdkArgs) ?? "bft" + suffix;
        Port = FreeTcpPort();
    }

    /// <summary>The API endpoint, tcp://ADDRESS:PORT (127.0.0.1 unless the options name another address).</summary>
    public string Endpoint => $"tcp://{_options.ApiAddress}:{Port}";

    /// <summary>
    /// The API port: free on the test's loopback when chosen, hence distinct between the
    /// daemons of a test (tap names are made from it); a daemon in a namespace of its own
    /// has every port of that namespace to itself.
    /// </summary>
    public int Port { get; }

    /// <summary>The network namespace the daemon runs in, or null for the test's own.</summary>
    public string? NetworkNamespace => _options.NetworkNamespace;

    /// <summary>Private directory of this daemon (removed on Dispose).</summary>
    public string WorkDir { get; }

    /// <summary>The --socket-dir.</summary>
    public string SocketDir { get; }

    /// <summary>The --event-store destination.</summary>
    public string EventStore { get; }

    /// <summary>The DPDK --file-prefix, ours or the one in custom EAL arguments (its runtime state is /var/run/dpdk/&lt;prefix&gt;).</summary>
    public string FilePrefix { get; }

    /// <summary>The arguments of the last start.</summary>
    public IReadOnlyList<string> Arguments { get; private set; } = [];

    public int Pid => _process?.Id ?? throw new InvalidOperationException("not started");

    public bool HasExited => _process is null || _process.HasExited;

    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    /// <summary>Everything the daemon wrote to stderr so far (its log with --no-syslog), across restarts.</summary>
    public string StandardError
    {
        get
        {
            lock (_outputLock)
            {
                return _stderr.ToString();
            }
        }
    }

    public string StandardOutput
    {
        get
        {
            lock (_outputLock)
            {
                return _stdout.ToString();
            }
        }
    }

    /// <summary>Starts a daemon and (by default) waits until it answers app_status.</summary>
    public static async Task<DaemonProcess> StartAsync(DaemonStartOptions? options = null, CancellationToken cancellationToken = default)
    {
        var daemon = new DaemonProcess(options ?? new DaemonStartOptions());
        try
        {
            await daemon.LaunchAsync(cancellationToken);
            return daemon;
        }
        catch
        {
            daemon.Dispose();
            throw;
        }
    }

    /// <summary>A client of this daemon's API (a CURVE client with the keys of the start options, if any).</summary>
    public ApiClient CreateClient(TimeSpan? timeout = null, byte[]? key = null) => new(Endpoint, timeout, key, _options.Curve);

    /// <summary>Ends the daemon at once with SIGKILL (a crash, as far as the daemon can tell) and waits for it.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            p.WaitForExit();
        }
    }

    /// <summary>Sends SIGTERM and waits for the exit; returns the exit code. Kills and throws on timeout.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        var p = _process ?? throw new InvalidOperationException("not started");
        if (!p.HasExited && kill(p.Id, Sigterm) != 0)
        {
            throw new InvalidOperationException($"kill({p.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        return await WaitForExitAsync(timeout ?? TimeSpan.FromSeconds(30));
    }

    /// <summary>Waits for the daemon to exit by itself (e.g. after app_quit); kills and throws on timeout.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        var p = _process ?? throw new InvalidOperationException("not started");
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"butterflyd (pid {p.Id}) did not exit within {timeout.TotalSeconds:0.#} s; stderr:\n{Tail()}");
        }

        return p.ExitCode;
    }

    /// <summary>Starts the daemon again on the same port, directories and event store (stopping it first if it runs).</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        if (!HasExited)
        {
            await StopAsync();
        }

        _process?.Dispose();
        _process = null;
        await LaunchAsync(cancellationToken);
    }

    /// <summary>The last lines of stderr, for assertion messages.</summary>
    public string Tail(int lines = 40)
    {
        var all = StandardError.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process?.Dispose();
        TryDelete(WorkDir);
        TryDelete(Path.Combine("/var/run/dpdk", FilePrefix));
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task LaunchAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var args = new List<string>
        {
            "-i", _options.Ip, "-s", SocketDir, "-e", Endpoint, "--event-store", EventStore,
            "--no-syslog",
            "--dpdk-args", _options.DpdkArgs ?? $"--no-huge -m 256 --no-pci --file-prefix {FilePrefix} --vdev=net_null0,no-rx=1",
        };
        if (_options.KeyFile is not null)
        {
            args.AddRange(["-k", _options.KeyFile]);
        }

        if (_options.LogLevel is not null)
        {
            args.AddRange(["-l", _options.LogLevel]);
        }

        args.AddRange(_options.ExtraArgs);
        Arguments = args;

        // In a namespace, `ip netns exec` enters it and execs butterflyd in place (it forks only
        // in batch mode), so the process started here is the daemon itself: its PID is the one
        // Kill and StopAsync signal, and its exit code is the daemon's.
        var butterflyd = _options.Executable ?? RepoPaths.Butterflyd;
        var ignored = string.Join(' ', (_options.SigintIgnoredAtStart ? ["INT", "QUIT"] : Array.Empty<string>()).Concat(_options.SighupIgnoredAtStart ? ["HUP"] : []));
        List<string> command = _options.NetworkNamespace is { } netns
            ? ["netns", "exec", netns, butterflyd, .. args]
            : ignored.Length > 0 ? ["-c", $"trap '' {ignored}; exec \"$0\" \"$@\"", butterflyd, .. args]
            : [.. args];
        var program = _options.NetworkNamespace is not null ? "ip" : ignored.Length > 0 ? "bash" : butterflyd;
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in command)
        {
            info.ArgumentList.Add(a);
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        if (_options.WaitUntilReady)
        {
            await WaitUntilReadyAsync(cancellationToken);
        }
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + _options.StartTimeout;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (HasExited)
            {
                throw new InvalidOperationException($"butterflyd exited with code {ExitCode} during start-up; stderr:\n{Tail()}");
            }

            using (var client = new ApiClient(Endpoint, TimeSpan.FromMilliseconds(500), curve: _options.Curve))
            {
                try
                {
                    var status = client.Send(Requests.Batch([Requests.AppStatus()]));
                    if (status.Messages_.Count == 1)
                    {
                        return;
                    }
                }
                catch (TimeoutException)
                {
                    // Not listening yet (or an encrypted daemon that refuses clear requests:
                    // it still answers, so that path returns above).
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                Kill();
                throw new TimeoutException($"butterflyd did not answer within {_options.StartTimeout.TotalSeconds:0.#} s; stderr:\n{Tail()}");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    private void Append(StringBuilder sb, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_outputLock)
        {
            sb.AppendLine(line);
        }
    }

    /// <summary>
    /// The --file-prefix given in custom EAL arguments, so that Dispose removes the DPDK
    /// runtime directory the daemon really used (a SIGKILL leaves it behind).
    /// </summary>
    private static string? PrefixIn(string? dpdkArgs)
    {
        var words = dpdkArgs?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        for (var i = 0; i < words.Length; i++)
        {
            if (words[i] == "--file-prefix" && i + 1 < words.Length)
            {
                return words[i + 1];
            }

            if (words[i].StartsWith("--file-prefix=", StringComparison.Ordinal))
            {
                return words[i]["--file-prefix=".Length..];
            }
        }

        return null;
    }

    private static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void TryDelete(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover temp directory must not fail the test that used it.
        }
    }

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054, CA5392 // A single libc call: LibraryImport's generator buys nothing here.
    private static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054, CA5392
}
