using Butterfly.Infrastructure.Dpdk.Pipeline;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Frames;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

/// <summary>The per-packet paths allocate nothing (the benchmarks measure the same with BenchmarkDotNet).</summary>
public class AllocationTests
{
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

        long Run(int iterations)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
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
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Run(10_000);
        Assert.Equal(0, Run(10_000));
    }
}
