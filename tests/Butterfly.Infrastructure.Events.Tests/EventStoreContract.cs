using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.Tests.Support;

namespace Butterfly.Infrastructure.Events.Tests;

/// <summary>
/// The contract of <see cref="IEventStore"/> (its doc comments), run against every
/// implementation. Each test gets an empty store of its own; <see cref="ReopenAsync"/> closes
/// it and opens the same storage again, as a daemon restart would.
/// </summary>
public abstract class EventStoreContract : IAsyncLifetime
{
    private IEventStore? _store;

    protected static readonly DateTimeOffset T0 = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);

    internal ManualClock Clock { get; } = new(T0);

    internal LogCapture Logs { get; } = new();

    protected IEventStore Store => _store ?? throw new InvalidOperationException("store not open");

    /// <summary>Opens this test's storage (the same one every time), stamping with <see cref="Clock"/>.</summary>
    protected abstract Task<IEventStore> OpenAsync();

    /// <summary>Removes this test's storage once the store is closed.</summary>
    protected abstract Task DeleteStorageAsync();

    /// <summary>Groups committed by the store's writer loop.</summary>
    protected abstract long GroupsCommitted(IEventStore store);

    public async Task InitializeAsync() => _store = await OpenAsync();

    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
        await DeleteStorageAsync();
    }

    protected async Task ReopenAsync()
    {
        await Store.DisposeAsync();
        _store = null;
        _store = await OpenAsync();
    }

    protected static NewEvent Event(string type = "NicAdded", string kind = "nic", string id = "nic-1", string data = "{\"mac\":\"52:54:00:00:00:01\"}",
        string origin = "tcp://127.0.0.1:40000", string? messageId = "m-1") =>
        new(type, kind, id, data, origin, messageId);

    protected async Task<List<StoredEvent>> ReadAllAsync(long after = 0)
    {
        var all = new List<StoredEvent>();
        await foreach (var e in Store.ReadAsync(after))
        {
            all.Add(e);
        }
        return all;
    }

    [Fact]
    public async Task An_empty_store_has_no_events_and_no_snapshot()
    {
        Assert.Equal(0, await Store.LastSequenceAsync());
        Assert.Empty(await ReadAllAsync());
        Assert.Empty(await Store.QueryAsync(new EventFilter()));
        Assert.Equal(0, await Store.SequenceAtAsync(DateTimeOffset.MaxValue));
        Assert.Null(await Store.LoadSnapshotAsync());
        Assert.False(string.IsNullOrWhiteSpace(Store.Description));
    }

    [Fact]
    public async Task Append_assigns_consecutive_sequences_from_one_and_one_utc_timestamp_per_batch()
    {
        var first = await Store.AppendAsync([Event(id: "a"), Event(id: "b"), Event(id: "c")]);
        Clock.Advance(TimeSpan.FromSeconds(1));
        var second = await Store.AppendAsync([Event(id: "d")]);

        Assert.Equal([1L, 2L, 3L], first.Select(e => e.Sequence));
        Assert.Equal([4L], second.Select(e => e.Sequence));
        Assert.Single(first.Select(e => e.Timestamp).Distinct());
        Assert.Equal(T0, first[0].Timestamp);
        Assert.Equal(TimeSpan.Zero, first[0].Timestamp.Offset);
        Assert.Equal(T0.AddSeconds(1), second[0].Timestamp);
        Assert.Equal(4, await Store.LastSequenceAsync());
        Assert.Equal([.. first, .. second], await ReadAllAsync());
    }

    [Fact]
    public async Task Every_field_comes_back_exactly_as_given()
    {
        NewEvent[] batch =
        [
            new("NicAdded", "nic", "nic-é-1", "{\"ip\":[\"10.0.0.1\"],\"note\":\"quote \\\" backslash \\\\ tab\\t ü 🦋\"}", "tcp://127.0.0.1:5555", "msg-1"),
            new("SgRuleAdded", "sg", "sg-1", "  { \"b\" : 2, \"a\" : 1 }  ", "", null),
            new("X", "sg", "sg-2", "[]", "ipc://x\nnewline", "   "),
        ];
        var stored = await Store.AppendAsync(batch);

        for (var i = 0; i < batch.Length; i++)
        {
            Assert.Equal(batch[i].Type, stored[i].Type);
            Assert.Equal(batch[i].AggregateKind, stored[i].AggregateKind);
            Assert.Equal(batch[i].AggregateId, stored[i].AggregateId);
            Assert.Equal(batch[i].DataJson, stored[i].DataJson);
            Assert.Equal(batch[i].Origin, stored[i].Origin);
            Assert.Equal(batch[i].MessageId, stored[i].MessageId);
        }
        Assert.Equal(stored, await ReadAllAsync());
        await ReopenAsync();
        Assert.Equal(stored, await ReadAllAsync());
    }

    [Fact]
    public async Task What_the_log_records_about_the_request_comes_back_and_events_without_it_stay_without()
    {
        // A batch with the request's name, the client's address and CURVE key, one with part of
        // it, and one recorded the way events were before (no audit at all).
        var audited = Event(id: "n1") with { Audit = new EventAudit("restore_to 2", "192.0.2.7", "rq:Ch?-3x}^[I5Wz{n!0%0(xLB+8mZgk2#Qn*uKHF") };
        var partial = Event(id: "n2") with { Audit = new EventAudit("nic_add", null, null) };
        var plain = Event(id: "n3");
        var stored = new List<StoredEvent>();
        stored.AddRange(await Store.AppendAsync([audited, partial]));
        stored.AddRange(await Store.AppendAsync([plain]));

        Assert.Equal(audited.Audit, stored[0].Audit);
        Assert.Equal(partial.Audit, stored[1].Audit);
        Assert.Null(stored[2].Audit);
        Assert.Equal(stored, await ReadAllAsync());
        await ReopenAsync();
        Assert.Equal(stored, await ReadAllAsync());
        Assert.Equal(stored[1..2], await Store.QueryAsync(new EventFilter(AggregateId: "n2")));
    }

    [Fact]
    public async Task An_empty_batch_appends_nothing()
    {
        Assert.Empty(await Store.AppendAsync([]));
        Assert.Equal(0, await Store.LastSequenceAsync());
        Assert.Equal(1, (await Store.AppendAsync([Event()]))[0].Sequence);
    }

    [Fact]
    public async Task An_invalid_event_rejects_the_whole_batch()
    {
        NewEvent?[] bad =
        [
            null,
            Event(type: ""),
            Event(kind: null!),
            Event(id: ""),
            Event(data: null!),
            Event(origin: null!),
            Event(data: "{\"a\":\"nul\0\"}"),
            Event(id: "lone\uD800surrogate"),
            Event(messageId: "x\0"),
        ];
        foreach (var e in bad)
        {
            var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.AppendAsync([Event(id: "ok"), e!]));
            Assert.Contains("batch[1]", error.Message, StringComparison.Ordinal);
        }
        await Assert.ThrowsAsync<ArgumentNullException>(() => Store.AppendAsync(null!));
        Assert.Equal(0, await Store.LastSequenceAsync());
        Assert.Equal(1, (await Store.AppendAsync([Event()]))[0].Sequence);
    }

    [Fact]
    public async Task Read_returns_the_events_after_a_sequence_in_order()
    {
        for (var i = 0; i < 5; i++)
        {
            await Store.AppendAsync([Event(id: $"n{i}a"), Event(id: $"n{i}b")]);
        }
        var all = await ReadAllAsync();
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), all.Select(e => e.Sequence));
        Assert.Equal(all.Skip(7), await ReadAllAsync(after: 7));
        Assert.Empty(await ReadAllAsync(after: 10));
        Assert.Empty(await ReadAllAsync(after: 99));
        Assert.Equal(all, await ReadAllAsync(after: -5));
    }

    [Fact]
    public async Task Query_filters_by_aggregate_kind_and_id()
    {
        await Store.AppendAsync([Event(kind: "nic", id: "n1"), Event(kind: "sg", id: "s1")]);
        await Store.AppendAsync([Event(kind: "nic", id: "n2"), Event(kind: "nic", id: "n1")]);
        await Store.AppendAsync([Event(kind: "sg", id: "n1")]);

        Assert.Equal([1L, 3L, 4L], (await Store.QueryAsync(new EventFilter(AggregateKind: "nic"))).Select(e => e.Sequence));
        Assert.Equal([1L, 4L, 5L], (await Store.QueryAsync(new EventFilter(AggregateId: "n1"))).Select(e => e.Sequence));
        Assert.Equal([1L, 4L], (await Store.QueryAsync(new EventFilter(AggregateKind: "nic", AggregateId: "n1"))).Select(e => e.Sequence));
        Assert.Empty(await Store.QueryAsync(new EventFilter(AggregateKind: "NIC")));
        Assert.Equal(await ReadAllAsync(), await Store.QueryAsync(new EventFilter()));
    }

    [Fact]
    public async Task Query_honours_sequence_bounds_and_pages_with_the_limit()
    {
        for (var i = 0; i < 25; i++)
        {
            await Store.AppendAsync([Event(id: $"n{i % 3}")]);
        }
        Assert.Equal([6L, 7L, 8L], (await Store.QueryAsync(new EventFilter(AfterSequence: 5, UntilSequence: 8))).Select(e => e.Sequence));
        Assert.Empty(await Store.QueryAsync(new EventFilter(UntilSequence: 0)));
        Assert.Equal(100, new EventFilter().Limit);

        var pages = new List<List<long>>();
        long after = 0;
        while (true)
        {
            var page = await Store.QueryAsync(new EventFilter(AggregateId: "n1", AfterSequence: after, Limit: 3));
            if (page.Count == 0)
            {
                break;
            }
            pages.Add(page.Select(e => e.Sequence).ToList());
            after = page[^1].Sequence;
        }
        Assert.Equal([[2L, 5L, 8L], [11L, 14L, 17L], [20L, 23L]], pages);

        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.QueryAsync(new EventFilter(Limit: 0)));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.QueryAsync(new EventFilter(AfterSequence: -1)));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.QueryAsync(null!));
    }

    [Fact]
    public async Task Query_filters_by_time_range_inclusively()
    {
        for (var i = 0; i < 5; i++)
        {
            await Store.AppendAsync([Event(id: $"n{i}"), Event(id: $"m{i}")]);
            Clock.Advance(TimeSpan.FromMinutes(1));
        }
        // Batch i (sequences 2i+1, 2i+2) is stamped T0 + i minutes.
        var range = await Store.QueryAsync(new EventFilter(Since: T0.AddMinutes(1), Until: T0.AddMinutes(3)));
        Assert.Equal([3L, 4L, 5L, 6L, 7L, 8L], range.Select(e => e.Sequence));
        var since = await Store.QueryAsync(new EventFilter(Since: T0.AddMinutes(3).AddTicks(10)));
        Assert.Equal([9L, 10L], since.Select(e => e.Sequence));
        // Another offset, same instant.
        var until = await Store.QueryAsync(new EventFilter(Until: T0.AddMinutes(1).ToOffset(TimeSpan.FromHours(2))));
        Assert.Equal([1L, 2L, 3L, 4L], until.Select(e => e.Sequence));
        Assert.Empty(await Store.QueryAsync(new EventFilter(Since: T0.AddMinutes(10))));
    }

    [Fact]
    public async Task SequenceAt_is_the_newest_event_at_or_before_a_time()
    {
        await Store.AppendAsync([Event(), Event()]);
        Clock.Advance(TimeSpan.FromMinutes(1));
        await Store.AppendAsync([Event()]);
        Clock.Advance(TimeSpan.FromMinutes(1));
        await Store.AppendAsync([Event(), Event()]);

        Assert.Equal(0, await Store.SequenceAtAsync(T0.AddTicks(-10)));
        Assert.Equal(2, await Store.SequenceAtAsync(T0));
        Assert.Equal(2, await Store.SequenceAtAsync(T0.AddSeconds(59)));
        Assert.Equal(3, await Store.SequenceAtAsync(T0.AddMinutes(1)));
        Assert.Equal(5, await Store.SequenceAtAsync(T0.AddDays(1)));
        Assert.Equal(3, await Store.SequenceAtAsync(T0.AddMinutes(1).ToOffset(TimeSpan.FromHours(-5))));
    }

    [Fact]
    public async Task Timestamps_never_go_back_even_when_the_clock_does()
    {
        var first = await Store.AppendAsync([Event()]);
        Clock.Advance(TimeSpan.FromHours(-1));
        var second = await Store.AppendAsync([Event()]);
        Assert.Equal(first[0].Timestamp, second[0].Timestamp);

        await ReopenAsync();
        Clock.Advance(TimeSpan.FromHours(-1));
        var third = await Store.AppendAsync([Event()]);
        Assert.Equal(first[0].Timestamp, third[0].Timestamp);
        Assert.Equal(3, third[0].Sequence);
    }

    [Fact]
    public async Task Snapshots_are_found_by_sequence_and_only_the_newest_few_are_kept()
    {
        for (var i = 0; i < 6; i++)
        {
            await Store.AppendAsync([Event()]);
        }
        Assert.Null(await Store.LoadSnapshotAsync());
        foreach (var sequence in new long[] { 1, 2, 3, 4, 5 })
        {
            await Store.SaveSnapshotAsync(new StoredSnapshot(sequence, T0.AddMinutes(sequence), $"{{\"at\":{sequence}}}"));
        }

        Assert.Equal(new StoredSnapshot(5, T0.AddMinutes(5), "{\"at\":5}"), await Store.LoadSnapshotAsync());
        Assert.Equal(4, (await Store.LoadSnapshotAsync(4))!.Sequence);
        Assert.Equal(3, (await Store.LoadSnapshotAsync(3))!.Sequence);
        // The default keeps three.
        Assert.Null(await Store.LoadSnapshotAsync(2));
        Assert.Null(await Store.LoadSnapshotAsync(0));

        // Saving the same point again replaces it.
        await Store.SaveSnapshotAsync(new StoredSnapshot(5, T0, "{\"again\":true}"));
        Assert.Equal("{\"again\":true}", (await Store.LoadSnapshotAsync())!.DataJson);

        await ReopenAsync();
        Assert.Equal(new StoredSnapshot(5, T0, "{\"again\":true}"), await Store.LoadSnapshotAsync());
        Assert.Equal(4, (await Store.LoadSnapshotAsync(4))!.Sequence);
    }

    [Fact]
    public async Task A_snapshot_must_describe_a_point_of_the_log()
    {
        await Store.AppendAsync([Event(), Event()]);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.SaveSnapshotAsync(new StoredSnapshot(3, T0, "{}")));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.SaveSnapshotAsync(new StoredSnapshot(-1, T0, "{}")));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.SaveSnapshotAsync(null!));
        await Store.SaveSnapshotAsync(new StoredSnapshot(0, T0, "{\"empty\":true}"));
        Assert.Equal(0, (await Store.LoadSnapshotAsync())!.Sequence);
    }

    [Fact]
    public async Task Reopening_gives_back_the_same_content_and_appends_continue()
    {
        var appended = new List<StoredEvent>();
        for (var i = 0; i < 10; i++)
        {
            appended.AddRange(await Store.AppendAsync([Event(id: $"n{i}", messageId: i % 2 == 0 ? null : $"m{i}"), Event(kind: "sg", id: $"s{i}")]));
            Clock.Advance(TimeSpan.FromSeconds(7));
        }
        await Store.SaveSnapshotAsync(new StoredSnapshot(12, T0.AddHours(1), "{\"nics\":[]}"));

        await ReopenAsync();

        Assert.Equal(20, await Store.LastSequenceAsync());
        Assert.Equal(appended, await ReadAllAsync());
        Assert.Equal(appended.Where(e => e.AggregateKind == "sg"), await Store.QueryAsync(new EventFilter(AggregateKind: "sg")));
        Assert.Equal(12, (await Store.LoadSnapshotAsync())!.Sequence);
        Assert.Equal(21, (await Store.AppendAsync([Event()]))[0].Sequence);
    }

    [Fact]
    public async Task Concurrent_appends_get_unique_gapless_sequences_and_are_grouped()
    {
        const int Tasks = 16;
        const int AppendsPerTask = 30;
        var results = await Task.WhenAll(Enumerable.Range(0, Tasks).Select(t => Task.Run(async () =>
        {
            var mine = new List<IReadOnlyList<StoredEvent>>();
            for (var i = 0; i < AppendsPerTask; i++)
            {
                var size = 1 + ((t + i) % 3);
                mine.Add(await Store.AppendAsync(Enumerable.Range(0, size).Select(k => Event(id: $"t{t}-{i}-{k}")).ToList()));
            }
            return mine;
        })));
        var batches = results.SelectMany(r => r).ToList();
        var total = batches.Sum(b => b.Count);

        foreach (var batch in batches)
        {
            // A batch is consecutive and shares one timestamp, and sequences ids in order.
            Assert.Equal(Enumerable.Range(0, batch.Count).Select(k => batch[0].Sequence + k), batch.Select(e => e.Sequence));
            Assert.Single(batch.Select(e => e.Timestamp).Distinct());
            Assert.Equal(Enumerable.Range(0, batch.Count).Select(k => batch[0].AggregateId[..^1] + k), batch.Select(e => e.AggregateId));
        }
        var all = batches.SelectMany(b => b).OrderBy(e => e.Sequence).ToList();
        Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), all.Select(e => e.Sequence));
        Assert.Equal(all, await ReadAllAsync());
        Assert.Equal(total, await Store.LastSequenceAsync());
        // Group commit: callers that queued while a group was being flushed share the next flush.
        Assert.InRange(GroupsCommitted(Store), 1, batches.Count - 1);

        await ReopenAsync();
        Assert.Equal(all, await ReadAllAsync());
    }

    [Fact]
    public async Task Large_payloads_and_large_batches_are_stored_whole()
    {
        var big = "{\"blob\":\"" + new string('x', 1 << 20) + "\"}";
        var stored = await Store.AppendAsync([Event(data: big)]);
        var many = await Store.AppendAsync(Enumerable.Range(0, 2000).Select(i => Event(id: $"n{i}")).ToList());

        Assert.Equal(2, many[0].Sequence);
        Assert.Equal(2001, many[^1].Sequence);
        await ReopenAsync();
        var all = await ReadAllAsync();
        Assert.Equal(big, all[0].DataJson);
        Assert.Equal([.. stored, .. many], all);

        var snapshot = new StoredSnapshot(2001, T0, "{\"s\":\"" + new string('y', 2 << 20) + "\"}");
        await Store.SaveSnapshotAsync(snapshot);
        Assert.Equal(snapshot, await Store.LoadSnapshotAsync());
    }

    [Fact]
    public async Task A_cancelled_append_stores_nothing()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Store.AppendAsync([Event()], cancelled.Token));
        Assert.Equal(0, await Store.LastSequenceAsync());
        Assert.Empty(await ReadAllAsync());
    }

    [Fact]
    public async Task A_closed_store_refuses_work()
    {
        await Store.AppendAsync([Event()]);
        await Store.DisposeAsync();
        await Store.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => Store.AppendAsync([Event()]));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => Store.LastSequenceAsync());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => Store.QueryAsync(new EventFilter()));
        await ReopenAsync();
        Assert.Equal(1, await Store.LastSequenceAsync());
    }
}
