using System.Text;
using Butterfly.Application.Ports;
using Npgsql;

namespace Butterfly.Infrastructure.Events.Postgres;

/// <summary>
/// The read side of <see cref="MartenEventStore"/>: parameterised SQL on Marten's
/// <c>mt_events</c> table, restricted to one host's stream. The schema name is validated by the
/// store (it cannot be a parameter), everything else is bound.
/// </summary>
internal sealed class EventSql(HostStream stream)
{

    private readonly string _columns =
        "version, timestamp, data->>'event_type', data->>'aggregate_kind', data->>'aggregate_id', " +
        $"data->>'data_json', data->>'origin', data->>'message_id', data->>'cause', data->>'peer_address', data->>'client_key' " +
        $"from {stream.Schema}.mt_events where stream_id = @stream";

    /// <summary>
    /// Indexes for the audit queries (sql/audit.sql) and the store's own filters. Marten does
    /// not know them; <see cref="AuditIndexes"/> are registered with it as ignored, so its
    /// schema migration neither drops them nor reports them as drift.
    /// </summary>
    public static readonly IReadOnlyList<string> AuditIndexes = ["butterfly_events_aggregate", "butterfly_events_message_id", "butterfly_events_timestamp"];

    public static async Task CreateAuditIndexesAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            $"create index if not exists {AuditIndexes[0]} on {schema}.mt_events ((data->>'aggregate_kind'), (data->>'aggregate_id'), version)"));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            $"create index if not exists {AuditIndexes[1]} on {schema}.mt_events ((data->>'message_id'))"));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(
            $"create index if not exists {AuditIndexes[2]} on {schema}.mt_events (\"timestamp\")"));
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Last sequence and its timestamp (0 and MinValue for an empty stream).</summary>
    public async Task<(long Sequence, DateTimeOffset Timestamp)> ReadTailAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"select version, timestamp from {stream.Schema}.mt_events where stream_id = @stream order by version desc limit 1");
        command.Parameters.AddWithValue("stream", stream.StreamId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return (0, DateTimeOffset.MinValue);
        }
        return (reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1));
    }

    /// <summary>Last sequence and its timestamp, on <paramref name="connection"/> (inside its transaction, if one is open).</summary>
    public async Task<(long Sequence, DateTimeOffset Timestamp)> ReadTailAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"select version, timestamp from {stream.Schema}.mt_events where stream_id = @stream order by version desc limit 1", connection);
        command.Parameters.AddWithValue("stream", stream.StreamId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return (0, DateTimeOffset.MinValue);
        }
        return (reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1));
    }

    /// <summary>How many of the events with ids <paramref name="ids"/> sit at versions <paramref name="first"/>..<paramref name="last"/>.</summary>
    public async Task<long> CountEventsAsync(NpgsqlDataSource dataSource, long first, long last, Guid[] ids, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"select count(*) from {stream.Schema}.mt_events where stream_id = @stream and version between @first and @last and id = any(@ids)");
        command.Parameters.AddWithValue("stream", stream.StreamId);
        command.Parameters.AddWithValue("first", first);
        command.Parameters.AddWithValue("last", last);
        command.Parameters.AddWithValue("ids", ids);
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>How many events the stream holds (equal to its last sequence when no sequence is missing).</summary>
    public async Task<long> CountAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"select count(*) from {stream.Schema}.mt_events where stream_id = @stream");
        command.Parameters.AddWithValue("stream", stream.StreamId);
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>The newest snapshot's sequence, 0 when there is none.</summary>
    public async Task<long> NewestSnapshotAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        // Snapshots written before host ids name no stream: they are the old stream's.
        await using var command = dataSource.CreateCommand(
            $"select coalesce(max(sequence), 0) from {stream.Schema}.mt_doc_snapshot where stream = @stream or (@legacy and stream is null)");
        command.Parameters.AddWithValue("stream", stream.StreamId);
        command.Parameters.AddWithValue("legacy", stream.IsLegacy);
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    public async Task<List<StoredEvent>> QueryAsync(NpgsqlDataSource dataSource, EventFilter filter, CancellationToken cancellationToken)
    {
        var sql = new StringBuilder("select ").Append(_columns).Append(" and version > @after");
        await using var command = dataSource.CreateCommand();
        command.Parameters.AddWithValue("stream", stream.StreamId);
        command.Parameters.AddWithValue("after", filter.AfterSequence);
        if (filter.UntilSequence is { } untilSequence)
        {
            sql.Append(" and version <= @until_sequence");
            command.Parameters.AddWithValue("until_sequence", untilSequence);
        }
        if (filter.Since is { } since)
        {
            sql.Append(" and timestamp >= @since");
            command.Parameters.AddWithValue("since", since.ToUniversalTime());
        }
        if (filter.Until is { } until)
        {
            sql.Append(" and timestamp <= @until");
            command.Parameters.AddWithValue("until", until.ToUniversalTime());
        }
        if (filter.AggregateKind is { } kind)
        {
            sql.Append(" and data->>'aggregate_kind' = @kind");
            command.Parameters.AddWithValue("kind", kind);
        }
        if (filter.AggregateId is { } id)
        {
            sql.Append(" and data->>'aggregate_id' = @id");
            command.Parameters.AddWithValue("id", id);
        }
        sql.Append(" order by version limit @limit");
        command.Parameters.AddWithValue("limit", filter.Limit);
        command.CommandText = sql.ToString();

        var found = new List<StoredEvent>(Math.Min(filter.Limit, 1024));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            found.Add(new StoredEvent(
                reader.GetInt64(0),
                reader.GetFieldValue<DateTimeOffset>(1),
                reader.GetString(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.GetString(5),
                reader.GetString(6),
                reader.IsDBNull(7) ? null : reader.GetString(7))
            {
                Audit = reader.IsDBNull(8) && reader.IsDBNull(9) && reader.IsDBNull(10)
                    ? null
                    : new EventAudit(NullOr(reader, 8), NullOr(reader, 9), NullOr(reader, 10)),
            });
        }
        return found;
    }

    private static string? NullOr(NpgsqlDataReader reader, int column) => reader.IsDBNull(column) ? null : reader.GetString(column);

    public async Task<long> SequenceAtAsync(NpgsqlDataSource dataSource, DateTimeOffset time, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"select coalesce(max(version), 0) from {stream.Schema}.mt_events where stream_id = @stream and timestamp <= @time");
        command.Parameters.AddWithValue("stream", stream.StreamId);
        command.Parameters.AddWithValue("time", time.ToUniversalTime());
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }
}
