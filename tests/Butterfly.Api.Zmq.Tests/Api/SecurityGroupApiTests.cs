using Butterfly.TestKit;
using Dir = Butterfly.Wire.MessageV0.Types.Rule.Types.Direction;

namespace Butterfly.Api.Zmq.Tests.Api;

public class SecurityGroupApiTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private readonly ApiClient _api = fixture.Client;

    [Fact]
    public void Sg_add_list_details_and_del()
    {
        var id = Ids.New("sg");
        var ssh = Requests.Rule(Dir.Inbound, 6, "10.0.0.0/8", 22, 22);

        ApiAssert.Ok(_api.Call(Requests.SgAdd(id, ["10.0.0.2", "10.0.0.1"], [ssh])));

        Assert.Contains(id, ApiAssert.Ok(_api.Call(Requests.SgList())).SgList);
        var sg = Assert.Single(ApiAssert.Ok(_api.Call(Requests.SgDetails(id))).SgDetails);
        Assert.Equal(["10.0.0.2", "10.0.0.1"], sg.Member);
        Assert.Equal(ssh, Assert.Single(sg.Rule));

        ApiAssert.Ok(_api.Call(Requests.SgDel(id)));
        Assert.DoesNotContain(id, _api.Call(Requests.SgList()).SgList);
        ApiAssert.Fails(_api.Call(Requests.SgDetails(id)), id);
    }

    [Fact]
    public void Rules_with_host_bits_are_kept_as_given_and_differ_from_their_network()
    {
        var id = Ids.New("sg");
        var hostBits = Requests.Rule(Dir.Inbound, 1, "10.1.2.3/8");
        var network = Requests.Rule(Dir.Inbound, 1, "10.0.0.0/8");
        var v6 = Requests.Rule(Dir.Outbound, -1, "2001:db8:0:85a3::ac1f:8001/8");

        ApiAssert.Ok(_api.Call(Requests.SgRuleAdd(id, hostBits)));
        ApiAssert.Ok(_api.Call(Requests.SgRuleAdd(id, network)));
        ApiAssert.Ok(_api.Call(Requests.SgRuleAdd(id, v6)));
        ApiAssert.Ok(_api.Call(Requests.SgRuleAdd(id, Requests.Rule(Dir.Outbound, -1, "2001:0db8:0:85a3:0:0:ac1f:8001/8")))); // the same v6 rule: no-op

        Assert.Equal([hostBits, network, v6], ApiAssert.Ok(_api.Call(Requests.SgRuleList(id))).SgRuleList);
        Assert.Equal([hostBits, network, v6], Assert.Single(ApiAssert.Ok(_api.Call(Requests.SgDetails(id))).SgDetails).Rule);

        ApiAssert.Ok(_api.Call(Requests.SgRuleDel(id, hostBits)));
        Assert.Equal([network, v6], ApiAssert.Ok(_api.Call(Requests.SgRuleList(id))).SgRuleList);
    }

    [Fact]
    public void Sg_list_and_all_details_are_sorted()
    {
        foreach (var prefix in new[] { "z", "a", "m" })
        {
            ApiAssert.Ok(_api.Call(Requests.SgAdd(prefix + Ids.New("sg"))));
        }

        var list = ApiAssert.Ok(_api.Call(Requests.SgList())).SgList.ToList();

        Assert.Equal(list.Order(StringComparer.Ordinal), list);
        Assert.Equal(list, ApiAssert.Ok(_api.Call(Requests.SgDetails(""))).SgDetails.Select(s => s.Id));
    }

    [Fact]
    public void Sg_add_replaces_an_existing_group_rules_and_members()
    {
        var id = Ids.New("sg");
        ApiAssert.Ok(_api.Call(Requests.SgAdd(id, ["10.0.0.1"], [Requests.Rule(Dir.Inbound, 1, "0.0.0.0/0")])));

        ApiAssert.Ok(_api.Call(Requests.SgAdd(id)));

        var sg = Assert.Single(_api.Call(Requests.SgDetails(id)).SgDetails);
        Assert.Empty(sg.Member);
        Assert.Empty(sg.Rule);
    }

    [Fact]
    public void Sg_del_of_an_unknown_group_is_not_an_error() => ApiAssert.Ok(_api.Call(Requests.SgDel(Ids.New("never"))));

    [Fact]
    public void Rules_add_list_del_with_noop_duplicates_and_missing_ones()
    {
        var id = Ids.New("sg");
        var http = Requests.Rule(Dir.Inbound, 6, "0.0.0.0/0", 80, 80);
        var dns = Requests.RuleFromGroup(Dir.Outbound, 17, "other", 53, 53);

        ApiAssert.Ok(_api.Call(Requests.SgRuleAdd(id, http))); // creates the group
        ApiAssert.Ok(_api.Call(Requests.SgRuleAdd(id, dns)));
        ApiAssert.Ok(_api.Call(Requests.SgRuleAdd(id, http))); // duplicate: no-op

        Assert.Equal([http, dns], ApiAssert.Ok(_api.Call(Requests.SgRuleList(id))).SgRuleList);

        ApiAssert.Ok(_api.Call(Requests.SgRuleDel(id, http)));
        ApiAssert.Ok(_api.Call(Requests.SgRuleDel(id, http))); // missing: no-op
        ApiAssert.Ok(_api.Call(Requests.SgRuleDel(Ids.New("none"), http)));

        Assert.Equal([dns], _api.Call(Requests.SgRuleList(id)).SgRuleList);
    }

    [Fact]
    public void Rule_list_of_an_unknown_group_fails() =>
        ApiAssert.Fails(_api.Call(Requests.SgRuleList("no-such-sg")), "no-such-sg");

    [Theory]
    [InlineData(6, null, null, "port_start and port_end")]
    [InlineData(17, 100u, 10u, "port_start 100 is greater than port_end 10")]
    [InlineData(6, 1u, 70000u, "port_end 70000 is out of range")]
    [InlineData(300, null, null, "protocol 300 is out of range")]
    public void Bad_rules_are_refused_with_the_field_named(int protocol, uint? start, uint? end, string expected)
    {
        var id = Ids.New("sg");

        ApiAssert.Fails(_api.Call(Requests.SgRuleAdd(id, Requests.Rule(Dir.Inbound, protocol, "10.0.0.0/8", start, end))), expected);
        ApiAssert.Fails(_api.Call(Requests.SgAdd(id, rules: [Requests.Rule(Dir.Inbound, protocol, "10.0.0.0/8", start, end)])), "rule[0]", expected);
    }

    [Fact]
    public void A_rule_with_both_cidr_and_group_is_refused()
    {
        var rule = Requests.Rule(Dir.Inbound, 1, "10.0.0.0/8");
        rule.SecurityGroup = "other";

        ApiAssert.Fails(_api.Call(Requests.SgRuleAdd(Ids.New("sg"), rule)), "both cidr and security_group");
    }

    [Fact]
    public void A_rule_with_an_oversized_mask_is_refused() =>
        ApiAssert.Fails(_api.Call(Requests.SgRuleAdd(Ids.New("sg"), Requests.Rule(Dir.Inbound, 1, "10.0.0.0/33"))), "mask_size 33");

    [Fact]
    public void Members_add_list_del_keep_order_and_dedupe()
    {
        var id = Ids.New("sg");

        ApiAssert.Ok(_api.Call(Requests.SgMemberAdd(id, "10.0.0.2"))); // creates the group
        ApiAssert.Ok(_api.Call(Requests.SgMemberAdd(id, "2001:0db8::0001")));
        ApiAssert.Ok(_api.Call(Requests.SgMemberAdd(id, "10.0.0.2")));

        Assert.Equal(["10.0.0.2", "2001:db8::1"], ApiAssert.Ok(_api.Call(Requests.SgMemberList(id))).SgMemberList);

        ApiAssert.Ok(_api.Call(Requests.SgMemberDel(id, "10.0.0.2")));
        ApiAssert.Ok(_api.Call(Requests.SgMemberDel(id, "10.0.0.2")));
        Assert.Equal(["2001:db8::1"], _api.Call(Requests.SgMemberList(id)).SgMemberList);
    }

    [Fact]
    public void Member_del_on_a_missing_group_does_not_create_it()
    {
        var id = Ids.New("sg");

        ApiAssert.Ok(_api.Call(Requests.SgMemberDel(id, "10.0.0.1")));

        Assert.DoesNotContain(id, _api.Call(Requests.SgList()).SgList);
        ApiAssert.Fails(_api.Call(Requests.SgMemberList(id)), id);
    }

    [Fact]
    public void A_bad_member_address_is_refused() =>
        ApiAssert.Fails(_api.Call(Requests.SgMemberAdd(Ids.New("sg"), "10.0.0.256")), "10.0.0.256");
}
