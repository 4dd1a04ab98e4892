namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// Every reason a pipeline stage drops a frame, defined once for all stages (and for the
/// statistics API, which prints <see cref="DropReasons.Name"/>). Grouped by the stage that
/// counts them; the stage's file says when each one fires.
/// </summary>
internal enum DropReason : byte
{
    /// <summary>Not a drop: the stage accepted the frame.</summary>
    None = 0,

    // Parsing/PacketParser.cs
    EthernetTruncated,
    EthernetTooLong,
    EthernetSourceMulticast,
    VlanTruncated,
    ArpTruncated,
    ArpUnsupportedFormat,
    Ipv4Truncated,
    Ipv4BadVersion,
    Ipv4BadHeaderLength,
    Ipv4BadTotalLength,
    Ipv6Truncated,
    Ipv6BadVersion,
    Ipv6BadPayloadLength,

    /// <summary>An IPv6 extension header past the payload or the first segment, or a chain longer than the parser walks.</summary>
    Ipv6BadExtensionHeader,
    UdpTruncated,
    UdpBadLength,
    TcpTruncated,
    TcpBadDataOffset,
    IcmpTruncated,
    Icmpv6Truncated,
    NdTruncated,

    // Switching/SwitchStage.cs
    SwitchUnknownPort,
    SwitchUnknownVni,
    SwitchHairpin,
    SwitchRemoteToRemote,
    SwitchSourceMacIsLocal,

    // Vxlan/VxlanEncap.cs
    EncapBadBuffer,
    EncapNoHeadroom,
    EncapTooBig,
    EncapNoUnderlayAddress,
    EncapNeighbourUnresolved,

    // Vxlan/VxlanDecap.cs
    DecapNotVxlan,
    DecapOuterFragment,
    DecapOuterBadChecksum,
    DecapOuterBadSource,
    DecapFromSelf,
    DecapNotOurAddress,
    DecapBadUdpChecksum,
    DecapTruncated,
    DecapFlagsInvalid,

    // Underlay/UnderlayStage.cs, Underlay/ArpResponder.cs, Underlay/NdResponder.cs
    UnderlayNotOurMac,
    UnderlayTagged,
    UnderlayUnhandled,
    UnderlayNoReplyBuffer,
    ArpNotForUs,
    NdNotForUs,
    NdInvalid,
    NdBadChecksum,
    NdBadOption,
    NdUnhandled,

    // Firewall/AntiSpoof.cs (frames a VM sends; counted per NIC too)

    /// <summary>The Ethernet source is not the NIC's MAC.</summary>
    SpoofSourceMac,

    /// <summary>The IP source is not one of the NIC's addresses.</summary>
    SpoofSourceIp,

    /// <summary>ip_anti_spoof: an ARP sender MAC or IP that is not the NIC's.</summary>
    SpoofArp,

    /// <summary>ip_anti_spoof: a neighbour advertisement for another address, or a link-layer option naming another MAC.</summary>
    SpoofNeighbourDiscovery,

    /// <summary>An ICMPv6 router advertisement or redirect from a VM.</summary>
    SpoofRouterMessage,

    /// <summary>A DHCP or DHCPv6 server message from a VM.</summary>
    SpoofDhcpServer,

    /// <summary>A RARP frame from a VM.</summary>
    SpoofRarp,

    // Firewall/FirewallStage.cs (security groups and connection tracking; counted per NIC too)

    /// <summary>A new flow toward the NIC that no INBOUND rule of its groups admits (default deny).</summary>
    FirewallInboundDenied,

    /// <summary>A new flow from the NIC that its groups' OUTBOUND rules do not admit.</summary>
    FirewallOutboundDenied,

    /// <summary>A later fragment of a datagram whose first fragment was not seen passing.</summary>
    FirewallFragmentUnknown,

    /// <summary>An established connection the current rules no longer admit (only with --conntrack-cut-established).</summary>
    FirewallCut,

    /// <summary>A packet of no valid state: TCP out of window or with impossible flags, a SYN-ACK opening nothing, an echo the wrong way.</summary>
    ConntrackInvalid,

    /// <summary>A new flow while the connection table is full (--conntrack-max).</summary>
    ConntrackFull,

