extern alias cli;

using System.Buffers;
using System.Text;
using Butterfly.Api.Zmq.Server;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.FileLog;
using Butterfly.Wire;
using Google.Protobuf;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Fuzz;

/// <summary>The starting corpus (fuzz/corpus/TARGET): a few valid inputs of each kind, written by <c>--write-seeds DIR</c>.</summary>
internal static class Seeds
{
    public static void Write(string directory)
    {
        var requests = new[]
        {
            Batch(new V0.Request { NicAdd = new V0.Nic { Id = "vm1", Mac = "52:54:00:00:00:01", Vni = 42, Ip = { "10.0.0.5", "2001:db8::5" }, SecurityGroup = { "web" } } }),
            Batch(new V0.Request { SgAdd = new V0.Sg { Id = "web", Member = { "10.0.0.5" }, Rule = { new V0.Rule { Direction = V0.Rule.Types.Direction.Inbound, Protocol = 6, PortStart = 80, PortEnd = 80, Cidr = new V0.Cidr { Address = "0.0.0.0", MaskSize = 0 } } } } }),
            Batch(new V0.Request { NicList = true }, new V0.Request { SgDetails = "" }, new V0.Request { NicUpdate = new V0.NicUpdateReq { Id = "vm1", Ip = { "" } } }),
            Batch(new V0.Request { EventList = new V0.EventListReq { Limit = 5 } }, new V0.Request { StateAt = new V0.PointInTime { Sequence = 1 } }),
            Batch(new V0.Request { SgRuleAdd = new V0.SgRuleAddReq { SgId = "db", Rule = new V0.Rule { Direction = V0.Rule.Types.Direction.Outbound, Protocol = -1, SecurityGroup = "web" } } }),
        };
        var key = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        for (var i = 0; i < requests.Length; i++)
        {
            var bytes = requests[i].ToByteArray();
            Save(directory, "api", i, bytes);
            Save(directory, "envelope", i, new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(LegacyEnvelope.Seal(bytes, key)) } }.ToByteArray());
            Save(directory, "textformat", i, Encoding.UTF8.GetBytes(cli::Butterfly.Cli.TextFormat.TextFormatPrinter.Print(cli::Butterfly.Wire.Messages.Parser.ParseFrom(bytes))));
        }
        var buffer = new ArrayBufferWriter<byte>();
        LogFormat.WriteEvents(buffer, [new NewEvent("NicAdded", "nic", "vm1", "{\"nic\":{\"id\":\"vm1\"}}", "tcp://127.0.0.1:9999 peer 01", "m1")], 1, DateTimeOffset.UnixEpoch);
        Save(directory, "logrecord", 0, buffer.WrittenSpan.ToArray());
        buffer.ResetWrittenCount();
        LogFormat.WriteLost(buffer, 7, 3, DateTimeOffset.UnixEpoch, "unreadable");
        Save(directory, "logrecord", 1, buffer.WrittenSpan.ToArray());
        buffer.ResetWrittenCount();
        LegacyLogFormat.WriteRecord(buffer, [new NewEvent("SgAdded", "sg", "web", "{}", "o", null)], 1, DateTimeOffset.UnixEpoch);
        Save(directory, "logrecord", 2, buffer.WrittenSpan[LegacyLogFormat.RecordHeaderSize..].ToArray());
        var index = 0;
        foreach (var frame in PacketSeeds.All())
        {
            Save(directory, "packet", index++, frame);
        }
    }

    private static Messages Batch(params V0.Request[] requests)
    {
        var messages = new Messages();
        for (var i = 0; i < requests.Length; i++)
        {
            messages.Messages_.Add(new Message { Revision = WireProtocol.Revision, Message0 = new MessageV0 { Request = requests[i], MessageId = $"m{i}" } });
        }
        return messages;
    }

    private static void Save(string directory, string target, int index, byte[] bytes)
    {
        Directory.CreateDirectory(Path.Combine(directory, target));
        File.WriteAllBytes(Path.Combine(directory, target, $"seed-{index}"), bytes);
    }
}

/// <summary>
/// Frames for the <c>packet</c> target (fuzz/corpus/packet), addressed to the NICs and the VTEP of
/// <see cref="PacketTarget"/>: TCP, UDP and ICMP over IPv4 and IPv6, an ICMP error quoting a TCP
/// segment, an IPv4 fragment, a VLAN tag, an IPv6 extension header, ARP and ND to the VTEP, and
/// a VXLAN frame carrying a TCP SYN.
/// </summary>
internal static class PacketSeeds
{
    private static readonly byte[] MacA = [0x52, 0x54, 0, 0, 0, 0x0a];
    private static readonly byte[] MacB = [0x52, 0x54, 0, 0, 0, 0x0b];
    private static readonly byte[] Vtep = [2, 0, 0, 0, 0xfe, 0x01];
    private static readonly byte[] Peer = [2, 0, 0, 0, 0xfe, 0x02];

