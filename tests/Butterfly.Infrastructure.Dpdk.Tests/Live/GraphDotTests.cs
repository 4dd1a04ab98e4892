using Butterfly.Domain.Nics;

namespace Butterfly.Infrastructure.Dpdk.Tests.Live;

[Collection(DataPathCollection.Name)]
public sealed class GraphDotTests(DataPathFixture fixture) : IDisposable
{
    private readonly DpdkDataPath _dp = fixture.DataPath;

    public void Dispose() => Assert.Empty(_dp.Reconcile([]));

    [Fact]
    public void The_graph_shows_every_port_with_its_device_and_path()
    {
        var tap = "bfg" + Guid.NewGuid().ToString("N")[..8];
        Assert.Empty(_dp.Reconcile([
            DataPathFixture.Nic("vm-dot", NicType.VhostUserServer),
            DataPathFixture.Nic(tap, NicType.Tap),
        ]));

        var dot = _dp.GraphDot();

        Assert.StartsWith("digraph butterfly {", dot, StringComparison.Ordinal);
        Assert.EndsWith("}\n", dot, StringComparison.Ordinal);
        Assert.Contains("net_tap0", dot, StringComparison.Ordinal);
        Assert.Contains("VTEP 127.0.0.1", dot, StringComparison.Ordinal);
        Assert.Contains("MTU 1400", dot, StringComparison.Ordinal);
        Assert.Contains("NIC vm-dot\\nvhost-user server\\nport handle ", dot, StringComparison.Ordinal);
        Assert.Contains("vhost-user slot ", dot, StringComparison.Ordinal);
        Assert.Contains("socket " + Path.Combine(fixture.SocketDir, "vm-dot") + "\\nwaiting for a frontend, TSO offered", dot, StringComparison.Ordinal);
        Assert.Contains($"NIC {tap}\\ntap\\nport handle ", dot, StringComparison.Ordinal);
        Assert.Contains("net_tap", dot, StringComparison.Ordinal);
        Assert.Contains("iface " + tap + "\\nkernel tap", dot, StringComparison.Ordinal);
        Assert.Contains("in 0 pkts 0 B, out 0 pkts 0 B, dropped 0", dot, StringComparison.Ordinal);
        Assert.Contains("3 ports polled", dot, StringComparison.Ordinal);
        Assert.Contains("underlay -> packet_thread", dot, StringComparison.Ordinal);
        Assert.Contains("packet_thread -> drop", dot, StringComparison.Ordinal);
    }
}
