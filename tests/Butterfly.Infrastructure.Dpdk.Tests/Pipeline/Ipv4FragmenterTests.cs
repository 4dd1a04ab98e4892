using System.Buffers.Binary;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

/// <summary>
/// IPv4 fragmentation before encapsulation: every fragment is a valid packet of the right size
/// (lengths, flags, offsets, identification, options, header checksum), and the payloads put
/// back together are the packet's.
/// </summary>
public class Ipv4FragmenterTests
{
    /// <summary>Cuts <paramref name="frame"/> for <paramref name="mtu"/> and returns every fragment as a whole frame.</summary>
    private static List<byte[]> Cut(byte[] frame, int mtu)
    {
        var meta = Packets.Parse(frame);
        Assert.True(Ipv4Fragmenter.TryPlan(frame, meta, mtu, out var plan));
        var fragments = new List<byte[]>();
        var payloadStart = meta.L3Offset + plan.HeaderLength;
        for (var i = 0; i < plan.Count; i++)
        {
            var room = new byte[2048];
            var headers = Ipv4Fragmenter.WriteHeaders(frame, meta, plan, i, room);
            Assert.True(headers > 0);
            var payload = plan.LengthOf(i);
            frame.AsSpan(payloadStart + plan.OffsetOf(i), payload).CopyTo(room.AsSpan(headers));
            fragments.Add(room.AsSpan(0, headers + payload).ToArray());
        }
        return fragments;
    }

