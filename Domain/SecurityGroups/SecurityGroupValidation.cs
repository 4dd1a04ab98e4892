using System.Collections.Immutable;
using System.Net.Sockets;
using Butterfly.Domain.Validation;

namespace Butterfly.Domain.SecurityGroups;

/// <summary>
/// Validates and normalises security groups, rules and members. Field names in errors are
/// the wire names (docs/protocol.md, MessageV0.Sg / Rule / Cidr).
/// </summary>
public static class SecurityGroupValidation
{
    public const int Icmp = 1;
    public const int Tcp = 6;
    public const int Udp = 17;
    public const int Icmpv6 = 58;
    public const int AllProtocols = -1;

    /// <summary>Validates id, members and rules; members and rules are deduplicated in insertion order.</summary>
    public static Validated<SecurityGroupSpec> Normalise(SecurityGroupSpec group)
    {
        var id = Identifiers.GroupId("security group id", group.Id);
        if (!id.IsValid)
            return Validated.Fail<SecurityGroupSpec>(id.Error!);
        var prefix = $"security group '{group.Id}': ";

        // A set beside each list keeps deduplication linear: a group of 100 000 members is
        // one sg_add, and a list scan per member made it quadratic.
        var members = ImmutableArray.CreateBuilder<string>();
        var seenMembers = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var member in group.Members ?? [])
        {
            var ip = IpText.Normalise($"member[{index++}]", member);
            if (!ip.IsValid)
                return Validated.Fail<SecurityGroupSpec>(prefix + ip.Error);
            if (seenMembers.Add(ip.Value!))
                members.Add(ip.Value!);
        }

        var rules = ImmutableArray.CreateBuilder<RuleSpec>();
        var seenRules = new HashSet<RuleSpec>();
        index = 0;
        foreach (var rule in group.Rules ?? [])
        {
            var normalised = NormaliseRule(rule, $"rule[{index++}]");
            if (!normalised.IsValid)
                return Validated.Fail<SecurityGroupSpec>(prefix + normalised.Error);
            if (seenRules.Add(normalised.Value!))
                rules.Add(normalised.Value!);
        }

