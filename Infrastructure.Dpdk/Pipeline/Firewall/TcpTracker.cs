using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>One side of a TCP connection, in the order the state machine moves through them.</summary>
internal enum TcpPeerState : byte
{
    /// <summary>Nothing seen from this side yet.</summary>
    Closed = 0,
    SynSent = 1,
    Established = 2,

    /// <summary>This side has sent its FIN.</summary>
    Closing = 3,

    /// <summary>This side's FIN has been acknowledged.</summary>
    FinWait2 = 4,

    /// <summary>A RST was seen.</summary>
    TimeWait = 5,
}

/// <summary>What a tracker says of a packet of a known connection.</summary>
internal enum TrackResult : byte
{
    /// <summary>In state and in window: pass, the entry is updated.</summary>
    Valid,

    /// <summary>Out of window or impossible flags: drop (<see cref="DropReason.ConntrackInvalid"/>).</summary>
    Invalid,

    /// <summary>A SYN on a closed connection's 4-tuple: the old entry goes and the SYN is a new flow.</summary>
    Reopen,
}

/// <summary>
/// Tracker: TCP. The connection state machine (SYN / SYN-ACK / established / FIN / RST) with
/// sequence-window checks, after Guido van Rooij's algorithm as pf and Open vSwitch's
/// <c>lib/conntrack-tcp.c</c> implement it: each side's highest sequence sent, the highest the
/// other side's ACK + window allows, and its largest window; a segment must fall inside the
/// receiver's window, not more than one window back (retransmissions), ACK within a window of
/// what was sent, and a RST must carry the expected sequence number (blind-reset protection).
/// A connection picked up without its SYN (a restart of the daemon, a migrated VM, a rule that
/// changed) assumes the largest window scale until both sides are seen, like pf.
/// Input: the TCP header at <see cref="PacketMeta.L4Offset"/>; payload length from
/// <see cref="PacketMeta.L3End"/> − <see cref="PacketMeta.PayloadOffset"/> (a TSO super-frame
/// counts whole). State: <see cref="Connection.Origin"/>, <see cref="Connection.Reply"/>,
/// <see cref="Connection.Expires"/>. Thread: the packet thread. Pure arithmetic, no allocation.
/// </summary>
internal static class TcpTracker
{
    private const byte ScaleKnown = 0x80;
    private const byte ScaleUnknown = 0x40;
    private const byte ScaleMask = 0x0F;
    private const int MaxScale = 14;
    private const int MaxAckWindow = 0xFFFF + 1500;
    private const int WindowScaleOption = 3;
    private const int SeqOffset = 4;
    private const int AckOffset = 8;
    private const int WindowOffset = 14;

    private const byte Syn = TcpHeader.FlagSyn;
    private const byte Ack = TcpHeader.FlagAck;
    private const byte Fin = TcpHeader.FlagFin;
    private const byte Rst = TcpHeader.FlagRst;
    private const byte Psh = TcpHeader.FlagPsh;
    private const byte Urg = 0x20;

    /// <summary>
    /// True when a segment with these flags may start tracking: a SYN, or (pick-up) any valid
    /// segment but a SYN-ACK (half an opening) or a RST (nothing to track).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool CanOpen(byte flags) =>
        !InvalidFlags(flags) && (flags & (Syn | Ack)) != (Syn | Ack) && (flags & Rst) == 0;

    /// <summary>Flag combinations no TCP sends (pf's pf_normalize_tcp checks).</summary>
    public static bool InvalidFlags(byte flags)
    {
        if ((flags & Syn) != 0)
        {
            if ((flags & (Rst | Fin)) != 0)
            {
                return true;
            }
        }
        else if ((flags & (Ack | Rst)) == 0)
        {
            return true;
        }
        return (flags & Ack) == 0 && (flags & (Fin | Psh | Urg)) != 0;
    }

