using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>What a connection-table entry tracks.</summary>
internal enum FlowKind : byte
{
    /// <summary>A connection: TCP, UDP, ICMP echo or another protocol between two addresses.</summary>
    Connection = 0,

    /// <summary>
    /// A fragmented datagram whose first fragment passed: its later fragments (no L4 header, so
    /// no ports to look up) pass on (addresses, protocol, fragment id). Ports hold the id.
    /// </summary>
    Fragments = 1,
}

/// <summary>
/// The identity of a tracked flow in one NIC's zone, the same whichever way a packet goes:
/// its two endpoints are stored in a canonical order (the lower address-and-port first, as
/// endpoint A), so one lookup serves both directions and <see cref="Of"/> tells which way the
/// packet goes. IPv4 addresses are held IPv4-mapped (<see cref="IpAddr"/>). ICMP echo uses its
/// identifier as both ports and <see cref="Detail"/> to say which endpoint asks (two hosts may
/// ping each other with the same identifier: those are two flows); a protocol without ports
/// has them 0.
/// 48 bytes, compared as six 64-bit words; the padding is always zero.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = Length)]
internal struct FlowKey
{
    public const int Length = 48;

    public ulong AHi;
    public ulong ALo;
    public ulong BHi;
    public ulong BLo;
    public ushort APort;
    public ushort BPort;

    /// <summary>The NIC's conntrack zone (<see cref="NicFilter.Zone"/>).</summary>
    public uint Zone;
    public byte Protocol;
    public FlowKind Kind;

    /// <summary>ICMP echo: <see cref="EchoAskedByA"/> or <see cref="EchoAskedByB"/>; 0 otherwise.</summary>
    public byte Detail;
    private readonly byte _pad0;
    private readonly uint _pad1;

    public const byte EchoAskedByA = 1;
    public const byte EchoAskedByB = 2;

    /// <summary>Endpoint A's address.</summary>
    public readonly IpAddr A => new(AHi, ALo);

    /// <summary>Endpoint B's address.</summary>
    public readonly IpAddr B => new(BHi, BLo);

