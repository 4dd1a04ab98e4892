using Butterfly.Application.Commands;
using Butterfly.Application.Ports;
using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Butterfly.Application.Configuration;

/// <summary>
/// The live configuration and the unit of work around it. Write handlers <see cref="Stage"/>
/// events, which the in-memory state shows at once (later requests of the same ZeroMQ
/// message see them); <see cref="CommitAsync"/> then makes them durable in one atomic
/// append, drives the data path, and snapshots now and then. A request is answered only
/// after its commit, so an acknowledged command survives a crash.
/// Thread model: one caller at a time (the API thread); not thread-safe.
/// </summary>
public sealed class ConfigurationStore
{
    /// <summary>A snapshot is taken once this many events were appended since the previous one.</summary>
    public const int SnapshotInterval = 1000;

    /// <summary>The key of <see cref="DataPathErrors"/> that means the reconcile itself failed.</summary>
    public const string WholeDataPath = "*";

    private readonly IEventStore _eventStore;
    private readonly IDataPath _dataPath;
    private readonly ILogger<ConfigurationStore> _logger;
    private readonly List<(DomainEvent Event, RequestOrigin Origin)> _staged = [];
    private readonly List<(string NicId, byte[] Document)> _stagedSessions = [];

    private ConfigurationState _durable = ConfigurationState.Empty;
    private long _lastSnapshotSequence;

    public ConfigurationStore(IEventStore eventStore, IDataPath dataPath, ILogger<ConfigurationStore>? logger = null)
    {
        _eventStore = eventStore;
        _dataPath = dataPath;
        _logger = logger ?? NullLogger<ConfigurationStore>.Instance;
    }

    /// <summary>The configuration including staged (not yet durable) events.</summary>
    public ConfigurationState State { get; private set; } = ConfigurationState.Empty;

    /// <summary>The configuration as of <see cref="LastSequence"/>, without staged events.</summary>
    public ConfigurationState DurableState => _durable;

    /// <summary>Sequence of the newest durable event, 0 for an empty log.</summary>
    public long LastSequence { get; private set; }

    public bool HasStagedEvents => _staged.Count > 0;

    /// <summary>Number of events waiting for <see cref="CommitAsync"/>.</summary>
    public int StagedEventCount => _staged.Count;

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
        var (state, sequence, _) = await ReplayAsync(long.MaxValue, cancellationToken).ConfigureAwait(false);
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
        var batch = _staged.Select(s => EventSerializer.ToNewEvent(s.Event, s.Origin)).ToList();
        IReadOnlyList<StoredEvent> stored;
        try
        {
            stored = await _eventStore.AppendAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            if (_logger.IsEnabled(LogLevel.Error))
                _logger.LogError(e, "Could not append {Count} events to {Store}", batch.Count, _eventStore.Description);
            if (!await BatchLandedAnywayAsync(batch.Count).ConfigureAwait(false))
            {
                DiscardStaged();
                return $"the change was not saved: the event log ({_eventStore.Description}) refused {batch.Count} event(s): {e.Message}";
            }

            stored = [];
        }

        var committed = _staged.Select(s => s.Event).ToList();
        var previous = LastSequence;
        _staged.Clear();
        _durable = State;
        LastSequence = stored.Count > 0 ? stored[^1].Sequence : LastSequence + batch.Count;
        Reconcile(committed, previous);
        ImportStagedSessions();
        if (LastSequence - _lastSnapshotSequence >= SnapshotInterval)
            await SnapshotAsync(stored.Count > 0 ? stored[^1].Timestamp : DateTimeOffset.UtcNow, cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// An append can fail after its batch became durable (cancelled or timed out while the
    /// fsync completed). The store is atomic and has one writer, so the batch is in the log
    /// exactly when the log grew by its size; then the in-memory state must keep it too, or
    /// it would disagree with what a restart rebuilds.
    /// </summary>
    private async Task<bool> BatchLandedAnywayAsync(int count)
    {
        try
        {
            var last = await _eventStore.LastSequenceAsync(CancellationToken.None).ConfigureAwait(false);
            if (last != LastSequence + count)
                return false;
            _logger.LogWarning("The event log reported a failure but holds the batch: keeping it");
            return true;
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Could not check whether the failed batch reached the event log");
            return false;
        }
    }

    /// <summary>
    /// The configuration as it was after event <paramref name="sequence"/> (0 = empty), with
    /// the timestamp of that event. Reads the newest snapshot at or before it, then replays.
    /// </summary>
    public async Task<(ConfigurationState State, DateTimeOffset? Timestamp)> StateAtAsync(long sequence, CancellationToken cancellationToken)
    {
        if (sequence <= 0)
            return (ConfigurationState.Empty, null);
        var (state, _, timestamp) = await ReplayAsync(sequence, cancellationToken).ConfigureAwait(false);
        return (state, timestamp);
    }


    private async Task<(ConfigurationState State, long Sequence, DateTimeOffset? Timestamp)> ReplayAsync(long upTo, CancellationToken cancellationToken)
    {
        var state = ConfigurationState.Empty;
        long sequence = 0;
        DateTimeOffset? timestamp = null;
        var snapshot = await _eventStore.LoadSnapshotAsync(upTo, cancellationToken).ConfigureAwait(false);
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

        if (upTo == long.MaxValue)
            _lastSnapshotSequence = sequence;
        if (sequence >= upTo)
            return (state, sequence, timestamp);
        await foreach (var stored in _eventStore.ReadAsync(sequence, cancellationToken).ConfigureAwait(false))
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

    private async Task SnapshotAsync(DateTimeOffset timestamp, CancellationToken cancellationToken)
    {
        var sequence = LastSequence;
        try
        {
            var snapshot = new StoredSnapshot(sequence, timestamp, EventSerializer.SerializeState(_durable));
            await _eventStore.SaveSnapshotAsync(snapshot, cancellationToken).ConfigureAwait(false);
            _lastSnapshotSequence = sequence;
            if (_logger.IsEnabled(LogLevel.Information))
                _logger.LogInformation("Snapshot taken at event {Sequence}", sequence);
        }
        catch (Exception e)
        {
            // Only start-up time suffers; the next commit tries again.
            _logger.LogWarning(e, "Could not save a snapshot at event {Sequence}", sequence);
        }
    }
}
