using Butterfly.TestKit;

namespace Butterfly.EndToEnd.Tests.Vm;

/// <summary>
/// A real virtual machine attaches to a vhost-user NIC and its frames reach the switch.
///
///   QEMU guest (TCG, virtio-net 52:54:00:00:00:11, eth0 10.0.0.1/24)
///        │ vhost-user socket of NIC vm1 (VNI 1)
///   butterflyd ── counts every frame the guest sends in nic_stats "in"
///
/// Nobody answers 10.0.0.2, so the guest's pings stay at ARP requests: those still leave the
/// VM and are what the counter must see.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class QemuVmTests
{
    private const string Mac = "52:54:00:00:00:11";

    /// <summary>An ARP request as a Linux guest sends it (no Ethernet padding over virtio).</summary>
    private const ulong ArpRequestBytes = 42;

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_guest_on_a_vhost_user_nic_runs_commands_and_its_frames_are_counted()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var client = daemon.CreateClient();
        var path = client.CallOk(TestKit.Requests.NicAdd(TestKit.Requests.Nic("vm1", Mac, 1))).NicAdd.Path;

        await using var guest = await QemuGuest.BootAsync(path, Mac);

        // The console loop reports exit codes and output as they are.
        Assert.Equal(new GuestResult(3, "hello\nworld"), await guest.RunAsync("echo hello; echo world >&2; exit 3", CommandTimeout));
        Assert.Equal(new GuestResult(0, string.Empty), await guest.RunAsync("true", CommandTimeout));

        // The NIC QEMU made is the one nic_add described.
        Assert.Equal(Mac, (await guest.RunOkAsync("cat /sys/class/net/eth0/address", CommandTimeout)).Trim());
        await guest.RunOkAsync("ip addr add 10.0.0.1/24 dev eth0", CommandTimeout);

        var before = client.CallOk(TestKit.Requests.NicStats("vm1")).NicStats.In;
        var ping = await guest.RunAsync("ping -c 3 -W 1 10.0.0.2", CommandTimeout);
        Assert.True(ping.ExitCode != 0 && ping.Output.Contains("3 packets transmitted", StringComparison.Ordinal), ping.Output);

        // At least one ARP request for 10.0.0.2 crossed the vhost-user rings.
        Assert.True(
            await Eventually.TrueAsync(() => client.CallOk(TestKit.Requests.NicStats("vm1")).NicStats.In >= before + ArpRequestBytes),
            $"nic_stats in stayed at {client.CallOk(TestKit.Requests.NicStats("vm1")).NicStats.In} (before ping: {before})\n{daemon.Tail()}\n{guest.Console}");
        Assert.False(daemon.HasExited);
    }
}
