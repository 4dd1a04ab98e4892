using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Capture;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Stage: packet capture (packet_trace per NIC, --packet-trace for the underlay), the packet
/// thread's side. Every port handle has a slot in the <see cref="CaptureRing"/> array the control
/// thread publishes (null when not traced), read once per round like the tables.
/// What a traced NIC's file gets, each frame once, after its verdict:
/// - from the NIC (inbound), in <see cref="SwitchBurst"/> right after parsing, anti-spoofing and
///   the egress firewall: <c>pass</c>, or <c>drop REASON</c> (a parse, anti-spoof or firewall drop);
/// - to the NIC (outbound) refused by its ingress firewall, in <see cref="Ingress"/>: <c>drop REASON</c>;
/// - to the NIC (outbound) passed, in <see cref="Flush"/> when it is handed to the port: <c>pass</c>
///   (switch-made frames, such as path-MTU answers, included), or <c>drop tx_full</c> when the
///   port did not take it (its ring full, or no frontend): the frames are staged in the ring
///   before they are sent (a tap's driver may free a frame before tx_burst returns) and published
///   once the port has said how many it took.
/// The underlay's file gets every frame as received (before decapsulation or an ARP/ND reply
/// rewrites it) and as sent, without a verdict.
/// Cost: untraced ports pay one array load and null test per RX burst, per flush and per refused
/// frame; traced ports one copy of at most the snap length per frame into the ring.
/// Thread: the packet thread only. Per packet: no allocation, lock, syscall, exception or log.
/// </summary>
internal sealed unsafe partial class Forwarder
{
    /// <summary>The rings of traced ports by handle, this round's.</summary>
    private CaptureRing?[] _captures;

    /// <summary>This round's clock reading, for frames captured where the caller has none (flushes).</summary>
    private long _now;

    /// <summary>Takes this round's capture rings, BENCH ports and clock. Packet thread, at the start of each round.</summary>
    internal void BeginRound(CaptureRing?[] captures, BenchPort?[] benches, long now)
    {
        _captures = captures;
        _benches = benches;
        _now = now;
    }

    /// <summary>Stages the <paramref name="n"/> frames about to be sent on traced <paramref name="port"/> in its ring, as passed.</summary>
    private void StageSent(CaptureRing ring, ushort port, nint* frames, int n)
    {
        var verdict = port == _underlayPort ? CaptureRing.NoVerdict : (byte)DropReason.None;
        for (var i = 0; i < n; i++)
        {
            var m = new Mbuf(frames[i]);
            _captureOffsets[i] = ring.Stage(m.Head, m.PacketLength, _now, CaptureDirection.Outbound, verdict);
        }
    }

    /// <summary>Marks the staged frames the port did not take (<paramref name="sent"/> .. <paramref name="n"/>) dropped, then publishes them all.</summary>
    private void PublishSent(CaptureRing ring, ushort port, int sent, int n)
    {
        if (port != _underlayPort)
        {
            for (var i = sent; i < n; i++)
            {
                if (_captureOffsets[i] >= 0)
                {
                    ring.SetVerdict(_captureOffsets[i], (byte)DropReason.TxFull);
                }
            }
        }
        ring.Publish();
    }
}
