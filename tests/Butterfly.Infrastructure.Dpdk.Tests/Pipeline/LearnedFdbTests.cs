using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

public class LearnedFdbTests
{
    private const long Age = 1000;
    private static readonly IpAddr VtepA = IpAddr.Parse("192.168.1.2");
    private static readonly IpAddr VtepB = IpAddr.Parse("fd00::2");

    private static MacAddress Mac(int i) => new(0x0200_0000_0000UL | (uint)i);

    [Fact]
    public void Learns_per_vni_and_looks_up()
    {
        var fdb = new LearnedFdb(1024, Age);
        fdb.Learn(100, Mac(1), VtepA, now: 10);
        fdb.Learn(200, Mac(1), VtepB, now: 10);

        Assert.True(fdb.TryLookup(100, Mac(1), 20, out var a));
        Assert.Equal(VtepA, a);
        Assert.True(fdb.TryLookup(200, Mac(1), 20, out var b));
        Assert.Equal(VtepB, b);
        Assert.False(fdb.TryLookup(300, Mac(1), 20, out _));
        Assert.False(fdb.TryLookup(100, Mac(2), 20, out _));
        Assert.Equal(2, fdb.Count);
        Assert.Equal(2UL, fdb.Learned);
    }

    [Fact]
    public void A_mac_seen_behind_another_vtep_moves()
    {
        var fdb = new LearnedFdb(64, Age);
        fdb.Learn(100, Mac(1), VtepA, 10);
        fdb.Learn(100, Mac(1), VtepA, 11);
        fdb.Learn(100, Mac(1), VtepB, 12);
        Assert.True(fdb.TryLookup(100, Mac(1), 13, out var vtep));
        Assert.Equal(VtepB, vtep);
        Assert.Equal(1UL, fdb.Moves);
        Assert.Equal(1UL, fdb.Learned);
        Assert.Equal(1, fdb.Count);
    }

    [Fact]
    public void Entries_age_out_unless_traffic_refreshes_them()
    {
        var fdb = new LearnedFdb(64, Age);
        fdb.Learn(100, Mac(1), VtepA, 0);
        fdb.Learn(100, Mac(2), VtepA, 0);
        fdb.Learn(100, Mac(2), VtepA, 900);

        Assert.True(fdb.TryLookup(100, Mac(1), Age, out _));
        Assert.False(fdb.TryLookup(100, Mac(1), Age + 1, out _));
        Assert.True(fdb.TryLookup(100, Mac(2), Age + 1, out _));
        Assert.False(fdb.TryLookup(100, Mac(2), 900 + Age + 1, out _));
        Assert.Equal(0, fdb.Count);
        Assert.Equal(2UL, fdb.Expirations);
    }

    [Fact]
    public void Lookups_do_not_refresh()
    {
        var fdb = new LearnedFdb(64, Age);
        fdb.Learn(100, Mac(1), VtepA, 0);
        Assert.True(fdb.TryLookup(100, Mac(1), 999, out _));
        Assert.False(fdb.TryLookup(100, Mac(1), 1001, out _));
    }

    [Fact]
    public void Sweep_frees_expired_entries_a_few_slots_at_a_time()
    {
        var fdb = new LearnedFdb(256, Age);
        for (var i = 0; i < 100; i++)
        {
            fdb.Learn(7, Mac(i), VtepA, i < 50 ? 0 : 500);
        }
        Assert.Equal(100, fdb.Count);
        var freed = 0;
        for (var pass = 0; pass < 256 / 16; pass++)
        {
            freed += fdb.Sweep(now: 1200, budget: 16);
        }
        Assert.Equal(50, freed);
        Assert.Equal(50, fdb.Count);
        Assert.Equal(50, fdb.Snapshot(1200).Count);
    }

