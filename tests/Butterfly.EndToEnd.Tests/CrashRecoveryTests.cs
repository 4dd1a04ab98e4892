using Butterfly.TestKit;
using Butterfly.Wire;

namespace Butterfly.EndToEnd.Tests;

/// <summary>
/// kill -9 at any moment loses no acknowledged command, and NICs come back with the same
/// socket paths and tap names (docs/architecture.md, "Start-up, crash and restart").
///
///   test ──API──▶ butterflyd ──▶ event log (file: or PostgreSQL)
///                     │ SIGKILL, restart on the same log
///                     ▼
///   test ──API──▶ butterflyd' : same configuration, sockets, taps
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class CrashRecoveryTests(PostgresStore postgres)
{
    public static TheoryData<string> Stores => ["file", "postgres"];

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Kill9_after_acknowledgement_restores_exactly_the_acknowledged_configuration(string store)
    {
        await using var daemon = await DaemonProcess.StartAsync(Options(store));
        string before;
        string vhostPath;
        using (var client = daemon.CreateClient())
        {
            client.CallOk(Requests.SgAdd("sg-a", ["10.1.0.1", "2001:db8::1"],
                [Requests.Rule(MessageV0.Types.Rule.Types.Direction.Inbound, 6, "0.0.0.0/0", 22, 22)]));
            client.CallOk(Requests.SgRuleAdd("sg-b", Requests.RuleFromGroup(MessageV0.Types.Rule.Types.Direction.Outbound, 17, "sg-a", 53, 53)));
            client.CallOk(Requests.SgMemberAdd("sg-b", "192.0.2.7"));
            vhostPath = client.CallOk(ConfigurationProbe.NumberedNic(1)).NicAdd.Path;
            client.CallOk(ConfigurationProbe.NumberedNic(2));
            client.CallOk(Requests.NicDel("nic2"));
            var tapName = "bft" + daemon.Port;
            var tap = Requests.Nic(tapName, "52:54:00:aa:bb:01", 7);
            tap.Type = MessageV0.Types.Nic.Types.Type.Tap;
            Assert.Equal(tapName, client.CallOk(Requests.NicAdd(tap)).NicAdd.Path);
            client.CallOk(Requests.NicUpdate(new MessageV0.Types.NicUpdateReq { Id = "nic1", IpAntiSpoof = true, Ip = { "10.1.0.1", "2001:db8::1" } }));
            before = ConfigurationProbe.Read(client);
        }

        daemon.Kill();
        Assert.False(Kernel.InterfaceExists("bft" + daemon.Port), "a killed daemon's tap goes away with its file descriptor");
        await daemon.RestartAsync();

        using var after = daemon.CreateClient();
        Assert.Equal(before, ConfigurationProbe.Read(after));
        Assert.True(File.Exists(vhostPath), $"the vhost-user socket {vhostPath} is back");
        Assert.Equal("52:54:00:aa:bb:01", Kernel.MacOf("bft" + daemon.Port));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Kill9_during_batches_keeps_every_acknowledged_batch_and_no_partial_one(string store)
    {
        // Each batch adds 20 members to one group; a batch is one atomic append, so after the
        // crash the group holds whole batches: every acknowledged one, plus at most the one
        // that was in flight (durable but not yet acknowledged when the daemon died).
        const int perBatch = 20;
        await using var daemon = await DaemonProcess.StartAsync(Options(store));
        var acknowledged = 0;
        using var stop = new CancellationTokenSource();
        var sender = Task.Run(() =>
        {
            using var client = daemon.CreateClient(TimeSpan.FromSeconds(5));
            for (var batch = 0; !stop.IsCancellationRequested; batch++)
            {
                var requests = Enumerable.Range(batch * perBatch, perBatch).Select(n => Requests.SgMemberAdd("bulk", Member(n)));
                try
                {
                    var replies = client.SendBatch(requests);
                    Assert.All(replies, r => Assert.True(r.Response.Status.Status_, r.ToString()));
                    Volatile.Write(ref acknowledged, batch + 1);
                }
                catch (TimeoutException)
                {
                    return; // the daemon died under this batch: it was never acknowledged
                }
            }
        });

        Assert.True(await Eventually.TrueAsync(() => Volatile.Read(ref acknowledged) >= 5), daemon.Tail());
        daemon.Kill();
        var acked = Volatile.Read(ref acknowledged);
        await stop.CancelAsync();
        await sender;
        await daemon.RestartAsync();

        using var client = daemon.CreateClient();
        var members = client.CallOk(Requests.SgMemberList("bulk")).SgMemberList;
        Assert.True(members.Count % perBatch == 0, $"{members.Count} members: a batch was applied partly");
        Assert.InRange(members.Count / perBatch, acked, acked + 1);
        Assert.Equal(Enumerable.Range(0, members.Count).Select(Member), members);
    }

    private static string Member(int n) => $"10.{(n >> 16) & 0xff}.{(n >> 8) & 0xff}.{n & 0xff}";

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Restore_to_a_sequence_recreates_a_deleted_nic_and_its_socket(string store)
    {
        await using var daemon = await DaemonProcess.StartAsync(Options(store));
        using var client = daemon.CreateClient();
        var path = client.CallOk(ConfigurationProbe.NumberedNic(5)).NicAdd.Path;
        var withNic = ConfigurationProbe.Read(client);
        var sequence = client.CallOk(Requests.EventList(new MessageV0.Types.EventListReq { Limit = 10000 })).EventList.LastSequence;
        client.CallOk(Requests.NicDel("nic5"));
        Assert.False(File.Exists(path), "nic_del removes the socket");

        var restore = client.CallOk(Requests.RestoreTo(sequence)).Restore;
        Assert.True(restore.EventsAppended >= 1);
        Assert.True(File.Exists(path), "restore brings the socket back");
        Assert.Equal(withNic, ConfigurationProbe.Read(client));

        // History is appended to, never rewritten: the deletion is still in the log.
        var events = client.CallOk(Requests.EventList(new MessageV0.Types.EventListReq { NicId = "nic5", Limit = 100 })).EventList.Event;
        Assert.Equal(["NicAdded", "NicRemoved", "NicAdded"], events.Select(e => e.Type));

        // And it survives a crash like any other command.
        daemon.Kill();
        await daemon.RestartAsync();
        using var again = daemon.CreateClient();
        Assert.Equal(withNic, ConfigurationProbe.Read(again));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Restore_to_a_time_recreates_a_deleted_nic_and_its_socket(string store)
    {
        await using var daemon = await DaemonProcess.StartAsync(Options(store));
        using var client = daemon.CreateClient();
        var path = client.CallOk(ConfigurationProbe.NumberedNic(6)).NicAdd.Path;
        var withNic = ConfigurationProbe.Read(client);
        await Task.Delay(50); // event timestamps have microsecond resolution; keep "then" strictly between the two
        var then = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await Task.Delay(50);
        client.CallOk(Requests.NicDel("nic6"));
        Assert.False(File.Exists(path));

        var restore = client.CallOk(new MessageV0.Types.Request { RestoreTo = new MessageV0.Types.PointInTime { UnixMs = then } }).Restore;
        Assert.True(restore.EventsAppended >= 1);
        Assert.True(File.Exists(path), "restore to a time brings the socket back");
        Assert.Equal(withNic, ConfigurationProbe.Read(client));
    }

    private DaemonStartOptions Options(string store) =>
        store == "file" ? new DaemonStartOptions() : new DaemonStartOptions { EventStore = postgres.NewDestination() };
}
