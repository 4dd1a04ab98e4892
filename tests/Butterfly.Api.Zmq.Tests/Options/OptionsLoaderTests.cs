using Butterfly.Api.Zmq.Options;

namespace Butterfly.Api.Zmq.Tests.Options;

public class OptionsLoaderTests
{
    private static readonly string[] Required = ["-i", "10.0.0.1", "-s", "/run/bf"];

    private static LoadedOptions Load(params string[] args) => OptionsLoader.Load(args, _ => throw new FileNotFoundException("no such file"));

    private static LoadedOptions LoadWithIni(string ini, params string[] args) =>
        OptionsLoader.Load(["-c", "b.ini", .. args], path => path == "b.ini" ? ini : throw new FileNotFoundException("no such file"));

    private static DaemonOptions Run(LoadedOptions loaded)
    {
        Assert.True(loaded.Action == StartupAction.Run, loaded.Error);
        return loaded.Options!;
    }

    private static string Failure(LoadedOptions loaded)
    {
        Assert.Equal(StartupAction.Fail, loaded.Action);
        Assert.NotNull(loaded.Error);
        Assert.DoesNotContain('\n', loaded.Error);
        return loaded.Error;
    }

    [Fact]
    public void Defaults_are_those_of_the_spec()
    {
        var o = Run(Load(Required));

        Assert.Equal("10.0.0.1", o.Ip);
        Assert.Equal("/run/bf", o.SocketDir);
        Assert.Equal("tcp://0.0.0.0:9999", o.Endpoint);
        Assert.Equal("error", o.LogLevel);
        Assert.Equal("file:/var/lib/butterfly/events", o.EventStore);
        Assert.False(o.NoSyslog);
        Assert.False(o.PacketTrace);
        Assert.False(o.NoOffload);
        Assert.Equal(0, o.GraphCpuCore);
        Assert.Equal(-10, o.GraphNice);
        Assert.Equal(0, o.DpdkPort);
        Assert.Null(o.NicMtu);
        Assert.Null(o.DpdkArgs);
        Assert.Null(o.KeyFile);
        Assert.Null(o.ConfigFile);
    }

    [Fact]
    public void Every_long_option_is_read()
    {
        var o = Run(Load(
            "--ip", "2001:0db8::0001", "--socket-dir", "/s", "--endpoint", "tcp://127.0.0.1:8765", "--log-level", "debug",
            "--no-syslog", "--graph-cpu-core", "3", "--graph-nice", "-5", "--packet-trace", "--dpdk-args", "-l 0 --no-pci", "--dpdk-port", "2",
            "--nic-mtu", "9000", "--no-offload", "--key", "/k", "--event-store", "postgres://bf@localhost/bf"));

        Assert.Equal("2001:db8::1", o.Ip);
        Assert.Equal("/s", o.SocketDir);
        Assert.Equal("tcp://127.0.0.1:8765", o.Endpoint);
        Assert.Equal("debug", o.LogLevel);
        Assert.True(o.NoSyslog);
        Assert.Equal(3, o.GraphCpuCore);
        Assert.Equal(-5, o.GraphNice);
        Assert.True(o.PacketTrace);
        Assert.Equal("-l 0 --no-pci", o.DpdkArgs);
        Assert.Equal(2, o.DpdkPort);
        Assert.Equal("9000", o.NicMtu);
        Assert.True(o.NoOffload);
        Assert.Equal("/k", o.KeyFile);
        Assert.Equal("postgres://bf@localhost/bf", o.EventStore);
    }

    [Fact]
    public void Short_options_equals_forms_and_grouped_flags_are_read()
    {
        var o = Run(Load("-i1.2.3.4", "-s", "/s", "-e", "tcp://*:1", "-l", "info", "-u2", "-t", "-m", "max", "-k", "/k", "--dpdk-port=4", "--event-store=file:/e"));

        Assert.Equal("1.2.3.4", o.Ip);
        Assert.Equal("tcp://*:1", o.Endpoint);
        Assert.Equal("info", o.LogLevel);
        Assert.Equal(2, o.GraphCpuCore);
        Assert.True(o.PacketTrace);
        Assert.Equal("max", o.NicMtu);
        Assert.Equal(4, o.DpdkPort);
        Assert.Equal("file:/e", o.EventStore);
    }

