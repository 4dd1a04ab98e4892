using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Domain.Tests.Configuration;

public class DiffTests
{
    [Fact]
    public void DiffOfEqualStatesIsEmpty()
    {
        var state = RandomCommands.Run(new Random(1), ConfigurationState.Empty, 50);
        Assert.Empty(state.Diff(state));
        Assert.Empty(ConfigurationState.Empty.Diff(ConfigurationState.Empty));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void DiffAppliedToSourceGivesTarget(int seed)
    {
        var random = new Random(seed);
        for (var round = 0; round < 40; round++)
        {
            var a = RandomCommands.Run(random, ConfigurationState.Empty, random.Next(0, 40));
            var b = RandomCommands.Run(random, random.Next(2) == 0 ? a : ConfigurationState.Empty, random.Next(0, 40));
            Assert.True(a.ApplyAll(a.Diff(b)).ContentEquals(b), $"seed {seed} round {round}: a→b");
            Assert.True(b.ApplyAll(b.Diff(a)).ContentEquals(a), $"seed {seed} round {round}: b→a");
            Assert.True(a.ApplyAll(a.Diff(ConfigurationState.Empty)).ContentEquals(ConfigurationState.Empty));
        }
    }

    [Fact]
    public void DiffIsFineGrainedWhenOrderAllows()
    {
        var rule = new RuleSpec(Direction.Inbound, -1, null, null, new CidrSpec("10.0.0.0", 8), null);
        var nic = new NicSpec("vm1", "52:54:00:00:00:01", 1, ["10.0.0.1"], []);
        var a = ConfigurationState.From([nic], [new SecurityGroupSpec("sg", ["10.0.0.1", "10.0.0.2"], [])]);
        var b = ConfigurationState.From(
            [nic with { Ips = ["10.0.0.1", "10.0.0.5"], IpAntiSpoof = true }],
            [new SecurityGroupSpec("sg", ["10.0.0.2", "10.0.0.3"], [rule])]);

        var diff = a.Diff(b);
        Assert.Equal(
            ["MemberRemoved", "MemberAdded", "RuleAdded", "NicIpsReplaced", "NicAntiSpoofChanged"],
            diff.Select(EventTypes.NameOf));

        // A reordering cannot be expressed by additions and removals: the group is redefined.
        var reordered = ConfigurationState.From([nic], [new SecurityGroupSpec("sg", ["10.0.0.2", "10.0.0.1"], [])]);
        Assert.IsType<SecurityGroupDefined>(Assert.Single(a.Diff(reordered)));

        // A MAC change needs the port re-created.
        var newMac = ConfigurationState.From([nic with { Mac = "52:54:00:00:00:02" }], a.Groups.Values);
        Assert.IsType<NicAdded>(Assert.Single(a.Diff(newMac)));
    }
}

/// <summary>Random but valid API commands, decided and applied like the handlers do.</summary>
internal static class RandomCommands
{
    private static readonly string[] Ids = ["a", "b", "c", "d"];
    private static readonly string[] Ips = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "2001:db8::1", "2001:db8::2"];

    public static ConfigurationState Run(Random random, ConfigurationState state, int count)
    {
        for (var i = 0; i < count; i++)
            state = state.ApplyAll(Decide(random, state));
        return state;
    }

    private static IReadOnlyList<DomainEvent> Decide(Random random, ConfigurationState state)
    {
        var id = Ids[random.Next(Ids.Length)];
        return random.Next(11) switch
        {
            0 => ConfigurationState.Empty.DecideAddNic(new NicSpec(id, $"52:54:00:00:00:0{random.Next(1, 4)}", (uint)random.Next(3), Pick(random, Ips), Pick(random, Ids),
                IpAntiSpoof: random.Next(2) == 0, Type: (NicType)random.Next(2))).Value!,
            1 => state.DecideUpdateNic(new NicUpdate(id, Ips: random.Next(2) == 0 ? Pick(random, Ips) : null, SecurityGroups: random.Next(2) == 0 ? Pick(random, Ids) : null)).Value ?? [],
            2 => state.DecideUpdateNic(new NicUpdate(id, IpAntiSpoof: random.Next(2) == 0, PacketTrace: random.Next(2) == 0, PacketTracePath: random.Next(2) == 0 ? "/t" : null)).Value ?? [],
            3 => state.DecideRemoveNic(id),
            4 => state.DecideDefineGroup(new SecurityGroupSpec(id, Pick(random, Ips), [.. Enumerable.Range(0, random.Next(3)).Select(_ => Rule(random))])).Value!,
            5 => state.DecideDeleteGroup(id),
            6 or 7 => state.DecideAddRule(id, Rule(random)).Value!,
            8 => state.DecideRemoveRule(id, Rule(random)).Value!,
            9 => state.DecideAddMember(id, Ips[random.Next(Ips.Length)]).Value!,
            _ => state.DecideRemoveMember(id, Ips[random.Next(Ips.Length)]).Value!,
        };
    }

    private static RuleSpec Rule(Random random)
    {
        var port = (uint)random.Next(3);
        return random.Next(2) == 0
            ? new RuleSpec((Direction)random.Next(2), 6, port, port + 1, new CidrSpec("10.0.0.0", (uint)random.Next(8, 10)), null)
            : new RuleSpec((Direction)random.Next(2), -1, null, null, null, Ids[random.Next(Ids.Length)]);
    }

    private static string[] Pick(Random random, string[] from) =>
        [.. from.Where(_ => random.Next(2) == 0).OrderBy(_ => random.Next())];
}
