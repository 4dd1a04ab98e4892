using Butterfly.Domain.Events;
using Butterfly.Domain.SecurityGroups;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall.FirewallWorld;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall.Packets;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

/// <summary>EC2 semantics of the compiled rules: what opens a flow toward (INBOUND) or from (OUTBOUND) a NIC.</summary>
public sealed class RuleMatchingTests : IDisposable
{
    private readonly FirewallWorld _w = new();

    public void Dispose() => _w.Dispose();

    [Fact]
    public void Default_deny_inbound_but_everything_outbound()
    {
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Tcp("10.0.0.1", 1, "10.0.0.2", 22, Syn)));
        Assert.Equal(DropReason.None, _w.Send("a", Tcp("10.0.0.1", 1, "10.0.0.2", 22, Syn)));
    }

    [Theory]
    [InlineData(6, 1000, 2000, 999, false)]
    [InlineData(6, 1000, 2000, 1000, true)]
    [InlineData(6, 1000, 2000, 2000, true)]
    [InlineData(6, 1000, 2000, 2001, false)]
    [InlineData(17, 53, 53, 53, true)]
    [InlineData(17, 53, 53, 54, false)]
    public void Port_ranges_bound_the_destination_port(int protocol, uint first, uint last, ushort port, bool admitted)
    {
        _w.Apply(new SecurityGroupDefined("g", [], [In(protocol, "0.0.0.0/0", first, last)]));
        _w.Groups("b", "g");
        var frame = protocol == 6 ? Tcp("10.0.0.1", 40000, "10.0.0.2", port, Syn) : Udp("10.0.0.1", 40000, "10.0.0.2", port);
        Assert.Equal(admitted ? DropReason.None : DropReason.FirewallInboundDenied, _w.Receive("b", frame));
    }

    [Fact]
    public void A_cidr_matches_its_own_family_only_and_its_prefix()
    {
        _w.Apply(new SecurityGroupDefined("g", [], [In(6, "10.0.0.0/30", 22, 22), In(6, "fd00::/126", 22, 22)]));
        _w.Groups("b", "g");
        Assert.Equal(DropReason.None, _w.Receive("b", Tcp("10.0.0.3", 1, "10.0.0.2", 22, Syn)));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Tcp("10.0.0.4", 1, "10.0.0.2", 22, Syn)));
        Assert.Equal(DropReason.None, _w.Receive("b", Tcp("fd00::3", 1, "fd00::2", 22, Syn)));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Tcp("fd00::4", 1, "fd00::2", 22, Syn)));
        // 0.0.0.0/0 is every IPv4 peer, never an IPv6 one.
        _w.Apply(new SecurityGroupDefined("g", [], [In(6, "0.0.0.0/0", 80, 80)]));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Tcp("fd00::1", 2, "fd00::2", 80, Syn)));
        Assert.Equal(DropReason.None, _w.Receive("b", Tcp("192.0.2.1", 2, "10.0.0.2", 80, Syn)));
    }

    [Fact]
    public void A_cidr_given_with_host_bits_matches_by_its_prefix()
    {
        _w.Apply(new SecurityGroupDefined("g", [], [In(6, "10.1.2.3/8", 22, 22)]));
        _w.Groups("b", "g");
        Assert.Equal(DropReason.None, _w.Receive("b", Tcp("10.200.0.1", 1, "10.0.0.2", 22, Syn)));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Tcp("11.0.0.1", 1, "10.0.0.2", 22, Syn)));
    }

    [Fact]
    public void Icmp_type_and_code_narrow_an_icmp_rule()
    {
        _w.Apply(new SecurityGroupDefined("g", [], [In(1, "0.0.0.0/0", icmpType: 8, icmpCode: 0), In(58, "::/0", icmpType: 128)]));
        _w.Groups("b", "g");
        Assert.Equal(DropReason.None, _w.Receive("b", Icmp("10.0.0.1", "10.0.0.2", 8, 0, id: 1)));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Icmp("10.0.0.1", "10.0.0.2", 8, 1, id: 2)));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Icmp("10.0.0.1", "10.0.0.2", 13, 0, id: 3)));
        Assert.Equal(DropReason.None, _w.Receive("b", Icmp("fd00::1", "fd00::2", 128, 5, id: 4)));
        // An ICMP rule does not admit ICMPv6, nor the reverse.
        _w.Apply(new SecurityGroupDefined("g", [], [In(1, "0.0.0.0/0")]));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Icmp("fd00::1", "fd00::2", 128, 0, id: 5)));
    }

    [Fact]
    public void All_protocols_with_minus_one_and_any_protocol_number()
    {
        _w.Apply(new SecurityGroupDefined("g", [], [In(-1, "10.0.0.1/32"), In(132, "0.0.0.0/0")]));
        _w.Groups("b", "g");
        Assert.Equal(DropReason.None, _w.Receive("b", Tcp("10.0.0.1", 1, "10.0.0.2", 5, Syn)));
        Assert.Equal(DropReason.None, _w.Receive("b", Ip("10.0.0.1", "10.0.0.2", 47, new byte[4])));
        Assert.Equal(DropReason.None, _w.Receive("b", Ip("10.0.0.7", "10.0.0.2", 132, new byte[12])));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Ip("10.0.0.7", "10.0.0.2", 47, new byte[4])));
    }

    [Fact]
    public void Members_of_a_referenced_group_are_admitted_and_membership_changes_toggle_it()
    {
        _w.Apply(new SecurityGroupDefined("db", [], [InFromGroup(6, "app", 5432, 5432)]));
        _w.Groups("b", "db");
        var probe = Tcp("10.0.0.1", 1, "10.0.0.2", 5432, Syn);
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", probe));
        _w.Apply(new SecurityGroupCreated("app"), new MemberAdded("app", "10.0.0.1"));
        Assert.Equal(DropReason.None, _w.Receive("b", Tcp("10.0.0.1", 2, "10.0.0.2", 5432, Syn)));
        _w.Apply(new MemberAdded("app", "fd00::1"));
        Assert.Equal(DropReason.None, _w.Receive("b", Tcp("fd00::1", 2, "fd00::2", 5432, Syn)));
        _w.Apply(new MemberRemoved("app", "10.0.0.1"));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Tcp("10.0.0.1", 3, "10.0.0.2", 5432, Syn)));
        _w.Apply(new SecurityGroupDeleted("app"));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Tcp("fd00::1", 3, "fd00::2", 5432, Syn)));
    }

    [Fact]
    public void Several_groups_are_ored_and_a_group_that_does_not_exist_yet_denies_until_it_does()
    {
        _w.Groups("b", "ssh", "web");
        var ssh = Tcp("10.0.0.1", 1, "10.0.0.2", 22, Syn);
        var web = Tcp("10.0.0.1", 2, "10.0.0.2", 80, Syn);
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", ssh));
        _w.Apply(new SecurityGroupDefined("web", [], [In(6, "0.0.0.0/0", 80, 80)]));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Tcp("10.0.0.1", 3, "10.0.0.2", 22, Syn)));
        Assert.Equal(DropReason.None, _w.Receive("b", web));
        _w.Apply(new RuleAdded("ssh", In(6, "10.0.0.0/8", 22, 22)));
        Assert.Equal(DropReason.None, _w.Receive("b", Tcp("10.0.0.1", 4, "10.0.0.2", 22, Syn)));
        _w.Apply(new RuleRemoved("ssh", In(6, "10.0.0.0/8", 22, 22)));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("b", Tcp("10.0.0.1", 5, "10.0.0.2", 22, Syn)));
    }

    [Fact]
    public void Outbound_rules_restrict_what_a_nic_opens_as_soon_as_one_of_its_groups_has_one()
    {
        _w.Apply(new SecurityGroupDefined("in-only", [], [In(6, "0.0.0.0/0", 22, 22)]));
        _w.Apply(new SecurityGroupDefined("dns-out", [], [Out(17, "10.0.0.0/8", 53, 53)]));
        _w.Groups("a", "in-only");
        Assert.Equal(DropReason.None, _w.Send("a", Tcp("10.0.0.1", 1, "10.0.0.2", 443, Syn)));
        _w.Groups("a", "in-only", "dns-out");
        Assert.Equal(DropReason.FirewallOutboundDenied, _w.Send("a", Tcp("10.0.0.1", 2, "10.0.0.2", 443, Syn)));
        Assert.Equal(DropReason.None, _w.Send("a", Udp("10.0.0.1", 2, "10.0.0.2", 53)));
        Assert.Equal(DropReason.FirewallOutboundDenied, _w.Send("a", Udp("10.0.0.1", 2, "192.0.2.1", 53)));
        // Inbound connections a admitted are answered whatever the outbound rules say.
        Assert.Equal(DropReason.None, _w.Receive("a", Tcp("10.0.0.2", 9, "10.0.0.1", 22, Syn)));
        Assert.Equal(DropReason.None, _w.Send("a", Tcp("10.0.0.1", 22, "10.0.0.2", 9, Syn | Ack, seq: 1, ack: 1001)));
    }

    [Fact]
    public void Non_ip_frames_and_neighbour_discovery_are_not_matched_by_rules()
    {
        Assert.Equal(DropReason.None, _w.Receive("b", Arp(MacA, MacA, "10.0.0.1", "10.0.0.2", ArpHeader.OperationRequest)));
        Assert.Equal(DropReason.None, _w.Receive("b", NeighbourSolicitation("fd00::1", "fd00::2", MacA)));
        Assert.Equal(DropReason.None, _w.Receive("b", NeighbourAdvertisement("fd00::1", "fd00::1", MacA)));
    }

    [Fact]
    public void An_established_connection_survives_a_rule_removal_and_new_ones_are_refused()
    {
        _w.Apply(new SecurityGroupDefined("g", [], [In(6, "0.0.0.0/0", 22, 22)]));
        _w.Groups("b", "g");
        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 22, Syn, seq: 1)));
        Assert.Equal(DropReason.None, _w.BtoA(Tcp("10.0.0.2", 22, "10.0.0.1", 40000, Syn | Ack, seq: 50, ack: 2)));
        _w.Apply(new RuleRemoved("g", In(6, "0.0.0.0/0", 22, 22)));
        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 22, Ack, seq: 2, ack: 51, payload: 10)));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.AtoB(Tcp("10.0.0.1", 40001, "10.0.0.2", 22, Syn, seq: 1)));
    }

    [Fact]
    public void With_cut_established_a_rule_removal_cuts_the_connections_it_no_longer_admits()
    {
        using var cut = new FirewallWorld(cutEstablished: true);
        cut.Apply(new SecurityGroupDefined("g", [], [In(6, "0.0.0.0/0", 22, 22), In(6, "0.0.0.0/0", 80, 80)]));
        cut.Groups("b", "g");
        Assert.Equal(DropReason.None, cut.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 22, Syn, seq: 1)));
        Assert.Equal(DropReason.None, cut.AtoB(Tcp("10.0.0.1", 40001, "10.0.0.2", 80, Syn, seq: 1)));
        cut.Apply(new RuleRemoved("g", In(6, "0.0.0.0/0", 22, 22)));
        Assert.Equal(DropReason.FirewallCut, cut.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 22, Ack, seq: 2, ack: 1)));
        // Still admitted by the new rules: re-stamped and kept.
        Assert.Equal(DropReason.None, cut.AtoB(Tcp("10.0.0.1", 40001, "10.0.0.2", 80, Ack, seq: 2, ack: 1)));
        // The cut connection is gone: its next segment is a new flow, refused.
        Assert.Equal(DropReason.FirewallInboundDenied, cut.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 22, Ack, seq: 2, ack: 1)));
    }
}
