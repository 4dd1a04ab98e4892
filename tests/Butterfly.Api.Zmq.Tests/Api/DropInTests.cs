using System.Text.RegularExpressions;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.FileLog;
using Butterfly.TestKit;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>
/// Existing deployments, real daemons: EAL arguments without a device, NICs whose port does not
/// work, and event logs written before protocol revision 10 (each test has its own daemon).
/// </summary>
public partial class DropInTests
{
    [GeneratedRegex("the underlay is the tap interface (bfu[0-9a-f]{8}) ")]
    private static partial Regex FallbackTap();

    /// <summary>A NicAdded exactly as butterflyd wrote it before socket paths were recorded.</summary>
    private static NewEvent OldNicAdded(string id, string mac, uint vni) => new(
        "NicAdded", "nic", id,
        $$$"""{"nic":{"id":"{{{id}}}","mac":"{{{mac}}}","vni":{{{vni}}},"ips":[],"securityGroups":[],"ipAntiSpoof":false,"bypassFiltering":false,"type":"vhostUserServer","packetTrace":false}}""",
        "tcp://127.0.0.1:9999 peer 00800041a7", null);

    /// <summary>Writes a file event log holding <paramref name="events"/>, one batch each, in a new directory.</summary>
    private static async Task<string> WriteLogAsync(params NewEvent[] events)
    {
        var dir = Directory.CreateTempSubdirectory("bft-oldlog-").FullName;
        await using var store = await FileEventStore.OpenAsync(dir, Serilog.Core.Logger.None);
        foreach (var e in events)
        {
            await store.AppendAsync([e]);
        }

        return dir;
    }

    [Fact]
    public async Task Eal_arguments_naming_no_device_start_on_a_tap_underlay()
    {
        var prefix = "bft" + Ids.New("");
        await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions { DpdkArgs = $"--no-huge -m 256 --no-pci --file-prefix {prefix}" });

        // StartAsync returned: the API answers. The log says why the underlay is a tap, and names it.
        var tap = FallbackTap().Match(daemon.StandardError);
        Assert.True(tap.Success, daemon.Tail());
        Assert.True(Directory.Exists("/sys/class/net/" + tap.Groups[1].Value), $"the tap underlay {tap.Groups[1].Value} exists");
        using var api = daemon.CreateClient(TimeSpan.FromSeconds(30));
        Assert.Contains("net_tap0", ApiAssert.Ok(api.Call(Requests.AppStatus())).AppStatus.GraphDot, StringComparison.Ordinal);
        ApiAssert.Ok(api.Call(Requests.NicAdd(Ids.New("f"))));