    public static IEnumerable<byte[]> All()
    {
        byte[] a4 = [10, 0, 0, 1], b4 = [10, 0, 0, 2];
        byte[] a6 = V6(0xfd00, 1), b6 = V6(0xfd00, 2);
        var syn = Tcp(40000, 80, 0x02, 100);
        yield return Eth(MacB, MacA, 0x0800, Ipv4(a4, b4, 6, syn));
        yield return Eth(MacB, MacA, 0x0800, Ipv4(a4, b4, 17, Udp(5555, 53, [1, 2, 3, 4])));
        yield return Eth(MacB, MacA, 0x0800, Ipv4(a4, b4, 1, [8, 0, 0, 0, 0x12, 0x34, 0, 1, .. "ping"u8]));
        yield return Eth(MacB, MacA, 0x86dd, Ipv6(a6, b6, 6, syn));
        yield return Eth(MacB, MacA, 0x86dd, Ipv6(a6, b6, 58, [128, 0, 0, 0, 0x12, 0x34, 0, 1]));
        // Destination unreachable from b, quoting a's SYN.
        yield return Eth(MacA, MacB, 0x0800, Ipv4(b4, a4, 1, [3, 3, 0, 0, 0, 0, 0, 0, .. Ipv4(a4, b4, 6, syn)]));
        // An IPv4 first fragment (MF set), and a VLAN-tagged frame.
        var fragment = Ipv4(a4, b4, 17, Udp(5555, 53, new byte[64]));
        fragment[6] = 0x20;
        yield return Eth(MacB, MacA, 0x0800, fragment);
        yield return Eth(MacB, MacA, 0x8100, [0, 42, 0x08, 0x00, .. Ipv4(a4, b4, 6, syn)]);
        // IPv6 with a hop-by-hop options header (8 bytes of padding) before TCP.
        var hbh = Ipv6(a6, b6, 0, [6, 0, 1, 4, 0, 0, 0, 0, .. syn]);
        yield return Eth(MacB, MacA, 0x86dd, hbh);
        // ARP request for the VTEP's address from the underlay peer.
        yield return Eth([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], Peer, 0x0806,
            [0, 1, 8, 0, 6, 4, 0, 1, .. Peer, 172, 16, 0, 2, 0, 0, 0, 0, 0, 0, 172, 16, 0, 1]);
        // Neighbour solicitation for fd01::1.
        var target = V6(0xfd01, 1);
        byte[] solicitedNode = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1];
        var peer6 = V6(0xfd01, 2);
        yield return Eth([0x33, 0x33, 0xff, 0, 0, 1], Peer, 0x86dd,
            Ipv6(peer6, solicitedNode, 58, Icmpv6(peer6, solicitedNode, [135, 0, 0, 0, 0, 0, 0, 0, .. target, 1, 1, .. Peer]), hopLimit: 255));
        // VXLAN (VNI 42) to the VTEP carrying a SYN to b from a remote VM, 10.0.0.9.
        var inner = Eth(MacB, [0x52, 0x54, 0, 0, 0, 0x99], 0x0800, Ipv4([10, 0, 0, 9], b4, 6, syn));
        byte[] vxlan = [0x08, 0, 0, 0, 0, 0, 42, 0, .. inner];
        yield return Eth(Vtep, Peer, 0x0800, Ipv4([172, 16, 0, 2], [172, 16, 0, 1], 17, Udp(49152, 4789, vxlan)));
    }

    private static byte[] V6(ushort prefix, byte last)
    {
        var address = new byte[16];
        address[0] = (byte)(prefix >> 8);
        address[1] = (byte)prefix;
        address[15] = last;
        return address;
    }

    private static byte[] Eth(byte[] destination, byte[] source, ushort type, byte[] payload) =>
        [.. destination, .. source, (byte)(type >> 8), (byte)type, .. payload];

    private static byte[] Ipv4(byte[] source, byte[] destination, byte protocol, byte[] payload)
    {
        var length = 20 + payload.Length;
        byte[] header = [0x45, 0, (byte)(length >> 8), (byte)length, 0, 1, 0x40, 0, 64, protocol, 0, 0, .. source, .. destination];
        var sum = 0u;
        for (var i = 0; i < 20; i += 2)
        {
            sum += (uint)((header[i] << 8) | header[i + 1]);
        }
        sum = (sum & 0xffff) + (sum >> 16);
        sum = ~((sum & 0xffff) + (sum >> 16)) & 0xffff;
        header[10] = (byte)(sum >> 8);
        header[11] = (byte)sum;
        return [.. header, .. payload];
    }

    /// <summary>An ICMPv6 message with its checksum (over the IPv6 pseudo-header) filled in.</summary>
    private static byte[] Icmpv6(byte[] source, byte[] destination, byte[] message)
    {
        byte[] pseudo = [.. source, .. destination, 0, 0, (byte)(message.Length >> 8), (byte)message.Length, 0, 0, 0, 58, .. message];
        var sum = 0u;
        for (var i = 0; i + 1 < pseudo.Length; i += 2)
        {
            sum += (uint)((pseudo[i] << 8) | pseudo[i + 1]);
        }
        if (pseudo.Length % 2 == 1)
        {
            sum += (uint)(pseudo[^1] << 8);
        }
        while (sum > 0xffff)
        {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        var result = (byte[])message.Clone();
        result[2] = (byte)(~sum >> 8);
        result[3] = (byte)~sum;
        return result;
    }

    private static byte[] Ipv6(byte[] source, byte[] destination, byte next, byte[] payload, byte hopLimit = 64) =>
        [0x60, 0, 0, 0, (byte)(payload.Length >> 8), (byte)payload.Length, next, hopLimit, .. source, .. destination, .. payload];

    private static byte[] Tcp(ushort source, ushort destination, byte flags, uint seq) =>
        [(byte)(source >> 8), (byte)source, (byte)(destination >> 8), (byte)destination,
         (byte)(seq >> 24), (byte)(seq >> 16), (byte)(seq >> 8), (byte)seq, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0];

    /// <summary>A UDP header with a zero checksum (none, valid over IPv4) and the payload.</summary>
    private static byte[] Udp(ushort source, ushort destination, byte[] payload)
    {
        var length = 8 + payload.Length;
        return [(byte)(source >> 8), (byte)source, (byte)(destination >> 8), (byte)destination, (byte)(length >> 8), (byte)length, 0, 0, .. payload];
    }
}
