using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Benchmarks;

/// <summary>
/// A host with <see cref="Vnis"/> VNIs of <see cref="PortsPerVni"/> local ports each, and bursts
/// of <see cref="BurstSize"/> 64-byte IPv4/UDP frames with distinct flows, each from one local
/// port to another port of its VNI (same-host traffic) or to a MAC learned behind the peer VTEP
/// (VXLAN traffic, delivered to a port of the peer host). Frames sit in mbuf-like buffers: <see cref="Headroom"/> free bytes, then the frame.
/// </summary>
internal sealed class SyntheticTraffic
{
    public const int BurstSize = 32;
    public const int Vnis = 8;
    public const int PortsPerVni = 4;
    public const int FrameLength = 60;
    public const int Headroom = 128;
    public const int BufferLength = 2048;

    public static readonly MacAddress UnderlayMac = new(0x0200_0000_00AA);
    public static readonly MacAddress PeerMac = new(0x0200_0000_00BB);

    public SyntheticTraffic(bool ipv6Underlay)
    {
        var builder = new SwitchTablesBuilder();
        for (var v = 0; v < Vnis; v++)
        {
            for (var p = 0; p < PortsPerVni; p++)
            {
                var port = (ushort)((v * PortsPerVni) + p);
                Check(builder.AddPort(port, VniOf(v), LocalMac(port)));
            }
            Check(builder.SetFloodVteps(VniOf(v), [MulticastGroups.GroupOf(VniOf(v), !ipv6Underlay)]));
        }
        Tables = builder.Build(1, out var error) ?? throw new InvalidOperationException(error);

        Us = new UnderlayConfig(UnderlayMac, new VtepAddress(IpAddr.Parse("192.168.1.1"), 24, default), new VtepAddress(IpAddr.Parse("fd00::1"), 64, default));
        Peer = new UnderlayConfig(PeerMac, new VtepAddress(IpAddr.Parse("192.168.1.2"), 24, default), new VtepAddress(IpAddr.Parse("fd00::2"), 64, default));
        PeerVtep = ipv6Underlay ? Peer.Ipv6!.Value.Address : Peer.Ipv4!.Value.Address;
        Learned = new LearnedFdb(65536, long.MaxValue / 4);
        PeerLearned = new LearnedFdb(65536, long.MaxValue / 4);
        Neighbours = new NeighbourTable(256, long.MaxValue / 4, 1, long.MaxValue / 4);
        Neighbours.Update(PeerVtep, PeerMac, 0, create: true);

        var peerBuilder = new SwitchTablesBuilder();
        for (var i = 0; i < BurstSize; i++)
        {
            var v = i % Vnis;
            Check(peerBuilder.AddPort((ushort)i, VniOf(v), RemoteMac(i)));
            var from = (ushort)((v * PortsPerVni) + (i % PortsPerVni));
            var to = (ushort)((v * PortsPerVni) + ((i + 1) % PortsPerVni));
            IngressPorts[i] = from;
            SameHost[i] = Frame(LocalMac(from), LocalMac(to), i);
            var remote = RemoteMac(i);
            Learned.Learn(VniOf(v), remote, PeerVtep, 0);
            ToRemote[i] = Frame(LocalMac(from), remote, i);
        }
        PeerTables = peerBuilder.Build(1, out error) ?? throw new InvalidOperationException(error);
    }

    public SwitchTables Tables { get; }

    /// <summary>The other host's ports: one per remote MAC the burst sends to.</summary>
    public SwitchTables PeerTables { get; }

    public UnderlayConfig Us { get; }

    /// <summary>The other host: decapsulates what we encapsulate.</summary>
    public UnderlayConfig Peer { get; }

    public IpAddr PeerVtep { get; }

    public LearnedFdb Learned { get; }

    /// <summary>The peer's FDB, which decap learns into.</summary>
    public LearnedFdb PeerLearned { get; }

    public NeighbourTable Neighbours { get; }

    public ushort[] IngressPorts { get; } = new ushort[BurstSize];

    /// <summary>Frames between two local ports of one VNI.</summary>
    public byte[][] SameHost { get; } = new byte[BurstSize][];

    /// <summary>Frames from a local port to a MAC behind the peer VTEP.</summary>
    public byte[][] ToRemote { get; } = new byte[BurstSize][];

    public static uint VniOf(int index) => 1000u + (uint)index;

    public static MacAddress LocalMac(ushort port) => new(0x5254_0000_0000UL | port);

    public static MacAddress RemoteMac(int index) => new(0x5254_0100_0000UL | (uint)index);

    private static byte[] Frame(MacAddress src, MacAddress dst, int flow)
    {
        var buffer = new byte[BufferLength];
        var frame = buffer.AsSpan(Headroom, FrameLength);
        EthernetHeader.Write(frame, dst, src, EthernetHeader.TypeIpv4);
        const ushort ipLength = FrameLength - EthernetHeader.Length;
        Ipv4Header.Write(frame[EthernetHeader.Length..], ipLength, 0, 64, Ipv4Header.ProtocolUdp, 0x0A00_0001u + (uint)flow, 0x0A00_0100u + (uint)flow);
        UdpHeader.Write(frame[34..], (ushort)(10000 + flow), 4000, ipLength - Ipv4Header.MinLength, 0);
        return buffer;
    }

    internal static void Check(string? error)
    {
        if (error is not null)
        {
            throw new InvalidOperationException(error);
        }
    }
}
