using Butterfly.TestKit;

namespace Butterfly.Cli.Tests.Integration;

/// <summary>One real butterflyd shared by a test class; tests use their own ids.</summary>
public sealed class DaemonFixture : IAsyncLifetime
{
    public DaemonProcess Daemon { get; private set; } = null!;

    public CliRunner Cli => new(Daemon.Endpoint);

    public async Task InitializeAsync() => Daemon = await DaemonProcess.StartAsync();

    public Task DisposeAsync()
    {
        Daemon.Dispose();
        return Task.CompletedTask;
    }
}

internal static class CliAssert
{
    /// <summary>Runs the CLI and requires success, returning stdout.</summary>
    public static async Task<string> Ok(this CliRunner cli, params string[] args)
    {
        var r = await cli.RunAsync(args);
        Assert.True(r.ExitCode == 0, $"butterfly {string.Join(' ', args)}: {r}");
        Assert.Equal("", r.StandardError);
        return r.StandardOutput;
    }

    public static string[] Lines(this string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