        return Validated.Ok(new SecurityGroupSpec(group.Id, members.ToImmutable(), rules.ToImmutable()));
    }

    public static Validated<string> NormaliseMember(string? member) => IpText.Normalise("member", member);

    /// <summary>
    /// Checks a rule and returns its canonical form, so that two rules meaning the same thing
    /// are equal (duplicate detection, sg_rule_del). Ports are kept only for TCP and UDP: the
    /// original daemon accepted ports on other protocols and ignored them, and orchestrators
    /// still send them (e.g. ICMP rules carrying 0..0), so they are dropped, not rejected.
    /// A CIDR keeps its address as given, host bits included, in canonical text
    /// (<see cref="NormaliseCidr"/>): 10.1.2.3/8 and 10.0.0.0/8 are two rules, as they were for
    /// the original daemon, whose clients compute a rule's id from that text.
    /// </summary>
    public static Validated<RuleSpec> NormaliseRule(RuleSpec rule, string field = "rule")
    {
        if (!Enum.IsDefined(rule.Direction))
            return Validated.Fail<RuleSpec>($"{field}.direction {(int)rule.Direction} is unknown: expected INBOUND (0) or OUTBOUND (1)");
        if (rule.Protocol is < AllProtocols or > 255)
            return Validated.Fail<RuleSpec>($"{field}.protocol {rule.Protocol} is out of range: expected an IANA protocol number 0..255, or -1 for all protocols");

        uint? portStart = null, portEnd = null;
        if (rule.Protocol is Tcp or Udp)
        {
            var name = rule.Protocol == Tcp ? "TCP" : "UDP";
            if (rule.PortStart is null || rule.PortEnd is null)
                return Validated.Fail<RuleSpec>($"{field}: a {name} rule needs both port_start and port_end");
            if (rule.PortStart > 65535)
                return Validated.Fail<RuleSpec>($"{field}.port_start {rule.PortStart} is out of range: ports are 0..65535");
            if (rule.PortEnd > 65535)
                return Validated.Fail<RuleSpec>($"{field}.port_end {rule.PortEnd} is out of range: ports are 0..65535");
            if (rule.PortStart > rule.PortEnd)
                return Validated.Fail<RuleSpec>($"{field}: port_start {rule.PortStart} is greater than port_end {rule.PortEnd}");
            (portStart, portEnd) = (rule.PortStart, rule.PortEnd);
        }

        uint? icmpType = null, icmpCode = null;
        if (rule.IcmpType is not null || rule.IcmpCode is not null)
        {
            if (rule.Protocol is not (Icmp or Icmpv6))
                return Validated.Fail<RuleSpec>($"{field}: icmp_type and icmp_code are for ICMP (1) and ICMPv6 (58) rules, not protocol {rule.Protocol}");
            if (rule.IcmpType is null)
                return Validated.Fail<RuleSpec>($"{field}: icmp_code {rule.IcmpCode} needs an icmp_type");
            if (rule.IcmpType > 255)
                return Validated.Fail<RuleSpec>($"{field}.icmp_type {rule.IcmpType} is out of range: ICMP types are 0..255");
            if (rule.IcmpCode > 255)
                return Validated.Fail<RuleSpec>($"{field}.icmp_code {rule.IcmpCode} is out of range: ICMP codes are 0..255");
            (icmpType, icmpCode) = (rule.IcmpType, rule.IcmpCode);
        }

        if (rule.Cidr is not null && rule.SecurityGroup is not null)
            return Validated.Fail<RuleSpec>($"{field} has both cidr and security_group: a rule allows either an address block or a group's members, not both");
        if (rule.Cidr is null && rule.SecurityGroup is null)
            return Validated.Fail<RuleSpec>($"{field} has neither cidr nor security_group: a rule needs exactly one of them");

        if (rule.SecurityGroup is not null)
        {
            var group = Identifiers.GroupId($"{field}.security_group", rule.SecurityGroup);
            if (!group.IsValid)
                return Validated.Fail<RuleSpec>(group.Error!);
            return Validated.Ok(new RuleSpec(rule.Direction, rule.Protocol, portStart, portEnd, null, rule.SecurityGroup, icmpType, icmpCode));
        }

        var cidr = NormaliseCidr(rule.Cidr!, $"{field}.cidr");
        return cidr.IsValid
            ? Validated.Ok(new RuleSpec(rule.Direction, rule.Protocol, portStart, portEnd, cidr.Value, null, icmpType, icmpCode))
            : Validated.Fail<RuleSpec>(cidr.Error!);
    }

    /// <summary>
    /// Checks a CIDR and writes its address in canonical text (<c>2001:0db8::0001/64</c> becomes
    /// <c>2001:db8::1/64</c>). Host bits are kept: the rule is stored, listed and identified as
    /// given, and only matching reduces it to its prefix (<see cref="CidrSpec.Network"/>). Logs
    /// written before this held masked addresses; they are ordinary CIDRs and replay as they are.
    /// </summary>
    public static Validated<CidrSpec> NormaliseCidr(CidrSpec cidr, string field = "cidr")
    {
        var address = IpText.Parse($"{field}.address", cidr.Address);
        if (!address.IsValid)
            return Validated.Fail<CidrSpec>(address.Error!);
        var bits = address.Value!.AddressFamily == AddressFamily.InterNetwork ? 32u : 128u;
        if (cidr.MaskSize > bits)
        {
            return Validated.Fail<CidrSpec>(
                $"{field}.mask_size {cidr.MaskSize} is too large for {cidr.Address}: at most {bits} for an IPv{(bits == 32 ? 4 : 6)} address");
        }

        return Validated.Ok(new CidrSpec(address.Value.ToString(), cidr.MaskSize));
    }
}
