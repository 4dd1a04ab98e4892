namespace Butterfly.Infrastructure.Events.Postgres;

/// <summary>
/// The one event type of the Marten stream: every Butterfly event, whatever its domain type,
/// is stored as this record in <c>mt_events.data</c> (snake_case JSON: <c>event_type</c>,
/// <c>aggregate_kind</c>, <c>aggregate_id</c>, <c>data_json</c>, <c>origin</c>, <c>message_id</c>,
/// and since protocol revision 13 <c>cause</c>, <c>peer_address</c>, <c>client_key</c>, which
/// rows written before lack).
/// Keeping the domain payload as the verbatim JSON text it was given means events come back
/// byte for byte, whatever the domain's serialiser; SQL can still reach into it with
/// <c>(data->>'data_json')::jsonb</c>. The property names are the stored format: renaming one
/// breaks every existing database (and sql/audit.sql).
/// </summary>
internal sealed record ConfigurationEvent(
    string EventType,
    string AggregateKind,
    string AggregateId,
    string DataJson,
    string Origin,
    string? MessageId,
    string? Cause = null,
    string? PeerAddress = null,
    string? ClientKey = null);

/// <summary>
/// A snapshot as a Marten document (table <c>mt_doc_snapshot</c>). The id is the stream and the
/// sequence as 20 digits (the sequence alone in the stream of a database written before host
/// ids), so saving the same point twice replaces it; <see cref="Sequence"/> and
/// <see cref="Stream"/> are duplicated into indexed columns for "newest of this host at or before".
/// </summary>
internal sealed class SnapshotDocument
{
    public string Id { get; set; } = "";

    /// <summary>The host's stream (<see cref="HostStream"/>); null in snapshots written before host ids (the old stream's).</summary>
    public string? Stream { get; set; }

    public long Sequence { get; set; }

    public DateTimeOffset Timestamp { get; set; }

    public string DataJson { get; set; } = "";
}
