using System.Diagnostics;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.FileLog;
using Butterfly.Infrastructure.Events.Tests.Support;

namespace Butterfly.Infrastructure.Events.Tests;

/// <summary>
/// A full disk, for real: the log lives on a 1 MiB tmpfs mounted for the test. A snapshot that
/// cannot be written leaves no file behind (its partial .tmp would keep the space the log
/// needs), appends are refused with a clear error, and both work again once there is room.
/// </summary>
public sealed class FileLogDiskFullTests : IAsyncLifetime
{
    private readonly string _mount = Directory.CreateTempSubdirectory("bft-full-").FullName;
    private readonly LogCapture _logs = new();
    private bool _mounted;

    public async Task InitializeAsync()
    {
        Assert.Equal(0, await RunAsync("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", _mount));
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

    private static NewEvent Event(string id) => new("NicAdded", "nic", id, "{}", "o", null);

    [Fact]
    public async Task A_snapshot_that_does_not_fit_leaves_nothing_behind_appends_are_refused_clearly_and_both_work_again_with_room()
    {
        var directory = Path.Combine(_mount, "events");
        await using var store = await FileEventStore.OpenAsync(directory, _logs.Logger);
        await store.AppendAsync([Event("a")]);

        var fill = Path.Combine(_mount, "fill");
        await FillAsync(fill);
        var snapshot = new StoredSnapshot(1, DateTimeOffset.UnixEpoch, "{\"pad\":\"" + new string('s', 300_000) + "\"}");
        await Assert.ThrowsAnyAsync<IOException>(() => store.SaveSnapshotAsync(snapshot));
        Assert.Empty(Directory.GetFiles(directory, "snapshot-*"));

        var refused = await Assert.ThrowsAnyAsync<IOException>(() => store.AppendAsync([new("NicAdded", "nic", "big", "{\"pad\":\"" + new string('x', 200_000) + "\"}", "o", null)]));
        Assert.Contains("space", refused.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, await store.LastSequenceAsync());

        File.Delete(fill);
        Assert.Equal(2, (await store.AppendAsync([Event("b")]))[0].Sequence);
        await store.SaveSnapshotAsync(snapshot with { Sequence = 2 });
        Assert.Single(Directory.GetFiles(directory, "snapshot-*"));
        Assert.Empty(Directory.GetFiles(directory, "*.tmp"));
    }

    private static async Task FillAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Create);
        var block = new byte[16 * 1024];
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
            // Full.
        }
    }

    private static async Task<int> RunAsync(string program, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardError = true })!;
        await process.WaitForExitAsync();
        return process.ExitCode;
    }
}
