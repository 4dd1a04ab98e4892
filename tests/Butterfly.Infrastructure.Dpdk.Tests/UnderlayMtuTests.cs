namespace Butterfly.Infrastructure.Dpdk.Tests;

/// <summary>
/// The underlay MTU: a port on a Linux interface carries the interface's MTU within what its PMD
/// carries (the tap PMD: within ethdev's MTU); --nic-mtu goes through ethdev when it accepts the
/// value, past DPDK 22.11's cap onto the interface when the PMD carries it, and is refused beyond that.
/// </summary>
public class UnderlayMtuTests
{
    private static readonly UnderlayBacking AfPacket = new("net_af_packet", "iface=underlay", "underlay", 1500, 1500);
    private static readonly UnderlayBacking AfXdp = new("net_af_xdp", "iface=underlay,start_queue=0,queue_count=1", "underlay", 1500, 3542);
    private static readonly UnderlayBacking Tap = new("net_tap", "iface=bfu0", "bfu0", 1500, 1504);
    private static readonly UnderlayBacking Physical = new("net_ice", string.Empty, null, 1500, 9702);

    [Fact]
    public void Each_pmd_on_a_linux_interface_carries_what_one_mbuf_and_its_ring_hold()
    {
        Assert.Equal(2048 - 80, UnderlayMtu.PmdMaxMtu("net_af_packet", "iface=eth1"));
        Assert.Equal(1024 - 80, UnderlayMtu.PmdMaxMtu("net_af_packet", "iface=eth1,framesz=1024,blocksz=4096"));
        Assert.Equal(2048 - 14, UnderlayMtu.PmdMaxMtu("net_af_packet", "iface=eth1,framesz=4096"));
        Assert.Equal(2048 - 256 - 14, UnderlayMtu.PmdMaxMtu("net_af_xdp", "iface=eth1"));
        Assert.Null(UnderlayMtu.PmdMaxMtu("net_tap", "iface=bfu0"));
        Assert.Null(UnderlayMtu.PmdMaxMtu("net_pcap", "rx_pcap=a,tx_pcap=b"));
    }

    [Fact]
    public void Nic_mtu_within_ethdevs_cap_goes_through_ethdev_and_above_it_onto_the_interface()
    {
        Assert.Equal(new MtuPlan(1400, null, null), UnderlayMtu.Plan(AfPacket, "1400"));
        Assert.Equal(new MtuPlan(null, 1600, null), UnderlayMtu.Plan(AfPacket, "1600"));
        Assert.Equal(new MtuPlan(null, 1968, null), UnderlayMtu.Plan(AfPacket, "max"));
        Assert.Equal(new MtuPlan(1504, null, null), UnderlayMtu.Plan(Tap, "max"));
        Assert.Equal(new MtuPlan(1600, null, null), UnderlayMtu.Plan(Tap, "1600")); // ethdev refuses it, naming 1504
        Assert.Equal(new MtuPlan(1600, null, null), UnderlayMtu.Plan(AfXdp, "1600"));
        Assert.Equal(new MtuPlan(1778, null, null), UnderlayMtu.Plan(AfXdp, "max"));
    }

    [Fact]
    public void Nic_mtu_beyond_what_the_pmd_carries_is_refused_with_the_limit()
    {
        var plan = UnderlayMtu.Plan(AfPacket, "3000");

        Assert.Null(plan.ViaEthdev);
        Assert.Null(plan.ViaInterface);
        Assert.Contains("at most 1968", plan.Error, StringComparison.Ordinal);
        Assert.Contains("net_af_packet", plan.Error, StringComparison.Ordinal);
        Assert.Contains("at most 1778", UnderlayMtu.Plan(AfXdp, "2000").Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_physical_port_is_left_to_ethdev()
    {
        Assert.Equal(new MtuPlan(9000, null, null), UnderlayMtu.Plan(Physical, "9000"));
        Assert.Equal(new MtuPlan(9702, null, null), UnderlayMtu.Plan(Physical, "max"));
        Assert.Equal(1500, UnderlayMtu.Effective(Physical with { EthdevMtu = 1500 }, null, out var warning));
        Assert.Null(warning);
    }

    [Fact]
    public void The_underlay_carries_the_interfaces_mtu_within_what_the_pmd_carries()
    {
        Assert.Equal(1600, UnderlayMtu.Effective(AfPacket, 1600, out var warning));
        Assert.Null(warning);
        Assert.Equal(1400, UnderlayMtu.Effective(AfXdp, 1400, out _));

        Assert.Equal(1968, UnderlayMtu.Effective(AfPacket, 9000, out warning));
        Assert.Contains("underlay has MTU 9000", warning, StringComparison.Ordinal);
        Assert.Contains("the underlay MTU is 1968", warning, StringComparison.Ordinal);

        Assert.Equal(1500, UnderlayMtu.Effective(Tap, null, out warning));
        Assert.Contains("cannot read the MTU of bfu0", warning, StringComparison.Ordinal);

        // The tap PMD drops what it is asked to send past ethdev's MTU, whatever the interface allows.
        Assert.Equal(1400, UnderlayMtu.Effective(Tap, 1400, out warning));
        Assert.Null(warning);
        Assert.Equal(1500, UnderlayMtu.Effective(Tap, 9000, out warning));
        Assert.Contains("sends at most its ethdev MTU 1500", warning, StringComparison.Ordinal);
        Assert.Equal(1504, UnderlayMtu.Effective(Tap with { EthdevMtu = 1504 }, 1504, out _));
    }
}
