using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Domain.Tests.Validation;

public class SecurityGroupValidationTests
{
    private static RuleSpec Tcp(uint? start, uint? end) => new(Direction.Inbound, 6, start, end, new CidrSpec("10.0.0.0", 8), null);

    [Fact]
    public void TcpAndUdpNeedAValidPortRange()
    {
        Assert.True(SecurityGroupValidation.NormaliseRule(Tcp(22, 22)).IsValid);
        Assert.True(SecurityGroupValidation.NormaliseRule(Tcp(0, 65535)).IsValid);
        Assert.Equal("rule: a TCP rule needs both port_start and port_end", SecurityGroupValidation.NormaliseRule(Tcp(22, null)).Error);
        Assert.Equal("rule: a UDP rule needs both port_start and port_end",
            SecurityGroupValidation.NormaliseRule(Tcp(null, 22) with { Protocol = 17 }).Error);
        Assert.Equal("rule.port_start 65536 is out of range: ports are 0..65535", SecurityGroupValidation.NormaliseRule(Tcp(65536, 65536)).Error);
        Assert.Equal("rule.port_end 70000 is out of range: ports are 0..65535", SecurityGroupValidation.NormaliseRule(Tcp(1, 70000)).Error);
        Assert.Equal("rule: port_start 80 is greater than port_end 79", SecurityGroupValidation.NormaliseRule(Tcp(80, 79)).Error);
    }

    [Theory]
    [InlineData(-2)]
    [InlineData(256)]
    public void ProtocolMustBeIanaOrAll(int protocol)
    {
        var error = SecurityGroupValidation.NormaliseRule(Tcp(1, 2) with { Protocol = protocol }).Error;
        Assert.Equal($"rule.protocol {protocol} is out of range: expected an IANA protocol number 0..255, or -1 for all protocols", error);
    }

    [Fact]
    public void OtherProtocolsDropTheirPorts()
    {
        var rule = SecurityGroupValidation.NormaliseRule(Tcp(5, 1) with { Protocol = 1 }).Value!;
        Assert.Null(rule.PortStart);
        Assert.Null(rule.PortEnd);
        Assert.Equal(SecurityGroupValidation.NormaliseRule(Tcp(null, null) with { Protocol = 1 }).Value, rule);
        Assert.True(SecurityGroupValidation.NormaliseRule(Tcp(null, null) with { Protocol = -1 }).IsValid);
    }

    [Fact]
    public void IcmpRulesMayNameATypeAndACode()
    {
        var echo = Tcp(null, null) with { Protocol = 1, IcmpType = 8, IcmpCode = 0 };
        var v6Any = Tcp(null, null) with { Protocol = 58, IcmpType = 128 };
        Assert.Equal(echo, SecurityGroupValidation.NormaliseRule(echo).Value);
        Assert.Equal(v6Any, SecurityGroupValidation.NormaliseRule(v6Any).Value);
        Assert.NotEqual(SecurityGroupValidation.NormaliseRule(echo).Value, SecurityGroupValidation.NormaliseRule(echo with { IcmpCode = null }).Value);

        Assert.Equal("rule: icmp_type and icmp_code are for ICMP (1) and ICMPv6 (58) rules, not protocol 6",
            SecurityGroupValidation.NormaliseRule(Tcp(22, 22) with { IcmpType = 8 }).Error);
        Assert.Equal("rule: icmp_code 0 needs an icmp_type", SecurityGroupValidation.NormaliseRule(echo with { IcmpType = null }).Error);
        Assert.Equal("rule.icmp_type 256 is out of range: ICMP types are 0..255", SecurityGroupValidation.NormaliseRule(echo with { IcmpType = 256 }).Error);
        Assert.Equal("rule.icmp_code 300 is out of range: ICMP codes are 0..255", SecurityGroupValidation.NormaliseRule(echo with { IcmpCode = 300 }).Error);
    }

