using System.Numerics;
using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// A hash of the inner flow, for the outer UDP source port (RFC 7348 §5: so underlay ECMP and
/// RSS keep each inner flow on one path, in order) and the outer IPv6 flow label (RFC 6438).
/// IP frames hash addresses, protocol and ports (not for fragments); other frames hash MACs and EtherType. CRC32-C
/// runs on the SSE4.2/ARMv8 instruction when present: a few cycles per frame.
/// </summary>
internal static class FlowHash
{
    /// <summary>Lowest outer UDP source port: the dynamic range 49152–65535 (RFC 6335), as RFC 7348 recommends.</summary>
    public const ushort SourcePortMin = 49152;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Of(in PacketMeta inner)
    {
        uint h;
        if (inner.L3 is L3Kind.Ipv4 or L3Kind.Ipv6)
        {
            h = BitOperations.Crc32C(0u, inner.SourceIp.Hi);
            h = BitOperations.Crc32C(h, inner.SourceIp.Lo);
            h = BitOperations.Crc32C(h, inner.DestinationIp.Hi);
            h = BitOperations.Crc32C(h, inner.DestinationIp.Lo);
            // Fragments hash without ports: only the first one has them, and all of a datagram's
            // fragments must take the same underlay path.
            var ports = inner.Has(PacketFlags.Fragment) ? 0 : ((ulong)inner.SourcePort << 32) | ((ulong)inner.DestinationPort << 16);
            h = BitOperations.Crc32C(h, ports | inner.L4Protocol);
        }
        else
        {
            h = BitOperations.Crc32C(0u, inner.Source.Value);
            h = BitOperations.Crc32C(h, inner.Destination.Value);
            h = BitOperations.Crc32C(h, (uint)inner.EtherType);
        }
        return h;
    }

    /// <summary>The outer UDP source port for a flow hash: 49152 + 14 bits of the hash.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SourcePort(uint hash) => (ushort)(SourcePortMin | ((hash ^ (hash >> 16)) & 0x3FFF));
}
