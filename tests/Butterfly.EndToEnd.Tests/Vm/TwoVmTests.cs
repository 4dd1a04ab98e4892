using Butterfly.TestKit;

namespace Butterfly.EndToEnd.Tests.Vm;

/// <summary>
/// Two real virtual machines on one daemon, in one VNI, reach each other through the switch.
///
///   guest 1 (52:54:00:00:00:21, 10.0.1.1/24)      guest 2 (52:54:00:00:00:22, 10.0.1.2/24)
///        │ vhost-user NIC vm1, VNI 7                    │ vhost-user NIC vm2, VNI 7
///        └────────────────── butterflyd ─────────────────┘
///
/// The ARP request is flooded, the reply and the ICMP frames are switched on the local MACs.
/// Both guests boot at once: on two cores that is what takes longest.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class TwoVmTests
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Two_guests_in_one_vni_on_one_daemon_ping_each_other()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var client = daemon.CreateClient();
        client.CallOk(TestKit.Requests.SgAddOpen());
        var path1 = client.CallOk(TestKit.Requests.NicAdd(TestKit.Requests.Nic("vm1", "52:54:00:00:00:21", 7, sgs: [TestKit.Requests.OpenGroup]))).NicAdd.Path;
        var path2 = client.CallOk(TestKit.Requests.NicAdd(TestKit.Requests.Nic("vm2", "52:54:00:00:00:22", 7, sgs: [TestKit.Requests.OpenGroup]))).NicAdd.Path;

        var guests = await QemuGuest.BootAllAsync([(path1, "52:54:00:00:00:21"), (path2, "52:54:00:00:00:22")]);
        await using var guest1 = guests[0];
        await using var guest2 = guests[1];
        await guest1.RunOkAsync("ip addr add 10.0.1.1/24 dev eth0", CommandTimeout);
        await guest2.RunOkAsync("ip addr add 10.0.1.2/24 dev eth0", CommandTimeout);

        // Exit code 0 from busybox ping means replies came back; -w bounds the run should the
        // first request wait on ARP longer than usual.
        var ping = await guest1.RunAsync("ping -c 3 -w 20 10.0.1.2", CommandTimeout);
        Assert.True(ping.ExitCode == 0, $"{ping.Output}\n{daemon.Tail()}\n--- guest 2 ---\n{guest2.Console}");
        Assert.Contains("bytes from 10.0.1.2", ping.Output, StringComparison.Ordinal);

        var back = await guest2.RunAsync("ping -c 2 -w 20 10.0.1.1", CommandTimeout);
        Assert.True(back.ExitCode == 0, back.Output);
        Assert.True(client.CallOk(TestKit.Requests.NicStats("vm2")).NicStats.Out > 0);
    }
}
