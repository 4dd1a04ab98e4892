using System.Buffers.Binary;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

/// <summary>
/// Builds the frames the firewall tests send: Ethernet + IPv4/IPv6 + TCP/UDP/ICMP with the
/// fields the trackers read, ARP and neighbour discovery. Checksums are not computed: the
/// firewall never reads them.
/// </summary>
internal static class Packets
{
    public const byte Syn = TcpHeader.FlagSyn;
    public const byte Ack = TcpHeader.FlagAck;
    public const byte Fin = TcpHeader.FlagFin;
    public const byte Rst = TcpHeader.FlagRst;

    public static readonly MacAddress MacA = MacAddress.Parse("52:54:00:00:00:0a");
    public static readonly MacAddress MacB = MacAddress.Parse("52:54:00:00:00:0b");

    /// <summary>A TCP segment; <paramref name="windowScale"/> adds the option (SYNs).</summary>
    public static byte[] Tcp(string src, ushort sport, string dst, ushort dport, byte flags, uint seq = 1000, uint ack = 0,
        ushort window = 65535, int payload = 0, int windowScale = -1, MacAddress? srcMac = null)
    {
        var options = windowScale >= 0 ? 4 : 0;
        var l4 = new byte[20 + options + payload];
        BinaryPrimitives.WriteUInt16BigEndian(l4, sport);
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt32BigEndian(l4.AsSpan(4), seq);
        BinaryPrimitives.WriteUInt32BigEndian(l4.AsSpan(8), ack);
        l4[12] = (byte)((20 + options) / 4 << 4);
        l4[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(14), window);
        if (windowScale >= 0)
        {
            l4[20] = 1; // NOP
            l4[21] = 3;
            l4[22] = 3;
            l4[23] = (byte)windowScale;
        }
        return Ip(src, dst, Ipv4Header.ProtocolTcp, l4, srcMac);
    }

    public static byte[] Udp(string src, ushort sport, string dst, ushort dport, int payload = 4, MacAddress? srcMac = null)
    {
        var l4 = new byte[8 + payload];
        BinaryPrimitives.WriteUInt16BigEndian(l4, sport);
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(4), (ushort)l4.Length);
        return Ip(src, dst, Ipv4Header.ProtocolUdp, l4, srcMac);
    }

    /// <summary>An ICMP (IPv4) or ICMPv6 (IPv6) message; <paramref name="body"/> follows the 4-byte rest of header.</summary>
    public static byte[] Icmp(string src, string dst, byte type, byte code = 0, ushort id = 7, byte[]? body = null, MacAddress? srcMac = null)
    {
        var l4 = new byte[8 + (body?.Length ?? 0)];
        l4[0] = type;
        l4[1] = code;
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(4), id);
        body?.CopyTo(l4.AsSpan(8));
        var v6 = src.Contains(':', StringComparison.Ordinal);
        return Ip(src, dst, v6 ? Ipv6Header.NextIcmpv6 : Ipv4Header.ProtocolIcmp, l4, srcMac, hopLimit: v6 ? (byte)255 : (byte)64);
    }

    /// <summary>An ICMP error from <paramref name="src"/> quoting <paramref name="quoted"/> (a frame built here).</summary>
    public static byte[] IcmpError(string src, string dst, byte type, byte code, byte[] quoted)
    {
        var ipAndMore = quoted.AsSpan(EthernetHeader.Length, Math.Min(quoted.Length - EthernetHeader.Length, 68)).ToArray();
        return Icmp(src, dst, type, code, 0, ipAndMore);
    }

    /// <summary>An IPv4 packet of any protocol, or an IPv6 one when the addresses are IPv6.</summary>
    public static byte[] Ip(string src, string dst, byte protocol, byte[] l4, MacAddress? srcMac = null, byte hopLimit = 64,
        ushort fragment = 0, ushort id = 0)
    {
        var source = IpAddr.Parse(src);
        var destination = IpAddr.Parse(dst);
        var mac = srcMac ?? MacA;
        if (source.IsV4)
        {
            var frame = new byte[14 + 20 + l4.Length];
            EthernetHeader.Write(frame, MacB, mac, EthernetHeader.TypeIpv4);
            Ipv4Header.Write(frame.AsSpan(14), (ushort)(20 + l4.Length), fragment, hopLimit, protocol, source.V4, destination.V4);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14 + Ipv4Header.IdentificationOffset), id);
            l4.CopyTo(frame.AsSpan(34));
            return frame;
        }
        var v6 = new byte[14 + 40 + l4.Length];
        EthernetHeader.Write(v6, MacB, mac, EthernetHeader.TypeIpv6);
        Ipv6Header.Write(v6.AsSpan(14), 0, (ushort)l4.Length, protocol, hopLimit, source, destination);
        l4.CopyTo(v6.AsSpan(54));
        return v6;
    }

    /// <summary>An ARP frame from <paramref name="ethernetSource"/> claiming <paramref name="senderMac"/> / <paramref name="senderIp"/>.</summary>
    public static byte[] Arp(MacAddress ethernetSource, MacAddress senderMac, string senderIp, string targetIp, ushort operation = ArpHeader.OperationReply)
    {
        var frame = new byte[14 + 28];
        EthernetHeader.Write(frame, MacAddress.Broadcast, ethernetSource, EthernetHeader.TypeArp);
        ArpHeader.Write(frame.AsSpan(14), operation, senderMac, IpAddr.Parse(senderIp).V4, MacAddress.Broadcast, IpAddr.Parse(targetIp).V4);
        return frame;
    }

    /// <summary>A neighbour advertisement for <paramref name="target"/> with a target link-layer option naming <paramref name="optionMac"/>.</summary>
    public static byte[] NeighbourAdvertisement(string src, string target, MacAddress optionMac, MacAddress? srcMac = null)
    {
        var body = new byte[16 + 8];
        IpAddr.Parse(target).WriteV6(body);
        body[16] = NdMessage.OptionTargetLinkLayer;
        body[17] = 1;
        optionMac.Write(body.AsSpan(18));
        return Icmp(src, "ff02::1", NdMessage.NeighbourAdvertisement, 0, 0, body, srcMac);
    }

    /// <summary>A neighbour solicitation for <paramref name="target"/> (duplicate address detection when the source is ::).</summary>
    public static byte[] NeighbourSolicitation(string src, string target, MacAddress? optionMac = null, MacAddress? srcMac = null)
    {
        var body = new byte[16 + (optionMac is null ? 0 : 8)];
        IpAddr.Parse(target).WriteV6(body);
        if (optionMac is { } mac)
        {
            body[16] = NdMessage.OptionSourceLinkLayer;
            body[17] = 1;
            mac.Write(body.AsSpan(18));
        }
        return Icmp(src, "ff02::1:ff00:1", NdMessage.NeighbourSolicitation, 0, 0, body, srcMac);
    }

    /// <summary>Marks an IPv4 frame as a fragment (offset in 8-byte units, more-fragments flag) of datagram <paramref name="id"/>.</summary>
    public static byte[] Fragment(byte[] frame, int offset, bool more, ushort id)
    {
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14 + Ipv4Header.FlagsFragmentOffset), (ushort)(offset | (more ? Ipv4Header.FlagMoreFragments : 0)));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14 + Ipv4Header.IdentificationOffset), id);
        return frame;
    }

    public static PacketMeta Parse(byte[] frame)
    {
        Assert.Equal(DropReason.None, PacketParser.Parse(frame, out var meta));
        return meta;
    }
}
