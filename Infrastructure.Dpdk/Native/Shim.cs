using System.Runtime.InteropServices;
using System.Text;

namespace Butterfly.Infrastructure.Dpdk.Native;

/// <summary>
/// The P/Invoke surface of libbutterfly_shim.so (see native/butterfly_shim.h for the contract of
/// each function and the thread that may call it). Every signature is blittable. Only the
/// per-burst calls carry [SuppressGCTransition]: they are short and never block, whereas every
/// other call may block (hotplug and vhost unregistration wait for other threads, EAL init loads plugins) and a GC
/// must be able to run meanwhile.
/// </summary>
internal static unsafe class Shim
{
    private const string Lib = "butterfly_shim";

    /// <summary>Order of the values written by <see cref="bf_port_stats"/> (enum bf_stat).</summary>
    internal const int StatIPackets = 0, StatOPackets = 1, StatIBytes = 2, StatOBytes = 3,
        StatIMissed = 4, StatIErrors = 5, StatOErrors = 6, StatRxNoMbuf = 7, StatCount = 8;

    [DllImport(Lib)] internal static extern int bf_eal_init(int argc, byte** argv);
    [DllImport(Lib)] internal static extern int bf_eal_cleanup();
    [DllImport(Lib)] internal static extern int bf_eal_runtime_dir(byte* buf, nuint len);
    [DllImport(Lib)] internal static extern void bf_strerror(int errnum, byte* buf, nuint len);
    [DllImport(Lib)] internal static extern int bf_max_ports();
    [DllImport(Lib)] internal static extern byte* bf_dpdk_static_drivers();
    [DllImport(Lib)] internal static extern int bf_is_socket(byte* path);

    [DllImport(Lib)] internal static extern int bf_thread_register();
    [DllImport(Lib)] internal static extern void bf_thread_unregister();

    [DllImport(Lib)] internal static extern int bf_mempool_create(byte* name, uint n, nint* pool);
    [DllImport(Lib)] internal static extern void bf_mempool_free(nint pool);

    [DllImport(Lib)] internal static extern int bf_vdev_add(byte* name, byte* args);
    [DllImport(Lib)] internal static extern int bf_vdev_remove(byte* name);
    [DllImport(Lib)] internal static extern int bf_port_by_name(byte* name);
    [DllImport(Lib)] internal static extern int bf_port_next(ushort port);
    [DllImport(Lib)] internal static extern int bf_port_name(ushort port, byte* buf, nuint len);
    [DllImport(Lib)] internal static extern int bf_port_setup(ushort port, nint pool, ushort nbRxd, ushort nbTxd, int promisc);
    [DllImport(Lib)] internal static extern int bf_port_start(ushort port);
    [DllImport(Lib)] internal static extern int bf_port_stop(ushort port);
    [DllImport(Lib)] internal static extern int bf_port_close(ushort port);
    [DllImport(Lib)] internal static extern int bf_port_mtu(ushort port, ushort* mtu, ushort* maxMtu);
    [DllImport(Lib)] internal static extern int bf_port_set_mtu(ushort port, ushort mtu);
    [DllImport(Lib)] internal static extern int bf_port_mac(ushort port, byte* mac);
    [DllImport(Lib)] internal static extern int bf_port_stats(ushort port, ulong* stats);

    [DllImport(Lib)]
    internal static extern int bf_port_backing(ushort port, uint* ifIndex, byte* iface, nuint ifaceLength,
        byte* driver, nuint driverLength, byte* args, nuint argsLength);

    [DllImport(Lib)] internal static extern int bf_if_mtu(byte* ifname, uint* mtu);
    [DllImport(Lib)] internal static extern int bf_if_set_mtu(byte* ifname, uint mtu);

    [DllImport(Lib), SuppressGCTransition]
    internal static extern ushort bf_rx_burst(ushort port, ushort queue, nint* pkts, ushort n);

    [DllImport(Lib), SuppressGCTransition]
    internal static extern ushort bf_tx_burst(ushort port, ushort queue, nint* pkts, ushort n);

    [DllImport(Lib), SuppressGCTransition]
    internal static extern void bf_pktmbuf_free_bulk(nint* pkts, uint n);

