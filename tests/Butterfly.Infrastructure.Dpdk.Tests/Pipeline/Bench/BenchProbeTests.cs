using System.Buffers.Binary;
using System.Diagnostics;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Bench;
using Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Bench;

/// <summary>The BENCH NIC's probe: the frames it makes, the ones it answers, the round trips it measures.</summary>
public class BenchProbeTests
{
    private static readonly MacAddress SenderMac = MacAddress.Parse("52:54:00:be:00:01");
    private static readonly MacAddress ResponderMac = MacAddress.Parse("52:54:00:be:00:02");
    private static readonly long Micro = Stopwatch.Frequency / 1_000_000;

    private static (BenchProbe Sender, BenchProbe Responder) Pair(string senderIp, string responderIp) => (
        new BenchProbe(new BenchConfig(BenchMode.Sender, SenderMac, IpAddr.Parse(senderIp), ResponderMac, IpAddr.Parse(responderIp), 0xB007)),
        new BenchProbe(new BenchConfig(BenchMode.Responder, ResponderMac, IpAddr.Parse(responderIp), default, default, 0x1234)));

    [Fact]
    public void A_sender_pings_its_destination_from_its_own_addresses_like_ping_does()
    {
        var (sender, _) = Pair("10.9.0.1", "10.9.0.2");
        var frame = new byte[2048];

        var length = sender.BuildRequest(frame, 1000);
        var request = frame.AsSpan(0, length);
        var meta = Frames.Parse(request);

        Assert.Equal(98, length);
        Assert.Equal(SenderMac, meta.Source);
        Assert.Equal(ResponderMac, meta.Destination);
        Assert.Equal(IpAddr.Parse("10.9.0.1"), meta.SourceIp);
        Assert.Equal(IpAddr.Parse("10.9.0.2"), meta.DestinationIp);
        Assert.Equal(IcmpHeader.V4EchoRequest, meta.IcmpType);
        Assert.True(InternetChecksum.Ipv4HeaderValid(request.Slice(14, 20)));
        Assert.Equal(0xFFFFu, InternetChecksum.Sum(request[meta.L4Offset..]));
        Assert.Equal(0xB007, BinaryPrimitives.ReadUInt16BigEndian(request[(meta.L4Offset + 4)..]));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(request[(meta.L4Offset + 6)..]));