    /// <summary>
    /// The key of a packet from <paramref name="source"/>:<paramref name="sourcePort"/> to
    /// <paramref name="destination"/>:<paramref name="destinationPort"/> in <paramref name="zone"/>;
    /// <paramref name="sourceIsA"/> says whether the sender is endpoint A.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FlowKey Of(uint zone, byte protocol, FlowKind kind, IpAddr source, ushort sourcePort,
        IpAddr destination, ushort destinationPort, out bool sourceIsA)
    {
        var key = default(FlowKey);
        sourceIsA = Write(ref key, zone, protocol, kind, source, sourcePort, destination, destinationPort);
        return key;
    }

    /// <summary>
    /// <see cref="Of"/> into an existing key, every field written (the packet path builds the
    /// key where it is kept instead of copying 48 bytes); returns whether the sender is endpoint A.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Write(ref FlowKey key, uint zone, byte protocol, FlowKind kind, IpAddr source, ushort sourcePort,
        IpAddr destination, ushort destinationPort)
    {
        var sourceIsA = source.Hi < destination.Hi
            || (source.Hi == destination.Hi && (source.Lo < destination.Lo
                || (source.Lo == destination.Lo && sourcePort <= destinationPort)));
        var (a, aPort, b, bPort) = sourceIsA
            ? (source, sourcePort, destination, destinationPort)
            : (destination, destinationPort, source, sourcePort);
        key.AHi = a.Hi;
        key.ALo = a.Lo;
        key.BHi = b.Hi;
        key.BLo = b.Lo;
        // Word 4: the ports and the zone; word 5: protocol, kind, detail and the zero padding.
        ref var w = ref Unsafe.As<FlowKey, ulong>(ref key);
        Unsafe.Add(ref w, 4) = aPort | ((ulong)bPort << 16) | ((ulong)zone << 32);
        Unsafe.Add(ref w, 5) = protocol | ((ulong)kind << 8);
        return sourceIsA;
    }

    /// <summary>
    /// The hash of <paramref name="key"/>: CRC32-C of everything but the zone
    /// (<see cref="ZonelessHashOf"/>), then of the zone (one instruction per word with SSE 4.2).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint HashOf(in FlowKey key) => InZone(ZonelessHashOf(key), key.Zone);

    /// <summary>
    /// The hash of the key's flow before its zone is mixed in: the same for the flow in every
    /// NIC's zone, so a frame between two local NICs is hashed once for both lookups.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ZonelessHashOf(in FlowKey key)
    {
        ref var w = ref Unsafe.As<FlowKey, ulong>(ref Unsafe.AsRef(in key));
        var h = BitOperations.Crc32C(0x9E37_79B9u, w);
        h = BitOperations.Crc32C(h, Unsafe.Add(ref w, 1));
        h = BitOperations.Crc32C(h, Unsafe.Add(ref w, 2));
        h = BitOperations.Crc32C(h, Unsafe.Add(ref w, 3));
        h = BitOperations.Crc32C(h, (uint)Unsafe.Add(ref w, 4));
        return BitOperations.Crc32C(h, Unsafe.Add(ref w, 5));
    }

    /// <summary>The hash of a flow whose <see cref="ZonelessHashOf"/> is <paramref name="zoneless"/>, in <paramref name="zone"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint InZone(uint zoneless, uint zone) => BitOperations.Crc32C(zoneless, zone);

    /// <summary>Equality over the six words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Same(in FlowKey x, in FlowKey y) => SameInZone(x, y, y.Zone);

    /// <summary>Equality of <paramref name="stored"/> with <paramref name="key"/> moved to <paramref name="zone"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool SameInZone(in FlowKey stored, in FlowKey key, uint zone)
    {
        ref var a = ref Unsafe.As<FlowKey, ulong>(ref Unsafe.AsRef(in stored));
        ref var b = ref Unsafe.As<FlowKey, ulong>(ref Unsafe.AsRef(in key));
        var portsAndZone = (uint)Unsafe.Add(ref b, 4) | ((ulong)zone << 32);
        return ((a ^ b) | (Unsafe.Add(ref a, 1) ^ Unsafe.Add(ref b, 1)) | (Unsafe.Add(ref a, 2) ^ Unsafe.Add(ref b, 2))
            | (Unsafe.Add(ref a, 3) ^ Unsafe.Add(ref b, 3)) | (Unsafe.Add(ref a, 4) ^ portsAndZone)
            | (Unsafe.Add(ref a, 5) ^ Unsafe.Add(ref b, 5))) == 0;
    }
}

/// <summary>What the firewall does with a frame, decided from its headers alone.</summary>
internal enum LookupPath : byte
{
    /// <summary>Not matched by rules: not IP, or neighbour discovery / MLD.</summary>
    Pass,

    /// <summary>A later fragment: passes when its datagram's first fragment did.</summary>
    LaterFragment,

    /// <summary>An ICMP error or informational message: related to a connection, or the rules decide, untracked.</summary>
    Untracked,

    /// <summary>A connection's packet: looked up by <see cref="FlowLookup.Key"/>.</summary>
    Track,
}

/// <summary>A frame's classification and flow key in one NIC's zone, computed before the table is touched.</summary>
internal struct FlowLookup
{
    public FlowKey Key;

    /// <summary><see cref="FlowKey.HashOf"/> of <see cref="Key"/>.</summary>
    public uint Hash;

    /// <summary><see cref="FlowKey.ZonelessHashOf"/> of <see cref="Key"/>: <see cref="Hash"/> in another zone is one instruction away.</summary>
    public uint ZonelessHash;
    public LookupPath Path;
    public IcmpRole Role;

    /// <summary>The packet's sender is endpoint A of <see cref="Key"/>.</summary>
    public bool SenderIsA;
}
