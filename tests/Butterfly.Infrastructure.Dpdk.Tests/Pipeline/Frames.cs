using System.Buffers.Binary;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

/// <summary>Helpers to build and doctor synthetic frames.</summary>
internal static class Frames
{
    public static readonly MacAddress OurMac = MacAddress.Parse("02:00:00:00:00:aa");
    public static readonly MacAddress PeerMac = MacAddress.Parse("02:00:00:00:00:bb");
    public static readonly IpAddr OurV4 = IpAddr.Parse("192.168.1.1");
    public static readonly IpAddr PeerV4 = IpAddr.Parse("192.168.1.2");
    public static readonly IpAddr OurV6 = IpAddr.Parse("fd00::1");
    public static readonly IpAddr PeerV6 = IpAddr.Parse("fd00::2");
    public static readonly MacAddress Vm1 = MacAddress.Parse("52:54:00:00:00:01");
    public static readonly MacAddress Vm2 = MacAddress.Parse("52:54:00:00:00:02");

    public static byte[] Hex(string hex) => Convert.FromHexString(hex);

    public static string ToHex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    /// <summary>Our side of the underlay: both families, /24 and /64, no gateway.</summary>
    public static UnderlayConfig Us(IpAddr? v4Gateway = null) => new(
        OurMac,
        new VtepAddress(OurV4, 24, v4Gateway ?? default),
        new VtepAddress(OurV6, 64, default));

    /// <summary>The peer's side, to decapsulate what we encapsulated.</summary>
    public static UnderlayConfig Peer() => new(
        PeerMac,
        new VtepAddress(PeerV4, 24, default),
        new VtepAddress(PeerV6, 64, default));

    public static PacketMeta Parse(ReadOnlySpan<byte> frame)
    {
        var reason = PacketParser.Parse(frame, out var meta);
        Assert.Equal(DropReason.None, reason);
        return meta;
    }

    public static void WriteU16(byte[] frame, int offset, int value) => BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset), (ushort)value);

    /// <summary>Recomputes the IPv4 header checksum of an untagged frame after a test changed the header.</summary>
    public static byte[] FixIpv4Checksum(byte[] frame)
    {
        var headerLength = (frame[14] & 0xF) * 4;
        WriteU16(frame, 24, 0);
        WriteU16(frame, 24, InternetChecksum.Compute(frame.AsSpan(14, headerLength)));
        return frame;
    }

    /// <summary>Recomputes the ICMPv6 checksum of an untagged IPv6 frame after a test changed it.</summary>
    public static byte[] FixIcmpv6Checksum(byte[] frame)
    {
        var payload = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(18));
        var icmp = frame.AsSpan(54, payload);
        WriteU16(frame, 56, 0);
        var pseudo = InternetChecksum.PseudoHeaderV6(IpAddr.ReadV6(frame.AsSpan(22)), IpAddr.ReadV6(frame.AsSpan(38)), payload, 58);
        WriteU16(frame, 56, InternetChecksum.Transport(pseudo, icmp));
        return frame;
    }

    /// <summary>A buffer with <paramref name="headroom"/> free bytes before <paramref name="frame"/>, like an mbuf.</summary>
    public static byte[] WithHeadroom(ReadOnlySpan<byte> frame, int headroom, int tailroom = 0)
    {
        var buffer = new byte[headroom + frame.Length + tailroom];
        frame.CopyTo(buffer.AsSpan(headroom));
        return buffer;
    }

    /// <summary>An untagged IPv4/UDP frame between two MACs.</summary>
    public static byte[] Udp4(MacAddress src, MacAddress dst, string srcIp = "10.0.0.1", string dstIp = "10.0.0.2", ushort sport = 1000, ushort dport = 2000)
    {
        var frame = new byte[14 + 20 + 8 + 4];
        EthernetHeader.Write(frame, dst, src, EthernetHeader.TypeIpv4);
        Ipv4Header.Write(frame.AsSpan(14), 32, 0, 64, 17, IpAddr.Parse(srcIp).V4, IpAddr.Parse(dstIp).V4);
        UdpHeader.Write(frame.AsSpan(34), sport, dport, 12, 0);
        return frame;
    }
}