        length = sender.BuildRequest(frame, 2000);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(34 + 6)));
        Assert.Equal(2UL, sender.Sent);
    }

    [Fact]
    public void Requests_are_due_ten_times_a_second_without_bursts_after_a_stall()
    {
        var (sender, responder) = Pair("10.9.0.1", "10.9.0.2");
        var interval = (long)(BenchProbe.Interval.TotalSeconds * Stopwatch.Frequency);
        var frame = new byte[2048];
        var t = 5 * Stopwatch.Frequency;

        Assert.True(sender.Due(t));
        Assert.False(responder.Due(t));
        sender.BuildRequest(frame, t);
        Assert.False(sender.Due(t + interval - 1));
        Assert.True(sender.Due(t + interval));
        sender.BuildRequest(frame, t + interval);
        // A stall of ten intervals: one request, then the pace again, not ten at once.
        var late = t + (12 * interval);
        Assert.True(sender.Due(late));
        sender.BuildRequest(frame, late);
        Assert.False(sender.Due(late + 1));
        Assert.True(sender.Due(late + interval));
    }

    [Theory]
    [InlineData("10.9.0.1", "10.9.0.2", 98)]
    [InlineData("fd09::1", "fd09::2", 118)]
    public void A_responder_answers_and_the_sender_times_the_answer(string senderIp, string responderIp, int length)
    {
        var (sender, responder) = Pair(senderIp, responderIp);
        var request = new byte[2048];
        var reply = new byte[2048];
        Assert.Equal(length, sender.BuildRequest(request, 1000));

        var verdict = responder.Receive(request.AsSpan(0, length), Frames.Parse(request.AsSpan(0, length)), 0, reply, out var replyLength);

        Assert.Equal(BenchVerdict.Reply, verdict);
        Assert.Equal(length, replyLength);
        var answer = reply.AsSpan(0, replyLength);
        var meta = Frames.Parse(answer);
        Assert.Equal(ResponderMac, meta.Source);
        Assert.Equal(SenderMac, meta.Destination);
        Assert.Equal(IpAddr.Parse(responderIp), meta.SourceIp);
        Assert.Equal(IpAddr.Parse(senderIp), meta.DestinationIp);
        Assert.Equal(meta.SourceIp.IsV4 ? IcmpHeader.V4EchoReply : IcmpHeader.V6EchoReply, meta.IcmpType);
        var icmp = answer[meta.L4Offset..];
        var pseudo = meta.SourceIp.IsV4 ? 0 : InternetChecksum.PseudoHeaderV6(meta.SourceIp, meta.DestinationIp, (uint)icmp.Length, Ipv6Header.NextIcmpv6);
        Assert.True(InternetChecksum.VerifyTransport(pseudo, icmp), "ICMP checksum");
        Assert.Equal(1UL, responder.Received);
        Assert.Equal(1UL, responder.Sent);

        Assert.Equal(BenchVerdict.Measured, sender.Receive(answer, meta, 1000 + (250 * Micro), [], out _));
        Assert.Equal(BenchVerdict.Ignored, sender.Receive(answer, meta, 1000 + (900 * Micro), [], out _));
        Assert.Equal(1UL, sender.Received);
        var rtt = sender.Rtt.Summary()!.Value;
        Assert.Equal(250_000, rtt.Min, 0.001);
        Assert.Equal(250_000, rtt.Max, 0.001);
        Assert.Equal(250_000, rtt.P99, 0.001);
    }

    [Fact]
    public void Replies_to_another_identifier_or_to_a_request_never_sent_are_not_timed()
    {
        var (sender, responder) = Pair("10.9.0.1", "10.9.0.2");
        var request = new byte[2048];
        var reply = new byte[2048];
        var length = sender.BuildRequest(request, 1000);
        responder.Receive(request.AsSpan(0, length), Frames.Parse(request.AsSpan(0, length)), 0, reply, out var replyLength);

        var other = reply.AsSpan(0, replyLength).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(other.AsSpan(34 + 4), 0x4444);
        Assert.Equal(BenchVerdict.Ignored, sender.Receive(other, Frames.Parse(other), 2000, [], out _));
        var unsent = reply.AsSpan(0, replyLength).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(unsent.AsSpan(34 + 6), 9);
        Assert.Equal(BenchVerdict.Ignored, sender.Receive(unsent, Frames.Parse(unsent), 2000, [], out _));
        Assert.Equal(0UL, sender.Received);
        Assert.Null(sender.Rtt.Summary());
    }

    [Fact]
    public void Arp_requests_for_its_address_are_answered_and_others_ignored()
    {
        var (_, responder) = Pair("10.9.0.1", "10.9.0.2");
        var reply = new byte[2048];
        var forUs = Packets.Arp(SenderMac, SenderMac, "10.9.0.1", "10.9.0.2", ArpHeader.OperationRequest);
        var forOther = Packets.Arp(SenderMac, SenderMac, "10.9.0.1", "10.9.0.3", ArpHeader.OperationRequest);

        Assert.Equal(BenchVerdict.Reply, responder.Receive(forUs, Frames.Parse(forUs), 0, reply, out var length));
        var meta = Frames.Parse(reply.AsSpan(0, length));
        Assert.Equal(ArpHeader.OperationReply, meta.ArpOperation);
        Assert.Equal(IpAddr.Parse("10.9.0.2"), meta.SourceIp);
        Assert.Equal(SenderMac, meta.Destination);
        Assert.Equal(ResponderMac, MacAddress.Read(reply.AsSpan(14 + ArpHeader.SenderMacOffset)));
        Assert.Equal(BenchVerdict.Ignored, responder.Receive(forOther, Frames.Parse(forOther), 0, reply, out _));
    }

    [Fact]
    public void Neighbour_solicitations_for_its_address_are_answered_with_its_mac()
    {
        var (_, responder) = Pair("fd09::1", "fd09::2");
        var reply = new byte[2048];
        var solicitation = Packets.NeighbourSolicitation("fd09::1", "fd09::2", SenderMac, SenderMac);

        Assert.Equal(BenchVerdict.Reply, responder.Receive(solicitation, Frames.Parse(solicitation), 0, reply, out var length));
        var meta = Frames.Parse(reply.AsSpan(0, length));
        Assert.Equal(NdMessage.NeighbourAdvertisement, meta.IcmpType);
        Assert.Equal(IpAddr.Parse("fd09::1"), meta.DestinationIp);
        Assert.Equal(IpAddr.Parse("fd09::2"), IpAddr.ReadV6(reply.AsSpan(meta.L4Offset + NdMessage.TargetOffset)));
        Assert.Equal(ResponderMac, MacAddress.Read(reply.AsSpan(meta.L4Offset + NdMessage.OptionsOffset + 2)));
    }

    [Fact]
    public void A_sender_does_not_answer_echo_requests_and_a_responder_times_nothing()
    {
        var (sender, responder) = Pair("10.9.0.1", "10.9.0.2");
        // A request to the sender's own addresses, as a VM pinging it would send.
        var pinger = new BenchProbe(new BenchConfig(BenchMode.Sender, ResponderMac, IpAddr.Parse("10.9.0.2"), SenderMac, IpAddr.Parse("10.9.0.1"), 1));
        var request = new byte[2048];
        var length = pinger.BuildRequest(request, 1);

        Assert.Equal(BenchVerdict.Ignored, sender.Receive(request.AsSpan(0, length), Frames.Parse(request.AsSpan(0, length)), 0, new byte[2048], out _));
        Assert.Equal(0UL, sender.Received);

        length = sender.BuildRequest(request, 1);
        Assert.Equal(BenchVerdict.Reply, responder.Receive(request.AsSpan(0, length), Frames.Parse(request.AsSpan(0, length)), 0, new byte[2048], out _));
        Assert.Null(responder.Rtt.Summary());
    }

    [Fact]
    public void Probing_answering_and_timing_allocate_nothing()
    {
        var (sender, responder) = Pair("fd09::1", "fd09::2");
        var request = new byte[2048];
        var reply = new byte[2048];
        var bytes = AllocationTests.Allocated(n =>
        {
            for (var i = 0; i < n; i++)
            {
                var length = sender.BuildRequest(request, i * 1000L);
                PacketParser.Parse(request.AsSpan(0, length), out var meta);
                responder.Receive(request.AsSpan(0, length), meta, 0, reply, out var replyLength);
                PacketParser.Parse(reply.AsSpan(0, replyLength), out var answer);
                sender.Receive(reply.AsSpan(0, replyLength), answer, (i * 1000L) + 500, [], out _);
            }
        }, 2000);
        Assert.Equal(0, bytes);
    }
}

