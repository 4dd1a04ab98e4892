using System.Diagnostics;
using Butterfly.TestKit;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>
/// Group commit when the event log cannot take the group: every write reply of the group
/// says so, reads are still answered, nothing of the group is applied, and the daemon
/// serves again once the log has room. The log lives on a small tmpfs that the test fills.
/// </summary>
public sealed class StorageFailureTests : IAsyncLifetime
{
    private readonly string _mount = Directory.CreateTempSubdirectory("bft-tmpfs-").FullName;
    private bool _mounted;

    public async Task InitializeAsync()
    {
        Assert.Equal(0, await RunAsync("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", _mount));
        _mounted = true;
    }

    public async Task DisposeAsync()
    {
        if (_mounted)
        {
            await RunAsync("umount", _mount);
        }

        Directory.Delete(_mount, recursive: true);
    }

    [Fact]
    public async Task A_full_event_log_fails_every_write_of_the_group_and_the_daemon_recovers()
    {
        await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions { EventStore = "file:" + Path.Combine(_mount, "events") });
        using var api = daemon.CreateClient();
        var kept = Ids.New("sg");
        ApiAssert.Ok(api.Call(Requests.SgAdd(kept)));

        var fill = Path.Combine(_mount, "fill");
        await FillAsync(fill);
        var lost = Ids.New("sg");
        // Big enough to need new pages: the log file's last page may still have room.
        var members = Enumerable.Range(0, 1000).Select(i => $"10.1.{i / 256}.{i % 256}");
        var replies = api.SendBatch([Requests.SgAdd(lost, members), Requests.SgList(), Requests.SgMemberAdd(kept, "10.0.0.1")]);

        ApiAssert.Fails(replies[0].Response, "not saved");
        Assert.True(replies[1].Response.Status.Status_, "reads of the group are answered");
        ApiAssert.Fails(replies[2].Response, "not saved");
        Assert.DoesNotContain(lost, ApiAssert.Ok(api.Call(Requests.SgList())).SgList);
        Assert.Empty(api.Call(Requests.SgMemberList(kept)).SgMemberList);

        File.Delete(fill);
        ApiAssert.Ok(api.Call(Requests.SgAdd(lost)));
        Assert.Contains(lost, api.Call(Requests.SgList()).SgList);
        Assert.False(daemon.HasExited);
    }

    private static async Task FillAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Create);
        var block = new byte[64 * 1024];
        try
        {
            while (true)
            {
                await stream.WriteAsync(block);
                await stream.FlushAsync();
            }
        }
        catch (IOException)
        {
            // ENOSPC: the file system is full, as wanted.
        }
    }

    private static async Task<int> RunAsync(string program, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardError = true })!;
        await process.WaitForExitAsync();
        return process.ExitCode;
    }
}
