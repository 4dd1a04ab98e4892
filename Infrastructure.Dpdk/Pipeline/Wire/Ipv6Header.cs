using System.Buffers.Binary;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// IPv6 fixed header (RFC 8200). The parser reads it, then walks the hop-by-hop, routing,
/// fragment, destination-options and AH extension headers to the upper layer.
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

    /// <summary>Every extension header is a multiple of 8 bytes, at least 8 (AH: of 4, at least 12).</summary>
    public const int ExtensionMinLength = 8;

    /// <summary>The fragment header's fixed length (RFC 8200 §4.5).</summary>
    public const int FragmentHeaderLength = 8;

    /// <summary>Fragment Offset in the fragment header's second 16-bit word (its low 3 bits are Res and M).</summary>
    public const ushort FragmentOffsetMask = 0xFFF8;

    /// <summary>
    /// At most this many extension headers are walked; a longer chain is dropped
    /// (<see cref="DropReason.Ipv6BadExtensionHeader"/>), as RFC 7112 lets a firewall do with a
    /// header chain it cannot finish, rather than being passed unmatched.
    /// </summary>
    public const int MaxWalkedExtensionHeaders = 8;

    /// <summary>The extension headers the parser walks to find the upper layer: their length is in the header itself.</summary>
    public static bool IsWalkable(byte next) =>
        next is NextHopByHop or NextRouting or NextFragment or NextDestinationOptions or NextAh;

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