/// <summary>The round-trip histogram's buckets and percentile.</summary>
public class RttHistogramTests
{
    [Fact]
    public void Every_value_falls_in_a_bucket_whose_upper_end_is_within_a_thirty_second_of_it()
    {
        for (ulong v = 0; v < 5_000_000; v = (v * 17 / 16) + 1)
        {
            var i = RttHistogram.IndexOf(v);
            Assert.True(RttHistogram.UpperOf(i) >= v, $"{v}: bucket {i} ends at {RttHistogram.UpperOf(i)}");
            Assert.True(i == 0 || RttHistogram.UpperOf(i - 1) < v, $"{v}: bucket {i - 1} ends at {RttHistogram.UpperOf(i - 1)}");
            Assert.True(RttHistogram.UpperOf(i) - v <= (v / 32) + 1, $"{v}: bucket {i} ends at {RttHistogram.UpperOf(i)}");
        }
    }

    [Fact]
    public void Min_mean_max_are_exact_and_the_99th_percentile_is_close_above()
    {
        var h = new RttHistogram();
        for (ulong us = 1; us <= 1000; us++)
        {
            h.Add(us * 1000);
        }

        var s = h.Summary()!.Value;
        Assert.Equal(1000, s.Min);
        Assert.Equal(1_000_000, s.Max);
        Assert.Equal(500_500, s.Mean, 0.001);
        Assert.InRange(s.P99, 990_000, 990_000 * 1.032);
    }
}
