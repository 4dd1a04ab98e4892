using Butterfly.Application.Commands;
using Butterfly.Application.Tests.Support;
using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Application.Tests;

public class SecurityGroupHandlerTests
{
    private static readonly RuleSpec Http = new(Direction.Inbound, 6, 80, 80, new CidrSpec("10.1.2.3", 8), null);
    private static readonly RuleSpec FromGroup = new(Direction.Outbound, -1, null, null, null, "sg-other");

    [Fact]
    public async Task SgAddCreatesOrReplacesAndIdenticalAddsNothing()
    {
        await using var app = await AppHarness.StartAsync();
        var group = new SecurityGroupSpec("sg-1", ["10.0.0.2", "10.0.0.1", "10.0.0.2"], [Http, Http]);
        Assert.True((await app.SendAsync(new AddSecurityGroup(group, AppHarness.Origin))).IsSuccess);
        await app.SendAsync(new AddSecurityGroup(group, AppHarness.Origin));
        Assert.Single(app.Events.Events);

        var details = Assert.Single((await app.QueryAsync(new GetSecurityGroupDetails("sg-1"))).Value!);
        Assert.Equal(["10.0.0.2", "10.0.0.1"], details.Members);
        Assert.Equal([Http], details.Rules); // host bits kept, as given

        await app.SendAsync(new AddSecurityGroup(new SecurityGroupSpec("sg-1", [], [FromGroup]), AppHarness.Origin));
        Assert.Equal([FromGroup], (await app.QueryAsync(new ListRules("sg-1"))).Value!);
        Assert.Empty((await app.QueryAsync(new ListMembers("sg-1"))).Value!);

        var bad = await app.SendAsync(new AddSecurityGroup(new SecurityGroupSpec("sg-1", ["x"], []), AppHarness.Origin));
        Assert.StartsWith("security group 'sg-1': member[0] 'x'", bad.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RuleAddCreatesTheGroupAndDuplicatesAreNoOps()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new AddRule("sg-1", Http, AppHarness.Origin));
        await app.SendAsync(new AddRule("sg-1", Http, AppHarness.Origin));
        Assert.Equal(["SecurityGroupCreated", "RuleAdded"], app.Events.Events.Select(e => e.Type));
        Assert.Equal(["sg-1"], (await app.QueryAsync(new ListSecurityGroups())).Value!);

        await app.SendAsync(new DeleteRule("sg-1", FromGroup, AppHarness.Origin));
        await app.SendAsync(new DeleteRule("ghost", Http, AppHarness.Origin));
        Assert.Equal(2, app.Events.Events.Count);
        Assert.DoesNotContain("ghost", (await app.QueryAsync(new ListSecurityGroups())).Value!);

        await app.SendAsync(new DeleteRule("sg-1", Http, AppHarness.Origin));
        Assert.Empty((await app.QueryAsync(new ListRules("sg-1"))).Value!);

        var bad = await app.SendAsync(new AddRule("sg-1", Http with { PortEnd = null }, AppHarness.Origin));
        Assert.Equal("security group 'sg-1': rule: a TCP rule needs both port_start and port_end", bad.Error);
    }

    [Fact]
    public async Task MemberAddCreatesTheGroupMemberDelDoesNot()
    {
        await using var app = await AppHarness.StartAsync();
        await app.SendAsync(new DeleteMember("sg-1", "10.0.0.1", AppHarness.Origin));
        Assert.Empty((await app.QueryAsync(new ListSecurityGroups())).Value!);

        await app.SendAsync(new AddMember("sg-1", "2001:0db8::0001", AppHarness.Origin));
        await app.SendAsync(new AddMember("sg-1", "10.0.0.1", AppHarness.Origin));
        await app.SendAsync(new AddMember("sg-1", "2001:db8::1", AppHarness.Origin));
        Assert.Equal(["2001:db8::1", "10.0.0.1"], (await app.QueryAsync(new ListMembers("sg-1"))).Value!);

        await app.SendAsync(new DeleteMember("sg-1", "2001:DB8::1", AppHarness.Origin));
        Assert.Equal(["10.0.0.1"], (await app.QueryAsync(new ListMembers("sg-1"))).Value!);
        Assert.Equal(["SecurityGroupCreated", "MemberAdded", "MemberAdded", "MemberRemoved"], app.Events.Events.Select(e => e.Type));
        Assert.All(app.Events.Events, e => Assert.Equal(("sg", "sg-1"), (e.AggregateKind, e.AggregateId)));
    }

    [Fact]
    public async Task SgDelOfUnknownIdSucceedsAndListsAreSorted()
    {
        await using var app = await AppHarness.StartAsync();
        Assert.True((await app.SendAsync(new DeleteSecurityGroup("ghost", AppHarness.Origin))).IsSuccess);
        Assert.Empty(app.Events.Events);
        foreach (var id in new[] { "sg-b", "sg-a", "SG" })
            await app.SendAsync(new AddSecurityGroup(new SecurityGroupSpec(id, [], []), AppHarness.Origin));
        Assert.Equal(["SG", "sg-a", "sg-b"], (await app.QueryAsync(new ListSecurityGroups())).Value!);
        Assert.Equal(["SG", "sg-a", "sg-b"], (await app.QueryAsync(new GetSecurityGroupDetails(""))).Value!.Select(g => g.Id));

        await app.SendAsync(new DeleteSecurityGroup("sg-a", AppHarness.Origin));
        Assert.Equal(["SG", "sg-b"], (await app.QueryAsync(new ListSecurityGroups())).Value!);
    }

    [Fact]
    public async Task UnknownGroupQueriesAreErrors()
    {
        await using var app = await AppHarness.StartAsync();
        Assert.Equal("sg_details: Security Group not found: no security group has id 'x'", (await app.QueryAsync(new GetSecurityGroupDetails("x"))).Error);
        Assert.Equal("sg_rule_list: Security Group not found: no security group has id 'x'", (await app.QueryAsync(new ListRules("x"))).Error);
        Assert.Equal("sg_member_list: Security Group not found: no security group has id 'x'", (await app.QueryAsync(new ListMembers("x"))).Error);
    }
}
