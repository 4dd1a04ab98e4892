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
