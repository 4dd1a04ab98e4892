using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Butterfly.Application.Ports;
using JasperFx;
using JasperFx.Events;
using Marten;
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

    /// <summary>Clock of the batch timestamps (tests substitute their own).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How many of the newest snapshots are kept.</summary>
    public int SnapshotsToKeep { get; init; } = 3;
}

/// <summary>
/// The event store on PostgreSQL through Marten. The whole configuration is ONE Marten
/// stream (<see cref="StreamKey"/>) and the stream version is the event sequence: Marten's
/// unique (stream_id, version) key plus an expected-version check on every append give
/// consecutive sequences without gaps, and one transaction per append makes a batch atomic.
/// </summary>
/// <remarks>
/// <para>Appends go through the same group commit as the file store: concurrent batches share
/// one transaction. Reads and queries are plain SQL on <c>mt_events</c> (the same statements a
/// DBA finds in sql/audit.sql). Snapshots are <see cref="SnapshotDocument"/> documents.</para>
/// <para>A session-level advisory lock, held on a dedicated connection while the store is
/// open, keeps a second daemon off the same schema, like the file store's flock. Should that
/// connection drop, the expected-version check still refuses any interleaved write.</para>
/// </remarks>
public sealed partial class MartenEventStore : IEventStore
{
    /// <summary>Id of the single Marten stream that holds the configuration's events.</summary>
    public const string StreamKey = "configuration";

    /// <summary>First key of the advisory lock (ASCII "BFLY"); the second is hashtext(schema).</summary>
    internal const int AdvisoryLockClass = 0x42464C59;

    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlConnection _lockConnection;
    private readonly DocumentStore _store;
    private readonly EventSql _sql;
    private readonly MartenEventStoreOptions _options;
    private readonly ILogger _log;
    private readonly GroupCommitter _committer;

    // Owned by the writer loop.
    private long _lastSequence;
    private DateTimeOffset _lastTimestamp;
    private bool _resyncNeeded;

    private int _disposed;

    private MartenEventStore(NpgsqlDataSource dataSource, NpgsqlConnection lockConnection, DocumentStore store, MartenEventStoreOptions options,
        ILogger log, string description, long lastSequence, DateTimeOffset lastTimestamp)
    {
        _dataSource = dataSource;
        _lockConnection = lockConnection;
        _store = store;
        _options = options;
        _log = log;
        _sql = new EventSql(options.Schema);
        Description = description;
        _lastSequence = lastSequence;
        _lastTimestamp = lastTimestamp;
        _committer = new GroupCommitter(CommitGroupAsync);
    }

    public string Description { get; }

    /// <summary>Groups committed by the writer loop (for tests and diagnostics).</summary>
    internal long GroupsCommitted => _committer.GroupsCommitted;

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex SchemaName();

    /// <summary>A schema name is spliced into SQL, so only plain lower-case identifiers are allowed.</summary>
    internal static bool IsValidSchemaName(string? schema) => schema is not null && SchemaName().IsMatch(schema);

