namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>What the parser found at layer 3.</summary>
internal enum L3Kind : byte
{
    /// <summary>An EtherType the pipeline does not parse (switched as opaque L2).</summary>
    Other = 0,
    Arp,
    Ipv4,
    Ipv6,
}

/// <summary>Facts the parser noted about a frame beyond its headers' fields.</summary>
[Flags]
internal enum PacketFlags : ushort
{
    None = 0,

    /// <summary>One 802.1Q tag was present and skipped; <see cref="PacketMeta.VlanTci"/> holds it.</summary>
    Vlan = 1 << 0,

    /// <summary>
    /// A second tag (802.1Q or 802.1ad) follows the first, or an 802.1ad tag comes first: the
    /// frame is treated as opaque L2 (<see cref="L3Kind.Other"/>) and nothing deeper is parsed.
    /// </summary>
    StackedVlan = 1 << 1,

    /// <summary>The IPv4 header carries options (IHL &gt; 5).</summary>
    Ipv4Options = 1 << 2,

    /// <summary>The IPv4 DF bit is set.</summary>
    DontFragment = 1 << 3,

    /// <summary>An IPv4 fragment (MF set or offset non-zero) or an IPv6 packet with a Fragment header first.</summary>
    Fragment = 1 << 4,

    /// <summary>A fragment other than the first: it carries no L4 header, ports are 0.</summary>
    LaterFragment = 1 << 5,

    /// <summary>
    /// The IPv6 header is followed by extension headers, which the parser walked:
    /// <see cref="PacketMeta.L4Protocol"/> and <see cref="PacketMeta.L4Offset"/> are the upper
    /// layer's (L4 fields stay 0 after ESP or an unknown extension header).
    /// </summary>
    Ipv6ExtensionHeader = 1 << 6,

    /// <summary>ICMPv6 Neighbour Discovery (RS, RA, NS, NA or Redirect), long enough for its type.</summary>
    NeighbourDiscovery = 1 << 7,
}

/// <summary>
/// Everything later stages need from a frame's headers, parsed once by
/// <see cref="PacketParser"/>. Offsets are from the first byte of the Ethernet header; values are
/// in host order (network order exists only in the frame bytes). A field a frame does not have
/// is 0. Passed by <c>in</c>: it is an 80-byte struct that never leaves the stack.
/// </summary>
internal struct PacketMeta
{
    public MacAddress Destination;
    public MacAddress Source;

    /// <summary>IPv4/IPv6 source, or the ARP sender protocol address.</summary>
    public IpAddr SourceIp;

    /// <summary>IPv4/IPv6 destination, or the ARP target protocol address.</summary>
    public IpAddr DestinationIp;

    /// <summary>The EtherType after the VLAN tag, if any (the frame's own when untagged).</summary>
    public ushort EtherType;

    /// <summary>Tag control information of the 802.1Q tag (PCP, DEI, VID) when <see cref="PacketFlags.Vlan"/>.</summary>
    public ushort VlanTci;

    /// <summary>First byte of the ARP/IP header (14, or 18 with a tag).</summary>
    public ushort L3Offset;

    /// <summary>One past the last byte IP's own length fields cover (bytes after it are Ethernet padding); frame length otherwise.</summary>
    public ushort L3End;

    /// <summary>First byte of the TCP/UDP/ICMP header, or 0 when none was parsed.</summary>
    public ushort L4Offset;

    /// <summary>First byte after the TCP/UDP header, or 0.</summary>
    public ushort PayloadOffset;

    public ushort SourcePort;
    public ushort DestinationPort;

    /// <summary>ARP operation (1 request, 2 reply), or 0.</summary>
    public ushort ArpOperation;

    public PacketFlags Flags;

    public L3Kind L3;

    /// <summary>
    /// IPv4 protocol, or the IPv6 upper-layer protocol once extension headers are walked (an
    /// extension header's number when the walk stopped at one it does not walk, such as ESP).
    /// </summary>
    public byte L4Protocol;

    /// <summary>IPv4 TTL or IPv6 hop limit.</summary>
    public byte Ttl;

    /// <summary>ICMP/ICMPv6 type, or 0.</summary>
    public byte IcmpType;

    /// <summary>ICMP/ICMPv6 code, or 0.</summary>
    public byte IcmpCode;

    /// <summary>TCP flags byte (CWR..FIN), or 0.</summary>
    public byte TcpFlags;

    /// <summary>Identification of a fragment (IPv4's 16 bits, the IPv6 fragment header's 32), 0 when not a fragment.</summary>
    public uint FragmentId;

    public readonly bool Has(PacketFlags flag) => (Flags & flag) != 0;
}
