using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Butterfly.Application.Ports;
using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Application.Configuration;

/// <summary>
/// Turns domain events and configuration snapshots into the JSON the event store keeps, and
/// back. camelCase names, enums as camelCase text, nulls omitted; event type names come from
/// <see cref="EventTypes"/> so they never depend on CLR names.
/// </summary>
public static class EventSerializer
{
    /// <summary>Version of the snapshot layout; a snapshot of another version is ignored (full replay).</summary>
    public const int SnapshotVersion = 1;

    public static readonly JsonSerializerOptions Options = CreateOptions();

    public static string Serialize(DomainEvent domainEvent) =>
        JsonSerializer.Serialize(domainEvent, domainEvent.GetType(), Options);

    public static NewEvent ToNewEvent(DomainEvent domainEvent, RequestOrigin origin) => new(
        EventTypes.NameOf(domainEvent),
        domainEvent.AggregateKind,
        domainEvent.AggregateId,
        Serialize(domainEvent),
        origin.Client,
        origin.MessageId)
    {
        Audit = origin.Cause is null && origin.PeerAddress is null && origin.ClientKey is null
            ? null
            : new EventAudit(origin.Cause, origin.PeerAddress, origin.ClientKey),
    };

    /// <summary>The domain event a stored event carries; throws <see cref="InvalidDataException"/> when it cannot be read.</summary>
    public static DomainEvent Deserialize(StoredEvent stored)
    {
        var type = EventTypes.TypeOf(stored.Type)
            ?? throw new InvalidDataException($"event {stored.Sequence} has unknown type '{stored.Type}' (written by a newer butterflyd?)");
        try
        {
            return (DomainEvent?)JsonSerializer.Deserialize(stored.DataJson, type, Options)
                ?? throw new InvalidDataException($"event {stored.Sequence} ({stored.Type}) has an empty payload");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"event {stored.Sequence} ({stored.Type}) has an unreadable payload: {e.Message}", e);
        }
    }

    public static string SerializeState(ConfigurationState state) => JsonSerializer.Serialize(
        new SnapshotData(SnapshotVersion, [.. state.Nics.Values], [.. state.Groups.Values]), Options);

    /// <summary>The state a snapshot holds; throws <see cref="InvalidDataException"/> when it cannot be read.</summary>
    public static ConfigurationState DeserializeState(string json)
    {
        SnapshotData? data;
        try
        {
            data = JsonSerializer.Deserialize<SnapshotData>(json, Options);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"snapshot is unreadable: {e.Message}", e);
        }

        if (data is null || data.Version != SnapshotVersion)
            throw new InvalidDataException($"snapshot has version {data?.Version}, this butterflyd reads version {SnapshotVersion}");
        return ConfigurationState.From(data.Nics ?? [], data.Groups ?? []);
    }

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            WriteIndented = false,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { HideDerivedProperties } },
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false));
        options.MakeReadOnly();
        return options;
    }

    /// <summary>
    /// AggregateKind / AggregateId (and the NIC id NicAdded repeats from its spec) are
    /// derived from the event's own fields and would only duplicate them in the payload.
    /// The aggregate's id comes first so a person reading the log sees whose event it is.
    /// </summary>
    private static void HideDerivedProperties(JsonTypeInfo info)
    {
        if (!typeof(DomainEvent).IsAssignableFrom(info.Type))
            return;
        for (var i = info.Properties.Count - 1; i >= 0; i--)
        {
            var name = info.Properties[i].Name;
            if (name is "aggregateKind" or "aggregateId" || (info.Type == typeof(NicAdded) && name == "nicId"))
                info.Properties.RemoveAt(i);
            else if (name is "nicId" or "groupId")
                info.Properties[i].Order = -1;
        }
    }

    private sealed record SnapshotData(int Version, IReadOnlyList<NicSpec> Nics, IReadOnlyList<SecurityGroupSpec> Groups);
}
