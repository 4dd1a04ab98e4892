using Butterfly.Application.Commands;
using Butterfly.Application.Configuration;
using Butterfly.Application.Ports;
using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Mediator;

namespace Butterfly.Application.Nics;

// nic_add, nic_update, nic_del, nic_list, nic_details, nic_export, nic_stats.
// Commands stage events on the ConfigurationStore; the host commits before replying.

public sealed class AddNicHandler(ConfigurationStore store, IDataPath dataPath) : ICommandHandler<AddNic, Outcome<string>>
{
    public ValueTask<Outcome<string>> Handle(AddNic command, CancellationToken cancellationToken)
    {
        // Against the state with this batch's staged events: a MAC taken by a NIC added
        // earlier in the same message is refused like one already committed.
        var decision = store.State.DecideAddNic(command.Nic, spec => dataPath.NewSocketPath(spec.Id));
        if (!decision.IsValid)
            return new(Outcome<string>.Failure(decision.Error!));

        // The data path has limits of its own (tap name length, socket path length): a NIC
        // it cannot make is refused before anything is recorded.
        var nic = ((NicAdded)decision.Value![0]).Nic;
        var dataPathNic = DataPathNic.From(nic);
        var refusal = dataPath.Validate(dataPathNic) ?? CapacityRefusal(nic);
        if (refusal is not null)
            return new(Outcome<string>.Failure($"NIC '{nic.Id}': {refusal}"));
        var sessionsError = SessionsError(nic.Id, command.Sessions);
        if (sessionsError is not null)
            return new(Outcome<string>.Failure(sessionsError));

        store.Stage(decision.Value, command.Origin);
        if (command.Sessions is not null)
            store.StageSessions(nic.Id, command.Sessions);
        return new(Outcome<string>.Success(dataPath.PathOf(dataPathNic)));
    }

    /// <summary>
    /// Why one more NIC of this type would be more than the data path serves (counting this
    /// batch's staged NICs; replacing a NIC of the same id and type adds none), or null.
    /// </summary>
    private string? CapacityRefusal(NicSpec nic)
    {
        var capacity = dataPath.NicCapacity(nic.Type);
        var others = store.State.Nics.Values.Count(n => n.Type == nic.Type && n.Id != nic.Id);
        if (others < capacity)
            return null;
        return nic.Type switch
        {
            NicType.VhostUserServer => $"{others} vhost-user NICs exist, the most this host's data path serves ({capacity}, every one with its guest connected); remove one first",
            NicType.Tap => $"{others} tap NICs exist, the most this host's data path serves ({capacity}: a tap takes one of DPDK's ethdev ports, which the underlay shares); remove one first",
            _ => $"{others} {nic.Type.ToString().ToUpperInvariant()} NICs exist, the most this host's data path serves ({capacity}); remove one first",
        };
    }

    /// <summary>Why a fw_data document cannot be given to a NIC, or null (also when there is none).</summary>
    internal static string? SessionsError(string nicId, byte[]? document)
    {
        if (document is null)
            return null;
        return SessionDocument.Read(document, out var error) is null ? $"NIC '{nicId}': {error}" : null;
    }
}

public sealed class UpdateNicHandler(ConfigurationStore store) : ICommandHandler<UpdateNic, Outcome<Done>>
{
    public ValueTask<Outcome<Done>> Handle(UpdateNic command, CancellationToken cancellationToken)
    {
        var update = new NicUpdate(command.Id, command.IpAntiSpoof, command.Ips, command.SecurityGroups, command.PacketTrace,
            command.PacketTracePath, command.BypassFiltering);
        var decision = store.State.DecideUpdateNic(update);
        if (!decision.IsValid)
            return new(Outcome<Done>.Failure(decision.Error!));
        var sessionsError = AddNicHandler.SessionsError(command.Id, command.Sessions);
        if (sessionsError is not null)
            return new(Outcome<Done>.Failure(sessionsError));
        store.Stage(decision.Value!, command.Origin);
        if (command.Sessions is not null)
            store.StageSessions(command.Id, command.Sessions);
        return new(Outcome<Done>.Success(default));
    }
}

public sealed class DeleteNicHandler(ConfigurationStore store) : ICommandHandler<DeleteNic, Outcome<Done>>
{
    public ValueTask<Outcome<Done>> Handle(DeleteNic command, CancellationToken cancellationToken)
    {
        store.Stage(store.State.DecideRemoveNic(command.Id), command.Origin);
        return new(Outcome<Done>.Success(default));
    }
}

public sealed class ListNicsHandler(ConfigurationStore store) : IQueryHandler<ListNics, Outcome<IReadOnlyList<string>>>
{
    public ValueTask<Outcome<IReadOnlyList<string>>> Handle(ListNics query, CancellationToken cancellationToken) =>
        new(Outcome<IReadOnlyList<string>>.Success([.. store.State.Nics.Keys]));
}

public sealed class GetNicDetailsHandler(ConfigurationStore store) : IQueryHandler<GetNicDetails, Outcome<IReadOnlyList<NicDetails>>>
{
    public ValueTask<Outcome<IReadOnlyList<NicDetails>>> Handle(GetNicDetails query, CancellationToken cancellationToken)
    {
        var nics = store.State.Nics;
        if (string.IsNullOrEmpty(query.Id))
            return new(Outcome<IReadOnlyList<NicDetails>>.Success([.. nics.Values.Select(Details)]));
        return nics.TryGetValue(query.Id, out var nic)
            ? new(Outcome<IReadOnlyList<NicDetails>>.Success([Details(nic)]))
            : new(Outcome<IReadOnlyList<NicDetails>>.Failure(NicErrors.NotFound("nic_details", query.Id)));
    }

    private NicDetails Details(NicSpec nic) => new(nic, store.PortErrorOf(nic.Id));
}

/// <summary>
/// nic_export: the NIC's tracked connections (<see cref="SessionDocument"/>), for an
/// orchestrator to give to the NIC on the host its VM migrates to. A NIC whose port is not
/// made (yet) tracks nothing: its document lists no session.
/// </summary>
public sealed class ExportNicHandler(ConfigurationStore store, IDataPath dataPath) : IQueryHandler<ExportNic, Outcome<byte[]>>
{
    public ValueTask<Outcome<byte[]>> Handle(ExportNic query, CancellationToken cancellationToken)
    {
        if (!store.State.Nics.ContainsKey(query.Id ?? string.Empty))
            return new(Outcome<byte[]>.Failure(NicErrors.NotFound("nic_export", query.Id)));
        return new(Outcome<byte[]>.Success(dataPath.ExportSessions(query.Id!) ?? SessionDocument.Write([])));
    }
}

public sealed class GetNicStatsHandler(ConfigurationStore store, IDataPath dataPath) : IQueryHandler<GetNicStats, Outcome<NicCounters>>
{
    public ValueTask<Outcome<NicCounters>> Handle(GetNicStats query, CancellationToken cancellationToken)
    {
        if (!store.State.Nics.ContainsKey(query.Id ?? string.Empty))
            return new(Outcome<NicCounters>.Failure(NicErrors.NotFound("nic_stats", query.Id)));

        // A NIC whose port is not (yet) made has sent and received nothing.
        return new(Outcome<NicCounters>.Success(dataPath.CountersOf(query.Id!) ?? default));
    }
}

internal static class NicErrors
{
    public static string NotFound(string request, string? id) => $"{request}: NIC not found: no NIC has id '{id}'";
}
