using Butterfly.TestKit;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.EndToEnd.Tests.Topology.Firewall;

/// <summary>
/// Security groups applied by the packet thread between real IP stacks, on one host (a1 ↔ a2)
/// and across two hosts over VXLAN (a1 ↔ b1): EC2 semantics — default deny inbound, stateful,
/// port ranges, ICMP type/code, group members, several groups, late groups, outbound rules,
/// IPv6, established connections surviving a rule change. Topology: <see cref="FirewallFabric"/>.
/// Each test starts from <see cref="FirewallFabric.Reset"/>: every NIC in no group.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class FirewallTopologyTests(TwoHostFirewallFabric fabric) : IClassFixture<TwoHostFirewallFabric>
{
    private const V0.Rule.Types.Direction In = V0.Rule.Types.Direction.Inbound;
    private const V0.Rule.Types.Direction Out = V0.Rule.Types.Direction.Outbound;

    private Vm A1 => fabric.A1;

    private Vm A2 => fabric.A2;

    private Vm B1 => fabric.B1!;

    [Fact]
    public async Task Default_deny_and_statefulness_on_one_host_and_across_hosts()
    {
        fabric.Reset();
        // No group anywhere: no NIC receives a new flow.
        Assert.False(await Reach.Tcp(A2, A1, A1.Ipv4, 8080, Reach.Refused), "a2 → a1:8080 with no group");
        Assert.False(Reach.Ping(A1, B1.Ipv4, 2), "a1 → b1 ping with no group");

        // a1 admits TCP 8080 from the fabric; a2 and b1 (in no group) open to it and get replies.
        fabric.OnAll(Requests.SgAdd("web", rules: [Requests.Rule(In, 6, "10.79.0.0/24", 8080, 8080)]));
        fabric.Groups(A1, "web");
        Assert.True(await Reach.Tcp(A2, A1, A1.Ipv4, 8080, Reach.Allowed), "a2 → a1:8080 (same host)");
        Assert.True(await Reach.Tcp(B1, A1, A1.Ipv4, 8080, Reach.Allowed), "b1 → a1:8080 (across hosts)");

        // The reverse direction does not open: a2 and b1 admit nothing.
        var before = (fabric.Dropped(A2, "firewall_inbound_denied"), fabric.Dropped(B1, "firewall_inbound_denied"));
        Assert.False(await Reach.Tcp(A1, A2, A2.Ipv4, 8080, Reach.Refused), "a1 → a2:8080");
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 8080, Reach.Refused), "a1 → b1:8080");
        Assert.True(fabric.Dropped(A2, "firewall_inbound_denied") > before.Item1, "a2 counts its refusals");
        Assert.True(fabric.Dropped(B1, "firewall_inbound_denied") > before.Item2, "b1 counts its refusals");
    }

    [Fact]
    public async Task Tcp_and_udp_port_ranges_bound_what_opens()
    {
        fabric.Reset();
        fabric.OnAll(Requests.SgAdd("ranges", rules:
        [
            Requests.Rule(In, 6, "0.0.0.0/0", 9000, 9010),
            Requests.Rule(In, 17, "0.0.0.0/0", 5300, 5301),
        ]));
        fabric.Groups(B1, "ranges");

        Assert.True(await Reach.Tcp(A1, B1, B1.Ipv4, 9000, Reach.Allowed), "tcp 9000");
        Assert.True(await Reach.Tcp(A1, B1, B1.Ipv4, 9010, Reach.Allowed), "tcp 9010");
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 9011, Reach.Refused), "tcp 9011");
        Assert.True(await Reach.Udp(A1, B1, B1.Ipv4, 5301, Reach.Allowed), "udp 5301");
        Assert.False(await Reach.Udp(A1, B1, B1.Ipv4, 5302, Reach.Refused), "udp 5302");
    }

    [Fact]
    public void Icmp_and_icmpv6_rules_match_type_and_code()
    {
        fabric.Reset();
        var echo = Requests.Rule(In, 1, "10.79.0.0/24");
        echo.IcmpType = 8;
        echo.IcmpCode = 0;
        var echo6 = Requests.Rule(In, 58, "fd79::/64");
        echo6.IcmpType = 128;
        fabric.OnAll(Requests.SgAdd("ping", rules: [echo, echo6]));
        fabric.Groups(A2, "ping");
        fabric.Groups(B1, "ping");

        Assert.True(Reach.Ping(A1, A2.Ipv4, 5), "ping a1 → a2");
        Assert.True(Reach.Ping(A1, A2.Ipv6, 5), "ping6 a1 → a2");
        Assert.True(Reach.Ping(A1, B1.Ipv4, 5), "ping a1 → b1");
        Assert.True(Reach.Ping(A1, B1.Ipv6, 5), "ping6 a1 → b1");

        // Only timestamp requests now (sg_add replaces the group): echo is refused.
        var timestamp = Requests.Rule(In, 1, "10.79.0.0/24");
        timestamp.IcmpType = 13;
        fabric.OnAll(Requests.SgAdd("ping", rules: [timestamp]));
        Assert.False(Reach.Ping(A1, B1.Ipv4, 2), "ping a1 → b1 with only type 13");
        Assert.False(Reach.Ping(A1, A2.Ipv6, 2), "ping6 a1 → a2 with no ICMPv6 rule");
    }

    [Fact]
    public async Task Rules_referencing_a_groups_members_follow_membership_changes()
    {
        fabric.Reset();
        fabric.OnAll(Requests.SgAdd("db", rules: [Requests.RuleFromGroup(In, 6, "app", 5432, 5432)]));
        fabric.Groups(B1, "db");
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 5432, Reach.Refused), "a1 not a member yet");

        fabric.OnAll(Requests.SgMemberAdd("app", A1.Ipv4));
        Assert.True(await Reach.Tcp(A1, B1, B1.Ipv4, 5432, Reach.Allowed), "a1 a member");
        Assert.False(await Reach.Tcp(A2, B1, B1.Ipv4, 5432, Reach.Refused), "a2 not a member");

        fabric.OnAll(Requests.SgMemberDel("app", A1.Ipv4));
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 5432, Reach.Refused), "a1 no longer a member");
    }

    [Fact]
    public async Task Several_groups_late_groups_replaced_and_deleted_groups_and_rules()
    {
        fabric.Reset();
        // b1 names two groups that do not exist yet: deny until they do.
        fabric.Groups(B1, "ssh", "www");
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 22, Reach.Refused), "no group defined yet");

        fabric.OnAll(Requests.SgAdd("www", rules: [Requests.Rule(In, 6, "0.0.0.0/0", 80, 80)]));
        Assert.True(await Reach.Tcp(A1, B1, B1.Ipv4, 80, Reach.Allowed), "www defined after the NIC named it");
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 22, Reach.Refused), "ssh still missing");

        var ssh = Requests.Rule(In, 6, "10.79.0.1/32", 22, 22);
        fabric.OnAll(Requests.SgRuleAdd("ssh", ssh));
        Assert.True(await Reach.Tcp(A1, B1, B1.Ipv4, 22, Reach.Allowed), "the groups are OR-ed");
        Assert.False(await Reach.Tcp(A2, B1, B1.Ipv4, 22, Reach.Refused), "ssh admits a1 only");

        fabric.OnAll(Requests.SgRuleDel("ssh", ssh));
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 22, Reach.Refused), "rule deleted");

        fabric.OnAll(Requests.SgAdd("www", rules: [Requests.Rule(In, 6, "0.0.0.0/0", 81, 81)]));
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 80, Reach.Refused), "www replaced: 80 gone");
        Assert.True(await Reach.Tcp(A1, B1, B1.Ipv4, 81, Reach.Allowed), "www replaced: 81 now");

        fabric.OnAll(Requests.SgDel("www"));
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 81, Reach.Refused), "www deleted");
    }

    [Fact]
    public async Task Outbound_rules_restrict_the_flows_a_nic_opens()
    {
        fabric.Reset();
        fabric.OnAll(Requests.SgAddOpen());
        fabric.Groups(B1, Requests.OpenGroup);
        fabric.Groups(A2, Requests.OpenGroup);
        Assert.True(await Reach.Tcp(A1, B1, B1.Ipv4, 8081, Reach.Allowed), "no outbound rule: everything opens");

        fabric.OnAll(Requests.SgAdd("egress", rules: [Requests.Rule(Out, 6, "10.79.0.3/32", 8080, 8080)]));
        fabric.Groups(A1, "egress");
        var before = fabric.Dropped(A1, "firewall_outbound_denied");
        Assert.True(await Reach.Tcp(A1, B1, B1.Ipv4, 8080, Reach.Allowed), "the outbound rule admits b1:8080");
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 8081, Reach.Refused), "b1:8081 is not admitted");
        Assert.False(await Reach.Tcp(A1, A2, A2.Ipv4, 8080, Reach.Refused), "a2 is not the rule's destination");
        Assert.False(Reach.Ping(A1, B1.Ipv4, 2), "no outbound ICMP rule");
        Assert.True(fabric.Dropped(A1, "firewall_outbound_denied") > before, "a1 counts its refused flows");
        // Flows toward a1 are not outbound flows: a2 (open to everything) still reaches a1's answers.
        fabric.OnAll(Requests.SgRuleAdd("egress", Requests.Rule(In, 6, "0.0.0.0/0", 8080, 8080)));
        Assert.True(await Reach.Tcp(A2, A1, A1.Ipv4, 8080, Reach.Allowed), "a1 answers an inbound flow");
    }

    [Fact]
    public async Task Ipv6_rules_match_ipv6_only()
    {
        fabric.Reset();
        fabric.OnAll(Requests.SgAdd("v6", rules: [Requests.Rule(In, 6, "fd79::/64", 8080, 8080)]));
        fabric.Groups(B1, "v6");
        fabric.Groups(A2, "v6");
        Assert.True(await Reach.Tcp(A1, B1, B1.Ipv6, 8080, Reach.Allowed), "a1 → [b1]:8080");
        Assert.True(await Reach.Tcp(A1, A2, A2.Ipv6, 8080, Reach.Allowed), "a1 → [a2]:8080");
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 8080, Reach.Refused), "the IPv6 rule does not admit IPv4");
    }

    [Fact]
    public async Task An_established_connection_survives_a_rule_removal_while_new_ones_are_refused()
    {
        fabric.Reset();
        var rule = Requests.Rule(In, 6, "10.79.0.0/24", 7000, 7000);
        fabric.OnAll(Requests.SgAdd("svc", rules: [rule]));
        fabric.Groups(B1, "svc");
        fabric.Groups(A2, "svc");
        using var remote = await TcpSession.OpenAsync(A1, B1, B1.Ipv4, 7000);
        using var local = await TcpSession.OpenAsync(A1, A2, A2.Ipv4, 7000);
        Assert.NotNull(remote);
        Assert.NotNull(local);
        Assert.True(await remote.EchoAsync("before"), "across hosts, before");
        Assert.True(await local.EchoAsync("before"), "same host, before");

        fabric.OnAll(Requests.SgRuleDel("svc", rule));

        Assert.True(await remote.EchoAsync("after"), "across hosts: established keeps going (EC2)");
        Assert.True(await local.EchoAsync("after"), "same host: established keeps going (EC2)");
        Assert.False(await Reach.Tcp(A1, B1, B1.Ipv4, 7000, Reach.Refused), "a new connection is refused");
        Assert.Equal(0UL, fabric.Dropped(B1, "firewall_cut"));
    }
}
