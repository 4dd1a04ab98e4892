using Butterfly.Application.Ports;
using JasperFx.Events;
using Npgsql;
using Serilog;

namespace Butterfly.Infrastructure.Events.Postgres;

/// <summary>
/// The one writer of a host's stream in a PostgreSQL event store: a dedicated connection that
/// holds the host id's advisory lock (and the old single-writer lock when the stream is the one of
/// a database written before host ids, <see cref="HostStream"/>) and runs every append, so an
/// append can only ever commit while this process holds the lock. Three guards keep a second
/// writer out:
/// <list type="number">
/// <item>the advisory lock, taken at open and <b>re-taken after every reconnect</b> (a database
/// restart drops it silently); a keeper checks the connection every
/// <see cref="MartenEventStoreOptions.LockCheckInterval"/> so the lock comes back before another
/// daemon can take it. If another process holds it, this store stops writing, loudly;</item>
/// <item>every append checks, inside its transaction, that the stream ends where this writer
/// left it, and Marten's expected-version append with the unique (stream, version) key refuses
/// any interleaving: a conflict stops writing too (never a silent resync);</item>
/// <item>after a reconnect the stream's end must be what this writer last wrote.</item>
/// </list>
/// An append whose COMMIT was sent but not answered is "in doubt": the old backend is
/// terminated (so a COMMIT still in flight can no longer land), then the rows are looked up by
/// version and event id, before anything else is written.
/// </summary>
internal sealed class WriterSession : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;

    // Unpooled (Pooling=false): the writer connection. Disposing a pooled one returns it to the
    // pool with its session, and the advisory lock, intact (Npgsql resets a session only when
    // the connection is handed out again), so a writer that gave up on its connection would
    // find the lock held by its own idle connection and take itself for a second writer.
    private readonly NpgsqlDataSource _sessions;
    private readonly EventSql _sql;
    private readonly HostStream _stream;
    private readonly string _description;
    private readonly ILogger _log;
    private readonly TimeSpan _idleInTransactionTimeout;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _keeper;
    private NpgsqlConnection? _connection;
    private InDoubtAppend? _inDoubt;
    private volatile string? _fenced;
    private long _lastSequence;

    /// <summary>An append whose COMMIT went out without an answer.</summary>
    private sealed record InDoubtAppend(long First, long Last, Guid[] Ids, int BackendPid);

    private WriterSession(NpgsqlDataSource dataSource, NpgsqlDataSource sessions, HostStream stream, string description, ILogger log,
        NpgsqlConnection connection, long lastSequence, TimeSpan checkInterval, TimeSpan idleInTransactionTimeout)
    {
        _sessions = sessions;
        _dataSource = dataSource;
        _sql = new EventSql(stream);
        _stream = stream;
        _description = description;
        _log = log;
        _connection = connection;
        _lastSequence = lastSequence;
        _idleInTransactionTimeout = idleInTransactionTimeout;
        _keeper = Task.Run(() => KeepAsync(checkInterval));
    }

    /// <summary>Where the stream ends, as this writer last verified or wrote it.</summary>
    public long LastSequence => Volatile.Read(ref _lastSequence);

    /// <summary>Why this store stopped writing, or null while it writes.</summary>
    public string? Fenced => _fenced;

    /// <summary>
    /// Connects and takes the host id's lock, and the old single-writer lock too when
    /// <paramref name="legacy"/> (throws when another process holds either).
    /// </summary>
    public static async Task<NpgsqlConnection> ConnectAsync(NpgsqlDataSource dataSource, string schema, string hostId, bool legacy, string description,
        TimeSpan idleInTransactionTimeout, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!await HostStream.TryLockHostAsync(connection, schema, hostId, cancellationToken).ConfigureAwait(false)
                || (legacy && !await HostStream.TryLockLegacyAsync(connection, schema, cancellationToken).ConfigureAwait(false)))
            {
                throw new InvalidOperationException($"event store {description} is in use by another process " +
                    $"(host {hostId}'s PostgreSQL advisory lock is held): two daemons of one host id cannot share one event log");
            }
            // A transaction left open by a frozen network is ended by the server itself, so an
            // in-doubt COMMIT is settled even if this process cannot terminate the backend.
            var ms = (long)idleInTransactionTimeout.TotalMilliseconds;
            await using (var command = new NpgsqlCommand($"set idle_in_transaction_session_timeout = {ms}", connection))
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <param name="dataSource">Pooled: reads.</param>
    /// <param name="sessions">Unpooled (<c>Pooling=false</c>), owned from now on: where <paramref name="connection"/>
    /// came from, and the writer's later connections.</param>
    public static WriterSession Start(NpgsqlDataSource dataSource, NpgsqlDataSource sessions, HostStream stream, string description, ILogger log,
        NpgsqlConnection connection, long lastSequence, TimeSpan checkInterval, TimeSpan idleInTransactionTimeout) =>
        new(dataSource, sessions, stream, description, log, connection, lastSequence, checkInterval, idleInTransactionTimeout);

    /// <summary>
    /// Runs <paramref name="append"/> (sequences <paramref name="first"/>..<paramref name="last"/>,
    /// event ids <paramref name="ids"/>) in one transaction on the writer connection and commits it.
    /// Returns normally only when the batch is durable; throws <see cref="CommitOutcomeUnknownException"/>
    /// when that could not be established before <paramref name="deadline"/>.
    /// </summary>
    public async Task AppendAsync(Func<NpgsqlTransaction, CancellationToken, Task> append, long first, long last, Guid[] ids,
        CancellationToken commitDeadline, CancellationToken deadline)
    {
        try
        {
            await _gate.WaitAsync(deadline).ConfigureAwait(false);
        }
        catch (OperationCanceledException e)
        {
            throw new IOException($"event store {_description}: an earlier write has still not finished (the database does not answer); " +
                "the change was not stored", e);
        }
        // The work goes on under the gate even when the caller stops waiting for it at the deadline:
        // a driver call that does not honour cancellation can then only delay the next write, which
        // waits for the gate within its own deadline, never answer this one late.
        var work = AppendUnderGateAsync(append, first, last, ids, commitDeadline, deadline);
        try
        {
            await work.WaitAsync(deadline).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (deadline.IsCancellationRequested && !work.IsCompleted)
        {
            throw new CommitOutcomeUnknownException($"event store {_description}: the database did not answer in time; whether sequences " +
                $"{first}..{last} were stored is found out before the next write", e);
        }
    }

    private async Task AppendUnderGateAsync(Func<NpgsqlTransaction, CancellationToken, Task> append, long first, long last, Guid[] ids,
        CancellationToken commitDeadline, CancellationToken deadline)
    {
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                await EnsureAsync(deadline).ConfigureAwait(false);
                if (await TryAppendAsync(append, first, last, ids, attempt == 2, commitDeadline, deadline).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// One attempt. False when the connection turned out to be dead before anything was sent
    /// (e.g. the database restarted since the last write): the caller reconnects and tries once more.
    /// </summary>
    private async Task<bool> TryAppendAsync(Func<NpgsqlTransaction, CancellationToken, Task> append, long first, long last, Guid[] ids,
        bool lastAttempt, CancellationToken commitDeadline, CancellationToken deadline)
    {
        var connection = _connection!;
        var pid = connection.ProcessID;
        var commitSent = false;
        var sentAnything = false;
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(commitDeadline).ConfigureAwait(false);
            var (tail, _) = await _sql.ReadTailAsync(connection, commitDeadline).ConfigureAwait(false);
            sentAnything = true;
            if (tail != LastSequence)
            {
                throw Fence($"the stream ends at sequence {tail}, but this daemon last wrote {LastSequence}: another process wrote to it");
            }
            await append(transaction, commitDeadline).ConfigureAwait(false);
            commitSent = true;
            await transaction.CommitAsync(commitDeadline).ConfigureAwait(false);
            Volatile.Write(ref _lastSequence, last);
            return true;
        }
        catch (Exception e) when (!commitSent && e is not FencedException)
        {
            if (IsConflict(e))
            {
                throw Fence($"another writer appended to the stream (sequence {first} is taken)", e);
            }
            await DropConnectionAsync().ConfigureAwait(false);
            if (!sentAnything && !lastAttempt && !commitDeadline.IsCancellationRequested)
            {
                _log.Warning("Event store {Description}: the writer connection was lost ({Error}); reconnecting", _description, e.Message);
                return false;
            }
            throw new IOException($"event store {_description}: the append was not stored ({Describe(e, commitDeadline)})", e);
        }
        catch (Exception e) when (commitSent)
        {
            _inDoubt = new InDoubtAppend(first, last, ids, pid);
            await DropConnectionAsync().ConfigureAwait(false);
            _log.Warning(e, "Event store {Description}: no answer to the COMMIT of sequences {First}..{Last}; finding out whether it landed",
                _description, first, last);
            bool landed;
            try
            {
                landed = await ResolveInDoubtAsync(deadline).ConfigureAwait(false);
            }
            catch (Exception resolving) when (resolving is not FencedException)
            {
                throw new CommitOutcomeUnknownException($"event store {_description}: the COMMIT of sequences {first}..{last} got no answer and " +
                    $"the database could not be reached again in time ({Describe(resolving, deadline)}); whether the change was stored " +
                    "is found out before the next write", e);
            }
            if (!landed)
            {
                throw new IOException($"event store {_description}: the append was not stored (the connection failed during COMMIT: {e.Message})", e);
            }
            return true;
        }
    }

    /// <summary>The stream's end read from the database, after settling an in-doubt append.</summary>
    public async Task<long> CurrentSequenceAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_inDoubt is not null)
            {
                await ResolveInDoubtAsync(cancellationToken).ConfigureAwait(false);
            }
            var (tail, _) = await _sql.ReadTailAsync(_dataSource, cancellationToken).ConfigureAwait(false);
            return tail;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Makes sure the connection is up with the lock held, no append is in doubt, and the stream ends where we left it.</summary>
    private async Task EnsureAsync(CancellationToken cancellationToken)
    {
        if (_fenced is { } why)
        {
            throw new FencedException($"event store {_description}: this daemon stopped writing: {why}. Its configuration may be stale: " +
                "stop the other writer, then restart this daemon");
        }
        if (_inDoubt is not null)
        {
            await ResolveInDoubtAsync(cancellationToken).ConfigureAwait(false);
        }
        if (_connection is null)
        {
            await ReconnectAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReconnectAsync(CancellationToken cancellationToken)
    {
        NpgsqlConnection connection;
        try
        {
            connection = await ConnectAsync(_sessions, _stream.Schema, _stream.HostId, _stream.IsLegacy, _description, _idleInTransactionTimeout,
                cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            throw Fence("after the connection to the database was lost, another process took the store's advisory lock", e);
        }
        var (tail, _) = await _sql.ReadTailAsync(connection, cancellationToken).ConfigureAwait(false);
        if (tail != LastSequence)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw Fence($"while the connection was lost the stream moved from sequence {LastSequence} to {tail}: another process wrote to it");
        }
        _connection = connection;
        _log.Warning("Event store {Description}: reconnected and re-took the advisory lock (stream at sequence {Sequence})", _description, tail);
    }

    /// <summary>Ends the backend of the in-doubt COMMIT, then looks its rows up by version and event id. True when it landed.</summary>
    private async Task<bool> ResolveInDoubtAsync(CancellationToken cancellationToken)
    {
        var doubt = _inDoubt!;
        await using (var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false))
        {
            await using (var terminate = new NpgsqlCommand("select pg_terminate_backend(@pid)", connection))
            {
                terminate.Parameters.AddWithValue("pid", doubt.BackendPid);
                await terminate.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            }
            while (true)
            {
                await using var alive = new NpgsqlCommand("select count(*) from pg_stat_activity where pid = @pid", connection);
                alive.Parameters.AddWithValue("pid", doubt.BackendPid);
                if ((long)(await alive.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! == 0)
                {
                    break;
                }
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }
        }
        var found = await _sql.CountEventsAsync(_dataSource, doubt.First, doubt.Last, doubt.Ids, cancellationToken).ConfigureAwait(false);
        var (tail, _) = await _sql.ReadTailAsync(_dataSource, cancellationToken).ConfigureAwait(false);
        _inDoubt = null;
        if (found == doubt.Ids.Length && tail == doubt.Last)
        {
            Volatile.Write(ref _lastSequence, doubt.Last);
            _log.Warning("Event store {Description}: the in-doubt COMMIT of sequences {First}..{Last} landed", _description, doubt.First, doubt.Last);
            return true;
        }
        if (found == 0 && tail == doubt.First - 1)
        {
            _log.Warning("Event store {Description}: the in-doubt COMMIT of sequences {First}..{Last} did not land", _description, doubt.First, doubt.Last);
            return false;
        }
        throw Fence($"after an unanswered COMMIT of sequences {doubt.First}..{doubt.Last} the stream ends at {tail} with {found} of its events: " +
            "another process wrote to it");
    }

    /// <summary>Checks the writer connection now and then, and re-takes the lock after a reconnect.</summary>
    private async Task KeepAsync(TimeSpan interval)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _stop.Token).ConfigureAwait(false);
                if (_fenced is not null || !await _gate.WaitAsync(0).ConfigureAwait(false))
                {
                    continue;
                }
                try
                {
                    using var bounded = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                    bounded.CancelAfter(TimeSpan.FromTicks(Math.Max(interval.Ticks * 3, TimeSpan.FromSeconds(2).Ticks)));
                    if (_connection is not null)
                    {
                        try
                        {
                            await using var ping = new NpgsqlCommand("select 1", _connection);
                            await ping.ExecuteScalarAsync(bounded.Token).ConfigureAwait(false);
                            continue;
                        }
                        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or InvalidOperationException or IOException)
                        {
                            _log.Warning("Event store {Description}: the writer connection failed ({Error}); reconnecting", _description, e.Message);
                            await DropConnectionAsync().ConfigureAwait(false);
                        }
                    }
                    await EnsureAsync(bounded.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not FencedException && !_stop.IsCancellationRequested)
                {
                    // The database is still away: the next round tries again.
                    _log.Debug("Event store {Description}: reconnect failed: {Error}", _description, e.Message);
                }
                catch (FencedException)
                {
                    // Logged by Fence.
                }
                finally
                {
                    _gate.Release();
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                break;
            }
        }
    }

    private FencedException Fence(string why, Exception? inner = null)
    {
        _fenced ??= why;
        _log.Error(inner, "Event store {Description}: STOPPED WRITING: {Why}. Every write is refused until this daemon is restarted " +
            "(after the other writer is stopped).", _description, why);
        return new FencedException($"event store {_description}: this daemon stopped writing: {why}. Its configuration may be stale: " +
            "stop the other writer, then restart this daemon", inner);
    }

    private static bool IsConflict(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is EventStreamUnexpectedMaxEventIdException || (inner is PostgresException p && p.SqlState == PostgresErrorCodes.UniqueViolation))
            {
                return true;
            }
        }
        return false;
    }

    private static string Describe(Exception e, CancellationToken deadline) =>
        deadline.IsCancellationRequested ? "the database did not answer in time" : e.Message;

    private async Task DropConnectionAsync()
    {
        var connection = _connection;
        _connection = null;
        if (connection is not null)
        {
            // Whatever broke the writer connection (a restarted database, a cut network) broke
            // the idle read connections too; Npgsql would hand them out again as they are.
            _dataSource.Clear();
            try
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or IOException or InvalidOperationException)
            {
                _log.Debug("Event store {Description}: closing a failed connection: {Error}", _description, e.Message);
            }
        }
    }

    /// <summary>Stops the keeper, releases the lock (by closing its connection).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _keeper.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        // A write stuck on a frozen network must not hold the shutdown: after a few seconds the
        // connection is closed under it (the server ends the session, and the lock with it).
        var gated = await _gate.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        if (gated && _connection is not null && _connection.State == System.Data.ConnectionState.Open)
        {
            try
            {
                await using var unlock = new NpgsqlCommand("select pg_advisory_unlock_all()", _connection);
                await unlock.ExecuteScalarAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or IOException)
            {
                _log.Debug(ex, "Event store {Description}: advisory unlock failed", _description);
            }
        }
        await DropConnectionAsync().ConfigureAwait(false);
        await _sessions.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}

/// <summary>This store stopped writing because another writer appeared; every append is refused.</summary>
public sealed class FencedException(string message, Exception? inner = null) : InvalidOperationException(message, inner);
