using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Butterfly.EndToEnd.Tests.Vm;

/// <summary>
/// A real QEMU virtual machine (TCG) whose one virtio-net NIC is attached to a butterflyd NIC's
/// vhost-user socket, with a command loop on its serial console.
///
///   test ──stdin/stdout (ttyS0)──▶ qemu-system-x86_64 ──vhost-user socket──▶ butterflyd NIC
///
/// The guest is scripts/vm/build-guest.sh's Debian kernel + busybox initramfs; its /init
/// (scripts/vm/guest-init.sh) brings eth0 up without an address and then runs one shell
/// command per line it reads, ending each with "@@BF-END &lt;token&gt; &lt;exit code&gt;@@".
/// Under TCG, vhost-user needs the guest memory in a shared memfd and virtio-net without MSI-X
/// (vectors=0), as found on these machines. The vhost-user chardev reconnects (QEMU retries the
/// socket every second and brings the NIC's link down, then up again), so the guest survives a
/// daemon restart. <see cref="RebootAsync"/> restarts the guest inside the same QEMU process
/// (same vhost-user connection). Dispose kills QEMU by PID.
/// </summary>
internal sealed partial class QemuGuest : IDisposable, IAsyncDisposable
{
    private const string ReadyMarker = "@@BF-READY@@";

    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly StringBuilder _console = new();
    private readonly StringBuilder _stderr = new();
    private readonly StringBuilder _pending = new();
    private readonly Dictionary<string, TaskCompletionSource<GuestResult>> _waiting = [];
    private TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _sequence;
    private bool _disposed;

    private QemuGuest(Process process, string mac)
    {
        _process = process;
        Mac = mac;
    }

    public string Mac { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the guest wrote on its console so far, for assertion messages.</summary>
    public string Console
    {
        get
        {
            lock (_lock)
            {
                return _console.ToString();
            }
        }
    }

    /// <summary>
    /// Boots a guest on <paramref name="vhostUserSocket"/> (the path nic_add answered) with
    /// <paramref name="mac"/> on its NIC, and waits until its command loop reads.
    /// </summary>
    public static async Task<QemuGuest> BootAsync(string vhostUserSocket, string mac, TimeSpan? bootTimeout = null)
    {
        var image = await GuestImage.GetAsync();
        var psi = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in Arguments(image, vhostUserSocket, mac))
        {
            psi.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var guest = new QemuGuest(process, mac);
        process.OutputDataReceived += (_, e) => guest.OnConsoleLine(e.Data);
        process.ErrorDataReceived += (_, e) => guest.OnStderrLine(e.Data);
        process.Exited += (_, _) => guest.OnExited();
        var timeout = bootTimeout ?? TimeSpan.FromSeconds(120);
        try
        {
            process.Start();
            process.StandardInput.AutoFlush = true;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await guest.ReadyTask().WaitAsync(timeout);
            return guest;
        }
        catch (TimeoutException)
        {
            var story = guest.Story();
            guest.Dispose();
            throw new TimeoutException($"guest on {vhostUserSocket} did not boot within {timeout.TotalSeconds:0} s\n{story}");
        }
        catch
        {
            guest.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Boots several guests at once (each (socket, mac) as in <see cref="BootAsync"/>), in that
    /// order. If one fails, those that booted are stopped before the failure is thrown.
    /// </summary>
    public static async Task<QemuGuest[]> BootAllAsync(IReadOnlyList<(string VhostUserSocket, string Mac)> nics, TimeSpan? bootTimeout = null)
    {
        var booting = nics.Select(n => BootAsync(n.VhostUserSocket, n.Mac, bootTimeout)).ToArray();
        try
        {
            return await Task.WhenAll(booting);
        }
        catch
        {
            foreach (var task in booting)
            {
                if (task.IsCompletedSuccessfully)
                {
                    task.Result.Dispose();
                }
            }

            throw;
        }
    }

    /// <summary>
    /// Runs one shell command line in the guest and returns its exit code and its stdout+stderr
    /// (without trailing newlines, like $(…) in sh). A command still running at
    /// <paramref name="timeout"/> throws TimeoutException and keeps the guest's loop busy until
    /// it ends; later commands then wait behind it.
    /// </summary>
    public async Task<GuestResult> RunAsync(string command, TimeSpan timeout)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(command);
        if (command.Contains('\n', StringComparison.Ordinal) || command.Contains('\r', StringComparison.Ordinal))
        {
            throw new ArgumentException("a guest command is one line", nameof(command));
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        var done = new TaskCompletionSource<GuestResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        string token;
        lock (_lock)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the guest is gone\n{StoryLocked()}");
            }

            token = "c" + (++_sequence).ToString(CultureInfo.InvariantCulture);
            _waiting[token] = done;

            // Under the lock so that two callers' lines never interleave on the console.
            _process.StandardInput.Write(token + " " + command + "\n");
        }

        try
        {
            return await done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            lock (_lock)
            {
                _waiting.Remove(token);
            }

            throw new TimeoutException($"guest command `{command}` did not finish within {timeout.TotalSeconds:0.#} s\n{Story()}");
        }
    }

    /// <summary>Runs a command that must succeed (exit code 0) and returns its output.</summary>
    public async Task<string> RunOkAsync(string command, TimeSpan? timeout = null)
    {
        var result = await RunAsync(command, timeout ?? TimeSpan.FromSeconds(30));
        return result.ExitCode == 0
            ? result.Output
            : throw new InvalidOperationException($"guest command `{command}` exited with {result.ExitCode}: {result.Output}");
    }

    /// <summary>
    /// Reboots the guest (busybox <c>reboot -f</c>: straight to the kernel, no shutdown) and waits
    /// until its command loop reads again. QEMU resets the machine and boots the same kernel and
    /// initramfs, so the guest comes back as at boot: eth0 up, no address. The vhost-user
    /// connection stays; the backend sees its device stopped and started again.
    /// </summary>
    public async Task RebootAsync(TimeSpan? timeout = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Task ready;
        lock (_lock)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the guest is gone\n{StoryLocked()}");
            }

            _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            ready = _ready.Task;

            // No waiter: the command never ends, the next ready marker is the answer.
            _process.StandardInput.Write("reboot reboot -f\n");
        }

