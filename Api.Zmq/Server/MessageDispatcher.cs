using Butterfly.Application;
using Butterfly.Application.Commands;
using Butterfly.Application.Ports;
using Butterfly.Wire;
using Google.Protobuf.Reflection;
using Mediator;
using Serilog;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Api.Zmq.Server;

/// <summary>The reply to one MessageV0 and whether the request was a write (it may have staged events).</summary>
internal readonly record struct DispatchResult(MessageV0 Reply, bool IsWrite);

/// <summary>How the API serves a request, decided by the type of its mediator message.</summary>
internal enum RequestKind
{
    /// <summary>An <c>IQuery</c> over the live configuration: answered at once on the API thread.</summary>
    Query,

    /// <summary>An <c>IQuery</c> that reads the event store: answered off the API thread, within the store timeout.</summary>
    StoreQuery,

    /// <summary>An <c>ICommand</c>: may stage events, answered only after they are durable.</summary>
    Command,
}

/// <summary>
/// Runs one <see cref="MessageV0"/> through the mediator: picks the single request field
/// that is set, maps it with <see cref="ProtoMapper"/>, sends the command or query and
/// maps the outcome back. Write commands only stage events; the caller commits them.
/// Never throws: a failure of any kind becomes <c>status false</c> with a description.
/// Called from the API thread only.
/// </summary>
internal sealed class MessageDispatcher(IMediator mediator, IDataPath dataPath, bool defaultPacketTrace, ILogger log)
{
    private static readonly FieldDescriptor[] RequestFields = [.. V0.Request.Descriptor.Fields.InFieldNumberOrder()];

    /// <summary>
    /// The mediator message each request field becomes. Whether a request commits follows from
    /// that type (<c>ICommand</c> or <c>IQuery</c>), so a new request cannot be acknowledged
    /// without being committed; a test checks every field of the protocol is here and handled.
    /// </summary>
    internal static readonly IReadOnlyDictionary<int, Type> RequestTypes = new Dictionary<int, Type>
    {
        [V0.Request.NicAddFieldNumber] = typeof(AddNic),
        [V0.Request.NicUpdateFieldNumber] = typeof(UpdateNic),
        [V0.Request.NicDelFieldNumber] = typeof(DeleteNic),
        [V0.Request.NicListFieldNumber] = typeof(ListNics),
        [V0.Request.NicDetailsFieldNumber] = typeof(GetNicDetails),
        [V0.Request.NicExportFieldNumber] = typeof(ExportNic),
        [V0.Request.NicStatsFieldNumber] = typeof(GetNicStats),
        [V0.Request.SgAddFieldNumber] = typeof(AddSecurityGroup),
        [V0.Request.SgDelFieldNumber] = typeof(DeleteSecurityGroup),
        [V0.Request.SgListFieldNumber] = typeof(ListSecurityGroups),
        [V0.Request.SgRuleAddFieldNumber] = typeof(AddRule),
        [V0.Request.SgRuleDelFieldNumber] = typeof(DeleteRule),
        [V0.Request.SgRuleListFieldNumber] = typeof(ListRules),
        [V0.Request.SgMemberAddFieldNumber] = typeof(AddMember),
        [V0.Request.SgMemberDelFieldNumber] = typeof(DeleteMember),
        [V0.Request.SgMemberListFieldNumber] = typeof(ListMembers),
        [V0.Request.AppStatusFieldNumber] = typeof(GetStatus),
        [V0.Request.AppQuitFieldNumber] = typeof(Quit),
        [V0.Request.AppConfigFieldNumber] = typeof(SetLogLevel),
        [V0.Request.SgDetailsFieldNumber] = typeof(GetSecurityGroupDetails),
        [V0.Request.EventListFieldNumber] = typeof(ListEvents),
        [V0.Request.StateAtFieldNumber] = typeof(GetStateAt),
        [V0.Request.RestoreToFieldNumber] = typeof(RestoreTo),
        [V0.Request.PacketThreadStatsFieldNumber] = typeof(GetPacketThreadStats),
    };

