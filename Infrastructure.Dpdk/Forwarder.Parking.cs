using System.Diagnostics;
using Butterfly.Infrastructure.Dpdk.Native;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Stage: frames waiting for the underlay next hop's MAC, like the kernel's ARP queue. The first
/// frames of a flow to a VTEP (or gateway) not resolved yet would otherwise be lost while the
/// ARP request / neighbour solicitation is answered — typically the first ping across hosts.
/// A few inner frames per next hop (<see cref="ParkedPerHop"/>, <see cref="ParkedCapacity"/> in
/// all) are parked in their mbufs, not yet encapsulated; after a round in which the underlay
/// brought an ARP/ND frame, and every <see cref="ParkRetryTicks"/>, they go through
/// <see cref="EncapTo"/> again: sent when the MAC is known, parked again while the request is
/// pending, dropped as <see cref="DropReason.EncapNeighbourUnresolved"/> after
/// <see cref="ParkTicks"/> or when the queue is full.
/// State: fixed arrays owned by the packet thread; no allocation after construction.
/// </summary>
internal sealed unsafe partial class Forwarder
{
    internal const int ParkedCapacity = 64;
    internal const int ParkedPerHop = 4;
    private static readonly long ParkTicks = Stopwatch.Frequency;
    private static readonly long ParkRetryTicks = Stopwatch.Frequency / 20;

    private readonly nint[] _parkedFrames = new nint[ParkedCapacity];
    private readonly ParkedFrame[] _parked = new ParkedFrame[ParkedCapacity];
    private int _parkedCount;
    private long _nextParkRetry;

    /// <summary>Set when the underlay brought an ARP/ND frame (a neighbour may have been learned).</summary>
    private bool _neighbourNews;

    /// <summary>What a parked frame needs to go through <see cref="EncapTo"/> again.</summary>
    private readonly record struct ParkedFrame(IpAddr Vtep, IpAddr NextHop, uint Vni, uint FlowHash, long Since);

    /// <summary>
    /// Parks <paramref name="m"/> (single segment, offloads already finished) until
    /// <paramref name="nextHop"/> resolves; false when its share of the queue is full.
    /// </summary>
    private bool Park(nint m, IpAddr vtep, IpAddr nextHop, uint vni, uint flowHash, long since)
    {
        if (_parkedCount == ParkedCapacity)
        {
            return false;
        }
        var sameHop = 0;
        for (var i = 0; i < _parkedCount; i++)
        {
            if (_parked[i].NextHop == nextHop && ++sameHop == ParkedPerHop)
            {
                return false;
            }
        }
        // The checksum of a guest's offload request was finished before: nothing to redo.
        *(ulong*)((byte*)m + MbufLayout.OlFlags) = 0;
        _parkedFrames[_parkedCount] = m;
        _parked[_parkedCount++] = new ParkedFrame(vtep, nextHop, vni, flowHash, since);
        return true;
    }

    /// <summary>Retries the parked frames when something may have changed; once per round, cheap when nothing is parked.</summary>
    private void RetryParked(long now)
    {
        if (_parkedCount == 0 || (!_neighbourNews && now < _nextParkRetry))
        {
            return;
        }
        _neighbourNews = false;
        _nextParkRetry = now + ParkRetryTicks;
        // Each frame leaves its slot before EncapTo may park it again at the (lower or equal) end.
        var n = _parkedCount;
        _parkedCount = 0;
        for (var i = 0; i < n; i++)
        {
            var m = _parkedFrames[i];
            var e = _parked[i];
            var reason = now - e.Since > ParkTicks
                ? DropReason.EncapNeighbourUnresolved
                : EncapTo(m, e.Vtep, e.Vni, e.FlowHash, now, NoSender, e.Since);
            if (reason != DropReason.None)
            {
                _drops.Count(reason);
                Shim.bf_pktmbuf_free_bulk(&m, 1);
            }
        }
        FlushAll();
    }

    /// <summary>Frees what is still parked (the forwarder is going away).</summary>
    private void FreeParked()
    {
        for (var i = 0; i < _parkedCount; i++)
        {
            var m = _parkedFrames[i];
            Shim.bf_pktmbuf_free_bulk(&m, 1);
        }
        _parkedCount = 0;
    }
}
