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
/// The C# share of the vhost-user loop's conntrack variant (bench/vhost-loop, lib.sh
/// "conntrack"), without the vhost library: two NICs of one VNI, each with the generator's
/// 257 IPs and the variant's group (TCP 22, 80, 443, 8080; UDP 53; ICMP; UDP 9 from
/// 198.18.0.0/15), and the generator's 256 UDP flows going both ways (5tswap), in bursts of
/// 32 alternately from each NIC. Per packet, as <c>Forwarder.SwitchBurst</c> does it: the
/// frame copied into its buffer (the vhost library's copy); for the whole burst parse,
/// anti-spoofing, the switch decision and both lookups started (the sender's egress, the
/// receiver's ingress); every connection prefetched; then the egress and ingress decisions. The loop's
/// packet-thread cycles per packet minus this figure is what the vhost library and the
/// rings cost.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public sealed class LoopConntrackBenchmarks : IDisposable
{
    private const int Flows = 256;
    private const ushort PortA = 0;
    private const ushort PortB = 1;
    private const uint Vni = 1;
    private static readonly MacAddress MacA = new(0x0200_0000_0A01);
    private static readonly MacAddress MacB = new(0x0200_0000_0B01);

    private FirewallStage _stage = null!;
    private FirewallPolicy _policy = null!;
    private SwitchTables _tables = null!;
    private readonly LearnedFdb _learned = new(1024, long.MaxValue / 4);
    private readonly byte[][] _fromA = new byte[Flows][];
    private readonly byte[][] _fromB = new byte[Flows][];
    private readonly byte[][] _burst = [.. Enumerable.Range(0, SyntheticTraffic.BurstSize).Select(_ => new byte[SyntheticTraffic.Headroom + 128])];
    private int _cursor;
    private bool _replies;
    private long _now;

    [GlobalSetup]
    public void Setup()
    {
        var builder = new SwitchTablesBuilder();
        SyntheticTraffic.Check(builder.AddPort(PortA, Vni, MacA));
        SyntheticTraffic.Check(builder.AddPort(PortB, Vni, MacB));
        _tables = builder.Build(1, out var error) ?? throw new InvalidOperationException(error);

        var rules = new List<RuleSpec>();
        foreach (var port in new uint[] { 22, 80, 443, 8080 })
        {
            rules.Add(new RuleSpec(Direction.Inbound, 6, port, port, new CidrSpec("0.0.0.0", 0), null));
        }
        rules.Add(new RuleSpec(Direction.Inbound, 17, 53, 53, new CidrSpec("0.0.0.0", 0), null));
        rules.Add(new RuleSpec(Direction.Inbound, 1, null, null, new CidrSpec("0.0.0.0", 0), null));
        rules.Add(new RuleSpec(Direction.Inbound, 17, 9, 9, new CidrSpec("198.18.0.0", 15), null));
        var state = ConfigurationState.Empty.Apply(new SecurityGroupDefined("web", [], rules));
        string[] ips = ["198.18.0.2", .. Enumerable.Range(0, 256).Select(x => $"198.18.{x}.3")];
        var ports = new Dictionary<string, FirewallPort>(StringComparer.Ordinal);
        foreach (var (id, mac, port) in new[] { ("a", MacA, PortA), ("b", MacB, PortB) })
        {
            state = state.Apply(new NicAdded(new NicSpec(id, mac.ToString(), Vni, ips, ["web"], Type: NicType.VhostUserServer)));
            ports[id] = new FirewallPort(port, (1u << 16) | port);
        }
        _policy = new PolicyCompiler().Compile(state, ports, 2, 1);
        _stage = new FirewallStage(1 << 20, ConntrackTimeouts.Default, cutEstablished: false);
        _now = Stopwatch.GetTimestamp();

        // testpmd's multi-flow frames from 198.18.<x>.3, and the generator's 5tswap answers.
        for (var x = 0; x < Flows; x++)
        {
            var client = 0xC612_0003u | ((uint)x << 8);
            _fromA[x] = FirewallBenchmarks.Frame(MacA, MacB, client, 9, 0xC612_0002u, 9);
            _fromB[x] = FirewallBenchmarks.Frame(MacB, MacA, 0xC612_0002u, 9, client, 9);
        }
        for (var i = 0; i < 2 * Flows / SyntheticTraffic.BurstSize; i++)
        {
            if (Loop() != SyntheticTraffic.BurstSize)
            {
                throw new InvalidOperationException("the loop's frames do not pass the firewall");
            }
        }
        if (_stage.Count != 2 * Flows)
        {
            throw new InvalidOperationException($"{_stage.Count} connections tracked, {2 * Flows} wanted");
        }
    }

    [GlobalCleanup]
    public void Dispose() => _stage?.Dispose();

    /// <summary>One burst of 32 established frames from one NIC to the other; returns how many passed.</summary>
    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    [SkipLocalsInit]
    public int Loop()
    {
        var policy = _policy;
        var now = _now;
        var ingress = _replies ? PortB : PortA;
        var frames = _replies ? _fromB : _fromA;
        var filter = policy.FilterOf(ingress)!;
        Span<PacketMeta> metas = stackalloc PacketMeta[SyntheticTraffic.BurstSize];
        Span<DropReason> reasons = stackalloc DropReason[SyntheticTraffic.BurstSize];
        Span<ForwardDecision> decisions = stackalloc ForwardDecision[SyntheticTraffic.BurstSize];
        Span<FlowLookup> lookups = stackalloc FlowLookup[SyntheticTraffic.BurstSize];
        Span<uint> ingressHashes = stackalloc uint[SyntheticTraffic.BurstSize];
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            var frame = _burst[i].AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength);
            frames[_cursor + i].AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength).CopyTo(frame);
            var reason = PacketParser.Parse(frame, out metas[i]);
            if (reason == DropReason.None)
            {
                reason = _stage.StartFromNic(filter, frame, metas[i], out lookups[i]);
            }
            reasons[i] = reason;
            if (reason != DropReason.None)
            {
                continue;
            }
            ref var d = ref decisions[i];
            d = SwitchStage.FromLocal(_tables, _learned, ingress, metas[i], now);
            if (d.Kind == ForwardKind.Local)
            {
                ingressHashes[i] = _stage.StartToNic(policy.FilterOf(d.Port)!, lookups[i]);
            }
        }
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            if (reasons[i] == DropReason.None)
            {
                _stage.PrefetchConnection(lookups[i]);
                if (decisions[i].Kind == ForwardKind.Local)
                {
                    _stage.PrefetchConnection(lookups[i], ingressHashes[i]);
                }
            }
        }
        var passed = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            var frame = _burst[i].AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength);
            if (reasons[i] != DropReason.None || _stage.FinishFromNic(filter, policy, frame, metas[i], lookups[i], now) != DropReason.None)
            {
                continue;
            }
            ref readonly var d = ref decisions[i];
            if (d.Kind == ForwardKind.Local && _stage.FinishToNic(policy.FilterOf(d.Port)!, policy, frame, metas[i], lookups[i], ingressHashes[i], now) == DropReason.None)
            {
                passed++;
            }
        }
        if (_replies)
        {
            var next = _cursor + SyntheticTraffic.BurstSize;
            _cursor = next >= Flows ? 0 : next;
        }
        _replies = !_replies;
        return passed;
    }
}
