using System.Buffers.Binary;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// ARP for IPv4 over Ethernet (RFC 826), the only form the parser accepts.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Hardware type (1)           |   Protocol type (0x0800)      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  HLEN (6)     |  PLEN (4)     |   Operation (1 req, 2 reply)  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |              Sender hardware address (6 bytes)                |
/// +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                               | Sender protocol address (4)   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
/// |                               |                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
/// |              Target hardware address (6 bytes)                |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |              Target protocol address (4 bytes)                |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// </summary>
internal static class ArpHeader
{
    public const int Length = 28;
    public const int HardwareTypeOffset = 0;
    public const int ProtocolTypeOffset = 2;
    public const int HardwareLengthOffset = 4;
    public const int ProtocolLengthOffset = 5;
    public const int OperationOffset = 6;
    public const int SenderMacOffset = 8;
    public const int SenderIpOffset = 14;
    public const int TargetMacOffset = 18;
    public const int TargetIpOffset = 24;

    public const ushort HardwareEthernet = 1;
    public const ushort OperationRequest = 1;
    public const ushort OperationReply = 2;

    /// <summary>Writes an Ethernet/IPv4 ARP body; <paramref name="destination"/> holds at least 28 bytes.</summary>
    public static void Write(Span<byte> destination, ushort operation, MacAddress senderMac, uint senderIp, MacAddress targetMac, uint targetIp)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, HardwareEthernet);
        BinaryPrimitives.WriteUInt16BigEndian(destination[ProtocolTypeOffset..], EthernetHeader.TypeIpv4);
        destination[HardwareLengthOffset] = MacAddress.Length;
        destination[ProtocolLengthOffset] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(destination[OperationOffset..], operation);
        senderMac.Write(destination[SenderMacOffset..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination[SenderIpOffset..], senderIp);
        targetMac.Write(destination[TargetMacOffset..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination[TargetIpOffset..], targetIp);
    }
}
