using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>What an ICMP or ICMPv6 message is to connection tracking.</summary>
internal enum IcmpRole : byte
{
    /// <summary>Informational messages the tracker does not follow (rules alone decide).</summary>
    Untracked,
    EchoRequest,
    EchoReply,

    /// <summary>An error quoting a packet it is about (unreachable, too big, time exceeded, parameter problem).</summary>
    Error,
}

/// <summary>
/// Tracker: ICMP and ICMPv6. Echo is tracked like a connection keyed by its identifier (the
/// request must go the original way, the reply the other: anything else is invalid), alive
/// <see cref="ConntrackTimeouts.Icmp"/> after its last packet. Errors are not connections:
/// <see cref="TryQuotedKey"/> reads the header they quote, and the firewall lets the error
/// through when that quoted packet belongs to a tracked connection of the zone ("related"), so
/// path-MTU and unreachable messages of an allowed flow get back.
/// Thread: the packet thread. Pure functions over the frame, no allocation.
/// </summary>
internal static class IcmpTracker
{
    private const int EchoIdOffset = 4;
    private const int QuoteOffset = 8;

    /// <summary>The role of a parsed ICMP (IPv4) or ICMPv6 (IPv6) message.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static IcmpRole RoleOf(in PacketMeta meta)
    {
        var type = meta.IcmpType;
        if (meta.L3 == L3Kind.Ipv4)
        {
            return type switch
            {
                IcmpHeader.V4EchoRequest => IcmpRole.EchoRequest,
                IcmpHeader.V4EchoReply => IcmpRole.EchoReply,
                3 or 4 or 5 or 11 or 12 => IcmpRole.Error,
                _ => IcmpRole.Untracked,
            };
        }
        return type switch
        {
            IcmpHeader.V6EchoRequest => IcmpRole.EchoRequest,
            IcmpHeader.V6EchoReply => IcmpRole.EchoReply,
            >= 1 and <= 4 => IcmpRole.Error,
            _ => IcmpRole.Untracked,
        };
    }

    /// <summary>The echo identifier (the message's bytes 4-5; the parser guarantees 8 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort EchoId(ReadOnlySpan<byte> frame, in PacketMeta meta) =>
        BinaryPrimitives.ReadUInt16BigEndian(frame[(meta.L4Offset + EchoIdOffset)..]);

    public static void Open(ref Connection c, long now, ConntrackTimeouts timeouts) => c.Expires = now + timeouts.Icmp;

    /// <summary>A request must go the original way and a reply the other.</summary>
    public static TrackResult Update(ref Connection c, bool original, IcmpRole role, long now, ConntrackTimeouts timeouts)
    {
        if (role != (original ? IcmpRole.EchoRequest : IcmpRole.EchoReply))
        {
            return TrackResult.Invalid;
        }
        if (!original)
        {
            c.Flags |= ConnectionFlags.SeenReply;
        }
        c.Expires = now + timeouts.Icmp;
        return TrackResult.Valid;
    }

    /// <summary>
    /// The key, in <paramref name="zone"/>, of the packet an ICMP error quotes, and whether that
    /// packet's sender is endpoint A. False when the quote is too short, of another IP version,
    /// a later fragment, or was not sent by the error's destination (an error goes back to the
    /// sender of the packet it is about).
    /// </summary>
    public static bool TryQuotedKey(uint zone, ReadOnlySpan<byte> frame, in PacketMeta meta, out FlowKey key, out bool senderIsA)
    {
        key = default;
        senderIsA = false;
        var start = meta.L4Offset + QuoteOffset;
        var end = Math.Min((int)meta.L3End, frame.Length);
        if (start >= end)
        {
            return false;
        }
        var quote = frame[start..end];
        IpAddr source, destination;
        byte protocol;
        int l4;
        if (meta.L3 == L3Kind.Ipv4)
        {
            if (quote.Length < Ipv4Header.MinLength || quote[0] >> 4 != 4)
            {
                return false;
            }
            l4 = (quote[0] & 0xF) * 4;
            if (l4 < Ipv4Header.MinLength
                || (BinaryPrimitives.ReadUInt16BigEndian(quote[Ipv4Header.FlagsFragmentOffset..]) & Ipv4Header.FragmentOffsetMask) != 0)
            {
                return false;
            }
            protocol = quote[Ipv4Header.ProtocolOffset];
            source = IpAddr.ReadV4(quote[Ipv4Header.SourceOffset..]);
            destination = IpAddr.ReadV4(quote[Ipv4Header.DestinationOffset..]);
        }
        else
        {
            if (quote.Length < Ipv6Header.Length || quote[0] >> 4 != 6)
            {
                return false;
            }
            l4 = Ipv6Header.Length;
            protocol = quote[Ipv6Header.NextHeaderOffset];
            source = IpAddr.ReadV6(quote[Ipv6Header.SourceOffset..]);
            destination = IpAddr.ReadV6(quote[Ipv6Header.DestinationOffset..]);
        }
        if (source != meta.DestinationIp || quote.Length < l4 + 8)
        {
            return false;
        }
        var quoted = quote[l4..];
        ushort sourcePort = 0, destinationPort = 0;
        var icmp = meta.L3 == L3Kind.Ipv4 ? Ipv4Header.ProtocolIcmp : Ipv6Header.NextIcmpv6;
        if (protocol is Ipv4Header.ProtocolTcp or Ipv4Header.ProtocolUdp)
        {
            sourcePort = BinaryPrimitives.ReadUInt16BigEndian(quoted);
            destinationPort = BinaryPrimitives.ReadUInt16BigEndian(quoted[2..]);
        }
        var echo = 0;
        if (protocol == icmp)
        {
            var type = quoted[0];
            echo = type == (meta.L3 == L3Kind.Ipv4 ? IcmpHeader.V4EchoRequest : IcmpHeader.V6EchoRequest) ? 1
                : type == (meta.L3 == L3Kind.Ipv4 ? IcmpHeader.V4EchoReply : IcmpHeader.V6EchoReply) ? 2
                : 0;
            if (echo == 0)
            {
                return false;
            }
            sourcePort = destinationPort = BinaryPrimitives.ReadUInt16BigEndian(quoted[EchoIdOffset..]);
        }
        key = FlowKey.Of(zone, protocol, FlowKind.Connection, source, sourcePort, destination, destinationPort, out senderIsA);
        if (echo != 0)
        {
            key.Detail = senderIsA == (echo == 1) ? FlowKey.EchoAskedByA : FlowKey.EchoAskedByB;
        }
        return true;
    }
}
