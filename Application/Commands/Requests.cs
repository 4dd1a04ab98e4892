using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;
using Mediator;

namespace Butterfly.Application.Commands;

// One request record per API request (docs/protocol.md, MessageV0.Request); each has exactly
// one handler. Write commands carry their origin so the events they cause record it.
// Write commands only stage events: ConfigurationStore.CommitAsync makes them durable and
// drives the data path before any reply is sent.

/// <summary>
/// Marks a request whose handler reads the event store (not only the live configuration): the
/// API runs it off its thread, within the store timeout, so a slow store never holds up the
/// answers to other requests.
/// </summary>
public interface IReadsEventStore;

/// <summary>nic_add; <paramref name="Sessions"/> is a nic_export document to give the new port (fw_data), or null.</summary>
public sealed record AddNic(NicSpec Nic, RequestOrigin Origin, byte[]? Sessions = null) : ICommand<Outcome<string>>;

/// <summary>
/// Null members are left unchanged; an empty list clears. <paramref name="Sessions"/> is a
/// nic_export document to give the NIC's port (fw_data), or null.
/// </summary>
public sealed record UpdateNic(
    string Id,
    bool? IpAntiSpoof,
    IReadOnlyList<string>? Ips,
    IReadOnlyList<string>? SecurityGroups,
    bool? PacketTrace,
    string? PacketTracePath,
    RequestOrigin Origin,
    bool? BypassFiltering = null,
    byte[]? Sessions = null) : ICommand<Outcome<Done>>;

public sealed record DeleteNic(string Id, RequestOrigin Origin) : ICommand<Outcome<Done>>;

public sealed record ListNics : IQuery<Outcome<IReadOnlyList<string>>>;

/// <summary>One NIC, or all NICs sorted by id when <see cref="Id"/> is "".</summary>
public sealed record GetNicDetails(string Id) : IQuery<Outcome<IReadOnlyList<NicDetails>>>;

/// <summary>A NIC as nic_details shows it: its configuration and, when its port is not working, why (protocol revision 10).</summary>
public sealed record NicDetails(NicSpec Nic, string? PortError);

/// <summary>A NIC whose port the data path could not make or cannot switch, and why.</summary>
public sealed record NicPortError(string NicId, string Reason);

/// <summary>The firewall sessions of a NIC, serialised for migration.</summary>
public sealed record ExportNic(string Id) : IQuery<Outcome<byte[]>>;

public sealed record GetNicStats(string Id) : IQuery<Outcome<NicCounters>>;

public sealed record AddSecurityGroup(SecurityGroupSpec Group, RequestOrigin Origin) : ICommand<Outcome<Done>>;

public sealed record DeleteSecurityGroup(string Id, RequestOrigin Origin) : ICommand<Outcome<Done>>;

public sealed record ListSecurityGroups : IQuery<Outcome<IReadOnlyList<string>>>;

/// <summary>One group, or all groups sorted by id when <see cref="Id"/> is "".</summary>
public sealed record GetSecurityGroupDetails(string Id) : IQuery<Outcome<IReadOnlyList<SecurityGroupSpec>>>;

public sealed record AddRule(string GroupId, RuleSpec Rule, RequestOrigin Origin) : ICommand<Outcome<Done>>;

public sealed record DeleteRule(string GroupId, RuleSpec Rule, RequestOrigin Origin) : ICommand<Outcome<Done>>;

public sealed record ListRules(string GroupId) : IQuery<Outcome<IReadOnlyList<RuleSpec>>>;

public sealed record AddMember(string GroupId, string Member, RequestOrigin Origin) : ICommand<Outcome<Done>>;

public sealed record DeleteMember(string GroupId, string Member, RequestOrigin Origin) : ICommand<Outcome<Done>>;

public sealed record ListMembers(string GroupId) : IQuery<Outcome<IReadOnlyList<string>>>;

/// <param name="PortErrors">NICs whose port is not working, sorted by id (protocol revision 10).</param>
/// <param name="DataPathError">Why the last reconcile of the data path failed as a whole, or null.</param>
public sealed record AppStatus(
    DateTimeOffset StartedAt,
    DateTimeOffset Now,
    ulong RequestCounter,
    string GraphDot,
    IReadOnlyList<NicPortError>? PortErrors = null,
    string? DataPathError = null);

/// <summary>RequestCounter is maintained by the API host and passed in.</summary>
public sealed record GetStatus(ulong RequestCounter) : IQuery<Outcome<AppStatus>>;

public sealed record Quit : ICommand<Outcome<Done>>;

public sealed record SetLogLevel(string Level) : ICommand<Outcome<Done>>;

// ---- Packet-thread statistics (protocol revision 8) ----

/// <summary>
/// The packet thread's counters since the last clear. With <see cref="Clear"/> a new
/// measurement starts after this reading (runtime state only: no event is recorded).
/// </summary>
public sealed record GetPacketThreadStats(bool Clear) : IQuery<Outcome<PacketThreadStats>>;

// ---- Event log extensions (protocol revision 7) ----

/// <summary>A page of the log of <paramref name="Host"/> (another host's, in a store the fleet shares), or of this daemon's host when null.</summary>
public sealed record ListEvents(EventFilter Filter, string? Host = null) : IQuery<Outcome<EventPage>>, IReadsEventStore;

/// <summary>A page of events; <see cref="NextAfterSequence"/> is set when more match. <see cref="HostId"/>: whose log it is, when known.</summary>
public sealed record EventPage(IReadOnlyList<StoredEvent> Events, long? NextAfterSequence, long LastSequence, string? HostId = null);

/// <summary>Exactly one of the two is set.</summary>
public sealed record PointInTime(long? Sequence, DateTimeOffset? Time);

public sealed record ConfigurationView(long Sequence, DateTimeOffset? Timestamp, IReadOnlyList<NicSpec> Nics, IReadOnlyList<SecurityGroupSpec> Groups,
    string? HostId = null);

/// <summary>The configuration of <paramref name="Host"/> (another host's, in a store the fleet shares), or of this daemon's host when null.</summary>
public sealed record GetStateAt(PointInTime At, string? Host = null) : IQuery<Outcome<ConfigurationView>>, IReadsEventStore;

public sealed record RestoreSummary(long TargetSequence, int EventsAppended, long LastSequence);

/// <summary><paramref name="Host"/>: the host the request names, if any; a daemon restores its own host only.</summary>
public sealed record RestoreTo(PointInTime At, RequestOrigin Origin, string? Host = null) : ICommand<Outcome<RestoreSummary>>, IReadsEventStore;