    /// <summary>A deep copy of a frame from <paramref name="pool"/> (for floods), or 0 when the pool is empty.</summary>
    [DllImport(Lib), SuppressGCTransition]
    internal static extern nint bf_pktmbuf_copy(nint mbuf, nint pool);

    /// <summary>A fresh empty mbuf from <paramref name="pool"/> (ARP/ND requests), or 0 when the pool is empty.</summary>
    [DllImport(Lib), SuppressGCTransition]
    internal static extern nint bf_pktmbuf_alloc(nint pool);

    /// <summary>Bits of <see cref="VhostInfo.State"/> (enum bf_vhost_state).</summary>
    internal const uint VhostConnected = 1, VhostRunning = 2;

    /// <summary>struct bf_vhost_info.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct VhostInfo
    {
        internal uint State;
        internal int Vid;
        internal ulong Vrings;
        internal ulong Offered;
        internal ulong Negotiated;
    }

    [DllImport(Lib)] internal static extern int bf_vhost_slots();
    [DllImport(Lib)] internal static extern int bf_vhost_init(byte* wakeSocket);
    [DllImport(Lib)] internal static extern void bf_vhost_fini();
    [DllImport(Lib)] internal static extern void bf_vhost_kick();
    [DllImport(Lib)] internal static extern int bf_vhost_create(byte* path, int offerTso);
    [DllImport(Lib)] internal static extern int bf_vhost_destroy(int slot);
    [DllImport(Lib)] internal static extern int bf_vhost_info(int slot, VhostInfo* info);

    [DllImport(Lib)] internal static extern void bf_packet_thread_online(int online);

    /// <summary>May wait for one idle sleep of the packet thread: a normal (GC-transitioning) call.</summary>
    [DllImport(Lib)] internal static extern void bf_wait_quiescent();

    [DllImport(Lib), SuppressGCTransition]
    internal static extern void bf_quiescent();

    [DllImport(Lib), SuppressGCTransition]
    internal static extern ushort bf_vhost_dequeue(uint slot, nint pool, nint* pkts, ushort n);

    [DllImport(Lib), SuppressGCTransition]
    internal static extern ushort bf_vhost_enqueue(uint slot, nint* pkts, ushort n);

    [DllImport(Lib), SuppressGCTransition]
    internal static extern int bf_vhost_running(uint slot);

    [DllImport(Lib)] internal static extern int bf_mbuf_offset(int field);

    /// <summary>TSC cycles per second (rte_get_tsc_hz), 0 when unknown. After EAL init.</summary>
    [DllImport(Lib)] internal static extern ulong bf_tsc_hz();

    /// <summary>A NUL-terminated UTF-8 copy of <paramref name="s"/> for the native side.</summary>
    internal static byte[] Utf8Z(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }

    /// <summary>DPDK's text for a negative return value, e.g. "File exists (errno 17)".</summary>
    internal static string Error(int ret)
    {
        var errnum = ret < 0 ? -ret : ret;
        var buf = stackalloc byte[256];
        bf_strerror(errnum, buf, 256);
        return $"{Marshal.PtrToStringUTF8((nint)buf)} (errno {errnum})";
    }

    internal static string? PortName(ushort port)
    {
        var buf = stackalloc byte[64];
        return bf_port_name(port, buf, 64) < 0 ? null : Marshal.PtrToStringUTF8((nint)buf);
    }

    internal static int PortByName(string name)
    {
        fixed (byte* n = Utf8Z(name))
        {
            return bf_port_by_name(n);
        }
    }

    /// <summary>The DPDK drivers linked into the shim, or null when EAL loads DPDK's shared plugin directory.</summary>
    internal static string? StaticDrivers() => Marshal.PtrToStringUTF8((nint)bf_dpdk_static_drivers());

    internal static string? RuntimeDir()
    {
        var buf = stackalloc byte[4096];
        return bf_eal_runtime_dir(buf, 4096) < 0 ? null : Marshal.PtrToStringUTF8((nint)buf);
    }

    /// <summary>1 when <paramref name="path"/> is a unix socket, 0 when it is another file, -errno (ENOENT) otherwise.</summary>
    internal static int IsSocket(string path)
    {
        fixed (byte* p = Utf8Z(path))
        {
            return bf_is_socket(p);
        }
    }
}
