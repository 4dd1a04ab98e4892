using System.Text.RegularExpressions;
using Butterfly.Application.Ports;
using JasperFx;
using JasperFx.Events;
using Marten;
using Marten.Services;
using Npgsql;
using Serilog;
using Weasel.Core;
using IEventStore = Butterfly.Application.Ports.IEventStore;

namespace Butterfly.Infrastructure.Events.Postgres;

/// <summary>Settings of <see cref="MartenEventStore"/>; the defaults are what the daemon uses.</summary>
public sealed record MartenEventStoreOptions
{
    /// <summary>PostgreSQL schema holding Marten's tables (created on open): lower-case letters, digits, '_'.</summary>
    public string Schema { get; init; } = "butterfly";

    /// <summary>This host's id: the stream it writes in a store the fleet shares (default: the host name).</summary>
    public string HostId { get; init; } = System.Net.Dns.GetHostName();

    /// <summary>Clock of the batch timestamps (tests substitute their own).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How many of the newest snapshots are kept.</summary>
    public int SnapshotsToKeep { get; init; } = 3;

    /// <summary>
    /// How long an append may take before it fails (the daemon's --store-timeout): connecting,
    /// the transaction and, when its COMMIT got no answer, finding out whether it landed.
    /// </summary>
    public TimeSpan WriteTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the writer connection is checked (and the advisory lock re-taken after a reconnect).</summary>
    public TimeSpan LockCheckInterval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// The event store on PostgreSQL through Marten. A host's whole configuration is ONE Marten
/// stream (<see cref="HostStream"/>: <c>configuration/&lt;host id&gt;</c>, so many hosts can share
/// one database) and the stream version is the event sequence: Marten's unique (stream_id,
/// version) key plus an expected-version check on every append give consecutive sequences
/// without gaps, and one transaction per append makes a batch atomic.
/// </summary>
/// <remarks>
/// <para>Appends go through the same group commit as the file store: concurrent batches share
/// one transaction. Reads and queries are plain SQL on <c>mt_events</c> (the same statements a
/// DBA finds in sql/audit.sql). Snapshots are <see cref="SnapshotDocument"/> documents.</para>
/// <para>One writer per host, always (<see cref="WriterSession"/>): appends run on the dedicated
/// connection that holds the host id's advisory lock, re-taken after a reconnect; each checks the
/// stream's end inside its transaction, and any sign of another writer stops this store's writes,
/// loudly. An append whose COMMIT got no answer is settled (the old backend ended, the rows
/// looked up by event id) before the next one.</para>
/// <para>At open, a stream with missing sequences or shorter than its newest snapshot is refused,
/// like the file log does.</para>
/// </remarks>
public sealed partial class MartenEventStore : IEventStore
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly WriterSession _writer;
    private readonly DocumentStore _store;
    private readonly StreamLog _own;
    private readonly MartenEventStoreOptions _options;
    private readonly ILogger _log;
    private readonly GroupCommitter _committer;

    // Owned by the writer loop.
    private DateTimeOffset _lastTimestamp;

    private int _disposed;

    private MartenEventStore(NpgsqlDataSource dataSource, WriterSession writer, DocumentStore store, HostStream stream, MartenEventStoreOptions options,
        ILogger log, string description, DateTimeOffset lastTimestamp)
    {
        _dataSource = dataSource;
        _writer = writer;
        _store = store;
        _own = new StreamLog(dataSource, store, stream);
        _options = options;
        _log = log;
        Description = description;
        _lastTimestamp = lastTimestamp;
        _committer = new GroupCommitter(CommitGroupAsync);
    }

    public string Description { get; }

    public string? HostId => _own.Stream.HostId;

    public bool SharedByHosts => true;

    /// <summary>The stream this store writes (for tests and diagnostics).</summary>
    internal string StreamId => _own.Stream.StreamId;

    /// <summary>Groups committed by the writer loop (for tests and diagnostics).</summary>
    internal long GroupsCommitted => _committer.GroupsCommitted;

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex SchemaName();

