using System.Buffers.Binary;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Frames;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

/// <summary>
/// Software offload of a guest's requests: checksum completion and TSO segmentation, against
/// frames scapy built (<see cref="OffloadGoldenFrames"/>) and against large frames built here and
/// checked with a byte-at-a-time RFC 1071 checksum written independently of the code under test.
/// </summary>
public class InnerOffloadTests
{
    [Theory]
    [InlineData(OffloadGoldenFrames.TcpV4)]
    [InlineData(OffloadGoldenFrames.UdpV6VlanHopByHop)]
    [InlineData(OffloadGoldenFrames.UdpV4ZeroChecksum)]
    public void A_partial_checksum_seeded_as_a_guest_does_is_completed_to_the_golden_bytes(string golden)
    {
        var expected = Hex(golden);
        var frame = (byte[])expected.Clone();
        Assert.Equal(DropReason.None, InnerOffload.Locate(frame, frame.Length, out var h));
        // What a Linux guest leaves with CHECKSUM_PARTIAL: the folded pseudo-header sum, not complemented.
        WriteU16(frame, h.ChecksumOffset, ReferenceFold(ReferencePseudoHeader(frame, h, h.L3End - h.L4Offset)));

        InnerOffload.CompleteChecksum(frame, h);

        Assert.Equal(golden, ToHex(frame));
    }

