using System.Buffers.Binary;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>How one IPv4 packet is cut into fragments (<see cref="Ipv4Fragmenter.TryPlan"/>).</summary>
internal readonly struct FragmentPlan
{
    public FragmentPlan(int count, int headerLength, int laterHeaderLength, int firstPayload, int laterPayload, int payloadLength)
    {
        Count = count;
        HeaderLength = headerLength;
        LaterHeaderLength = laterHeaderLength;
        FirstPayload = firstPayload;
        LaterPayload = laterPayload;
        PayloadLength = payloadLength;
    }

    public int Count { get; }

    /// <summary>The packet's IP header length (the first fragment's).</summary>
    public int HeaderLength { get; }

    /// <summary>The IP header length of the other fragments: 20 + the options marked copied, padded to 4 bytes.</summary>
    public int LaterHeaderLength { get; }

    /// <summary>Payload bytes of the first fragment (a multiple of 8 unless it is the only one).</summary>
    public int FirstPayload { get; }

    /// <summary>Payload bytes of every later fragment but the last (a multiple of 8).</summary>
    public int LaterPayload { get; }

    /// <summary>Payload bytes of the packet, its IP header excluded.</summary>
    public int PayloadLength { get; }

    /// <summary>Where fragment <paramref name="index"/>'s payload starts in the packet's payload.</summary>
    public int OffsetOf(int index) => index == 0 ? 0 : FirstPayload + ((index - 1) * LaterPayload);

    /// <summary>Payload bytes of fragment <paramref name="index"/>.</summary>
    public int LengthOf(int index) => Math.Min(index == 0 ? FirstPayload : LaterPayload, PayloadLength - OffsetOf(index));
}

/// <summary>
/// Stage: IPv4 fragmentation of an inner packet before encapsulation, as a router does on a
/// smaller next-hop MTU (RFC 791 §2.3 and §3.2, RFC 1812 §4.2.2.7), for packets without DF that
/// do not fit the underlay (<see cref="PathMtu.Decide"/>). The receiving guest reassembles; the
/// outer packet is never fragmented (RFC 7348 §4.3).
///
/// Input: the packet's first bytes (its L2 and IP headers; the payload is copied by the caller,
/// which may have it in several buffers), its <see cref="PacketMeta"/>, and the MTU of the path
/// (the largest IP packet that fits).
/// Output: a <see cref="FragmentPlan"/>; then, per fragment, its L2 header (the packet's, tag
/// included) and IP header written in front of where its payload goes. Every fragment keeps the
/// packet's identification, TTL, TOS and protocol; its offset is the packet's own plus where its
/// payload starts (a fragment is cut again the same way), MF is set on all but the last, which
/// keeps the packet's MF; the first fragment has the packet's options, the others only those
/// whose copied flag is set; each header checksum is computed anew. Payloads are multiples of 8
/// bytes but the last.
/// Refused (false): a header past the given bytes, no payload, or no room for 8 bytes of payload
/// next to the header. State: none. Thread: any (pure functions).
/// Per packet: no allocation, lock, syscall, exception or log.
/// </summary>
internal static class Ipv4Fragmenter
{
    private const int OptionEnd = 0;
    private const int OptionNop = 1;
    private const byte OptionCopied = 0x80;

    /// <summary>Whether any IPv4 header (60 bytes at most) leaves room for 8 bytes of payload in <paramref name="mtu"/>.</summary>
    public static bool CanFragment(in PacketMeta meta, int mtu) => meta.L3 == L3Kind.Ipv4 && mtu >= PathMtu.MinIpv4Mtu;

