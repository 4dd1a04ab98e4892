using Butterfly.Infrastructure.Dpdk.Native;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>Raw counters of one DPDK port (rte_eth_stats).</summary>
internal readonly record struct PortStats(
    ulong IPackets, ulong OPackets, ulong IBytes, ulong OBytes, ulong IMissed, ulong IErrors, ulong OErrors, ulong RxNoMbuf);

/// <summary>
/// Port life cycle over the shim, with errors as text: create (hotplug + configure + start),
/// destroy (stop + close + unplug), read counters. Control thread only.
/// </summary>
internal static unsafe class DpdkPorts
{
    /// <summary>Hotplugs a virtual device and starts it; returns its port id, or an error text.</summary>
    internal static (ushort Port, string? Error) CreateVdev(string device, string args, nint pool, ushort rxd, ushort txd)
    {
        var (port, addError) = AddVdev(device, args);
        if (addError is not null)
        {
            return (0, addError);
        }
        var error = Setup(port, pool, rxd, txd, promiscuous: false) ?? Start(port);
        if (error is not null)
        {
            DestroyVdev(port, device);
            return (0, $"DPDK device {device}: {error}");
        }
        return (port, null);
    }

    /// <summary>Hotplugs a virtual device, neither configured nor started; returns its port id, or an error text.</summary>
    internal static (ushort Port, string? Error) AddVdev(string device, string args)
    {
        int port;
        fixed (byte* n = Shim.Utf8Z(device))
        fixed (byte* a = Shim.Utf8Z(args))
        {
            port = Shim.bf_vdev_add(n, a);
        }
        if (port < 0)
        {
            return (0, $"cannot add DPDK device {device} ({args}): {Shim.Error(port)}");
        }
        return ((ushort)port, null);
    }

    /// <summary>Configures one RX and one TX queue and starts the port.</summary>
    internal static string? Setup(ushort port, nint pool, ushort rxd, ushort txd, bool promiscuous)
    {
        var ret = Shim.bf_port_setup(port, pool, rxd, txd, promiscuous ? 1 : 0);
        if (ret < 0)
        {
            return $"cannot configure port {port}: {Shim.Error(ret)}";
        }
        return null;
    }

    internal static string? Start(ushort port)
    {
        var ret = Shim.bf_port_start(port);
        return ret < 0 ? $"cannot start port {port}: {Shim.Error(ret)}" : null;
    }

    /// <summary>Stops, closes and unplugs a device made by <see cref="CreateVdev"/>; returns the first error.</summary>
    internal static string? DestroyVdev(ushort port, string device)
    {
        var error = StopAndClose(port);
        fixed (byte* n = Shim.Utf8Z(device))
        {
            var ret = Shim.bf_vdev_remove(n);
            if (ret < 0 && error is null)
            {
                error = $"cannot remove DPDK device {device}: {Shim.Error(ret)}";
            }
        }
        return error;
    }

    /// <summary>Stops and closes a port (closing releases its port id); returns the first error.</summary>
    internal static string? StopAndClose(ushort port)
    {
        string? error = null;
        var ret = Shim.bf_port_stop(port);
        if (ret < 0)
        {
            error = $"cannot stop port {port}: {Shim.Error(ret)}";
        }
        ret = Shim.bf_port_close(port);
        if (ret < 0 && error is null)
        {
            error = $"cannot close port {port}: {Shim.Error(ret)}";
        }
        return error;
    }

    /// <summary>Sets the MTU: a number, or "max" for the largest the device accepts.</summary>
    internal static string? SetMtu(ushort port, string mtu)
    {
        ushort current, max;
        var ret = Shim.bf_port_mtu(port, &current, &max);
        if (ret < 0)
        {
            return $"cannot read the MTU of port {port}: {Shim.Error(ret)}";
        }
        var wanted = mtu == "max" ? max : ushort.Parse(mtu, System.Globalization.CultureInfo.InvariantCulture);
        ret = Shim.bf_port_set_mtu(port, wanted);
        return ret < 0 ? $"cannot set MTU {wanted} on port {port} (largest accepted: {max}): {Shim.Error(ret)}" : null;
    }

    internal static ushort? Mtu(ushort port)
    {
        ushort current, max;
        return Shim.bf_port_mtu(port, &current, &max) < 0 ? null : current;
    }

    internal static PortStats? Stats(ushort port)
    {
        var s = stackalloc ulong[Shim.StatCount];
        if (Shim.bf_port_stats(port, s) < 0)
        {
            return null;
        }
        return new PortStats(s[Shim.StatIPackets], s[Shim.StatOPackets], s[Shim.StatIBytes], s[Shim.StatOBytes],
            s[Shim.StatIMissed], s[Shim.StatIErrors], s[Shim.StatOErrors], s[Shim.StatRxNoMbuf]);
    }

    internal static string? Mac(ushort port)
    {
        var mac = stackalloc byte[6];
        if (Shim.bf_port_mac(port, mac) < 0)
        {
            return null;
        }
        return $"{mac[0]:x2}:{mac[1]:x2}:{mac[2]:x2}:{mac[3]:x2}:{mac[4]:x2}:{mac[5]:x2}";
    }

    /// <summary>Number of ports that exist now.</summary>
    internal static int Count()
    {
        var count = 0;
        for (var p = Shim.bf_port_next(0); p >= 0; p = Shim.bf_port_next((ushort)(p + 1)))
        {
            count++;
            if (p + 1 > ushort.MaxValue)
            {
                break;
            }
        }
        return count;
    }

    /// <summary>"name (port N)" of every port, for error messages.</summary>
    internal static string Describe()
    {
        var names = new List<string>();
        for (var p = Shim.bf_port_next(0); p >= 0 && p < ushort.MaxValue; p = Shim.bf_port_next((ushort)(p + 1)))
        {
            names.Add($"{Shim.PortName((ushort)p)} (port {p})");
        }
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }
}
