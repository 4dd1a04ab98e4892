using Butterfly.Application.Commands;
using Butterfly.Application.Ports;
using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Butterfly.Application.Configuration;

/// <summary>A commit taken from the staged events, on its way to the event store.</summary>
/// <param name="Batch">The events as the store gets them.</param>
/// <param name="Target">The configuration once they are durable.</param>
/// <param name="Events">The domain events of the batch (the data path reconciles from them).</param>
/// <param name="Sessions">nic_export documents to give NICs' ports once the batch is durable.</param>
public sealed record PendingCommit(
    IReadOnlyList<NewEvent> Batch,
    ConfigurationState Target,
    IReadOnlyList<DomainEvent> Events,
    IReadOnlyList<(string NicId, byte[] Document)> Sessions);

/// <summary>What became of a <see cref="PendingCommit"/>: stored (with the events as the store returned them), refused, or unknown.</summary>
public sealed record CommitOutcome(IReadOnlyList<StoredEvent>? Stored, string? Error, bool Unknown)
{
    public static CommitOutcome Success(IReadOnlyList<StoredEvent> stored) => new(stored, null, false);
}

/// <summary>What the store holds past <see cref="ConfigurationStore.LastSequence"/> (read after an unknown outcome), or why it cannot be read yet.</summary>
public sealed record CatchUp(IReadOnlyList<StoredEvent>? Events, string? Error);

/// <summary>
/// The live configuration and the unit of work around it. Write handlers <see cref="Stage"/>
/// events, which the in-memory state shows at once (later requests of the same ZeroMQ
/// message see them); a commit then makes them durable in one atomic append, drives the data
/// path, and snapshots now and then. A request is answered only after its commit, so an
/// acknowledged command survives a crash.
/// <para>A commit has three steps so the API thread never waits on the store:
/// <see cref="BeginCommit"/> (API thread: takes the staged events; <see cref="State"/> shows the
/// durable configuration again, which is what other clients' reads see meanwhile),
/// <see cref="AppendAsync"/> (any thread: the append, bounded by <see cref="WriteTimeout"/>), and
/// <see cref="CompleteCommit"/> (API thread: the state, the data path, the snapshot).
/// <see cref="CommitAsync"/> does all three.</para>
/// <para>When an append's outcome is unknown (the store did not answer in time), no write is
/// taken until <see cref="CatchUpAsync"/> has read back what the store holds
/// (<see cref="NeedsCatchUp"/>): the live state always equals the store's.</para>
/// Thread model: one caller at a time (the API thread) for everything but <see cref="AppendAsync"/>,
/// <see cref="CatchUpAsync"/> and <see cref="StateAtAsync"/>.
/// </summary>
public sealed class ConfigurationStore
{
    /// <summary>A snapshot is taken once this many events were appended since the previous one.</summary>
    public const int SnapshotInterval = 1000;

    /// <summary>The longest wait between two attempts at a snapshot that keeps failing.</summary>
    public static readonly TimeSpan MaxSnapshotBackoff = TimeSpan.FromMinutes(5);

    /// <summary>The key of <see cref="DataPathErrors"/> that means the reconcile itself failed.</summary>
    public const string WholeDataPath = "*";

    private readonly IEventStore _eventStore;
    private readonly IDataPath _dataPath;
    private readonly ILogger<ConfigurationStore> _logger;
    private readonly TimeProvider _time;
    private readonly List<(DomainEvent Event, RequestOrigin Origin)> _staged = [];
    private readonly List<(string NicId, byte[] Document)> _stagedSessions = [];

    private ConfigurationState _durable = ConfigurationState.Empty;
    private long _lastSnapshotSequence;
    private Task<IReadOnlyList<StoredEvent>>? _unsettledAppend;
    private Task? _snapshotInFlight;
    private TimeSpan _snapshotBackoff;
    private DateTimeOffset _nextSnapshotAttempt = DateTimeOffset.MinValue;

