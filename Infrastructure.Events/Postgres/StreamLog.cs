using System.Globalization;
using System.Runtime.CompilerServices;
using Butterfly.Application.Ports;
using Marten;
using Npgsql;

namespace Butterfly.Infrastructure.Events.Postgres;

/// <summary>
/// The read side of one host's stream: its events (plain SQL, <see cref="EventSql"/>) and its
/// snapshots (Marten documents). <see cref="MartenEventStore"/> reads its own host's stream
/// through one; <see cref="MartenEventStore.OpenHostLogAsync"/> hands out one for another host
/// of the fleet, read-only.
/// </summary>
internal sealed class StreamLog(NpgsqlDataSource dataSource, DocumentStore store, HostStream stream) : IEventLog
{
    private readonly EventSql _sql = new(stream);

    public HostStream Stream => stream;

    public EventSql Sql => _sql;

    public async IAsyncEnumerable<StoredEvent> ReadAsync(long afterSequence, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Pages, so a long replay does not hold a connection (or the whole log) at once.
        const int PageSize = 1000;
        var after = Math.Max(0, afterSequence);
        while (true)
        {
            var page = await _sql.QueryAsync(dataSource, new EventFilter(AfterSequence: after, Limit: PageSize), cancellationToken).ConfigureAwait(false);
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
        EventBatches.Validate(filter);
        return await _sql.QueryAsync(dataSource, filter, cancellationToken).ConfigureAwait(false);
    }

    public async Task<long> LastSequenceAsync(CancellationToken cancellationToken = default) =>
        (await _sql.ReadTailAsync(dataSource, cancellationToken).ConfigureAwait(false)).Sequence;

    public Task<long> SequenceAtAsync(DateTimeOffset time, CancellationToken cancellationToken = default) =>
        _sql.SequenceAtAsync(dataSource, time, cancellationToken);

    public async Task<StoredSnapshot?> LoadSnapshotAsync(long atOrBeforeSequence = long.MaxValue, CancellationToken cancellationToken = default)
    {
        await using var session = store.QuerySession();
        var document = await Snapshots(session).Where(x => x.Sequence <= atOrBeforeSequence).OrderByDescending(x => x.Sequence)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        return document is null ? null : new StoredSnapshot(document.Sequence, document.Timestamp, document.DataJson);
    }

    /// <summary>Stores a snapshot of this stream and keeps its newest <paramref name="keep"/>.</summary>
    public async Task SaveSnapshotAsync(StoredSnapshot snapshot, int keep, CancellationToken cancellationToken)
    {
        await using var session = store.LightweightSession();
        var sequence = snapshot.Sequence.ToString("D20", CultureInfo.InvariantCulture);
        session.Store(new SnapshotDocument
        {
            // The old stream keeps the ids it always had, so a snapshot of a point taken before replaces it.
            Id = stream.IsLegacy ? sequence : $"{stream.StreamId}/{sequence}",
            Stream = stream.StreamId,
            Sequence = snapshot.Sequence,
            Timestamp = snapshot.Timestamp,
            DataJson = snapshot.DataJson,
        });
        await session.SaveChangesAsync(cancellationToken).ConfigureAwait(false);

        var kept = await Snapshots(session).OrderByDescending(x => x.Sequence).Select(x => x.Sequence)
            .Take(keep).ToListAsync(cancellationToken).ConfigureAwait(false);
        if (kept.Count == keep)
        {
            var oldestKept = kept[^1];
            var id = stream.StreamId;
            if (stream.IsLegacy)
            {
                session.DeleteWhere<SnapshotDocument>(x => (x.Stream == id || x.Stream == null) && x.Sequence < oldestKept);
            }
            else
            {
                session.DeleteWhere<SnapshotDocument>(x => x.Stream == id && x.Sequence < oldestKept);
            }
            await session.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>This stream's snapshots; those written before host ids name no stream and are the old stream's.</summary>
    private IQueryable<SnapshotDocument> Snapshots(IQuerySession session)
    {
        var id = stream.StreamId;
        return stream.IsLegacy
            ? session.Query<SnapshotDocument>().Where(x => x.Stream == id || x.Stream == null)
            : session.Query<SnapshotDocument>().Where(x => x.Stream == id);
    }
}
