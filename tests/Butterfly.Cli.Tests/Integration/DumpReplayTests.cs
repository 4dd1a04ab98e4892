using Butterfly.TestKit;

namespace Butterfly.Cli.Tests.Integration;

/// <summary><c>dump</c>, then <c>request</c> of that dump on a fresh daemon, rebuilds the same configuration.</summary>
[Trait("Category", "Integration")]
public class DumpReplayTests
{
    [Fact]
    public async Task Dump_replayed_on_a_fresh_daemon_dumps_the_same()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        var cli = new CliRunner(daemon.Endpoint);
        await cli.Ok("sg", "add", "d-web", "d-db");
        await cli.Ok("sg", "rule", "add", "d-web", "--ip-proto", "tcp", "--port", "443", "--cidr", "0.0.0.0/0");
        await cli.Ok("sg", "rule", "add", "d-db", "--ip-proto", "tcp", "--port-start", "5432", "--port-end", "5433", "--sg-members", "d-web");
        await cli.Ok("sg", "rule", "add", "d-db", "--dir", "out", "--ip-proto", "all", "--cidr", "2001:db8::/32");
        await cli.Ok("sg", "member", "add", "d-web", "10.3.0.1");
        await cli.Ok("nic", "add", "--id", "d-vm1", "--mac", "52:54:00:00:30:01", "--vni", "12", "--ip", "10.3.0.1", "--ip", "2001:db8::31", "--sg", "d-web", "--enable-antispoof");
        await cli.Ok("nic", "add", "--id", "d-vm2", "--mac", "52:54:00:00:30:02", "--vni", "12", "--sg", "d-db", "--sg", "d-web", "--bypass-filtering", "--packet-trace", "false");
        await cli.Ok("nic", "add", "--id", "d-tap", "--mac", "52:54:00:00:30:03", "--vni", "13", "--type", "TAP", "--ip", "10.4.0.1");
        var dump = await cli.Ok("dump");
        Assert.Contains("type: TAP", dump, StringComparison.Ordinal);
        Assert.Contains("sg_add", dump, StringComparison.Ordinal);
        Assert.True(dump.IndexOf("sg_add", StringComparison.Ordinal) < dump.IndexOf("nic_add", StringComparison.Ordinal));

        // A fresh daemon on the same socket directory (NIC paths are part of the dump):
        // same process settings, an empty event log.
        daemon.Kill();
        Directory.Delete(daemon.EventStore["file:".Length..], recursive: true);
        await daemon.RestartAsync();
        Assert.Empty((await cli.Ok("nic", "list")).Lines());
        Assert.Empty((await cli.Ok("sg", "list")).Lines());

        var file = Path.Combine(daemon.WorkDir, "dump.txt");
        File.WriteAllText(file, dump);
        await cli.Ok("request", file);
        Assert.Equal(dump, await cli.Ok("dump"));
    }
}
