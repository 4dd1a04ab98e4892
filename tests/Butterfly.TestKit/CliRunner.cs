using System.Diagnostics;

namespace Butterfly.TestKit;

/// <summary>What a run of the butterfly CLI produced.</summary>
public sealed record CliResult(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{StandardOutput}\nstderr:\n{StandardError}";
}

/// <summary>
/// Runs the built <c>butterfly</c> client (same configuration as the tests) against an
/// endpoint: <c>-e ENDPOINT</c> (and <c>-k KEY</c>) are put in front of the arguments.
/// </summary>
public sealed class CliRunner(string? endpoint = null, string? keyFile = null)
{
    public static string ExecutablePath => RepoPaths.Butterfly;

    /// <summary>Runs with the given arguments; stdin is closed (or fed <paramref name="stdin"/>). Kills on timeout.</summary>
    public async Task<CliResult> RunAsync(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(ExecutablePath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (endpoint is not null)
        {
            info.ArgumentList.Add("-e");
            info.ArgumentList.Add(endpoint);
        }

        if (keyFile is not null)
        {
            info.ArgumentList.Add("-k");
            info.ArgumentList.Add(keyFile);
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {ExecutablePath}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"butterfly {string.Join(' ', info.ArgumentList)} did not finish within {limit.TotalSeconds:0.#} s");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    public Task<CliResult> RunAsync(params string[] args) => RunAsync((IEnumerable<string>)args);
}
