using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.FileLog;
using Butterfly.Infrastructure.Events.Tests.Support;
using Serilog.Events;

namespace Butterfly.Infrastructure.Events.Tests;

/// <summary>
/// Fault injection on the file log: every kind of damage either refuses the open with one clear
/// message and no change on disk, or — only for what an interrupted append leaves — is cut.
/// Never a silent loss, never a false alarm; the repair command keeps every intact record.
/// </summary>
public sealed class FileLogFaultInjectionTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly LogCapture _logs = new();

    private string SegmentPath => _directory.File(SegmentFiles.NameOf(1));

    public void Dispose() => _directory.Dispose();

    private Task<FileEventStore> OpenAsync(long segmentBytes = FileEventStoreOptions.DefaultSegmentBytes) =>
        FileEventStore.OpenAsync(_directory.Path, _logs.Logger, new FileEventStoreOptions { SegmentBytes = segmentBytes });

    private static NewEvent Event(string id, string data = "{\"k\":1}") => new("NicAdded", "nic", id, data, "tcp://127.0.0.1:1", "m");

    /// <summary>Three records (sequences 1, 2..3, 4); returns the offsets where each record ends.</summary>
    private async Task<long[]> WriteSmallLogAsync()
    {
        var ends = new List<long>();
        await using var store = await OpenAsync();
        foreach (var batch in new[] { [Event("a")], new[] { Event("b", "{\"payload\":\"the middle record\"}"), Event("c") }, [Event("d")] })
        {
            await store.AppendAsync(batch);
            ends.Add(new FileInfo(SegmentPath).Length);
        }
        return [.. ends];
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

    private string Repair(bool apply, out int exit)
    {
        using var output = new StringWriter();
        exit = LogRepair.Run(_directory.Path, apply, output, _logs.Logger);
        return output.ToString();
    }

    [Fact]
    public async Task A_flipped_bit_at_every_byte_of_a_middle_record_refuses_the_open_and_changes_nothing()
    {
        var ends = await WriteSmallLogAsync();
        var whole = await File.ReadAllBytesAsync(SegmentPath);
        for (var at = ends[0]; at < ends[1]; at++)
        {
            foreach (var bit in new byte[] { 0x01, 0x80 })
            {
                var damaged = (byte[])whole.Clone();
                damaged[at] ^= bit;
                await File.WriteAllBytesAsync(SegmentPath, damaged);
                var refused = await Assert.ThrowsAsync<EventLogDamagedException>(() => OpenAsync());
                Assert.Contains($"{SegmentFiles.NameOf(1)} at offset {ends[0]}", refused.Message, StringComparison.Ordinal);
                Assert.Contains("the last intact event before it is sequence 1", refused.Message, StringComparison.Ordinal);
                Assert.Contains("(sequences 4..4)", refused.Message, StringComparison.Ordinal);
                Assert.Contains("--repair-log", refused.Message, StringComparison.Ordinal);
                Assert.Equal(damaged, await File.ReadAllBytesAsync(SegmentPath));
            }
        }
        Assert.Empty(_logs.Messages(LogEventLevel.Warning));
    }

    [Fact]
    public async Task A_flipped_bit_at_every_byte_of_the_last_record_refuses_the_open_too()
    {
        // The last record is whole: a checksum failure there is damage, not an interrupted append.
        var ends = await WriteSmallLogAsync();
        var whole = await File.ReadAllBytesAsync(SegmentPath);
        for (var at = ends[1]; at < ends[2]; at++)
        {
            var damaged = (byte[])whole.Clone();
            damaged[at] ^= 0x10;
            await File.WriteAllBytesAsync(SegmentPath, damaged);
            var refused = await Assert.ThrowsAsync<EventLogDamagedException>(() => OpenAsync());
            Assert.Contains($"at offset {ends[1]}", refused.Message, StringComparison.Ordinal);
            Assert.Equal(damaged, await File.ReadAllBytesAsync(SegmentPath));
        }
    }

    [Fact]
    public async Task The_repair_of_a_damaged_middle_record_keeps_the_records_around_it_and_marks_the_loss()
    {
        var ends = await WriteSmallLogAsync();
        var whole = await File.ReadAllBytesAsync(SegmentPath);
        // A header byte, a payload byte and the last byte of the middle record.
        foreach (var at in new[] { ends[0] + 9, ends[0] + LogFormat.RecordHeaderSize + 7, ends[1] - 1 })
        {
            Directory.Delete(_directory.Path, recursive: true);
            Directory.CreateDirectory(_directory.Path);
            var damaged = (byte[])whole.Clone();
            damaged[at] ^= 0x04;
            await File.WriteAllBytesAsync(SegmentPath, damaged);

            var plan = Repair(apply: false, out var exit);
            Assert.Equal(1, exit);
            Assert.Contains($"drop {SegmentFiles.NameOf(1)} bytes {ends[0]}..{ends[1] - 1}", plan, StringComparison.Ordinal);
            Assert.Contains("lose sequences 2..3", plan, StringComparison.Ordinal);
            Assert.Contains("keep 2 intact event(s)", plan, StringComparison.Ordinal);
            Assert.Equal(damaged, await File.ReadAllBytesAsync(SegmentPath));
            Assert.Empty(Directory.GetDirectories(_directory.Path, "damaged-*"));

            Repair(apply: true, out exit);
            Assert.Equal(0, exit);
            var copy = Assert.Single(Directory.GetDirectories(_directory.Path, "damaged-*"));
            Assert.Equal(damaged, await File.ReadAllBytesAsync(Path.Combine(copy, SegmentFiles.NameOf(1))));

            await using (var store = await OpenAsync())
            {
                Assert.Equal(4, await store.LastSequenceAsync());
                Assert.Equal([(1L, "a"), (4L, "d")], (await ReadAllAsync(store)).Select(e => (e.Sequence, e.AggregateId)));
                var listed = await store.QueryAsync(new EventFilter());
                Assert.Equal([1L, 2L, 4L], listed.Select(e => e.Sequence));
                Assert.Equal(LogReader.LostEventType, listed[1].Type);
                Assert.Contains("\"last_sequence\":3", listed[1].DataJson, StringComparison.Ordinal);
                Assert.Empty(await store.QueryAsync(new EventFilter(AggregateKind: "nic", AggregateId: "b")));
                Assert.Equal(5, (await store.AppendAsync([Event("e")]))[0].Sequence);
            }
            Repair(apply: false, out exit);
            Assert.Equal(0, exit);
        }
    }

    [Fact]
    public async Task Truncation_between_record_boundaries_is_an_interrupted_append_and_at_a_boundary_a_shorter_log()
    {
        var ends = await WriteSmallLogAsync();
        var whole = await File.ReadAllBytesAsync(SegmentPath);
        var boundaries = new[] { (long)LogFormat.SegmentHeaderSize, ends[0], ends[1], ends[2] };
        for (var cut = (long)LogFormat.SegmentHeaderSize; cut <= whole.Length; cut++)
        {
            await File.WriteAllBytesAsync(SegmentPath, whole[..(int)cut]);
            var kept = boundaries.Last(b => b <= cut);
            var events = Array.IndexOf(boundaries, kept) switch { 0 => 0, 1 => 1, 2 => 3, _ => 4 };
            await using (var store = await OpenAsync())
            {
                Assert.Equal(events, await store.LastSequenceAsync());
                Assert.Equal(kept, new FileInfo(SegmentPath).Length);
            }
            var cutWarnings = _logs.Messages(LogEventLevel.Warning).Count(m => m.Contains("an append interrupted", StringComparison.Ordinal));
            Assert.Equal(cut == kept ? 0 : 1, cutWarnings - (_seenWarnings));
            _seenWarnings = cutWarnings;
        }
        Assert.Empty(_logs.Messages(LogEventLevel.Error));
    }

    private int _seenWarnings;

    [Fact]
    public async Task Truncation_anywhere_before_a_snapshot_refuses_the_open()
    {
        var ends = await WriteSmallLogAsync();
        await using (var store = await OpenAsync())
        {
            await store.SaveSnapshotAsync(new StoredSnapshot(4, DateTimeOffset.UnixEpoch, "{}"));
        }
        var whole = await File.ReadAllBytesAsync(SegmentPath);
        foreach (var cut in new[] { ends[1], ends[1] + 1, ends[1] + LogFormat.RecordHeaderSize + 2, ends[0] })
        {
            await File.WriteAllBytesAsync(SegmentPath, whole[..(int)cut]);
            var refused = await Assert.ThrowsAsync<EventLogDamagedException>(() => OpenAsync());
            Assert.Contains("shorter than its snapshots say", refused.Message, StringComparison.Ordinal);
            Assert.Contains("snapshot-00000000000000000004.snap", refused.Message, StringComparison.Ordinal);
            Assert.Equal(whole[..(int)cut], await File.ReadAllBytesAsync(SegmentPath));
        }
    }

    [Fact]
    public async Task A_snapshot_newer_than_the_log_is_repaired_by_marking_the_missing_sequences_lost()
    {
        var ends = await WriteSmallLogAsync();
        await using (var store = await OpenAsync())
        {
            await store.SaveSnapshotAsync(new StoredSnapshot(4, DateTimeOffset.UnixEpoch, "{\"at\":4}"));
        }
        var whole = await File.ReadAllBytesAsync(SegmentPath);
        await File.WriteAllBytesAsync(SegmentPath, whole[..(int)ends[0]]);

        var plan = Repair(apply: true, out var exit);
        Assert.Equal(0, exit);
        Assert.Contains("lose sequences 2..4", plan, StringComparison.Ordinal);
        Assert.Contains("restored exactly", plan, StringComparison.Ordinal);
        await using var reopened = await OpenAsync();
        Assert.Equal(4, await reopened.LastSequenceAsync());
        Assert.Equal("{\"at\":4}", (await reopened.LoadSnapshotAsync())!.DataJson);
        Assert.Equal(5, (await reopened.AppendAsync([Event("e")]))[0].Sequence);
    }

    [Fact]
    public async Task Zeros_or_a_cut_record_after_the_end_are_an_interrupted_append_but_foreign_garbage_is_not()
    {
        var ends = await WriteSmallLogAsync();
        var whole = await File.ReadAllBytesAsync(SegmentPath);

        // Zeros (a size extended before the data reached the disk): cut, no alarm.
        await File.WriteAllBytesAsync(SegmentPath, [.. whole, .. new byte[5000]]);
        await using (var store = await OpenAsync())
        {
            Assert.Equal(4, await store.LastSequenceAsync());
        }
        Assert.Equal(whole, await File.ReadAllBytesAsync(SegmentPath));

        // The start of the next record followed by zeros where its pages never landed: cut.
        var next = new System.Buffers.ArrayBufferWriter<byte>();
        LogFormat.WriteEvents(next, [Event("e", "{\"" + new string('x', 9000) + "\":1}")], 5, DateTimeOffset.UtcNow);
        var torn = next.WrittenSpan.ToArray();
        torn.AsSpan(4096).Clear();
        await File.WriteAllBytesAsync(SegmentPath, [.. whole, .. torn]);
        await using (var store = await OpenAsync())
        {
            Assert.Equal(4, await store.LastSequenceAsync());
        }
        Assert.Empty(_logs.Messages(LogEventLevel.Error));

        // Bytes that are not the shape of any append of ours: refused, with what they are, nothing changed.
        var random = new Random(9);
        foreach (var length in new[] { 1, 3, 17, 64, 4000 })
        {
            var garbage = new byte[length];
            random.NextBytes(garbage);
            garbage[0] |= 1;
            await File.WriteAllBytesAsync(SegmentPath, [.. whole, .. garbage]);
            var refused = await Assert.ThrowsAsync<EventLogDamagedException>(() => OpenAsync());
            Assert.Contains($"at offset {ends[2]}", refused.Message, StringComparison.Ordinal);
            Assert.Contains($"the {length} byte(s) from there to the end of the file are neither intact records", refused.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("intact record(s) follow", refused.Message, StringComparison.Ordinal);
            Assert.Equal(whole.Length + length, new FileInfo(SegmentPath).Length);
        }

        // The repair drops the garbage (keeping a copy) and every event stays.
        var plan = Repair(apply: true, out var exit);
        Assert.Equal(0, exit);
        Assert.Contains("keep 4 intact event(s)", plan, StringComparison.Ordinal);
        Assert.DoesNotContain("lose", plan, StringComparison.Ordinal);
        await using var repaired = await OpenAsync();
        Assert.Equal(["a", "b", "c", "d"], (await ReadAllAsync(repaired)).Select(e => e.AggregateId));
    }

    [Fact]
    public async Task A_log_written_in_format_1_is_migrated_and_keeps_every_event()
    {
        var legacy = _directory.File(LegacyLogFormat.FileName);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        System.Buffers.BuffersExtensions.Write(buffer, LegacyLogFormat.Magic);
        LegacyLogFormat.WriteRecord(buffer, [Event("a"), Event("b")], 1, DateTimeOffset.UnixEpoch.AddSeconds(1));
        LegacyLogFormat.WriteRecord(buffer, [Event("c")], 3, DateTimeOffset.UnixEpoch.AddSeconds(2));
        var v1 = buffer.WrittenSpan.ToArray();
        // A torn tail of format 1 (a header whose length runs past the end) is cut in the migration.
        await File.WriteAllBytesAsync(legacy, [.. v1, 0x40, 0, 0, 0, 1, 2, 3, 4, 1]);

        await using (var store = await OpenAsync(segmentBytes: 4096))
        {
            var all = await ReadAllAsync(store);
            Assert.Equal(["a", "b", "c"], all.Select(e => e.AggregateId));
            Assert.Equal(DateTimeOffset.UnixEpoch.AddSeconds(2), all[2].Timestamp);
            Assert.Equal(4, (await store.AppendAsync([Event("d")]))[0].Sequence);
        }
        Assert.False(File.Exists(legacy));
        Assert.True(File.Exists(legacy + ".v1"));
        await using var reopened = await OpenAsync();
        Assert.Equal(4, await reopened.LastSequenceAsync());
    }

    [Fact]
    public async Task A_format_1_log_with_a_flipped_length_in_the_middle_is_refused_not_cut_and_the_repair_keeps_what_follows()
    {
        // The case: a bit flip in a middle record's length makes it claim to run past the end.
        var legacy = _directory.File(LegacyLogFormat.FileName);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        System.Buffers.BuffersExtensions.Write(buffer, LegacyLogFormat.Magic);
        LegacyLogFormat.WriteRecord(buffer, [Event("a")], 1, DateTimeOffset.UnixEpoch);
        var second = buffer.WrittenCount;
        LegacyLogFormat.WriteRecord(buffer, [Event("b")], 2, DateTimeOffset.UnixEpoch);
        LegacyLogFormat.WriteRecord(buffer, [Event("c")], 3, DateTimeOffset.UnixEpoch);
        var bytes = buffer.WrittenSpan.ToArray();
        bytes[second + 2] ^= 0x10;
        await File.WriteAllBytesAsync(legacy, bytes);

        var refused = await Assert.ThrowsAsync<EventLogDamagedException>(() => OpenAsync());
        Assert.Contains("format 1", refused.Message, StringComparison.Ordinal);
        Assert.Contains("(sequences 3..3)", refused.Message, StringComparison.Ordinal);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(legacy));
        Assert.Empty(SegmentFiles.List(_directory.Path));
        Assert.Empty(SegmentFiles.ListWith(_directory.Path, SegmentFiles.MigratingSuffix));

        var plan = Repair(apply: true, out var exit);
        Assert.Equal(0, exit);
        Assert.Contains("lose sequence 2", plan, StringComparison.Ordinal);
        await using var repaired = await OpenAsync();
        Assert.Equal([(1L, "a"), (3L, "c")], (await ReadAllAsync(repaired)).Select(e => (e.Sequence, e.AggregateId)));
    }

    [Fact]
    public async Task Segments_rotate_and_every_event_stays_reachable_and_a_missing_segment_is_damage()
    {
        await using (var store = await OpenAsync(segmentBytes: 4096))
        {
            for (var i = 0; i < 60; i++)
            {
                await store.AppendAsync([Event($"nic-{i}", "{\"pad\":\"" + new string('p', 200) + "\"}")]);
            }
            Assert.True(store.SegmentPaths.Count >= 3, $"{store.SegmentPaths.Count} segments");
        }
        await using (var store = await OpenAsync(segmentBytes: 4096))
        {
            Assert.Equal(60, await store.LastSequenceAsync());
            Assert.Equal(Enumerable.Range(0, 60).Select(i => $"nic-{i}"), (await ReadAllAsync(store)).Select(e => e.AggregateId));
            Assert.Equal(37, (await store.QueryAsync(new EventFilter("nic", "nic-36"))).Single().Sequence);
            Assert.Equal(Enumerable.Range(41, 10).Select(i => (long)i), (await store.QueryAsync(new EventFilter(AfterSequence: 40, Limit: 10))).Select(e => e.Sequence));
        }
        var middle = SegmentFiles.List(_directory.Path)[1].Path;
        File.Move(middle, middle + ".aside");
        var refused = await Assert.ThrowsAsync<EventLogDamagedException>(() => OpenAsync(segmentBytes: 4096));
        Assert.Contains("are missing", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_first_segment_whose_creation_was_interrupted_is_made_again()
    {
        foreach (var length in new[] { 0, 5, LogFormat.SegmentHeaderSize - 1 })
        {
            await File.WriteAllBytesAsync(SegmentPath, LogFormat.SegmentHeader(1)[..length]);
            await using var store = await OpenAsync();
            Assert.Equal(1, (await store.AppendAsync([Event("a")]))[0].Sequence);
            await store.DisposeAsync();
            File.Delete(SegmentPath);
        }
    }

    [Fact]
    public async Task A_segment_whose_creation_was_interrupted_is_removed()
    {
        await using (var store = await OpenAsync())
        {
            await store.AppendAsync([Event("a")]);
        }
        var next = _directory.File(SegmentFiles.NameOf(2));
        await File.WriteAllBytesAsync(next, LogFormat.SegmentHeader(2)[..10]);
        await using (var store = await OpenAsync())
        {
            Assert.Equal(1, await store.LastSequenceAsync());
            Assert.Equal(2, (await store.AppendAsync([Event("b")]))[0].Sequence);
        }
        Assert.False(File.Exists(next));
    }
}
