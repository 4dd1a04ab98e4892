using System.Buffers.Binary;
using Butterfly.TestKit;
using Butterfly.Wire;
using static Butterfly.EndToEnd.Tests.Topology.Traffic;

namespace Butterfly.EndToEnd.Tests.Topology;

/// <summary>
/// A daemon whose underlay is a pcap port (`--vdev=net_pcap0,rx_pcap=IN,tx_pcap=OUT`): what it
/// receives on the underlay comes from a capture file written here byte by byte, everything it
/// sends there goes to a dump file read back here. The capture holds one ARP request from the
/// peer VTEP (192.0.2.2, 02:00:00:00:00:bb) for our VTEP (192.0.2.1); the daemon names that peer
/// with --vxlan-peer. A tap NIC of VNI 710 in a "VM" namespace pings a MAC nobody has.
///
///   netns vm: 10.76.0.1 ── tap ── butterflyd (VTEP 192.0.2.1, peer 192.0.2.2) ── net_pcap
///                                                                   in.pcap ─┘   └─ out.pcap
///
/// The dump must then hold the ARP reply to the peer and the VM's echo request flooded to the
/// peer as unknown unicast, VXLAN-encapsulated (VNI 710, UDP 4789, outer MACs from the ARP
/// exchange): the underlay works through a pcap port as through any other PMD.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class PcapUnderlayTests : IAsyncLifetime
{
    private const uint Vni = 710;
    private const string VmMac = "52:54:00:76:00:01";
    private static readonly byte[] PeerMac = [0x02, 0, 0, 0, 0, 0xbb];
    private static readonly byte[] Broadcast = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    private static readonly byte[] OurVtep = [192, 0, 2, 1];
    private static readonly byte[] PeerVtep = [192, 0, 2, 2];

    private readonly NetworkNamespaces _namespaces = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("bfpcap-").FullName;
    private DaemonProcess? _daemon;

    private string Capture => Path.Combine(_dir, "in.pcap");

    private string Dump => Path.Combine(_dir, "out.pcap");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync();
        }
        _namespaces.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Arp_comes_from_the_capture_and_the_reply_and_vxlan_frames_go_to_the_dump()
    {
        WritePcap(Capture, [ArpRequestFromPeer()]);
        _daemon = await DaemonProcess.StartAsync(new DaemonStartOptions
        {
            DpdkArgs = $"--no-huge -m 256 --no-pci --file-prefix bfpc{Path.GetFileName(_dir)[7..]} --vdev=net_pcap0,rx_pcap={Capture},tx_pcap={Dump}",
            Ip = "192.0.2.1",
            ExtraArgs = ["--vxlan-peer", "192.0.2.2"],
        });
        var tap = $"bft{_daemon.Port}vm";
        using (var client = _daemon.CreateClient())
        {
            var nic = Requests.Nic(tap, VmMac, Vni, type: MessageV0.Types.Nic.Types.Type.Tap);
            nic.BypassFiltering = true;
            client.CallOk(Requests.NicAdd(nic));
        }
        var vm = _namespaces.Create("vm");
        _namespaces.Attach(vm, tap, VmMac, ["10.76.0.1/24"]);
        // A neighbour whose MAC no NIC has: the echo request is unknown unicast, flooded to the peer.
        AssertOk(NetworkNamespaces.Exec(vm, "ip", "neigh", "replace", "10.76.0.2", "lladdr", "52:54:00:76:00:02", "dev", tap, "nud", "permanent"), "static neighbour");
        _ = NetworkNamespaces.Exec(vm, "ping", "-c", "2", "-i", "0.3", "-W", "1", "10.76.0.2");

        // A graceful stop closes the dump (libpcap buffers it).
        Assert.Equal(0, await _daemon.StopAsync());
        var frames = ReadPcap(Dump);

        var reply = frames.SingleOrDefault(IsArpReply);
        Assert.True(reply is not null, $"no ARP reply in the dump of {frames.Count} frames");
        var ourMac = reply[6..12];
        Assert.Equal(PeerMac, reply[..6]);
        Assert.Equal(ourMac, reply[22..28]);              // sender MAC: ours
        Assert.Equal(OurVtep, reply[28..32]);             // sender IP: our VTEP
        Assert.Equal(PeerMac, reply[32..38]);             // target: the peer
        Assert.Equal(PeerVtep, reply[38..42]);

        var echo = frames.FirstOrDefault(f => IsVxlanFromVm(f) && f[50 + 34] == 8);
        Assert.True(echo is not null, $"no encapsulated echo request from the VM in the dump of {frames.Count} frames");
        Assert.Equal(PeerMac, echo[..6]);
        Assert.Equal(ourMac, echo[6..12]);
        Assert.Equal(OurVtep, echo[26..30]);
        Assert.Equal(PeerVtep, echo[30..34]);
        Assert.Equal(Vni, BinaryPrimitives.ReadUInt32BigEndian(echo.AsSpan(46)) >> 8);
        Assert.Equal(0x08, echo[42]);                      // VXLAN I flag
        Assert.Equal(Mac("52:54:00:76:00:02"), echo[50..56]);
        Assert.Equal([10, 76, 0, 1], echo[(50 + 26)..(50 + 30)]);
    }

    private static bool IsArpReply(byte[] f) =>
        f.Length >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[20] == 0 && f[21] == 2;

    /// <summary>Outer IPv4 (no options) + UDP to 4789, inner frame from the VM's MAC carrying IPv4.</summary>
    private static bool IsVxlanFromVm(byte[] f) =>
        f.Length >= 50 + 34 + 1 && f[12] == 0x08 && f[13] == 0x00 && f[14] == 0x45 && f[23] == 17
        && BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(36)) == 4789
        && f.AsSpan(50 + 6, 6).SequenceEqual(Mac(VmMac)) && f[50 + 12] == 0x08 && f[50 + 13] == 0x00;

    /// <summary>who-has 192.0.2.1 tell 192.0.2.2, broadcast from the peer (RFC 826 layout, padded to 60 bytes).</summary>
    private static byte[] ArpRequestFromPeer()
    {
        var f = new byte[60];
        Broadcast.CopyTo(f, 0);
        PeerMac.CopyTo(f, 6);
        f[12] = 0x08;
        f[13] = 0x06;
        f[15] = 1;        // hardware type Ethernet
        f[16] = 0x08;     // protocol type IPv4
        f[18] = 6;
        f[19] = 4;
        f[21] = 1;        // request
        PeerMac.CopyTo(f, 22);
        PeerVtep.CopyTo(f, 28);
        OurVtep.CopyTo(f, 38);
        return f;
    }

    private static byte[] Mac(string text) => [.. text.Split(':').Select(b => Convert.ToByte(b, 16))];

    /// <summary>A classic pcap file (microsecond timestamps, Ethernet link type).</summary>
    private static void WritePcap(string path, IEnumerable<byte[]> frames)
    {
        using var file = File.Create(path);
        Span<byte> header = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0xa1b2c3d4);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], 65535);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], 1);
        file.Write(header);
        Span<byte> record = stackalloc byte[16];
        foreach (var frame in frames)
        {
            record.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(record[8..], (uint)frame.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(record[12..], (uint)frame.Length);
            file.Write(record);
            file.Write(frame);
        }
    }

    /// <summary>The frames of a pcap file with either timestamp precision, in host (little-endian) byte order.</summary>
    private static List<byte[]> ReadPcap(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length >= 24, $"{path} has no pcap header ({bytes.Length} bytes)");
        var magic = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        Assert.True(magic is 0xa1b2c3d4 or 0xa1b23c4d, $"{path}: unexpected pcap magic {magic:x8}");
        var frames = new List<byte[]>();
        var offset = 24;
        while (offset + 16 <= bytes.Length)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset + 8));
            offset += 16;
            Assert.True(offset + length <= bytes.Length, $"{path}: truncated record");
            frames.Add(bytes[offset..(offset + length)]);
            offset += length;
        }
        return frames;
    }
}
