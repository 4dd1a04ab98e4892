using System.Buffers.Binary;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>The group record types of IGMPv3 (RFC 3376 §4.2.12) and MLDv2 (RFC 3810 §5.2.12) a host sends.</summary>
internal enum GroupRecordType : byte
{
    /// <summary>Current state, "any source": the answer to a query, and our periodic report.</summary>
    ModeIsExclude = 2,

    /// <summary>Leave: no source is wanted any more.</summary>
    ChangeToInclude = 3,

    /// <summary>Join: every source is wanted.</summary>
    ChangeToExclude = 4,
}

/// <summary>
/// The host side of IGMPv3 and MLDv2 for the VTEP's per-VNI groups (<see cref="MulticastGroups"/>):
/// builds membership reports and recognises queries. Snooping switches and multicast routers on
/// the underlay learn from these reports which ports want a VNI's floods; without them a
/// snooping switch with a querier stops forwarding the groups to us.
///
/// Reports use only "any source" records (exclude mode, no sources), as an IGMPv2/MLDv1 join
/// would: Linux bridges and multicast routers in IGMPv2/MLDv1 mode read them the same way.
/// IPv4: to 224.0.0.22 from the VTEP address, TTL 1, with the Router Alert option (RFC 2113).
/// IPv6: to ff02::16 from the link-local address made from the underlay MAC (RFC 3810 §5 wants a
/// link-local source), hop limit 1, Router Alert in a hop-by-hop header (RFC 2711).
/// Thread: any (pure functions over spans).
/// </summary>
internal static class MembershipReports
{
    private const int Ipv4HeaderWithRouterAlert = Ipv4Header.MinLength + 4;
    private const int ReportHeaderLength = 8;
    private const int Igmpv3RecordLength = 8;
    private const int HopByHopLength = 8;
    private const int Mldv2RecordLength = 20;

    private const byte Igmpv3ReportType = 0x22;
    private const byte IgmpQueryType = 0x11;
    private const byte Mldv2ReportType = 143;
    private const byte MldQueryType = 130;

    /// <summary>224.0.0.22, the IGMPv3-capable routers.</summary>
    public static readonly IpAddr Igmpv3Routers = IpAddr.FromV4(0xE000_0016);

    /// <summary>ff02::16, the MLDv2-capable routers.</summary>
    public static readonly IpAddr Mldv2Routers = new(0xFF02_0000_0000_0000, 0x16);

    /// <summary>How many group records one report carries at most within <paramref name="mtu"/>.</summary>
    public static int MaxRecords(bool v4, int mtu) =>
        v4
            ? (mtu - Ipv4HeaderWithRouterAlert - ReportHeaderLength) / Igmpv3RecordLength
            : (mtu - Ipv6Header.Length - HopByHopLength - ReportHeaderLength) / Mldv2RecordLength;

    /// <summary>The frame length of a report with <paramref name="records"/> records.</summary>
    public static int FrameLength(bool v4, int records) =>
        EthernetHeader.Length + (v4
            ? Ipv4HeaderWithRouterAlert + ReportHeaderLength + (records * Igmpv3RecordLength)
            : Ipv6Header.Length + HopByHopLength + ReportHeaderLength + (records * Mldv2RecordLength));

    /// <summary>fe80::/64 with the modified EUI-64 interface identifier of <paramref name="mac"/> (RFC 4291 appendix A).</summary>
    public static IpAddr LinkLocalOf(MacAddress mac)
    {
        var m = mac.Value;
        var eui = ((m >> 24) << 40) | (0xFFFEUL << 24) | (m & 0xFF_FFFF);
        return new IpAddr(0xFE80_0000_0000_0000, eui ^ 0x0200_0000_0000_0000);
    }

    /// <summary>
    /// Writes one report with a record of <paramref name="type"/> for each of <paramref name="groups"/>
    /// (all of one family) into <paramref name="destination"/>; returns the frame length, or 0
    /// when the buffer is too small or <paramref name="groups"/> is empty or mixed.
    /// </summary>
    public static int Build(Span<byte> destination, MacAddress ourMac, IpAddr ourIpv4, ReadOnlySpan<IpAddr> groups, GroupRecordType type)
    {
        if (groups.IsEmpty)
        {
            return 0;
        }
        var v4 = groups[0].IsV4;
        foreach (var g in groups)
        {
            if (g.IsV4 != v4 || !g.IsMulticast)
            {
                return 0;
            }
        }
        var length = FrameLength(v4, groups.Length);
        if (destination.Length < length)
        {
            return 0;
        }
        var frame = destination[..length];
        return v4 ? BuildIgmpv3(frame, ourMac, ourIpv4, groups, type) : BuildMldv2(frame, ourMac, groups, type);
    }