    [Fact]
    public void A_udp_checksum_that_computes_to_zero_is_sent_as_all_ones()
    {
        var frame = Hex(OffloadGoldenFrames.UdpV4ZeroChecksum);
        Assert.Equal(DropReason.None, InnerOffload.Locate(frame, frame.Length, out var h));
        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(h.ChecksumOffset)));
        WriteU16(frame, h.ChecksumOffset, ReferenceFold(ReferencePseudoHeader(frame, h, h.L3End - h.L4Offset)));

        InnerOffload.CompleteChecksum(frame, h);

        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(h.ChecksumOffset)));
    }

    [Fact]
    public void Locate_finds_tags_options_and_extension_headers()
    {
        var tcp = Hex(OffloadGoldenFrames.TcpV4);
        Assert.Equal(DropReason.None, InnerOffload.Locate(tcp, tcp.Length, out var h));
        Assert.Equal((14, 20, 32, false, OffloadTransport.Tcp, 14 + 0x59), (h.L2Length, h.L3Length, h.L4Length, h.Ipv6, h.Transport, h.L3End));
        Assert.Equal(34 + 16, h.ChecksumOffset);

        var udp = Hex(OffloadGoldenFrames.UdpV6VlanHopByHop);
        Assert.Equal(DropReason.None, InnerOffload.Locate(udp, udp.Length, out h));
        Assert.Equal((18, 48, 8, true, OffloadTransport.Udp, udp.Length), (h.L2Length, h.L3Length, h.L4Length, h.Ipv6, h.Transport, h.L3End));
        Assert.False(h.Routed);

        // Ethernet padding after the IP packet is not part of what is summed.
        var padded = new byte[tcp.Length + 6];
        tcp.CopyTo(padded, 0);
        Assert.Equal(DropReason.None, InnerOffload.Locate(padded, padded.Length, out h));
        Assert.Equal(tcp.Length, h.L3End);
    }

    [Fact]
    public void An_ipv6_routing_header_with_segments_left_is_noted()
    {
        var frame = Hex(OffloadGoldenFrames.TsoV6Super);
        // The destination-options header becomes a routing header with one segment left.
        frame[18 + Ipv6Header.NextHeaderOffset] = Ipv6Header.NextRouting;
        frame[18 + 40 + 3] = 1;
        Assert.Equal(DropReason.None, InnerOffload.Locate(frame, frame.Length, out var h));
        Assert.True(h.Routed);
    }

    [Theory]
    [InlineData("fragment", "offload_unsupported")]
    [InlineData("sctp", "offload_unsupported")]
    [InlineData("arp", "offload_unsupported")]
    [InlineData("ipv6-fragment", "offload_unsupported")]
    [InlineData("jumbogram", "offload_unsupported")]
    [InlineData("truncated", "offload_bad_headers")]
    [InlineData("total-length", "offload_bad_headers")]
    [InlineData("data-offset", "offload_bad_headers")]
    [InlineData("ihl", "offload_bad_headers")]
    [InlineData("extension-length", "offload_bad_headers")]
    public void Locate_refuses_what_cannot_be_finished(string doctored, string expected)
    {
        var v4 = Hex(OffloadGoldenFrames.TcpV4);
        var v6 = Hex(OffloadGoldenFrames.TsoV6Super);
        var (frame, length) = doctored switch
        {
            "fragment" => (Set(v4, 14 + 6, 0x20), v4.Length),
            "sctp" => (Set(v4, 14 + 9, 132), v4.Length),
            "arp" => (Set(v4, 12, 0x08, 0x06), v4.Length),
            "ipv6-fragment" => (Set(v6, 18 + 6, Ipv6Header.NextFragment), v6.Length),
            "jumbogram" => (Set(v6, 18 + 4, 0, 0), v6.Length),
            "truncated" => (v4[..40], v4.Length),
            "total-length" => (Set(v4, 14 + 2, 0x05, 0xDC), v4.Length),
            "data-offset" => (Set(v4, 34 + 12, 0x40), v4.Length),
            "ihl" => (Set(v4, 14, 0x44), v4.Length),
            "extension-length" => (Set(v6, 18 + 40 + 1, 200), v6.Length),
            _ => throw new ArgumentOutOfRangeException(nameof(doctored)),
        };
        Assert.Equal(expected, DropReasons.Name(InnerOffload.Locate(frame, length, out _)));
    }

    [Fact]
    public void Truncated_and_corrupted_frames_never_throw()
    {
        var random = new Random(42);
        foreach (var golden in new[] { OffloadGoldenFrames.TcpV4, OffloadGoldenFrames.UdpV6VlanHopByHop, OffloadGoldenFrames.TsoV4Super, OffloadGoldenFrames.TsoV6Super })
        {
            var original = Hex(golden);
            for (var trial = 0; trial < 2000; trial++)
            {
                var frame = original[..random.Next(original.Length + 1)];
                for (var flips = random.Next(4); flips > 0 && frame.Length > 0; flips--)
                {
                    frame[random.Next(Math.Min(frame.Length, 80))] = (byte)random.Next(256);
                }
                if (InnerOffload.Locate(frame, frame.Length, out var h) != DropReason.None)
                {
                    continue;
                }
                Assert.InRange(h.HeadersLength, 14, h.L3End);
                Assert.InRange(h.L3End, h.HeadersLength, frame.Length);
                InnerOffload.CompleteChecksum(frame, h);
                if (h.Transport == OffloadTransport.Tcp)
                {
                    Cut(frame, h, 1 + random.Next(64));
                }
            }
        }
    }

    [Fact]
    public void A_sum_over_pieces_equals_the_sum_over_the_whole_at_any_split()
    {
        var data = new byte[1501];
        new Random(7).NextBytes(data);
        var whole = InternetChecksum.Fold(InternetChecksum.Sum(data));
        foreach (var cuts in new[] { new[] { 1 }, [2, 3], [700, 701, 1500], [13, 14, 15, 16, 999] })
        {
            ulong sum = 0;
            var start = 0;
            foreach (var end in cuts.Append(data.Length))
            {
                sum = InnerOffload.AddPiece(sum, data.AsSpan(start, end - start), start);
                start = end;
            }
            Assert.Equal(whole, InternetChecksum.Fold(sum));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_tso_super_frame_is_cut_into_the_golden_segments(bool ipv6)
    {
        var super = Hex(ipv6 ? OffloadGoldenFrames.TsoV6Super : OffloadGoldenFrames.TsoV4Super);
        string[] expected = ipv6
            ? [OffloadGoldenFrames.TsoV6Segment0, OffloadGoldenFrames.TsoV6Segment1, OffloadGoldenFrames.TsoV6Segment2]
            : [OffloadGoldenFrames.TsoV4Segment0, OffloadGoldenFrames.TsoV4Segment1, OffloadGoldenFrames.TsoV4Segment2];
        Assert.Equal(DropReason.None, InnerOffload.Locate(super, super.Length, out var h));
        // Whatever seed the guest left in the super-frame's checksum is not reused.
        WriteU16(super, h.ChecksumOffset, 0xBEEF);

        var segments = Cut(super, h, OffloadGoldenFrames.Mss);

        Assert.Equal(expected, segments.Select(s => ToHex(s)));
    }

    [Theory]
    [InlineData(false, 64_000, 1448)]
    [InlineData(true, 65_000, 1428)]
    [InlineData(false, 1449, 1448)]
    public void A_64k_super_frame_becomes_valid_mss_sized_segments_carrying_the_same_bytes(bool ipv6, int payloadLength, int mss)
    {
        var payload = new byte[payloadLength];
        new Random(payloadLength).NextBytes(payload);
        var super = BuildSuperFrame(ipv6, payload, sequence: 0xFFFF0000, id: 0xFFF0);
        Assert.Equal(DropReason.None, InnerOffload.Locate(super, super.Length, out var h));

        var segments = Cut(super, h, mss);

        Assert.Equal((payloadLength + mss - 1) / mss, segments.Count);
        var received = new List<byte>();
        for (var i = 0; i < segments.Count; i++)
        {
            var s = segments[i];
            var last = i == segments.Count - 1;
            Assert.Equal(last ? payloadLength - (i * mss) : mss, s.Length - h.HeadersLength);
            var ip = s.AsSpan(h.L2Length);
            if (ipv6)
            {
                Assert.Equal(s.Length - h.L2Length - 40, BinaryPrimitives.ReadUInt16BigEndian(ip[4..]));
            }
            else
            {
                Assert.Equal(s.Length - h.L2Length, BinaryPrimitives.ReadUInt16BigEndian(ip[2..]));
                Assert.Equal((ushort)(0xFFF0 + i), BinaryPrimitives.ReadUInt16BigEndian(ip[4..]));
                Assert.Equal(0xFFFF, ReferenceFold(ReferenceSum(ip[..h.L3Length])));
            }
            var tcp = s.AsSpan(h.L4Offset);
            Assert.Equal(unchecked(0xFFFF0000u + (uint)(i * mss)), BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]));
            var flags = tcp[13];
            Assert.Equal(i == 0, (flags & 0x80) != 0);           // CWR on the first segment only
            Assert.Equal(last, (flags & 0x09) == 0x09);           // PSH and FIN on the last only
            Assert.Equal(last, (flags & 0x09) != 0);
            Assert.Equal(0x10, flags & 0x10);                     // ACK on all
            var check = ReferenceSum(tcp) + ReferencePseudoHeader(s, h, s.Length - h.L4Offset);
            Assert.Equal(0xFFFF, ReferenceFold(check));
            received.AddRange(tcp[h.L4Length..].ToArray());
        }
        Assert.Equal(payload, received.ToArray());
    }

    [Theory]
    [InlineData(0, 40, 0)]
    [InlineData(1, 40, 1)]
    [InlineData(40, 40, 1)]
    [InlineData(41, 40, 2)]
    [InlineData(65_000, 1448, 45)]
    [InlineData(100, 0, 0)]
    public void Segment_count_rounds_up_and_refuses_a_zero_mss(int payload, int mss, int expected) =>
        Assert.Equal(expected, InnerOffload.SegmentCount(payload, mss));

    [Fact]
    public void Locating_completing_and_cutting_allocate_nothing()
    {
        var frame = Hex(OffloadGoldenFrames.TcpV4);
        var super = Hex(OffloadGoldenFrames.TsoV6Super);
        var segment = new byte[super.Length];

        void Run(int iterations)
        {
            for (var i = 0; i < iterations; i++)
            {
                InnerOffload.Locate(frame, frame.Length, out var h);
                InnerOffload.CompleteChecksum(frame, h);
                InnerOffload.Locate(super, super.Length, out var t);
                super.AsSpan(0, t.HeadersLength + 40).CopyTo(segment);
                InnerOffload.FinishSegment(segment.AsSpan(0, t.HeadersLength + 40), t, 1, 40, last: false);
                InnerOffload.AddPiece(0, frame.AsSpan(3, 50), 3);
            }
        }

        Assert.Equal(0, AllocationTests.Allocated(Run, 1000));
    }

    /// <summary>The segments of a contiguous super-frame, cut as the forwarder does: headers copied, payload sliced.</summary>
    private static List<byte[]> Cut(byte[] super, in OffloadHeaders h, int mss)
    {
        var count = InnerOffload.SegmentCount(h.PayloadLength, mss);
        var segments = new List<byte[]>();
        for (var i = 0; i < count; i++)
        {
            var offset = i * mss;
            var length = Math.Min(mss, h.PayloadLength - offset);
            var s = new byte[h.HeadersLength + length];
            super.AsSpan(0, h.HeadersLength).CopyTo(s);
            super.AsSpan(h.HeadersLength + offset, length).CopyTo(s.AsSpan(h.HeadersLength));
            InnerOffload.FinishSegment(s, h, i, offset, last: i == count - 1);
            segments.Add(s);
        }
        return segments;
    }

    /// <summary>
    /// A super-frame as a guest hands it over: Ethernet (tagged for IPv6), IPv4 with DF or IPv6
    /// with a destination-options header, TCP with a timestamp option and CWR|ACK|PSH|FIN, the
    /// whole payload, a garbage checksum.
    /// </summary>
    private static byte[] BuildSuperFrame(bool ipv6, byte[] payload, uint sequence, ushort id)
    {
        var l2 = ipv6 ? 18 : 14;
        var l3 = ipv6 ? 48 : 20;
        const int l4 = 32;
        var frame = new byte[l2 + l3 + l4 + payload.Length];
        Vm2.Write(frame);
        Vm1.Write(frame.AsSpan(6));
        if (ipv6)
        {
            WriteU16(frame, 12, 0x8100);
            WriteU16(frame, 14, 7);
            WriteU16(frame, 16, 0x86DD);
            var ip = frame.AsSpan(l2);
            BinaryPrimitives.WriteUInt32BigEndian(ip, 0x6000_0000);
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(8 + l4 + payload.Length));
            ip[6] = Ipv6Header.NextDestinationOptions;
            ip[7] = 64;
            IpAddr.Parse("fd01::1").WriteV6(ip[8..]);
            IpAddr.Parse("fd01::2").WriteV6(ip[24..]);
            ip[40] = Ipv6Header.NextTcp;
            ip[42] = 1; // PadN over the rest of the 8 bytes
            ip[43] = 4;
        }
        else
        {
            WriteU16(frame, 12, 0x0800);
            var ip = frame.AsSpan(l2);
            ip[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(l3 + l4 + payload.Length));
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], id);
            BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000);
            ip[8] = 64;
            ip[9] = 6;
            BinaryPrimitives.WriteUInt32BigEndian(ip[12..], 0x0A000001);
            BinaryPrimitives.WriteUInt32BigEndian(ip[16..], 0x0A000002);
        }
        var tcp = frame.AsSpan(l2 + l3);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 5001);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 77);
        tcp[12] = (l4 / 4) << 4;
        tcp[13] = 0x80 | 0x10 | 0x08 | 0x01;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 502);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], 0x1234);
        tcp[20] = 1;
        tcp[21] = 1;
        tcp[22] = 8;
        tcp[23] = 10;
        payload.CopyTo(tcp[l4..]);
        return frame;
    }

    private static byte[] Set(byte[] frame, int offset, params byte[] bytes)
    {
        var copy = (byte[])frame.Clone();
        bytes.CopyTo(copy, offset);
        return copy;
    }

    /// <summary>RFC 1071 the slow way: 16-bit big-endian words, a trailing byte padded with zero.</summary>
    private static uint ReferenceSum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (var i = 0; i + 1 < data.Length; i += 2)
        {
            sum += (uint)((data[i] << 8) | data[i + 1]);
        }
        if ((data.Length & 1) != 0)
        {
            sum += (uint)data[^1] << 8;
        }
        return sum;
    }

    private static ushort ReferenceFold(uint sum)
    {
        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)sum;
    }

    /// <summary>The pseudo-header sum (RFC 768 / RFC 8200 §8.1) read from the frame's own IP header.</summary>
    private static uint ReferencePseudoHeader(ReadOnlySpan<byte> frame, in OffloadHeaders h, int transportLength)
    {
        var ip = frame[h.L2Length..];
        var addresses = h.Ipv6 ? ip.Slice(8, 32) : ip.Slice(12, 8);
        return ReferenceSum(addresses) + (uint)(transportLength >> 16) + (uint)(transportLength & 0xFFFF) + (uint)h.Transport;
    }
}
