using System.Diagnostics;
using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Bench;
using Butterfly.Infrastructure.Dpdk.Pipeline.Capture;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Fuzz;

/// <summary>
/// The <c>packet</c> target: one frame, as a VM or the underlay could send it, through every
/// stage of the packet thread that reads a frame without EAL — the parser (whole frame and the
/// head of a chained one), anti-spoofing and the firewall both ways (connection tracking
/// included, its table kept from input to input so it fills, expires and sweeps), the ICMP
/// error quote reader, path MTU (the ICMP answer and IPv4 fragmentation), the offload header
/// locator and checksum completion, VXLAN encap, the underlay stage (ARP, ND, membership
/// queries, decap) and then the decapsulated inner frame through the parser and the firewall,
/// the BENCH probe, and the pcapng writer. The stages read only within the span they are
/// given; anything that throws (an index out of range, an overflow) is a crash.
/// </summary>
internal static class PacketTarget
{
    private const int Headroom = 128;
    private const int Room = 2048 + Headroom;

    private static readonly long Second = Stopwatch.Frequency;

    private static readonly Lazy<World> Shared = new(() => new World());

    public static void Run(byte[] input)
    {
        var w = Shared.Value;
        w.Now += Second / 10;
        var frame = (ReadOnlySpan<byte>)input;

        if (PacketParser.Parse(frame, out var meta) == DropReason.None)
        {
            Nic(w, frame, meta);
            Underlay(w, frame, meta);
        }
        // The head of a chained mbuf: the headers within the first 64 bytes, the lengths checked
        // against the whole frame's.
        _ = PacketParser.ParseHeaders(frame[..Math.Min(frame.Length, 64)], frame.Length, out _);
        _ = PcapngFormat.WriteEnhancedPacket(w.Scratch, 1, frame[..Math.Min(frame.Length, 1024)], (uint)frame.Length, CaptureDirection.Inbound, "fuzz"u8);
        if ((w.Now / Second) % 30 == 0)
        {
            w.Stage.Sweep(w.Policy, w.Now, 256);
        }
    }

    /// <summary>What a NIC's frame meets: its egress firewall, another NIC's ingress, and the tunnel stages.</summary>
    private static void Nic(World w, ReadOnlySpan<byte> frame, in PacketMeta meta)
    {
        // a → b and b → a: anti-spoofing and egress rules of the sender, ingress rules of the receiver.
        if (w.Stage.FromNic(w.A, w.Policy, frame, meta, w.Now) == DropReason.None)
        {
            _ = w.Stage.ToNic(w.B, w.Policy, frame, meta, w.Now);
        }
        if (w.Stage.FromNic(w.B, w.Policy, frame, meta, w.Now) == DropReason.None)
        {
            _ = w.Stage.ToNic(w.A, w.Policy, frame, meta, w.Now);
        }
        // An ICMP error seen at the receiver: the quoted flow it belongs to.
        _ = IcmpTracker.TryQuotedKey(w.A.Zone, frame, meta, out _, out _);

        // Too big for the tunnel: an ICMP answer, or IPv4 fragments.
        switch (PathMtu.Decide(meta, 576, out var mtu))
        {
            case TooBigAction.Icmp:
                _ = PathMtu.BuildIcmp(frame, meta, mtu, w.Scratch);
                break;
            case TooBigAction.Fragment when Ipv4Fragmenter.TryPlan(frame, meta, mtu, out var plan):
                for (var i = 0; i < Math.Min(plan.Count, 64); i++)
                {
                    _ = Ipv4Fragmenter.WriteHeaders(frame, meta, plan, i, w.Scratch);
                }
                break;
        }

        // A frame asking for checksum offload / segmentation: where its headers are, and the
        // checksum completed in a copy.
        if (InnerOffload.Locate(frame, frame.Length, out var headers) == DropReason.None && frame.Length <= w.Scratch.Length)
        {
            var copy = w.Scratch.AsSpan(0, frame.Length);
            frame.CopyTo(copy);
            InnerOffload.CompleteChecksum(copy, headers);
        }

        // VXLAN encap in front of the frame, in a buffer with headroom as an mbuf has.
        if (frame.Length <= Room - Headroom)
        {
            frame.CopyTo(w.Buffer.AsSpan(Headroom));
            var offset = Headroom;
            var length = frame.Length;
            _ = VxlanEncap.Encapsulate(w.Buffer, ref offset, ref length, w.Path, 42, 7);
        }

        // The BENCH probe reading what is switched to it.
        _ = w.Probe.Receive(frame, meta, w.Now, w.Scratch, out _);
    }

