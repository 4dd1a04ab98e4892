using System.Diagnostics;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Benchmarks;

/// <summary>Same-host switching: parse + switch decision for a burst of 32 frames between local ports.</summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class SwitchingBenchmarks
{
    private SyntheticTraffic _traffic = null!;

    [GlobalSetup]
    public void Setup() => _traffic = new SyntheticTraffic(ipv6Underlay: false);

    /// <summary>Per frame: parse once, look the destination up in the VNI, pick the output port.</summary>
    [Benchmark(OperationsPerInvoke = SyntheticTraffic.BurstSize)]
    [SkipLocalsInit]
    public int SameHostSwitch()
    {
        var t = _traffic;
        var tables = t.Tables;
        var now = Stopwatch.GetTimestamp();
        var sum = 0;
        for (var i = 0; i < SyntheticTraffic.BurstSize; i++)
        {
            var frame = t.SameHost[i].AsSpan(SyntheticTraffic.Headroom, SyntheticTraffic.FrameLength);
            if (PacketParser.Parse(frame, out var meta) != DropReason.None)
            {
                continue;
            }
            var decision = SwitchStage.FromLocal(tables, t.Learned, t.IngressPorts[i], meta, now);
            sum += decision.Port;
        }
        return sum;
    }
}
