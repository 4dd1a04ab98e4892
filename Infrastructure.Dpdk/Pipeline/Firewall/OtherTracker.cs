namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>
/// Tracker: every IP protocol but TCP, UDP and ICMP echo (GRE, SCTP, ESP, ...), tracked by
/// (addresses, protocol number) with ports 0, alive <see cref="ConntrackTimeouts.Other"/>
/// after its last packet either way. Thread: the packet thread.
/// </summary>
internal static class OtherTracker
{
    public static void Open(ref Connection c, long now, ConntrackTimeouts timeouts) => c.Expires = now + timeouts.Other;

    public static TrackResult Update(ref Connection c, bool original, long now, ConntrackTimeouts timeouts)
    {
        if (!original)
        {
            c.Flags |= ConnectionFlags.SeenReply;
        }
        c.Expires = now + timeouts.Other;
        return TrackResult.Valid;
    }
}
