using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Butterfly.TestKit;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>Start-up, shutdown and restart of real daemons (each test has its own).</summary>
public class LifecycleTests
{
    private static void AssertCleanedUp(DaemonProcess daemon)
    {
        Assert.Empty(Directory.GetFileSystemEntries(daemon.SocketDir));
        Assert.False(File.Exists(Path.Combine("/var/run/dpdk", daemon.FilePrefix, "mp_socket")), "DPDK's multi-process socket is removed");
        using var listener = new TcpListener(IPAddress.Loopback, daemon.Port);
        listener.Start(); // the API port is free again
    }

    [Fact]
    public async Task App_quit_replies_first_then_exits_0_and_cleans_up()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var api = daemon.CreateClient();
        ApiAssert.Ok(api.Call(Requests.NicAdd(Ids.New("q"))));

        ApiAssert.Ok(api.Call(Requests.AppQuit()));

        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        AssertCleanedUp(daemon);
    }

    [Fact]
    public async Task Sigterm_exits_0_and_leaves_no_sockets()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using (var api = daemon.CreateClient())
        {
            ApiAssert.Ok(api.Call(Requests.NicAdd(Ids.New("s"))));
            Assert.NotEmpty(Directory.GetFileSystemEntries(daemon.SocketDir));
        }

        Assert.Equal(0, await daemon.StopAsync());
        AssertCleanedUp(daemon);
        Assert.Contains("butterflyd stopping", daemon.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_killed_daemon_restarts_with_its_configuration_on_the_same_port()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        var nic = Ids.New("r");
        var sg = Ids.New("sg");
        string path;
        using (var api = daemon.CreateClient())
        {
            ApiAssert.Ok(api.Call(Requests.SgAdd(sg, ["10.0.0.1"])));
            path = ApiAssert.Ok(api.Call(Requests.NicAdd(nic, ips: ["10.0.0.2"], sgs: [sg]))).NicAdd.Path;
        }

        daemon.Kill();
        await daemon.RestartAsync();

        using var after = daemon.CreateClient();
        var details = Assert.Single(ApiAssert.Ok(after.Call(Requests.NicDetails(nic))).NicDetails);
        Assert.Equal(["10.0.0.2"], details.Ip);
        Assert.Equal([sg], details.SecurityGroup);
        Assert.Equal(["10.0.0.1"], after.Call(Requests.SgMemberList(sg)).SgMemberList);
        Assert.True(File.Exists(path), "the vhost-user socket is back before the API answers");
        Assert.Equal(0, await daemon.StopAsync());
    }

    [Fact]
    public async Task Sigint_also_stops_cleanly()
    {
        await using var daemon = await DaemonProcess.StartAsync();

        Assert.Equal(0, SendSignal(daemon.Pid, "INT"));

        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        AssertCleanedUp(daemon);
    }

    [Fact]
    public async Task A_busy_port_fails_the_start_with_one_line_and_exit_1()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;
        await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions
        {
            WaitUntilReady = false,
            ExtraArgs = ["-e", $"tcp://127.0.0.1:{port}"],
        });

        Assert.Equal(1, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains($"butterflyd: cannot bind the API endpoint tcp://127.0.0.1:{port}", daemon.StandardError, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine("/var/run/dpdk", daemon.FilePrefix)) && File.Exists(Path.Combine("/var/run/dpdk", daemon.FilePrefix, "mp_socket")));
    }

    [Theory]
    [InlineData(new[] { "-s", "/tmp" }, "butterflyd: no VXLAN endpoint address")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/tmp", "--bogus" }, "butterflyd: unknown option '--bogus'")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/tmp", "-c", "/nonexistent/butterflyd.ini" }, "butterflyd: cannot read configuration file '/nonexistent/butterflyd.ini'")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/tmp", "-k", "/nonexistent/key" }, "butterflyd: cannot read key file '/nonexistent/key'")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/tmp", "--no-syslog", "--event-store", "file:/proc/butterfly-events" }, "butterflyd: cannot open the event store 'file:/proc/butterfly-events'")]
    public async Task Bad_starts_print_one_line_and_exit_1(string[] args, string expected)
    {
        var (exit, stdout, stderr) = await RunButterflydAsync(args);

        Assert.Equal(1, exit);
        Assert.Empty(stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("butterflyd:", StringComparison.Ordinal)).ToList();
        Assert.StartsWith(expected, Assert.Single(lines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_file_of_the_wrong_size_is_refused()
    {
        var key = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(key, Convert.ToBase64String(new byte[16]));

            var (exit, _, stderr) = await RunButterflydAsync(["-i", "1.2.3.4", "-s", "/tmp", "-k", key]);

            Assert.Equal(1, exit);
            Assert.Contains("decodes to 16 bytes, expected 32", stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(key);
        }
    }

    [Fact]
    public async Task Version_and_help_print_to_stdout_and_exit_0()
    {
        var (exit, stdout, _) = await RunButterflydAsync(["-V"]);
        Assert.Equal(0, exit);
        Assert.Matches("^butterfly version: \"[^\"]+\" proto revision: \"6\" commit: \"[^\"]+\" date: \"[^\"]+\"\n$", stdout);

        (exit, stdout, _) = await RunButterflydAsync(["--help"]);
        Assert.Equal(0, exit);
        Assert.Contains("Example:", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dpdk_help_prints_the_eal_usage_and_exits_0()
    {
        var (exit, stdout, stderr) = await RunButterflydAsync(["--dpdk-help"]);

        Assert.Equal(0, exit);
        Assert.Contains("--file-prefix", stdout + stderr, StringComparison.Ordinal);
    }

    private static int SendSignal(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        return kill.ExitCode;
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunButterflydAsync(string[] args)
    {
        var info = new ProcessStartInfo(RepoPaths.Butterflyd, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
