using System.Buffers.Binary;
using System.Numerics;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// CRC-32C (Castagnoli), the checksum of every log record and snapshot file. It catches torn
/// and bit-flipped records far better than a sum, and <see cref="BitOperations.Crc32C(uint, ulong)"/>
/// runs it on the CPU's crc32 instruction where there is one.
/// </summary>
internal static class Crc32C
{
    /// <summary>The CRC of <paramref name="data"/> continuing from <paramref name="crc"/> (start with 0).</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        var state = ~crc;
        while (data.Length >= 8)
        {
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data)
        {
            state = BitOperations.Crc32C(state, b);
        }
        return ~state;
    }

    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);
}