    public ConfigurationStore(IEventStore eventStore, IDataPath dataPath, ILogger<ConfigurationStore>? logger = null, TimeProvider? time = null)
    {
        _eventStore = eventStore;
        _dataPath = dataPath;
        _logger = logger ?? NullLogger<ConfigurationStore>.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>How long an append may take before its request is answered as failed (the daemon's --store-timeout).</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The configuration including staged (not yet durable) events.</summary>
    public ConfigurationState State { get; private set; } = ConfigurationState.Empty;

    /// <summary>The configuration as of <see cref="LastSequence"/>, without staged events.</summary>
    public ConfigurationState DurableState => _durable;

    /// <summary>Sequence of the newest durable event, 0 for an empty log.</summary>
    public long LastSequence { get; private set; }

    public bool HasStagedEvents => _staged.Count > 0;

    /// <summary>Number of events waiting for a commit.</summary>
    public int StagedEventCount => _staged.Count;

    /// <summary>True after an append whose outcome is unknown: <see cref="CatchUpAsync"/> must run before the next write.</summary>
    public bool NeedsCatchUp { get; private set; }

    /// <summary>Snapshots that failed since start (for status and tests).</summary>
    public int SnapshotFailures { get; private set; }

    /// <summary>
    /// Ports the data path could not make at the last reconcile, by NIC id (empty when all
    /// went well); the key "*" means the reconcile itself failed. For status and logs: the
    /// commands stand, and the next commit or restart reconciles again.
    /// </summary>
    public IReadOnlyDictionary<string, string> DataPathErrors { get; private set; } = new Dictionary<string, string>();

    /// <summary>Why the last reconcile failed as a whole (the "*" of <see cref="DataPathErrors"/>), or null.</summary>
    public string? ReconcileError => DataPathErrors.GetValueOrDefault(WholeDataPath);

    /// <summary>The NICs whose port is not working after the last reconcile, sorted by id.</summary>
    public IReadOnlyList<NicPortError> PortErrors =>
        [.. DataPathErrors.Where(e => e.Key != WholeDataPath).OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => new NicPortError(e.Key, e.Value))];

    /// <summary>
    /// Why a NIC's port is not working, or null: the data path's own reason, or the failure of
    /// the whole last reconcile (its port may then be missing or stale).
    /// </summary>
    public string? PortErrorOf(string nicId) =>
        DataPathErrors.TryGetValue(nicId, out var error) ? error
        : ReconcileError is { } whole ? $"the data path could not be reconciled: {whole}"
        : null;

    /// <summary>
    /// Rebuilds the configuration from the newest readable snapshot plus the events after it,
    /// then makes the data path match it, so NICs are back before the API answers.
    /// Throws when the log itself cannot be read: starting with a partial configuration
    /// would silently drop NICs or rules.
    /// </summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        _staged.Clear();
        var (state, sequence, _) = await ReplayAsync(_eventStore, long.MaxValue, cancellationToken).ConfigureAwait(false);
        _durable = state;
        State = state;
        LastSequence = sequence;
        if (_logger.IsEnabled(LogLevel.Information))
        {
            _logger.LogInformation("Configuration loaded from {Store} up to event {Sequence}: {Nics} NICs, {Groups} security groups",
            _eventStore.Description, sequence, state.Nics.Count, state.Groups.Count);
        }

        Reconcile();
    }

    /// <summary>
    /// Queues a nic_export document to be given to a NIC's port once the staged events that
    /// make the NIC are committed (runtime state: the sessions are not part of the log).
    /// </summary>
    public void StageSessions(string nicId, byte[] document) => _stagedSessions.Add((nicId, document));

    /// <summary>Applies events to the live state and queues them for the next commit.</summary>
    public void Stage(IReadOnlyList<DomainEvent> events, RequestOrigin origin)
    {
        foreach (var domainEvent in events)
        {
            State = State.Apply(domainEvent);
            _staged.Add((domainEvent, origin));
        }
    }

    /// <summary>Forgets staged events; the state is back to the last durable one.</summary>
    public void DiscardStaged()
    {
        _staged.Clear();
        _stagedSessions.Clear();
        State = _durable;
    }