    [Fact]
    public void Capacity_is_bounded_and_the_idlest_entry_of_a_full_window_is_evicted()
    {
        var fdb = new LearnedFdb(8, Age);
        for (var i = 0; i < 8; i++)
        {
            fdb.Learn(1, Mac(i), VtepA, now: 10 + i);
        }
        fdb.Learn(1, Mac(0), VtepA, now: 30);
        fdb.Learn(1, Mac(100), VtepB, now: 31);

        Assert.Equal(8, fdb.Count);
        Assert.Equal(1UL, fdb.Evictions);
        Assert.False(fdb.TryLookup(1, Mac(1), 32, out _));
        Assert.True(fdb.TryLookup(1, Mac(0), 32, out _));
        Assert.True(fdb.TryLookup(1, Mac(100), 32, out _));
    }

    [Fact]
    public void A_flood_of_new_macs_never_pushes_out_an_active_one()
    {
        var fdb = new LearnedFdb(1024, long.MaxValue / 2);
        var active = Mac(0xABCDE);
        for (var i = 1; i <= 20_000; i++)
        {
            fdb.Learn(5, Mac(i), VtepA, i);
            fdb.Learn(5, active, VtepB, i);
            Assert.True(fdb.TryLookup(5, Mac(i), i, out _));
        }
        Assert.True(fdb.TryLookup(5, active, 20_001, out var vtep));
        Assert.Equal(VtepB, vtep);
        Assert.True(fdb.Count <= fdb.Capacity);
        Assert.True(fdb.Evictions > 0);
    }

    [Fact]
    public void Flushes_by_vni_and_by_vtep()
    {
        var fdb = new LearnedFdb(64, Age);
        fdb.Learn(1, Mac(1), VtepA, 0);
        fdb.Learn(1, Mac(2), VtepB, 0);
        fdb.Learn(2, Mac(3), VtepA, 0);

        Assert.Equal(2, fdb.FlushVni(1));
        Assert.False(fdb.TryLookup(1, Mac(1), 1, out _));
        Assert.True(fdb.TryLookup(2, Mac(3), 1, out _));
        Assert.Equal(1, fdb.FlushVtep(VtepA));
        Assert.Equal(0, fdb.Count);
    }

    [Fact]
    public void Forgets_the_macs_of_a_vni_whose_last_local_nic_left()
    {
        var fdb = new LearnedFdb(64, Age);
        fdb.Learn(1, Mac(1), VtepA, 0);
        fdb.Learn(2, Mac(2), VtepA, 0);
        fdb.Learn(3, Mac(3), VtepB, 0);
        var before = Tables((10, 1), (11, 2), (12, 3));

        // VNI 1 loses one of two NICs (stays), VNI 2 loses its only NIC (leaves), VNI 3 stays.
        Assert.Equal(0, fdb.ForgetVnisThatLeft(before, Tables((10, 1), (11, 2), (12, 3), (13, 1))));
        var after = Tables((10, 1), (12, 3));
        Assert.Equal(1, fdb.ForgetVnisThatLeft(before, after));
        Assert.False(fdb.TryLookup(2, Mac(2), 1, out _));
        Assert.True(fdb.TryLookup(1, Mac(1), 1, out _));
        Assert.True(fdb.TryLookup(3, Mac(3), 1, out _));
        // Nothing left to compare against: the empty tables of a fresh forwarder.
        Assert.Equal(2, fdb.ForgetVnisThatLeft(after, SwitchTables.Empty));
        Assert.Equal(0, fdb.Count);
    }

    private static SwitchTables Tables(params (ushort Port, uint Vni)[] ports)
    {
        var builder = new SwitchTablesBuilder();
        foreach (var (port, vni) in ports)
        {
            Assert.Null(builder.AddPort(port, vni, Mac(0x100 + port)));
        }
        var tables = builder.Build(1, out var error);
        Assert.Null(error);
        return tables!;
    }

    [Fact]
    public void Capacity_rounds_up_to_a_power_of_two()
    {
        Assert.Equal(1024, new LearnedFdb(1000, Age).Capacity);
        Assert.Equal(8, new LearnedFdb(1, Age).Capacity);
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearnedFdb(0, Age));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearnedFdb(8, 0));
    }
}
