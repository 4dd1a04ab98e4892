using Butterfly.EndToEnd.Tests.Frontends;
using Butterfly.TestKit;

namespace Butterfly.EndToEnd.Tests;

/// <summary>
/// A real vhost-user frontend (dpdk-testpmd's virtio-user, the same driver a guest runs)
/// attaches to a NIC's socket and sends frames; nic_stats counts their bytes.
///
///   testpmd (virtio-user, txonly) ──vhost-user socket──▶ butterflyd NIC ──▶ counted, dropped
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class VhostUserFrontendTests
{
    [Fact]
    public async Task Frames_from_an_attached_frontend_are_counted_in_nic_stats()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var client = daemon.CreateClient();
        var path = client.CallOk(ConfigurationProbe.NumberedNic(1)).NicAdd.Path;
        Assert.Equal(0UL, client.CallOk(TestKit.Requests.NicStats("nic1")).NicStats.In);

        using (VirtioUserFrontend.StartSending(path, "52:54:00:00:00:01"))
        {
            Assert.True(await Eventually.TrueAsync(() => client.CallOk(TestKit.Requests.NicStats("nic1")).NicStats.In > 0), daemon.Tail());
        }

        var stats = client.CallOk(TestKit.Requests.NicStats("nic1")).NicStats;
        Assert.Equal(0UL, stats.In % 64); // whole 64-byte frames, nothing else
    }

    [Fact]
    public async Task After_kill9_and_restart_a_reconnecting_frontend_is_counted_again()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        string path;
        using (var client = daemon.CreateClient())
        {
            path = client.CallOk(ConfigurationProbe.NumberedNic(3)).NicAdd.Path;
        }

        using (VirtioUserFrontend.StartSending(path, "52:54:00:00:00:03"))
        {
            using var client = daemon.CreateClient();
            Assert.True(await Eventually.TrueAsync(() => client.CallOk(TestKit.Requests.NicStats("nic3")).NicStats.In > 0), daemon.Tail());
            daemon.Kill();
        }

        await daemon.RestartAsync();
        using var after = daemon.CreateClient();
        Assert.True(File.Exists(path));
        using (VirtioUserFrontend.StartSending(path, "52:54:00:00:00:03"))
        {
            Assert.True(await Eventually.TrueAsync(() => after.CallOk(TestKit.Requests.NicStats("nic3")).NicStats.In > 0), daemon.Tail());
        }
    }

    [Fact]
    public async Task Nic_del_and_replacing_nic_add_while_a_frontend_is_attached_keep_the_daemon_serving()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var client = daemon.CreateClient();
        var path = client.CallOk(ConfigurationProbe.NumberedNic(4)).NicAdd.Path;
        using (VirtioUserFrontend.StartSending(path, "52:54:00:00:00:04"))
        {
            Assert.True(await Eventually.TrueAsync(() => client.CallOk(TestKit.Requests.NicStats("nic4")).NicStats.In > 0), daemon.Tail());

            // Replace the NIC (same id, new MAC) under traffic, then delete it.
            var replacement = TestKit.Requests.Nic("nic4", "52:54:00:00:01:04", 9);
            Assert.Equal(path, client.CallOk(TestKit.Requests.NicAdd(replacement)).NicAdd.Path);
            Assert.True(File.Exists(path));
            client.CallOk(TestKit.Requests.NicDel("nic4"));
            Assert.False(File.Exists(path));
        }

        Assert.Empty(ConfigurationProbe.NicIds(client));
        Assert.False(daemon.HasExited);
    }
}