    /// <summary>True when the parsed underlay frame is an IGMP or MLD query (general or group-specific).</summary>
    public static bool IsQuery(ReadOnlySpan<byte> frame, in PacketMeta meta)
    {
        if (meta.L3 == L3Kind.Ipv4)
        {
            return meta.L4Protocol == Ipv4Header.ProtocolIgmp && meta.L4Offset != 0 && meta.L4Offset < frame.Length
                && frame[meta.L4Offset] == IgmpQueryType;
        }
        // MLD comes after a hop-by-hop header (Router Alert), which the parser walks.
        return meta.L3 == L3Kind.Ipv6 && meta.L4Protocol == Ipv6Header.NextIcmpv6 && meta.L4Offset != 0
            && meta.IcmpType == MldQueryType;
    }

    private static int BuildIgmpv3(Span<byte> frame, MacAddress ourMac, IpAddr ourIp, ReadOnlySpan<IpAddr> groups, GroupRecordType type)
    {
        EthernetHeader.Write(frame, MulticastGroups.MacOf(Igmpv3Routers), ourMac, EthernetHeader.TypeIpv4);
        var ip = frame[EthernetHeader.Length..];
        var igmpLength = ReportHeaderLength + (groups.Length * Igmpv3RecordLength);
        Ipv4Header.Write(ip, (ushort)(Ipv4HeaderWithRouterAlert + igmpLength), Ipv4Header.FlagDontFragment, 1,
            Ipv4Header.ProtocolIgmp, ourIp.V4, Igmpv3Routers.V4);
        // Insert the Router Alert option: IHL 6 and the header checksum over 24 bytes.
        ip[Ipv4Header.VersionIhlOffset] = 0x46;
        BinaryPrimitives.WriteUInt32BigEndian(ip[Ipv4Header.MinLength..], 0x9404_0000);
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Header.ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Header.ChecksumOffset..], InternetChecksum.Compute(ip[..Ipv4HeaderWithRouterAlert]));

        var igmp = ip.Slice(Ipv4HeaderWithRouterAlert, igmpLength);
        igmp[..ReportHeaderLength].Clear();
        igmp[0] = Igmpv3ReportType;
        BinaryPrimitives.WriteUInt16BigEndian(igmp[6..], (ushort)groups.Length);
        for (var i = 0; i < groups.Length; i++)
        {
            var record = igmp.Slice(ReportHeaderLength + (i * Igmpv3RecordLength), Igmpv3RecordLength);
            record[0] = (byte)type;
            record[1] = 0; // aux data length
            BinaryPrimitives.WriteUInt16BigEndian(record[2..], 0); // no sources
            groups[i].WriteV4(record[4..]);
        }
        BinaryPrimitives.WriteUInt16BigEndian(igmp[2..], InternetChecksum.Compute(igmp));
        return frame.Length;
    }

    private static int BuildMldv2(Span<byte> frame, MacAddress ourMac, ReadOnlySpan<IpAddr> groups, GroupRecordType type)
    {
        EthernetHeader.Write(frame, MulticastGroups.MacOf(Mldv2Routers), ourMac, EthernetHeader.TypeIpv6);
        var source = LinkLocalOf(ourMac);
        var mldLength = ReportHeaderLength + (groups.Length * Mldv2RecordLength);
        Ipv6Header.Write(frame[EthernetHeader.Length..], 0, (ushort)(HopByHopLength + mldLength), Ipv6Header.NextHopByHop, 1,
            source, Mldv2Routers);
        var hbh = frame.Slice(EthernetHeader.Length + Ipv6Header.Length, HopByHopLength);
        hbh[0] = Ipv6Header.NextIcmpv6;
        hbh[1] = 0; // 8 bytes
        // Router Alert (type 5, length 2, value 0 = MLD), then PadN of two bytes.
        BinaryPrimitives.WriteUInt32BigEndian(hbh[2..], 0x0502_0000);
        hbh[6] = 1;
        hbh[7] = 0;

        var mld = frame.Slice(EthernetHeader.Length + Ipv6Header.Length + HopByHopLength, mldLength);
        mld[..ReportHeaderLength].Clear();
        mld[0] = Mldv2ReportType;
        BinaryPrimitives.WriteUInt16BigEndian(mld[6..], (ushort)groups.Length);
        for (var i = 0; i < groups.Length; i++)
        {
            var record = mld.Slice(ReportHeaderLength + (i * Mldv2RecordLength), Mldv2RecordLength);
            record[0] = (byte)type;
            record[1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(record[2..], 0);
            groups[i].WriteV6(record[4..]);
        }
        var pseudo = InternetChecksum.PseudoHeaderV6(source, Mldv2Routers, (uint)mldLength, Ipv6Header.NextIcmpv6);
        BinaryPrimitives.WriteUInt16BigEndian(mld[2..], InternetChecksum.Transport(pseudo, mld));
        return frame.Length;
    }
}