    /// <summary>What the underlay port's frame meets: the responders and decap, then the inner frame as a NIC receives it.</summary>
    private static void Underlay(World w, ReadOnlySpan<byte> frame, in PacketMeta meta)
    {
        _ = MembershipReports.IsQuery(frame, meta);
        var reply = w.Scratch.AsSpan(0, UnderlayStage.ReplyBufferLength);
        var r = UnderlayStage.Process(frame, meta, w.Underlay, w.Neighbours, w.Now, reply);
        if (r.Action != UnderlayAction.Decapsulated)
        {
            return;
        }
        var inner = frame.Slice(r.Decap.InnerOffset, r.Decap.InnerLength);
        if (PacketParser.Parse(inner, out var innerMeta) == DropReason.None)
        {
            _ = w.Stage.ToNic(w.B, w.Policy, inner, innerMeta, w.Now);
        }
    }

    /// <summary>
    /// Two NICs on one VNI with groups that exercise every kind of rule: TCP/UDP port ranges,
    /// ICMP type and code, all protocols from a CIDR, a referenced group's members, outbound
    /// restrictions; IPv4 and IPv6 addresses; a VTEP on both families.
    /// </summary>
    private sealed class World
    {
        public World()
        {
            static CidrSpec Cidr(string address, uint mask) => new(address, mask);
            var web = new RuleSpec[]
            {
                new(Direction.Inbound, 6, 80, 443, Cidr("0.0.0.0", 0), null),
                new(Direction.Inbound, 17, 53, 53, Cidr("::", 0), null),
                new(Direction.Inbound, 1, null, null, Cidr("10.0.0.0", 8), null, 8, 0),
                new(Direction.Inbound, 58, null, null, Cidr("fd00::", 8), null, 128, null),
                new(Direction.Inbound, -1, null, null, null, "db"),
                new(Direction.Outbound, 6, 1, 65535, Cidr("10.0.0.0", 8), null),
                new(Direction.Outbound, 17, null, null, Cidr("fd00::", 16), null),
            };
            var db = new RuleSpec[] { new(Direction.Inbound, 132, null, null, Cidr("192.168.0.0", 16), null) };
            var state = ConfigurationState.Empty.ApplyAll(
            [
                new NicAdded(new NicSpec("a", "52:54:00:00:00:0a", 42, ["10.0.0.1", "fd00::1"], ["web"], IpAntiSpoof: true, Type: NicType.Tap)),
                new NicAdded(new NicSpec("b", "52:54:00:00:00:0b", 42, ["10.0.0.2", "fd00::2"], ["web", "db"], Type: NicType.Tap)),
                new SecurityGroupDefined("web", ["10.0.0.1", "10.0.0.2", "fd00::2"], web),
                new SecurityGroupDefined("db", ["10.0.0.0", "192.168.1.1"], db),
            ]);
            var compiler = new PolicyCompiler();
            var ports = new Dictionary<string, FirewallPort>(StringComparer.Ordinal)
            {
                ["a"] = new FirewallPort(1, (1u << 16) | 1),
                ["b"] = new FirewallPort(2, (1u << 16) | 2),
            };
            Policy = compiler.Compile(state, ports, 64, 1, null, -1);
            A = compiler.FilterOf("a")!;
            B = compiler.FilterOf("b")!;
            // A small table, so a campaign fills it (the full-table path) and sweeps it.
            Stage = new FirewallStage(4096, ConntrackTimeouts.Default, cutEstablished: false);

            var ourMac = MacAddress.Parse("02:00:00:00:fe:01");
            Underlay = new UnderlayConfig(ourMac, new VtepAddress(IpAddr.Parse("172.16.0.1"), 24, default), new VtepAddress(IpAddr.Parse("fd01::1"), 64, default));
            Neighbours = new NeighbourTable(64, Second, Second / 10, 10 * Second);
            Path = new UnderlayPath(ourMac, MacAddress.Parse("02:00:00:00:fe:02"), IpAddr.Parse("172.16.0.1"), IpAddr.Parse("172.16.0.2"), 64, 1500);
            Probe = new BenchProbe(new BenchConfig(BenchMode.Responder, MacAddress.Parse("52:54:00:00:00:0b"), IpAddr.Parse("10.0.0.2"), default, default, 0x1234));
        }

        public long Now { get; set; } = 1000 * Second;

        public FirewallPolicy Policy { get; }

        public NicFilter A { get; }

        public NicFilter B { get; }

        public FirewallStage Stage { get; }

        public UnderlayConfig Underlay { get; }

        public NeighbourTable Neighbours { get; }

        public UnderlayPath Path { get; }

        public BenchProbe Probe { get; }

        public byte[] Buffer { get; } = new byte[Room];

        public byte[] Scratch { get; } = new byte[Room];
    }
}
