using Butterfly.Infrastructure.Dpdk.Native;
using Butterfly.Infrastructure.Dpdk.Pipeline.Bench;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// A BENCH NIC's port: its probe (<see cref="BenchProbe"/>) and the answers it built (ARP,
/// neighbour advertisements, echo replies) waiting in their mbufs to leave from the NIC at its
/// next poll, like frames a guest queued. Published by slot (<see cref="PacketThread.PublishBenches"/>).
/// Thread: the packet thread while published; the control thread frees what is left
/// (<see cref="FreeQueued"/>) once the packet thread is past a quiescent point without it.
/// </summary>
internal sealed unsafe class BenchPort(BenchProbe probe)
{
    private readonly nint[] _queue = new nint[PacketThread.BurstSize];
    private int _count;

    public BenchProbe Probe { get; } = probe;

    /// <summary>Queues an answer; false when the queue is full (the caller frees it). Packet thread.</summary>
    public bool Enqueue(nint m)
    {
        if (_count == _queue.Length)
        {
            return false;
        }
        _queue[_count++] = m;
        return true;
    }

    /// <summary>Moves up to <paramref name="max"/> queued answers into <paramref name="burst"/>; returns how many. Packet thread.</summary>
    public int TakeQueued(nint* burst, int max)
    {
        var n = Math.Min(max, _count);
        for (var i = 0; i < n; i++)
        {
            burst[i] = _queue[i];
        }
        for (var i = n; i < _count; i++)
        {
            _queue[i - n] = _queue[i];
        }
        _count -= n;
        return n;
    }

    /// <summary>Frees the answers still queued. Control thread, after the port was unpublished and the packet thread quiescent.</summary>
    public void FreeQueued()
    {
        fixed (nint* q = _queue)
        {
            if (_count > 0)
            {
                Shim.bf_pktmbuf_free_bulk(q, (uint)_count);
            }
        }
        _count = 0;
    }
}
