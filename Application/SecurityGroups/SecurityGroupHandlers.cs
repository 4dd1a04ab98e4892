using Butterfly.Application.Commands;
using Butterfly.Application.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.SecurityGroups;
using Butterfly.Domain.Validation;
using Mediator;

namespace Butterfly.Application.SecurityGroups;

// sg_add, sg_del, sg_list, sg_details, sg_rule_add/del/list, sg_member_add/del/list.
// Commands stage events on the ConfigurationStore; the host commits before replying.

public sealed class AddSecurityGroupHandler(ConfigurationStore store) : ICommandHandler<AddSecurityGroup, Outcome<Done>>
{
    public ValueTask<Outcome<Done>> Handle(AddSecurityGroup command, CancellationToken cancellationToken) =>
        GroupCommands.Stage(store, store.State.DecideDefineGroup(command.Group), command.Origin);
}

public sealed class DeleteSecurityGroupHandler(ConfigurationStore store) : ICommandHandler<DeleteSecurityGroup, Outcome<Done>>
{
    public ValueTask<Outcome<Done>> Handle(DeleteSecurityGroup command, CancellationToken cancellationToken) =>
        GroupCommands.Stage(store, Validated.Ok(store.State.DecideDeleteGroup(command.Id)), command.Origin);
}

public sealed class AddRuleHandler(ConfigurationStore store) : ICommandHandler<AddRule, Outcome<Done>>
{
    public ValueTask<Outcome<Done>> Handle(AddRule command, CancellationToken cancellationToken) =>
        GroupCommands.Stage(store, store.State.DecideAddRule(command.GroupId, command.Rule), command.Origin);
}

public sealed class DeleteRuleHandler(ConfigurationStore store) : ICommandHandler<DeleteRule, Outcome<Done>>
{
    public ValueTask<Outcome<Done>> Handle(DeleteRule command, CancellationToken cancellationToken) =>
        GroupCommands.Stage(store, store.State.DecideRemoveRule(command.GroupId, command.Rule), command.Origin);
}

public sealed class AddMemberHandler(ConfigurationStore store) : ICommandHandler<AddMember, Outcome<Done>>
{
    public ValueTask<Outcome<Done>> Handle(AddMember command, CancellationToken cancellationToken) =>
        GroupCommands.Stage(store, store.State.DecideAddMember(command.GroupId, command.Member), command.Origin);
}

public sealed class DeleteMemberHandler(ConfigurationStore store) : ICommandHandler<DeleteMember, Outcome<Done>>
{
    public ValueTask<Outcome<Done>> Handle(DeleteMember command, CancellationToken cancellationToken) =>
        GroupCommands.Stage(store, store.State.DecideRemoveMember(command.GroupId, command.Member), command.Origin);
}

public sealed class ListSecurityGroupsHandler(ConfigurationStore store) : IQueryHandler<ListSecurityGroups, Outcome<IReadOnlyList<string>>>
{
    public ValueTask<Outcome<IReadOnlyList<string>>> Handle(ListSecurityGroups query, CancellationToken cancellationToken) =>
        new(Outcome<IReadOnlyList<string>>.Success([.. store.State.Groups.Keys]));
}

public sealed class GetSecurityGroupDetailsHandler(ConfigurationStore store) : IQueryHandler<GetSecurityGroupDetails, Outcome<IReadOnlyList<SecurityGroupSpec>>>
{
    public ValueTask<Outcome<IReadOnlyList<SecurityGroupSpec>>> Handle(GetSecurityGroupDetails query, CancellationToken cancellationToken)
    {
        var groups = store.State.Groups;
        if (string.IsNullOrEmpty(query.Id))
            return new(Outcome<IReadOnlyList<SecurityGroupSpec>>.Success([.. groups.Values]));
        return groups.TryGetValue(query.Id, out var group)
            ? new(Outcome<IReadOnlyList<SecurityGroupSpec>>.Success([group]))
            : new(Outcome<IReadOnlyList<SecurityGroupSpec>>.Failure(GroupCommands.NotFound("sg_details", query.Id)));
    }
}

public sealed class ListRulesHandler(ConfigurationStore store) : IQueryHandler<ListRules, Outcome<IReadOnlyList<RuleSpec>>>
{
    public ValueTask<Outcome<IReadOnlyList<RuleSpec>>> Handle(ListRules query, CancellationToken cancellationToken) =>
        store.State.Groups.TryGetValue(query.GroupId ?? string.Empty, out var group)
            ? new(Outcome<IReadOnlyList<RuleSpec>>.Success(group.Rules))
            : new(Outcome<IReadOnlyList<RuleSpec>>.Failure(GroupCommands.NotFound("sg_rule_list", query.GroupId)));
}

public sealed class ListMembersHandler(ConfigurationStore store) : IQueryHandler<ListMembers, Outcome<IReadOnlyList<string>>>
{
    public ValueTask<Outcome<IReadOnlyList<string>>> Handle(ListMembers query, CancellationToken cancellationToken) =>
        store.State.Groups.TryGetValue(query.GroupId ?? string.Empty, out var group)
            ? new(Outcome<IReadOnlyList<string>>.Success(group.Members))
            : new(Outcome<IReadOnlyList<string>>.Failure(GroupCommands.NotFound("sg_member_list", query.GroupId)));
}

internal static class GroupCommands
{
    public static ValueTask<Outcome<Done>> Stage(ConfigurationStore store, Validated<IReadOnlyList<DomainEvent>> decision, RequestOrigin origin)
    {
        if (!decision.IsValid)
            return new(Outcome<Done>.Failure(decision.Error!));
        store.Stage(decision.Value!, origin);
        return new(Outcome<Done>.Success(default));
    }

    public static string NotFound(string request, string? id) => $"{request}: Security Group not found: no security group has id '{id}'";
}
