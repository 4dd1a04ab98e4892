using System.Buffers.Binary;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// Stage: IPv6 Neighbour Discovery on the underlay (RFC 4861), for our IPv6 VTEP address.
///
/// Input: a parsed ICMPv6 ND frame from the underlay port.
/// Output: a neighbour advertisement written to a caller-supplied buffer (for a solicitation of
/// our address), or "consumed" (an advertisement we can use), or a drop.
/// Validation (RFC 4861 §7.1): hop limit 255, code 0, correct checksum, target not multicast,
/// options of non-zero length inside the message, no source link-layer option from the
/// unspecified address; an advertisement to a multicast address must not be solicited.
/// Learning: a solicitation for us stores its sender (when it carries a source link-layer
/// option); an advertisement refreshes or completes an entry we already have (one we asked
/// for), never creates one.
/// Drop reasons: <see cref="DropReason.NdNotForUs"/>, <see cref="DropReason.NdInvalid"/>,
/// <see cref="DropReason.NdBadChecksum"/>, <see cref="DropReason.NdBadOption"/>,
/// <see cref="DropReason.NdUnhandled"/> (router solicitations/advertisements and redirects:
/// the underlay is configured, not autoconfigured).
/// State: writes <see cref="NeighbourTable"/>. Thread: packet thread.
/// </summary>
internal static class NdResponder
{
    /// <summary>Ethernet + IPv6 + NS/NA (24) + one link-layer address option (8).</summary>
    public const int FrameLength = EthernetHeader.Length + Ipv6Header.Length + 24 + NdMessage.LinkLayerOptionLength;

    private const int IcmpLength = 24 + NdMessage.LinkLayerOptionLength;

    /// <summary>ff02::1, all nodes: where an answer to a duplicate-address probe goes.</summary>
    private static readonly IpAddr AllNodes = new(0xFF02_0000_0000_0000, 1);

    public static UnderlayResult Process(ReadOnlySpan<byte> frame, in PacketMeta meta, UnderlayConfig config, NeighbourTable neighbours, long now, Span<byte> reply)
    {
        if (meta.IcmpType is not (NdMessage.NeighbourSolicitation or NdMessage.NeighbourAdvertisement))
        {
            return UnderlayResult.Dropped(DropReason.NdUnhandled);
        }
        if (config.Ipv6 is not { } ours)
        {
            return UnderlayResult.Dropped(DropReason.NdNotForUs);
        }
        if (meta.Ttl != NdMessage.RequiredHopLimit || meta.IcmpCode != 0)
        {
            return UnderlayResult.Dropped(DropReason.NdInvalid);
        }
        var icmp = frame[meta.L4Offset..meta.L3End];
        var pseudo = InternetChecksum.PseudoHeaderV6(meta.SourceIp, meta.DestinationIp, (uint)icmp.Length, Ipv6Header.NextIcmpv6);
        if (!InternetChecksum.VerifyTransport(pseudo, icmp))
        {
            return UnderlayResult.Dropped(DropReason.NdBadChecksum);
        }
        var target = IpAddr.ReadV6(icmp[NdMessage.TargetOffset..]);
        if (target.IsMulticast)
        {
            return UnderlayResult.Dropped(DropReason.NdInvalid);
        }
        var wanted = meta.IcmpType == NdMessage.NeighbourSolicitation ? NdMessage.OptionSourceLinkLayer : NdMessage.OptionTargetLinkLayer;
        if (!TryFindLinkLayerOption(icmp, wanted, out var optionMac, out var hasOption))
        {
            return UnderlayResult.Dropped(DropReason.NdBadOption);
        }

        if (meta.IcmpType == NdMessage.NeighbourAdvertisement)
        {
            var flags = BinaryPrimitives.ReadUInt32BigEndian(icmp[NdMessage.FlagsOffset..]);
            if (meta.DestinationIp.IsMulticast && (flags & NdMessage.FlagSolicited) != 0)
            {
                return UnderlayResult.Dropped(DropReason.NdInvalid);
            }
            return neighbours.Update(target, hasOption ? optionMac : meta.Source, now, create: false)
                ? UnderlayResult.Consumed
                : UnderlayResult.Dropped(DropReason.NdNotForUs);
        }

        if (target != ours.Address)
        {
            return UnderlayResult.Dropped(DropReason.NdNotForUs);
        }
        var source = meta.SourceIp;
        MacAddress replyMac;
        IpAddr replyIp;
        bool solicited;
        if (source.IsUnspecified)
        {
            // Duplicate address detection by someone else: defend our address to all nodes.
            if (hasOption)
            {
                return UnderlayResult.Dropped(DropReason.NdInvalid);
            }
            replyIp = AllNodes;
            replyMac = MulticastGroups.MacOf(AllNodes);
            solicited = false;
        }
        else
        {
            replyMac = hasOption ? optionMac : meta.Source;
            replyIp = source;
            solicited = true;
            if (hasOption)
            {
                neighbours.Update(source, optionMac, now, create: true);
            }
        }
        var length = BuildAdvertisement(reply, config.Mac, ours.Address, replyMac, replyIp, solicited);
        return length == 0 ? UnderlayResult.Dropped(DropReason.UnderlayNoReplyBuffer) : UnderlayResult.Replied(length);
    }

