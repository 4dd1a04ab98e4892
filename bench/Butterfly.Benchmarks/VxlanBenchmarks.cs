using System.Diagnostics;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Benchmarks;

/// <summary>
/// VXLAN on bursts of 32 frames, over an IPv4 and an IPv6 underlay:
/// - Encap: parse the VM's frame, switch it (a MAC learned behind the peer VTEP), resolve the
///   outer path (through the per-burst cache, as the packet thread does), write outer headers
///   into the headroom.
/// - Decap: parse the outer frame, validate and decapsulate, parse the inner frame, learn its
///   source and switch it to the local port.
/// - EncapDecap: both, one after the other on the same frame: the per-packet VXLAN cost the
///   issue's 60 ns target is about.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class VxlanBenchmarks
{
    private SyntheticTraffic _traffic = null!;
    private readonly int[] _outerOffsets = new int[SyntheticTraffic.BurstSize];
    private readonly int[] _outerLengths = new int[SyntheticTraffic.BurstSize];
    private readonly byte[] _reply = new byte[UnderlayStage.ReplyBufferLength];
    private readonly UnderlayPathCache _paths = new();

    [Params(false, true)]
    public bool Ipv6Underlay { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _traffic = new SyntheticTraffic(Ipv6Underlay);
        if (Encap() != SyntheticTraffic.BurstSize || Decap() != SyntheticTraffic.BurstSize)
        {
            throw new InvalidOperationException("the synthetic burst does not go through encap and decap");
        }
    }

    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    [SkipLocalsInit]
    public int Encap()
    {
        var t = _traffic;
        var now = Stopwatch.GetTimestamp();
        var sent = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            sent += EncapOne(t, i, now);
        }
        return sent;
    }

    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    [SkipLocalsInit]
    public int Decap()
    {
        var t = _traffic;
        var now = Stopwatch.GetTimestamp();
        var delivered = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            delivered += DecapOne(t, i, now);
        }
        return delivered;
    }

    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    [SkipLocalsInit]
    public int EncapDecap()
    {
        var t = _traffic;
        var now = Stopwatch.GetTimestamp();
        var delivered = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            EncapOne(t, i, now);
            delivered += DecapOne(t, i, now);
        }
        return delivered;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int EncapOne(SyntheticTraffic t, int i, long now)
    {
        var buffer = t.ToRemote[i];
        var offset = SyntheticTraffic.Headroom;
        var length = SyntheticTraffic.FrameLength;
        if (PacketParser.Parse(buffer.AsSpan(offset, length), out var meta) != DropReason.None)
        {
            return 0;
        }
        var decision = SwitchStage.FromLocal(t.Tables, t.Learned, t.IngressPorts[i], meta, now);
        if (decision.Kind != ForwardKind.Remote
            || _paths.PathTo(t.Us, t.Neighbours, decision.Vtep, now, out var path, out _) != PathStatus.Ready
            || VxlanEncap.Encapsulate(buffer, ref offset, ref length, path, decision.Vni, FlowHash.Of(meta)) != DropReason.None)
        {
            return 0;
        }
        _outerOffsets[i] = offset;
        _outerLengths[i] = length;
        return 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int DecapOne(SyntheticTraffic t, int i, long now)
    {
        var frame = t.ToRemote[i].AsSpan(_outerOffsets[i], _outerLengths[i]);
        if (PacketParser.Parse(frame, out var outer) != DropReason.None)
        {
            return 0;
        }
        var result = UnderlayStage.Process(frame, outer, t.Peer, t.Neighbours, now, _reply);
        if (result.Action != UnderlayAction.Decapsulated
            || PacketParser.Parse(frame.Slice(result.Decap.InnerOffset, result.Decap.InnerLength), out var inner) != DropReason.None)
        {
            return 0;
        }
        var decision = SwitchStage.FromUnderlay(t.PeerTables, t.PeerLearned, result.Decap.Vni, result.Decap.RemoteVtep, inner, now);
        return decision.Kind == ForwardKind.Local ? 1 : 0;
    }
}