    /// <summary>
    /// Appends every staged event in one atomic, durable batch, then reconciles the data
    /// path and snapshots when due. Returns null on success, or why the events could not be
    /// stored — they are then discarded and the state is the last durable one again.
    /// </summary>
    public async Task<string?> CommitAsync(CancellationToken cancellationToken)
    {
        if (_staged.Count == 0)
        {
            ImportStagedSessions();
            return null;
        }
        if (NeedsCatchUp)
        {
            var caughtUp = await CatchUpAsync(cancellationToken).ConfigureAwait(false);
            if (caughtUp.Events is null)
            {
                DiscardStaged();
                return caughtUp.Error;
            }
            // The staged events were decided on a state that may lack what was caught up: refuse them.
            var staged = _staged.Count;
            DiscardStaged();
            ApplyCaughtUp(caughtUp.Events);
            if (caughtUp.Events.Count > 0)
                return $"the change was not saved: an earlier change ({caughtUp.Events.Count} event(s)) turned out to be stored; {staged} event(s) were decided without it, try again";
            return "the change was not saved: an earlier change's outcome had to be checked first; try again";
        }
        var pending = BeginCommit()!;
        return CompleteCommit(pending, await AppendAsync(pending, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// API thread: takes the staged events as one commit, or null when nothing is staged (staged
    /// sessions are then given to their NICs at once). Until <see cref="CompleteCommit"/>,
    /// <see cref="State"/> is the durable configuration (reads of other clients must not see
    /// what may not be stored).
    /// </summary>
    public PendingCommit? BeginCommit()
    {
        if (_staged.Count == 0)
        {
            ImportStagedSessions();
            return null;
        }
        if (NeedsCatchUp)
            throw new InvalidOperationException("an earlier append's outcome is unknown: CatchUpAsync must run first");
        var pending = new PendingCommit([.. _staged.Select(s => EventSerializer.ToNewEvent(s.Event, s.Origin))], State,
            [.. _staged.Select(s => s.Event)], [.. _stagedSessions]);
        _staged.Clear();
        _stagedSessions.Clear();
        State = _durable;
        return pending;
    }

    /// <summary>
    /// Any thread: appends the commit's batch, within <see cref="WriteTimeout"/>. Never throws:
    /// the outcome says whether the batch is stored, refused, or unknown (the store did not
    /// answer in time, or said it could not tell).
    /// </summary>
    public async Task<CommitOutcome> AppendAsync(PendingCommit pending, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pending);
        Task<IReadOnlyList<StoredEvent>>? append = null;
        try
        {
            append = _eventStore.AppendAsync(pending.Batch, cancellationToken);
            return CommitOutcome.Success(await append.WaitAsync(WriteTimeout, _time, cancellationToken).ConfigureAwait(false));
        }
        catch (TimeoutException) when (append is { IsCompleted: false })
        {
            _unsettledAppend = append;
            _logger.LogError("The event log ({Store}) did not answer within {Seconds} s for {Count} event(s)",
                _eventStore.Description, WriteTimeout.TotalSeconds, pending.Batch.Count);
            return new CommitOutcome(null, $"the change was not confirmed: the event log ({_eventStore.Description}) did not answer within " +
                $"{WriteTimeout.TotalSeconds:0.#} s; whether it was stored is checked before the next change is taken", true);
        }
        catch (CommitOutcomeUnknownException e)
        {
            _logger.LogError(e, "Could not tell whether {Count} events reached {Store}", pending.Batch.Count, _eventStore.Description);
            return new CommitOutcome(null, $"the change was not confirmed: {e.Message}", true);
        }
        catch (Exception e)
        {
            return Refused(pending, e);
        }
    }

    private CommitOutcome Refused(PendingCommit pending, Exception e)
    {
        if (_logger.IsEnabled(LogLevel.Error))
            _logger.LogError(e, "Could not append {Count} events to {Store}", pending.Batch.Count, _eventStore.Description);
        return new CommitOutcome(null, $"the change was not saved: the event log ({_eventStore.Description}) refused {pending.Batch.Count} event(s): {e.Message}", false);
    }

    /// <summary>
    /// API thread: applies the outcome of <see cref="AppendAsync"/>. Returns null when the
    /// commit is durable (the state, data path and snapshot follow), else the error for the
    /// replies. After an unknown outcome, <see cref="NeedsCatchUp"/> is set.
    /// </summary>
    public string? CompleteCommit(PendingCommit pending, CommitOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(pending);
        ArgumentNullException.ThrowIfNull(outcome);
        if (outcome.Stored is not { } stored)
        {
            NeedsCatchUp |= outcome.Unknown;
            return outcome.Error;
        }
        var previous = LastSequence;
        _durable = pending.Target;
        State = _durable;
        LastSequence = stored.Count > 0 ? stored[^1].Sequence : LastSequence + pending.Batch.Count;
        Reconcile(pending.Events, previous);
        _stagedSessions.AddRange(pending.Sessions);
        ImportStagedSessions();
        MaybeSnapshot(stored.Count > 0 ? stored[^1].Timestamp : _time.GetUtcNow());
        return null;
    }

    /// <summary>
    /// Any thread, after an unknown outcome: waits (within <see cref="WriteTimeout"/>) for the
    /// store to settle, then reads every event past <see cref="LastSequence"/> from it — by
    /// sequence, from the store, not from memory.
    /// </summary>
    public async Task<CatchUp> CatchUpAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(WriteTimeout);
        try
        {
            if (_unsettledAppend is { } append)
            {
                try
                {
                    await append.WaitAsync(deadline.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // It failed after all: the store's sequence below tells.
                }
            }
            var last = await _eventStore.LastSequenceAsync(deadline.Token).ConfigureAwait(false);
            var events = new List<StoredEvent>();
            if (last > LastSequence)
            {
                await foreach (var e in _eventStore.ReadAsync(LastSequence, deadline.Token).ConfigureAwait(false))
                {
                    if (e.Sequence > last)
                        break;
                    events.Add(e);
                }
            }
            return new CatchUp(events, null);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "The event log ({Store}) cannot tell yet whether an earlier change was stored", _eventStore.Description);
            var why = deadline.IsCancellationRequested ? $"no answer within {WriteTimeout.TotalSeconds:0.#} s" : e.Message;
            return new CatchUp(null, "the change was not saved: an earlier change's outcome is still unknown because the event log " +
                $"({_eventStore.Description}) does not answer ({why}); try again when it is back");
        }
    }

    /// <summary>API thread: applies what <see cref="CatchUpAsync"/> read; the live state then equals the store's.</summary>
    public void ApplyCaughtUp(IReadOnlyList<StoredEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (_staged.Count > 0)
            throw new InvalidOperationException("catch up with staged events");
        var state = _durable;
        foreach (var stored in events)
        {
            state = state.Apply(EventSerializer.Deserialize(stored));
            LastSequence = stored.Sequence;
        }
        _durable = state;
        State = state;
        _unsettledAppend = null;
        NeedsCatchUp = false;
        if (events.Count > 0)
        {
            _logger.LogWarning("Events {First}..{Last}, whose commit was not confirmed, are in the event log: the configuration includes them",
                events[0].Sequence, events[^1].Sequence);
            Reconcile();
        }
        else
        {
            _logger.LogWarning("The change whose commit was not confirmed is not in the event log: the configuration stays as it was");
        }
    }

    /// <summary>
    /// The configuration as it was after event <paramref name="sequence"/> (0 = empty), with
    /// the timestamp of that event. Reads the newest snapshot at or before it, then replays.
    /// </summary>
    public Task<(ConfigurationState State, DateTimeOffset? Timestamp)> StateAtAsync(long sequence, CancellationToken cancellationToken) =>
        StateAtAsync(_eventStore, sequence, cancellationToken);

    /// <summary>The configuration of another host's <paramref name="log"/> after its event <paramref name="sequence"/>, as above.</summary>
    public async Task<(ConfigurationState State, DateTimeOffset? Timestamp)> StateAtAsync(IEventLog log, long sequence, CancellationToken cancellationToken)
    {
        if (sequence <= 0)
            return (ConfigurationState.Empty, null);
        var (state, _, timestamp) = await ReplayAsync(log, sequence, cancellationToken).ConfigureAwait(false);
        return (state, timestamp);
    }

    private async Task<(ConfigurationState State, long Sequence, DateTimeOffset? Timestamp)> ReplayAsync(IEventLog log, long upTo, CancellationToken cancellationToken)
    {
        var state = ConfigurationState.Empty;
        long sequence = 0;
        DateTimeOffset? timestamp = null;
        var snapshot = await log.LoadSnapshotAsync(upTo, cancellationToken).ConfigureAwait(false);
        if (snapshot is not null)
        {
            try
            {
                state = EventSerializer.DeserializeState(snapshot.DataJson);
                (sequence, timestamp) = (snapshot.Sequence, snapshot.Timestamp);
            }
            catch (InvalidDataException e)
            {
                // The log is the truth and the snapshot only a shortcut: replay it all.
                _logger.LogWarning("Ignoring snapshot at event {Sequence}: {Reason}", snapshot.Sequence, e.Message);
                state = ConfigurationState.Empty;
            }
        }

        if (upTo == long.MaxValue && ReferenceEquals(log, _eventStore))
            _lastSnapshotSequence = sequence;
        if (sequence >= upTo)
            return (state, sequence, timestamp);
        await foreach (var stored in log.ReadAsync(sequence, cancellationToken).ConfigureAwait(false))
        {
            if (stored.Sequence > upTo)
                break;
            state = state.Apply(EventSerializer.Deserialize(stored));
            (sequence, timestamp) = (stored.Sequence, stored.Timestamp);
        }

        return (state, sequence, timestamp);
    }

    /// <summary>
    /// Makes the data path match the durable state; <paramref name="committed"/> are the events
    /// appended since <paramref name="previousSequence"/> (null at start-up: everything is new).
    /// </summary>
    private void Reconcile(IReadOnlyList<DomainEvent>? committed = null, long previousSequence = -1)
    {
        try
        {
            DataPathErrors = _dataPath.Reconcile(new DesiredDataPath(_durable, LastSequence, committed, previousSequence));
            foreach (var (nic, error) in DataPathErrors)
                _logger.LogError("Data path could not make the port of NIC {Nic}: {Error}", nic, error);
        }
        catch (Exception e)
        {
            // The events are durable: the configuration stands, the data path will be
            // reconciled again at the next commit or restart.
            _logger.LogError(e, "Data path reconcile failed");
            DataPathErrors = new Dictionary<string, string> { [WholeDataPath] = e.Message };
        }
    }

    /// <summary>Gives NICs the sessions staged for them; a refusal is recorded as the NIC's data-path error.</summary>
    private void ImportStagedSessions()
    {
        if (_stagedSessions.Count == 0)
            return;
        Dictionary<string, string>? errors = null;
        foreach (var (nicId, document) in _stagedSessions)
        {
            string? error;
            try
            {
                error = _durable.Nics.ContainsKey(nicId) ? _dataPath.ImportSessions(nicId, document) : null;
            }
            catch (Exception e)
            {
                error = e.Message;
            }
            if (error is null)
                continue;
            _logger.LogError("NIC {Nic}: the sessions of its fw_data were not all imported: {Error}", nicId, error);
            errors ??= new Dictionary<string, string>(DataPathErrors, StringComparer.Ordinal);
            errors[nicId] = "fw_data: " + error;
        }
        _stagedSessions.Clear();
        if (errors is not null)
            DataPathErrors = errors;
    }

    /// <summary>
    /// Starts a snapshot in the background when one is due and none is running. A failed one is
    /// retried after a delay that doubles up to <see cref="MaxSnapshotBackoff"/> (a full disk must
    /// not be hit on every commit); the store removes what a failed save wrote.
    /// </summary>
    private void MaybeSnapshot(DateTimeOffset timestamp)
    {
        if (LastSequence - _lastSnapshotSequence < SnapshotInterval || _snapshotInFlight is { IsCompleted: false } || _time.GetUtcNow() < _nextSnapshotAttempt)
            return;
        var snapshot = new StoredSnapshot(LastSequence, timestamp, EventSerializer.SerializeState(_durable));
        _snapshotInFlight = SaveSnapshotAsync(snapshot);
    }

    private async Task SaveSnapshotAsync(StoredSnapshot snapshot)
    {
        try
        {
            await _eventStore.SaveSnapshotAsync(snapshot, CancellationToken.None).ConfigureAwait(false);
            _lastSnapshotSequence = snapshot.Sequence;
            _snapshotBackoff = TimeSpan.Zero;
            if (_logger.IsEnabled(LogLevel.Information))
                _logger.LogInformation("Snapshot taken at event {Sequence}", snapshot.Sequence);
        }
        catch (Exception e)
        {
            // Only start-up time suffers; try again later, not on every commit.
            SnapshotFailures++;
            _snapshotBackoff = _snapshotBackoff == TimeSpan.Zero ? TimeSpan.FromSeconds(1)
                : TimeSpan.FromTicks(Math.Min(_snapshotBackoff.Ticks * 2, MaxSnapshotBackoff.Ticks));
            _nextSnapshotAttempt = _time.GetUtcNow() + _snapshotBackoff;
            _logger.LogWarning(e, "Could not save a snapshot at event {Sequence}; next attempt in {Seconds} s", snapshot.Sequence, _snapshotBackoff.TotalSeconds);
        }
    }

    /// <summary>Waits for a snapshot save in progress (tests, shutdown).</summary>
    public Task SnapshotSettledAsync() => _snapshotInFlight ?? Task.CompletedTask;
}
