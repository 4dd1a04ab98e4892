using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>
/// Tracker: UDP. No state machine: a flow lives <see cref="ConntrackTimeouts.Udp"/> after its
/// last packet while it has gone one way only, and <see cref="ConntrackTimeouts.UdpStream"/>
/// once a packet went the reply way (EC2's "stream"). Thread: the packet thread.
/// </summary>
internal static class UdpTracker
{
    public static void Open(ref Connection c, long now, ConntrackTimeouts timeouts) => c.Expires = now + timeouts.Udp;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TrackResult Update(ref Connection c, bool original, long now, ConntrackTimeouts timeouts)
    {
        if (!original)
        {
            c.Flags |= ConnectionFlags.SeenReply;
        }
        c.Expires = now + (c.Has(ConnectionFlags.SeenReply) ? timeouts.UdpStream : timeouts.Udp);
        return TrackResult.Valid;
    }
}
