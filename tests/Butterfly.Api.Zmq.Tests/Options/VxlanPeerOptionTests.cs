using Butterfly.Api.Zmq.Options;

namespace Butterfly.Api.Zmq.Tests.Options;

/// <summary>--vxlan-peer: repeatable on the command line, a comma-separated list in the INI file.</summary>
public class VxlanPeerOptionTests
{
    private static readonly string[] Required = ["-i", "10.0.0.1", "-s", "/run/bf"];

    private static LoadedOptions Load(params string[] args) => OptionsLoader.Load(args, _ => throw new FileNotFoundException("no such file"));

    private static LoadedOptions LoadWithIni(string ini, params string[] args) =>
        OptionsLoader.Load(["-c", "b.ini", .. args], path => path == "b.ini" ? ini : throw new FileNotFoundException("no such file"));

    [Fact]
    public void No_peer_by_default()
    {
        var loaded = Load(Required);

        Assert.Equal(StartupAction.Run, loaded.Action);
        Assert.Empty(loaded.Options!.VxlanPeers);
    }

    [Fact]
    public void Every_occurrence_adds_a_peer_in_order_and_addresses_are_normalised()
    {
        var loaded = Load([.. Required, "--vxlan-peer", "10.0.0.2", "--vxlan-peer=10.0.0.3", "--vxlan-peer", "2001:0db8::0001"]);

        Assert.True(loaded.Action == StartupAction.Run, loaded.Error);
        Assert.Equal(["10.0.0.2", "10.0.0.3", "2001:db8::1"], loaded.Options!.VxlanPeers);
    }

    [Fact]
    public void The_ini_key_is_a_comma_separated_list_and_the_command_line_replaces_it()
    {
        const string Ini = "[general]\nip=42.0.0.1\nsocket-dir=/a\nvxlan-peer = 42.0.0.2, 42.0.0.3\n";

        Assert.Equal(["42.0.0.2", "42.0.0.3"], LoadWithIni(Ini).Options!.VxlanPeers);
        Assert.Equal(["42.0.0.9"], LoadWithIni(Ini, "--vxlan-peer", "42.0.0.9").Options!.VxlanPeers);
    }

    [Theory]
    [InlineData("peer.example", "'peer.example' is not an IPv4 or IPv6 address")]
    [InlineData("10.0.0", "'10.0.0' is not an IPv4 or IPv6 address")]
    [InlineData("10.0.0.2,fe80::1%2", "'fe80::1%2' is not an IPv4 or IPv6 address")]
    [InlineData(" , ", "no VXLAN peer address given")]
    public void A_bad_peer_is_one_clear_line(string peer, string expected)
    {
        var loaded = Load([.. Required, "--vxlan-peer", peer]);

        Assert.Equal(StartupAction.Fail, loaded.Action);
        Assert.NotNull(loaded.Error);
        Assert.DoesNotContain('\n', loaded.Error);
        Assert.Contains(expected, loaded.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_help_text_names_the_option_and_its_ini_key()
    {
        var text = Usage.Text();

        Assert.Contains("--vxlan-peer IP", text, StringComparison.Ordinal);
        Assert.Contains("[general] vxlan-peer", text, StringComparison.Ordinal);
    }
}
