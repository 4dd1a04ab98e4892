using System.Buffers.Binary;
using System.Diagnostics;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Bench;

/// <summary>What a BENCH NIC does: send echo requests and time the replies, or answer requests.</summary>
internal enum BenchMode : byte
{
    /// <summary>ICMP_SND_LIKE: echo requests to the destination every <see cref="BenchProbe.Interval"/>, round trips measured.</summary>
    Sender,

    /// <summary>ICMP_RCV_LIKE: echo requests to the NIC's address answered.</summary>
    Responder,
}

/// <summary>A BENCH NIC's addresses: its own (MAC, first IP) and, for a sender, its destination's.</summary>
internal sealed record BenchConfig(BenchMode Mode, MacAddress Mac, IpAddr Ip, MacAddress DestinationMac, IpAddr DestinationIp, ushort Identifier);

/// <summary>What <see cref="BenchProbe.Receive"/> made of a frame delivered to the BENCH NIC.</summary>
internal enum BenchVerdict : byte
{
    /// <summary>Not for the probe (a broadcast of the VNI, another protocol): consumed.</summary>
    Ignored,

    /// <summary>An answer was written to the reply buffer: send it from the NIC.</summary>
    Reply,

    /// <summary>An echo reply to one of our requests: its round trip was recorded.</summary>
    Measured,
}

/// <summary>
/// Stage: the BENCH NIC's probe, the in-switch ICMP endpoint of the original Butterfly: a NIC
/// with no VM behind it that pings through its VNI, so an operator checks the path and latency
/// between hosts without a VM. Its frames leave and arrive through the same switching, firewall
/// and VXLAN path as a VM's (Forwarder.Bench.cs makes the mbufs and runs them as the NIC's).
///
/// Input: the clock (<see cref="Due"/>, <see cref="BuildRequest"/>), and each frame switched to
/// the NIC, parsed (<see cref="Receive"/>).
/// Output: echo requests built into a caller's buffer (a sender: IPv4 ICMP or ICMPv6, 56 bytes
/// of data like ping's, identifier per NIC, sequence numbers from 0); answers built into a
/// caller's buffer: ARP replies and neighbour advertisements for its address (so a VM can reach
/// it), echo replies (a responder).
/// Measures (a sender): an echo reply for its identifier and a sequence number sent within the
/// last <see cref="Window"/> requests and not answered yet: the round trip from the clock reading
/// taken when the request was built to the one taken when the reply was delivered, in
/// <see cref="RttHistogram"/>. Late or duplicate replies are ignored.
/// Drops: none of its own; frames it ignores are consumed, not counted as drops.
/// State: the next send time, the send times of the last requests, its counters (one writer,
/// the packet thread; read by the control thread for nic_stats).
/// Thread: the packet thread. Per frame: no allocation, lock, syscall, exception or log.
/// </summary>
internal sealed class BenchProbe
{
    /// <summary>Echo data bytes, like ping's default: 98-byte frames over IPv4, 118 over IPv6.</summary>
    public const int PayloadLength = 56;

    /// <summary>Requests remembered for matching their replies.</summary>
    public const int Window = 64;

    /// <summary>Ten probes a second.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private static readonly long IntervalTicks = (long)(Interval.TotalSeconds * Stopwatch.Frequency);
    private static readonly IpAddr AllNodes = new(0xFF02_0000_0000_0000, 1);

    private readonly long[] _sentAt = new long[Window];
    private readonly ushort[] _sentSeq = new ushort[Window];
    private readonly bool[] _waiting = new bool[Window];
    private readonly RttHistogram _rtt = new();
    private long _nextSend = long.MinValue;
    private ushort _seq;
    private ulong _sent;
    private ulong _received;

    public BenchProbe(BenchConfig config) => Config = config;

    public BenchConfig Config { get; }

    /// <summary>Requests sent (a sender) or replies sent (a responder). Any thread.</summary>
    public ulong Sent => Volatile.Read(ref _sent);

    /// <summary>Replies matched (a sender) or requests received (a responder). Any thread.</summary>
    public ulong Received => Volatile.Read(ref _received);

    /// <summary>The round trips measured so far.</summary>
    public RttHistogram Rtt => _rtt;

    /// <summary>Bytes of a request frame.</summary>
    public int RequestLength => EthernetHeader.Length + (Config.Ip.IsV4 ? Ipv4Header.MinLength : Ipv6Header.Length) + IcmpHeader.MinLength + PayloadLength;

