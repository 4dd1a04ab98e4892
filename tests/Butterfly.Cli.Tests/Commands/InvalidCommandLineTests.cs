using Butterfly.Cli.Tests.Support;

namespace Butterfly.Cli.Tests.Commands;

/// <summary>Every malformed command exits 1 with one clear line on stderr and sends nothing.</summary>
public class InvalidCommandLineTests
{
    public static TheoryData<string, string> Cases => new()
    {
        { "foo", "invalid subcommand 'foo'" },
        { "nic", "nic: missing subcommand" },
        { "nic foo", "invalid nic subcommand 'foo'" },
        { "nic list extra", "nic list: unexpected argument 'extra'" },
        { "nic details", "nic details: missing NIC" },
        { "nic details a b", "unexpected argument 'b'" },
        { "nic details --bogus", "unknown option --bogus" },
        { "nic stats", "nic stats: missing NIC" },
        { "nic add --mac m --vni 1", "nic add: missing --id" },
        { "nic add --id a --vni 1", "nic add: missing --mac" },
        { "nic add --id a --mac m", "nic add: missing --vni" },
        { "nic add --id a --mac m --vni x", "--vni: 'x' is not a VNI (0 to 16777215)" },
        { "nic add --id a --mac m --vni 16777216", "--vni: '16777216' is not a VNI" },
        { "nic add --id a --mac m --vni -1", "--vni: '-1' is not a VNI" },
        { "nic add --id a --mac m --vni 1 --type FOO", "--type must be VHOST_USER_SERVER, TAP or BENCH, not 'FOO'" },
        { "nic add --id a --mac m --vni 1 --packet-trace maybe", "--packet-trace must be true or false, not 'maybe'" },
        { "nic add --id a --mac m --vni 1 --trace-path /tmp/x", "--trace-path needs --packet-trace true" },
        { "nic add --id a --mac m --vni 1 --packet-trace false --trace-path /tmp/x", "--trace-path needs --packet-trace true" },
        { "nic add --id a --mac m --vni 1 --type TAP --btype ICMP_SND_LIKE", "--btype, --dip and --dmac are only for --type BENCH" },
        { "nic add --id a --mac m --vni 1 --type BENCH --btype PING", "--btype must be ICMP_SND_LIKE or ICMP_RCV_LIKE" },
        { "nic add --id a --mac m --vni 1 --id", "option --id needs a value" },
        { "nic add --id a --mac m --vni 1 --bogus", "nic add: unknown option --bogus" },
        { "nic add --id a --mac m --vni 1 stray", "nic add: unexpected argument 'stray'" },
        { "nic update --ip 1.2.3.4", "nic update: missing --id" },
        { "nic update --id a --enable-antispoof maybe", "--enable-antispoof must be true or false" },
        { "nic update --id a --ip -e --ip 1.2.3.4", "--ip -e clears the IPs and cannot be combined with other --ip" },
        { "nic update --id a --trace-path /x", "--trace-path needs --packet-trace true" },
        { "nic update --id a --sg x", "nic update: unknown option --sg" },
        { "nic del", "nic del: missing NIC" },
        { "nic del a --x", "nic del: unknown option --x" },
        { "nic sg", "nic sg: missing subcommand" },
        { "nic sg foo", "invalid nic sg subcommand 'foo'" },
        { "nic sg list", "nic sg list: missing NIC" },
        { "nic sg add nic1", "nic sg add: missing NIC and SG" },
        { "nic sg del nic1", "nic sg del: missing NIC and SG" },
        { "nic sg set", "nic sg set: missing NIC" },
        { "sg", "sg: missing subcommand" },
        { "sg foo", "invalid sg subcommand 'foo'" },
        { "sg list x", "sg list: unexpected argument 'x'" },
        { "sg add", "sg add: missing SG" },
        { "sg del", "sg del: missing SG" },
        { "sg rule", "sg rule: missing subcommand" },
        { "sg rule foo", "invalid sg rule subcommand 'foo'" },
        { "sg rule list", "sg rule list: missing SG" },
        { "sg rule add", "sg rule add: missing SG" },
        { "sg rule add s --cidr 1.2.3.4/32", "--ip-proto is mandatory" },
        { "sg rule add s --ip-proto tcp --cidr 0.0.0.0/0", "tcp and udp rules need --port or --port-start and --port-end" },
        { "sg rule add s --ip-proto udp --port-start 10 --port-end 5 --cidr 0.0.0.0/0", "port start 10 is greater than port end 5" },
        { "sg rule add s --ip-proto tcp --port 70000 --cidr 0.0.0.0/0", "--port: '70000' is not a port (0 to 65535)" },
        { "sg rule add s --ip-proto tcp --port-end 65536 --port-start 1 --cidr 0.0.0.0/0", "--port-end: '65536' is not a port" },
        { "sg rule add s --ip-proto tcp --port 1 --port-start 1 --cidr 0.0.0.0/0", "give either --port or --port-start/--port-end, not both" },
        { "sg rule add s --ip-proto tcp --port-start 1 --cidr 0.0.0.0/0", "--port-start and --port-end go together" },
        { "sg rule add s --ip-proto icmp --cidr 0.0.0.0/0 --sg-members t", "--cidr can't be set with --sg-members" },
        { "sg rule add s --ip-proto icmp", "you must set --cidr or --sg-members" },
        { "sg rule add s --ip-proto icmp --cidr 1.2.3.4", "--cidr must be ADDRESS/LENGTH" },
        { "sg rule add s --ip-proto icmp --cidr x/8", "--cidr must be ADDRESS/LENGTH" },
        { "sg rule add s --ip-proto icmp --cidr 1.2.3.4/33", "--cidr prefix length must be 0 to 32" },
        { "sg rule add s --ip-proto icmp --cidr ::/129", "--cidr prefix length must be 0 to 128" },
        { "sg rule add s --ip-proto icmp --dir up --cidr ::/0", "--dir must be in or out, not 'up'" },
        { "sg rule add s --ip-proto 256 --cidr ::/0", "--ip-proto must be tcp, udp, icmp, icmpv6, all or a number from 0 to 255, not '256'" },
        { "sg rule add s --ip-proto foo --cidr ::/0", "--ip-proto must be tcp, udp, icmp, icmpv6, all or a number" },
        { "sg rule del s", "sg rule del: missing RULE_ID or rule options" },
        { "sg rule del s --ip-proto udp --cidr 0.0.0.0/0", "tcp and udp rules need --port" },
        { "sg rule del s 0123456789abcdef extra", "sg rule del: unexpected argument 'extra'" },
        { "sg member", "sg member: missing subcommand" },
        { "sg member foo", "invalid sg member subcommand 'foo'" },
        { "sg member list", "sg member list: missing SG" },
        { "sg member add s", "sg member add: missing IP" },
        { "sg member del s", "sg member del: missing IP" },
        { "sg member add s 1.2.3.4 5.6.7.8", "unexpected argument '5.6.7.8'" },
        { "status now", "status: unexpected argument 'now'" },
        { "shutdown --force", "shutdown: unknown option --force" },
        { "request", "request: missing FILE" },
        { "request a b", "request: unexpected argument 'b'" },
        { "request a --bogus", "request: unknown option --bogus" },
        { "dump extra", "dump: unexpected argument 'extra'" },
        { "events --nic a --sg b", "give --nic or --sg, not both" },
        { "events --since yesterday", "events: --since: 'yesterday' is not a time" },
        { "events --until 2026-11-26", "events: --until: '2026-11-26' is not a time" },
        { "events --limit x", "--limit: 'x' is not a number of events" },
        { "events --bogus", "events: unknown option --bogus" },
        { "state", "state: missing --at TIME|SEQ" },
        { "state --at soon", "state: --at: 'soon' is not a time" },
        { "restore", "restore: missing --to TIME|SEQ" },
        { "restore --to -5x", "restore: --to: '-5x' is not a time" },
        { "restore --at 5", "restore: unknown option --at" },
        { "nic list -t abc", "-t: 'abc' is not a timeout in milliseconds" },
        { "nic list --timeout 0", "--timeout: '0' is not a timeout in milliseconds" },
        { "nic list -e", "option -e needs a value" },
        { "nic list --verbose=yes", "option --verbose takes no value" },
        { "sg add a +", "empty command before or after '+'" },
        { "+ sg add a", "empty command before or after '+'" },
        { "sg add a + + sg add b", "empty command before or after '+'" },
        { "sg add a + sg bogus", "invalid sg subcommand 'bogus'" },
        { "-v", "missing command" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Exits_1_with_one_line_and_sends_nothing(string line, string expected)
    {
        var result = Client.Run(line.Split(' '));
        Assert.Equal(1, result.Code);
        Assert.Contains(expected, result.Err, StringComparison.Ordinal);
        Assert.Equal(1, result.Err.Count(c => c == '\n'));
        Assert.Empty(result.Requests);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public void No_argument_prints_the_usage_on_stderr_and_fails()
    {
        var result = Client.Run();
        Assert.Equal(1, result.Code);
        Assert.StartsWith("usage: butterfly", result.Err, StringComparison.Ordinal);
    }
}
