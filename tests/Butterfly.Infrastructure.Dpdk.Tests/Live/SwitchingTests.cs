using Butterfly.Domain.Nics;

namespace Butterfly.Infrastructure.Dpdk.Tests.Live;

/// <summary>
/// The packet thread switches between real ports: three kernel taps, t1 and t2 in VNI 42, t3
/// alone in VNI 43. Frames are written on a tap with an AF_PACKET socket (the kernel side of
/// the tap is the "VM"); the per-port counters and the drop reasons show where they went.
/// </summary>
[Collection(DataPathCollection.Name)]
public sealed class SwitchingTests(DataPathFixture fixture) : IDisposable
{
    private readonly DpdkDataPath _dp = fixture.DataPath;
    private readonly string _prefix = "bfs" + Guid.NewGuid().ToString("N")[..6];

    public void Dispose() => Assert.Empty(_dp.Reconcile([]));

    [Fact]
    public void A_broadcast_reaches_the_other_tap_of_the_vni_only()
    {
        var (t1, t2, t3) = Up();

        Send(t1.Id, "ff:ff:ff:ff:ff:ff", t1.Mac, 100);

        var c2 = DataPathFixture.WaitForCounters(_dp, t2.Id, c => c.PacketsOut > 0, () => _dp.GraphDot());
        Assert.True(c2.BytesOut >= 100, $"{c2.BytesOut} bytes out on t2");
        Assert.Equal(0UL, _dp.CountersOf(t3.Id)!.Value.PacketsOut);
    }

    [Fact]
    public void A_unicast_goes_to_the_port_owning_the_mac_in_the_vni_and_never_across_vnis()
    {
        var (t1, t2, t3) = Up();

        // To t3's MAC from t1: t3 is in another VNI, so this is unknown unicast in VNI 42 (t2 only).
        Send(t1.Id, t3.Mac, t1.Mac, 200);
        Send(t1.Id, t2.Mac, t1.Mac, 300);

        var c2 = DataPathFixture.WaitForCounters(_dp, t2.Id, c => c.BytesOut >= 500, () => _dp.GraphDot());
        Assert.True(c2.PacketsOut >= 2);
        Assert.Equal(0UL, _dp.CountersOf(t3.Id)!.Value.PacketsOut);
    }

    [Fact]
    public void A_frame_with_nowhere_to_go_is_counted_as_no_destination()
    {
        var (_, _, t3) = Up();

        Send(t3.Id, "ff:ff:ff:ff:ff:ff", t3.Mac, 64);

        DataPathFixture.WaitForCounters(_dp, t3.Id, c => c.Drops > 0, () => _dp.GraphDot());
        Assert.Contains("no_destination: ", _dp.GraphDot(), StringComparison.Ordinal);
    }

    private (Application.Ports.DataPathNic T1, Application.Ports.DataPathNic T2, Application.Ports.DataPathNic T3) Up()
    {
        var t1 = DataPathFixture.Nic(_prefix + "1", NicType.Tap, "02:bf:00:00:00:01");
        var t2 = DataPathFixture.Nic(_prefix + "2", NicType.Tap, "02:bf:00:00:00:02");
        var t3 = DataPathFixture.Nic(_prefix + "3", NicType.Tap, "02:bf:00:00:00:03") with { Vni = 43 };
        Assert.Empty(_dp.Reconcile([t1, t2, t3]));
        foreach (var tap in new[] { t1, t2, t3 })
        {
            // No IPv6 on the taps: its router solicitations and MLD reports would add frames.
            Shell.Run("sysctl", "-qw", $"net.ipv6.conf.{tap.Id}.disable_ipv6=1");
            Assert.Equal(0, Shell.Run("ip", "link", "set", "dev", tap.Id, "up").Code);
        }
        return (t1, t2, t3);
    }

    /// <summary>Writes one Ethernet frame of <paramref name="size"/> bytes on the kernel side of a tap.</summary>
    private static void Send(string iface, string destination, string source, int size)
    {
        var script = "import socket,sys; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0)); "
            + "m=lambda t: bytes.fromhex(t.replace(':','')); "
            + "s.send(m(sys.argv[2]) + m(sys.argv[3]) + b'\\x88\\xb5' + b'\\x00'*(int(sys.argv[4])-14))";
        var (code, output) = Shell.Run("/usr/bin/python3", "-c", script, iface, destination, source,
            size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, output);
    }
}