    private static ushort Word(byte[] frame, int offset) => BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(offset));

    [Fact]
    public void A_1500_byte_datagram_becomes_1444_and_56_bytes_of_payload_for_a_1450_path()
    {
        var frame = PathMtuTests.Udp4(1500);
        var fragments = Cut(frame, 1450);

        Assert.Equal(2, fragments.Count);
        var (first, second) = (fragments[0], fragments[1]);
        Assert.Equal(14 + 20 + 1424, first.Length);
        Assert.Equal(1444, Word(first, 16));
        Assert.Equal(Ipv4Header.FlagMoreFragments, Word(first, 20));
        Assert.Equal(20 + 56, Word(second, 16));
        Assert.Equal(1424 / 8, Word(second, 20));
        foreach (var f in fragments)
        {
            Assert.True(f.Length - 14 <= 1450);
            Assert.True(f.AsSpan(0, 14).SequenceEqual(frame.AsSpan(0, 14)));
            Assert.Equal(0x4321, Word(f, 18));
            Assert.Equal(frame[22], f[22]); // TTL
            Assert.Equal(Ipv4Header.ProtocolUdp, f[23]);
            Assert.True(f.AsSpan(26, 8).SequenceEqual(frame.AsSpan(26, 8))); // addresses
            Assert.True(InternetChecksum.Ipv4HeaderValid(f.AsSpan(14, 20)));
        }

        // The first carries the UDP header (a flow the firewall can match), the second none.
        var meta = Packets.Parse(first);
        Assert.True(meta.Has(PacketFlags.Fragment) && !meta.Has(PacketFlags.LaterFragment));
        Assert.Equal(53, meta.DestinationPort);
        Assert.True(Packets.Parse(second).Has(PacketFlags.LaterFragment));
        byte[] joined = [.. first.AsSpan(34), .. second.AsSpan(34)];
        Assert.Equal(frame.AsSpan(34).ToArray(), joined);
    }

    [Fact]
    public void A_fragment_cut_again_keeps_its_offset_and_its_more_fragments_flag()
    {
        // Fragment at offset 100 × 8 of a larger datagram, more to come.
        var frame = PathMtuTests.Udp4(1500, fragment: (ushort)(Ipv4Header.FlagMoreFragments | 100));
        var fragments = Cut(frame, 1000);

        Assert.Equal(2, fragments.Count);
        Assert.Equal(Ipv4Header.FlagMoreFragments | 100, Word(fragments[0], 20));
        Assert.Equal(Ipv4Header.FlagMoreFragments | (100 + (976 / 8)), Word(fragments[1], 20));
        Assert.Equal(20 + 976, Word(fragments[0], 16));
        Assert.Equal(20 + 1480 - 976, Word(fragments[1], 16));
    }

    [Fact]
    public void The_last_fragment_of_a_whole_datagram_clears_more_fragments_and_payloads_are_multiples_of_8()
    {
        var frame = PathMtuTests.Udp4(1500);
        var fragments = Cut(frame, 576);

        Assert.Equal(3, fragments.Count);
        Assert.Equal([Ipv4Header.FlagMoreFragments, Ipv4Header.FlagMoreFragments | 69, 138], fragments.Select(f => (int)Word(f, 20)));
        Assert.All(fragments.SkipLast(1), f => Assert.Equal(0, (f.Length - 34) % 8));
        Assert.Equal(1480, fragments.Sum(f => f.Length - 34));
    }

    [Fact]
    public void Later_fragments_carry_only_the_options_marked_copied()
    {
        // Options: loose source route (type 0x83, copied, 7 bytes), record route (type 7, not
        // copied, 7 bytes), two bytes of End: a 36-byte header.
        byte[] options = [0x83, 7, 4, 10, 0, 0, 9, 7, 7, 4, 0, 0, 0, 0, 0, 0];
        var udp = PathMtuTests.Udp4(1500);
        var frame = new byte[udp.Length + options.Length];
        udp.AsSpan(0, 34).CopyTo(frame);
        options.CopyTo(frame.AsSpan(34));
        udp.AsSpan(34).CopyTo(frame.AsSpan(50));
        frame[14] = 0x49;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), 1516);
        Frames.FixIpv4Checksum(frame);

        var fragments = Cut(frame, 1000);

        Assert.Equal(0x49, fragments[0][14]);
        Assert.True(fragments[0].AsSpan(34, 16).SequenceEqual(options));
        Assert.Equal((1000 - 36) & ~7, fragments[0].Length - 50);
        Assert.Equal(0x47, fragments[1][14]);
        Assert.True(fragments[1].AsSpan(34, 8).SequenceEqual((byte[])[0x83, 7, 4, 10, 0, 0, 9, 0]));
        Assert.All(fragments, f => Assert.True(InternetChecksum.Ipv4HeaderValid(f.AsSpan(14, (f[14] & 0xF) * 4))));
        Assert.Equal(1480, fragments[0].Length - 50 + fragments[1].Length - 42);
    }

    [Fact]
    public void A_tagged_packet_keeps_its_tag_in_every_fragment()
    {
        var udp = PathMtuTests.Udp4(1500);
        var frame = new byte[udp.Length + 4];
        udp.AsSpan(0, 12).CopyTo(frame);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), EthernetHeader.TypeVlan);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14), 42);
        udp.AsSpan(12).CopyTo(frame.AsSpan(16));

        var fragments = Cut(frame, 1446);

        Assert.All(fragments, f => Assert.True(f.AsSpan(0, 18).SequenceEqual(frame.AsSpan(0, 18))));
        Assert.All(fragments, f => Assert.True(f.Length - 18 <= 1446));
    }

    [Fact]
    public void Nothing_is_planned_without_payload_room_or_header_and_a_small_buffer_gets_nothing()
    {
        var frame = PathMtuTests.Udp4(1500);
        var meta = Packets.Parse(frame);

        Assert.False(Ipv4Fragmenter.TryPlan(frame, meta, 27, out _));
        Assert.False(Ipv4Fragmenter.TryPlan(frame.AsSpan(0, 30), meta, 1450, out _));
        Assert.True(Ipv4Fragmenter.TryPlan(frame, meta, 1450, out var plan));
        Assert.Equal(0, Ipv4Fragmenter.WriteHeaders(frame, meta, plan, 0, new byte[1000]));
        Assert.False(Ipv4Fragmenter.CanFragment(Packets.Parse(PathMtuTests.Tcp6()), 1450));
    }
}