    /// <summary>The kind of the request type of a field (a field with none is a query: it is refused without touching anything).</summary>
    public static RequestKind KindOf(int field)
    {
        if (!RequestTypes.TryGetValue(field, out var type))
        {
            return RequestKind.Query;
        }
        if (type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ICommand<>)))
        {
            return RequestKind.Command;
        }
        return typeof(IReadsEventStore).IsAssignableFrom(type) ? RequestKind.StoreQuery : RequestKind.Query;
    }

    /// <summary>The kind of a whole request Messages: a command if any item is one, else a store query if any is, else a query.</summary>
    public static RequestKind KindOf(IEnumerable<Message> items)
    {
        var kind = RequestKind.Query;
        foreach (var item in items)
        {
            if (item.Message0?.Request is not { } request)
            {
                continue;
            }
            foreach (var field in RequestFields.Where(f => f.Accessor.HasValue(request)))
            {
                var k = KindOf(field.FieldNumber);
                if (k > kind)
                {
                    kind = k;
                }
            }
        }
        return kind;
    }

    /// <param name="request">The request MessageV0.</param>
    /// <param name="client">Who sent it (connection, address, CURVE key), as recorded in the events it causes.</param>
    /// <param name="requestCounter">Requests served so far, for app_status.</param>
    public async ValueTask<DispatchResult> DispatchAsync(MessageV0 request, RequestOrigin client, ulong requestCounter, CancellationToken cancellationToken)
    {
        var reply = new MessageV0();
        if (request.HasMessageId)
        {
            reply.MessageId = request.MessageId;
        }

        if (request.Request is null)
        {
            reply.Response = Failure("MessageV0 has no request: set exactly one field of MessageV0.Request");
            return new DispatchResult(reply, false);
        }

        var set = RequestFields.Where(f => f.Accessor.HasValue(request.Request)).ToList();
        if (set.Count != 1)
        {
            reply.Response = Failure(set.Count == 0
                ? "MessageV0.Request has no request set (or only fields unknown to this daemon): set exactly one"
                : $"MessageV0.Request has {set.Count} requests set ({string.Join(", ", set.Select(f => f.Name))}): set exactly one per Message");
            return new DispatchResult(reply, false);
        }

        var field = set[0];
        // The events record which request caused them, by its name in the protocol.
        var origin = client with { MessageId = request.HasMessageId ? request.MessageId : null, Cause = field.Name };
        try
        {
            reply.Response = await HandleAsync(field.FieldNumber, request.Request, origin, requestCounter, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            reply.Response = Failure($"{field.Name}: the event log did not answer in time; try again");
        }
        catch (Exception e)
        {
            log.Error(e, "{Request} from {Client} failed", field.Name, client.Describe());
            reply.Response = Failure($"internal error while handling {field.Name}: {e.Message}");
        }

        if (!reply.Response.Status.Status_)
        {
            log.Warning("{Request} from {Client} refused: {Description}", field.Name, client.Describe(), reply.Response.Status.Error?.Description);
        }
        else
        {
            log.Information("{Request} from {Client} done", field.Name, client.Describe());
        }

        return new DispatchResult(reply, KindOf(field.FieldNumber) == RequestKind.Command);
    }

    public static V0.Response Success() => new() { Status = new V0.Status { Status_ = true } };

    public static V0.Response Failure(string description) =>
        new() { Status = new V0.Status { Status_ = false, Error = new V0.Error { Description = description } } };

    private async ValueTask<V0.Response> HandleAsync(int field, V0.Request r, RequestOrigin origin, ulong requestCounter, CancellationToken ct)
    {
        switch (field)
        {
            case V0.Request.NicAddFieldNumber:
                return Reply(
                    await mediator.Send(new AddNic(ProtoMapper.ToNicSpec(r.NicAdd, defaultPacketTrace), origin, ProtoMapper.SessionsOf(r.NicAdd.FwData)), ct),
                    (res, path) => res.NicAdd = new V0.NicAddRes { Path = path ?? "" });
            case V0.Request.NicUpdateFieldNumber:
                return Reply(await mediator.Send(ProtoMapper.ToUpdateNic(r.NicUpdate, origin), ct));
            case V0.Request.NicDelFieldNumber:
                return Reply(await mediator.Send(new DeleteNic(r.NicDel, origin), ct));
            case V0.Request.NicListFieldNumber:
                return Reply(await mediator.Send(new ListNics(), ct), (res, ids) => res.NicList.AddRange(ids));
            case V0.Request.NicDetailsFieldNumber:
                return Reply(
                    await mediator.Send(new GetNicDetails(r.NicDetails), ct),
                    (res, nics) => res.NicDetails.AddRange(nics.Select(n => ProtoMapper.ToWire(n.Nic, PathOf(n.Nic), n.PortError))));
            case V0.Request.NicExportFieldNumber:
                return Reply(
                    await mediator.Send(new ExportNic(r.NicExport), ct),
                    (res, data) => res.NicExport = new V0.NicExportRes { FwData = new V0.FwData { Data = Google.Protobuf.ByteString.CopyFrom(data) } });
            case V0.Request.NicStatsFieldNumber:
                return Reply(await mediator.Send(new GetNicStats(r.NicStats), ct), (res, c) => res.NicStats = ProtoMapper.ToWire(c));
            case V0.Request.SgAddFieldNumber:
                return Reply(await mediator.Send(new AddSecurityGroup(ProtoMapper.ToGroup(r.SgAdd), origin), ct));
            case V0.Request.SgDelFieldNumber:
                return Reply(await mediator.Send(new DeleteSecurityGroup(r.SgDel, origin), ct));
            case V0.Request.SgListFieldNumber:
                return Reply(await mediator.Send(new ListSecurityGroups(), ct), (res, ids) => res.SgList.AddRange(ids));
            case V0.Request.SgRuleAddFieldNumber:
                return Reply(await mediator.Send(new AddRule(r.SgRuleAdd.SgId, ProtoMapper.ToRule(r.SgRuleAdd.Rule), origin), ct));
            case V0.Request.SgRuleDelFieldNumber:
                return Reply(await mediator.Send(new DeleteRule(r.SgRuleDel.SgId, ProtoMapper.ToRule(r.SgRuleDel.Rule), origin), ct));
            case V0.Request.SgRuleListFieldNumber:
                return Reply(
                    await mediator.Send(new ListRules(r.SgRuleList), ct),
                    (res, rules) => res.SgRuleList.AddRange(rules.Select(ProtoMapper.ToWire)));
            case V0.Request.SgMemberAddFieldNumber:
                return Reply(await mediator.Send(new AddMember(r.SgMemberAdd.SgId, r.SgMemberAdd.Member, origin), ct));
            case V0.Request.SgMemberDelFieldNumber:
                return Reply(await mediator.Send(new DeleteMember(r.SgMemberDel.SgId, r.SgMemberDel.Member, origin), ct));
            case V0.Request.SgMemberListFieldNumber:
                return Reply(await mediator.Send(new ListMembers(r.SgMemberList), ct), (res, m) => res.SgMemberList.AddRange(m));
            case V0.Request.AppStatusFieldNumber:
                return Reply(await mediator.Send(new GetStatus(requestCounter), ct), (res, s) => res.AppStatus = ProtoMapper.ToWire(s));
            case V0.Request.AppQuitFieldNumber:
                return Reply(await mediator.Send(new Quit(), ct));
            case V0.Request.AppConfigFieldNumber:
                // An app_config without log_level changes nothing and succeeds, as it always did.
                return r.AppConfig.HasLogLevel ? Reply(await mediator.Send(new SetLogLevel(r.AppConfig.LogLevel), ct)) : Success();
            case V0.Request.SgDetailsFieldNumber:
                return Reply(
                    await mediator.Send(new GetSecurityGroupDetails(r.SgDetails), ct),
                    (res, groups) => res.SgDetails.AddRange(groups.Select(ProtoMapper.ToWire)));
            case V0.Request.EventListFieldNumber:
                var filter = ProtoMapper.ToEventFilter(r.EventList);
                return !filter.IsSuccess
                    ? Failure(filter.Error!)
                    : Reply(await mediator.Send(new ListEvents(filter.Value!, r.EventList.HasHostId ? r.EventList.HostId : null), ct),
                        (res, page) => res.EventList = ProtoMapper.ToWire(page));
            case V0.Request.StateAtFieldNumber:
                var at = ProtoMapper.ToPointInTime(r.StateAt, "state_at");
                return !at.IsSuccess
                    ? Failure(at.Error!)
                    : Reply(await mediator.Send(new GetStateAt(at.Value!, r.StateAt.HasHostId ? r.StateAt.HostId : null), ct),
                        (res, view) => res.State = ProtoMapper.ToWire(view, PathOf));
            case V0.Request.RestoreToFieldNumber:
                var to = ProtoMapper.ToPointInTime(r.RestoreTo, "restore_to");
                return !to.IsSuccess
                    ? Failure(to.Error!)
                    : Reply(await mediator.Send(new RestoreTo(to.Value!, origin, r.RestoreTo.HasHostId ? r.RestoreTo.HostId : null), ct),
                        (res, s) => res.Restore = ProtoMapper.ToWire(s));
            case V0.Request.PacketThreadStatsFieldNumber:
                return Reply(
                    await mediator.Send(new GetPacketThreadStats(r.PacketThreadStats.Clear), ct),
                    (res, stats) => res.PacketThreadStats = ProtoMapper.ToWire(stats));
            default:
                return Failure($"MessageV0.Request field {field} is not handled by this daemon");
        }
    }

    private string? PathOf(Butterfly.Domain.Nics.NicSpec nic) => dataPath.PathOf(ProtoMapper.ToDataPathNic(nic));

    private static V0.Response Reply<T>(Outcome<T> outcome, Action<V0.Response, T>? fill = null)
    {
        if (!outcome.IsSuccess)
        {
            return Failure(outcome.Error!);
        }

        var response = Success();
        fill?.Invoke(response, outcome.Value!);
        return response;
    }
}
