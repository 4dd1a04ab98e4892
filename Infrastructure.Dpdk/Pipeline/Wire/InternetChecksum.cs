using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// The Internet checksum (RFC 1071): the ones'-complement of the ones'-complement sum of
/// 16-bit big-endian words. The sum is byte-order independent (RFC 1071 §2(B)), so data is
/// summed 32 bits at a time in host order and swapped once at the end; partial sums are
/// returned as big-endian 16-bit values so they combine with pseudo-header sums.
/// </summary>
internal static class InternetChecksum
{
    /// <summary>The folded ones'-complement sum of <paramref name="data"/>, as a big-endian 16-bit value.</summary>
    [SkipLocalsInit]
    public static uint Sum(ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        var words = MemoryMarshal.Cast<byte, uint>(data);
        for (var i = 0; i < words.Length; i++)
        {
            sum += words[i];
        }
        var tail = data[(words.Length * 4)..];
        if (tail.Length >= 2)
        {
            sum += MemoryMarshal.Read<ushort>(tail);
            tail = tail[2..];
        }
        if (tail.Length == 1)
        {
            // A trailing odd byte is the high byte of a zero-padded big-endian word; in a
            // little-endian read that is the low byte, which the final swap moves up.
            sum += BitConverter.IsLittleEndian ? tail[0] : (uint)tail[0] << 8;
        }
        var folded = Fold(sum);
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness((ushort)folded) : folded;
    }

    /// <summary>
    /// True when an IPv4 header's checksum verifies. The 20-byte header without options, by far
    /// the common case, is summed as five words without a loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Ipv4HeaderValid(ReadOnlySpan<byte> header)
    {
        if (header.Length == Ipv4Header.MinLength)
        {
            ulong sum = (ulong)MemoryMarshal.Read<uint>(header) + MemoryMarshal.Read<uint>(header[4..])
                + MemoryMarshal.Read<uint>(header[8..]) + MemoryMarshal.Read<uint>(header[12..]) + MemoryMarshal.Read<uint>(header[16..]);
            // Summed in host order: all ones is the same value in either byte order.
            return Fold(sum) == 0xFFFF;
        }
        return Sum(header) == 0xFFFF;
    }

    /// <summary>Folds a wide sum to 16 bits with end-around carry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Fold(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    /// <summary>The checksum field value for <paramref name="data"/> (whose own checksum field reads 0).</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => (ushort)~Sum(data);

    /// <summary>Sum of the IPv6 pseudo-header (RFC 8200 §8.1): addresses, upper-layer length, next header.</summary>
    public static ulong PseudoHeaderV6(IpAddr source, IpAddr destination, uint length, byte nextHeader) =>
        Words(source.Hi) + Words(source.Lo) + Words(destination.Hi) + Words(destination.Lo)
            + (length >> 16) + (length & 0xFFFF) + nextHeader;

    /// <summary>Sum of the IPv4 pseudo-header (RFC 768): addresses, zero, protocol, UDP/TCP length.</summary>
    public static ulong PseudoHeaderV4(uint source, uint destination, ushort length, byte protocol) =>
        (source >> 16) + (source & 0xFFFF) + (destination >> 16) + (destination & 0xFFFF) + protocol + (ulong)length;

    /// <summary>
    /// The UDP/TCP/ICMPv6 checksum field value over <paramref name="segment"/> (checksum field
    /// zeroed) plus a pseudo-header sum. UDP transmits a computed 0 as 0xFFFF (RFC 768).
    /// </summary>
    public static ushort Transport(ulong pseudoHeaderSum, ReadOnlySpan<byte> segment) =>
        (ushort)~Fold(pseudoHeaderSum + Sum(segment));

    /// <summary>True when <paramref name="segment"/> with its checksum field in place sums to all ones.</summary>
    public static bool VerifyTransport(ulong pseudoHeaderSum, ReadOnlySpan<byte> segment) =>
        Fold(pseudoHeaderSum + Sum(segment)) == 0xFFFF;

    private static ulong Words(ulong value) =>
        (value >> 48) + ((value >> 32) & 0xFFFF) + ((value >> 16) & 0xFFFF) + (value & 0xFFFF);
}
