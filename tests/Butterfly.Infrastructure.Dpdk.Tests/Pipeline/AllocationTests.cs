using Butterfly.Domain.Events;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Frames;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

/// <summary>The per-packet paths allocate nothing (the benchmarks measure the same with BenchmarkDotNet).</summary>
public class AllocationTests
{
    /// <summary>
    /// Bytes the calling thread allocates in <paramref name="run"/> once warm: the fewest of a
    /// few runs after a warm-up. While the JIT is still installing optimised code (tiered
    /// compilation, on-stack replacement) a run can be charged a few kilobytes that are the
    /// runtime's, not the code's; code that allocates per packet allocates in every run.
    /// </summary>
    internal static long Allocated(Action<int> run, int iterations)
    {
        long Once()
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            run(iterations);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Once();
        return Enumerable.Range(0, 5).Min(_ => Once());
    }

    [Fact]
    public void Anti_spoof_conntrack_and_the_sweeper_allocate_nothing()
    {
        using var w = new FirewallWorld(capacity: 4096);
        w.Apply(new SecurityGroupDefined("g", ["10.0.0.1"], [FirewallWorld.InFromGroup(17, "g", 53, 53), FirewallWorld.In(6, "0.0.0.0/0", 80, 80)]));
        w.Groups("b", "g");
        var a = w.Nic("a");
        var b = w.Nic("b");
        var query = Packets.Udp("10.0.0.1", 5000, "10.0.0.2", 53);
        var answer = Packets.Udp("10.0.0.2", 53, "10.0.0.1", 5000, srcMac: Packets.MacB);
        var syn = Packets.Tcp("10.0.0.1", 6000, "10.0.0.2", 80, Packets.Syn);
        var q = Packets.Parse(query);
        var r = Packets.Parse(answer);
        var s = Packets.Parse(syn);
        var stage = w.Stage;
        var policy = w.Policy;

        var bytes = Allocated(n =>
        {
            for (var i = 0; i < n; i++)
            {
                var now = w.Now + i;
                stage.FromNic(a, policy, query, q, now);
                stage.ToNic(b, policy, query, q, now);
                stage.FromNic(b, policy, answer, r, now);
                stage.ToNic(a, policy, answer, r, now);
                // A new TCP flow each time (the source port moves), then swept when it has expired.
                syn[34] = (byte)(i >> 8);
                syn[35] = (byte)i;
                PacketParser.Parse(syn, out var meta);
                stage.FromNic(a, policy, syn, meta, now);
                stage.ToNic(b, policy, syn, meta, now);
                stage.Sweep(policy, now + (200 * FirewallWorld.Second), 16);
            }
        }, 2000);
        Assert.Equal(0, bytes);
        Assert.NotEqual(0UL, stage.Opened);
    }

    [Fact]
    public void Parse_switch_encap_decap_and_learn_allocate_nothing()
    {
        var builder = new SwitchTablesBuilder();
        builder.AddPort(1, 42, Vm1);
        var tables = builder.Build(1, out _)!;
        var learned = new LearnedFdb(1024, 1_000_000);
        var neighbours = new NeighbourTable(64, 1000, 100, 10_000);
        var us = Us();
        var peer = Peer();
        neighbours.Update(PeerV4, PeerMac, 0, create: true);
        var inner = Hex(GoldenFrames.InnerUdp);
        var buffer = WithHeadroom(inner, 128);
        var reply = new byte[UnderlayStage.ReplyBufferLength];
        var arp = Hex(GoldenFrames.ArpRequestForUs);

        void Run(int iterations)
        {
            for (var i = 0; i < iterations; i++)
            {
                PacketParser.Parse(buffer.AsSpan(128, inner.Length), out var meta);
                var decision = SwitchStage.FromLocal(tables, learned, 1, meta, i);
                UnderlayRouting.PathTo(us, neighbours, PeerV4, i, out var path, out _);
                var offset = 128;
                var length = inner.Length;
                VxlanEncap.Encapsulate(buffer, ref offset, ref length, path, decision.Vni, FlowHash.Of(meta));
                var outer = buffer.AsSpan(offset, length);
                PacketParser.Parse(outer, out var outerMeta);
                var result = UnderlayStage.Process(outer, outerMeta, peer, neighbours, i, reply);
                var innerFrame = outer.Slice(result.Decap.InnerOffset, result.Decap.InnerLength);
                PacketParser.Parse(innerFrame, out var innerMeta);
                SwitchStage.FromUnderlay(tables, learned, result.Decap.Vni, result.Decap.RemoteVtep, innerMeta, i);
                PacketParser.Parse(arp, out var arpMeta);
                UnderlayStage.Process(arp, arpMeta, us, neighbours, i, reply);
                learned.Sweep(i, 8);
            }
        }

        Assert.Equal(0, Allocated(Run, 10_000));
    }
}
