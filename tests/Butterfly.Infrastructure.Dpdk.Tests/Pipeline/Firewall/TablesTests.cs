using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

/// <summary>The firewall's tables: the connection table's index, and member sets read while they change.</summary>
public sealed class TablesTests
{
    [Fact]
    public void The_connection_table_finds_adds_and_removes_under_churn_like_a_dictionary()
    {
        using var table = new ConnectionTable(5000);
        var reference = new Dictionary<int, int>();
        var random = new Random(42);
        for (var step = 0; step < 200_000; step++)
        {
            var id = random.Next(8000);
            var key = Key(id);
            var hash = FlowKey.HashOf(key);
            var entry = table.Find(key, hash);
            Assert.Equal(reference.ContainsKey(id), entry >= 0);
            if (entry >= 0)
            {
                Assert.Equal(reference[id], entry);
                table.Remove(entry);
                reference.Remove(id);
            }
            else
            {
                var added = table.Add(key, hash);
                if (reference.Count == table.Capacity)
                {
                    Assert.Equal(-1, added);
                    continue;
                }
                Assert.True(added >= 0);
                reference[id] = added;
            }
            Assert.Equal(reference.Count, table.Count);
        }
        foreach (var (id, entry) in reference)
        {
            Assert.Equal(entry, table.Find(Key(id), FlowKey.HashOf(Key(id))));
        }
    }

    [Fact]
    public void A_flow_key_is_the_same_both_ways_and_says_which_way()
    {
        var a = IpAddr.Parse("10.0.0.1");
        var b = IpAddr.Parse("10.0.0.2");
        var there = FlowKey.Of(7, 6, FlowKind.Connection, a, 1000, b, 80, out var fromA);
        var back = FlowKey.Of(7, 6, FlowKind.Connection, b, 80, a, 1000, out var backFromA);
        Assert.True(FlowKey.Same(there, back));
        Assert.Equal(FlowKey.HashOf(there), FlowKey.HashOf(back));
        Assert.True(fromA);
        Assert.False(backFromA);
        Assert.False(FlowKey.Same(there, FlowKey.Of(8, 6, FlowKind.Connection, a, 1000, b, 80, out _)));
        Assert.False(FlowKey.Same(there, FlowKey.Of(7, 17, FlowKind.Connection, a, 1000, b, 80, out _)));
        Assert.False(FlowKey.Same(there, FlowKey.Of(7, 6, FlowKind.Fragments, a, 1000, b, 80, out _)));
    }

    [Fact]
    public async Task A_member_set_grows_shrinks_and_is_read_consistently_while_written()
    {
        var set = new MemberSet();
        var stable = Enumerable.Range(0, 1000).Select(i => IpAddr.FromV4(0x0A00_0000u + (uint)i)).ToArray();
        foreach (var ip in stable)
        {
            Assert.True(set.Add(ip));
        }
        Assert.False(set.Add(stable[0]));
        using var stop = new CancellationTokenSource();
        var misses = 0;
        var reader = Task.Run(() =>
        {
            // Members never removed must always be seen, whatever the writer is doing.
            while (!stop.IsCancellationRequested)
            {
                foreach (var ip in stable)
                {
                    if (!set.Contains(ip))
                    {
                        Interlocked.Increment(ref misses);
                    }
                }
            }
        });
        for (var round = 0; round < 50; round++)
        {
            var churn = Enumerable.Range(0, 2000).Select(i => IpAddr.Parse($"fd00::{round:x}:{i:x}")).ToArray();
            foreach (var ip in churn)
            {
                set.Add(ip);
            }
            foreach (var ip in churn)
            {
                Assert.True(set.Remove(ip));
            }
        }
        stop.Cancel();
        await reader;
        Assert.Equal(0, misses);
        Assert.Equal(1000, set.Count);
        Assert.False(set.Contains(IpAddr.Parse("fd00::1:5")));
        Assert.True(set.Remove(stable[3]));
        Assert.False(set.Contains(stable[3]));
        Assert.True(set.Add(stable[3]));
        Assert.True(set.Contains(stable[3]));
        set.Clear();
        Assert.False(set.Contains(stable[3]));
    }

    private static FlowKey Key(int id) =>
        FlowKey.Of(1, 17, FlowKind.Connection, IpAddr.FromV4(0x0A00_0000u + (uint)id), (ushort)id, IpAddr.FromV4(0x0B00_0001), 53, out _);
}