    [Fact]
    public void ExactlyOneOfCidrAndGroup()
    {
        var both = Tcp(1, 2) with { SecurityGroup = "sg" };
        Assert.StartsWith("rule has both cidr and security_group", SecurityGroupValidation.NormaliseRule(both).Error, StringComparison.Ordinal);
        var neither = Tcp(1, 2) with { Cidr = null };
        Assert.StartsWith("rule has neither cidr nor security_group", SecurityGroupValidation.NormaliseRule(neither).Error, StringComparison.Ordinal);
        var group = Tcp(1, 2) with { Cidr = null, SecurityGroup = "sg-2" };
        Assert.Equal(group, SecurityGroupValidation.NormaliseRule(group).Value);
        Assert.StartsWith("rule.security_group is empty", SecurityGroupValidation.NormaliseRule(group with { SecurityGroup = "" }).Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10.1.2.3", 8u, "10.1.2.3")]
    [InlineData("10.0.0.0", 8u, "10.0.0.0")]
    [InlineData("10.1.2.3", 0u, "10.1.2.3")]
    [InlineData("2001:0db8:0000:0000:0000:0000:0000:0001", 64u, "2001:db8::1")]
    [InlineData("2001:db8:0:85a3::ac1f:8001", 8u, "2001:db8:0:85a3::ac1f:8001")]
    [InlineData("2001:DB8::FFFF", 127u, "2001:db8::ffff")]
    public void CidrKeepsItsHostBitsInCanonicalText(string address, uint mask, string expected)
    {
        var cidr = SecurityGroupValidation.NormaliseCidr(new CidrSpec(address, mask)).Value!;
        Assert.Equal(new CidrSpec(expected, mask), cidr);
    }

    [Theory]
    [InlineData("10.1.2.3", 8u, "10.0.0.0")]
    [InlineData("10.1.2.3", 32u, "10.1.2.3")]
    [InlineData("10.1.2.3", 0u, "0.0.0.0")]
    [InlineData("10.1.2.3", 23u, "10.1.2.0")]
    [InlineData("2001:db8::1", 64u, "2001:db8::")]
    [InlineData("2001:db8:0:85a3::ac1f:8001", 8u, "2000::")]
    [InlineData("2001:db8::ffff", 127u, "2001:db8::fffe")]
    public void MatchingUsesThePrefix(string address, uint mask, string network) =>
        Assert.Equal(network, new CidrSpec(address, mask).Network().ToString());

    [Fact]
    public void RulesDifferingOnlyInHostBitsAreTwoRules()
    {
        var withHostBits = SecurityGroupValidation.NormaliseRule(Tcp(22, 22) with { Cidr = new CidrSpec("10.1.2.3", 8) }).Value!;
        var network = SecurityGroupValidation.NormaliseRule(Tcp(22, 22)).Value!;
        Assert.NotEqual(withHostBits, network);
        Assert.Equal(withHostBits.Cidr!.Network(), network.Cidr!.Network());
    }

    [Fact]
    public void CidrMaskAndAddressAreChecked()
    {
        Assert.Equal("cidr.mask_size 33 is too large for 10.0.0.0: at most 32 for an IPv4 address",
            SecurityGroupValidation.NormaliseCidr(new CidrSpec("10.0.0.0", 33)).Error);
        Assert.Equal("cidr.mask_size 129 is too large for ::: at most 128 for an IPv6 address",
            SecurityGroupValidation.NormaliseCidr(new CidrSpec("::", 129)).Error);
        Assert.StartsWith("rule.cidr.address 'x' is not a valid IP address",
            SecurityGroupValidation.NormaliseRule(Tcp(1, 1) with { Cidr = new CidrSpec("x", 1) }).Error, StringComparison.Ordinal);
    }

    [Fact]
    public void DirectionMustBeKnown() =>
        Assert.StartsWith("rule.direction 5 is unknown", SecurityGroupValidation.NormaliseRule(Tcp(1, 1) with { Direction = (Direction)5 }).Error, StringComparison.Ordinal);

    [Fact]
    public void GroupMembersAndRulesAreNormalisedAndDeduplicated()
    {
        var group = new SecurityGroupSpec("sg-1",
            ["2001:0db8::1", "10.0.0.1", "2001:db8::1"],
            [Tcp(22, 22), Tcp(80, 80), Tcp(22, 22) with { Cidr = new CidrSpec("10.0.0.0", 8) }, Tcp(22, 22) with { Cidr = new CidrSpec("10.9.9.9", 8) }]);
        var result = SecurityGroupValidation.Normalise(group).Value!;
        Assert.Equal(["2001:db8::1", "10.0.0.1"], result.Members);
        Assert.Equal([Tcp(22, 22), Tcp(80, 80), Tcp(22, 22) with { Cidr = new CidrSpec("10.9.9.9", 8) }], result.Rules);
    }

    [Fact]
    public void GroupErrorsNameTheGroupAndTheItem()
    {
        Assert.StartsWith("security group 'sg-1': member[1] 'bad' is not a valid IP address",
            SecurityGroupValidation.Normalise(new SecurityGroupSpec("sg-1", ["10.0.0.1", "bad"], [])).Error, StringComparison.Ordinal);
        Assert.Equal("security group 'sg-1': rule[1]: port_start 2 is greater than port_end 1",
            SecurityGroupValidation.Normalise(new SecurityGroupSpec("sg-1", [], [Tcp(1, 1), Tcp(2, 1)])).Error);
        Assert.Equal("security group id is empty: a security group needs an id",
            SecurityGroupValidation.Normalise(new SecurityGroupSpec("", [], [])).Error);
    }
}
