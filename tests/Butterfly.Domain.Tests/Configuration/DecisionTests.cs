using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Domain.Tests.Configuration;

public class DecisionTests
{
    private static readonly RuleSpec Ssh = new(Direction.Inbound, 6, 22, 22, new CidrSpec("0.0.0.0", 0), null);

    private static NicSpec Nic(string id, params string[] ips) => new(id, "52:54:00:00:00:01", 1, ips, []);

    private static ConfigurationState Run(ConfigurationState state, IReadOnlyList<DomainEvent> events) => state.ApplyAll(events);

    [Fact]
    public void NicAddReplacesAnExistingNic()
    {
        var state = Run(ConfigurationState.Empty, ConfigurationState.Empty.DecideAddNic(Nic("vm1", "10.0.0.1")).Value!);
        var events = ConfigurationState.Empty.DecideAddNic(Nic("vm1", "10.0.0.2")).Value!;
        Assert.IsType<NicAdded>(Assert.Single(events));
        state = Run(state, events);
        Assert.Equal(["10.0.0.2"], state.Nics["vm1"].Ips);
    }

    [Fact]
    public void NicAddDoesNotCreateTheGroupsItNames()
    {
        var events = ConfigurationState.Empty.DecideAddNic(new NicSpec("vm1", "52:54:00:00:00:01", 1, [], ["sg-later"])).Value!;
        var state = Run(ConfigurationState.Empty, events);
        Assert.Empty(state.Groups);
        Assert.Equal(["sg-later"], state.Nics["vm1"].SecurityGroups);
    }

    [Fact]
    public void NicAddRejectsInvalidInput() =>
        Assert.False(ConfigurationState.Empty.DecideAddNic(Nic("vm1", "nope")).IsValid);

    [Fact]
    public void NicUpdateNullMeansUnchangedAndSingleEmptyClears()
    {
        var state = Run(ConfigurationState.Empty, ConfigurationState.Empty.DecideAddNic(new NicSpec("vm1", "52:54:00:00:00:01", 1, ["10.0.0.1"], ["a"])).Value!);

        Assert.Empty(state.DecideUpdateNic(new NicUpdate("vm1")).Value!);
        Assert.Empty(state.DecideUpdateNic(new NicUpdate("vm1", Ips: ["10.0.0.1"], SecurityGroups: ["a"], IpAntiSpoof: false)).Value!);

        var clear = state.DecideUpdateNic(new NicUpdate("vm1", Ips: [""], SecurityGroups: [""])).Value!;
        Assert.Equal([new NicIpsReplaced("vm1", []), new NicSecurityGroupsReplaced("vm1", [])], clear, EventComparer.Instance);
        var cleared = Run(state, clear).Nics["vm1"];
        Assert.Empty(cleared.Ips);
        Assert.Empty(cleared.SecurityGroups);

        var replace = state.DecideUpdateNic(new NicUpdate("vm1", Ips: ["2001:0db8::1", "10.0.0.1", "2001:db8::1"])).Value!;
        Assert.Equal(["2001:db8::1", "10.0.0.1"], Run(state, replace).Nics["vm1"].Ips);
    }

    [Fact]
    public void NicUpdateChangesFlagsAndTrace()
    {
        var state = Run(ConfigurationState.Empty, ConfigurationState.Empty.DecideAddNic(Nic("vm1")).Value!);
        var events = state.DecideUpdateNic(new NicUpdate("vm1", IpAntiSpoof: true, PacketTrace: true, PacketTracePath: "/tmp/t.pcap")).Value!;
        Assert.Equal(2, events.Count);
        var nic = Run(state, events).Nics["vm1"];
        Assert.True(nic.IpAntiSpoof);
        Assert.True(nic.PacketTrace);
        Assert.Equal("/tmp/t.pcap", nic.PacketTracePath);

        var pathOnly = Run(state, events).DecideUpdateNic(new NicUpdate("vm1", PacketTracePath: "")).Value!;
        Assert.Equal(new NicPacketTraceChanged("vm1", true, null), Assert.Single(pathOnly));
    }

    [Fact]
    public void NicUpdateErrors()
    {
        Assert.Equal("nic_update: no NIC has id 'ghost'", ConfigurationState.Empty.DecideUpdateNic(new NicUpdate("ghost")).Error);
        var state = Run(ConfigurationState.Empty, ConfigurationState.Empty.DecideAddNic(Nic("vm1")).Value!);
        Assert.StartsWith("NIC 'vm1': ip[1] 'x'", state.DecideUpdateNic(new NicUpdate("vm1", Ips: ["10.0.0.1", "x"])).Error, StringComparison.Ordinal);
        Assert.StartsWith("NIC 'vm1': security_group[0]", state.DecideUpdateNic(new NicUpdate("vm1", SecurityGroups: ["a\u0001"])).Error, StringComparison.Ordinal);
    }