    /// <summary>Starts tracking with the connection's first segment (<see cref="CanOpen"/> was true).</summary>
    public static void Open(ref Connection c, ReadOnlySpan<byte> frame, in PacketMeta meta, long now, ConntrackTimeouts timeouts)
    {
        var tcp = frame[meta.L4Offset..];
        var seq = BinaryPrimitives.ReadUInt32BigEndian(tcp[SeqOffset..]);
        uint window = BinaryPrimitives.ReadUInt16BigEndian(tcp[WindowOffset..]);
        ref var src = ref c.Origin;
        ref var dst = ref c.Reply;
        src.End = seq;
        src.Limit = seq + PayloadLength(meta) + 1;
        if ((meta.TcpFlags & Syn) != 0)
        {
            src.Limit++;
            src.WindowScale = ReadWindowScale(frame, meta);
        }
        else
        {
            src.WindowScale = ScaleUnknown;
            dst.WindowScale = ScaleUnknown;
        }
        src.MaxWindow = Math.Max(window, 1);
        var scale = src.WindowScale & ScaleMask;
        if (scale != 0)
        {
            src.MaxWindow = (src.MaxWindow + (1u << scale) - 1) >> scale;
        }
        if ((meta.TcpFlags & Fin) != 0)
        {
            src.Limit++;
        }
        dst.Limit = 1;
        dst.MaxWindow = 1;
        src.State = TcpPeerState.SynSent;
        dst.State = TcpPeerState.Closed;
        c.Expires = now + timeouts.TcpOpening;
    }

    /// <summary>Checks and records a segment of a tracked connection; <paramref name="original"/> when it goes the way the first one went.</summary>
    public static TrackResult Update(ref Connection c, bool original, ReadOnlySpan<byte> frame, in PacketMeta meta, long now, ConntrackTimeouts timeouts)
    {
        var flags = meta.TcpFlags;
        if (InvalidFlags(flags))
        {
            return TrackResult.Invalid;
        }
        ref var src = ref original ? ref c.Origin : ref c.Reply;
        ref var dst = ref original ? ref c.Reply : ref c.Origin;
        if ((flags & (Syn | Ack)) == Syn && src.State >= TcpPeerState.FinWait2 && dst.State >= TcpPeerState.FinWait2)
        {
            return TrackResult.Reopen;
        }

        int sws = 0, dws = 0;
        if ((src.WindowScale & ScaleKnown) != 0 && (dst.WindowScale & ScaleKnown) != 0 && (flags & Syn) == 0)
        {
            sws = src.WindowScale & ScaleMask;
            dws = dst.WindowScale & ScaleMask;
        }
        else if ((src.WindowScale & ScaleUnknown) != 0 && (dst.WindowScale & ScaleUnknown) != 0 && (flags & Syn) == 0)
        {
            sws = MaxScale;
            dws = MaxScale;
        }

        var tcp = frame[meta.L4Offset..];
        var seq = BinaryPrimitives.ReadUInt32BigEndian(tcp[SeqOffset..]);
        var ack = BinaryPrimitives.ReadUInt32BigEndian(tcp[AckOffset..]);
        uint window = BinaryPrimitives.ReadUInt16BigEndian(tcp[WindowOffset..]);
        var originalSeq = seq;
        var end = seq + PayloadLength(meta);
        if ((flags & Syn) != 0)
        {
            end++;
        }
        if ((flags & Fin) != 0)
        {
            end++;
        }
        var checkAckSkew = true;
        if (src.State < TcpPeerState.SynSent)
        {
            // The first segment from this side.
            if ((flags & Syn) != 0 && (dst.WindowScale & ScaleKnown) != 0)
            {
                src.WindowScale = ReadWindowScale(frame, meta);
                if ((src.WindowScale & ScaleKnown) != 0)
                {
                    sws = src.WindowScale & ScaleMask;
                    window = (window + (1u << sws) - 1) >> sws;
                    dws = dst.WindowScale & ScaleMask;
                }
                else
                {
                    // Scaling needs both sides: the other window was scaled for nothing.
                    dst.MaxWindow <<= dst.WindowScale & ScaleMask;
                    dst.WindowScale = 0;
                }
            }
            src.End = seq;
            src.State = TcpPeerState.SynSent;
            var reach = end + Math.Max(1, dst.MaxWindow << dws);
            if (src.Limit == 1 || SeqGeq(reach, src.Limit))
            {
                src.Limit = reach;
                checkAckSkew = false;
            }
            if (window > src.MaxWindow)
            {
                src.MaxWindow = window;
            }
        }

        if ((flags & Ack) == 0 || (ack == 0 && (flags & (Ack | Rst)) == (Ack | Rst)))
        {
            // No ACK to check (or a stack that sends RST|ACK with ack 0): let it pass the skew check.
            ack = dst.End;
        }
        if (seq == end)
        {
            // No data: ease the sequence checks.
            seq = src.End;
            end = seq;
        }
        var ackSkew = checkAckSkew ? (int)(dst.End - ack) : 0;
        if (SeqGeq(src.Limit, end)
            && SeqGeq(seq, src.End - (dst.MaxWindow << dws))
            && ackSkew >= -MaxAckWindow
            && ackSkew <= (MaxAckWindow << sws)
            && ((flags & Rst) == 0 || originalSeq == src.End || originalSeq == src.End + 1 || originalSeq + 1 == src.End))
        {
            Advance(ref src, ref dst, window, end, ack, sws);
            if ((flags & Syn) != 0 && src.State < TcpPeerState.SynSent)
            {
                src.State = TcpPeerState.SynSent;
            }
            if ((flags & Fin) != 0 && src.State < TcpPeerState.Closing)
            {
                src.State = TcpPeerState.Closing;
            }
            if ((flags & Ack) != 0)
            {
                if (dst.State == TcpPeerState.SynSent)
                {
                    dst.State = TcpPeerState.Established;
                }
                else if (dst.State == TcpPeerState.Closing)
                {
                    dst.State = TcpPeerState.FinWait2;
                }
            }
            if ((flags & Rst) != 0)
            {
                src.State = TcpPeerState.TimeWait;
                dst.State = TcpPeerState.TimeWait;
            }
            c.Expires = now + Lifetime(src.State, dst.State, timeouts);
            return TrackResult.Valid;
        }
        if ((dst.State < TcpPeerState.SynSent || dst.State >= TcpPeerState.FinWait2 || src.State >= TcpPeerState.FinWait2)
            && SeqGeq(src.Limit + MaxAckWindow, end)
            && SeqGeq(seq, src.End - MaxAckWindow))
        {
            // Within a window either way while the other side is not established yet (SYNs
            // shotgunned before the answer, a connection picked up mid-stream) or after the
            // close: pass, but do not extend the lifetime, so a flood cannot keep it alive.
            Advance(ref src, ref dst, window, end, ack, sws);
            if ((flags & Fin) != 0 && src.State < TcpPeerState.Closing)
            {
                src.State = TcpPeerState.Closing;
            }
            if ((flags & Rst) != 0)
            {
                src.State = TcpPeerState.TimeWait;
                dst.State = TcpPeerState.TimeWait;
            }
            return TrackResult.Valid;
        }
        return TrackResult.Invalid;
    }

