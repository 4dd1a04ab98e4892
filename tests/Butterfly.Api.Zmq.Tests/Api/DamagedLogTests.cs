using System.Diagnostics;
using Butterfly.TestKit;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>
/// A damaged file log as an operator meets it: butterflyd refuses to start with one line that
/// says where and what to do, changing nothing; butterflyd --repair-log shows the plan, --yes
/// applies it, and the daemon then starts with every intact record.
/// </summary>
public sealed class DamagedLogTests
{
    private static async Task<(int Exit, string Output)> RunAsync(params string[] args)
    {
        var info = new ProcessStartInfo(RepoPaths.Butterflyd) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await errors);
    }

    [Fact]
    public async Task A_damaged_log_stops_the_start_with_one_line_and_the_repair_command_brings_back_every_intact_record()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using (var api = daemon.CreateClient())
        {
            ApiAssert.Ok(api.Call(Requests.SgAdd("web-a")));
            ApiAssert.Ok(api.Call(Requests.SgAdd("web-b")));
            ApiAssert.Ok(api.Call(Requests.SgAdd("web-c")));
        }
        Assert.Equal(0, await daemon.StopAsync());
        var directory = daemon.EventStore["file:".Length..];
        var segment = Directory.GetFiles(directory, "events-*.log").Single();
        var bytes = await File.ReadAllBytesAsync(segment);
        // The second record: after the segment header (24) and the first record.
        var second = 24 + (bytes.Length - 24) / 3;
        bytes[second + 60] ^= 0x08;
        await File.WriteAllBytesAsync(segment, bytes);

        await using var refused = await DaemonProcess.StartAsync(new DaemonStartOptions { EventStore = daemon.EventStore, WaitUntilReady = false });
        Assert.Equal(1, await refused.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var line = refused.StandardError.Split('\n').Single(l => l.StartsWith("butterflyd: ", StringComparison.Ordinal));
        Assert.Contains("is damaged", line, StringComparison.Ordinal);
        Assert.Contains("--repair-log", line, StringComparison.Ordinal);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(segment));

        var (dryExit, plan) = await RunAsync("--repair-log", "--event-store", daemon.EventStore);
        Assert.Equal(1, dryExit);
        Assert.Contains("lose sequence 2", plan, StringComparison.Ordinal);
        Assert.Contains("nothing was changed", plan, StringComparison.Ordinal);
        var (exit, done) = await RunAsync("--repair-log", "--yes", "--event-store", daemon.EventStore);
        Assert.Equal(0, exit);
        Assert.Contains("repaired", done, StringComparison.Ordinal);
        Assert.Single(Directory.GetDirectories(directory, "damaged-*"));

        await using var repaired = await DaemonProcess.StartAsync(new DaemonStartOptions { EventStore = daemon.EventStore });
        using var after = repaired.CreateClient();
        Assert.Equal(["web-a", "web-c"], ApiAssert.Ok(after.Call(Requests.SgList())).SgList);
    }
}
