using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// An IPv4 or IPv6 address as two 64-bit halves in wire order (<see cref="Hi"/> holds bytes
/// 0..7). IPv4 is held IPv4-mapped (<c>::ffff:a.b.c.d</c>, RFC 4291 §2.5.5.2) so one type, one
/// compare and one hash serve both families in packet metadata and in tables; that form never
/// appears on the wire, and decap refuses it as an outer source.
/// </summary>
internal readonly struct IpAddr : ITableKey<IpAddr>
{
    private const ulong V4MappedPrefix = 0x0000_FFFF_0000_0000;

    public IpAddr(ulong hi, ulong lo)
    {
        Hi = hi;
        Lo = lo;
    }

    public ulong Hi { get; }

    public ulong Lo { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static IpAddr FromV4(uint address) => new(0, V4MappedPrefix | address);

    public bool IsV4 => Hi == 0 && (Lo & 0xFFFF_FFFF_0000_0000) == V4MappedPrefix;

    /// <summary>The IPv4 address in host order; meaningful only when <see cref="IsV4"/>.</summary>
    public uint V4 => (uint)Lo;

    public bool IsMulticast => IsV4 ? (V4 >> 28) == 0xE : (Hi >> 56) == 0xFF;

    /// <summary>0.0.0.0 or ::.</summary>
    public bool IsUnspecified => IsV4 ? V4 == 0 : Hi == 0 && Lo == 0;

    /// <summary>Reads 4 bytes of an IPv4 header field.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static IpAddr ReadV4(ReadOnlySpan<byte> source) => FromV4(BinaryPrimitives.ReadUInt32BigEndian(source));

    /// <summary>Reads 16 bytes of an IPv6 header field.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static IpAddr ReadV6(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[8..]));

    public void WriteV4(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, V4);

    public void WriteV6(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, Hi);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Lo);
    }

    /// <summary>True when the first <paramref name="prefixLength"/> bits of both addresses agree (same family).</summary>
    public bool SharesPrefix(IpAddr other, int prefixLength)
    {
        if (IsV4 != other.IsV4)
        {
            return false;
        }
        var bits = IsV4 ? prefixLength + 96 : prefixLength;
        if (bits <= 0)
        {
            return true;
        }
        var hiMask = bits >= 64 ? ulong.MaxValue : ulong.MaxValue << (64 - bits);
        var loMask = bits <= 64 ? 0 : bits >= 128 ? ulong.MaxValue : ulong.MaxValue << (128 - bits);
        return ((Hi ^ other.Hi) & hiMask) == 0 && ((Lo ^ other.Lo) & loMask) == 0;
    }

    /// <summary>Converts from <see cref="IPAddress"/> (an IPv4-mapped IPv6 becomes IPv4). Control path.</summary>
    public static IpAddr From(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return ReadV4(bytes);
        }
        address.TryWriteBytes(bytes, out _);
        return ReadV6(bytes);
    }

    public static IpAddr Parse(string text) => From(IPAddress.Parse(text));

    /// <summary>Parses an IPv4 or IPv6 address without a scope (IPv4-mapped IPv6 becomes IPv4).</summary>
    public static bool TryParse(string? text, out IpAddr address)
    {
        address = default;
        if (!IPAddress.TryParse(text, out var parsed)
            || (parsed.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && parsed.ScopeId != 0))
        {
            return false;
        }
        address = From(parsed.IsIPv4MappedToIPv6 ? parsed.MapToIPv4() : parsed);
        return true;
    }

    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[16];
        if (IsV4)
        {
            WriteV4(bytes);
            return new IPAddress(bytes[..4]);
        }
        WriteV6(bytes);
        return new IPAddress(bytes);
    }

    /// <summary>A well-mixed hash for <see cref="AgeingTable{TKey, TValue}"/>.</summary>
    public uint Hash
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            var x = (Hi * 0x9E37_79B9_7F4A_7C15) ^ (Lo * 0xC2B2_AE3D_27D4_EB4F);
            return (uint)(x >> 32) ^ (uint)x;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Equals(IpAddr other) => Hi == other.Hi && Lo == other.Lo;

    public override bool Equals(object? obj) => obj is IpAddr other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Hi, Lo);

    public override string ToString() => ToIPAddress().ToString();

    public static bool operator ==(IpAddr left, IpAddr right) => left.Equals(right);

    public static bool operator !=(IpAddr left, IpAddr right) => !left.Equals(right);
}
