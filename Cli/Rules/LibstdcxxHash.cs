using System.Buffers.Binary;

namespace Butterfly.Cli.Rules;

/// <summary>
/// libstdc++'s <c>std::hash&lt;std::string&gt;</c> on 64-bit Linux:
/// <c>std::_Hash_bytes(data, len, 0xc70f6907)</c>, a MurmurHash2-style 64-bit hash
/// (libstdc++-v3/libsupc++/hash_bytes.cc). The original client derived rule ids from it,
/// so operators' saved ids keep working only if we compute the very same function.
/// </summary>
internal static class LibstdcxxHash
{
    private const ulong Seed = 0xc70f6907UL;
    private const ulong Mul = (0xc6a4a793UL << 32) + 0x5bd1e995UL;

    public static ulong StringHash(ReadOnlySpan<byte> data) => HashBytes(data, Seed);

    public static ulong HashBytes(ReadOnlySpan<byte> data, ulong seed)
    {
        var len = (ulong)data.Length;
        var alignedLength = data.Length & ~7;
        var hash = seed ^ (len * Mul);
        for (var i = 0; i < alignedLength; i += 8)
        {
            var block = ShiftMix(BinaryPrimitives.ReadUInt64LittleEndian(data[i..]) * Mul) * Mul;
            hash ^= block;
            hash *= Mul;
        }
        var tail = data[alignedLength..];
        if (tail.Length != 0)
        {
            // load_bytes: the tail bytes as a little-endian integer.
            ulong block = 0;
            for (var i = tail.Length - 1; i >= 0; i--)
                block = (block << 8) + tail[i];
            hash ^= block;
            hash *= Mul;
        }
        hash = ShiftMix(hash) * Mul;
        return ShiftMix(hash);
    }

    private static ulong ShiftMix(ulong v) => v ^ (v >> 47);
}