        var limit = timeout ?? TimeSpan.FromSeconds(120);
        try
        {
            await ready.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"the guest did not come back within {limit.TotalSeconds:0} s of `reboot -f`\n{Story()}");
        }
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
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        _process.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private static List<string> Arguments(GuestFiles image, string socket, string mac) =>
    [
        "-accel", "tcg", "-m", "256",
        // No default devices (VGA, a user-mode NIC, a monitor): the serial console alone on stdio.
        "-nodefaults", "-nographic", "-serial", "stdio",
        "-kernel", image.Kernel, "-initrd", image.Initramfs, "-append", "console=ttyS0 quiet",
        // vhost-user under TCG: the backend maps guest memory, so it must be a shared memfd.
        "-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-numa", "node,memdev=mem",
        "-chardev", $"socket,id=c0,path={socket},reconnect=1",
        "-netdev", "vhost-user,id=n0,chardev=c0",
        // vectors=0: QEMU 7.2 under TCG crashes in msix_set_vector_notifiers at vhost start
        // otherwise. romfile= skips the iPXE option ROM, which only slows the boot down.
        "-device", $"virtio-net-pci,netdev=n0,mac={mac},vectors=0,romfile=",
    ];

    private void OnConsoleLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _console.Append(line).Append('\n');
            if (line.EndsWith(ReadyMarker, StringComparison.Ordinal))
            {
                // A (re)boot: commands still waiting were lost with the previous run of the loop.
                foreach (var lost in _waiting.Values)
                {
                    lost.TrySetException(new InvalidOperationException("the guest restarted before the command ended"));
                }

                _waiting.Clear();
                _pending.Clear();
                _ready.TrySetResult();
                return;
            }

            var end = EndMarker().Match(line);
            if (!end.Success)
            {
                _pending.Append(line).Append('\n');
                return;
            }

            // Trailing newlines go, as with $(…) in sh; among them is the one the guest prints
            // so that the marker starts a line.
            var output = _pending.ToString().TrimEnd('\n');
            _pending.Clear();
            if (_waiting.Remove(end.Groups[1].Value, out var waiter))
            {
                waiter.TrySetResult(new GuestResult(int.Parse(end.Groups[2].Value, CultureInfo.InvariantCulture), output));
            }
        }
    }

    private void OnStderrLine(string? line)
    {
        if (line is not null)
        {
            lock (_lock)
            {
                _stderr.Append(line).Append('\n');
            }
        }
    }

    private void OnExited()
    {
        List<TaskCompletionSource<GuestResult>> waiters;
        TaskCompletionSource ready;
        string story;
        lock (_lock)
        {
            waiters = [.. _waiting.Values];
            _waiting.Clear();
            ready = _ready;
            story = StoryLocked();
        }

        var gone = new InvalidOperationException($"qemu exited\n{story}");
        ready.TrySetException(gone);
        foreach (var waiter in waiters)
        {
            waiter.TrySetException(gone);
        }
    }

    private Task ReadyTask()
    {
        lock (_lock)
        {
            return _ready.Task;
        }
    }

    private string Story()
    {
        lock (_lock)
        {
            return StoryLocked();
        }
    }

    private string StoryLocked()
    {
        var console = _console.ToString();
        var tail = console.Length > 4000 ? console[^4000..] : console;
        return $"--- qemu stderr ---\n{_stderr}--- console (tail) ---\n{tail}";
    }

    [GeneratedRegex(@"@@BF-END (\S+) (\d+)@@$")]
    private static partial Regex EndMarker();
}

/// <summary>What a guest command did: its exit code and its stdout+stderr.</summary>
internal readonly record struct GuestResult(int ExitCode, string Output);
