using System.Buffers.Binary;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// IPv6 fixed header (RFC 8200). The parser reads it and notes Next Header; it does not walk
/// extension headers.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Traffic Class |           Flow Label                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Payload Length        |  Next Header  |   Hop Limit   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                    Source Address (16 bytes)                  +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                  Destination Address (16 bytes)               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// </summary>
internal static class Ipv6Header
{
    public const int Length = 40;
    public const int VersionClassFlowOffset = 0;
    public const int PayloadLengthOffset = 4;
    public const int NextHeaderOffset = 6;
    public const int HopLimitOffset = 7;
    public const int SourceOffset = 8;
    public const int DestinationOffset = 24;

    public const byte NextHopByHop = 0;
    public const byte NextTcp = 6;
    public const byte NextUdp = 17;
    public const byte NextRouting = 43;
    public const byte NextFragment = 44;
    public const byte NextEsp = 50;
    public const byte NextAh = 51;
    public const byte NextIcmpv6 = 58;
    public const byte NextNone = 59;
    public const byte NextDestinationOptions = 60;
    public const byte NextMobility = 135;
    public const byte NextHip = 139;
    public const byte NextShim6 = 140;

    /// <summary>True for the Next Header values RFC 8200 §4 and the IANA registry list as extension headers.</summary>
    public static bool IsExtensionHeader(byte next) =>
        next is NextHopByHop or NextRouting or NextFragment or NextEsp or NextAh or NextDestinationOptions
            or NextMobility or NextHip or NextShim6 or 253 or 254;

    /// <summary>Writes the fixed header; the flow label is the low 20 bits of <paramref name="flowLabel"/>.</summary>
    public static void Write(Span<byte> destination, uint flowLabel, ushort payloadLength, byte nextHeader, byte hopLimit, IpAddr source, IpAddr destinationAddress)
    {
        var h = destination[..Length];
        BinaryPrimitives.WriteUInt32BigEndian(h, 0x6000_0000u | (flowLabel & 0xF_FFFF));
        BinaryPrimitives.WriteUInt16BigEndian(h[PayloadLengthOffset..], payloadLength);
        h[NextHeaderOffset] = nextHeader;
        h[HopLimitOffset] = hopLimit;
        source.WriteV6(h[SourceOffset..]);
        destinationAddress.WriteV6(h[DestinationOffset..]);
    }
}
