using System.Diagnostics;
using Butterfly.TestKit;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>
/// Signals as operators and test harnesses send them: SIGINT stops a daemon that a
/// non-interactive script started in the background (it inherits SIGINT ignored), and SIGHUP
/// reloads the log level from the INI file without stopping the daemon, also one started under
/// nohup (it inherits SIGHUP ignored).
/// </summary>
public sealed class SignalTests
{
    private static async Task SignalAsync(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    [Theory]
    [InlineData("INT")]
    [InlineData("QUIT")]
    public async Task A_daemon_started_with_the_signal_ignored_still_stops_cleanly_on_it(string signal)
    {
        await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions { SigintIgnoredAtStart = true });
        Assert.Contains("were inherited ignored", daemon.StandardError, StringComparison.Ordinal);
        using (var api = daemon.CreateClient())
        {
            ApiAssert.Ok(api.Call(Requests.NicAdd(Ids.New("sig"))));
        }

        await SignalAsync(daemon.Pid, signal);
        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("butterflyd stopping", daemon.StandardError, StringComparison.Ordinal);
        Assert.False(Directory.Exists($"/var/run/dpdk/{daemon.FilePrefix}"), "DPDK's runtime directory was left behind");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // started under nohup: SIGHUP inherited ignored
    public async Task SIGHUP_reloads_the_log_level_from_the_configuration_file_and_the_daemon_keeps_serving(bool ignoredAtStart)
    {
        var ini = Path.Combine(Path.GetTempPath(), $"bft-hup-{Guid.NewGuid():N}.ini");
        await File.WriteAllTextAsync(ini, "[general]\nlog-level = error\n");
        try
        {
            await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions { LogLevel = null, ExtraArgs = ["-c", ini], SighupIgnoredAtStart = ignoredAtStart });
            using var api = daemon.CreateClient();
            ApiAssert.Ok(api.Call(Requests.NicList()));
            Assert.DoesNotContain("nic_list from", daemon.StandardError, StringComparison.Ordinal);

            // A SIGHUP with nothing changed, then one with debug: the daemon survives both.
            await SignalAsync(daemon.Pid, "HUP");
            await File.WriteAllTextAsync(ini, "[general]\nlog-level = info\n");
            await SignalAsync(daemon.Pid, "HUP");
            var watch = Stopwatch.StartNew();
            while (!daemon.StandardError.Contains("SIGHUP: log level set to info", StringComparison.Ordinal))
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "the reload was not logged:\n" + daemon.StandardError);
                await Task.Delay(50);
            }
            ApiAssert.Ok(api.Call(Requests.NicList()));
            Assert.False(daemon.HasExited);
            // The request is logged before its reply leaves, but the daemon's stderr reaches this
            // process through a pipe and a reader thread: the line may come just after the reply.
            watch.Restart();
            while (!daemon.StandardError.Contains("nic_list from", StringComparison.Ordinal))
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "the request was not logged at info:\n" + daemon.StandardError);
                await Task.Delay(50);
            }
        }
        finally
        {
            File.Delete(ini);
        }
    }
}