    /// <summary>A schema name is spliced into SQL, so only plain lower-case identifiers are allowed.</summary>
    internal static bool IsValidSchemaName(string? schema) => schema is not null && SchemaName().IsMatch(schema);

    /// <summary>
    /// Connects, takes the host id's advisory lock, creates or updates Marten's schema objects,
    /// finds (or claims) the host's stream and reads where it stands.
    /// </summary>
    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <exception cref="ArgumentException">Bad connection string, schema name or host id.</exception>
    /// <exception cref="InvalidOperationException">Another process holds the host id's lock.</exception>
    public static async Task<MartenEventStore> OpenAsync(string connectionString, ILogger log, MartenEventStoreOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentNullException.ThrowIfNull(log);
        options ??= new MartenEventStoreOptions();
        if (!IsValidSchemaName(options.Schema))
        {
            throw new ArgumentException($"invalid schema name '{options.Schema}': use lower-case letters, digits and '_' (at most 63)", nameof(options));
        }
        if (!EventStores.IsValidHostId(options.HostId))
        {
            throw new ArgumentException($"invalid host id '{options.HostId}': 1 to 63 letters, digits, '.', '-' or '_', starting with a letter or digit", nameof(options));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SnapshotsToKeep, 1, nameof(options));
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var user = string.IsNullOrEmpty(builder.Username) ? "" : builder.Username + "@";
        var description = $"postgres://{user}{builder.Host}:{builder.Port}/{builder.Database} (schema {options.Schema}, host {options.HostId})";

        // A cancelled command breaks its connection at once instead of waiting for the server to
        // acknowledge the cancel (which a frozen network never delivers). Connecting keeps the
        // connection string's timeout: appends bound it with their own deadline.
        builder.CancellationTimeout = -1;
        var dataSource = NpgsqlDataSource.Create(builder);
        // The writer's connection is not pooled (WriterSession: a pooled one keeps its lock in the pool).
        var sessions = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(builder.ConnectionString) { Pooling = false });
        NpgsqlConnection? lockConnection = null;
        DocumentStore? store = null;
        try
        {
            var idleLimit = options.WriteTimeout * 2;
            lockConnection = await WriterSession.ConnectAsync(sessions, options.Schema, options.HostId, legacy: false, description, idleLimit,
                cancellationToken).ConfigureAwait(false);
            store = CreateDocumentStore(dataSource, options.Schema);
            await SetUpSchemaAsync(dataSource, store, options.Schema, cancellationToken).ConfigureAwait(false);
            var stream = await HostStream.ClaimAsync(lockConnection, options.Schema, options.HostId, description, log, cancellationToken).ConfigureAwait(false);
            var sql = new EventSql(stream);
            var (last, lastTimestamp) = await sql.ReadTailAsync(dataSource, cancellationToken).ConfigureAwait(false);
            await CheckWholeAsync(sql, dataSource, description, stream, last, cancellationToken).ConfigureAwait(false);
            log.Information("Event store {Description}: stream {Stream}, {Events} events", description, stream.StreamId, last);
            var writer = WriterSession.Start(dataSource, sessions, stream, description, log, lockConnection, last, options.LockCheckInterval, idleLimit);
            return new MartenEventStore(dataSource, writer, store, stream, options, log, description, lastTimestamp);
        }
        catch
        {
            store?.Dispose();
            if (lockConnection is not null)
            {
                await lockConnection.DisposeAsync().ConfigureAwait(false);
            }
            await sessions.DisposeAsync().ConfigureAwait(false);
            await dataSource.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Marten's tables (created or upgraded), Butterfly's audit indexes and its hosts table, under
    /// a lock of the schema: the hosts of a fleet may start together on a fresh database.
    /// </summary>
    private static async Task SetUpSchemaAsync(NpgsqlDataSource dataSource, DocumentStore store, string schema, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (var command = new NpgsqlCommand("select pg_advisory_lock(@class, hashtext(@schema || ':set-up'))", connection))
        {
            command.Parameters.AddWithValue("class", HostStream.LegacyLockClass);
            command.Parameters.AddWithValue("schema", schema);
            await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }
        try
        {
            await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync().ConfigureAwait(false);
            await EventSql.CreateAuditIndexesAsync(connection, schema, cancellationToken).ConfigureAwait(false);
            await HostStream.CreateTableAsync(connection, schema, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("select pg_advisory_unlock(@class, hashtext(@schema || ':set-up'))", connection);
            unlock.Parameters.AddWithValue("class", HostStream.LegacyLockClass);
            unlock.Parameters.AddWithValue("schema", schema);
            await unlock.ExecuteScalarAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The rules of the file log, where they apply: every sequence up to the last is there, and
    /// the stream reaches its newest snapshot. Otherwise acknowledged events are missing, and
    /// starting would serve a configuration that silently lacks them.
    /// </summary>
    private static async Task CheckWholeAsync(EventSql sql, NpgsqlDataSource dataSource, string description, HostStream stream, long last,
        CancellationToken cancellationToken)
    {
        var count = await sql.CountAsync(dataSource, cancellationToken).ConfigureAwait(false);
        if (count != last)
        {
            throw new InvalidDataException($"event store {description} is damaged: the stream '{stream.StreamId}' ends at sequence {last} but holds " +
                $"{count} events, so {last - count} sequence(s) are missing (rows deleted?). Nothing was changed. Restore the database from a " +
                "backup; sql/README.md shows how to list the missing sequences.");
        }
        var snapshot = await sql.NewestSnapshotAsync(dataSource, cancellationToken).ConfigureAwait(false);
        if (snapshot > last)
        {
            throw new InvalidDataException($"event store {description} is shorter than its snapshots say: the stream ends at sequence {last}, " +
                $"but a snapshot was taken at sequence {snapshot}, so events {last + 1}..{snapshot} were acknowledged and are missing " +
                "(the database restored from an older backup than its snapshots?). Nothing was changed. Restore a consistent backup, or, " +
                "to start from the events that are there, delete the newer snapshots (sql/README.md).");
        }
    }

    private static DocumentStore CreateDocumentStore(NpgsqlDataSource dataSource, string schema) =>
        DocumentStore.For(options =>
        {
            options.Connection(dataSource);
            options.DatabaseSchemaName = schema;
            options.Events.DatabaseSchemaName = schema;
            options.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
            // snake_case JSON keeps the columns readable from SQL (data->>'aggregate_id').
            options.UseSystemTextJsonForSerialization(EnumStorage.AsString, Casing.SnakeCase);
            options.Events.StreamIdentity = StreamIdentity.AsString;
            // Quick append with client timestamps: one round trip per append, and every event
            // of a batch carries exactly the timestamp AppendAsync returns.
            options.Events.AppendMode = EventAppendMode.QuickWithServerTimestamps;
            options.Events.MapEventType<ConfigurationEvent>("configuration_event");
            foreach (var index in EventSql.AuditIndexes)
            {
                options.Events.IgnoreIndex(index);
            }
            options.Schema.For<SnapshotDocument>().DocumentAlias("snapshot").Duplicate(x => x.Sequence).Duplicate(x => x.Stream);
        });

    public Task<IReadOnlyList<StoredEvent>> AppendAsync(IReadOnlyList<NewEvent> batch, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        EventBatches.Validate(batch);
        if (batch.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<StoredEvent>>([]);
        }
        return _committer.EnqueueAsync([.. batch], cancellationToken);
    }

    /// <summary>Runs on the writer loop: every batch of the group in one transaction, within the write timeout.</summary>
    private async Task<IReadOnlyList<StoredEvent>[]> CommitGroupAsync(IReadOnlyList<IReadOnlyList<NewEvent>> batches)
    {
        var timestamp = EventBatches.NextTimestamp(_options.Time, _lastTimestamp);
        var first = _writer.LastSequence + 1;
        var next = first;
        var results = new IReadOnlyList<StoredEvent>[batches.Count];
        var events = new List<object>();
        for (var i = 0; i < batches.Count; i++)
        {
            results[i] = EventBatches.Stamp(batches[i], next, timestamp);
            next += batches[i].Count;
            foreach (var e in batches[i])
            {
                events.Add(new ConfigurationEvent(e.Type, e.AggregateKind, e.AggregateId, e.DataJson, e.Origin, e.MessageId,
                    e.Audit?.Cause, e.Audit?.PeerAddress, e.Audit?.ClientKey));
            }
        }
        var expectedVersion = next - 1;
        var ids = events.Select(_ => Guid.NewGuid()).ToArray();
        // The transaction gets two thirds of the time; what is left settles an unanswered COMMIT.
        using var deadline = new CancellationTokenSource(_options.WriteTimeout);
        using var commitDeadline = new CancellationTokenSource(_options.WriteTimeout * 2 / 3);
        try
        {
            await _writer.AppendAsync(async (transaction, ct) =>
            {
                await using var session = _store.LightweightSession(SessionOptions.ForTransaction(transaction));
                var action = session.Events.Append(_own.Stream.StreamId, expectedVersion, events);
                for (var i = 0; i < action.Events.Count; i++)
                {
                    action.Events[i].Timestamp = timestamp;
                    action.Events[i].Id = ids[i];
                }
                await session.SaveChangesAsync(ct).ConfigureAwait(false);
            }, first, expectedVersion, ids, commitDeadline.Token, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _log.Error(ex, "Event store {Description}: append of sequences {First}..{Last} failed", Description, first, expectedVersion);
            if (ex is OperationCanceledException)
            {
                throw new IOException($"event store {Description}: the database did not answer within {_options.WriteTimeout.TotalSeconds:0.#} s; " +
                    "the change was not stored", ex);
            }
            throw;
        }
        _lastTimestamp = timestamp;
        return results;
    }

    public IAsyncEnumerable<StoredEvent> ReadAsync(long afterSequence, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _own.ReadAsync(afterSequence, cancellationToken);
    }

    public Task<IReadOnlyList<StoredEvent>> QueryAsync(EventFilter filter, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _own.QueryAsync(filter, cancellationToken);
    }

    /// <summary>Read from the database (after settling an append whose COMMIT got no answer), never a cached value.</summary>
    public Task<long> LastSequenceAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _writer.CurrentSequenceAsync(cancellationToken);
    }

    public Task<long> SequenceAtAsync(DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _own.SequenceAtAsync(time, cancellationToken);
    }

    public Task SaveSnapshotAsync(StoredSnapshot snapshot, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        EventBatches.Validate(snapshot, _writer.LastSequence);
        return _own.SaveSnapshotAsync(snapshot, _options.SnapshotsToKeep, cancellationToken);
    }

    public Task<StoredSnapshot?> LoadSnapshotAsync(long atOrBeforeSequence = long.MaxValue, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _own.LoadSnapshotAsync(Math.Min(atOrBeforeSequence, _writer.LastSequence), cancellationToken);
    }

    /// <summary>Another host's stream in this database, read-only; null when that host has none.</summary>
    public async Task<IEventLog?> OpenHostLogAsync(string hostId, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (!EventStores.IsValidHostId(hostId))
        {
            return null;
        }
        var stream = await HostStream.StreamOfAsync(_dataSource, _options.Schema, hostId, cancellationToken).ConfigureAwait(false);
        return stream is null ? null : new StreamLog(_dataSource, _store, new HostStream(_options.Schema, hostId, stream));
    }

    /// <summary>Commits what is already queued, then closes the store and releases the lock.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _committer.DisposeAsync().ConfigureAwait(false);
        _store.Dispose();
        await _writer.DisposeAsync().ConfigureAwait(false);
        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
