using Butterfly.Domain.Nics;

namespace Butterfly.Infrastructure.Dpdk.Tests.Live;

[Collection(DataPathCollection.Name)]
public sealed class TapNicTests(DataPathFixture fixture) : IDisposable
{
    private readonly DpdkDataPath _dp = fixture.DataPath;
    private readonly string _name = "bft" + Guid.NewGuid().ToString("N")[..8];

    public void Dispose() => Assert.Empty(_dp.Reconcile([]));

    [Fact]
    public void A_tap_nic_is_a_kernel_interface_with_the_nic_mac_that_goes_away_with_the_nic()
    {
        var nic = DataPathFixture.Nic(_name, NicType.Tap, "52:54:00:AB:cd:01");
        Assert.Equal(_name, _dp.PathOf(nic));
        Assert.Empty(_dp.Reconcile([nic]));

        var link = Shell.Link(_name);
        Assert.NotNull(link);
        Assert.Contains("link/ether 52:54:00:ab:cd:01 ", link, StringComparison.Ordinal);

        Assert.Empty(_dp.Reconcile([]));
        Assert.Null(Shell.Link(_name));
    }

    [Fact]
    public void Frames_the_kernel_sends_on_the_tap_are_counted_in_and_dropped()
    {
        var nic = DataPathFixture.Nic(_name, NicType.Tap);
        Assert.Empty(_dp.Reconcile([nic]));
        Assert.Equal(0, Shell.Run("ip", "link", "set", "dev", _name, "up").Code);

        Shell.SendFrame(_name, 100);
        var counters = DataPathFixture.WaitForCounters(_dp, _name, c => c is { PacketsIn: > 0, Drops: > 0 }, () => "a frame sent by the kernel");
        Assert.True(counters.BytesIn >= 100);
    }

    [Fact]
    public void A_mac_change_recreates_the_tap()
    {
        var nic = DataPathFixture.Nic(_name, NicType.Tap, "52:54:00:00:00:01");
        Assert.Empty(_dp.Reconcile([nic]));
        Assert.Empty(_dp.Reconcile([nic with { Mac = "52:54:00:00:00:02" }]));
        Assert.Contains("link/ether 52:54:00:00:00:02 ", Shell.Link(_name), StringComparison.Ordinal);
        Assert.Null(_dp.Validate(nic));
    }

    [Fact]
    public void Taps_beyond_the_ethdev_port_limit_are_reported_one_by_one_while_vhost_nics_are_not_limited()
    {
        var maxPorts = PortHandles.EthPorts;
        var taps = Enumerable.Range(0, maxPorts + 2).Select(i => DataPathFixture.Nic($"{_name}{i:D2}", NicType.Tap)).ToList();
        var vhosts = Enumerable.Range(0, maxPorts + 2).Select(i => DataPathFixture.Nic($"vh-beside-taps{i:D2}", NicType.VhostUserServer)).ToList();

        // What nic_add checks: the ports the underlay leaves, the same with taps made or not.
        Assert.Equal(maxPorts - 1, _dp.NicCapacity(NicType.Tap));
        Assert.Equal(PortHandles.BenchSlots, _dp.NicCapacity(NicType.Bench));

        var errors = _dp.Reconcile([.. taps, .. vhosts]);

        Assert.Equal(maxPorts - 1, _dp.NicCapacity(NicType.Tap));
        Assert.Equal(3, errors.Count); // the underlay holds one port
        Assert.All(errors, e =>
        {
            Assert.StartsWith(_name, e.Key, StringComparison.Ordinal);
            Assert.Contains("no DPDK port left for tap NIC", e.Value, StringComparison.Ordinal);
            Assert.Contains("shared by the underlay and every tap NIC", e.Value, StringComparison.Ordinal);
        });
        Assert.Equal(maxPorts - 1, taps.Count(n => _dp.CountersOf(n.Id) is not null));
        Assert.All(vhosts, n => Assert.NotNull(_dp.CountersOf(n.Id)));
        Assert.Empty(_dp.Reconcile([]));
        Assert.All(taps, n => Assert.Null(Shell.Link(n.Id)));
        Assert.Empty(Directory.GetFileSystemEntries(fixture.SocketDir));
    }

    [Fact]
    public void Validate_refuses_bad_or_taken_names()
    {
        Assert.Contains("already exists on this host", _dp.Validate(DataPathFixture.Nic("lo", NicType.Tap)), StringComparison.Ordinal);
        Assert.Contains("already exists on this host", _dp.Validate(DataPathFixture.Nic(fixture.UnderlayTap, NicType.Tap)), StringComparison.Ordinal);
        Assert.Contains("too long", _dp.Validate(DataPathFixture.Nic("a-name-of-16-chr", NicType.Tap)), StringComparison.Ordinal);
        Assert.Contains("longer than the 107", _dp.Validate(DataPathFixture.Nic(new string('x', 110), NicType.VhostUserServer)), StringComparison.Ordinal);
        Assert.Contains("needs btype", _dp.Validate(DataPathFixture.Nic("b", NicType.Bench)), StringComparison.Ordinal);
        Assert.Null(_dp.Validate(DataPathFixture.Nic(_name, NicType.Tap)));
    }
}
