using Butterfly.Api.Zmq.Options;

namespace Butterfly.Api.Zmq.Tests.Options;

/// <summary>
/// The routed underlay and FDB options: -i IP/LEN (the VTEP's on-link prefix), --vxlan-gateway
/// and --fdb-ageing, on the command line and in the INI file.
/// </summary>
public class UnderlayRoutingOptionTests
{
    private static LoadedOptions Load(params string[] args) => OptionsLoader.Load(args, _ => throw new FileNotFoundException("no such file"));

    [Fact]
    public void Defaults_are_no_prefix_no_gateway_and_five_minutes_of_ageing()
    {
        var options = Load("-i", "10.0.0.1", "-s", "/run/bf").Options!;

        Assert.Equal("10.0.0.1", options.Ip);
        Assert.Equal(0, options.IpPrefixLength);
        Assert.Null(options.VxlanGateway);
        Assert.Equal(300, options.FdbAgeingSeconds);
    }

    [Theory]
    [InlineData("10.0.0.1/24", "10.0.0.1", 24)]
    [InlineData("2001:0db8::1/64", "2001:db8::1", 64)]
    public void The_ip_takes_an_optional_prefix_length(string ip, string address, int prefix)
    {
        var loaded = Load("-i", ip, "-s", "/run/bf", "--vxlan-gateway", prefix == 24 ? "10.0.0.254" : "2001:db8::fe", "--fdb-ageing", "5");

        Assert.True(loaded.Action == StartupAction.Run, loaded.Error);
        Assert.Equal(address, loaded.Options!.Ip);
        Assert.Equal(prefix, loaded.Options.IpPrefixLength);
        Assert.Equal(prefix == 24 ? "10.0.0.254" : "2001:db8::fe", loaded.Options.VxlanGateway);
        Assert.Equal(5, loaded.Options.FdbAgeingSeconds);
    }

    [Fact]
    public void The_ini_file_sets_them_too()
    {
        const string Ini = "[general]\nip=42.0.0.1/16\nsocket-dir=/a\nvxlan-gateway=42.0.255.254\nfdb-ageing=60\n";
        var options = OptionsLoader.Load(["-c", "b.ini"], path => path == "b.ini" ? Ini : throw new FileNotFoundException("no such file")).Options!;

        Assert.Equal(16, options.IpPrefixLength);
        Assert.Equal("42.0.255.254", options.VxlanGateway);
        Assert.Equal(60, options.FdbAgeingSeconds);
    }

    [Theory]
    [InlineData("10.0.0.1/33", null, null, "'33' is not a prefix length (1..32)")]
    [InlineData("10.0.0.1/", null, null, "is not a prefix length")]
    [InlineData("2001:db8::1/129", null, null, "(1..128)")]
    [InlineData("10.0.0.1/24", "router", null, "'router' is not an IPv4 or IPv6 address")]
    [InlineData("10.0.0.1", null, "0", "'0' is not a number of seconds (1..86400)")]
    [InlineData("10.0.0.1", null, "1d", "is not a number of seconds")]
    public void Bad_values_are_one_clear_line(string ip, string? gateway, string? ageing, string expected)
    {
        string[] args = ["-i", ip, "-s", "/run/bf"];
        if (gateway is not null)
        {
            args = [.. args, "--vxlan-gateway", gateway];
        }
        if (ageing is not null)
        {
            args = [.. args, "--fdb-ageing", ageing];
        }
        var loaded = Load(args);

        Assert.Equal(StartupAction.Fail, loaded.Action);
        Assert.DoesNotContain('\n', loaded.Error!);
        Assert.Contains(expected, loaded.Error, StringComparison.Ordinal);
    }
}
