using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

public class WireTests
{
    [Fact]
    public void Header_sizes_match_their_rfcs()
    {
        Assert.Equal(14, EthernetHeader.Length);
        Assert.Equal(28, ArpHeader.Length);
        Assert.Equal(20, Ipv4Header.MinLength);
        Assert.Equal(40, Ipv6Header.Length);
        Assert.Equal(8, UdpHeader.Length);
        Assert.Equal(20, TcpHeader.MinLength);
        Assert.Equal(8, VxlanHeader.Length);
        Assert.Equal(50, VxlanHeader.OverheadV4);
        Assert.Equal(70, VxlanHeader.OverheadV6);
    }

    [Fact]
    public void Checksum_matches_the_rfc_1071_example()
    {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        Assert.Equal(0xDDF2u, InternetChecksum.Sum([0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]));
    }

    [Fact]
    public void Checksum_agrees_with_a_naive_sum_on_every_length()
    {
        var random = new Random(3);
        for (var length = 0; length < 300; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            uint naive = 0;
            for (var i = 0; i < length; i += 2)
            {
                naive += (uint)(data[i] << 8) | (i + 1 < length ? data[i + 1] : 0u);
            }
            while (naive > 0xFFFF)
            {
                naive = (naive & 0xFFFF) + (naive >> 16);
            }
            Assert.Equal(naive, InternetChecksum.Sum(data));
        }
    }

    [Fact]
    public void Mac_addresses_parse_format_and_classify()
    {
        var mac = MacAddress.Parse("52:54:00:00:d7:11");
        Assert.Equal(0x5254_0000_D711UL, mac.Value);
        Assert.Equal("52:54:00:00:d7:11", mac.ToString());
        Assert.False(mac.IsMulticast);
        Assert.True(MacAddress.Parse("01:00:5e:00:00:01").IsMulticast);
        Assert.True(MacAddress.Broadcast.IsBroadcast);
        Assert.False(MacAddress.TryParse("52:54:00:00:d7", out _));
        Assert.False(MacAddress.TryParse("52:54:00:00:d7:zz", out _));
        Assert.False(MacAddress.TryParse(null, out _));
    }

    [Fact]
    public void Ip_addresses_hold_both_families_apart()
    {
        var v4 = IpAddr.Parse("10.1.2.3");
        Assert.True(v4.IsV4);
        Assert.Equal(0x0A01_0203u, v4.V4);
        Assert.Equal("10.1.2.3", v4.ToString());
        var v6 = IpAddr.Parse("2001:db8::1");
        Assert.False(v6.IsV4);
        Assert.Equal("2001:db8::1", v6.ToString());
        Assert.NotEqual(IpAddr.Parse("::a01:203"), v4);
        Assert.True(IpAddr.Parse("230.0.0.1").IsMulticast);
        Assert.True(IpAddr.Parse("ff02::1").IsMulticast);
        Assert.True(IpAddr.Parse("0.0.0.0").IsUnspecified);
        Assert.True(IpAddr.Parse("::").IsUnspecified);
    }

    [Theory]
    [InlineData("192.168.1.1", "192.168.1.200", 24, true)]
    [InlineData("192.168.1.1", "192.168.2.1", 24, false)]
    [InlineData("192.168.1.1", "192.168.2.1", 16, true)]
    [InlineData("fd00::1", "fd00::ffff", 64, true)]
    [InlineData("fd00::1", "fd00:0:0:1::1", 64, false)]
    [InlineData("fd00::1", "fd00::1", 128, true)]
    [InlineData("192.168.1.1", "::ffff:192.168.1.1", 24, true)]
    [InlineData("192.168.1.1", "fd00::1", 0, false)]
    public void Prefix_comparison(string a, string b, int prefix, bool same) =>
        Assert.Equal(same, IpAddr.Parse(a).SharesPrefix(IpAddr.Parse(b), prefix));

    [Fact]
    public void Multicast_group_per_vni_and_its_mac()
    {
        Assert.Equal(IpAddr.Parse("230.18.52.86"), MulticastGroups.Ipv4GroupOf(0x123456));
        Assert.Equal(IpAddr.Parse("ff00::12:3456"), MulticastGroups.Ipv6GroupOf(0x123456));
        Assert.Equal(MacAddress.Parse("01:00:5e:12:34:56"), MulticastGroups.MacOf(MulticastGroups.Ipv4GroupOf(0x123456)));
        Assert.Equal(MacAddress.Parse("01:00:5e:7f:00:01"), MulticastGroups.MacOf(IpAddr.Parse("230.255.0.1")));
        Assert.Equal(MacAddress.Parse("33:33:00:12:34:56"), MulticastGroups.MacOf(MulticastGroups.Ipv6GroupOf(0x123456)));
        Assert.Equal(MacAddress.Parse("33:33:ff:00:00:02"), MulticastGroups.MacOf(IpAddr.Parse("ff02::1:ff00:2")));
    }

    [Fact]
    public void Drop_reasons_have_unique_snake_case_names()
    {
        var names = new HashSet<string>();
        foreach (var reason in Enum.GetValues<DropReason>())
        {
            var name = DropReasons.Name(reason);
            Assert.Matches("^[a-z0-9_]+$", name);
            Assert.True(names.Add(name), name);
        }
        Assert.Equal("ipv4_bad_total_length", DropReasons.Name(DropReason.Ipv4BadTotalLength));
        Assert.Equal("decap_from_self", DropReasons.Name(DropReason.DecapFromSelf));
    }

    [Fact]
    public void Drop_counters_count_per_reason()
    {
        var counters = new DropCounters();
        counters.Count(DropReason.EncapTooBig);
        counters.Count(DropReason.EncapTooBig);
        counters.Count(DropReason.ArpNotForUs);
        Assert.Equal(2UL, counters[DropReason.EncapTooBig]);
        Assert.Equal(3UL, counters.Total);
    }
}