    /// <summary>A frame of a NIC port the compiled firewall does not know (never let through unfiltered).</summary>
    FirewallNoPolicy,

    // ../PacketThread.cs (the burst loop itself)

    /// <summary>A flood found no other local port in the VNI (a NIC alone in its VNI, no remote VTEP).</summary>
    NoDestination,

    /// <summary>The output port did not take the frame: its ring was full, or no vhost-user frontend is running.</summary>
    TxFull,

    /// <summary>A flood copy could not be made: the mbuf pool was empty.</summary>
    NoMbuf,

    /// <summary>A frame received on the underlay while no VXLAN tunnel is configured on this host.</summary>
    UnderlayNoTunnel,

    // Offload/InnerOffload.cs and ../Forwarder.Offload.cs (a guest's checksum/TSO request finished in software)

    /// <summary>A frame asking for checksum or segmentation offload whose headers are truncated or inconsistent.</summary>
    OffloadBadHeaders,

    /// <summary>An offload request that cannot be finished: not TCP/UDP over IP, a fragment, UDP segmentation, an MSS below 48, a segment larger than an mbuf.</summary>
    OffloadUnsupported,
}

/// <summary>Names and count of <see cref="DropReason"/>, for counters and the statistics API.</summary>
internal static class DropReasons
{
    /// <summary>Number of values, <see cref="DropReason.None"/> included; sizes counter arrays.</summary>
    public static readonly int Count = Enum.GetValues<DropReason>().Length;

    /// <summary>The first reason counted per NIC as well (anti-spoof and firewall), see <see cref="IsPerNic"/>.</summary>
    public const DropReason FirstPerNic = DropReason.SpoofSourceMac;

    /// <summary>The last reason counted per NIC as well.</summary>
    public const DropReason LastPerNic = DropReason.FirewallNoPolicy;

    /// <summary>How many reasons are counted per NIC.</summary>
    public const int PerNicCount = LastPerNic - FirstPerNic + 1;

    /// <summary>True for the anti-spoof and firewall reasons, which nic_stats shows per NIC.</summary>
    public static bool IsPerNic(DropReason reason) => reason is >= FirstPerNic and <= LastPerNic;

    private static readonly string[] Names = BuildNames();

    /// <summary>The reason in snake_case (<c>ipv4_bad_total_length</c>), as statistics print it.</summary>
    public static string Name(DropReason reason) => (int)reason < Names.Length ? Names[(int)reason] : "unknown";

    private static string[] BuildNames()
    {
        var names = new string[Count];
        foreach (var value in Enum.GetValues<DropReason>())
        {
            var pascal = value.ToString();
            var snake = new System.Text.StringBuilder(pascal.Length + 8);
            for (var i = 0; i < pascal.Length; i++)
            {
                var c = pascal[i];
                if (char.IsUpper(c) && i > 0)
                {
                    snake.Append('_');
                }
                snake.Append(char.ToLowerInvariant(c));
            }
            names[(int)value] = snake.ToString();
        }
        return names;
    }
}

/// <summary>
/// One counter per <see cref="DropReason"/>. Written by the packet thread only (plain
/// increments, no atomics: one writer); read by the control thread, which may see a value a
/// few frames old but never a torn one (aligned 64-bit reads).
/// </summary>
internal sealed class DropCounters
{
    private readonly ulong[] _counts = new ulong[DropReasons.Count];

    /// <summary>Counts one frame dropped for <paramref name="reason"/>. Packet thread.</summary>
    public void Count(DropReason reason) => _counts[(int)reason]++;

    /// <summary>Counts <paramref name="frames"/> frames dropped for <paramref name="reason"/>. Packet thread.</summary>
    public void Add(DropReason reason, ulong frames) => _counts[(int)reason] += frames;

    /// <summary>Frames dropped for <paramref name="reason"/> so far. Any thread.</summary>
    public ulong this[DropReason reason] => Volatile.Read(ref _counts[(int)reason]);

    /// <summary>Sum over every reason. Any thread.</summary>
    public ulong Total
    {
        get
        {
            ulong total = 0;
            for (var i = 1; i < _counts.Length; i++)
            {
                total += Volatile.Read(ref _counts[i]);
            }
            return total;
        }
    }
}
