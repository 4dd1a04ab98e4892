using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>
/// Stage: anti-spoofing, on every frame a VM sends (not for <see cref="NicFilter.Bypass"/> NICs).
///
/// Input: the frame and its <see cref="PacketMeta"/>, the sending NIC's <see cref="NicFilter"/>.
/// Output: <see cref="DropReason.None"/>, or why the frame is dropped:
/// - <see cref="DropReason.SpoofSourceMac"/>: the Ethernet source is not the NIC's MAC.
/// - <see cref="DropReason.SpoofRarp"/>: a RARP frame (a VM has no business answering or asking them).
/// - <see cref="DropReason.SpoofSourceIp"/>: an IPv4/IPv6 source that is not the NIC's, when
///   the NIC has IPs. Allowed besides: 0.0.0.0 for a DHCP client's discovery (UDP 68 → 67);
///   the NIC's EUI-64 link-local address; for neighbour discovery and MLD, any link-local
///   source and :: (duplicate address detection).
/// - <see cref="DropReason.SpoofRouterMessage"/>: an ICMPv6 router advertisement or redirect.
/// - <see cref="DropReason.SpoofDhcpServer"/>: a DHCP (UDP 67 → 68) or DHCPv6 (547 → 546) server message.
/// - With <see cref="NicFilter.IpAntiSpoof"/>: <see cref="DropReason.SpoofArp"/> when an ARP's
///   sender MAC is not the NIC's or (the NIC having IPs) its sender IP is neither the NIC's nor
///   0.0.0.0 (a probe); <see cref="DropReason.SpoofNeighbourDiscovery"/> when a neighbour
///   advertisement's target is not the NIC's (the NIC having IPs) or a source/target link-layer
///   option names another MAC.
/// A NIC with no IP is not IP-filtered, as today's clients expect; its MAC still is.
/// State: none. Thread: any (pure function). Per packet: a MAC compare and a scan of the NIC's
/// few IPs; options are walked only for ND with ip_anti_spoof.
/// </summary>
internal static class AntiSpoof
{
    private const ushort TypeRarp = 0x8035;
    private const ushort DhcpServerPort = 67;
    private const ushort DhcpClientPort = 68;
    private const ushort Dhcp6ServerPort = 547;
    private const ushort Dhcp6ClientPort = 546;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static DropReason Check(NicFilter nic, ReadOnlySpan<byte> frame, in PacketMeta meta)
    {
        if (meta.Source != nic.Mac)
        {
            return DropReason.SpoofSourceMac;
        }
        return meta.L3 switch
        {
            L3Kind.Ipv4 => CheckIpv4(nic, meta),
            L3Kind.Ipv6 => CheckIpv6(nic, frame, meta),
            L3Kind.Arp => nic.IpAntiSpoof ? CheckArp(nic, frame, meta) : DropReason.None,
            _ => meta.EtherType == TypeRarp ? DropReason.SpoofRarp : DropReason.None,
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static DropReason CheckIpv4(NicFilter nic, in PacketMeta meta)
    {
        var udp = meta.L4Protocol == Ipv4Header.ProtocolUdp && meta.L4Offset != 0;
        if (udp && meta.SourcePort == DhcpServerPort && meta.DestinationPort == DhcpClientPort)
        {
            return DropReason.SpoofDhcpServer;
        }
        if (nic.Ips.Length == 0 || nic.Owns(meta.SourceIp))
        {
            return DropReason.None;
        }
        return meta.SourceIp.IsUnspecified && udp && meta.SourcePort == DhcpClientPort && meta.DestinationPort == DhcpServerPort
            ? DropReason.None
            : DropReason.SpoofSourceIp;
    }

    private static DropReason CheckIpv6(NicFilter nic, ReadOnlySpan<byte> frame, in PacketMeta meta)
    {
        var icmp = meta.L4Protocol == Ipv6Header.NextIcmpv6 && meta.L4Offset != 0;
        if (icmp && meta.IcmpType is NdMessage.RouterAdvertisement or NdMessage.Redirect)
        {
            return DropReason.SpoofRouterMessage;
        }
        if (meta.L4Protocol == Ipv4Header.ProtocolUdp && meta.L4Offset != 0
            && meta.SourcePort == Dhcp6ServerPort && meta.DestinationPort == Dhcp6ClientPort)
        {
            return DropReason.SpoofDhcpServer;
        }
        var linkScoped = icmp && IsLinkScopedControl(meta.IcmpType);
        if (nic.Ips.Length != 0 && !nic.Owns(meta.SourceIp) && meta.SourceIp != nic.LinkLocal
            && !(linkScoped && (meta.SourceIp.IsUnspecified || IsLinkLocal(meta.SourceIp))))
        {
            return DropReason.SpoofSourceIp;
        }
        return nic.IpAntiSpoof && meta.Has(PacketFlags.NeighbourDiscovery) ? CheckNeighbourDiscovery(nic, frame, meta) : DropReason.None;
    }

    private static DropReason CheckArp(NicFilter nic, ReadOnlySpan<byte> frame, in PacketMeta meta)
    {
        var arp = frame[meta.L3Offset..];
        if (MacAddress.Read(arp[ArpHeader.SenderMacOffset..]) != nic.Mac)
        {
            return DropReason.SpoofArp;
        }
        return nic.Ips.Length == 0 || meta.SourceIp.IsUnspecified || nic.Owns(meta.SourceIp) ? DropReason.None : DropReason.SpoofArp;
    }

    /// <summary>A neighbour advertisement's target must be the NIC's; every link-layer address option must be its MAC.</summary>
    private static DropReason CheckNeighbourDiscovery(NicFilter nic, ReadOnlySpan<byte> frame, in PacketMeta meta)
    {
        var icmp = frame[meta.L4Offset..Math.Min((int)meta.L3End, frame.Length)];
        var type = meta.IcmpType;
        if (type == NdMessage.NeighbourAdvertisement && nic.Ips.Length != 0)
        {
            var target = IpAddr.ReadV6(icmp[NdMessage.TargetOffset..]);
            if (!nic.Owns(target) && target != nic.LinkLocal)
            {
                return DropReason.SpoofNeighbourDiscovery;
            }
        }
        var options = type switch
        {
            NdMessage.RouterSolicitation => 8,
            NdMessage.NeighbourSolicitation or NdMessage.NeighbourAdvertisement => NdMessage.OptionsOffset,
            _ => icmp.Length,
        };
        while (options + 2 <= icmp.Length)
        {
            var length = icmp[options + 1] * 8;
            if (length == 0 || options + length > icmp.Length)
            {
                return DropReason.SpoofNeighbourDiscovery;
            }
            var kind = icmp[options];
            if (kind is NdMessage.OptionSourceLinkLayer or NdMessage.OptionTargetLinkLayer
                && (length < NdMessage.LinkLayerOptionLength || MacAddress.Read(icmp[(options + 2)..]) != nic.Mac))
            {
                return DropReason.SpoofNeighbourDiscovery;
            }
            options += length;
        }
        return DropReason.None;
    }

    /// <summary>ICMPv6 messages that live on the link and may come from a link-local or unspecified source: ND and MLD.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsLinkScopedControl(byte icmpType) =>
        icmpType is (>= MldQuery and <= MldDone) or MldV2Report or (>= NdMessage.RouterSolicitation and <= NdMessage.Redirect);

    private const byte MldQuery = 130;
    private const byte MldDone = 132;
    private const byte MldV2Report = 143;

    private static bool IsLinkLocal(IpAddr address) => !address.IsV4 && (address.Hi >> 54) == (0xFE80UL >> 6);
}
