using System.Diagnostics;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Benchmarks;

/// <summary>
/// Each stage alone on a burst of 32 frames (IPv4 underlay), to see where the time of the
/// composite benchmarks goes: parse, the local switch decision, the outer path lookup, the
/// encap write, the decap validation, and learning.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class StageBenchmarks
{
    private readonly PacketMeta[] _metas = new PacketMeta[SyntheticTraffic.BurstSize];
    private readonly PacketMeta[] _outerMetas = new PacketMeta[SyntheticTraffic.BurstSize];
    private readonly int[] _outerOffsets = new int[SyntheticTraffic.BurstSize];
    private readonly int[] _outerLengths = new int[SyntheticTraffic.BurstSize];
    private SyntheticTraffic _traffic = null!;
    private UnderlayPath _path;

    [GlobalSetup]
    public void Setup()
    {
        _traffic = new SyntheticTraffic(ipv6Underlay: false);
        UnderlayRouting.PathTo(_traffic.Us, _traffic.Neighbours, _traffic.PeerVtep, 1, out _path, out _);
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            var buffer = _traffic.ToRemote[i];
            PacketParser.Parse(buffer.AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength), out _metas[i]);
            var offset = SyntheticTraffic.Headroom;
            var length = SyntheticTraffic.FrameLength;
            VxlanEncap.Encapsulate(buffer, ref offset, ref length, _path, SyntheticTraffic.VniOf(i % SyntheticTraffic.Vnis), FlowHash.Of(_metas[i]));
            _outerOffsets[i] = offset;
            _outerLengths[i] = length;
            PacketParser.Parse(buffer.AsSpan(offset, length), out _outerMetas[i]);
        }
    }

    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    [SkipLocalsInit]
    public int Parse()
    {
        var sum = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            PacketParser.Parse(_traffic.ToRemote[i].AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength), out var meta);
            sum += meta.DestinationPort;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    public int SwitchToRemote()
    {
        var now = Stopwatch.GetTimestamp();
        var sum = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            sum += (int)SwitchStage.FromLocal(_traffic.Tables, _traffic.Learned, _traffic.IngressPorts[i], _metas[i], now).Vni;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    public int PathTo()
    {
        var now = Stopwatch.GetTimestamp();
        var sum = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            sum += (int)UnderlayRouting.PathTo(_traffic.Us, _traffic.Neighbours, _traffic.PeerVtep, now, out _, out _);
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    public int EncapWrite()
    {
        var sum = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            var offset = SyntheticTraffic.Headroom;
            var length = SyntheticTraffic.FrameLength;
            sum += (int)VxlanEncap.Encapsulate(_traffic.ToRemote[i], ref offset, ref length, _path, 1000, 0x1234_5678u + (uint)i);
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    public int DecapValidate()
    {
        var sum = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            var frame = _traffic.ToRemote[i].AsSpan(_outerOffsets[i], _outerLengths[i]);
            VxlanDecap.Decapsulate(frame, _outerMetas[i], _traffic.Peer, out var result);
            sum += result.InnerOffset;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    public int Learn()
    {
        var now = Stopwatch.GetTimestamp();
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            _traffic.PeerLearned.Learn(SyntheticTraffic.VniOf(i % SyntheticTraffic.Vnis), _metas[i].Source, _traffic.PeerVtep, now);
        }
        return _traffic.PeerLearned.Count;
    }
}
