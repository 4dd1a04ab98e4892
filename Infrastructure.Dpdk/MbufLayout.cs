using Butterfly.Infrastructure.Dpdk.Native;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Offsets of the struct rte_mbuf fields the packet stages read, taken from the shim's
/// offsetof() so they follow the DPDK build. Static readonly: once the type is initialised
/// (before the packet loop starts) the JIT folds them into constants.
/// </summary>
internal static class MbufLayout
{
    internal static readonly int BufAddr = Offset(0);
    internal static readonly int DataOff = Offset(1);
    internal static readonly int NbSegs = Offset(2);
    internal static readonly int Port = Offset(3);
    internal static readonly int OlFlags = Offset(4);
    internal static readonly int PktLen = Offset(5);
    internal static readonly int DataLen = Offset(6);
    internal static readonly int Next = Offset(7);
    internal static readonly int Size = Offset(8);
    internal static readonly int BufLen = Offset(9);

    private static int Offset(int field)
    {
        var offset = Shim.bf_mbuf_offset(field);
        return offset >= 0 ? offset : throw new InvalidOperationException($"the shim does not know mbuf field {field}");
    }
}
