using System.Diagnostics;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Benchmarks;

/// <summary>
/// The firewall in the per-packet pipeline, on bursts of 32 frames (every figure per packet):
/// - <c>EstablishedEncap</c>: what a VM's packet of an established flow costs on its way to a
///   remote host — parse, anti-spoofing, the conntrack lookup in the sending NIC's zone among
///   <see cref="TrackedFlows"/> tracked connections (bursts walk through them all, so most
///   lookups miss the CPU caches as they would on a busy host), the switch decision, the outer
///   path and the VXLAN encap, in the forwarder's three passes over the burst (start every
///   lookup, prefetch every connection, decide). Each frame is first copied into one of 32
///   burst buffers, as the vhost library copies a guest's frame into an mbuf (the copy is part
///   of the figure). The target: ≤ 120 ns, 0 bytes.
/// - <c>NewFlow</c>: a new UDP flow between two NICs of the host: anti-spoofing, the egress
///   lookup and insert, the ingress rules of the receiving NIC (20 rules, the matching one
///   last) and its insert; each flow replaces an expired one (the table stays full of
///   expiring flows, as under a flood). New flows per second per core = 1e9 / this.
/// The NICs are the 32 local ports of <see cref="SyntheticTraffic"/>, each with one IPv4
/// address; the destination NIC's group admits the traffic by rule.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public sealed class FirewallBenchmarks : IDisposable
{
    private const int Nics = SyntheticTraffic.Vnis * SyntheticTraffic.PortsPerVni;

    private SyntheticTraffic _traffic = null!;
    private FirewallStage _stage = null!;
    private FirewallPolicy _policy = null!;
    private byte[][] _frames = null!;
    private ushort[] _ingress = null!;
    private readonly UnderlayPathCache _paths = new();
    private byte[][] _newFlows = null!;
    private readonly byte[][] _burst = [.. Enumerable.Range(0, SyntheticTraffic.BurstSize).Select(_ => new byte[SyntheticTraffic.Headroom + 128])];
    private int _cursor;
    private long _now;
    private long _newFlowNow;
    private ushort _nextPort;

    [Params(1_000, 100_000)]
    public int TrackedFlows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _traffic = new SyntheticTraffic(ipv6Underlay: false);
        var (state, ports) = Configuration();
        _policy = new PolicyCompiler().Compile(state, ports, Nics, 1);
        _stage = new FirewallStage(1 << 20, ConntrackTimeouts.Default, cutEstablished: false);
        _now = Stopwatch.GetTimestamp();
        _newFlowNow = _now;

        // TrackedFlows flows from the 32 NICs to MACs behind the peer VTEP, each opened once.
        _frames = new byte[TrackedFlows][];
        _ingress = new ushort[TrackedFlows];
        for (var k = 0; k < TrackedFlows; k++)
        {
            var nic = (ushort)(k % Nics);
            _ingress[k] = nic;
            _frames[k] = Frame(SyntheticTraffic.LocalMac(nic), SyntheticTraffic.RemoteMac(nic % SyntheticTraffic.BurstSize),
                NicIp(nic), (ushort)(1024 + (k / Nics)), 0x0A01_0000u + (uint)k, 4000);
            PacketParser.Parse(_frames[k].AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength), out var meta);
            if (_stage.FromNic(_policy.FilterOf(nic)!, _policy, _frames[k].AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength), meta, _now) != DropReason.None)
            {
                throw new InvalidOperationException("a benchmark flow was refused");
            }
        }
        for (var v = 0; v < SyntheticTraffic.Vnis; v++)
        {
            for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
            {
                _traffic.Learned.Learn(SyntheticTraffic.VniOf(v), SyntheticTraffic.RemoteMac(i), _traffic.PeerVtep, 0);
            }
        }
        if (_stage.Count < TrackedFlows)
        {
            throw new InvalidOperationException($"{_stage.Count} connections tracked, {TrackedFlows} wanted");
        }

        // New flows: NIC 0 → NIC 1 (same VNI), UDP to port 53, source port moving.
        _newFlows = new byte[SyntheticTraffic.BurstSize][];
        for (var i = 0; i < _newFlows.Length; i++)
        {
            _newFlows[i] = Frame(SyntheticTraffic.LocalMac(0), SyntheticTraffic.LocalMac(1), NicIp(0), 0, NicIp(1), 53);
        }
        if (EstablishedEncap() != SyntheticTraffic.BurstSize || NewFlow() != SyntheticTraffic.BurstSize)
        {
            throw new InvalidOperationException("the synthetic bursts do not pass the firewall");
        }
    }

    [GlobalCleanup]
    public void Dispose() => _stage?.Dispose();

    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    [SkipLocalsInit]
    public int EstablishedEncap()
    {
        var t = _traffic;
        var policy = _policy;
        var now = _now;
        var start = _cursor;
        Span<PacketMeta> metas = stackalloc PacketMeta[SyntheticTraffic.BurstSize];
        Span<FlowLookup> lookups = stackalloc FlowLookup[SyntheticTraffic.BurstSize];
        Span<DropReason> reasons = stackalloc DropReason[SyntheticTraffic.BurstSize];
        Span<int> flows = stackalloc int[SyntheticTraffic.BurstSize];

        // As Forwarder.SwitchBurst: parse, anti-spoof and start every lookup, prefetch every
        // connection, then decide, switch and encapsulate.
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            var k = start + i;
            flows[i] = k >= _frames.Length ? k - _frames.Length : k;
            // The frame lands in a buffer of the burst, as the vhost library copies a guest's
            // frame into an mbuf: the bytes are in cache, the flow's state is not.
            var frame = _burst[i].AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength);
            _frames[flows[i]].AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength).CopyTo(frame);
            var reason = PacketParser.Parse(frame, out metas[i]);
            if (reason == DropReason.None)
            {
                reason = _stage.StartFromNic(policy.FilterOf(_ingress[flows[i]])!, frame, metas[i], out lookups[i]);
            }
            reasons[i] = reason;
        }
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            _stage.PrefetchConnection(lookups[i]);
        }
        var sent = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            var buffer = _burst[i];
            var offset = SyntheticTraffic.Headroom;
            var length = SyntheticTraffic.FrameLength;
            var frame = buffer.AsSpan(offset, length);
            var ingress = _ingress[flows[i]];
            if (reasons[i] != DropReason.None
                || _stage.FinishFromNic(policy.FilterOf(ingress)!, policy, frame, metas[i], lookups[i], now) != DropReason.None)
            {
                continue;
            }
            var decision = SwitchStage.FromLocal(t.Tables, t.Learned, ingress, metas[i], now);
            if (decision.Kind != ForwardKind.Remote
                || _paths.PathTo(t.Us, t.Neighbours, decision.Vtep, now, out var path, out _) != PathStatus.Ready
                || VxlanEncap.Encapsulate(buffer, ref offset, ref length, path, decision.Vni, FlowHash.Of(metas[i])) != DropReason.None)
            {
                continue;
            }
            sent++;
        }
        var next = start + SyntheticTraffic.BurstSize;
        _cursor = next >= _frames.Length ? next - _frames.Length : next;
        return sent;
    }

    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    [SkipLocalsInit]
    public int NewFlow()
    {
        var policy = _policy;
        var from = policy.FilterOf(0)!;
        var to = policy.FilterOf(1)!;
        // Every burst is a lifetime later (on a clock of its own): the flows of the previous
        // bursts have expired, and the table finds and replaces them.
        var now = _newFlowNow += (ConntrackTimeouts.Default.Udp * 2) + 1;
        var passed = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            var frame = _newFlows[i].AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength);
            var port = ++_nextPort;
            frame[34] = (byte)(port >> 8);
            frame[35] = (byte)port;
            PacketParser.Parse(frame, out var meta);
            if (_stage.FromNic(from, policy, frame, meta, now) == DropReason.None
                && _stage.ToNic(to, policy, frame, meta, now) == DropReason.None)
            {
                passed++;
            }
        }
        return passed;
    }

    /// <summary>The 32 NICs, each with its IPv4 address, in a group of 20 rules whose last admits UDP 53.</summary>
    internal static (ConfigurationState State, Dictionary<string, FirewallPort> Ports) Configuration()
    {
        var rules = new List<RuleSpec>();
        for (var i = 0; i < 19; i++)
        {
            rules.Add(new RuleSpec(Direction.Inbound, 6, (uint)(8000 + i), (uint)(8000 + i), new CidrSpec("10.200.0.0", 16), null));
        }
        rules.Add(new RuleSpec(Direction.Inbound, 17, 53, 53, new CidrSpec("10.0.0.0", 8), null));
        rules.Add(new RuleSpec(Direction.Inbound, 17, 4000, 4000, new CidrSpec("10.0.0.0", 8), null));
        var state = ConfigurationState.Empty.Apply(new SecurityGroupDefined("bench", [], rules));
        var ports = new Dictionary<string, FirewallPort>(StringComparer.Ordinal);
        for (ushort p = 0; p < Nics; p++)
        {
            var id = $"nic{p}";
            var vni = SyntheticTraffic.VniOf(p / SyntheticTraffic.PortsPerVni);
            state = state.Apply(new NicAdded(new NicSpec(id, SyntheticTraffic.LocalMac(p).ToString(), vni,
                [IpAddr.FromV4(NicIp(p)).ToString()], ["bench"], Type: NicType.Tap)));
            ports[id] = new FirewallPort(p, (1u << 16) | p);
        }
        return (state, ports);
    }

    private static uint NicIp(int nic) => 0x0A00_0001u + (uint)nic;

    /// <summary>A 60-byte IPv4/UDP frame in an mbuf-like buffer (<see cref="SyntheticTraffic.Headroom"/> free bytes first).</summary>
    internal static byte[] Frame(MacAddress src, MacAddress dst, uint srcIp, ushort srcPort, uint dstIp, ushort dstPort)
    {
        var buffer = new byte[SyntheticTraffic.Headroom + 128];
        var frame = buffer.AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength);
        EthernetHeader.Write(frame, dst, src, EthernetHeader.TypeIpv4);
        const ushort ipLength = SyntheticTraffic.FrameLength - EthernetHeader.Length;
        Ipv4Header.Write(frame[EthernetHeader.Length..], ipLength, 0, 64, Ipv4Header.ProtocolUdp, srcIp, dstIp);
        UdpHeader.Write(frame[34..], srcPort, dstPort, ipLength - Ipv4Header.MinLength, 0);
        return buffer;
    }
}

