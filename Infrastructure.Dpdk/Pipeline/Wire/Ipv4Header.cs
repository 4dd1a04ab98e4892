using System.Buffers.Binary;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// IPv4 header (RFC 791).
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version|  IHL  |Type of Service|          Total Length         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Identification        |Flags|      Fragment Offset    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Time to Live |    Protocol   |         Header Checksum       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       Source Address                          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Destination Address                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Options (IHL > 5)          |    Padding    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// Flags: bit 0 reserved, DF (0x4000), MF (0x2000); offset in 8-byte units.
/// </summary>
internal static class Ipv4Header
{
    public const int MinLength = 20;
    public const int VersionIhlOffset = 0;

    /// <summary>The first byte of a header without options: version 4, IHL 5 (20 bytes).</summary>
    public const byte VersionIhlNoOptions = 0x45;
    public const int TosOffset = 1;
    public const int TotalLengthOffset = 2;
    public const int IdentificationOffset = 4;
    public const int FlagsFragmentOffset = 6;
    public const int TtlOffset = 8;
    public const int ProtocolOffset = 9;
    public const int ChecksumOffset = 10;
    public const int SourceOffset = 12;
    public const int DestinationOffset = 16;

    public const ushort FlagDontFragment = 0x4000;
    public const ushort FlagMoreFragments = 0x2000;
    public const ushort FragmentOffsetMask = 0x1FFF;

    public const byte ProtocolIcmp = 1;
    public const byte ProtocolIgmp = 2;
    public const byte ProtocolTcp = 6;
    public const byte ProtocolUdp = 17;

    /// <summary>
    /// Writes a 20-byte header without options, checksum included.
    /// </summary>
    public static void Write(Span<byte> destination, ushort totalLength, ushort flagsFragment, byte ttl, byte protocol, uint source, uint destinationAddress)
    {
        var h = destination[..MinLength];
        h[VersionIhlOffset] = VersionIhlNoOptions;
        h[TosOffset] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(h[TotalLengthOffset..], totalLength);
        BinaryPrimitives.WriteUInt16BigEndian(h[IdentificationOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(h[FlagsFragmentOffset..], flagsFragment);
        h[TtlOffset] = ttl;
        h[ProtocolOffset] = protocol;
        BinaryPrimitives.WriteUInt16BigEndian(h[ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(h[SourceOffset..], source);
        BinaryPrimitives.WriteUInt32BigEndian(h[DestinationOffset..], destinationAddress);
        BinaryPrimitives.WriteUInt16BigEndian(h[ChecksumOffset..], InternetChecksum.Compute(h));
    }
}
