using System.Runtime.InteropServices;

namespace Butterfly.Infrastructure.Dpdk.Native;

/// <summary>
/// The shim's offload functions (native/offload.c and bf_vhost_guest_features in vhost.c; see
/// butterfly_shim.h), kept apart from <see cref="Shim"/> so the forwarder's offload code owns its
/// native surface. Same conventions: blittable signatures, [SuppressGCTransition] only on the
/// per-packet call, which is a short read that never blocks.
/// </summary>
internal static class OffloadShim
{
    private const string Lib = "butterfly_shim";

    /// <summary>Values of enum bf_offload_const.</summary>
    internal const int TxOffloadOffset = 0, L2LenShift = 1, L3LenShift = 2, L4LenShift = 3, TsoSegszShift = 4,
        RxL4CksumMask = 5, RxL4CksumNone = 6, RxLro = 7, TxTcpSeg = 8, TxUdpSeg = 9, TxL4Mask = 10,
        TxTcpCksum = 11, TxUdpCksum = 12, TxIpCksum = 13, TxIpv4 = 14, TxIpv6 = 15;

    /// <summary>An ol_flags bit, the tx_offload offset or a bit-field shift of this DPDK build; ulong.MaxValue if unknown.</summary>
    [DllImport(Lib)] internal static extern ulong bf_offload_const(int which);

    /// <summary>The virtio features the guest of a vhost-user slot negotiated; 0 when none is running. Packet thread.</summary>
    [DllImport(Lib), SuppressGCTransition]
    internal static extern ulong bf_vhost_guest_features(uint slot);
}
