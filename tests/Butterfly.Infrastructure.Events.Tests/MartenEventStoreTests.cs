using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.Postgres;
using Butterfly.Infrastructure.Events.Tests.Support;
using Npgsql;

namespace Butterfly.Infrastructure.Events.Tests;

/// <summary>
/// What only the PostgreSQL store has: its tables as sql/ documents them, the audit queries,
/// the advisory lock, and reopening through a brand-new connection pool.
/// </summary>
public sealed class MartenEventStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly string _schema = PostgresServer.UniqueSchema();
    private readonly string _otherSchema = PostgresServer.UniqueSchema();
    private readonly ManualClock _clock = new(T0);
    private readonly LogCapture _logs = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await PostgresServer.DropSchemaAsync(_schema);
        await PostgresServer.DropSchemaAsync(_otherSchema);
    }

    private async Task<MartenEventStore> OpenAsync(string? schema = null, string host = "host-a") =>
        await MartenEventStore.OpenAsync(await PostgresServer.ConnectionStringAsync(), _logs.Logger,
            new MartenEventStoreOptions { Schema = schema ?? _schema, Time = _clock, HostId = host });

    private static async Task<T> ScalarAsync<T>(string sql)
    {
        await using var dataSource = NpgsqlDataSource.Create(await PostgresServer.ConnectionStringAsync());
        await using var command = dataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
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

    [Fact]
    public async Task A_reopen_through_a_fresh_connection_pool_sees_the_same_events()
    {
        List<StoredEvent> appended;
        await using (var store = await OpenAsync())
        {
            appended = [.. await store.AppendAsync([new("NicAdded", "nic", "n1", "{}", "o", "m1")]),
                .. await store.AppendAsync([new("MemberAdded", "sg", "s1", "{\"m\":\"10.0.0.1\"}", "o", null)])];
            await store.SaveSnapshotAsync(new StoredSnapshot(2, T0, "{\"s\":2}"));
        }
        NpgsqlConnection.ClearAllPools();

        await using var reopened = await OpenAsync();
        var read = new List<StoredEvent>();
        await foreach (var e in reopened.ReadAsync(0))
        {
            read.Add(e);
        }
        Assert.Equal(appended, read);
        Assert.Equal(2, await reopened.LastSequenceAsync());
        Assert.Equal(new StoredSnapshot(2, T0, "{\"s\":2}"), await reopened.LoadSnapshotAsync());
    }

    [Fact]
    public async Task A_second_store_on_the_same_schema_is_refused_until_the_first_closes()
    {
        var first = await OpenAsync();
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => OpenAsync());
        Assert.Contains("in use by another process", refused.Message, StringComparison.Ordinal);
        await using (var elsewhere = await OpenAsync(_otherSchema))
        {
            Assert.Equal(0, await elsewhere.LastSequenceAsync());
        }
        await first.DisposeAsync();
        await using var second = await OpenAsync();
    }

    [Fact]
    public async Task Events_are_stored_as_sql_schema_sql_describes()
    {
        await using (var store = await OpenAsync())
        {
            await store.AppendAsync([new("NicAdded", "nic", "n1", "{\"a\": 1}", "tcp://127.0.0.1:9", "m1"), new("NicRemoved", "nic", "n1", "{}", "o", null)]);
        }
        var rows = await RowsAsync(
            $"select stream_id, version, type, \"timestamp\" = '2030-01-01 12:00:00+00', data->>'event_type', data->>'aggregate_kind', " +
            $"data->>'aggregate_id', data->>'data_json', data->>'origin', data->>'message_id' from {_schema}.mt_events order by version");
        Assert.Equal(
        [
            "configuration/host-a|1|configuration_event|True|NicAdded|nic|n1|{\"a\": 1}|tcp://127.0.0.1:9|m1",
            "configuration/host-a|2|configuration_event|True|NicRemoved|nic|n1|{}|o|",
        ], rows);
        Assert.Equal(2L, await ScalarAsync<long>($"select version from {_schema}.mt_streams where id = 'configuration/host-a'"));
        Assert.Equal(["host-a|configuration/host-a"], await RowsAsync($"select host_id, stream_id from {_schema}.butterfly_hosts"));
    }

    [Fact]
    public async Task Sql_schema_sql_creates_the_tables_marten_creates_and_a_store_opens_on_it()
    {
        await using (var store = await OpenAsync(_otherSchema))
        {
            // Marten's own tables, for comparison.
        }
        await Psql.RunFileAsync(Path.Combine(RepositoryRoot.Path, "sql", "schema.sql"), new Dictionary<string, string> { ["schema"] = _schema });

        // Same columns (type, nullability, defaults but the one schema.sql documents), same indexes.
        const string Columns = """
            select table_name, column_name, data_type, is_nullable, coalesce(character_maximum_length, 0),
                   case when table_name = 'mt_events' and column_name = 'timestamp' then '' else coalesce(column_default, '') end
            from information_schema.columns where table_schema = '{0}' {1} order by 1, 2
            """;
        var fromFile = await RowsAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, Columns, _schema, ""));
        var tables = string.Join(", ", fromFile.Select(r => $"'{r.Split('|')[0]}'").Distinct());
        Assert.Equal(["butterfly_hosts", "mt_doc_snapshot", "mt_events", "mt_streams"], fromFile.Select(r => r.Split('|')[0]).Distinct());
        var fromMarten = await RowsAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, Columns, _otherSchema, $"and table_name in ({tables})"));
        Assert.Equal(fromMarten, fromFile);
        const string Indexes = "select tablename, indexname, replace(indexdef, '{0}.', '') from pg_indexes where schemaname = '{0}' {1} order by 1, 2";
        var indexesFromFile = await RowsAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, Indexes, _schema, ""));
        var indexesFromMarten = await RowsAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, Indexes, _otherSchema, $"and tablename in ({tables})"));
        Assert.Equal(indexesFromMarten, indexesFromFile);

        // Marten completes the schema (its functions) and works on the pre-made tables.
        await using var onFile = await OpenAsync();
        Assert.Equal(1, (await onFile.AppendAsync([new("NicAdded", "nic", "n1", "{}", "o", null)]))[0].Sequence);
        Assert.Single(await onFile.QueryAsync(new EventFilter(AggregateId: "n1")));
    }

    [Fact]
    public async Task The_audit_queries_answer_from_a_real_store()
    {
        await using (var store = await OpenAsync())
        {
            const string A = "tcp://127.0.0.1:1001", B = "tcp://127.0.0.1:1002";
            await store.AppendAsync([new("NicAdded", "nic", "nic-1", "{\"id\":\"nic-1\",\"securityGroups\":[\"sg-web\"]}", A, "m1")]);
            _clock.Advance(TimeSpan.FromMinutes(1));
            await store.AppendAsync([new("SecurityGroupCreated", "sg", "sg-web", "{\"groupId\":\"sg-web\"}", B, "m2"),
                new("RuleAdded", "sg", "sg-web", "{\"groupId\":\"sg-web\",\"rule\":{\"port\":80}}", B, "m2")]);
            _clock.Advance(TimeSpan.FromMinutes(1));
            await store.AppendAsync([new("NicAdded", "nic", "nic-2", "{\"id\":\"nic-2\",\"securityGroups\":[]}", A, "m3")]);
            _clock.Advance(TimeSpan.FromMinutes(1));
            await store.AppendAsync([new("NicSecurityGroupsReplaced", "nic", "nic-2", "{\"nicId\":\"nic-2\",\"securityGroups\":[\"sg-web\"]}", B, null)]);
            _clock.Advance(TimeSpan.FromMinutes(1));
            await store.AppendAsync([new("NicRemoved", "nic", "nic-1", "{\"nicId\":\"nic-1\"}", A, "m5")]);
        }

        var output = await Psql.RunFileAsync(Path.Combine(RepositoryRoot.Path, "sql", "audit.sql"), new Dictionary<string, string>
        {
            ["schema"] = _schema,
            ["nic_id"] = "nic-1",
            ["sg_id"] = "sg-web",
            ["message_id"] = "m2",
            ["since"] = "2030-01-01 12:01:00+00",
            ["until"] = "2030-01-01 12:03:00+00",
        });
        var sections = Psql.Sections(output);
        List<string> Column(string titleStart, int column) =>
            sections.Single(s => s.Key.StartsWith(titleStart, StringComparison.Ordinal)).Value.Select(r => r[column]).ToList();

        Assert.Equal(7, sections.Count);
        Assert.Equal(["1", "6"], Column("History of NIC", 0));
        Assert.Equal(["NicAdded", "NicRemoved"], Column("History of NIC", 2));
        Assert.Equal(["2", "3"], Column("History of security group", 0));
        Assert.Equal(["1", "5"], Column("NIC events that name", 0));
        Assert.Equal(["2", "3", "4", "5"], Column("Who changed what", 6));
        Assert.Equal(["2030-01-01 12:01:00+00", "2030-01-01 12:01:00+00", "2030-01-01 12:02:00+00", "2030-01-01 12:03:00+00"], Column("Who changed what", 0));
        Assert.Equal(["2", "3"], Column("Events of request", 0));
        var perClient = sections.Single(s => s.Key.StartsWith("Configuration changes per client", StringComparison.Ordinal)).Value;
        Assert.Equal(
        [
            "tcp://127.0.0.1:1002|3|1|2|2030-01-01 12:01:00+00|2030-01-01 12:03:00+00|NicSecurityGroupsReplaced, RuleAdded, SecurityGroupCreated|||host-a",
            "tcp://127.0.0.1:1001|1|1|1|2030-01-01 12:02:00+00|2030-01-01 12:02:00+00|NicAdded|||host-a",
        ], perClient.Select(r => string.Join('|', r)));
    }

    [Fact]
    public async Task The_audit_indexes_survive_marten_schema_migration()
    {
        await using (var store = await OpenAsync())
        {
        }
        await using (var store = await OpenAsync())
        {
        }
        var indexes = await RowsAsync($"select indexname from pg_indexes where schemaname = '{_schema}' and indexname like 'butterfly_events_%' order by 1");
        Assert.Equal(EventSql.AuditIndexes.Order(), indexes);
    }

    [Theory]
    [InlineData("Butterfly")]
    [InlineData("bad-name")]
    [InlineData("x; drop table t")]
    [InlineData("")]
    public async Task A_schema_name_that_is_not_a_plain_identifier_is_refused(string schema)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => OpenAsync(schema));
    }
}
