namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// Stage: ARP on the underlay (RFC 826), for our IPv4 VTEP address.
///
/// Input: a parsed ARP frame from the underlay port.
/// Output: a reply written to a caller-supplied buffer (for a request for our address), or
/// "consumed" (a reply to us), or a drop.
/// Learning: a request or reply addressed to our IP stores the sender in the neighbour cache
/// (RFC 826's merge rule: the sender will talk to us, so we will talk back); ARP for others only
/// refreshes senders we already know (gratuitous ARP after a peer changed its MAC).
/// Drop reasons: <see cref="DropReason.ArpNotForUs"/> (we have no IPv4 VTEP, or the target is
/// another host's). Probes (sender 0.0.0.0, RFC 5227) for our address are answered and not learned.
/// State: writes <see cref="NeighbourTable"/>. Thread: packet thread.
/// </summary>
internal static class ArpResponder
{
    /// <summary>Ethernet + ARP, without padding (the NIC pads to 60 bytes on the wire).</summary>
    public const int FrameLength = EthernetHeader.Length + ArpHeader.Length;

    public static UnderlayResult Process(ReadOnlySpan<byte> frame, in PacketMeta meta, UnderlayConfig config, NeighbourTable neighbours, long now, Span<byte> reply)
    {
        if (config.Ipv4 is not { } ours || meta.DestinationIp != ours.Address)
        {
            if (meta.L3 == L3Kind.Arp && !meta.SourceIp.IsUnspecified)
            {
                neighbours.Update(meta.SourceIp, MacAddress.Read(frame[(meta.L3Offset + ArpHeader.SenderMacOffset)..]), now, create: false);
            }
            return UnderlayResult.Dropped(DropReason.ArpNotForUs);
        }
        var senderMac = MacAddress.Read(frame[(meta.L3Offset + ArpHeader.SenderMacOffset)..]);
        var senderIp = meta.SourceIp;
        if (!senderIp.IsUnspecified && senderIp != ours.Address)
        {
            neighbours.Update(senderIp, senderMac, now, create: true);
        }
        if (meta.ArpOperation != ArpHeader.OperationRequest)
        {
            return UnderlayResult.Consumed;
        }
        var length = BuildReply(reply, config.Mac, ours.Address, senderMac, senderIp);
        return length == 0 ? UnderlayResult.Dropped(DropReason.UnderlayNoReplyBuffer) : UnderlayResult.Replied(length);
    }

    /// <summary>A broadcast who-has <paramref name="target"/> from us; returns its length (42) or 0 if it does not fit.</summary>
    public static int BuildRequest(Span<byte> destination, MacAddress ourMac, IpAddr ourIp, IpAddr target)
    {
        if (destination.Length < FrameLength)
        {
            return 0;
        }
        EthernetHeader.Write(destination, MacAddress.Broadcast, ourMac, EthernetHeader.TypeArp);
        ArpHeader.Write(destination[EthernetHeader.Length..], ArpHeader.OperationRequest, ourMac, ourIp.V4, default, target.V4);
        return FrameLength;
    }

    /// <summary>A unicast is-at from us to <paramref name="targetMac"/>; returns its length (42) or 0 if it does not fit.</summary>
    public static int BuildReply(Span<byte> destination, MacAddress ourMac, IpAddr ourIp, MacAddress targetMac, IpAddr targetIp)
    {
        if (destination.Length < FrameLength)
        {
            return 0;
        }
        EthernetHeader.Write(destination, targetMac, ourMac, EthernetHeader.TypeArp);
        ArpHeader.Write(destination[EthernetHeader.Length..], ArpHeader.OperationReply, ourMac, ourIp.V4, targetMac, targetIp.V4);
        return FrameLength;
    }
}
