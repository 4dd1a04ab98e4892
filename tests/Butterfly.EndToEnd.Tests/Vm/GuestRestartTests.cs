using System.Globalization;
using Butterfly.TestKit;

namespace Butterfly.EndToEnd.Tests.Vm;

/// <summary>
/// Either end of a vhost-user connection restarts and traffic resumes, with two real virtual
/// machines in one VNI on one daemon (as in <see cref="TwoVmTests"/>).
///
///   guest 1 (10.0.4.1) ──vhost-user NIC vm1──┐               ┌──vhost-user NIC vm2── guest 2 (10.0.4.2)
///                                            └─ butterflyd ──┘
///   reboot: guest 2 resets inside QEMU; the connection stays, the device stops and starts again.
///   crash:  butterflyd is SIGKILLed and restarted on its event log and socket directory; QEMU
///           (reconnect=1) dials the re-created sockets again and the guests never notice but
///           for a link flap.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class GuestRestartTests
{
    private const string Mac1 = "52:54:00:00:00:41";
    private const string Mac2 = "52:54:00:00:00:42";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Both scenarios on one pair of guests, one after the other: on two cores booting the pair
    /// is what costs most, and each scenario ends with the pair working as it started.
    /// </summary>
    [Fact]
    public async Task Guests_ping_again_after_one_reboots_and_after_the_daemon_is_killed_and_restarted()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var client = daemon.CreateClient();
        client.CallOk(TestKit.Requests.SgAddOpen());
        var path1 = client.CallOk(TestKit.Requests.NicAdd(TestKit.Requests.Nic("vm1", Mac1, 7, sgs: [TestKit.Requests.OpenGroup]))).NicAdd.Path;
        var path2 = client.CallOk(TestKit.Requests.NicAdd(TestKit.Requests.Nic("vm2", Mac2, 7, sgs: [TestKit.Requests.OpenGroup]))).NicAdd.Path;
        var guests = await QemuGuest.BootAllAsync([(path1, Mac1), (path2, Mac2)]);
        await using var guest1 = guests[0];
        await using var guest2 = guests[1];
        await guest1.RunOkAsync("ip addr add 10.0.4.1/24 dev eth0", CommandTimeout);
        await guest2.RunOkAsync("ip addr add 10.0.4.2/24 dev eth0", CommandTimeout);
        await AssertPings(guest1, "10.0.4.2", daemon, "before the reboot");

        await ARebootedGuestComesBack(daemon, client, guest1, guest2);
        await PingsResumeAfterTheDaemonIsKilledAndRestarted(daemon, guest1, guest2);
    }

    private static async Task ARebootedGuestComesBack(DaemonProcess daemon, ApiClient client, QemuGuest guest1, QemuGuest guest2)
    {
        var before = client.CallOk(TestKit.Requests.NicStats("vm2")).NicStats;

        await guest2.RebootAsync();

        // A fresh boot: the NIC is the same, its address is gone until set again.
        Assert.Equal(Mac2, (await guest2.RunOkAsync("cat /sys/class/net/eth0/address", CommandTimeout)).Trim());
        Assert.DoesNotContain("10.0.4.2", await guest2.RunOkAsync("ip -4 addr show dev eth0", CommandTimeout), StringComparison.Ordinal);
        await guest2.RunOkAsync("ip addr add 10.0.4.2/24 dev eth0", CommandTimeout);

        await AssertPings(guest2, "10.0.4.1", daemon, "rebooted guest → other guest");
        await AssertPings(guest1, "10.0.4.2", daemon, "other guest → rebooted guest");

        // The NIC's counters went on from where they were: three echo requests and three
        // replies each way since, at 98 bytes each, on top of what the first boot did.
        var after = client.CallOk(TestKit.Requests.NicStats("vm2")).NicStats;
        Assert.True(after.In >= before.In + (6 * 98), $"vm2 in: {before.In} → {after.In}");
        Assert.True(after.Out >= before.Out + (6 * 98), $"vm2 out: {before.Out} → {after.Out}");
        Assert.False(daemon.HasExited);
    }

    private static async Task PingsResumeAfterTheDaemonIsKilledAndRestarted(DaemonProcess daemon, QemuGuest guest1, QemuGuest guest2)
    {
        // A continuous ping in the guest, five a second, its output in a file of the guest.
        await guest1.RunOkAsync("ping -i 0.2 10.0.4.2 > /tmp/p 2>&1 &", CommandTimeout);
        Assert.True(await EventuallyAsync(async () => await Replies(guest1) >= 3), "the background ping gets replies");

        daemon.Kill();
        Assert.False(guest1.HasExited || guest2.HasExited, "QEMU outlives its vhost-user backend");

        // Nothing can answer while the daemon is down; what is in the file now is from before.
        await Task.Delay(TimeSpan.FromSeconds(1));
        var beforeRestart = await Replies(guest1);
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(beforeRestart, await Replies(guest1));

        await daemon.RestartAsync();

        // The same ping, untouched, gets answers again once QEMU has reconnected (it retries
        // every second) and the guests' links are back up.
        Assert.True(await EventuallyAsync(async () => await Replies(guest1) > beforeRestart + 3, TimeSpan.FromSeconds(60)),
            $"the background ping stayed at {beforeRestart} replies after the restart\n{await guest1.RunOkAsync("tail -n 5 /tmp/p", CommandTimeout)}\n{daemon.Tail()}");
        await AssertPings(guest2, "10.0.4.1", daemon, "after the restart, the other way");
        Assert.False(daemon.HasExited);
    }

    /// <summary>Three echo requests answered; -w bounds the run should ARP or a link take a while.</summary>
    private static async Task AssertPings(QemuGuest from, string to, DaemonProcess daemon, string what)
    {
        var ping = await from.RunAsync($"ping -c 3 -w 30 {to}", CommandTimeout);
        Assert.True(ping.ExitCode == 0 && ping.Output.Contains($"bytes from {to}", StringComparison.Ordinal),
            $"{what}: {ping.Output}\n{daemon.Tail()}\n--- guest console ---\n{from.Console}");
    }

    /// <summary>Echo replies the background ping of <paramref name="guest"/> has logged so far.</summary>
    private static async Task<int> Replies(QemuGuest guest) =>
        int.Parse((await guest.RunOkAsync("grep -c 'bytes from' /tmp/p || true", CommandTimeout)).Trim(), CultureInfo.InvariantCulture);

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(500);
        }

        return await condition();
    }
}
