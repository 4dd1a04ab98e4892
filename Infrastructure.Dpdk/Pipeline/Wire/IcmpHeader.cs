namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// ICMP (RFC 792) and ICMPv6 (RFC 4443) share the first four bytes; every message defined by
/// either is at least 8 bytes long, which is what the parser requires.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |              Rest of header (depends on type)                 |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// Neighbour Discovery messages (RFC 4861) are the ICMPv6 types 133..137; see
/// <see cref="NdMessage"/> for their layouts.
/// </summary>
internal static class IcmpHeader
{
    public const int MinLength = 8;
    public const int TypeOffset = 0;
    public const int CodeOffset = 1;
    public const int ChecksumOffset = 2;

    public const byte V4EchoReply = 0;
    public const byte V4EchoRequest = 8;
    public const byte V6EchoRequest = 128;
    public const byte V6EchoReply = 129;
}

/// <summary>
/// Neighbour Discovery (RFC 4861). Solicitation and advertisement share one shape:
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Type 135/136 |     Code 0    |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |R|S|O|  (NA flags; NS: all zero)          Reserved             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                    Target Address (16 bytes)                  +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options: Type (1 = source, 2 = target link-layer address),  |
/// |   Length in units of 8 bytes, then the value ...              |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// Minimum lengths per RFC 4861: RS 8, RA 16, NS 24, NA 24, Redirect 40.
/// </summary>
internal static class NdMessage
{
    public const byte RouterSolicitation = 133;
    public const byte RouterAdvertisement = 134;
    public const byte NeighbourSolicitation = 135;
    public const byte NeighbourAdvertisement = 136;
    public const byte Redirect = 137;

    public const int FlagsOffset = 4;
    public const int TargetOffset = 8;
    public const int OptionsOffset = 24;

    public const uint FlagRouter = 0x8000_0000;
    public const uint FlagSolicited = 0x4000_0000;
    public const uint FlagOverride = 0x2000_0000;

    public const byte OptionSourceLinkLayer = 1;
    public const byte OptionTargetLinkLayer = 2;

    /// <summary>A link-layer address option for Ethernet: type, length 1 (8 bytes), MAC.</summary>
    public const int LinkLayerOptionLength = 8;

    /// <summary>ND messages are only valid with this hop limit (RFC 4861 §7.1): they never crossed a router.</summary>
    public const byte RequiredHopLimit = 255;

    public static bool IsNd(byte icmpType) => icmpType is >= RouterSolicitation and <= Redirect;

    /// <summary>The smallest valid length of each ND message (RFC 4861 §4).</summary>
    public static int MinLength(byte icmpType) => icmpType switch
    {
        RouterSolicitation => 8,
        RouterAdvertisement => 16,
        Redirect => 40,
        _ => 24,
    };
}
