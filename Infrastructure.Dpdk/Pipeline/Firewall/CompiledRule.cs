using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>
/// What a rule looks at in a packet that opens a flow, seen from the NIC the rule protects:
/// the peer (source of an inbound flow, destination of an outbound one), the protocol, the
/// destination port, the ICMP type and code.
/// </summary>
internal readonly struct FlowView
{
    public FlowView(IpAddr peer, byte protocol, bool hasPorts, ushort destinationPort, bool isIcmp, byte icmpType, byte icmpCode)
    {
        Peer = peer;
        Protocol = protocol;
        HasPorts = hasPorts;
        DestinationPort = destinationPort;
        IsIcmp = isIcmp;
        IcmpType = icmpType;
        IcmpCode = icmpCode;
    }

    public IpAddr Peer { get; }

    /// <summary>IPv4 protocol or IPv6 upper-layer protocol.</summary>
    public byte Protocol { get; }

    /// <summary>TCP or UDP with a parsed header (a later fragment has none).</summary>
    public bool HasPorts { get; }

    public ushort DestinationPort { get; }

    /// <summary>ICMP over IPv4 or ICMPv6 over IPv6, with a parsed type and code.</summary>
    public bool IsIcmp { get; }

    public byte IcmpType { get; }

    public byte IcmpCode { get; }

    /// <summary>The view of a parsed packet from the NIC's side: <paramref name="inbound"/> when it goes toward the NIC.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FlowView Of(in PacketMeta meta, bool inbound)
    {
        var l4 = meta.L4Offset != 0;
        var protocol = meta.L4Protocol;
        var ports = l4 && protocol is Ipv4Header.ProtocolTcp or Ipv4Header.ProtocolUdp;
        var icmp = l4 && (meta.L3 == L3Kind.Ipv4 ? protocol == Ipv4Header.ProtocolIcmp : protocol == Ipv6Header.NextIcmpv6);
        return new FlowView(inbound ? meta.SourceIp : meta.DestinationIp, protocol, ports, meta.DestinationPort, icmp, meta.IcmpType, meta.IcmpCode);
    }
}

/// <summary>
/// One allow rule of a security group, compiled for matching: the protocol (or any), the
/// destination-port range of TCP/UDP, the ICMP type and code (or any), and the peer as an
/// address prefix or the members of a group (<see cref="MemberGroup"/> indexes
/// <see cref="FirewallPolicy.Members"/>). A CIDR matches its own family only (0.0.0.0/0 is every
/// IPv4 peer, ::/0 every IPv6 one); a group's members are of either family.
/// Immutable; built by <see cref="PolicyCompiler"/> on the control thread.
/// </summary>
internal readonly struct CompiledRule
{
    /// <summary>No ICMP type or code constraint.</summary>
    public const short AnyIcmp = -1;

    /// <summary>No member group: the rule has a prefix.</summary>
    public const int NoGroup = -1;

    public CompiledRule(int protocol, ushort portFirst, ushort portLast, short icmpType, short icmpCode,
        IpAddr prefix, int prefixLength, int memberGroup)
    {
        AnyProtocol = protocol < 0;
        Protocol = (byte)Math.Max(protocol, 0);
        PortFirst = portFirst;
        PortLast = portLast;
        IcmpType = icmpType;
        IcmpCode = icmpCode;
        Prefix = prefix;
        PrefixLength = prefixLength;
        MemberGroup = memberGroup;
    }

    public bool AnyProtocol { get; }

    public byte Protocol { get; }

    /// <summary>First and last destination port, for TCP and UDP rules (0..65535 otherwise).</summary>
    public ushort PortFirst { get; }

    public ushort PortLast { get; }

    /// <summary>ICMP type, or <see cref="AnyIcmp"/>.</summary>
    public short IcmpType { get; }

    /// <summary>ICMP code, or <see cref="AnyIcmp"/>.</summary>
    public short IcmpCode { get; }

    public IpAddr Prefix { get; }

    /// <summary>Prefix length in the address's own family (0..32 for IPv4, 0..128 for IPv6).</summary>
    public int PrefixLength { get; }

    /// <summary>Index of the group whose members the peer must be one of, or <see cref="NoGroup"/>.</summary>
    public int MemberGroup { get; }

    /// <summary>True when <paramref name="flow"/> is allowed by this rule; <paramref name="members"/> indexes member sets.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Matches(in FlowView flow, MemberSet[] members)
    {
        if (!AnyProtocol)
        {
            if (flow.Protocol != Protocol)
            {
                return false;
            }
            if (Protocol is Ipv4Header.ProtocolTcp or Ipv4Header.ProtocolUdp
                && (!flow.HasPorts || flow.DestinationPort < PortFirst || flow.DestinationPort > PortLast))
            {
                return false;
            }
            if (IcmpType != AnyIcmp && (!flow.IsIcmp || flow.IcmpType != IcmpType || (IcmpCode != AnyIcmp && flow.IcmpCode != IcmpCode)))
            {
                return false;
            }
        }
        return MemberGroup == NoGroup
            ? Prefix.SharesPrefix(flow.Peer, PrefixLength)
            : MemberGroup < members.Length && members[MemberGroup].Contains(flow.Peer);
    }
}

/// <summary>The rules of one security group, by direction, compiled. Immutable.</summary>
internal sealed class GroupRules
{
    public static readonly GroupRules None = new([], []);

    public GroupRules(CompiledRule[] inbound, CompiledRule[] outbound)
    {
        Inbound = inbound;
        Outbound = outbound;
    }

    /// <summary>Rules admitting flows toward the NIC.</summary>
    public CompiledRule[] Inbound { get; }

    /// <summary>Rules admitting flows the NIC opens; none means every outbound flow is allowed.</summary>
    public CompiledRule[] Outbound { get; }
}