    [Fact]
    public void DeletesOfUnknownIdsEmitNothing()
    {
        Assert.Empty(ConfigurationState.Empty.DecideRemoveNic("ghost"));
        Assert.Empty(ConfigurationState.Empty.DecideDeleteGroup("ghost"));
        Assert.Empty(ConfigurationState.Empty.DecideRemoveRule("ghost", Ssh).Value!);
        Assert.Empty(ConfigurationState.Empty.DecideRemoveMember("ghost", "10.0.0.1").Value!);
        var state = Run(ConfigurationState.Empty, ConfigurationState.Empty.DecideAddNic(Nic("vm1")).Value!);
        Assert.Equal([new NicRemoved("vm1")], state.DecideRemoveNic("vm1"));
        Assert.Empty(Run(state, state.DecideRemoveNic("vm1")).Nics);
    }

    [Fact]
    public void RuleAddCreatesTheGroupAndIgnoresDuplicates()
    {
        var events = ConfigurationState.Empty.DecideAddRule("sg-1", Ssh).Value!;
        Assert.Equal([new SecurityGroupCreated("sg-1"), new RuleAdded("sg-1", Ssh)], events);
        var state = Run(ConfigurationState.Empty, events);
        Assert.Equal([Ssh], state.Groups["sg-1"].Rules);

        // The same address in another spelling is the same rule; host bits make another rule,
        // kept as given (the original daemon's identity: clients hash the rule's text).
        var hostBits = Ssh with { Cidr = new CidrSpec("1.2.3.4", 0) };
        Assert.Equal([new RuleAdded("sg-1", hostBits)], state.DecideAddRule("sg-1", hostBits).Value!);
        Assert.Empty(state.DecideRemoveRule("sg-1", hostBits).Value!);
        var both = Run(state, state.DecideAddRule("sg-1", hostBits).Value!);
        Assert.Equal([Ssh, hostBits], both.Groups["sg-1"].Rules);
        Assert.Equal([Ssh], Run(both, both.DecideRemoveRule("sg-1", hostBits).Value!).Groups["sg-1"].Rules);

        var v6 = Ssh with { Cidr = new CidrSpec("2001:db8::1", 64) };
        var withV6 = Run(state, state.DecideAddRule("sg-1", v6).Value!);
        Assert.Empty(withV6.DecideAddRule("sg-1", Ssh with { Cidr = new CidrSpec("2001:0db8:0::0001", 64) }).Value!);
    }

    [Fact]
    public void RuleCommandsValidate()
    {
        Assert.StartsWith("security group 'sg-1': rule: port_start", ConfigurationState.Empty.DecideAddRule("sg-1", Ssh with { PortStart = 30 }).Error, StringComparison.Ordinal);
        Assert.StartsWith("security group 'sg-1': rule: port_start", ConfigurationState.Empty.DecideRemoveRule("sg-1", Ssh with { PortStart = 30 }).Error, StringComparison.Ordinal);
        Assert.Equal("sg_id is empty: a security group needs an id", ConfigurationState.Empty.DecideAddRule("", Ssh).Error);
        Assert.Equal("sg_id is empty: a security group needs an id", ConfigurationState.Empty.DecideAddMember("", "10.0.0.1").Error);
    }

    [Fact]
    public void MemberAddCreatesGroupMemberDelDoesNot()
    {
        Assert.Empty(ConfigurationState.Empty.DecideRemoveMember("sg-1", "10.0.0.1").Value!);
        var events = ConfigurationState.Empty.DecideAddMember("sg-1", "2001:0db8::1").Value!;
        Assert.Equal([new SecurityGroupCreated("sg-1"), new MemberAdded("sg-1", "2001:db8::1")], events);
        var state = Run(ConfigurationState.Empty, events);
        Assert.Empty(state.DecideAddMember("sg-1", "2001:db8:0::1").Value!);
        Assert.Equal([new MemberRemoved("sg-1", "2001:db8::1")], state.DecideRemoveMember("sg-1", "2001:DB8::1").Value!);
        Assert.StartsWith("security group 'sg-1': member 'x'", state.DecideAddMember("sg-1", "x").Error, StringComparison.Ordinal);
        Assert.StartsWith("security group 'sg-1': member 'x'", state.DecideRemoveMember("sg-1", "x").Error, StringComparison.Ordinal);
    }