    [Fact]
    public void The_last_occurrence_of_an_option_wins()
    {
        Assert.Equal("warning", Run(Load([.. Required, "-l", "debug", "--log-level", "warning"])).LogLevel);
    }

    [Theory]
    [InlineData("-h")]
    [InlineData("--help")]
    public void Help_needs_no_other_option(string arg) => Assert.Equal(StartupAction.ShowHelp, Load(arg).Action);

    [Theory]
    [InlineData("-V")]
    [InlineData("--version")]
    public void Version_needs_no_other_option(string arg) => Assert.Equal(StartupAction.ShowVersion, Load(arg).Action);

    [Fact]
    public void Dpdk_help_needs_no_other_option() => Assert.Equal(StartupAction.ShowDpdkHelp, Load("--dpdk-help").Action);

    [Fact]
    public void Help_wins_over_a_missing_required_option_but_not_over_an_unknown_one()
    {
        Assert.Equal(StartupAction.ShowHelp, Load("-s", "/s", "-h").Action);
        Assert.Equal(StartupAction.Fail, Load("--frobnicate", "-h").Action);
    }

    [Theory]
    [InlineData(new[] { "-s", "/s" }, "no VXLAN endpoint address: give -i/--ip IP")]
    [InlineData(new[] { "-i", "1.2.3.4" }, "no socket directory: give -s/--socket-dir DIR")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "--frobnicate" }, "unknown option '--frobnicate'")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-x" }, "unknown option '-x'")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "extra" }, "unexpected argument 'extra'")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "--", "extra" }, "unexpected argument 'extra'")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s" }, "option -s/--socket-dir needs a value (DIR)")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "--dpdk-args" }, "option --dpdk-args needs a value")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "--no-syslog=yes" }, "option --no-syslog takes no value")]
    [InlineData(new[] { "-i", "1.2.3.4.5", "-s", "/s" }, "-i/--ip: '1.2.3.4.5' is not an IPv4 or IPv6 address")]
    [InlineData(new[] { "-i", "7", "-s", "/s" }, "-i/--ip: '7' is not an IPv4 or IPv6 address")]
    [InlineData(new[] { "-i", "host.example", "-s", "/s" }, "is not an IPv4 or IPv6 address")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-l", "verbose" }, "-l/--log-level: unknown log level 'verbose' (use none, error, warning, info, debug)")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-u", "-1" }, "-u/--graph-cpu-core: '-1' is not a CPU number")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-u", "one" }, "-u/--graph-cpu-core: 'one' is not a CPU number")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "--graph-nice", "20" }, "--graph-nice: '20' is not a nice value (-20..19)")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "--graph-nice", "-21" }, "--graph-nice: '-21' is not a nice value (-20..19)")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "--graph-nice", "high" }, "--graph-nice: 'high' is not a nice value (-20..19)")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "--dpdk-port", "70000" }, "--dpdk-port: '70000' is not a DPDK port number")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-m", "12" }, "-m/--nic-mtu: '12' is not an MTU (68..65535 or 'max')")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-m", "big" }, "is not an MTU")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-e", "ipc:///tmp/bf" }, "ipc:// is not offered")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-e", "udp://1.2.3.4:5" }, "expected tcp://HOST:PORT")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-e", "tcp://1.2.3.4" }, "expected tcp://HOST:PORT")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-e", "tcp://1.2.3.4:0" }, "port '0' is not a number between 1 and 65535")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-e", "tcp://1.2.3.4:http" }, "port 'http' is not a number")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-e", "tcp://a b:1" }, "host 'a b' is not")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "--event-store", " " }, "--event-store: expected an event store")]
    [InlineData(new[] { "-i", "1.2.3.4", "-s", "/s", "-k", "" }, "-k/--key: expected a key file path")]
    public void Bad_arguments_give_one_clear_line(string[] args, string expected)
    {
        Assert.Contains(expected, Failure(Load(args)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tcp://0.0.0.0:9999")]
    [InlineData("tcp://*:9999")]
    [InlineData("tcp://[::1]:9999")]
    [InlineData("tcp://localhost:1")]
    [InlineData("tcp://eth0:65535")]
    public void Good_endpoints_are_accepted(string endpoint) => Assert.Null(OptionsLoader.EndpointProblem(endpoint));

    [Fact]
    public void Dpdk_args_may_start_with_a_dash_and_blank_ones_mean_the_defaults()
    {
        Assert.Equal("--no-huge -m 512", Run(Load([.. Required, "--dpdk-args", "--no-huge -m 512"])).DpdkArgs);
        Assert.Null(Run(Load([.. Required, "--dpdk-args", "  "])).DpdkArgs);
    }

    [Fact]
    public void Every_ini_key_is_read()
    {
        const string Ini = """
            ; Butterfly configuration
            [general]
            log-level = info
            ip=42.0.0.1
            endpoint = tcp://127.0.0.1:8765
            socket-dir = /var/butterfly
            graph-core-id = 1
            dpdk-args = "--no-huge -m 1024"
            nic-mtu = max
            dpdk-port = 1
            event-store = file:/srv/events
            # the key
            [security]
            encryption_key_path = /etc/butterfly/key
            """;

        var o = Run(LoadWithIni(Ini));

        Assert.Equal("info", o.LogLevel);
        Assert.Equal("42.0.0.1", o.Ip);
        Assert.Equal("tcp://127.0.0.1:8765", o.Endpoint);
        Assert.Equal("/var/butterfly", o.SocketDir);
        Assert.Equal(1, o.GraphCpuCore);
        Assert.Equal("--no-huge -m 1024", o.DpdkArgs);
        Assert.Equal("max", o.NicMtu);
        Assert.Equal(1, o.DpdkPort);
        Assert.Equal("file:/srv/events", o.EventStore);
        Assert.Equal("/etc/butterfly/key", o.KeyFile);
        Assert.Equal("b.ini", o.ConfigFile);
    }

    [Fact]
    public void The_command_line_wins_over_the_ini_file()
    {
        const string Ini = "[general]\nip=42.0.0.1\nsocket-dir=/a\nlog-level=debug\nendpoint=tcp://*:1\n";

        var o = Run(LoadWithIni(Ini, "-i", "10.9.8.7", "-l", "warning"));

        Assert.Equal("10.9.8.7", o.Ip);
        Assert.Equal("warning", o.LogLevel);
        Assert.Equal("/a", o.SocketDir);
        Assert.Equal("tcp://*:1", o.Endpoint);
    }

    [Fact]
    public void Ini_sections_and_keys_are_case_insensitive_and_the_sample_files_key_is_an_alias()
    {
        var o = Run(LoadWithIni("[GENERAL]\nIP=1.1.1.1\nSocket-Dir=/x\ngraph-cpu-core=5\nGraph-Nice=0\n"));

        Assert.Equal("1.1.1.1", o.Ip);
        Assert.Equal("/x", o.SocketDir);
        Assert.Equal(5, o.GraphCpuCore);
        Assert.Equal(0, o.GraphNice);
    }

    [Fact]
    public void Unknown_ini_keys_are_warnings_not_failures()
    {
        var loaded = LoadWithIni("[general]\nip=1.1.1.1\nsocket-dir=/x\ncolour=blue\n[other]\nip=2.2.2.2\n");

        Assert.Equal("1.1.1.1", Run(loaded).Ip);
        Assert.Equal(["b.ini:4: unknown key 'colour' in [general], ignored", "b.ini:6: unknown key 'ip' in [other], ignored"], loaded.Warnings);
    }

    [Theory]
    [InlineData("[general\nip=1.1.1.1\n", "b.ini:1: malformed section header '[general'")]
    [InlineData("[general]\njust words\n", "b.ini:2: expected 'key = value' or '[section]', got 'just words'")]
    [InlineData("[general]\n=value\n", "b.ini:2: expected 'key = value'")]
    [InlineData("[general]\nip=1.1.1.1\nsocket-dir=/x\ngraph-core-id=abc\n", "b.ini:4: graph-core-id: 'abc' is not a CPU number")]
    [InlineData("[general]\nip=not-an-ip\nsocket-dir=/x\n", "b.ini:2: ip: 'not-an-ip' is not an IPv4 or IPv6 address")]
    [InlineData("[general]\nsocket-dir=/x\n", "no VXLAN endpoint address")]
    public void Bad_ini_files_give_one_line_naming_file_and_line(string ini, string expected)
    {
        Assert.Contains(expected, Failure(LoadWithIni(ini)), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unreadable_ini_file_is_explained()
    {
        var error = Failure(Load([.. Required, "-c", "/nonexistent.ini"]));

        Assert.StartsWith("cannot read configuration file '/nonexistent.ini': no such file", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_text_lists_every_option_and_an_example()
    {
        var text = Usage.Text();

        foreach (var option in OptionSpecs.All)
        {
            Assert.Contains(option.Long, text, StringComparison.Ordinal);
        }

        Assert.Contains("Example:", text, StringComparison.Ordinal);
        Assert.Contains("butterflyd -i ", text, StringComparison.Ordinal);
        Assert.Contains("[security] encryption_key_path", text, StringComparison.Ordinal);
    }
    [Fact]
    public void Packet_trace_limits_come_from_the_command_line_or_the_ini_file()
    {
        var defaults = Run(Load(Required));
        Assert.Equal(64L << 20, defaults.PacketTraceMaxSize);
        Assert.Equal(2, defaults.PacketTraceFiles);
        Assert.Equal(2048, defaults.PacketTraceSnaplen);
        Assert.Null(defaults.PacketTraceUnderlay);

        var o = Run(Load([.. Required, "-t", "--packet-trace-max-size", "100K", "--packet-trace-files", "5", "--packet-trace-snaplen", "128",
            "--packet-trace-underlay", "/var/log/u.pcap"]));
        Assert.True(o.PacketTrace);
        Assert.Equal(100L << 10, o.PacketTraceMaxSize);
        Assert.Equal(5, o.PacketTraceFiles);
        Assert.Equal(128, o.PacketTraceSnaplen);
        Assert.Equal("/var/log/u.pcap", o.PacketTraceUnderlay);

        var ini = Run(LoadWithIni("[general]\nip=10.0.0.1\nsocket-dir=/x\n[packet-trace]\nmax-size = 1G\nfiles = 10\nsnaplen = 96\nunderlay-path = /u.pcap\n"));
        Assert.Equal(1L << 30, ini.PacketTraceMaxSize);
        Assert.Equal(10, ini.PacketTraceFiles);
        Assert.Equal(96, ini.PacketTraceSnaplen);
        Assert.Equal("/u.pcap", ini.PacketTraceUnderlay);
    }

    [Theory]
    [InlineData("--packet-trace-max-size", "1K", "is not a size of at least 65536 bytes")]
    [InlineData("--packet-trace-max-size", "12X", "is not a size")]
    [InlineData("--packet-trace-files", "0", "is not a number of files (1..1000)")]
    [InlineData("--packet-trace-snaplen", "70000", "is not a number of bytes (1..65535)")]
    public void Packet_trace_limits_out_of_range_are_refused(string option, string value, string expected)
    {
        Assert.Contains(expected, Failure(Load([.. Required, option, value])), StringComparison.Ordinal);
    }
}
