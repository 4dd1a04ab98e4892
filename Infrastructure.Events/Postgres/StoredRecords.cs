namespace Butterfly.Infrastructure.Events.Postgres;

/// <summary>
/// The one event type of the Marten stream: every Butterfly event, whatever its domain type,
/// is stored as this record in <c>mt_events.data</c> (snake_case JSON: <c>event_type</c>,
/// <c>aggregate_kind</c>, <c>aggregate_id</c>, <c>data_json</c>, <c>origin</c>, <c>message_id</c>).
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
    string? MessageId);

/// <summary>
/// A snapshot as a Marten document (table <c>mt_doc_snapshot</c>). The id is the sequence as
/// 20 digits, so saving the same point twice replaces it; <see cref="Sequence"/> is duplicated
/// into its own indexed column for "newest at or before".
/// </summary>
internal sealed class SnapshotDocument
{
    public string Id { get; set; } = "";

    public long Sequence { get; set; }

    public DateTimeOffset Timestamp { get; set; }

    public string DataJson { get; set; } = "";
}
