using System.Diagnostics;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.FileLog;
using Butterfly.Infrastructure.Events.Tests.Support;
using Serilog.Events;
using Xunit.Abstractions;

namespace Butterfly.Infrastructure.Events.Tests;

/// <summary>What only the file log has: crash recovery from its bytes, the directory lock, its snapshot files.</summary>
public sealed class FileEventStoreRecoveryTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly LogCapture _logs = new();

    private string LogPath => _directory.File(SegmentFiles.NameOf(1));

    public void Dispose() => _directory.Dispose();

    private Task<FileEventStore> OpenAsync() => FileEventStore.OpenAsync(_directory.Path, _logs.Logger);

    private static NewEvent Event(string id, string data = "{\"k\":1}") => new("NicAdded", "nic", id, data, "tcp://127.0.0.1:1", "m");

    /// <summary>Writes the batches, closes the store, and returns the file length after each batch.</summary>
    private async Task<List<long>> WriteBatchesAsync(params NewEvent[][] batches)
    {
        var lengths = new List<long>();
        await using var store = await OpenAsync();
        foreach (var batch in batches)
        {
            await store.AppendAsync(batch);
            lengths.Add(new FileInfo(LogPath).Length);
        }
        return lengths;
    }

    private static async Task<List<StoredEvent>> ReadAllAsync(IEventStore store)
    {
        var all = new List<StoredEvent>();
        await foreach (var e in store.ReadAsync(0))
        {
            all.Add(e);
        }
        return all;
    }

    [Fact]
    public async Task A_torn_last_record_is_cut_at_every_byte_offset_and_earlier_records_survive()
    {
        var lengths = await WriteBatchesAsync(
            [Event("a"), Event("b")],
            [Event("c")],
            [Event("d", "{\"payload\":\"some bytes to tear\"}"), Event("e")]);
        var whole = await File.ReadAllBytesAsync(LogPath);
        var goodLength = lengths[1];
        Assert.Equal(whole.Length, lengths[2]);

        for (var cut = goodLength + 1; cut < whole.Length; cut++)
        {
            await File.WriteAllBytesAsync(LogPath, whole[..(int)cut]);
            await using (var store = await OpenAsync())
            {
                Assert.Equal(["a", "b", "c"], (await ReadAllAsync(store)).Select(e => e.AggregateId));
                Assert.Equal(goodLength, new FileInfo(LogPath).Length);
                // The log goes on from the cut, with no gap.
                Assert.Equal(4, (await store.AppendAsync([Event("f")]))[0].Sequence);
            }
            await using (var store = await OpenAsync())
            {
                Assert.Equal(["a", "b", "c", "f"], (await ReadAllAsync(store)).Select(e => e.AggregateId));
            }
        }
        var warnings = _logs.Messages(LogEventLevel.Warning);
        Assert.Equal(whole.Length - goodLength - 1, warnings.Count(m => m.Contains("an append interrupted", StringComparison.Ordinal)));
        Assert.Empty(_logs.Messages(LogEventLevel.Error));
        Assert.Empty(Directory.GetDirectories(_directory.Path, "damaged-*"));
    }

    [Fact]
    public async Task A_checksum_mismatch_in_the_whole_last_record_is_damage_not_a_torn_tail()
    {
        await WriteBatchesAsync([Event("a")], [Event("b")]);
        var bytes = await File.ReadAllBytesAsync(LogPath);
        bytes[^3] ^= 0x40;
        await File.WriteAllBytesAsync(LogPath, bytes);

        var refused = await Assert.ThrowsAsync<EventLogDamagedException>(OpenAsync);
        Assert.Contains("payload checksum mismatch", refused.Message, StringComparison.Ordinal);
        Assert.Contains("sequences 2..2", refused.Message, StringComparison.Ordinal);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(LogPath));
    }

    [Fact]
    public async Task A_zero_filled_tail_is_cut_as_torn()
    {
        var lengths = await WriteBatchesAsync([Event("a")], [Event("b")]);
        await using (var file = new FileStream(LogPath, FileMode.Append))
        {
            file.Write(new byte[4096]);
        }

        await using var store = await OpenAsync();
        Assert.Equal(["a", "b"], (await ReadAllAsync(store)).Select(e => e.AggregateId));
        Assert.Equal(lengths[1], new FileInfo(LogPath).Length);
        Assert.Single(_logs.Messages(LogEventLevel.Warning));
        Assert.Empty(_logs.Messages(LogEventLevel.Error));
    }

    [Fact]
    public async Task Corruption_in_the_middle_refuses_the_open_and_changes_nothing()
    {
        var lengths = await WriteBatchesAsync([Event("a")], [Event("b"), Event("c")], [Event("d")]);
        var bytes = await File.ReadAllBytesAsync(LogPath);
        // Flip one bit inside the second record's payload.
        bytes[(int)lengths[0] + LogFormat.RecordHeaderSize + 20] ^= 0x01;
        await File.WriteAllBytesAsync(LogPath, bytes);

        var refused = await Assert.ThrowsAsync<EventLogDamagedException>(OpenAsync);
        Assert.Contains($"{SegmentFiles.NameOf(1)} at offset {lengths[0]}", refused.Message, StringComparison.Ordinal);
        Assert.Contains("payload checksum mismatch", refused.Message, StringComparison.Ordinal);
        Assert.Contains("1 intact record(s) follow it (sequences 4..4)", refused.Message, StringComparison.Ordinal);
        Assert.Contains("--repair-log", refused.Message, StringComparison.Ordinal);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(LogPath));
        Assert.Single(Directory.GetFiles(_directory.Path, "events-*"));
    }

    [Fact]
    public async Task A_record_with_a_wrong_sequence_is_damage()
    {
        // Two logs spliced together: the second record restarts at sequence 1.
        var lengths = await WriteBatchesAsync([Event("a")], [Event("b")]);
        var bytes = await File.ReadAllBytesAsync(LogPath);
        var firstRecord = bytes[LogFormat.SegmentHeaderSize..(int)lengths[0]];
        await File.WriteAllBytesAsync(LogPath, [.. bytes[..(int)lengths[0]], .. firstRecord, .. bytes[(int)lengths[0]..]]);

        var refused = await Assert.ThrowsAsync<EventLogDamagedException>(OpenAsync);
        Assert.Contains("expected 2", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_open_of_the_same_directory_is_refused_until_the_first_closes()
    {
        var first = await OpenAsync();
        var refused = await Assert.ThrowsAsync<IOException>(OpenAsync);
        Assert.Contains("in use by another process", refused.Message, StringComparison.Ordinal);
        Assert.Contains($"pid {Environment.ProcessId}", refused.Message, StringComparison.Ordinal);
        await first.DisposeAsync();
        await using var second = await OpenAsync();
        Assert.Equal(0, await second.LastSequenceAsync());
    }

    [Fact]
    public async Task A_lock_held_by_another_process_is_refused()
    {
        Directory.CreateDirectory(_directory.Path);
        // --no-fork: flock(1) execs sleep itself, so the one process we kill is the lock's
        // only holder (a forked sleep could keep it a moment after flock exits).
        using var holder = Process.Start(new ProcessStartInfo("flock", ["--no-fork", "--exclusive", _directory.File("LOCK"), "sleep", "30"])
        {
            RedirectStandardInput = true,
        })!;
        try
        {
            // Wait until flock(1) holds the lock (no timing guess: poll for it).
            for (var i = 0; i < 100 && !IsLockedElsewhere(); i++)
            {
                await Task.Delay(50);
            }
            await Assert.ThrowsAsync<IOException>(OpenAsync);
        }
        finally
        {
            holder.Kill(entireProcessTree: true);
            await holder.WaitForExitAsync();
        }

        for (var i = 0; i < 100 && IsLockedElsewhere(); i++)
        {
            await Task.Delay(50);
        }

        await using var store = await OpenAsync();
    }

    private bool IsLockedElsewhere()
    {
        using var probe = Process.Start(new ProcessStartInfo("flock", ["--nonblock", "--exclusive", _directory.File("LOCK"), "true"]))!;
        probe.WaitForExit();
        return probe.ExitCode != 0;
    }

    [Fact]
    public async Task A_file_that_is_not_an_event_log_is_refused_and_left_alone()
    {
        var text = "this is somebody else's file\n"u8.ToArray();
        var legacy = _directory.File(LegacyLogFormat.FileName);
        await File.WriteAllBytesAsync(legacy, text);
        var refused = await Assert.ThrowsAsync<InvalidDataException>(OpenAsync);
        Assert.Contains("not a Butterfly event log", refused.Message, StringComparison.Ordinal);
        Assert.Equal(text, await File.ReadAllBytesAsync(legacy));
        // The lock was released on the way out.
        await File.WriteAllBytesAsync(legacy, []);
        await using var store = await OpenAsync();
    }

    [Fact]
    public async Task A_half_written_format_1_header_is_an_empty_log()
    {
        await File.WriteAllBytesAsync(_directory.File(LegacyLogFormat.FileName), LegacyLogFormat.Magic[..3].ToArray());
        await using var store = await OpenAsync();
        Assert.Equal(1, (await store.AppendAsync([Event("a")]))[0].Sequence);
        Assert.Equal(LogFormat.SegmentMagic.ToArray(), (await File.ReadAllBytesAsync(LogPath))[..8]);
    }

    [Fact]
    public async Task The_directory_is_created_when_missing()
    {
        var nested = Path.Combine(_directory.Path, "var", "lib", "butterfly");
        await using var store = await FileEventStore.OpenAsync(nested, _logs.Logger);
        Assert.True(File.Exists(Path.Combine(nested, SegmentFiles.NameOf(1))));
        Assert.Equal($"file:{nested}", store.Description);
    }

    [Fact]
    public async Task A_damaged_snapshot_is_skipped_for_the_next_older_one()
    {
        await using (var store = await OpenAsync())
        {
            await store.AppendAsync([Event("a"), Event("b")]);
            await store.SaveSnapshotAsync(new StoredSnapshot(1, DateTimeOffset.UnixEpoch, "{\"one\":1}"));
            await store.SaveSnapshotAsync(new StoredSnapshot(2, DateTimeOffset.UnixEpoch, "{\"two\":2}"));
        }
        var newest = Directory.GetFiles(_directory.Path, "snapshot-*.snap").Max()!;
        var bytes = await File.ReadAllBytesAsync(newest);
        bytes[^2] ^= 0x20;
        await File.WriteAllBytesAsync(newest, bytes);

        await using var reopened = await OpenAsync();
        Assert.Equal("{\"one\":1}", (await reopened.LoadSnapshotAsync())!.DataJson);
        Assert.Contains(_logs.Messages(LogEventLevel.Warning), m => m.Contains("damaged", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_snapshot_beyond_the_end_of_the_log_refuses_the_open_and_leftover_temporary_files_are_cleared()
    {
        var lengths = await WriteBatchesAsync([Event("a")], [Event("b")]);
        await using (var store = await OpenAsync())
        {
            await store.SaveSnapshotAsync(new StoredSnapshot(1, DateTimeOffset.UnixEpoch, "{\"at\":1}"));
            await store.SaveSnapshotAsync(new StoredSnapshot(2, DateTimeOffset.UnixEpoch, "{\"at\":2}"));
        }
        await File.WriteAllTextAsync(_directory.File("snapshot-00000000000000000009.snap.tmp"), "half");
        await using (var reopened = await OpenAsync())
        {
            Assert.Equal(2, await reopened.LastSequenceAsync());
            Assert.Empty(Directory.GetFiles(_directory.Path, "*.tmp"));
        }
        // The last record is torn away: the snapshot at 2 proves event 2 was acknowledged.
        using (var file = new FileStream(LogPath, FileMode.Open))
        {
            file.SetLength(lengths[1] - 1);
        }
        var bytes = await File.ReadAllBytesAsync(LogPath);
        var refused = await Assert.ThrowsAsync<EventLogDamagedException>(OpenAsync);
        Assert.Contains("shorter than its snapshots say", refused.Message, StringComparison.Ordinal);
        Assert.Contains("events 2..2", refused.Message, StringComparison.Ordinal);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(LogPath));
        Assert.Equal(2, Directory.GetFiles(_directory.Path, "*.snap").Length);
    }

    [Fact]
    public async Task A_log_of_ten_thousand_events_opens_whole()
    {
        // Written directly in the log format: building it through AppendAsync would measure fsync.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        System.Buffers.BuffersExtensions.Write(buffer, LogFormat.SegmentHeader(1));
        for (var i = 0; i < 10_000; i += 5)
        {
            var batch = Enumerable.Range(i, 5).Select(k => Event($"nic-{k}", $"{{\"ips\":[\"10.0.{k / 250}.{k % 250}\"]}}")).ToList();
            LogFormat.WriteEvents(buffer, batch, i + 1, DateTimeOffset.UnixEpoch.AddSeconds(i));
        }
        await File.WriteAllBytesAsync(LogPath, buffer.WrittenMemory.ToArray());

        var watch = Stopwatch.StartNew();
        await using var store = await OpenAsync();
        output.WriteLine($"opened 10 000 events in {watch.ElapsedMilliseconds} ms");
        Assert.Equal(10_000, await store.LastSequenceAsync());
        Assert.Equal("nic-9999", (await store.QueryAsync(new EventFilter(AfterSequence: 9_999)))[0].AggregateId);
        Assert.Equal(43, (await store.QueryAsync(new EventFilter(AggregateId: "nic-42"))).Single().Sequence);
    }

    [Fact]
    public void Crc32C_matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        Assert.Equal(Crc32C.Compute("123456789"u8), Crc32C.Append(Crc32C.Compute("1234"u8), "56789"u8));
    }
}
