using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.SecurityGroups;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall.FirewallWorld;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

/// <summary>The control side: the configuration compiled into the packet thread's policy, incrementally.</summary>
public sealed class PolicyCompilerTests
{
    private static readonly Dictionary<string, FirewallPort> Ports = new(StringComparer.Ordinal)
    {
        ["a"] = new FirewallPort(1, 0x1_0001),
        ["b"] = new FirewallPort(2, 0x1_0002),
    };

    private static ConfigurationState State(params DomainEvent[] events) => ConfigurationState.Empty
        .Apply(new NicAdded(NicSpecOf("a", Packets.MacA, "10.0.0.1") with { SecurityGroups = ["db"] }))
        .Apply(new NicAdded(NicSpecOf("b", Packets.MacB, "10.0.0.2") with { SecurityGroups = ["db", "ssh"] }))
        .ApplyAll(events);

    [Fact]
    public void A_member_change_applies_in_place_to_the_shared_set_without_new_filters()
    {
        var compiler = new PolicyCompiler();
        var members = Enumerable.Range(0, 10_000).Select(i => $"10.1.{i / 256}.{i % 256}").ToArray();
        var s1 = State(new SecurityGroupDefined("app", members, []), new SecurityGroupDefined("db", [], [InFromGroup(6, "app", 5432, 5432)]));
        var p1 = compiler.Compile(s1, Ports, 8, 10);
        var app = compiler.GroupIndexOf("app");
        var db = compiler.GroupIndexOf("db");
        var set = p1.Members[app];
        Assert.True(set.Contains(IpAddr.Parse("10.1.39.15")));
        Assert.False(set.Contains(IpAddr.Parse("10.9.9.9")));

        var added = new MemberAdded("app", "10.9.9.9");
        var p2 = compiler.Compile(s1.Apply(added), Ports, 8, 11, [added], previousVersion: 10);

        Assert.Same(set, p2.Members[app]);
        Assert.True(set.Contains(IpAddr.Parse("10.9.9.9")));
        Assert.Same(p1.FilterOf(1), p2.FilterOf(1));
        Assert.Same(p1.Groups[db], p2.Groups[db]);
        Assert.Equal(11, p2.Version);
        Assert.Equal(10_001, set.Count);
    }

    [Fact]
    public void Without_the_committed_events_a_changed_member_list_is_rebuilt()
    {
        var compiler = new PolicyCompiler();
        var s1 = State(new SecurityGroupDefined("app", ["10.0.0.5"], []));
        var p1 = compiler.Compile(s1, Ports, 8, 1);
        var s2 = s1.Apply(new MemberAdded("app", "10.0.0.6"));
        var p2 = compiler.Compile(s2, Ports, 8, 5, committed: null);
        var app = compiler.GroupIndexOf("app");
        var set = p2.Members[app];
        Assert.NotSame(p1.Members[app], set);
        Assert.True(set.Contains(IpAddr.Parse("10.0.0.5")));
        Assert.True(set.Contains(IpAddr.Parse("10.0.0.6")));
    }

    [Fact]
    public void A_nic_names_groups_by_stable_index_whether_or_not_they_exist()
    {
        var compiler = new PolicyCompiler();
        var s1 = State();
        var p1 = compiler.Compile(s1, Ports, 8, 1);
        var b = p1.FilterOf(2)!;
        Assert.Equal(2, b.Groups.Length);
        Assert.All(b.Groups, g => Assert.Null(p1.Groups[g]));

        var p2 = compiler.Compile(s1.Apply(new SecurityGroupDefined("ssh", [], [In(6, "0.0.0.0/0", 22, 22)])), Ports, 8, 2);
        Assert.Same(b, p2.FilterOf(2));
        Assert.Single(p2.Groups[b.Groups[1]]!.Inbound);
        Assert.Empty(p2.Groups[b.Groups[1]]!.Outbound);
        Assert.Null(p2.Groups[b.Groups[0]]);
    }

    [Fact]
    public void Filters_follow_nic_changes_and_ports()
    {
        var compiler = new PolicyCompiler();
        var s1 = State();
        var p1 = compiler.Compile(s1, Ports, 8, 1);
        var a = p1.FilterOf(1)!;
        Assert.Equal(0x1_0001u, a.Zone);
        Assert.Equal([IpAddr.Parse("10.0.0.1")], a.Ips);
        Assert.False(a.IpAntiSpoof);

        var s2 = s1.Apply(new NicAntiSpoofChanged("a", true)).Apply(new NicIpsReplaced("a", ["10.0.0.1", "fd00::1"]));
        var p2 = compiler.Compile(s2, Ports, 8, 3);
        Assert.True(p2.FilterOf(1)!.IpAntiSpoof);
        Assert.Equal(2, p2.FilterOf(1)!.Ips.Length);

        var moved = new Dictionary<string, FirewallPort>(Ports) { ["a"] = new FirewallPort(5, 0x2_0005) };
        var p3 = compiler.Compile(s2, moved, 8, 3);
        Assert.Null(p3.FilterOf(1));
        Assert.Equal(0x2_0005u, p3.FilterOf(5)!.Zone);
        Assert.True(p3.IsLiveZone(0x2_0005));
        Assert.False(p3.IsLiveZone(0x1_0001));
    }

    [Fact]
    public void A_nic_without_a_port_has_no_filter()
    {
        var compiler = new PolicyCompiler();
        var policy = compiler.Compile(State(), new Dictionary<string, FirewallPort> { ["a"] = Ports["a"] }, 8, 1);
        Assert.NotNull(compiler.FilterOf("a"));
        Assert.Null(compiler.FilterOf("b"));
        Assert.Null(policy.FilterOf(2));
    }

    [Fact]
    public void Ten_thousand_rules_and_a_hundred_thousand_members_compile()
    {
        var rules = Enumerable.Range(0, 10_000).Select(i => In(6, $"10.{i / 256}.{i % 256}.0/24", (uint)(i % 60000), (uint)(i % 60000))).ToArray();
        var members = Enumerable.Range(0, 100_000).Select(i => $"172.{16 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}").ToArray();
        var state = State(new SecurityGroupDefined("ssh", [], rules), new SecurityGroupDefined("app", members, []));
        var compiler = new PolicyCompiler();
        var policy = compiler.Compile(state, Ports, 8, 1);
        Assert.Equal(10_000, policy.Groups[compiler.GroupIndexOf("ssh")]!.Inbound.Length);
        Assert.Equal(100_000, policy.Members[compiler.GroupIndexOf("app")].Count);
    }
}
