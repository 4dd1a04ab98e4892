using Butterfly.Cli.Rules;
using Butterfly.Cli.Tests.Support;
using Butterfly.Wire;
using static Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Cli.Tests.Commands;

public class SgCommandTests
{
    private static readonly Rule Ssh = new() { Direction = Rule.Types.Direction.Inbound, Protocol = 6, PortStart = 22, PortEnd = 22, Cidr = new Cidr { Address = "0.0.0.0", MaskSize = 0 } };
    private static readonly Rule Web = new() { Direction = Rule.Types.Direction.Inbound, Protocol = 6, PortStart = 80, PortEnd = 443, SecurityGroup = "lb" };

    private static Func<Messages, Messages> WithRules() => Client.Ok((req, res) =>
    {
        if (req.HasSgRuleList)
            res.SgRuleList.AddRange([Ssh, Web]);
    });

    [Fact]
    public void List_add_del_send_one_message_per_group()
    {
        var list = Client.Run(Client.Ok((_, res) => res.SgList.AddRange(["g1", "g2"])), "sg", "list");
        Assert.Equal("g1\ng2\n", list.Out);
        var add = Client.Run("sg", "add", "a", "b");
        Assert.Equal([new Sg { Id = "a" }, new Sg { Id = "b" }], add.Sent.Select(s => s.SgAdd));
        Assert.Single(add.Requests);
        var del = Client.Run("sg", "del", "a", "b");
        Assert.Equal(["a", "b"], del.Sent.Select(s => s.SgDel));
    }

    [Fact]
    public void Rule_list_prints_ids_and_fields_like_the_original()
    {
        var r = Client.Run(WithRules(), "sg", "rule", "list", "g");
        Assert.Equal(0, r.Code);
        Assert.Equal(
            "53938368015a2a6d | direction: INBOUND - IP protocol: 6 - port start: 22 - port end: 22 - cidr: 0.0.0.0/0 - members of sg: Ø\n" +
            RuleId.Of(Web) + " | direction: INBOUND - IP protocol: 6 - port start: 80 - port end: 443 - cidr: Ø - members of sg: lb\n",
            r.Out);
        Assert.Equal("g", r.Sent.Single().SgRuleList);
    }

    [Theory]
    [InlineData("sg rule add g --ip-proto tcp --port 22 --cidr 0.0.0.0/0", 6, 22u, 22u, "0.0.0.0", 0u, null, 0)]
    [InlineData("sg rule add g --dir out --ip-proto udp --port-start 53 --port-end 54 --sg-members dns", 17, 53u, 54u, null, 0u, "dns", 1)]
    [InlineData("sg rule add g --ip-proto icmp --cidr 2001:db8::/32", 1, null, null, "2001:db8::", 32u, null, 0)]
    [InlineData("sg rule add g --ip-proto all --dir in --cidr 10.0.0.0/8", -1, null, null, "10.0.0.0", 8u, null, 0)]
    [InlineData("sg rule add g --ip-proto 132 --port-start 1 --port-end 2 --sg-members x", 132, 1u, 2u, null, 0u, "x", 0)]
    [InlineData("sg rule add g --ip-proto tcp --port-start 0 --port-end 65535 --cidr 0.0.0.0/0", 6, 0u, 65535u, "0.0.0.0", 0u, null, 0)]
    public void Rule_add_sends_the_rule(string line, int proto, uint? start, uint? end, string? address, uint mask, string? members, int direction)
    {
        var r = Client.Run(line.Split(' '));
        Assert.Equal(0, r.Code);
        var req = r.Sent.Single().SgRuleAdd;
        Assert.Equal("g", req.SgId);
        var expected = new Rule { Direction = (Rule.Types.Direction)direction, Protocol = proto };
        if (start is not null)
        {
            expected.PortStart = start.Value;
            expected.PortEnd = end!.Value;
        }
        if (address is not null)
            expected.Cidr = new Cidr { Address = address, MaskSize = mask };
        if (members is not null)
            expected.SecurityGroup = members;
        Assert.Equal(expected, req.Rule);
    }

    [Fact]
    public void Icmp_rules_carry_type_and_code_and_list_them_after_the_original_fields()
    {
        var r = Client.Run("sg rule add g --ip-proto icmpv6 --icmp-type 128 --icmp-code 0 --cidr ::/0".Split(' '));
        Assert.Equal(0, r.Code);
        var rule = r.Sent.Single().SgRuleAdd.Rule;
        Assert.Equal(58, rule.Protocol);
        Assert.Equal(128u, rule.IcmpType);
        Assert.Equal(0u, rule.IcmpCode);

        var echo = new Rule { Direction = Rule.Types.Direction.Inbound, Protocol = 1, IcmpType = 8, Cidr = new Cidr { Address = "0.0.0.0", MaskSize = 0 } };
        var list = Client.Run(Client.Ok((req, res) => res.SgRuleList.Add(echo)), "sg", "rule", "list", "g");
        Assert.Equal(RuleId.Of(echo) + " | direction: INBOUND - IP protocol: 1 - port start: Ø - port end: Ø - cidr: 0.0.0.0/0 - members of sg: Ø - icmp type: 8 - icmp code: Ø\n", list.Out);
        // The type is part of the rule's identity.
        Assert.NotEqual(RuleId.Of(echo), RuleId.Of(new Rule(echo) { IcmpType = 0 }));

        Assert.Equal(1, Client.Run("sg rule add g --ip-proto tcp --port 22 --icmp-type 8 --cidr ::/0".Split(' ')).Code);
        Assert.Equal(1, Client.Run("sg rule add g --ip-proto icmp --icmp-code 1 --cidr ::/0".Split(' ')).Code);
    }

    [Fact]
    public void Rule_del_by_id_deletes_the_rule_the_daemon_listed()
    {
        var r = Client.Run(WithRules(), "sg", "rule", "del", "g", RuleId.Of(Web).ToUpperInvariant());
        Assert.Equal(0, r.Code);
        Assert.Equal(2, r.Requests.Count);
        Assert.Equal(new SgRuleDelReq { SgId = "g", Rule = Web }, r.Sent[1].SgRuleDel);
    }

    [Fact]
    public void Rule_del_by_unknown_id_fails()
    {
        var r = Client.Run(WithRules(), "sg", "rule", "del", "g", "0000000000000000");
        Assert.Equal(1, r.Code);
        Assert.Equal("no rule found with id 0000000000000000 in security group g\n", r.Err);
        Assert.Single(r.Requests);
    }

    [Fact]
    public void Rule_del_by_options_sends_the_rule()
    {
        var r = Client.Run("sg", "rule", "del", "g", "--ip-proto", "tcp", "--port", "22", "--cidr", "0.0.0.0/0");
        Assert.Equal(new SgRuleDelReq { SgId = "g", Rule = Ssh }, r.Sent.Single().SgRuleDel);
    }

    [Fact]
    public void Member_commands()
    {
        var list = Client.Run(Client.Ok((_, res) => res.SgMemberList.AddRange(["10.0.0.1", "::1"])), "sg", "member", "list", "g");
        Assert.Equal("10.0.0.1\n::1\n", list.Out);
        Assert.Equal("g", list.Sent.Single().SgMemberList);
        Assert.Equal(new SgMemberAddReq { SgId = "g", Member = "1.2.3.4" }, Client.Run("sg", "member", "add", "g", "1.2.3.4").Sent.Single().SgMemberAdd);
        Assert.Equal(new SgMemberDelReq { SgId = "g", Member = "1.2.3.4" }, Client.Run("sg", "member", "del", "g", "1.2.3.4").Sent.Single().SgMemberDel);
    }
}
