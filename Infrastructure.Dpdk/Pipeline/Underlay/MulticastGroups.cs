namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// Butterfly's flooding mode: one underlay multicast group per VNI, so BUM frames reach every
/// host with a NIC in the VNI and no other.
/// - IPv4: 230.x.y.z where x.y.z are the VNI's three bytes (230/8 is in the organisation-local
///   239/8's neighbourhood but unassigned by IANA; Butterfly has always used it).
/// - IPv6: ff00::/96 + the VNI in the low 32 bits. Note: ff00::/16 has scope 0 (reserved,
///   RFC 4291 §2.7), which the Linux kernel refuses to route or deliver; it works between
///   userspace VTEPs on one L2 segment (what Butterfly deployments used) and not across routers.
/// - MACs: IPv4 groups map to 01:00:5e + the low 23 bits (RFC 1112 §6.4), IPv6 groups to 33:33 +
///   the low 32 bits (RFC 2464 §7).
/// </summary>
internal static class MulticastGroups
{
    public static IpAddr Ipv4GroupOf(uint vni) => IpAddr.FromV4((230u << 24) | (vni & 0xFF_FFFF));

    public static IpAddr Ipv6GroupOf(uint vni) => new(0xFF00_0000_0000_0000, vni & 0xFF_FFFF);

    public static IpAddr GroupOf(uint vni, bool v4) => v4 ? Ipv4GroupOf(vni) : Ipv6GroupOf(vni);

    /// <summary>ff02::1:ff00:0/104 + the low 24 bits of <paramref name="address"/>: where neighbour solicitations for it go (RFC 4291 §2.7.1).</summary>
    public static IpAddr SolicitedNodeOf(IpAddr address) => new(0xFF02_0000_0000_0000, 0x0000_0001_FF00_0000 | (address.Lo & 0xFF_FFFF));

    /// <summary>The Ethernet address a frame to multicast <paramref name="group"/> is sent to.</summary>
    public static MacAddress MacOf(IpAddr group) =>
        group.IsV4
            ? new MacAddress(0x0100_5E00_0000UL | (group.V4 & 0x7F_FFFF))
            : new MacAddress(0x3333_0000_0000UL | (group.Lo & 0xFFFF_FFFF));
}