    [Fact]
    public void SgAddCreatesOrReplacesAndIdenticalIsANoOp()
    {
        var group = new SecurityGroupSpec("sg-1", ["10.0.0.1"], [Ssh]);
        var events = ConfigurationState.Empty.DecideDefineGroup(group).Value!;
        var state = Run(ConfigurationState.Empty, events);
        Assert.Empty(state.DecideDefineGroup(group with { Members = ["10.0.0.1", "10.0.0.1"] }).Value!);
        var replaced = Run(state, state.DecideDefineGroup(new SecurityGroupSpec("sg-1", ["10.0.0.2"], [])).Value!);
        Assert.Equal(["10.0.0.2"], replaced.Groups["sg-1"].Members);
        Assert.Empty(replaced.Groups["sg-1"].Rules);
        Assert.False(state.DecideDefineGroup(group with { Members = ["nope"] }).IsValid);
        Assert.Equal([new SecurityGroupDeleted("sg-1")], state.DecideDeleteGroup("sg-1"));
    }

    [Fact]
    public void ListingsAreSortedOrdinallyAndListsKeepInsertionOrder()
    {
        var state = ConfigurationState.Empty;
        foreach (var id in new[] { "b", "a", "B", "a-2", "_x" })
        {
            state = Run(state, ConfigurationState.Empty.DecideAddNic(Nic(id)).Value!);
            state = Run(state, state.DecideAddMember(id, "10.0.0.9").Value!);
        }

        foreach (var member in new[] { "10.0.0.3", "10.0.0.1", "10.0.0.2" })
            state = Run(state, state.DecideAddMember("a", member).Value!);

        Assert.Equal(["B", "_x", "a", "a-2", "b"], state.Nics.Keys);
        Assert.Equal(["B", "_x", "a", "a-2", "b"], state.Groups.Keys);
        Assert.Equal(["10.0.0.9", "10.0.0.3", "10.0.0.1", "10.0.0.2"], state.Groups["a"].Members);
    }

    [Fact]
    public void ApplyToleratesEventsForMissingAggregates()
    {
        var state = ConfigurationState.Empty
            .Apply(new NicIpsReplaced("ghost", ["10.0.0.1"]))
            .Apply(new NicRemoved("ghost"))
            .Apply(new RuleRemoved("ghost", Ssh))
            .Apply(new MemberRemoved("ghost", "10.0.0.1"))
            .Apply(new SecurityGroupDeleted("ghost"));
        Assert.True(state.ContentEquals(ConfigurationState.Empty));

        var created = ConfigurationState.Empty.Apply(new RuleAdded("sg", Ssh)).Apply(new MemberAdded("sg2", "10.0.0.1"));
        Assert.Equal(["sg", "sg2"], created.Groups.Keys);
    }

    [Fact]
    public void StateCannotBeChangedThroughTheListsItWasGiven()
    {
        var ips = new List<string> { "10.0.0.1" };
        var state = ConfigurationState.Empty.Apply(new NicAdded(new NicSpec("vm1", "52:54:00:00:00:01", 1, ips, [])));
        ips.Add("10.0.0.2");
        Assert.Equal(["10.0.0.1"], state.Nics["vm1"].Ips);
    }

    [Fact]
    public void EventsKnowTheirAggregate()
    {
        Assert.Equal(("nic", "vm1"), (new NicAdded(Nic("vm1")).AggregateKind, new NicAdded(Nic("vm1")).AggregateId));
        Assert.Equal(("sg", "sg-1"), (new RuleAdded("sg-1", Ssh).AggregateKind, new RuleAdded("sg-1", Ssh).AggregateId));
        Assert.Equal(14, EventTypes.Names.Count());
        Assert.Equal("MemberRemoved", EventTypes.NameOf(new MemberRemoved("a", "b")));
        Assert.Equal(typeof(NicAdded), EventTypes.TypeOf("NicAdded"));
        Assert.Null(EventTypes.TypeOf("Nope"));
    }
}

/// <summary>Compares events by content: list members of records compare by reference otherwise.</summary>
internal sealed class EventComparer : IEqualityComparer<DomainEvent>
{
    public static readonly EventComparer Instance = new();

    public bool Equals(DomainEvent? x, DomainEvent? y) => (x, y) switch
    {
        (NicIpsReplaced a, NicIpsReplaced b) => a.NicId == b.NicId && a.Ips.SequenceEqual(b.Ips),
        (NicSecurityGroupsReplaced a, NicSecurityGroupsReplaced b) => a.NicId == b.NicId && a.SecurityGroups.SequenceEqual(b.SecurityGroups),
        _ => Equals(x, y),
    };

    public int GetHashCode(DomainEvent obj) => obj.AggregateId.GetHashCode(StringComparison.Ordinal);
}
