namespace Butterfly.Infrastructure.Dpdk.Tests;

/// <summary>
/// The mbuf pool holds what can hold mbufs at once — the underlay's RX and TX rings, every tap
/// NIC's RX ring, two lcore caches and one vhost-user burst — rounded up to 2^n − 1, the size a
/// DPDK ring stores best.
/// </summary>
public class MbufPoolSizeTests
{
    private const int Underlay = 2 * 1024;
    private const int TapRx = 64;
    private const int LcoreCaches = 2 * 768;
    private const int VhostBurst = 32 * 32;

    [Fact]
    public void Default_build_with_32_ports_gets_8191_mbufs()
    {
        Assert.Equal(8191u, DpdkDataPath.PoolSizeFor(32));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(1024)]
    public void Every_ring_that_holds_mbufs_is_covered_and_the_size_is_two_to_the_n_minus_one(int maxPorts)
    {
        var size = DpdkDataPath.PoolSizeFor(maxPorts);

        Assert.True(size >= Underlay + ((maxPorts - 1) * TapRx) + LcoreCaches + VhostBurst, $"{size} mbufs for {maxPorts} ports");
        Assert.Equal(0u, (size + 1) & size);
    }

    [Fact]
    public void More_ports_never_get_fewer_mbufs()
    {
        Assert.True(DpdkDataPath.PoolSizeFor(1024) > DpdkDataPath.PoolSizeFor(32));
        Assert.True(DpdkDataPath.PoolSizeFor(32) >= DpdkDataPath.PoolSizeFor(1));
    }
}
