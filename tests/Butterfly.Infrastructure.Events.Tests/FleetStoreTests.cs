using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.Postgres;
using Butterfly.Infrastructure.Events.Tests.Support;
using Npgsql;
using Serilog.Events;

namespace Butterfly.Infrastructure.Events.Tests;

/// <summary>
/// A fleet in one PostgreSQL database: every host id writes a stream of its own, reads another
/// host's log without touching it, holds its own writer lock (a second daemon of a host id is
/// refused, other hosts are not), and a database written before host ids is adopted by the first
/// host that opens it while no earlier butterflyd writes it. sql/fleet.sql answers across hosts.
/// </summary>
public sealed class FleetStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly string _schema = PostgresServer.UniqueSchema();
    private readonly ManualClock _clock = new(T0);
    private readonly LogCapture _logs = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => PostgresServer.DropSchemaAsync(_schema);

    private async Task<MartenEventStore> OpenAsync(string host) =>
        await MartenEventStore.OpenAsync(await PostgresServer.ConnectionStringAsync(), _logs.Logger,
            new MartenEventStoreOptions { Schema = _schema, HostId = host, Time = _clock });

    private static NewEvent Nic(string type, string id, string cause) =>
        new(type, "nic", id, $"{{\"nicId\":\"{id}\"}}", "tcp://0.0.0.0:9999 peer 0080000001", null) { Audit = new EventAudit(cause, "192.0.2.1", null) };

    private static NewEvent Group(string type, string id) =>
        new(type, "sg", id, $"{{\"groupId\":\"{id}\",\"rule\":{{\"protocol\":6}}}}", "tcp://0.0.0.0:9999 peer 0080000002", null);

    private static async Task<List<StoredEvent>> ReadAllAsync(IEventLog log)
    {
        var all = new List<StoredEvent>();
        await foreach (var e in log.ReadAsync(0))
        {
            all.Add(e);
        }
        return all;
    }

    private static async Task<List<string>> RowsAsync(string sql)
    {
        await using var dataSource = NpgsqlDataSource.Create(await PostgresServer.ConnectionStringAsync());
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(string.Join('|', Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : reader.GetValue(i).ToString())));
        }
        return rows;
    }

    /// <summary>
    /// The database a butterflyd before host ids leaves: the tables as they were (no
    /// butterfly_hosts, no snapshot stream column), one stream 'configuration' of two events,
    /// and a snapshot at sequence 1 whose id is the bare sequence.
    /// </summary>
    private async Task WriteSingleHostDatabaseAsync()
    {
        await Psql.RunFileAsync(Path.Combine(RepositoryRoot.Path, "sql", "schema.sql"), new Dictionary<string, string> { ["schema"] = _schema });
        var s = _schema;
        const string Type = "Butterfly.Infrastructure.Events.Postgres.ConfigurationEvent, Butterfly.Infrastructure.Events";
        await RowsAsync($$"""
            drop table {{s}}.butterfly_hosts;
            drop index {{s}}.mt_doc_snapshot_idx_stream;
            alter table {{s}}.mt_doc_snapshot drop column stream;
            insert into {{s}}.mt_streams (id, version, "timestamp", created) values ('configuration', 2, '2029-12-31 10:00+00', '2029-12-31 09:00+00');
            insert into {{s}}.mt_events (seq_id, id, stream_id, version, data, type, "timestamp", mt_dotnet_type) values
              (nextval('{{s}}.mt_events_sequence'), gen_random_uuid(), 'configuration', 1,
               '{"event_type":"NicAdded","aggregate_kind":"nic","aggregate_id":"vm-old","data_json":"{\"id\":\"vm-old\"}","origin":"tcp://0.0.0.0:9999 peer 0080000001","message_id":"m-1"}',
               'configuration_event', '2029-12-31 09:00+00', '{{Type}}'),
              (nextval('{{s}}.mt_events_sequence'), gen_random_uuid(), 'configuration', 2,
               '{"event_type":"MemberAdded","aggregate_kind":"sg","aggregate_id":"web","data_json":"{\"groupId\":\"web\"}","origin":"tcp://0.0.0.0:9999 peer 0080000001","message_id":null}',
               'configuration_event', '2029-12-31 10:00+00', '{{Type}}');
            insert into {{s}}.mt_doc_snapshot (id, data, sequence) values
              ('00000000000000000001', '{"id":"00000000000000000001","sequence":1,"timestamp":"2029-12-31T09:00:00+00:00","data_json":"{\"old\":1}"}', 1);
            """);
    }

    /// <summary>A session that holds the single-writer lock every butterflyd before host ids takes (as one still running would).</summary>
    private async Task<NpgsqlConnection> HoldOldLockAsync()
    {
        // Not pooled: disposing it ends the session, and its lock with it, as an exit would (a
        // pooled connection keeps its session, and its advisory locks, until its next use).
        var connectionString = new NpgsqlConnectionStringBuilder(await PostgresServer.ConnectionStringAsync()) { Pooling = false }.ConnectionString;
        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"select pg_try_advisory_lock({HostStream.LegacyLockClass}, hashtext('{_schema}'))", connection);
        Assert.True((bool)(await command.ExecuteScalarAsync())!);
        return connection;
    }

    [Fact]
    public async Task Hosts_of_one_database_each_write_their_own_stream_and_read_each_other_without_writing()
    {
        await using var a = await OpenAsync("hv-a");
        await using var b = await OpenAsync("hv-b");
        var fromA = (await a.AppendAsync([Nic("NicAdded", "vm1", "nic_add")])).ToList();
        var fromB = (await b.AppendAsync([Nic("NicAdded", "vm2", "nic_add"), Group("RuleAdded", "web")])).ToList();
        fromA.AddRange(await a.AppendAsync([Nic("NicRemoved", "vm1", "nic_del")]));
        await a.SaveSnapshotAsync(new StoredSnapshot(2, T0, "{\"host\":\"a\"}"));
        await b.SaveSnapshotAsync(new StoredSnapshot(2, T0, "{\"host\":\"b\"}"));

        // Each host's sequences start at 1 in its own stream.
        Assert.Equal([1L, 2L], fromA.Select(e => e.Sequence));
        Assert.Equal([1L, 2L], fromB.Select(e => e.Sequence));
        Assert.Equal(fromA, await ReadAllAsync(a));
        Assert.Equal(fromB, await ReadAllAsync(b));
        Assert.Equal("{\"host\":\"a\"}", (await a.LoadSnapshotAsync())!.DataJson);
        Assert.Equal("{\"host\":\"b\"}", (await b.LoadSnapshotAsync())!.DataJson);

        // Another host's log, read-only.
        var bSeenFromA = await a.OpenHostLogAsync("hv-b");
        Assert.NotNull(bSeenFromA);
        Assert.Equal(fromB, await ReadAllAsync(bSeenFromA));
        Assert.Equal(2, await bSeenFromA.LastSequenceAsync());
        Assert.Equal("{\"host\":\"b\"}", (await bSeenFromA.LoadSnapshotAsync())!.DataJson);
        Assert.Equal(fromB[1..], await bSeenFromA.QueryAsync(new EventFilter(AggregateKind: "sg")));
        Assert.Null(await a.OpenHostLogAsync("hv-unknown"));
        Assert.Null(await a.OpenHostLogAsync("not a host id"));

        Assert.Equal(["hv-a|configuration/hv-a", "hv-b|configuration/hv-b"],
            await RowsAsync($"select host_id, stream_id from {_schema}.butterfly_hosts order by 1"));
    }

    [Fact]
    public async Task A_second_daemon_of_a_host_id_is_refused_while_other_hosts_open_the_same_database()
    {
        var a = await OpenAsync("hv-a");
        await a.AppendAsync([Nic("NicAdded", "vm1", "nic_add")]);

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => OpenAsync("hv-a"));
        Assert.Contains("in use by another process", refused.Message, StringComparison.Ordinal);
        Assert.Contains("hv-a", refused.Message, StringComparison.Ordinal);
        await using (var b = await OpenAsync("hv-b"))
        {
            Assert.Equal(1, (await b.AppendAsync([Nic("NicAdded", "vm9", "nic_add")]))[0].Sequence);
        }

        await a.DisposeAsync();
        await using var again = await OpenAsync("hv-a");
        Assert.Equal(2, (await again.AppendAsync([Nic("NicRemoved", "vm1", "nic_del")]))[0].Sequence);
    }

    [Fact]
    public async Task A_database_written_before_host_ids_is_adopted_whole_by_the_first_host_and_others_get_streams_of_their_own()
    {
        await WriteSingleHostDatabaseAsync();

        await using (var adopter = await OpenAsync("hv-old"))
        {
            Assert.Equal(HostStream.LegacyStreamId, adopter.StreamId);
            var events = await ReadAllAsync(adopter);
            Assert.Equal(["NicAdded vm-old m-1", "MemberAdded web "], events.Select(e => $"{e.Type} {e.AggregateId} {e.MessageId}"));
            Assert.All(events, e => Assert.Null(e.Audit));
            Assert.Equal("{\"old\":1}", (await adopter.LoadSnapshotAsync())!.DataJson);
            Assert.Equal(3, (await adopter.AppendAsync([Nic("NicAdded", "vm-new", "nic_add")]))[0].Sequence);
            await adopter.SaveSnapshotAsync(new StoredSnapshot(3, T0, "{\"new\":3}"));
            Assert.Contains(_logs.Messages(LogEventLevel.Warning), m => m.Contains("adopted the stream", StringComparison.Ordinal));

            // An earlier butterflyd can no longer write the adopted stream: its lock is held.
            await using var old = new NpgsqlConnection(await PostgresServer.ConnectionStringAsync());
            await old.OpenAsync();
            await using var tryLock = new NpgsqlCommand($"select pg_try_advisory_lock({HostStream.LegacyLockClass}, hashtext('{_schema}'))", old);
            Assert.False((bool)(await tryLock.ExecuteScalarAsync())!);

            await using var other = await OpenAsync("hv-other");
            Assert.Equal(HostStream.StreamOf("hv-other"), other.StreamId);
            Assert.Empty(await ReadAllAsync(other));
            Assert.Null(await other.LoadSnapshotAsync());
        }

        // The adoption is recorded: the same host finds its stream again, with its history.
        await using var reopened = await OpenAsync("hv-old");
        Assert.Equal(HostStream.LegacyStreamId, reopened.StreamId);
        Assert.Equal(3, await reopened.LastSequenceAsync());
        Assert.Equal("{\"new\":3}", (await reopened.LoadSnapshotAsync())!.DataJson);
        Assert.Equal(["hv-old|configuration", "hv-other|configuration/hv-other"],
            await RowsAsync($"select host_id, stream_id from {_schema}.butterfly_hosts order by 1"));
    }

    [Fact]
    public async Task While_an_earlier_butterflyd_writes_the_old_stream_a_new_host_does_not_adopt_it()
    {
        await WriteSingleHostDatabaseAsync();
        var earlier = await HoldOldLockAsync();

        await using (var newcomer = await OpenAsync("hv-new"))
        {
            Assert.Equal(HostStream.StreamOf("hv-new"), newcomer.StreamId);
            Assert.Empty(await ReadAllAsync(newcomer));
        }

        // The old daemon stops (its host is upgraded): the upgraded daemon adopts its stream.
        await earlier.DisposeAsync();
        await using var upgraded = await OpenAsync("hv-old");
        Assert.Equal(HostStream.LegacyStreamId, upgraded.StreamId);
        Assert.Equal(2, await upgraded.LastSequenceAsync());
    }

    [Fact]
    public async Task The_fleet_queries_answer_which_host_had_a_nic_and_every_rule_change_across_hosts()
    {
        await using (var a = await OpenAsync("hv-a"))
        await using (var b = await OpenAsync("hv-b"))
        {
            await a.AppendAsync([Nic("NicAdded", "vm1", "nic_add")]);                  // 12:00 a has vm1
            _clock.Advance(TimeSpan.FromMinutes(5));
            await b.AppendAsync([Nic("NicAdded", "vm1", "nic_add")]);                  // 12:05 b has vm1 too (a migration)
            _clock.Advance(TimeSpan.FromMinutes(5));
            await a.AppendAsync([Group("RuleAdded", "web")]);                          // 12:10
            _clock.Advance(TimeSpan.FromMinutes(5));
            await b.AppendAsync([Group("SecurityGroupDefined", "web")]);               // 12:15
            _clock.Advance(TimeSpan.FromMinutes(5));
            await a.AppendAsync([Nic("NicRemoved", "vm1", "restore_to 1")]);           // 12:20 a no longer has it
            _clock.Advance(TimeSpan.FromMinutes(5));
            await b.AppendAsync([Group("MemberAdded", "web")]);                        // 12:25 not a rule change
        }

        async Task<Dictionary<string, List<string[]>>> FleetAsync(string at) => Psql.Sections(await Psql.RunFileAsync(
            Path.Combine(RepositoryRoot.Path, "sql", "fleet.sql"), new Dictionary<string, string>
            {
                ["schema"] = _schema,
                ["nic_id"] = "vm1",
                ["at"] = at,
                ["since"] = "2030-01-01 12:08:00+00",
            }));
        static List<string[]> Section(Dictionary<string, List<string[]>> sections, string start) =>
            sections.Single(s => s.Key.StartsWith(start, StringComparison.Ordinal)).Value;

        var at12h12 = await FleetAsync("2030-01-01 12:12:00+00");
        Assert.Equal(["hv-a|configuration/hv-a|3", "hv-b|configuration/hv-b|3"], Section(at12h12, "Hosts").Select(r => string.Join('|', r[0], r[1], r[3])));
        Assert.Equal(["hv-a", "hv-b"], Section(at12h12, "Which host had NIC").Select(r => r[0]));
        Assert.Equal(["2030-01-01 12:10:00+00|hv-a|RuleAdded|web", "2030-01-01 12:15:00+00|hv-b|SecurityGroupDefined|web"],
            Section(at12h12, "Rule changes in the fleet").Select(r => string.Join('|', r[0], r[1], r[3], r[4])));

        var at12h22 = await FleetAsync("2030-01-01 12:22:00+00");
        Assert.Equal(["hv-b"], Section(at12h22, "Which host had NIC").Select(r => r[0]));
        var at11h59 = await FleetAsync("2030-01-01 11:59:00+00");
        Assert.Empty(Section(at11h59, "Which host had NIC"));

        // The one-host audit queries take the host.
        var audit = Psql.Sections(await Psql.RunFileAsync(Path.Combine(RepositoryRoot.Path, "sql", "audit.sql"), new Dictionary<string, string>
        {
            ["schema"] = _schema,
            ["host"] = "hv-a",
            ["nic_id"] = "vm1",
            ["since"] = "2030-01-01 12:00:00+00",
            ["until"] = "2030-01-01 13:00:00+00",
        }));
        Assert.Equal(["1|NicAdded|nic_add|hv-a", "3|NicRemoved|restore_to 1|hv-a"],
            Section(audit, "History of NIC").Select(r => string.Join('|', r[0], r[2], r[6], r[7])));
        Assert.Equal(["1|1|NicRemoved nic/vm1|192.0.2.1|hv-a"],
            Section(audit, "Restores between").Select(r => string.Join('|', r[1], r[2], r[3], r[5], r[7])));
    }
}