        Assert.Equal(0, await daemon.StopAsync());
        Assert.False(Directory.Exists("/sys/class/net/" + tap.Groups[1].Value), "the tap underlay goes with the daemon");
    }

    [Fact]
    public async Task A_nic_whose_port_fails_shows_it_in_nic_details_and_app_status()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        var id = Ids.New("p");
        string path;
        using (var api = daemon.CreateClient(TimeSpan.FromSeconds(30)))
        {
            path = ApiAssert.Ok(api.Call(Requests.NicAdd(id))).NicAdd.Path;
            Assert.Empty(ApiAssert.Ok(api.Call(Requests.AppStatus())).AppStatus.NicPortError);
        }

        // While the daemon is down, something else takes the socket's place.
        await daemon.StopAsync();
        await File.WriteAllTextAsync(path, "not a socket");
        await daemon.RestartAsync();

        using var after = daemon.CreateClient(TimeSpan.FromSeconds(30));
        var details = Assert.Single(ApiAssert.Ok(after.Call(Requests.NicDetails(id))).NicDetails);
        Assert.Contains($"'{path}' exists and is not a socket", details.PortError, StringComparison.Ordinal);
        var status = ApiAssert.Ok(after.Call(Requests.AppStatus())).AppStatus;
        var error = Assert.Single(status.NicPortError);
        Assert.Equal((id, details.PortError), (error.NicId, error.Reason));
        Assert.False(status.HasDataPathError);

        // Once the way is clear, the next reconcile makes the port and the error goes.
        File.Delete(path);
        ApiAssert.Ok(after.Call(Requests.NicAdd(Requests.Nic(id, ips: ["10.0.0.1"]))));
        Assert.False(Assert.Single(ApiAssert.Ok(after.Call(Requests.NicDetails(id))).NicDetails).HasPortError);
        Assert.Empty(ApiAssert.Ok(after.Call(Requests.AppStatus())).AppStatus.NicPortError);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public async Task A_log_written_before_revision_10_restarts_with_its_socket_paths()
    {
        var log = await WriteLogAsync(OldNicAdded("old1", "52:54:00:00:0a:01", 5), OldNicAdded("old2", "52:54:00:00:0a:02", 5));
        try
        {
            await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions { EventStore = "file:" + log });
            var old1 = Path.Combine(daemon.SocketDir, "old1");
            var new1 = Path.Combine(daemon.SocketDir, "qemu-vhost-new1");
            using (var api = daemon.CreateClient(TimeSpan.FromSeconds(30)))
            {
                Assert.Equal([old1, Path.Combine(daemon.SocketDir, "old2")], ApiAssert.Ok(api.Call(Requests.NicDetails())).NicDetails.Select(n => n.Path));
                Assert.True(File.Exists(old1), "the socket is where the VM was told it is");

                // A new NIC gets the original's name; an old one re-added keeps its path.
                Assert.Equal(new1, ApiAssert.Ok(api.Call(Requests.NicAdd("new1"))).NicAdd.Path);
                Assert.Equal(old1, ApiAssert.Ok(api.Call(Requests.NicAdd(Requests.Nic("old1", "52:54:00:00:0a:01", 5, ["10.0.0.1"])))).NicAdd.Path);
                var recorded = ApiAssert.Ok(api.Call(new V0.Request { EventList = new V0.EventListReq { NicId = "new1" } })).EventList.Event.Single();
                Assert.Contains($"\"socketPath\":\"{new1}\"", recorded.DataJson, StringComparison.Ordinal);
            }

            await daemon.RestartAsync();

            using var after = daemon.CreateClient(TimeSpan.FromSeconds(30));
            var paths = ApiAssert.Ok(after.Call(Requests.NicDetails())).NicDetails.ToDictionary(n => n.Id, n => n.Path);
            Assert.Equal(new Dictionary<string, string> { ["new1"] = new1, ["old1"] = old1, ["old2"] = Path.Combine(daemon.SocketDir, "old2") }, paths);
            Assert.All(paths.Values, p => Assert.True(File.Exists(p), p));
            Assert.Equal(["old1", "old2", "qemu-vhost-new1"], Directory.GetFileSystemEntries(daemon.SocketDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        }
        finally
        {
            Directory.Delete(log, recursive: true);
        }
    }

    [Fact]
    public async Task A_shared_mac_from_an_old_log_shows_as_a_port_error_and_cannot_be_restored()
    {
        var log = await WriteLogAsync(
            OldNicAdded("dup1", "52:54:00:00:0b:01", 6),
            OldNicAdded("dup2", "52:54:00:00:0b:01", 6),
            new NewEvent("NicRemoved", "nic", "dup2", """{"nicId":"dup2"}""", "test", null));
        try
        {
            // Start at the state of event 2 by restoring to it: refused.
            await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions { EventStore = "file:" + log });
            using var api = daemon.CreateClient(TimeSpan.FromSeconds(30));
            ApiAssert.Fails(api.Call(new V0.Request { RestoreTo = new V0.PointInTime { Sequence = 2 } }),
                "at sequence 2 NIC 'dup1' and NIC 'dup2' share mac 52:54:00:00:0b:01 in vni 6");
            Assert.Equal(["dup1"], ApiAssert.Ok(api.Call(Requests.NicList())).NicList);
            Assert.Equal(3ul, ApiAssert.Ok(api.Call(new V0.Request { EventList = new V0.EventListReq() })).EventList.LastSequence);
        }
        finally
        {
            Directory.Delete(log, recursive: true);
        }

        // A log that ends with the pair: the daemon starts, and the NIC left out says why.
        log = await WriteLogAsync(OldNicAdded("dup1", "52:54:00:00:0b:01", 6), OldNicAdded("dup2", "52:54:00:00:0b:01", 6));
        try
        {
            await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions { EventStore = "file:" + log });
            using var api = daemon.CreateClient(TimeSpan.FromSeconds(30));
            var broken = Assert.Single(ApiAssert.Ok(api.Call(Requests.NicDetails())).NicDetails, n => n.HasPortError);
            Assert.Contains("its frames are not switched", broken.PortError, StringComparison.Ordinal);
            Assert.Equal(broken.Id, Assert.Single(ApiAssert.Ok(api.Call(Requests.AppStatus())).AppStatus.NicPortError).NicId);
        }
        finally
        {
            Directory.Delete(log, recursive: true);
        }
    }
}
