using Butterfly.Domain.Configuration;

namespace Butterfly.Domain.Tests.Configuration;

public sealed class OrderedSetTests
{
    [Fact]
    public void From_keeps_the_first_occurrence_in_insertion_order()
    {
        var set = OrderedSet.From(["b", "a", "b", "c", "a"]);

        Assert.Equal(["b", "a", "c"], set);
        Assert.Equal(3, set.Count);
        Assert.Equal("c", set[2]);
    }

    [Fact]
    public void Add_appends_a_new_item_and_returns_the_same_set_for_a_known_one()
    {
        var set = OrderedSet.From(["x"]);

        var added = set.Add("y");
        Assert.Equal(["x", "y"], added);
        Assert.Equal(["x"], set); // immutable
        Assert.Same(added, added.Add("x"));
    }

    [Fact]
    public void Remove_drops_the_item_keeping_the_others_order()
    {
        var set = OrderedSet.From(["1", "2", "3"]);

        Assert.Equal(["1", "3"], set.Remove("2"));
        Assert.Same(set, set.Remove("4"));
        Assert.False(set.Remove("2").Contains("2"));
        Assert.True(set.Contains("2"));
    }

    [Fact]
    public void A_group_of_many_members_keeps_every_member_in_order()
    {
        var state = ConfigurationState.Empty;
        var members = Enumerable.Range(0, 20_000).Select(n => $"10.{n >> 16}.{(n >> 8) & 0xff}.{n & 0xff}").ToList();
        foreach (var member in members)
        {
            state = state.Apply(new Butterfly.Domain.Events.MemberAdded("big", member));
        }

        Assert.Equal(members, state.Groups["big"].Members);
        Assert.True(state.DecideAddMember("big", members[12_345]).Value!.Count == 0, "a known member is a no-op");
    }
}
