using System.Diagnostics;
using System.Globalization;
using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;
using Butterfly.Infrastructure.Dpdk.Native;
using Xunit.Abstractions;

namespace Butterfly.Infrastructure.Dpdk.Tests.Live;

/// <summary>
/// A host carries hundreds of vhost-user NICs: far more than DPDK's 32 ethdev ports, so they
/// are vhost library sockets — as many as the library serves with every guest connected
/// (<see cref="VhostPorts.NicCapacity"/>), made, removed and made again in one reconcile each
/// (the times are printed; the benchmarks, not the tests, judge them).
/// </summary>
[Collection(DataPathCollection.Name)]
public sealed class ManyVhostNicsTests(DataPathFixture fixture, ITestOutputHelper output) : IDisposable
{
    private const int Count = VhostPorts.NicCapacity;

    private readonly DpdkDataPath _dp = fixture.DataPath;

    public void Dispose() => Assert.Empty(_dp.Reconcile([]));

    [Fact]
    public void As_many_vhost_nics_as_the_library_serves_are_made_in_one_reconcile_and_all_removed()
    {
        var nics = Nics("vh-k");

        var clock = Stopwatch.StartNew();
        var errors = _dp.Reconcile(nics);
        var created = clock.Elapsed;

        Assert.Empty(errors);
        Assert.All(nics, n => Assert.Equal(1, Shim.IsSocket(_dp.PathOf(n))));
        Assert.All(nics, n => Assert.Equal(new NicCounters(0, 0, 0, 0, 0), _dp.CountersOf(n.Id)));
        Connect(_dp.PathOf(nics[0]));
        Connect(_dp.PathOf(nics[^1]));

        clock.Restart();
        Assert.Empty(_dp.Reconcile(nics));
        var unchanged = clock.Elapsed;

        clock.Restart();
        Assert.Empty(_dp.Reconcile([]));
        var removed = clock.Elapsed;

        Assert.Empty(Directory.GetFileSystemEntries(fixture.SocketDir));
        Assert.All(nics, n => Assert.Null(_dp.CountersOf(n.Id)));

        // Again at once: the library's event set is full of the removed sockets' entries and
        // must be compacted without waiting for its poll timeout (see native/vhost.c).
        clock.Restart();
        Assert.Empty(_dp.Reconcile(nics));
        var again = clock.Elapsed;
        Assert.All(nics, n => Assert.Equal(1, Shim.IsSocket(_dp.PathOf(n))));

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Count} vhost-user NICs: created in {created.TotalMilliseconds:F0} ms, reconciled unchanged in {unchanged.TotalMilliseconds:F0} ms, "
            + $"removed in {removed.TotalMilliseconds:F0} ms, created again in {again.TotalMilliseconds:F0} ms"));
    }

    [Fact]
    public void A_frontend_on_nic_500_is_counted_on_that_nic_only()
    {
        var nics = Nics("vh-n");
        Assert.Empty(_dp.Reconcile(nics));
        var target = nics[500];

        using var frontend = TestPmd.Start(_dp.PathOf(target), DataPathFixture.GeneratorCpu);
        var counters = DataPathFixture.WaitForCounters(_dp, target.Id, c => c is { BytesIn: > 0, Drops: > 0 }, () => frontend.Log);

        Assert.True(counters.BytesIn >= counters.PacketsIn * 60, $"{counters.BytesIn} bytes for {counters.PacketsIn} frames");
        Assert.Equal(0UL, counters.BytesOut);
        foreach (var other in nics)
        {
            if (other != target)
            {
                Assert.Equal(0UL, _dp.CountersOf(other.Id)!.Value.PacketsIn);
            }
        }
    }

    [Fact]
    public void Hundreds_of_stale_sockets_left_by_a_killed_daemon_are_replaced()
    {
        var nics = Nics("vh-s");
        // A daemon killed with -9 leaves every socket file it had bound; so does this script.
        var script = "import socket,sys\nfor p in sys.argv[1:]:\n    socket.socket(socket.AF_UNIX).bind(p)\n";
        var (code, text) = Shell.Run("/usr/bin/python3", ["-c", script, .. nics.Select(n => _dp.PathOf(n))]);
        Assert.True(code == 0, text);
        Assert.All(nics, n => Assert.Equal(1, Shim.IsSocket(_dp.PathOf(n))));
        Assert.Throws<System.Net.Sockets.SocketException>(() => Connect(_dp.PathOf(nics[7])));

        var clock = Stopwatch.StartNew();
        Assert.Empty(_dp.Reconcile(nics));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Count} NICs over stale sockets: {clock.Elapsed.TotalMilliseconds:F0} ms"));

        Connect(_dp.PathOf(nics[7]));
        Connect(_dp.PathOf(nics[^1]));
        Assert.Empty(_dp.Reconcile([]));
        Assert.Empty(Directory.GetFileSystemEntries(fixture.SocketDir));
    }

    private static List<DataPathNic> Nics(string prefix) =>
        Enumerable.Range(0, Count).Select(i => DataPathFixture.Nic($"{prefix}{i:D4}", NicType.VhostUserServer)).ToList();

    private static void Connect(string path)
    {
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream,
            System.Net.Sockets.ProtocolType.Unspecified);
        client.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
    }
}
