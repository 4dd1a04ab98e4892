using System.Net;

namespace Butterfly.Domain.SecurityGroups;

/// <summary>Traffic direction of a rule, seen from the NIC. Values are the wire numbers.</summary>
public enum Direction
{
    Inbound = 0,
    Outbound = 1,
}

/// <summary>
/// An address block as the API gave it: the address in canonical text, host bits kept
/// (10.1.2.3/8 is a rule of its own, distinct from 10.0.0.0/8); what it matches is
/// <see cref="Network"/>/<see cref="MaskSize"/>.
/// </summary>
public sealed record CidrSpec(string Address, uint MaskSize)
{
    /// <summary>
    /// The address with its host bits cleared (10.1.2.3/8 gives 10.0.0.0): the prefix a packet's
    /// address is matched against. For a CIDR that passed <see cref="SecurityGroupValidation.NormaliseCidr"/>.
    /// </summary>
    /// <exception cref="FormatException">The address is not an IP address.</exception>
    public IPAddress Network()
    {
        var bytes = IPAddress.Parse(Address).GetAddressBytes();
        for (var bit = (int)Math.Min(MaskSize, (uint)bytes.Length * 8); bit < bytes.Length * 8; bit++)
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        return new IPAddress(bytes);
    }
}

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