/// <summary>
/// The control side of the firewall on a large configuration: 100 groups of 100 rules
/// (10 000 rules) and a group of 100 000 members referenced by rules, over 32 NICs.
/// - <c>LoadEverything</c>: compiling it all from nothing (start-up, a restore): the issue's
///   goal is &lt; 1 s.
/// - <c>OneRuleChange</c>: one rule added to one group, compiled incrementally (what a commit
///   does before publishing the new policy): goal &lt; 10 ms p99 (QuickRun prints percentiles).
/// - <c>OneMemberChange</c>: one member added to the 100 000-member group: O(1), in place.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class PolicyBenchmarks
{
    private ConfigurationState _state = null!;
    private Dictionary<string, FirewallPort> _ports = null!;
    private PolicyCompiler _compiler = null!;
    private long _version;
    private int _change;

    [GlobalSetup]
    public void Setup()
    {
        (_state, _ports) = BigConfiguration();
        _compiler = new PolicyCompiler();
        _compiler.Compile(_state, _ports, 64, ++_version);
    }

    [Benchmark]
    public long LoadEverything() => new PolicyCompiler().Compile(_state, _ports, 64, 1).Version;

    [Benchmark]
    public long OneRuleChange()
    {
        var change = ++_change;
        var rule = new RuleSpec(Direction.Inbound, 6, (uint)(change % 60000), (uint)(change % 60000), new CidrSpec("192.0.2.0", 24), null);
        DomainEvent e = (change & 1) == 1 ? new RuleAdded("g17", rule) : new RuleRemoved("g17", rule with { PortStart = (uint)((change - 1) % 60000), PortEnd = (uint)((change - 1) % 60000) });
        return Apply(e);
    }

    [Benchmark]
    public long OneMemberChange()
    {
        var change = ++_change;
        var member = $"198.51.{(change >> 8) & 255}.{change & 255}";
        return Apply((change & 1) == 1 ? new MemberAdded("members", member) : new MemberRemoved("members", member));
    }

    /// <summary>Applies one event to the state and compiles it as a commit does.</summary>
    private long Apply(DomainEvent e)
    {
        var previous = _version;
        _state = _state.Apply(e);
        return _compiler.Compile(_state, _ports, 64, ++_version, [e], previous).Version;
    }

    internal static (ConfigurationState State, Dictionary<string, FirewallPort> Ports) BigConfiguration()
    {
        var state = ConfigurationState.Empty;
        for (var g = 0; g < 100; g++)
        {
            var rules = new List<RuleSpec>(100);
            for (var r = 0; r < 99; r++)
            {
                var n = (g * 100) + r;
                rules.Add(new RuleSpec(Direction.Inbound, 6, (uint)(n % 60000), (uint)(n % 60000), new CidrSpec($"10.{n >> 8 & 255}.{n & 255}.0", 24), null));
            }
            rules.Add(new RuleSpec(Direction.Inbound, 6, 5432, 5432, null, "members"));
            state = state.Apply(new SecurityGroupDefined($"g{g}", [], rules));
        }
        var members = Enumerable.Range(0, 100_000).Select(i => $"172.{16 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}").ToArray();
        state = state.Apply(new SecurityGroupDefined("members", members, []));
        var ports = new Dictionary<string, FirewallPort>(StringComparer.Ordinal);
        for (ushort p = 0; p < 32; p++)
        {
            var id = $"nic{p}";
            state = state.Apply(new NicAdded(new NicSpec(id, $"52:54:00:00:01:{p:x2}", 1, [$"10.250.0.{p + 1}"],
                [$"g{p}", $"g{p + 32}", $"g{p + 64}"], Type: NicType.Tap)));
            ports[id] = new FirewallPort(p, (1u << 16) | p);
        }
        return (state, ports);
    }
}
