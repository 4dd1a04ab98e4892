using Butterfly.Domain.Events;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall.Packets;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

/// <summary>What a VM may send: its MAC, its IPs, no router or DHCP-server messages; ARP and ND contents with ip_anti_spoof.</summary>
public sealed class AntiSpoofTests : IDisposable
{
    private readonly FirewallWorld _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void Another_source_mac_is_dropped_whatever_the_nic_has()
    {
        Assert.Equal(DropReason.SpoofSourceMac, _w.Send("a", Udp("10.0.0.1", 1, "10.0.0.2", 2, srcMac: MacB)));
        Assert.Equal(DropReason.SpoofSourceMac, _w.Send("a", Arp(MacB, MacA, "10.0.0.1", "10.0.0.2")));
        _w.Apply(new NicIpsReplaced("a", []));
        Assert.Equal(DropReason.SpoofSourceMac, _w.Send("a", Udp("10.0.0.1", 1, "10.0.0.2", 2, srcMac: MacB)));
    }

    [Fact]
    public void Another_source_ip_is_dropped_in_both_families()
    {
        Assert.Equal(DropReason.SpoofSourceIp, _w.Send("a", Udp("10.0.0.9", 1, "10.0.0.2", 2)));
        Assert.Equal(DropReason.SpoofSourceIp, _w.Send("a", Tcp("fd00::9", 1, "fd00::2", 80, Syn)));
        Assert.Equal(DropReason.SpoofSourceIp, _w.Send("a", Icmp("10.0.0.2", "10.0.0.1", IcmpHeader.V4EchoRequest)));
        Assert.Equal(DropReason.None, _w.Send("a", Udp("10.0.0.1", 1, "10.0.0.2", 2)));
        Assert.Equal(DropReason.None, _w.Send("a", Tcp("fd00::1", 1, "fd00::2", 80, Syn)));
    }

    [Fact]
    public void A_nic_with_many_ips_owns_each_of_them_and_no_other()
    {
        var ips = Enumerable.Range(0, 300).Select(i => $"198.18.{i / 256}.{i % 256}").Append("fd00::1").ToArray();
        _w.Apply(new NicIpsReplaced("a", ips));
        Assert.Equal(DropReason.None, _w.Send("a", Udp("198.18.1.43", 1, "10.0.0.2", 2)));
        Assert.Equal(DropReason.None, _w.Send("a", Udp("198.18.0.0", 1, "10.0.0.2", 2)));
        Assert.Equal(DropReason.None, _w.Send("a", Tcp("fd00::1", 1, "fd00::2", 80, Syn)));
        Assert.Equal(DropReason.SpoofSourceIp, _w.Send("a", Udp("198.18.1.44", 1, "10.0.0.2", 2)));
        Assert.Equal(DropReason.SpoofSourceIp, _w.Send("a", Udp("10.0.0.1", 1, "10.0.0.2", 2)));
    }

    [Fact]
    public void A_nic_without_ips_is_not_ip_filtered()
    {
        _w.Apply(new NicIpsReplaced("a", []));
        Assert.Equal(DropReason.None, _w.Send("a", Udp("198.51.100.7", 1, "10.0.0.2", 2)));
        Assert.Equal(DropReason.None, _w.Send("a", Tcp("2001:db8::7", 1, "fd00::2", 80, Syn)));
    }

    [Fact]
    public void Dhcp_discovery_from_0_0_0_0_and_neighbour_discovery_from_link_local_or_unspecified_pass()
    {
        Assert.Equal(DropReason.None, _w.Send("a", Udp("0.0.0.0", 68, "255.255.255.255", 67)));
        Assert.Equal(DropReason.SpoofSourceIp, _w.Send("a", Udp("0.0.0.0", 1234, "255.255.255.255", 67)));
        Assert.Equal(DropReason.None, _w.Send("a", NeighbourSolicitation("::", "fd00::1")));
        Assert.Equal(DropReason.None, _w.Send("a", NeighbourSolicitation("fe80::1234", "fd00::2", MacA)));
        var linkLocal = NicFilter.LinkLocalOf(MacA).ToString();
        Assert.Equal("fe80::5054:ff:fe00:a", linkLocal);
        // The EUI-64 link-local address is the NIC's for any traffic; another link-local only for ND.
        Assert.Equal(DropReason.None, _w.Send("a", Icmp(linkLocal, "fe80::5054:ff:fe00:b", IcmpHeader.V6EchoRequest)));
        Assert.Equal(DropReason.SpoofSourceIp, _w.Send("a", Icmp("fe80::1234", "fe80::5054:ff:fe00:b", IcmpHeader.V6EchoRequest)));
    }

