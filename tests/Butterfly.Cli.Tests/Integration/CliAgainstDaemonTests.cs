using Butterfly.Cli.Rules;
using Butterfly.TestKit;
using Butterfly.Wire;

namespace Butterfly.Cli.Tests.Integration;

/// <summary>Every command of the client against a real butterflyd, through the built binary.</summary>
[Trait("Category", "Integration")]
public class CliAgainstDaemonTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private CliRunner Cli => fixture.Cli;

    [Fact]
    public async Task Security_group_commands()
    {
        await Cli.Ok("sg", "add", "it-a", "it-b");
        Assert.Contains("it-a", (await Cli.Ok("sg", "list")).Lines());
        await Cli.Ok("sg", "rule", "add", "it-a", "--ip-proto", "tcp", "--port", "22", "--cidr", "0.0.0.0/0");
        await Cli.Ok("sg", "rule", "add", "it-a", "--dir", "in", "--ip-proto", "udp", "--port-start", "53", "--port-end", "54", "--sg-members", "it-b");
        await Cli.Ok("sg", "rule", "add", "it-a", "--ip-proto", "icmp", "--cidr", "10.0.0.0/8");
        var rules = (await Cli.Ok("sg", "rule", "list", "it-a")).Lines();
        Assert.Equal(3, rules.Length);
        Assert.Contains("53938368015a2a6d | direction: INBOUND - IP protocol: 6 - port start: 22 - port end: 22 - cidr: 0.0.0.0/0 - members of sg: Ø", rules);

        var udpId = rules.Single(l => l.Contains("IP protocol: 17", StringComparison.Ordinal))[..16];
        await Cli.Ok("sg", "rule", "del", "it-a", udpId);
        await Cli.Ok("sg", "rule", "del", "it-a", "--ip-proto", "icmp", "--cidr", "10.0.0.0/8");
        Assert.Equal(["53938368015a2a6d"], (await Cli.Ok("sg", "rule", "list", "it-a")).Lines().Select(l => l[..16]));
        var missing = await Cli.RunAsync("sg", "rule", "del", "it-a", udpId);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no rule found with id " + udpId, missing.StandardError, StringComparison.Ordinal);

        await Cli.Ok("sg", "member", "add", "it-a", "10.1.0.1");
        await Cli.Ok("sg", "member", "add", "it-a", "2001:db8::1");
        Assert.Equal(["10.1.0.1", "2001:db8::1"], (await Cli.Ok("sg", "member", "list", "it-a")).Lines());
        await Cli.Ok("sg", "member", "del", "it-a", "10.1.0.1");
        Assert.Equal(["2001:db8::1"], (await Cli.Ok("sg", "member", "list", "it-a")).Lines());

        await Cli.Ok("sg", "del", "it-a", "it-b");
        Assert.DoesNotContain("it-a", (await Cli.Ok("sg", "list")).Lines());
    }

    [Fact]
    public async Task Rules_with_host_bits_keep_their_text_and_their_id()
    {
        await Cli.Ok("sg", "rule", "add", "it-h", "--ip-proto", "icmp", "--cidr", "10.1.2.3/8");
        await Cli.Ok("sg", "rule", "add", "it-h", "--ip-proto", "icmp", "--cidr", "10.0.0.0/8");
        await Cli.Ok("sg", "rule", "add", "it-h", "--ip-proto", "icmp", "--cidr", "2001:db8:0:85a3::ac1f:8001/8");
        var hostBits = IcmpRule("10.1.2.3", 8);
        var network = IcmpRule("10.0.0.0", 8);
        var v6 = IcmpRule("2001:db8:0:85a3::ac1f:8001", 8);

        // Listed as given, each with the id the original client computes from that text.
        Assert.Equal([RuleLine.Format(hostBits), RuleLine.Format(network), RuleLine.Format(v6)], (await Cli.Ok("sg", "rule", "list", "it-h")).Lines());
        Assert.Contains(" - cidr: 10.1.2.3/8 - ", RuleLine.Format(hostBits), StringComparison.Ordinal);
        Assert.NotEqual(RuleId.Of(hostBits), RuleId.Of(network));

        await Cli.Ok("sg", "rule", "del", "it-h", RuleId.Of(hostBits));
        await Cli.Ok("sg", "rule", "del", "it-h", RuleId.Of(v6));
        Assert.Equal([RuleLine.Format(network)], (await Cli.Ok("sg", "rule", "list", "it-h")).Lines());
        await Cli.Ok("sg", "del", "it-h");
    }

    private static MessageV0.Types.Rule IcmpRule(string address, uint mask) => new()
    {
        Direction = MessageV0.Types.Rule.Types.Direction.Inbound,
        Protocol = 1,
        Cidr = new MessageV0.Types.Cidr { Address = address, MaskSize = mask },
    };

    [Fact]
    public async Task Nic_commands()
    {
        var path = (await Cli.Ok("nic", "add", "--id", "it-n1", "--mac", "52:54:00:00:10:01", "--vni", "77", "--ip", "10.9.0.1", "--sg", "s1", "--enable-antispoof")).Trim();
        Assert.EndsWith("it-n1", path, StringComparison.Ordinal);
        Assert.Contains("it-n1", (await Cli.Ok("nic", "list")).Lines());
        var details = await Cli.Ok("nic", "details", "it-n1");
        Assert.StartsWith("id: it-n1\nmac: 52:54:00:00:10:01\nvni: 77\nip: 10.9.0.1\nantispoof: true\n", details, StringComparison.Ordinal);
        Assert.Matches("^in: [0-9]+\nout: [0-9]+\n$", await Cli.Ok("nic", "stats", "it-n1"));
        Assert.Matches("^in: [0-9]+\nout: [0-9]+\npackets in: [0-9]+\npackets out: [0-9]+\ndrops: [0-9]+\n(drop [a-z_]+: [0-9]+\n)*$",
            await Cli.Ok("nic", "stats", "it-n1", "--all"));
        await Cli.Ok("nic", "update", "--id", "it-n1", "--bypass-filtering", "true");
        Assert.Contains("bypass filtering: true\n", await Cli.Ok("nic", "details", "it-n1"), StringComparison.Ordinal);
        await Cli.Ok("nic", "update", "--id", "it-n1", "--bypass-filtering", "false");

        await Cli.Ok("nic", "update", "--id", "it-n1", "--ip", "10.9.0.2", "--ip", "2001:db8::2");
        Assert.Contains("ip: 10.9.0.2\nip: 2001:db8::2\n", await Cli.Ok("nic", "details", "it-n1"), StringComparison.Ordinal);
        await Cli.Ok("nic", "update", "--id", "it-n1", "--ip", "-e");
        Assert.DoesNotContain("ip: ", await Cli.Ok("nic", "details", "it-n1"), StringComparison.Ordinal);

        await Cli.Ok("nic", "sg", "add", "it-n1", "s2", "s3");
        Assert.Equal(["s1", "s2", "s3"], (await Cli.Ok("nic", "sg", "list", "it-n1")).Lines());
        await Cli.Ok("nic", "sg", "del", "it-n1", "s2");
        Assert.Equal(["s1", "s3"], (await Cli.Ok("nic", "sg", "list", "it-n1")).Lines());
        await Cli.Ok("nic", "sg", "del", "it-n1", "s1", "s3");
        Assert.Empty((await Cli.Ok("nic", "sg", "list", "it-n1")).Lines());
        await Cli.Ok("nic", "sg", "set", "it-n1", "x", "y");
        Assert.Equal(["x", "y"], (await Cli.Ok("nic", "sg", "list", "it-n1")).Lines());
        await Cli.Ok("nic", "sg", "set", "it-n1");
        Assert.Empty((await Cli.Ok("nic", "sg", "list", "it-n1")).Lines());

        await Cli.Ok("nic", "del", "it-n1");
        Assert.DoesNotContain("it-n1", (await Cli.Ok("nic", "list")).Lines());
        var gone = await Cli.RunAsync("nic", "details", "it-n1");
        Assert.Equal(1, gone.ExitCode);
        Assert.StartsWith("error in response\ndescription: ", gone.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_errors_exit_1_with_the_description()
    {
        var r = await Cli.RunAsync("nic", "add", "--id", "it-bad", "--mac", "not-a-mac", "--vni", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error in response\ndescription: ", r.StandardError, StringComparison.Ordinal);
        Assert.Contains("mac", r.StandardError, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Chain_stops_at_the_first_failure()
    {
        var r = await Cli.RunAsync("sg", "add", "it-c1", "+", "nic", "details", "it-missing", "+", "sg", "add", "it-c2");
        Assert.Equal(1, r.ExitCode);
        var groups = (await Cli.Ok("sg", "list")).Lines();
        Assert.Contains("it-c1", groups);
        Assert.DoesNotContain("it-c2", groups);
        await Cli.Ok("sg", "del", "it-c1");
    }

    [Fact]
    public async Task Status_dataplane_prints_the_packet_threads_figures_in_text_and_json()
    {
        var stats = await Cli.Ok("status", "dataplane", "--clear");
        Assert.Matches("^packet thread: lcore [0-9]+, (cpu [0-9]+|not pinned)\nmeasured: [0-9.]+ s, TSC [1-9][0-9]* Hz\nrounds: [1-9][0-9]* \\(busy: [0-9]+\\)\n", stats);
        Assert.Contains("\navg cycles per packet: ", stats, StringComparison.Ordinal);
        Assert.Matches("\nlongest stall: ((<|>=) [0-9.]+ (µs|ms) \\(rounds >= 1.049 ms: [0-9]+, >= 8.389 ms: [0-9]+\\)|none measured)\n", stats);

        using var json = System.Text.Json.JsonDocument.Parse(await Cli.Ok("status", "dataplane", "--json"));
        Assert.True(json.RootElement.GetProperty("rounds").GetUInt64() > 0);
        // The live thread's histogram has its 24 entries (an idle thread sleeps every round, so
        // they may all be zero: sleeping is not stalling).
        Assert.Equal(24, json.RootElement.GetProperty("poll_gaps").GetArrayLength());
    }

    [Fact]
    public async Task Status_and_request_with_stdout()
    {
        var status = await Cli.Ok("status");
        Assert.Matches("^start date: [0-9]+\ncurrent date: [0-9]+\nrequest counter: [0-9]+\n", status);

        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "messages { revision: 6 message_0 { message_id: \"r1\" request { sg_add { id: \"it-r\" member: \"10.2.0.1\" } } } }\n" +
                                    "messages { revision: 6 message_0 { request { sg_member_list: \"it-r\" } } }\n");
            var reply = await Cli.Ok("request", file, "--stdout");
            Assert.Contains("message_id: \"r1\"", reply, StringComparison.Ordinal);
            Assert.Contains("sg_member_list: \"10.2.0.1\"", reply, StringComparison.Ordinal);
            Assert.Equal("", await Cli.Ok("request", file));
        }
        finally
        {
            File.Delete(file);
        }
        await Cli.Ok("sg", "del", "it-r");
    }

    [Fact]
    public async Task Events_state_and_restore_round_trip()
    {
        await Cli.Ok("nic", "add", "--id", "it-ev", "--mac", "52:54:00:00:20:01", "--vni", "9", "--ip", "10.8.0.1");
        var events = (await Cli.Ok("events", "--nic", "it-ev")).Lines();
        var added = events.Last(l => l.Contains(" NicAdded nic/it-ev ", StringComparison.Ordinal));
        var seq = added[..added.IndexOf(' ', StringComparison.Ordinal)];

        await Cli.Ok("nic", "del", "it-ev");
        Assert.DoesNotContain("it-ev", (await Cli.Ok("nic", "list")).Lines());
        Assert.Contains(" NicRemoved nic/it-ev ", await Cli.Ok("events", "--nic", "it-ev", "--since", seq), StringComparison.Ordinal);
        Assert.Contains("\"sequence\"", await Cli.Ok("events", "--nic", "it-ev", "--json", "--limit", "1"), StringComparison.Ordinal);

        var state = await Cli.Ok("state", "--at", seq);
        // The daemon's host id is the host name (no --host-id given).
        Assert.StartsWith($"# state of host {System.Net.Dns.GetHostName()} at sequence {seq} ", state, StringComparison.Ordinal);
        Assert.Contains("id: \"it-ev\"", state, StringComparison.Ordinal);
        Assert.Contains("\"it-ev\"", await Cli.Ok("state", "--at", seq, "--json"), StringComparison.Ordinal);

        Assert.StartsWith($"restored to sequence {seq}: ", await Cli.Ok("restore", "--to", seq), StringComparison.Ordinal);
        Assert.Contains("it-ev", (await Cli.Ok("nic", "list")).Lines());
        Assert.Contains("ip: 10.8.0.1", await Cli.Ok("nic", "details", "it-ev"), StringComparison.Ordinal);
        await Cli.Ok("nic", "del", "it-ev");
    }
}
