namespace Butterfly.Domain.SecurityGroups;

/// <summary>Traffic direction of a rule, seen from the NIC. Values are the wire numbers.</summary>
public enum Direction
{
    Inbound = 0,
    Outbound = 1,
}

/// <summary>An address block; the address is normalised to its network address's canonical text.</summary>
public sealed record CidrSpec(string Address, uint MaskSize);

/// <summary>
/// One allow rule. Protocol is an IANA number 0..255 or -1 for all; TCP (6) and UDP (17)
/// carry a port range; ICMP (1) and ICMPv6 (58) may name a type and, with it, a code
/// (absent: any); exactly one of <see cref="Cidr"/> and <see cref="SecurityGroup"/> is set.
/// </summary>
public sealed record RuleSpec(
    Direction Direction,
    int Protocol,
    uint? PortStart,
    uint? PortEnd,
    CidrSpec? Cidr,
    string? SecurityGroup,
    uint? IcmpType = null,
    uint? IcmpCode = null);

/// <summary>A security group as sg_add / sg_details describe it: members and rules in insertion order.</summary>
public sealed record SecurityGroupSpec(string Id, IReadOnlyList<string> Members, IReadOnlyList<RuleSpec> Rules);
