using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// An Ethernet address as a 48-bit integer whose most significant byte is the first byte on
/// the wire, so one 64-bit compare or hash serves a lookup and the I/G (multicast) bit is the
/// low bit of that first byte.
/// </summary>
internal readonly struct MacAddress : IEquatable<MacAddress>
{
    public const int Length = 6;

    private const ulong Mask = 0xFFFF_FFFF_FFFF;
    private const ulong GroupBit = 0x0100_0000_0000;

    public MacAddress(ulong value) => Value = value & Mask;

    public static MacAddress Broadcast => new(Mask);

    /// <summary>The address, first wire byte in bits 47..40.</summary>
    public ulong Value { get; }

    /// <summary>True for group (multicast and broadcast) addresses: the I/G bit is set.</summary>
    public bool IsMulticast => (Value & GroupBit) != 0;

    public bool IsBroadcast => Value == Mask;

    public bool IsZero => Value == 0;

    /// <summary>Reads 6 bytes; <paramref name="source"/> must hold at least 6 (callers check first).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static MacAddress Read(ReadOnlySpan<byte> source) =>
        new(((ulong)BinaryPrimitives.ReadUInt16BigEndian(source) << 32) | BinaryPrimitives.ReadUInt32BigEndian(source[2..]));

    /// <summary>Writes 6 bytes in wire order.</summary>
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(Value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], (uint)Value);
    }

    /// <summary>Parses <c>52:54:00:00:d7:11</c> (or with dashes). Control path.</summary>
    public static bool TryParse(string? text, out MacAddress mac)
    {
        mac = default;
        if (text is null || text.Length != 17)
        {
            return false;
        }
        ulong value = 0;
        for (var i = 0; i < 6; i++)
        {
            if (i > 0 && text[(i * 3) - 1] is not (':' or '-'))
            {
                return false;
            }
            if (!byte.TryParse(text.AsSpan(i * 3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
            {
                return false;
            }
            value = (value << 8) | b;
        }
        mac = new MacAddress(value);
        return true;
    }

    public static MacAddress Parse(string text) =>
        TryParse(text, out var mac) ? mac : throw new FormatException($"'{text}' is not a MAC address (expected aa:bb:cc:dd:ee:ff)");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Equals(MacAddress other) => Value == other.Value;

    public override bool Equals(object? obj) => obj is MacAddress other && Equals(other);

    public override int GetHashCode() => Value.GetHashCode();

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Length];
        Write(bytes);
        return string.Create(CultureInfo.InvariantCulture, $"{bytes[0]:x2}:{bytes[1]:x2}:{bytes[2]:x2}:{bytes[3]:x2}:{bytes[4]:x2}:{bytes[5]:x2}");
    }

    public static bool operator ==(MacAddress left, MacAddress right) => left.Equals(right);

    public static bool operator !=(MacAddress left, MacAddress right) => !left.Equals(right);
}