    /// <summary>Plans the fragments of the IPv4 packet of <paramref name="meta"/> for a path of <paramref name="mtu"/>.</summary>
    public static bool TryPlan(ReadOnlySpan<byte> head, in PacketMeta meta, int mtu, out FragmentPlan plan)
    {
        plan = default;
        int l3 = meta.L3Offset;
        if (meta.L3 != L3Kind.Ipv4 || head.Length < l3 + Ipv4Header.MinLength)
        {
            return false;
        }
        var headerLength = (head[l3] & 0xF) * 4;
        var payload = meta.L3End - l3 - headerLength;
        if (headerLength < Ipv4Header.MinLength || head.Length < l3 + headerLength || payload <= 0)
        {
            return false;
        }
        var laterHeader = CopyOptions(head.Slice(l3, headerLength), default, write: false);
        var first = (mtu - headerLength) & ~7;
        var later = (mtu - laterHeader) & ~7;
        if (first < 8 || later < 8)
        {
            return false;
        }
        var count = payload <= first ? 1 : 1 + ((payload - first + later - 1) / later);
        plan = new FragmentPlan(count, headerLength, laterHeader, Math.Min(first, payload), later, payload);
        return true;
    }

    /// <summary>
    /// Writes the L2 and IP headers of fragment <paramref name="index"/> of <paramref name="plan"/>
    /// at the start of <paramref name="destination"/>; returns their length (the fragment's
    /// payload, <see cref="FragmentPlan.LengthOf"/> bytes, goes right after), or 0 when the
    /// destination is too small for the whole fragment.
    /// </summary>
    public static int WriteHeaders(ReadOnlySpan<byte> head, in PacketMeta meta, in FragmentPlan plan, int index, Span<byte> destination)
    {
        int l3 = meta.L3Offset;
        var ipHeader = index == 0 ? plan.HeaderLength : plan.LaterHeaderLength;
        var payload = plan.LengthOf(index);
        if (destination.Length < l3 + ipHeader + payload)
        {
            return 0;
        }
        var original = head.Slice(l3, plan.HeaderLength);
        head[..l3].CopyTo(destination);
        var ip = destination.Slice(l3, ipHeader);
        if (index == 0)
        {
            original.CopyTo(ip);
        }
        else
        {
            original[..Ipv4Header.MinLength].CopyTo(ip);
            CopyOptions(original, ip, write: true);
            ip[Ipv4Header.VersionIhlOffset] = (byte)(0x40 | (ipHeader / 4));
        }
        var flags = BinaryPrimitives.ReadUInt16BigEndian(original[Ipv4Header.FlagsFragmentOffset..]);
        var last = index == plan.Count - 1;
        var more = last ? flags & Ipv4Header.FlagMoreFragments : Ipv4Header.FlagMoreFragments;
        var offset = (flags & Ipv4Header.FragmentOffsetMask) + (plan.OffsetOf(index) / 8);
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Header.TotalLengthOffset..], (ushort)(ipHeader + payload));
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Header.FlagsFragmentOffset..], (ushort)((flags & 0x8000) | more | offset));
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Header.ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4Header.ChecksumOffset..], InternetChecksum.Compute(ip));
        return l3 + ipHeader;
    }

    /// <summary>
    /// The length of a later fragment's header: 20 bytes plus the options of <paramref name="header"/>
    /// whose copied flag is set, padded with End of Option List to 4 bytes; with
    /// <paramref name="write"/>, those options and the padding are written after the first 20
    /// bytes of <paramref name="destination"/>. NOP and End are not copied; a malformed option
    /// ends the walk.
    /// </summary>
    private static int CopyOptions(ReadOnlySpan<byte> header, Span<byte> destination, bool write)
    {
        var length = Ipv4Header.MinLength;
        var i = Ipv4Header.MinLength;
        while (i < header.Length)
        {
            var type = header[i];
            if (type == OptionEnd)
            {
                break;
            }
            if (type == OptionNop)
            {
                i++;
                continue;
            }
            if (i + 1 >= header.Length || header[i + 1] < 2 || i + header[i + 1] > header.Length)
            {
                break;
            }
            int optionLength = header[i + 1];
            if ((type & OptionCopied) != 0)
            {
                if (write)
                {
                    header.Slice(i, optionLength).CopyTo(destination[length..]);
                }
                length += optionLength;
            }
            i += optionLength;
        }
        var padded = (length + 3) & ~3;
        if (write)
        {
            destination[length..padded].Clear();
        }
        return padded;
    }
}
