using System.Diagnostics;

namespace Butterfly.EndToEnd.Tests.Vm;

/// <summary>
/// The kernel and initramfs QEMU guests boot, made by scripts/vm/build-guest.sh once per test
/// run (the script itself skips the work when its cache is up to date). The cache is
/// BUTTERFLY_VM_DIR when set, else /var/cache/butterfly-vm when writable, else
/// &lt;repo&gt;/build/vm (ignored by git).
/// </summary>
internal static class GuestImage
{
    private static readonly Lazy<Task<GuestFiles>> Built = new(BuildAsync);

    /// <summary>The built guest; a failed build fails every caller with the script's story.</summary>
    public static Task<GuestFiles> GetAsync() => Built.Value;

    private static async Task<GuestFiles> BuildAsync()
    {
        var root = TestKit.RepoPaths.RepoRoot;
        var dir = CacheDirectory(root);

        var psi = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(root, "scripts", "vm", "build-guest.sh"));
        psi.ArgumentList.Add(dir);

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("bash did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"build-guest.sh did not finish within 5 minutes: {await stderr}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"build-guest.sh {dir} failed with exit code {process.ExitCode}: {await stderr}");
        }

        var lines = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 2 && File.Exists(lines[0]) && File.Exists(lines[1])
            ? new GuestFiles(lines[0], lines[1])
            : throw new InvalidOperationException($"build-guest.sh printed no kernel/initramfs paths: {await stdout}");
    }

    // scripts/test.sh starts from an empty build/, so a cache there would cost CI a 70 MB kernel
    // download per run; /var/cache outlives it when the tests run as root (they do: DPDK).
    private static string CacheDirectory(string repoRoot)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("BUTTERFLY_VM_DIR");
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return fromEnvironment;
        }

        const string shared = "/var/cache/butterfly-vm";
        try
        {
            Directory.CreateDirectory(shared);
            var probe = Path.Combine(shared, ".writable");
            File.WriteAllText(probe, string.Empty);
            return shared;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Path.Combine(repoRoot, "build", "vm");
        }
    }
}

/// <summary>The two files QEMU is given with -kernel and -initrd.</summary>
internal sealed record GuestFiles(string Kernel, string Initramfs);