    /// <summary>How long a connection in these states lives without traffic.</summary>
    internal static long Lifetime(TcpPeerState a, TcpPeerState b, ConntrackTimeouts timeouts)
    {
        if (a >= TcpPeerState.FinWait2 && b >= TcpPeerState.FinWait2)
        {
            return timeouts.TcpClosed;
        }
        if (a >= TcpPeerState.Closing && b >= TcpPeerState.Closing)
        {
            return timeouts.TcpFinWait;
        }
        if (a < TcpPeerState.Established || b < TcpPeerState.Established)
        {
            return timeouts.TcpOpening;
        }
        return a >= TcpPeerState.Closing || b >= TcpPeerState.Closing ? timeouts.TcpClosing : timeouts.TcpEstablished;
    }

    private static void Advance(ref TcpPeer src, ref TcpPeer dst, uint window, uint end, uint ack, int sws)
    {
        if (src.MaxWindow < window)
        {
            src.MaxWindow = window;
        }
        if (SeqGt(end, src.End))
        {
            src.End = end;
        }
        var scaled = window << sws;
        if (SeqGeq(ack + scaled, dst.Limit))
        {
            dst.Limit = ack + Math.Max(scaled, 1);
        }
    }

    /// <summary>Payload bytes of the segment (IP's length minus the headers); 0 when inconsistent.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint PayloadLength(in PacketMeta meta) =>
        meta.L3End > meta.PayloadOffset ? (uint)(meta.L3End - meta.PayloadOffset) : 0;

    /// <summary>The window-scale option of a SYN, with <see cref="ScaleKnown"/> when present; 0 when absent.</summary>
    private static byte ReadWindowScale(ReadOnlySpan<byte> frame, in PacketMeta meta)
    {
        var start = meta.L4Offset + TcpHeader.MinLength;
        var end = Math.Min((int)meta.PayloadOffset, frame.Length);
        for (var i = start; i < end;)
        {
            var kind = frame[i];
            if (kind == 0)
            {
                break;
            }
            if (kind == 1)
            {
                i++;
                continue;
            }
            if (i + 1 >= end)
            {
                break;
            }
            var length = Math.Max((int)frame[i + 1], 2);
            if (kind == WindowScaleOption && length == 3 && i + 2 < end)
            {
                return (byte)(Math.Min((int)frame[i + 2], MaxScale) | ScaleKnown);
            }
            i += length;
        }
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SeqGeq(uint a, uint b) => (int)(a - b) >= 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SeqGt(uint a, uint b) => (int)(a - b) > 0;
}
