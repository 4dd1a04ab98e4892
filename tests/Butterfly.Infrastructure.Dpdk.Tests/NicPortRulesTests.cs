using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;

namespace Butterfly.Infrastructure.Dpdk.Tests;

public sealed class NicPortRulesTests
{
    private const string SocketDir = "/run/butterfly";

    private static DataPathNic Nic(string id, NicType type, string mac = "52:54:00:00:d7:11") => new(id, type, mac, 12, false);

    [Theory]
    [InlineData("vm1")]
    [InlineData("123456789012345")]
    [InlineData("a-b_c.d@e")]
    public void Valid_tap_names_pass(string id) => Assert.Null(NicPortRules.Check(Nic(id, NicType.Tap), SocketDir));

    [Theory]
    [InlineData("1234567890123456", "too long")]
    [InlineData("a/b", "not a valid tap interface name")]
    [InlineData("a b", "not a valid tap interface name")]
    [InlineData("a:b", "not a valid tap interface name")]
    [InlineData("tap%d", "not a valid tap interface name")]
    [InlineData("a,mac=x", "not a valid tap interface name")]
    [InlineData("été", "not a valid tap interface name")]
    [InlineData("..", "not a valid tap interface name")]
    public void Invalid_tap_names_say_why(string id, string reason)
    {
        var error = NicPortRules.Check(Nic(id, NicType.Tap), SocketDir);
        Assert.NotNull(error);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.Contains(id, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Tap_needs_a_parsable_mac()
    {
        Assert.Contains("MAC 'zz'", NicPortRules.Check(Nic("vm1", NicType.Tap, "zz"), SocketDir), StringComparison.Ordinal);
    }

    [Fact]
    public void Vhost_socket_path_must_fit_sun_path()
    {
        var dir = "/tmp/" + new string('d', 90);
        Assert.Null(NicPortRules.Check(Nic(new string('n', 107 - dir.Length - 1), NicType.VhostUserServer), dir));
        var error = NicPortRules.Check(Nic(new string('n', 107 - dir.Length), NicType.VhostUserServer), dir);
        Assert.Contains("108 bytes, longer than the 107", error, StringComparison.Ordinal);
    }

    [Fact]
    public void New_sockets_are_named_like_the_original_and_recorded_ones_are_checked_as_recorded()
    {
        Assert.Equal("/run/butterfly/qemu-vhost-vm1", NicPortRules.NewSocketPath(SocketDir, "vm1"));
        Assert.Equal("/run/butterfly/vm1", NicPortRules.SocketPath(SocketDir, "vm1"));

        var recorded = "/tmp/" + new string('d', 100) + "/qemu-vhost-vm1";
        var error = NicPortRules.Check(Nic("vm1", NicType.VhostUserServer) with { SocketPath = recorded }, SocketDir);
        Assert.Contains($"'{recorded}' is {recorded.Length} bytes, longer than the 107", error, StringComparison.Ordinal);
        Assert.Null(NicPortRules.Check(Nic("vm1", NicType.VhostUserServer) with { SocketPath = NicPortRules.NewSocketPath(SocketDir, "vm1") }, SocketDir));
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("a,queues=8")]
    [InlineData("a\nb")]
    public void Vhost_id_must_be_a_plain_file_name(string id)
    {
        Assert.Contains("cannot name a vhost-user socket", NicPortRules.Check(Nic(id, NicType.VhostUserServer), SocketDir), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ICMP_SND_LIKE", "10.0.0.1", "10.0.0.2", "52:54:00:00:00:02", null)]
    [InlineData("ICMP_RCV_LIKE", "fd00::1", null, null, null)]
    [InlineData("ICMP_SND_LIKE", "fd00::1", "fd00::2", "52:54:00:00:00:02", null)]
    [InlineData("PING", "10.0.0.1", null, null, "needs btype ICMP_SND_LIKE (it sends echo requests to dip) or ICMP_RCV_LIKE")]
    [InlineData("", "10.0.0.1", null, null, "needs btype")]
    [InlineData("ICMP_RCV_LIKE", null, null, null, "needs an ip: its probe's address is the NIC's first ip")]
    [InlineData("ICMP_SND_LIKE", "10.0.0.1", null, "52:54:00:00:00:02", "needs dip")]
    [InlineData("ICMP_SND_LIKE", "10.0.0.1", "10.0.0.2", null, "needs dmac")]
    [InlineData("ICMP_SND_LIKE", "10.0.0.1", "fd00::2", "52:54:00:00:00:02", "dip fd00::2 is not of the family of its ip 10.0.0.1")]
    public void Bench_nics_need_what_their_probe_uses(string kind, string? ip, string? dip, string? dmac, string? error)
    {
        var nic = Nic("b1", NicType.Bench) with { Bench = new BenchProbeSpec(kind, ip, dip, dmac) };
        var refusal = NicPortRules.Check(nic, SocketDir);
        if (error is null)
        {
            Assert.Null(refusal);
        }
        else
        {
            Assert.Contains(error, refusal, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Empty_id_is_refused()
    {
        Assert.Equal("NIC id is empty", NicPortRules.Check(Nic("", NicType.VhostUserServer), SocketDir));
    }
}
