using System.Diagnostics;
using Butterfly.Infrastructure.Dpdk.Native;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Bench;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Stage: BENCH NICs, the packet thread's side. A BENCH NIC is a port whose frames the packet
/// thread makes and consumes itself (<see cref="BenchProbe"/>):
/// - polled like any port (<see cref="BenchPoll"/>): the answers it queued, then an echo request
///   when one is due, each in a fresh mbuf, go through <see cref="SwitchBurst"/> as frames from the
///   NIC: anti-spoofing, the NIC's egress firewall, switching, VXLAN encap, exactly as a VM's;
/// - frames switched to it (through its ingress firewall) are handed over at <see cref="Flush"/>
///   (<see cref="DeliverToBench"/>): parsed, answered into a fresh mbuf queued for the next poll,
///   or timed (echo replies), then freed.
/// Clock: the round's reading decides when a request is due; the request's send time and a
/// delivered batch's arrival time are read when they happen (one read per request, one per batch
/// delivered to the NIC), so a round trip does not include the rest of a round.
/// Drop reasons: <see cref="DropReason.NoMbuf"/> (no mbuf for a request or an answer),
/// <see cref="DropReason.TxFull"/> (answers beyond the queue), the parser's for frames it gets.
/// Thread: the packet thread. Per packet: no allocation, lock, syscall, exception or log.
/// </summary>
internal sealed unsafe partial class Forwarder
{
    /// <summary>BENCH ports by slot, this round's.</summary>
    private BenchPort?[] _benches = new BenchPort?[PortHandles.BenchSlots];

    /// <summary>Where an answer is built before it gets an mbuf of its own.</summary>
    private readonly byte[] _benchReply = new byte[2048];

    /// <summary>
    /// The frames the BENCH NIC on <paramref name="handle"/> sends now (queued answers, then a due
    /// request) into <paramref name="burst"/>; returns how many. Packet thread.
    /// </summary>
    internal int BenchPoll(ushort handle, nint* burst, long now)
    {
        var bench = _benches[PortHandles.BenchSlotOf(handle)];
        if (bench is null)
        {
            return 0;
        }
        var n = bench.TakeQueued(burst, PacketThread.BurstSize);
        if (n < PacketThread.BurstSize && bench.Probe.Due(now))
        {
            var m = AllocFrame(out var room);
            if (m != 0)
            {
                var length = bench.Probe.BuildRequest(room, Stopwatch.GetTimestamp());
                if (length == 0)
                {
                    Shim.bf_pktmbuf_free_bulk(&m, 1);
                }
                else
                {
                    new Mbuf(m).SetLength(length);
                    burst[n++] = m;
                }
            }
        }
        return n;
    }

    /// <summary>The <paramref name="n"/> frames switched to the BENCH NIC on <paramref name="port"/>; the caller frees them.</summary>
    private void DeliverToBench(ushort port, nint* frames, int n)
    {
        var bench = _benches[PortHandles.BenchSlotOf(port)];
        if (bench is null)
        {
            return;
        }
        var now = Stopwatch.GetTimestamp();
        for (var i = 0; i < n; i++)
        {
            var frame = new Mbuf(frames[i]).Head;
            if (PacketParser.Parse(frame, out var meta) != DropReason.None
                || bench.Probe.Receive(frame, meta, now, _benchReply, out var length) != BenchVerdict.Reply)
            {
                continue;
            }
            var m = AllocFrame(out var room);
            if (m == 0)
            {
                continue;
            }
            if (length > room.Length)
            {
                Shim.bf_pktmbuf_free_bulk(&m, 1);
                continue;
            }
            _benchReply.AsSpan(0, length).CopyTo(room);
            new Mbuf(m).SetLength(length);
            if (!bench.Enqueue(m))
            {
                _drops.Count(DropReason.TxFull);
                Shim.bf_pktmbuf_free_bulk(&m, 1);
            }
        }
    }
}
