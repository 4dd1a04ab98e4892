using Butterfly.Api.Zmq.Server;
using Butterfly.Application.Commands;
using Mediator;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Api.Zmq.Tests.Server;

/// <summary>
/// Whether a request commits follows from the type of its mediator message. Every request field
/// of the protocol must map to a message type with a handler, so a new field cannot be
/// acknowledged without being committed (or be silently unhandled).
/// </summary>
public sealed class RequestKindTests
{
    private static readonly Type[] HandlerInterfaces = [typeof(ICommandHandler<,>), typeof(IQueryHandler<,>)];

    public static TheoryData<int, string> Fields()
    {
        var data = new TheoryData<int, string>();
        foreach (var field in V0.Request.Descriptor.Fields.InFieldNumberOrder())
        {
            data.Add(field.FieldNumber, field.Name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Fields))]
    public void Every_request_field_has_a_message_type_with_one_handler_and_a_kind(int field, string name)
    {
        Assert.True(MessageDispatcher.RequestTypes.TryGetValue(field, out var type), $"request field {name} ({field}) has no mediator message type");
        var handlers = typeof(AddNic).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false })
            .Where(t => t.GetInterfaces().Any(i => i.IsGenericType && HandlerInterfaces.Contains(i.GetGenericTypeDefinition()) && i.GetGenericArguments()[0] == type))
            .ToList();
        Assert.True(handlers.Count == 1, $"{type!.Name} ({name}) has {handlers.Count} handlers");
        var isCommand = type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ICommand<>));
        var isQuery = type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IQuery<>));
        Assert.True(isCommand ^ isQuery, $"{type.Name} must be exactly one of a command or a query");
        Assert.Equal(isCommand, MessageDispatcher.KindOf(field) == RequestKind.Command);
    }

    [Fact]
    public void Writes_are_commands_and_reads_of_the_log_run_off_the_api_thread()
    {
        int[] writes =
        [
            V0.Request.NicAddFieldNumber, V0.Request.NicUpdateFieldNumber, V0.Request.NicDelFieldNumber, V0.Request.SgAddFieldNumber,
            V0.Request.SgDelFieldNumber, V0.Request.SgRuleAddFieldNumber, V0.Request.SgRuleDelFieldNumber, V0.Request.SgMemberAddFieldNumber,
            V0.Request.SgMemberDelFieldNumber, V0.Request.RestoreToFieldNumber,
        ];
        foreach (var field in writes)
        {
            Assert.Equal(RequestKind.Command, MessageDispatcher.KindOf(field));
        }
        Assert.Equal(RequestKind.StoreQuery, MessageDispatcher.KindOf(V0.Request.EventListFieldNumber));
        Assert.Equal(RequestKind.StoreQuery, MessageDispatcher.KindOf(V0.Request.StateAtFieldNumber));
        Assert.Equal(RequestKind.Query, MessageDispatcher.KindOf(V0.Request.NicListFieldNumber));
        Assert.Equal(RequestKind.Query, MessageDispatcher.KindOf(V0.Request.PacketThreadStatsFieldNumber));
    }
}
