using System.Diagnostics;
using System.Globalization;

namespace Butterfly.Benchmarks;

/// <summary>
/// <c>--quick</c>: times every benchmark burst by burst (many short samples instead of
/// BenchmarkDotNet's few long iterations) and prints the fastest and the median burst per packet.
/// On a machine shared with other work, the fastest burst is the cost of the code itself and
/// the median shows the noise; BenchmarkDotNet's mean mixes the two. Also checks that the
/// measured code allocated nothing.
/// </summary>
internal static class QuickRun
{
    private const int Bursts = 200_000;

    /// <param name="only">Runs only the benchmarks whose name starts with this (null: all).</param>
    public static void Run(string? only = null)
    {
        bool Wanted(string name) => only is null || name.StartsWith(only, StringComparison.Ordinal);
        if (Wanted("SameHostSwitch"))
        {
            var switching = new SwitchingBenchmarks();
            switching.Setup();
            Report("SameHostSwitch", "-", () => switching.SameHostSwitch());
        }
        if (only is null)
        {
            var stages = new StageBenchmarks();
            stages.Setup();
            Report("Parse", "-", () => stages.Parse());
            Report("SwitchToRemote", "-", () => stages.SwitchToRemote());
            Report("PathTo", "IPv4", () => stages.PathTo());
            Report("EncapWrite", "IPv4", () => stages.EncapWrite());
            Report("DecapValidate", "IPv4", () => stages.DecapValidate());
            Report("Learn", "-", () => stages.Learn());
            foreach (var ipv6 in new[] { false, true })
            {
                var vxlan = new VxlanBenchmarks { Ipv6Underlay = ipv6 };
                vxlan.Setup();
                var family = ipv6 ? "IPv6" : "IPv4";
                Report("Encap", family, () => vxlan.Encap());
                Report("Decap", family, () => vxlan.Decap());
                Report("EncapDecap", family, () => vxlan.EncapDecap());
            }
        }
        if (Wanted("EstablishedEncap") || Wanted("NewFlow"))
        {
            foreach (var flows in new[] { 1_000, 100_000 })
            {
                using var firewall = new FirewallBenchmarks { TrackedFlows = flows };
                firewall.Setup();
                Report($"EstablishedEncap {flows / 1000}k", "IPv4", () => firewall.EstablishedEncap());
                Report($"NewFlow {flows / 1000}k", "-", () => firewall.NewFlow());
            }
        }
        if (Wanted("LoopConntrack"))
        {
            using var loop = new LoopConntrackBenchmarks();
            loop.Setup();
            Report("LoopConntrack", "-", () => loop.Loop());
        }
    }

    /// <summary>
    /// <c>--policy</c>: the firewall's control side on 10 000 rules and 100 000 members — the
    /// time to compile everything (five times), and the distribution of 2 000 single rule
    /// changes and 2 000 single member changes compiled incrementally.
    /// </summary>
    public static void Policy()
    {
        var bench = new PolicyBenchmarks();
        bench.Setup();
        var loads = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            var start = Stopwatch.GetTimestamp();
            bench.LoadEverything();
            loads.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"load 10 000 rules + 100 000 members: min {loads.Min():F0} ms, max {loads.Max():F0} ms"));
        Percentiles("one rule change", bench.OneRuleChange);
        Percentiles("one member change", bench.OneMemberChange);
    }

    private static void Percentiles(string name, Func<long> change)
    {
        for (var i = 0; i < 200; i++)
        {
            change();
        }
        var samples = new double[2000];
        for (var i = 0; i < samples.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            change();
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(samples);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: p50 {samples[1000]:F3} ms, p99 {samples[1980]:F3} ms, max {samples[^1]:F3} ms"));
    }

    /// <summary>
    /// Runs one VXLAN benchmark (Encap, Decap, EncapDecap; suffix "6" for the IPv6 underlay) or
    /// SameHostSwitch or LoopConntrack for <paramref name="seconds"/>, for `perf record` with DOTNET_PerfMapEnabled=1.
    /// </summary>
    public static void Loop(string name, double seconds)
    {
        Func<int> burst;
        if (name == "SameHostSwitch")
        {
            var switching = new SwitchingBenchmarks();
            switching.Setup();
            burst = switching.SameHostSwitch;
        }
        else if (name == "LoopConntrack")
        {
            var loop = new LoopConntrackBenchmarks();
            loop.Setup();
            burst = loop.Loop;
        }
        else
        {
            var vxlan = new VxlanBenchmarks { Ipv6Underlay = name.EndsWith('6') };
            vxlan.Setup();
            burst = name.TrimEnd('6') switch
            {
                "Encap" => vxlan.Encap,
                "Decap" => vxlan.Decap,
                "EncapDecap" => vxlan.EncapDecap,
                _ => throw new ArgumentException($"unknown benchmark {name}", nameof(name)),
            };
        }
        var end = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        long bursts = 0;
        while (Stopwatch.GetTimestamp() < end)
        {
            for (var i = 0; i < 1000; i++)
            {
                burst();
            }
            bursts += 1000;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {seconds * 1e9 / (bursts * SyntheticTraffic.BurstSize):F1} ns per packet (wall clock, {bursts} bursts)"));
    }

    private static void Report(string name, string underlay, Func<int> burst)
    {
        for (var i = 0; i < Bursts / 10; i++)
        {
            burst();
        }
        var samples = new long[Bursts];
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < samples.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            burst();
            samples[i] = Stopwatch.GetTimestamp() - start;
        }
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        var mean = 0.0;
        foreach (var sample in samples)
        {
            mean += sample;
        }
        mean /= samples.Length;
        Array.Sort(samples);
        var perPacket = 1e9 / Stopwatch.Frequency / SyntheticTraffic.BurstSize;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name,-14} | {underlay,-8} | {samples[0] * perPacket,8:F1} ns | {samples[samples.Length / 2] * perPacket,8:F1} ns | {mean * perPacket,8:F1} ns | {allocated,5} B |"));
    }
}
