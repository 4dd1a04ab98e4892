using System.Buffers.Binary;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// VXLAN header (RFC 7348 §5), carried in UDP to port 4789.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |R|R|R|R|I|R|R|R|            Reserved                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                VXLAN Network Identifier (VNI) |   Reserved    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// The I flag must be 1 (a valid VNI). Reserved bits are sent as zero and ignored on receipt.
/// A whole encapsulated frame is outer Ethernet + outer IPv4 (20) or IPv6 (40) + UDP (8) +
/// VXLAN (8) + the inner Ethernet frame without its FCS.
/// </summary>
internal static class VxlanHeader
{
    public const int Length = 8;
    public const ushort UdpPort = 4789;
    public const byte FlagValidVni = 0x08;
    public const int VniOffset = 4;

    /// <summary>Bytes added in front of the inner frame over an IPv4 underlay (untagged).</summary>
    public const int OverheadV4 = EthernetHeader.Length + Ipv4Header.MinLength + UdpHeader.Length + Length;

    /// <summary>Bytes added in front of the inner frame over an IPv6 underlay (untagged).</summary>
    public const int OverheadV6 = EthernetHeader.Length + Ipv6Header.Length + UdpHeader.Length + Length;

    /// <summary>The 24-bit VNI of a header (bytes 4..6).</summary>
    public static uint ReadVni(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadUInt32BigEndian(header[VniOffset..]) >> 8;
}
