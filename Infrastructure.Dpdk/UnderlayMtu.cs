using System.Globalization;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// What the underlay port runs on, as DPDK reports it: its driver and device arguments, the
/// Linux interface it is bound to (null for a port of its own, such as a physical NIC), and
/// the MTU ethdev records for it with the largest ethdev accepts.
/// </summary>
internal sealed record UnderlayBacking(string Driver, string Args, string? Interface, int EthdevMtu, int EthdevMaxMtu);

/// <summary>How <c>--nic-mtu</c> is applied: through ethdev, or directly on the Linux interface; or why it cannot be.</summary>
internal readonly record struct MtuPlan(int? ViaEthdev, int? ViaInterface, string? Error);

/// <summary>
/// The underlay MTU: what the underlay can really carry, and how <c>--nic-mtu</c> reaches it.
///
/// A physical port keeps the ethdev MTU. A port on a Linux interface (af_packet, af_xdp, tap)
/// carries what the kernel lets that interface send and receive, its own MTU, which DPDK 22.11
/// does not read: ethdev keeps a 1500 of its own. So the underlay MTU is the interface's,
/// bounded by what the PMD can carry with this data path's mbufs (<see cref="PmdMaxMtu"/>).
/// ethdev also caps what it accepts by the PMD's max_rx_pktlen: 1500 for af_packet, although
/// it carries larger frames, so <c>--nic-mtu</c> above ethdev's cap but within the PMD's is set
/// on the interface itself. The tap PMD is the exception: it drops every frame it is asked to
/// send past the MTU ethdev records (+ 22 bytes), and ethdev accepts at most 1504 for it, so a
/// tap underlay carries the smaller of its interface's MTU and ethdev's.
/// Pure: <see cref="DpdkDataPath"/> reads the port and applies the plan. Control thread.
/// </summary>
internal static class UnderlayMtu
{
    /// <summary>RTE_MBUF_DEFAULT_DATAROOM: the data room of the pool's mbufs (a frame of the underlay is received into one).</summary>
    internal const int MbufDataRoom = 2048;

    /// <summary>XDP_PACKET_HEADROOM: the kernel keeps it in front of every AF_XDP frame.</summary>
    private const int XdpHeadroom = 256;

    /// <summary>
    /// af_packet's TPACKET_V2 ring puts a frame at TPACKET_ALIGN(TPACKET2_HDRLEN + 16) = 80 bytes
    /// into its slot minus the Ethernet header (tpacket_rcv's macoff), and cuts what does not fit:
    /// the largest MTU a slot of framesz bytes receives whole is framesz − 80.
    /// </summary>
    private const int AfPacketSlotOverhead = 80;

    /// <summary>The af_packet PMD's default framesz (DFLT_FRAME_SIZE).</summary>
    private const int AfPacketDefaultFrameSize = 2048;

    private const int EthernetHeader = 14;

    /// <summary>
    /// The largest MTU the PMD <paramref name="driver"/> carries on its Linux interface with
    /// these device arguments and the pool's mbufs, whatever ethdev accepts; null when ethdev's
    /// own MTU is the limit (the tap PMD, and ports not on a Linux interface).
    /// </summary>
    internal static int? PmdMaxMtu(string driver, string args) => driver switch
    {
        // RX slots of framesz bytes, copied into one mbuf each (measured: 1968 carried whole).
        "net_af_packet" => Math.Min(FrameSize(args) - AfPacketSlotOverhead, MbufDataRoom - EthernetHeader),
        // The umem's frames are the pool's mbufs: the kernel writes after its XDP headroom
        // (measured: 1778 carried whole).
        "net_af_xdp" => MbufDataRoom - XdpHeadroom - EthernetHeader,
        _ => null,
    };

    /// <summary>
    /// How to apply <paramref name="requested"/> (a number, or "max" for the most the port
    /// carries): through ethdev when it accepts the value (the PMD then sets the interface too),
    /// directly on the Linux interface when only ethdev's cap is in the way, or an error naming
    /// the limit.
    /// </summary>
    internal static MtuPlan Plan(UnderlayBacking port, string requested)
    {
        var pmdMax = port.Interface is null ? null : PmdMaxMtu(port.Driver, port.Args);
        int wanted;
        if (requested == "max")
        {
            wanted = pmdMax ?? port.EthdevMaxMtu;
        }
        else if (!int.TryParse(requested, NumberStyles.None, CultureInfo.InvariantCulture, out wanted))
        {
            return new MtuPlan(null, null, $"'{requested}' is not an MTU");
        }
        if (pmdMax is not { } max)
        {
            return new MtuPlan(wanted, null, null);
        }
        if (wanted > max)
        {
            return new MtuPlan(null, null,
                $"MTU {wanted} is more than {port.Driver} carries on {port.Interface} with this data path's {MbufDataRoom}-byte mbufs (at most {max})");
        }
        return wanted <= port.EthdevMaxMtu ? new MtuPlan(wanted, null, null) : new MtuPlan(null, wanted, null);
    }

    /// <summary>
    /// The MTU the underlay carries: a port on a Linux interface carries the interface's
    /// <paramref name="interfaceMtu"/> (null: unreadable, then ethdev's), at most what its PMD
    /// carries, or ethdev's MTU when that is the PMD's limit (<paramref name="warning"/> says so
    /// when the interface allows more); any other port carries its ethdev MTU.
    /// </summary>
    internal static int Effective(UnderlayBacking port, int? interfaceMtu, out string? warning)
    {
        warning = null;
        if (port.Interface is null)
        {
            return port.EthdevMtu;
        }
        if (interfaceMtu is not { } mtu)
        {
            warning = $"cannot read the MTU of {port.Interface}: the underlay MTU is ethdev's {port.EthdevMtu}";
            return port.EthdevMtu;
        }
        if (PmdMaxMtu(port.Driver, port.Args) is { } max)
        {
            if (mtu > max)
            {
                warning = $"{port.Interface} has MTU {mtu}, but {port.Driver} carries at most {max} with this data path's "
                    + $"{MbufDataRoom}-byte mbufs: the underlay MTU is {max}";
                return max;
            }
            return mtu;
        }
        if (mtu > port.EthdevMtu)
        {
            warning = $"{port.Interface} has MTU {mtu}, but {port.Driver} sends at most its ethdev MTU {port.EthdevMtu} "
                + $"(set it with --nic-mtu, up to {port.EthdevMaxMtu}): the underlay MTU is {port.EthdevMtu}";
            return port.EthdevMtu;
        }
        return mtu;
    }

    /// <summary>framesz=N of af_packet device arguments, or the PMD's default.</summary>
    private static int FrameSize(string args)
    {
        foreach (var part in args.Split(','))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && part.AsSpan(0, eq).Trim().SequenceEqual("framesz")
                && int.TryParse(part.AsSpan(eq + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var size))
            {
                return size;
            }
        }
        return AfPacketDefaultFrameSize;
    }
}
