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

    [Fact]
    public async Task An_index_block_the_full_disk_refuses_stays_in_memory_the_append_is_acknowledged_and_the_block_is_written_with_room()
    {
        var directory = Path.Combine(_mount, "events");
        await using var store = await FileEventStore.OpenAsync(directory, _logs.Logger);
        Assert.True(store.Index.OnDisk);
        for (var i = 0; i < EventIndex.BlockSize - 1; i += 512)
        {
            await store.AppendAsync([.. Enumerable.Range(i, Math.Min(512, EventIndex.BlockSize - 1 - i)).Select(n => Event("n" + n))]);
        }
        Assert.Equal(EventIndex.BlockSize - 1, await store.LastSequenceAsync());

        // Room for the log's next record (a page) but not for the index's 32 KiB block.
        var reserve = Path.Combine(_mount, "reserve");
        await File.WriteAllBytesAsync(reserve, new byte[8192]);
        var fill = Path.Combine(_mount, "fill");
        await FillAsync(fill);
        File.Delete(reserve);

        Assert.Equal(EventIndex.BlockSize, (await store.AppendAsync([Event("last")]))[0].Sequence);
        Assert.Equal(1, store.Index.BlocksInMemory);
        var all = await store.QueryAsync(new EventFilter(Limit: 10_000));
        Assert.Equal(EventIndex.BlockSize, all.Count);
        Assert.Equal("last", all[^1].AggregateId);

        File.Delete(fill);
        await store.AppendAsync([Event("after")]);
        Assert.Equal(0, store.Index.BlocksInMemory);
        all = await store.QueryAsync(new EventFilter(Limit: 10_000));
        Assert.Equal(["n0", "last", "after"], [all[0].AggregateId, all[^2].AggregateId, all[^1].AggregateId]);
        Assert.Equal(Enumerable.Range(1, EventIndex.BlockSize + 1).Select(n => (long)n), all.Select(e => e.Sequence));
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
