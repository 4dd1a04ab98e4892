namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>What to do with a frame that arrived on the underlay port.</summary>
internal enum UnderlayAction : byte
{
    /// <summary>Free it; <see cref="UnderlayResult.Reason"/> says why (count it).</summary>
    Drop,

    /// <summary>Free it; it was used (an ARP reply or advertisement to us) and needs no answer.</summary>
    Consumed,

    /// <summary>Send the <see cref="UnderlayResult.ReplyLength"/> bytes written to the reply buffer out of the underlay, then free the frame.</summary>
    Reply,

    /// <summary>Switch the inner frame <see cref="UnderlayResult.Decap"/> describes.</summary>
    Decapsulated,

    /// <summary>Free it; it was an IGMP/MLD query: report our group memberships (<see cref="MulticastMembership.Queried"/>).</summary>
    MembershipQuery,
}

/// <summary>The underlay stage's answer for one frame.</summary>
internal readonly struct UnderlayResult
{
    private UnderlayResult(UnderlayAction action, DropReason reason, int replyLength, DecapResult decap)
    {
        Action = action;
        Reason = reason;
        ReplyLength = replyLength;
        Decap = decap;
    }

    public static UnderlayResult Consumed => new(UnderlayAction.Consumed, DropReason.None, 0, default);

    public static UnderlayResult Query => new(UnderlayAction.MembershipQuery, DropReason.None, 0, default);

    public UnderlayAction Action { get; }

    public DropReason Reason { get; }

    public int ReplyLength { get; }

    public DecapResult Decap { get; }

    public static UnderlayResult Dropped(DropReason reason) => new(UnderlayAction.Drop, reason, 0, default);

    public static UnderlayResult Replied(int length) => new(UnderlayAction.Reply, DropReason.None, length, default);

    public static UnderlayResult Decapsulated(in DecapResult decap) => new(UnderlayAction.Decapsulated, DropReason.None, 0, decap);
}

/// <summary>
/// Stage: underlay ingress. Sorts what the underlay port receives: ARP and ND for our VTEP
/// addresses are answered or learned, VXLAN to us is decapsulated, the rest is dropped.
///
/// Input: a parsed frame from the underlay port, a scratch buffer for replies (at least
/// <see cref="ReplyBufferLength"/> bytes: a fresh mbuf's data room, or the frame's own buffer —
/// the responders read everything they need before writing).
/// Output: an <see cref="UnderlayResult"/>.
/// Drop reasons (besides those of <see cref="ArpResponder"/>, <see cref="NdResponder"/> and
/// <see cref="VxlanDecap"/>):
/// - <see cref="DropReason.UnderlayNotOurMac"/>: unicast to another MAC (the port may be promiscuous).
/// - <see cref="DropReason.UnderlayTagged"/>: an 802.1Q-tagged frame; the underlay is untagged.
/// - <see cref="DropReason.UnderlayUnhandled"/>: anything else (other UDP, ICMP, other hosts' IGMP/MLD reports, ...).
/// IGMP and MLD queries come out as <see cref="UnderlayAction.MembershipQuery"/>.
/// - <see cref="DropReason.UnderlayNoReplyBuffer"/>: the reply buffer is too small (a caller bug).
/// State: writes <see cref="NeighbourTable"/>. Thread: packet thread.
/// </summary>
internal static class UnderlayStage
{
    /// <summary>The largest reply a responder writes (a neighbour advertisement).</summary>
    public const int ReplyBufferLength = NdResponder.FrameLength;

    public static UnderlayResult Process(ReadOnlySpan<byte> frame, in PacketMeta meta, UnderlayConfig config, NeighbourTable neighbours, long now, Span<byte> reply)
    {
        if (!meta.Destination.IsMulticast && meta.Destination != config.Mac)
        {
            return UnderlayResult.Dropped(DropReason.UnderlayNotOurMac);
        }
        if (meta.Has(PacketFlags.Vlan))
        {
            return UnderlayResult.Dropped(DropReason.UnderlayTagged);
        }
        switch (meta.L3)
        {
            case L3Kind.Ipv4 or L3Kind.Ipv6 when meta.L4Protocol == Ipv4Header.ProtocolUdp && meta.DestinationPort == VxlanHeader.UdpPort:
                var reason = VxlanDecap.Decapsulate(frame, meta, config, out var decap);
                return reason == DropReason.None ? UnderlayResult.Decapsulated(decap) : UnderlayResult.Dropped(reason);
            case L3Kind.Ipv4 when meta.Has(PacketFlags.Fragment) && meta.L4Protocol == Ipv4Header.ProtocolUdp:
                // A fragment never reaches the port check above (later fragments have no ports);
                // count it as what it most likely is rather than as noise.
                return UnderlayResult.Dropped(DropReason.DecapOuterFragment);
            case L3Kind.Arp:
                return ArpResponder.Process(frame, meta, config, neighbours, now, reply);
            case L3Kind.Ipv6 when meta.Has(PacketFlags.NeighbourDiscovery):
                return NdResponder.Process(frame, meta, config, neighbours, now, reply);
            case L3Kind.Ipv4 or L3Kind.Ipv6 when meta.DestinationIp.IsMulticast && MembershipReports.IsQuery(frame, meta):
                return UnderlayResult.Query;
            default:
                return UnderlayResult.Dropped(DropReason.UnderlayUnhandled);
        }
    }
}
