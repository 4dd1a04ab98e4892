using System.Globalization;
using System.Runtime.CompilerServices;
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
/// The event store on PostgreSQL through Marten. The whole configuration is ONE Marten
/// stream (<see cref="StreamKey"/>) and the stream version is the event sequence: Marten's
/// unique (stream_id, version) key plus an expected-version check on every append give
/// consecutive sequences without gaps, and one transaction per append makes a batch atomic.
/// </summary>
/// <remarks>
/// <para>Appends go through the same group commit as the file store: concurrent batches share
/// one transaction. Reads and queries are plain SQL on <c>mt_events</c> (the same statements a
/// DBA finds in sql/audit.sql). Snapshots are <see cref="SnapshotDocument"/> documents.</para>
/// <para>One writer, always (<see cref="WriterSession"/>): appends run on the dedicated
/// connection that holds the schema's advisory lock, re-taken after a reconnect; each checks the
/// stream's end inside its transaction, and any sign of another writer stops this store's writes,
/// loudly. An append whose COMMIT got no answer is settled (the old backend ended, the rows
/// looked up by event id) before the next one.</para>
/// <para>At open, a stream with missing sequences or shorter than its newest snapshot is refused,
/// like the file log does.</para>
/// </remarks>
public sealed partial class MartenEventStore : IEventStore
{
    /// <summary>Id of the single Marten stream that holds the configuration's events.</summary>
    public const string StreamKey = "configuration";

    /// <summary>First key of the advisory lock (ASCII "BFLY"); the second is hashtext(schema).</summary>
    internal const int AdvisoryLockClass = 0x42464C59;

    private readonly NpgsqlDataSource _dataSource;
    private readonly WriterSession _writer;
    private readonly DocumentStore _store;
    private readonly EventSql _sql;
    private readonly MartenEventStoreOptions _options;
    private readonly ILogger _log;
    private readonly GroupCommitter _committer;

    // Owned by the writer loop.
    private DateTimeOffset _lastTimestamp;

    private int _disposed;

    private MartenEventStore(NpgsqlDataSource dataSource, WriterSession writer, DocumentStore store, MartenEventStoreOptions options,
        ILogger log, string description, DateTimeOffset lastTimestamp)
    {
        _dataSource = dataSource;
        _writer = writer;
        _store = store;
        _options = options;
        _log = log;
        _sql = new EventSql(options.Schema);
        Description = description;
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

        // A cancelled command breaks its connection at once instead of waiting for the server to
        // acknowledge the cancel (which a frozen network never delivers). Connecting keeps the
        // connection string's timeout: appends bound it with their own deadline.
        builder.CancellationTimeout = -1;
        var dataSource = NpgsqlDataSource.Create(builder);
        NpgsqlConnection? lockConnection = null;
        DocumentStore? store = null;
        try
        {
            var idleLimit = options.WriteTimeout * 2;
            lockConnection = await WriterSession.ConnectAsync(dataSource, options.Schema, description, idleLimit, cancellationToken).ConfigureAwait(false);
            store = CreateDocumentStore(dataSource, options.Schema);
            await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync().ConfigureAwait(false);
            var sql = new EventSql(options.Schema);
            await sql.CreateAuditIndexesAsync(dataSource, cancellationToken).ConfigureAwait(false);
            var (last, lastTimestamp) = await sql.ReadTailAsync(dataSource, cancellationToken).ConfigureAwait(false);
            await CheckWholeAsync(sql, dataSource, description, last, cancellationToken).ConfigureAwait(false);
            log.Information("Event store {Description}: {Events} events", description, last);
            var writer = WriterSession.Start(dataSource, options.Schema, description, log, lockConnection, last, options.LockCheckInterval, idleLimit);
            return new MartenEventStore(dataSource, writer, store, options, log, description, lastTimestamp);
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

    /// <summary>
    /// The rules of the file log, where they apply: every sequence up to the last is there, and
    /// the stream reaches its newest snapshot. Otherwise acknowledged events are missing, and
    /// starting would serve a configuration that silently lacks them.
    /// </summary>
    private static async Task CheckWholeAsync(EventSql sql, NpgsqlDataSource dataSource, string description, long last, CancellationToken cancellationToken)
    {
        var count = await sql.CountAsync(dataSource, cancellationToken).ConfigureAwait(false);
        if (count != last)
        {
            throw new InvalidDataException($"event store {description} is damaged: the stream '{StreamKey}' ends at sequence {last} but holds " +
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
                events.Add(new ConfigurationEvent(e.Type, e.AggregateKind, e.AggregateId, e.DataJson, e.Origin, e.MessageId));
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
                var action = session.Events.Append(StreamKey, expectedVersion, events);
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

    /// <summary>Read from the database (after settling an append whose COMMIT got no answer), never a cached value.</summary>
    public Task<long> LastSequenceAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _writer.CurrentSequenceAsync(cancellationToken);
    }

    public Task<long> SequenceAtAsync(DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _sql.SequenceAtAsync(_dataSource, time, cancellationToken);
    }

    public async Task SaveSnapshotAsync(StoredSnapshot snapshot, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        EventBatches.Validate(snapshot, _writer.LastSequence);
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
        var bound = Math.Min(atOrBeforeSequence, _writer.LastSequence);
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
        await _writer.DisposeAsync().ConfigureAwait(false);
        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