    [Fact]
    public void Router_advertisements_redirects_and_dhcp_server_messages_from_a_vm_are_dropped()
    {
        Assert.Equal(DropReason.SpoofRouterMessage, _w.Send("a", Icmp("fe80::1", "ff02::1", NdMessage.RouterAdvertisement, body: new byte[8])));
        Assert.Equal(DropReason.SpoofRouterMessage, _w.Send("a", Icmp("fe80::1", "fd00::2", NdMessage.Redirect, body: new byte[32])));
        Assert.Equal(DropReason.SpoofDhcpServer, _w.Send("a", Udp("10.0.0.1", 67, "255.255.255.255", 68)));
        Assert.Equal(DropReason.SpoofDhcpServer, _w.Send("a", Udp("fd00::1", 547, "fe80::2", 546)));
    }

    [Fact]
    public void Rarp_is_dropped()
    {
        var rarp = Arp(MacA, MacA, "0.0.0.0", "0.0.0.0");
        rarp[12] = 0x80;
        rarp[13] = 0x35;
        Assert.Equal(DropReason.SpoofRarp, _w.Send("a", rarp));
    }

    [Fact]
    public void With_ip_anti_spoof_arp_sender_and_nd_contents_must_be_the_nics()
    {
        // Without ip_anti_spoof only the Ethernet source is checked.
        Assert.Equal(DropReason.None, _w.Send("a", Arp(MacA, MacB, "10.0.0.2", "10.0.0.9")));
        Assert.Equal(DropReason.None, _w.Send("a", NeighbourAdvertisement("fd00::1", "fd00::2", MacA)));

        _w.Apply(new NicAntiSpoofChanged("a", true));
        Assert.Equal(DropReason.SpoofArp, _w.Send("a", Arp(MacA, MacA, "10.0.0.2", "10.0.0.9")));
        Assert.Equal(DropReason.SpoofArp, _w.Send("a", Arp(MacA, MacB, "10.0.0.1", "10.0.0.9")));
        Assert.Equal(DropReason.None, _w.Send("a", Arp(MacA, MacA, "10.0.0.1", "10.0.0.9")));
        Assert.Equal(DropReason.None, _w.Send("a", Arp(MacA, MacA, "0.0.0.0", "10.0.0.1", ArpHeader.OperationRequest)));

        Assert.Equal(DropReason.SpoofNeighbourDiscovery, _w.Send("a", NeighbourAdvertisement("fd00::1", "fd00::2", MacA)));
        Assert.Equal(DropReason.SpoofNeighbourDiscovery, _w.Send("a", NeighbourAdvertisement("fd00::1", "fd00::1", MacB)));
        Assert.Equal(DropReason.SpoofNeighbourDiscovery, _w.Send("a", NeighbourSolicitation("fd00::1", "fd00::2", MacB)));
        Assert.Equal(DropReason.None, _w.Send("a", NeighbourAdvertisement("fd00::1", "fd00::1", MacA)));
        Assert.Equal(DropReason.None, _w.Send("a", NeighbourSolicitation("fd00::1", "fd00::2", MacA)));
    }

    [Fact]
    public void Bypass_filtering_is_checked_by_the_caller_and_changes_the_filter_at_once()
    {
        Assert.False(_w.Nic("a").Bypass);
        _w.Apply(new NicBypassChanged("a", true));
        Assert.True(_w.Nic("a").Bypass);
        Assert.Same(_w.Nic("a"), _w.Policy.FilterOf(1));
    }
}
