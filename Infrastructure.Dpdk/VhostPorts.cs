using Butterfly.Infrastructure.Dpdk.Native;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>State of a vhost-user NIC's socket and its frontend, as the shim's slot table says.</summary>
internal readonly record struct VhostState(bool Connected, bool Running, int Vid, ulong Offered, ulong Negotiated)
{
    /// <summary>VIRTIO_NET_F_HOST_TSO4: the guest may hand us TCP segments up to 64 KiB.</summary>
    internal bool OffersTso => (Offered & (1UL << 11)) != 0;

    internal string Describe() =>
        (Running ? $"frontend running (vid {Vid})" : Connected ? $"frontend negotiating (vid {Vid})" : "waiting for a frontend")
        + (OffersTso ? ", TSO offered" : ", TSO not offered");
}

/// <summary>
/// vhost-user NICs over the shim's vhost-library table (native/vhost.c), with errors as text.
/// A NIC costs a slot and a listening socket, no ethdev port and no mbuf until its guest
/// sends. Control thread only.
/// </summary>
internal static unsafe class VhostPorts
{
    /// <summary>
    /// DPDK 22.11's vhost library watches its listening sockets and connections with one
    /// poll() set of 1024 descriptors (MAX_FDS in lib/vhost/fd_man.h), one of them its own
    /// wake-up pipe. It is not configurable; it is named in errors so the limit is clear.
    /// </summary>
    internal const int LibraryDescriptors = 1024;

    /// <summary>
    /// Vhost-user NICs the library can listen for at once: its descriptors less its own pipe and
    /// the shim's wake socket. Each connected frontend takes one more.
    /// </summary>
    internal const int LibraryCapacity = LibraryDescriptors - 2;

    /// <summary>
    /// Vhost-user NICs a daemon makes at most: each takes a listening socket and, once its VM
    /// runs, a connection, so this many can all have their guest connected. A NIC beyond would
    /// get a socket its VM might never be served on (or none at all), so nic_add refuses it.
    /// </summary>
    internal const int NicCapacity = LibraryCapacity / 2;

    /// <summary>
    /// Registers the shim's wake socket (see native/vhost.c) in <paramref name="runtimeDir"/>,
    /// EAL's directory for this process. Returns an error text, or null; without it NICs still
    /// work but re-adding hundreds after removing hundreds can stall up to a second.
    /// </summary>
    internal static string? Initialize(string? runtimeDir)
    {
        if (runtimeDir is null)
        {
            return "EAL has no runtime directory for the vhost wake socket";
        }
        var path = Path.Combine(runtimeDir, "vhost-wake");
        int ret;
        fixed (byte* p = Shim.Utf8Z(path))
        {
            ret = Shim.bf_vhost_init(p);
        }
        if (ret < 0)
        {
            return $"cannot make the vhost wake socket '{path}': {Shim.Error(ret)}";
        }
        // Its first poll round started before the wake socket existed; this gets it watched
        // within a second, before anything needs it.
        Shim.bf_vhost_kick();
        return null;
    }

    /// <summary>Has the library watch sockets just created at once rather than within a second.</summary>
    internal static void Kick() => Shim.bf_vhost_kick();

    /// <summary>Unregisters the wake socket; after every NIC is gone.</summary>
    internal static void Shutdown() => Shim.bf_vhost_fini();

    /// <summary>Makes the server socket at <paramref name="path"/>; returns its slot, or the shim's -errno.</summary>
    internal static int Create(string path, bool offerTso)
    {
        fixed (byte* p = Shim.Utf8Z(path))
        {
            return Shim.bf_vhost_create(p, offerTso ? 1 : 0);
        }
    }

    /// <summary>Why <see cref="Create"/> failed, in words; <paramref name="nics"/> and <paramref name="connected"/> count the existing vhost NICs.</summary>
    internal static string CreateError(string path, int ret, int nics, int connected) => -ret switch
    {
        Errno.NoSpc => $"all {PortHandles.VhostSlots} vhost-user NIC slots are in use",
        Errno.NameTooLong => $"socket path '{path}' is too long for a unix socket",
        Errno.Io => $"DPDK's vhost library refused to register '{path}' (it holds at most {LibraryDescriptors} sockets; {nics} vhost-user NICs exist)",
        Errno.AddrNotAvail => $"cannot listen on '{path}': the path is taken by something that is not a socket, or DPDK 22.11's vhost "
            + $"library is full (its event loop watches at most {LibraryCapacity} listening sockets and connections together; "
            + $"{nics} vhost-user NICs exist, {connected} with a frontend connected)",
        _ => $"cannot create vhost-user socket '{path}': {Shim.Error(ret)}",
    };

    /// <summary>Closes the connection and socket of a slot the packet thread no longer polls; returns an error text or null.</summary>
    internal static string? Destroy(int slot, string path)
    {
        var ret = Shim.bf_vhost_destroy(slot);
        return ret switch
        {
            >= 0 => null,
            _ when -ret == Errno.Busy => $"DPDK's vhost library kept '{path}' busy for a second; its socket may stay until the daemon stops",
            _ => $"cannot close vhost-user socket '{path}' (slot {slot}): {Shim.Error(ret)}",
        };
    }

    internal static VhostState? State(int slot)
    {
        Shim.VhostInfo info;
        if (Shim.bf_vhost_info(slot, &info) < 0)
        {
            return null;
        }
        return new VhostState((info.State & Shim.VhostConnected) != 0, (info.State & Shim.VhostRunning) != 0,
            info.Vid, info.Offered, info.Negotiated);
    }

    /// <summary>The Linux errno values the shim returns here.</summary>
    private static class Errno
    {
        internal const int Io = 5, NoEnt = 2, Busy = 16, NoSpc = 28, NameTooLong = 36, AddrNotAvail = 99;
    }
}