    /// <summary>
    /// Connects, takes the schema's advisory lock, creates or updates Marten's schema objects
    /// and reads where the stream stands.
    /// </summary>
    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <exception cref="ArgumentException">Bad connection string or schema name.</exception>
    /// <exception cref="InvalidOperationException">Another process holds the schema's lock.</exception>
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
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SnapshotsToKeep, 1, nameof(options));
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var user = string.IsNullOrEmpty(builder.Username) ? "" : builder.Username + "@";
        var description = $"postgres://{user}{builder.Host}:{builder.Port}/{builder.Database} (schema {options.Schema})";

        var dataSource = NpgsqlDataSource.Create(builder);
        NpgsqlConnection? lockConnection = null;
        DocumentStore? store = null;
        try
        {
            lockConnection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await TakeLockAsync(lockConnection, options.Schema, description, cancellationToken).ConfigureAwait(false);
            store = CreateDocumentStore(dataSource, options.Schema);
            await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync().ConfigureAwait(false);
            var sql = new EventSql(options.Schema);
            await sql.CreateAuditIndexesAsync(dataSource, cancellationToken).ConfigureAwait(false);
            var (last, lastTimestamp) = await sql.ReadTailAsync(dataSource, cancellationToken).ConfigureAwait(false);
            log.Information("Event store {Description}: {Events} events", description, last);
            return new MartenEventStore(dataSource, lockConnection, store, options, log, description, last, lastTimestamp);
        }
        catch
        {
            store?.Dispose();
            if (lockConnection is not null)
            {
                await lockConnection.DisposeAsync().ConfigureAwait(false);
            }
            await dataSource.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task TakeLockAsync(NpgsqlConnection connection, string schema, string description, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select pg_try_advisory_lock(@class, hashtext(@schema))", connection);
        command.Parameters.AddWithValue("class", AdvisoryLockClass);
        command.Parameters.AddWithValue("schema", schema);
        var taken = (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        if (!taken)
        {
            throw new InvalidOperationException($"event store {description} is in use by another process " +
                "(its PostgreSQL advisory lock is held): two daemons cannot share one event log");
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
            options.Schema.For<SnapshotDocument>().DocumentAlias("snapshot").Duplicate(x => x.Sequence);
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

    /// <summary>Runs on the writer loop: every batch of the group in one transaction.</summary>
    private async Task<IReadOnlyList<StoredEvent>[]> CommitGroupAsync(IReadOnlyList<IReadOnlyList<NewEvent>> batches)
    {
        if (_resyncNeeded)
        {
            // After a failed commit the outcome may be unknown (e.g. the connection dropped
            // during COMMIT): ask the database where the stream really ends.
            var (last, lastTimestamp) = await _sql.ReadTailAsync(_dataSource, CancellationToken.None).ConfigureAwait(false);
            Volatile.Write(ref _lastSequence, last);
            _lastTimestamp = lastTimestamp;
            _resyncNeeded = false;
        }
        var timestamp = EventBatches.NextTimestamp(_options.Time, _lastTimestamp);
        var next = _lastSequence + 1;
        var results = new IReadOnlyList<StoredEvent>[batches.Count];
        var events = new List<object>();
        for (var i = 0; i < batches.Count; i++)
        {
            results[i] = EventBatches.Stamp(batches[i], next, timestamp);
            next += batches[i].Count;
            foreach (var e in batches[i])
            {
                events.Add(new ConfigurationEvent(e.Type, e.AggregateKind, e.AggregateId, e.DataJson, e.Origin, e.MessageId));
            }
        }
        var expectedVersion = next - 1;
        try
        {
            await using var session = _store.LightweightSession();
            var action = session.Events.Append(StreamKey, expectedVersion, events);
            foreach (var e in action.Events)
            {
                e.Timestamp = timestamp;
            }
            // Not cancellable: once the writer has taken a group it is committed or fails.
            await session.SaveChangesAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (EventStreamUnexpectedMaxEventIdException ex)
        {
            _resyncNeeded = true;
            _log.Error(ex, "Event store {Description}: the stream moved under us; is another process writing to it?", Description);
            throw new InvalidOperationException($"event store {Description}: another writer appended to the stream; the batch was not stored", ex);
        }
        catch (Exception ex)
        {
            _resyncNeeded = true;
            _log.Error(ex, "Event store {Description}: append failed", Description);
            throw;
        }
        Volatile.Write(ref _lastSequence, expectedVersion);
        _lastTimestamp = timestamp;
        return results;
    }

    public async IAsyncEnumerable<StoredEvent> ReadAsync(long afterSequence, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        // Pages, so a long replay does not hold a connection (or the whole log) at once.
        const int PageSize = 1000;
        var after = Math.Max(0, afterSequence);
        while (true)
        {
            var page = await _sql.QueryAsync(_dataSource, new EventFilter(AfterSequence: after, Limit: PageSize), cancellationToken).ConfigureAwait(false);
            foreach (var e in page)
            {
                yield return e;
            }
            if (page.Count < PageSize)
            {
                yield break;
            }
            after = page[^1].Sequence;
        }
    }

    public async Task<IReadOnlyList<StoredEvent>> QueryAsync(EventFilter filter, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        EventBatches.Validate(filter);
        return await _sql.QueryAsync(_dataSource, filter, cancellationToken).ConfigureAwait(false);
    }

    public Task<long> LastSequenceAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        // Only this process writes (the advisory lock), so its own count is the truth.
        return Task.FromResult(Volatile.Read(ref _lastSequence));
    }

    public Task<long> SequenceAtAsync(DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _sql.SequenceAtAsync(_dataSource, time, cancellationToken);
    }

    public async Task SaveSnapshotAsync(StoredSnapshot snapshot, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        EventBatches.Validate(snapshot, Volatile.Read(ref _lastSequence));
        await using var session = _store.LightweightSession();
        session.Store(new SnapshotDocument
        {
            Id = snapshot.Sequence.ToString("D20", CultureInfo.InvariantCulture),
            Sequence = snapshot.Sequence,
            Timestamp = snapshot.Timestamp,
            DataJson = snapshot.DataJson,
        });
        await session.SaveChangesAsync(cancellationToken).ConfigureAwait(false);

        var kept = await session.Query<SnapshotDocument>().OrderByDescending(x => x.Sequence).Select(x => x.Sequence)
            .Take(_options.SnapshotsToKeep).ToListAsync(cancellationToken).ConfigureAwait(false);
        if (kept.Count == _options.SnapshotsToKeep)
        {
            var oldestKept = kept[^1];
            session.DeleteWhere<SnapshotDocument>(x => x.Sequence < oldestKept);
            await session.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<StoredSnapshot?> LoadSnapshotAsync(long atOrBeforeSequence = long.MaxValue, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var bound = Math.Min(atOrBeforeSequence, Volatile.Read(ref _lastSequence));
        await using var session = _store.QuerySession();
        var document = await session.Query<SnapshotDocument>().Where(x => x.Sequence <= bound).OrderByDescending(x => x.Sequence)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        return document is null ? null : new StoredSnapshot(document.Sequence, document.Timestamp, document.DataJson);
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
        try
        {
            await using var unlock = new NpgsqlCommand("select pg_advisory_unlock(@class, hashtext(@schema))", _lockConnection);
            unlock.Parameters.AddWithValue("class", AdvisoryLockClass);
            unlock.Parameters.AddWithValue("schema", _options.Schema);
            await unlock.ExecuteScalarAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            // The connection is gone, and the lock with it.
            _log.Debug(ex, "Event store {Description}: advisory unlock failed", Description);
        }
        await _lockConnection.DisposeAsync().ConfigureAwait(false);
        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
