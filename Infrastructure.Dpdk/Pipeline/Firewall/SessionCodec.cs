using System.Diagnostics;
using Butterfly.Application.Nics;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>
/// Converts between a connection-table entry and the <see cref="TrackedSession"/> of a
/// nic_export document: the entry's canonical endpoints (A, B) become the NIC's side and the
/// peer's, the absolute expiry a lifetime left, and back into another zone on import.
/// Control thread; pure functions.
/// </summary>
internal static class SessionCodec
{
    public static TrackedSession ToSession(in Connection c, long now)
    {
        var key = c.Key;
        var inbound = c.Has(ConnectionFlags.Inbound);
        // The NIC opened an outbound connection; an inbound one was opened by the peer.
        var localIsA = c.Has(ConnectionFlags.OriginIsA) != inbound;
        var (local, localPort, remote, remotePort) = localIsA ? (key.A, key.APort, key.B, key.BPort) : (key.B, key.BPort, key.A, key.APort);
        var left = Math.Max(0, c.Expires - now) * 1000 / Stopwatch.Frequency;
        return new TrackedSession(local.IsV4, ToUInt128(local), localPort, ToUInt128(remote), remotePort, key.Protocol, inbound,
            c.Has(ConnectionFlags.SeenReply), (uint)Math.Min(left, uint.MaxValue), ToSide(c.Origin), ToSide(c.Reply));
    }

    /// <summary>
    /// The entry for <paramref name="session"/> in <paramref name="zone"/>, with
    /// <see cref="Connection.Expires"/> holding the lifetime left in clock ticks (the importer
    /// adds its clock) and policy version 0, so a daemon that cuts established connections
    /// checks an imported one against its own rules on its first packet.
    /// </summary>
    public static Connection ToConnection(in TrackedSession session, uint zone)
    {
        var local = FromUInt128(session.Local);
        var remote = FromUInt128(session.Remote);
        var (origin, originPort, reply, replyPort) = session.Inbound
            ? (remote, session.RemotePort, local, session.LocalPort)
            : (local, session.LocalPort, remote, session.RemotePort);
        var c = default(Connection);
        c.Key = FlowKey.Of(zone, session.Protocol, FlowKind.Connection, origin, originPort, reply, replyPort, out var originIsA);
        var icmp = session.Protocol == (session.IsV4 ? Ipv4Header.ProtocolIcmp : Ipv6Header.NextIcmpv6);
        if (icmp && originPort == replyPort)
        {
            // An echo: only a request opens one, so the origin is the side that asks.
            c.Key.Detail = originIsA ? FlowKey.EchoAskedByA : FlowKey.EchoAskedByB;
        }
        c.Flags = (originIsA ? ConnectionFlags.OriginIsA : ConnectionFlags.None)
            | (session.Inbound ? ConnectionFlags.Inbound : ConnectionFlags.None)
            | (session.SeenReply ? ConnectionFlags.SeenReply : ConnectionFlags.None);
        c.Expires = (long)session.RemainingMilliseconds * Stopwatch.Frequency / 1000;
        c.Origin = FromSide(session.Origin);
        c.Reply = FromSide(session.Reply);
        return c;
    }

    private static UInt128 ToUInt128(IpAddr address) => ((UInt128)address.Hi << 64) | address.Lo;

    private static IpAddr FromUInt128(UInt128 value) => new((ulong)(value >> 64), (ulong)value);

    private static TcpSideState ToSide(in TcpPeer peer) => new(peer.End, peer.Limit, peer.MaxWindow, peer.WindowScale, (byte)peer.State);

    private static TcpPeer FromSide(TcpSideState side) => new()
    {
        End = side.End,
        Limit = side.Limit,
        MaxWindow = side.MaxWindow,
        WindowScale = side.WindowScale,
        State = (TcpPeerState)Math.Min(side.State, (byte)TcpPeerState.TimeWait),
    };
}
