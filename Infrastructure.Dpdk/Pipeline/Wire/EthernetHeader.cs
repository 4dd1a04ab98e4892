using System.Buffers.Binary;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// Ethernet II header (IEEE 802.3), optionally followed by one IEEE 802.1Q tag.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Destination MAC (6 bytes)                  |
/// +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                               |                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
/// |                      Source MAC (6 bytes)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  EtherType (or TPID 0x8100)   |  with a tag: PCP|DEI|  VID    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  with a tag: inner EtherType  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// All multi-byte fields are big-endian on the wire; readers convert to host order.
/// </summary>
internal static class EthernetHeader
{
    public const int Length = 14;
    public const int DestinationOffset = 0;
    public const int SourceOffset = 6;
    public const int EtherTypeOffset = 12;

    /// <summary>Size of one 802.1Q tag (TPID + TCI) inserted before the EtherType.</summary>
    public const int VlanTagLength = 4;

    public const ushort TypeIpv4 = 0x0800;
    public const ushort TypeArp = 0x0806;
    public const ushort TypeVlan = 0x8100;
    public const ushort TypeIpv6 = 0x86DD;
    public const ushort TypeQinQ = 0x88A8;

    /// <summary>Writes an untagged header; <paramref name="destination"/> holds at least 14 bytes.</summary>
    public static void Write(Span<byte> destination, MacAddress dst, MacAddress src, ushort etherType)
    {
        dst.Write(destination);
        src.Write(destination[SourceOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[EtherTypeOffset..], etherType);
    }
}