    /// <summary>
    /// A multicast solicitation for <paramref name="target"/> from us, to its solicited-node group
    /// (ff02::1:ffXX:XXXX, RFC 4291 §2.7.1); returns its length (86) or 0 if it does not fit.
    /// </summary>
    public static int BuildSolicitation(Span<byte> destination, MacAddress ourMac, IpAddr ourIp, IpAddr target)
    {
        var group = MulticastGroups.SolicitedNodeOf(target);
        return Build(destination, NdMessage.NeighbourSolicitation, 0, NdMessage.OptionSourceLinkLayer, ourMac, ourIp, MulticastGroups.MacOf(group), group, target);
    }

    /// <summary>An advertisement of our address (override set; solicited when answering a unicast source); returns 86 or 0.</summary>
    public static int BuildAdvertisement(Span<byte> destination, MacAddress ourMac, IpAddr ourIp, MacAddress toMac, IpAddr toIp, bool solicited)
    {
        var flags = NdMessage.FlagOverride | (solicited ? NdMessage.FlagSolicited : 0);
        return Build(destination, NdMessage.NeighbourAdvertisement, flags, NdMessage.OptionTargetLinkLayer, ourMac, ourIp, toMac, toIp, ourIp);
    }

    private static int Build(Span<byte> destination, byte type, uint flags, byte option, MacAddress ourMac, IpAddr ourIp, MacAddress toMac, IpAddr toIp, IpAddr target)
    {
        if (destination.Length < FrameLength)
        {
            return 0;
        }
        var frame = destination[..FrameLength];
        EthernetHeader.Write(frame, toMac, ourMac, EthernetHeader.TypeIpv6);
        Ipv6Header.Write(frame[EthernetHeader.Length..], 0, IcmpLength, Ipv6Header.NextIcmpv6, NdMessage.RequiredHopLimit, ourIp, toIp);
        var icmp = frame[(EthernetHeader.Length + Ipv6Header.Length)..];
        icmp[IcmpHeader.TypeOffset] = type;
        icmp[IcmpHeader.CodeOffset] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpHeader.ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(icmp[NdMessage.FlagsOffset..], flags);
        target.WriteV6(icmp[NdMessage.TargetOffset..]);
        icmp[NdMessage.OptionsOffset] = option;
        icmp[NdMessage.OptionsOffset + 1] = 1;
        ourMac.Write(icmp[(NdMessage.OptionsOffset + 2)..]);
        var pseudo = InternetChecksum.PseudoHeaderV6(ourIp, toIp, IcmpLength, Ipv6Header.NextIcmpv6);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpHeader.ChecksumOffset..], InternetChecksum.Transport(pseudo, icmp));
        return FrameLength;
    }

    /// <summary>
    /// Walks the options after the 24-byte NS/NA body; false when one is malformed (zero length
    /// or past the end). Finds the first option of type <paramref name="wanted"/> with an
    /// Ethernet address.
    /// </summary>
    private static bool TryFindLinkLayerOption(ReadOnlySpan<byte> icmp, byte wanted, out MacAddress mac, out bool found)
    {
        mac = default;
        found = false;
        var options = icmp[NdMessage.OptionsOffset..];
        while (options.Length > 0)
        {
            if (options.Length < 2)
            {
                return false;
            }
            var length = options[1] * 8;
            if (length == 0 || length > options.Length)
            {
                return false;
            }
            if (!found && options[0] == wanted && length >= 2 + MacAddress.Length)
            {
                mac = MacAddress.Read(options[2..]);
                found = true;
            }
            options = options[length..];
        }
        return true;
    }
}