    /// <summary>True when a sender's next request is due at <paramref name="now"/> (Stopwatch ticks).</summary>
    public bool Due(long now) => Config.Mode == BenchMode.Sender && now >= _nextSend;

    /// <summary>
    /// Writes the next echo request into <paramref name="room"/> and records it as sent at
    /// <paramref name="now"/>; returns its length, or 0 when the room is too small.
    /// </summary>
    public int BuildRequest(Span<byte> room, long now)
    {
        var length = RequestLength;
        if (room.Length < length)
        {
            return 0;
        }
        // Keep the pace, but never send a burst to catch up after a stall.
        _nextSend = _nextSend == long.MinValue || now - _nextSend > 2 * IntervalTicks ? now + IntervalTicks : _nextSend + IntervalTicks;
        var seq = _seq++;
        var slot = seq % Window;
        _sentAt[slot] = now;
        _sentSeq[slot] = seq;
        _waiting[slot] = true;
        var icmp = WriteHeaders(room[..length], Config.DestinationMac, Config.DestinationIp, IcmpHeader.MinLength + PayloadLength);
        icmp[IcmpHeader.TypeOffset] = Config.Ip.IsV4 ? IcmpHeader.V4EchoRequest : IcmpHeader.V6EchoRequest;
        icmp[IcmpHeader.CodeOffset] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[4..], Config.Identifier);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], seq);
        // The data: the send time (as ping puts a timeval there), then a counting pattern.
        BinaryPrimitives.WriteInt64BigEndian(icmp[8..], now);
        for (var i = 16; i < icmp.Length; i++)
        {
            icmp[i] = (byte)i;
        }
        Checksum(icmp, Config.Ip, Config.DestinationIp);
        Volatile.Write(ref _sent, _sent + 1);
        return length;
    }

    /// <summary>
    /// What to do with <paramref name="frame"/> (parsed into <paramref name="meta"/>), switched to
    /// the NIC. A reply is written to <paramref name="reply"/> (its length in
    /// <paramref name="replyLength"/>); an echo reply to us is timed against <paramref name="now"/>.
    /// </summary>
    public BenchVerdict Receive(ReadOnlySpan<byte> frame, in PacketMeta meta, long now, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        var ours = Config.Ip;
        if (meta.Has(PacketFlags.Vlan) || meta.Has(PacketFlags.Fragment))
        {
            return BenchVerdict.Ignored;
        }
        if (meta.L3 == L3Kind.Arp)
        {
            if (!ours.IsV4 || meta.ArpOperation != ArpHeader.OperationRequest || meta.DestinationIp != ours)
            {
                return BenchVerdict.Ignored;
            }
            var sender = MacAddress.Read(frame[(meta.L3Offset + ArpHeader.SenderMacOffset)..]);
            replyLength = ArpResponder.BuildReply(reply, Config.Mac, ours, sender, meta.SourceIp);
            return replyLength == 0 ? BenchVerdict.Ignored : BenchVerdict.Reply;
        }
        if (meta.L3 is not (L3Kind.Ipv4 or L3Kind.Ipv6) || meta.L4Protocol != (ours.IsV4 ? Ipv4Header.ProtocolIcmp : Ipv6Header.NextIcmpv6))
        {
            return BenchVerdict.Ignored;
        }
        if (meta.Has(PacketFlags.NeighbourDiscovery))
        {
            return Solicited(frame, meta, reply, out replyLength);
        }
        if (meta.DestinationIp != ours || meta.Destination != Config.Mac || meta.L3End - meta.L4Offset < IcmpHeader.MinLength)
        {
            return BenchVerdict.Ignored;
        }
        var icmp = frame[meta.L4Offset..meta.L3End];
        var request = ours.IsV4 ? IcmpHeader.V4EchoRequest : IcmpHeader.V6EchoRequest;
        var answer = ours.IsV4 ? IcmpHeader.V4EchoReply : IcmpHeader.V6EchoReply;
        if (meta.IcmpType == answer && Config.Mode == BenchMode.Sender)
        {
            return Measure(icmp, now);
        }
        if (meta.IcmpType != request || Config.Mode != BenchMode.Responder || meta.IcmpCode != 0)
        {
            return BenchVerdict.Ignored;
        }
        Volatile.Write(ref _received, _received + 1);
        replyLength = EchoReply(icmp, meta, reply);
        if (replyLength == 0)
        {
            return BenchVerdict.Ignored;
        }
        Volatile.Write(ref _sent, _sent + 1);
        return BenchVerdict.Reply;
    }

    private BenchVerdict Measure(ReadOnlySpan<byte> icmp, long now)
    {
        var id = BinaryPrimitives.ReadUInt16BigEndian(icmp[4..]);
        var seq = BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]);
        var slot = seq % Window;
        if (id != Config.Identifier || !_waiting[slot] || _sentSeq[slot] != seq)
        {
            return BenchVerdict.Ignored;
        }
        _waiting[slot] = false;
        var ticks = Math.Max(0, now - _sentAt[slot]);
        _rtt.Add((ulong)(ticks * (1_000_000_000.0 / Stopwatch.Frequency)));
        Volatile.Write(ref _received, _received + 1);
        return BenchVerdict.Measured;
    }

    /// <summary>A neighbour solicitation for our IPv6 address: the advertisement that answers it.</summary>
    private BenchVerdict Solicited(ReadOnlySpan<byte> frame, in PacketMeta meta, Span<byte> reply, out int replyLength)
    {
        replyLength = 0;
        var icmp = frame[meta.L4Offset..meta.L3End];
        if (meta.IcmpType != NdMessage.NeighbourSolicitation || icmp.Length < NdMessage.OptionsOffset
            || IpAddr.ReadV6(icmp[NdMessage.TargetOffset..]) != Config.Ip)
        {
            return BenchVerdict.Ignored;
        }
        var unspecified = meta.SourceIp.IsUnspecified;
        var toIp = unspecified ? AllNodes : meta.SourceIp;
        var toMac = unspecified ? MulticastGroups.MacOf(AllNodes) : meta.Source;
        replyLength = NdResponder.BuildAdvertisement(reply, Config.Mac, Config.Ip, toMac, toIp, solicited: !unspecified);
        return replyLength == 0 ? BenchVerdict.Ignored : BenchVerdict.Reply;
    }

    /// <summary>The echo reply to a request (its identifier, sequence and data), from us to its sender; its length, or 0.</summary>
    private int EchoReply(ReadOnlySpan<byte> request, in PacketMeta meta, Span<byte> reply)
    {
        var header = EthernetHeader.Length + (Config.Ip.IsV4 ? Ipv4Header.MinLength : Ipv6Header.Length);
        var length = header + request.Length;
        if (reply.Length < length || request.Length > ushort.MaxValue - Ipv6Header.Length)
        {
            return 0;
        }
        var icmp = WriteHeaders(reply[..length], meta.Source, meta.SourceIp, request.Length);
        request.CopyTo(icmp);
        icmp[IcmpHeader.TypeOffset] = Config.Ip.IsV4 ? IcmpHeader.V4EchoReply : IcmpHeader.V6EchoReply;
        Checksum(icmp, Config.Ip, meta.SourceIp);
        return length;
    }

    /// <summary>Ethernet and IP headers from us to <paramref name="toMac"/> / <paramref name="toIp"/>; returns the ICMP part.</summary>
    private Span<byte> WriteHeaders(Span<byte> frame, MacAddress toMac, IpAddr toIp, int icmpLength)
    {
        var v4 = Config.Ip.IsV4;
        EthernetHeader.Write(frame, toMac, Config.Mac, v4 ? EthernetHeader.TypeIpv4 : EthernetHeader.TypeIpv6);
        var ip = frame[EthernetHeader.Length..];
        if (v4)
        {
            Ipv4Header.Write(ip, (ushort)(Ipv4Header.MinLength + icmpLength), 0, 64, Ipv4Header.ProtocolIcmp, Config.Ip.V4, toIp.V4);
            return ip.Slice(Ipv4Header.MinLength, icmpLength);
        }
        Ipv6Header.Write(ip, 0, (ushort)icmpLength, Ipv6Header.NextIcmpv6, 64, Config.Ip, toIp);
        return ip.Slice(Ipv6Header.Length, icmpLength);
    }

    private static void Checksum(Span<byte> icmp, IpAddr from, IpAddr to)
    {
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpHeader.ChecksumOffset..], 0);
        var sum = from.IsV4
            ? InternetChecksum.Compute(icmp)
            : InternetChecksum.Transport(InternetChecksum.PseudoHeaderV6(from, to, (uint)icmp.Length, Ipv6Header.NextIcmpv6), icmp);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpHeader.ChecksumOffset..], sum);
    }
}
