using Butterfly.Infrastructure.Dpdk.Native;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// The ol_flags bits and the tx_offload bit-field layout the forwarder reads and writes to handle
/// a guest's checksum and segmentation requests (see Forwarder.Offload.cs), taken from the shim so
/// they follow the DPDK build. Static readonly: the JIT folds them into constants.
/// </summary>
internal static class MbufOffload
{
    internal static readonly int TxOffload = (int)Const(OffloadShim.TxOffloadOffset);
    internal static readonly int L2Shift = (int)Const(OffloadShim.L2LenShift);
    internal static readonly int L3Shift = (int)Const(OffloadShim.L3LenShift);
    internal static readonly int L4Shift = (int)Const(OffloadShim.L4LenShift);
    internal static readonly int TsoShift = (int)Const(OffloadShim.TsoSegszShift);

    /// <summary>RTE_MBUF_F_RX_L4_CKSUM_*: NONE is what the vhost library sets for a NEEDS_CSUM request (compliant mode).</summary>
    internal static readonly ulong RxL4Mask = Const(OffloadShim.RxL4CksumMask);
    internal static readonly ulong RxL4None = Const(OffloadShim.RxL4CksumNone);

    /// <summary>RTE_MBUF_F_RX_LRO: a TSO super-frame from a guest (compliant mode), its MSS in tso_segsz.</summary>
    internal static readonly ulong RxLro = Const(OffloadShim.RxLro);

    internal static readonly ulong TxTcpSeg = Const(OffloadShim.TxTcpSeg);
    internal static readonly ulong TxUdpSeg = Const(OffloadShim.TxUdpSeg);
    internal static readonly ulong TxL4Mask = Const(OffloadShim.TxL4Mask);
    internal static readonly ulong TxTcpCksum = Const(OffloadShim.TxTcpCksum);
    internal static readonly ulong TxUdpCksum = Const(OffloadShim.TxUdpCksum);
    internal static readonly ulong TxIpCksum = Const(OffloadShim.TxIpCksum);
    internal static readonly ulong TxIpv4 = Const(OffloadShim.TxIpv4);
    internal static readonly ulong TxIpv6 = Const(OffloadShim.TxIpv6);

    /// <summary>Every bit that may carry a request, in the RX form the vhost library uses or the TX form: one test per staged frame.</summary>
    internal static readonly ulong Requests = RxL4Mask | RxLro | TxL4Mask | TxTcpSeg | TxUdpSeg | TxIpCksum;

    /// <summary>Every bit the forwarder clears once a request is finished or rewritten.</summary>
    internal static readonly ulong All = Requests | TxIpv4 | TxIpv6;

    private static ulong Const(int which)
    {
        var value = OffloadShim.bf_offload_const(which);
        return value != ulong.MaxValue ? value : throw new InvalidOperationException($"the shim does not know offload constant {which}");
    }
}
