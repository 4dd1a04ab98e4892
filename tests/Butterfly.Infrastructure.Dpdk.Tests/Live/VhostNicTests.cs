using System.Net.Sockets;
using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;

namespace Butterfly.Infrastructure.Dpdk.Tests.Live;

[Collection(DataPathCollection.Name)]
public sealed class VhostNicTests(DataPathFixture fixture) : IDisposable
{
    private readonly DpdkDataPath _dp = fixture.DataPath;

    public void Dispose() => Assert.Empty(_dp.Reconcile([]));

    [Fact]
    public void Frames_from_a_real_frontend_are_counted_in_and_dropped()
    {
        var nic = DataPathFixture.Nic("vh-count", NicType.VhostUserServer);
        Assert.Empty(_dp.Reconcile([nic]));
        var socket = _dp.PathOf(nic);
        Assert.Equal(Path.Combine(fixture.SocketDir, "vh-count"), socket);

        using var frontend = TestPmd.Start(socket, DataPathFixture.GeneratorCpu);
        var counters = DataPathFixture.WaitForCounters(_dp, nic.Id, c => c is { BytesIn: > 0, Drops: > 0 }, () => frontend.Log);

        Assert.True(counters.PacketsIn > 0);
        Assert.True(counters.BytesIn >= counters.PacketsIn * 60, $"{counters.BytesIn} bytes for {counters.PacketsIn} frames");
        Assert.Equal(0UL, counters.BytesOut);
    }

    [Fact]
    public void A_nic_replaced_or_removed_while_a_frontend_is_attached_gets_a_fresh_socket()
    {
        var nic = DataPathFixture.Nic("vh-attached", NicType.VhostUserServer);
        Assert.Empty(_dp.Reconcile([nic]));
        using var frontend = TestPmd.Start(_dp.PathOf(nic), DataPathFixture.GeneratorCpu);
        DataPathFixture.WaitForCounters(_dp, nic.Id, c => c.PacketsIn > 0, () => frontend.Log);
        var inode = Inode(_dp.PathOf(nic));

        var changed = nic with { Mac = "52:54:00:00:d7:99" };
        Assert.Empty(_dp.Reconcile([changed]));
        Assert.NotEqual(inode, Inode(_dp.PathOf(nic)));
        Assert.Contains("52:54:00:00:d7:99", _dp.GraphDot(), StringComparison.Ordinal);
        Connect(_dp.PathOf(nic));

        Assert.Empty(_dp.Reconcile([]));
        Assert.False(File.Exists(_dp.PathOf(nic)));
        Assert.Null(_dp.CountersOf(nic.Id));
    }

    [Fact]
    public void A_recorded_socket_path_is_used_and_a_new_one_moves_the_port()
    {
        var legacy = DataPathFixture.Nic("vh-path", NicType.VhostUserServer);
        Assert.Empty(_dp.Reconcile([legacy]));
        Assert.True(File.Exists(Path.Combine(fixture.SocketDir, "vh-path")), "no recorded path: <socket-dir>/<id>");

        var recorded = legacy with { SocketPath = _dp.NewSocketPath(legacy.Id) };
        Assert.Equal(Path.Combine(fixture.SocketDir, "qemu-vhost-vh-path"), recorded.SocketPath);
        Assert.Empty(_dp.Reconcile([recorded]));

        Assert.Equal(recorded.SocketPath, _dp.PathOf(recorded));
        Assert.True(File.Exists(recorded.SocketPath));
        Assert.False(File.Exists(Path.Combine(fixture.SocketDir, "vh-path")), "the port moved: the old socket is gone");
        Connect(recorded.SocketPath);
    }

    [Fact]
    public void A_stale_socket_left_by_a_killed_daemon_is_replaced()
    {
        var nic = DataPathFixture.Nic("vh-stale", NicType.VhostUserServer);
        var path = _dp.PathOf(nic);
        // A process that dies leaves its bound socket file (.NET would unlink it on Dispose).
        var (code, output) = Shell.Run("/usr/bin/python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", path);
        Assert.True(code == 0 && File.Exists(path), output);
        Assert.Null(_dp.Validate(nic));

        Assert.Empty(_dp.Reconcile([nic]));
        Connect(path);
        Assert.Equal(new NicCounters(0, 0, 0, 0, 0), _dp.CountersOf(nic.Id));
    }

    [Fact]
    public void A_file_in_the_way_of_the_socket_is_reported_not_removed()
    {
        var nic = DataPathFixture.Nic("vh-file", NicType.VhostUserServer);
        var path = _dp.PathOf(nic);
        File.WriteAllText(path, "not a socket");
        try
        {
            var errors = _dp.Reconcile([nic]);
            Assert.Contains("exists and is not a socket", errors["vh-file"], StringComparison.Ordinal);
            Assert.Equal("not a socket", File.ReadAllText(path));
            Assert.Null(_dp.CountersOf(nic.Id));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Only_the_failing_nic_is_reported_and_the_others_are_made()
    {
        var good = DataPathFixture.Nic("vh-good", NicType.VhostUserServer);
        var bench = DataPathFixture.Nic("bench1", NicType.Bench);
        var errors = _dp.Reconcile([good, bench]);

        Assert.Single(errors);
        Assert.Contains("a BENCH NIC needs btype", errors["bench1"], StringComparison.Ordinal);
        Assert.NotNull(_dp.CountersOf("vh-good"));
        Assert.Null(_dp.CountersOf("bench1"));
    }

    [Fact]
    public void A_frontend_that_leaves_and_comes_back_is_counted_again()
    {
        var nic = DataPathFixture.Nic("vh-again", NicType.VhostUserServer);
        Assert.Empty(_dp.Reconcile([nic]));
        ulong first;
        using (var frontend = TestPmd.Start(_dp.PathOf(nic), DataPathFixture.GeneratorCpu))
        {
            first = DataPathFixture.WaitForCounters(_dp, nic.Id, c => c.PacketsIn > 0, () => frontend.Log).PacketsIn;
            Assert.Contains("frontend running", _dp.GraphDot(), StringComparison.Ordinal);
        }
        // testpmd has quit: the library ran destroy_device on its events thread.
        WaitForState(nic, "waiting for a frontend");
        var after = _dp.CountersOf(nic.Id)!.Value.PacketsIn;
        Assert.True(after >= first);

        using var again = TestPmd.Start(_dp.PathOf(nic), DataPathFixture.GeneratorCpu);
        DataPathFixture.WaitForCounters(_dp, nic.Id, c => c.PacketsIn > after, () => again.Log);
    }

    [Fact]
    public void A_second_frontend_on_a_busy_socket_is_hung_up_on_and_the_first_keeps_going()
    {
        var nic = DataPathFixture.Nic("vh-busy", NicType.VhostUserServer);
        Assert.Empty(_dp.Reconcile([nic]));
        using var frontend = TestPmd.Start(_dp.PathOf(nic), DataPathFixture.GeneratorCpu);
        var before = DataPathFixture.WaitForCounters(_dp, nic.Id, c => c.PacketsIn > 0, () => frontend.Log).PacketsIn;

        using (var intruder = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            intruder.Connect(new UnixDomainSocketEndPoint(_dp.PathOf(nic)));
            intruder.ReceiveTimeout = 10_000;
            Assert.Equal(0, intruder.Receive(new byte[16])); // end of stream: the library closed it
        }

        DataPathFixture.WaitForCounters(_dp, nic.Id, c => c.PacketsIn > before, () => frontend.Log);
        Assert.Contains("frontend running", _dp.GraphDot(), StringComparison.Ordinal);
    }

    [Fact]
    public void Nics_beyond_what_the_vhost_library_serves_are_refused_at_once_and_the_others_made()
    {
        // The library's poll set has 1024 entries: its own pipe, the shim's wake socket, and a
        // listening socket plus a guest connection per NIC.
        Assert.Equal(1022, VhostPorts.LibraryCapacity);
        Assert.Equal(511, VhostPorts.NicCapacity);
        Assert.Equal(511, _dp.NicCapacity(NicType.VhostUserServer));
        var count = VhostPorts.NicCapacity + 3;
        var nics = Enumerable.Range(0, count).Select(i => DataPathFixture.Nic($"vh-lim{i:D4}", NicType.VhostUserServer)).ToList();

        var errors = _dp.Reconcile(nics);

        Assert.Equal(3, errors.Count);
        Assert.All(errors.Values, e => Assert.Contains("511 vhost-user NICs exist, the most this data path serves", e, StringComparison.Ordinal));
        Assert.Equal(count - 3, nics.Count(n => _dp.CountersOf(n.Id) is not null));
        Assert.Empty(_dp.Reconcile([]));
        Assert.Empty(Directory.GetFileSystemEntries(fixture.SocketDir));
    }

    [Fact]
    public void Tso_is_offered_unless_no_offload_is_asked()
    {
        var nic = DataPathFixture.Nic("vh-tso", NicType.VhostUserServer);
        Assert.Empty(_dp.Reconcile([nic]));
        Assert.Contains("TSO offered", _dp.GraphDot(), StringComparison.Ordinal);

        // --no-offload is a daemon option; the shim call it makes is exercised directly.
        var path = Path.Combine(fixture.SocketDir, "vh-no-tso");
        var slot = VhostPorts.Create(path, offerTso: false);
        Assert.True(slot >= 0, VhostPorts.CreateError(path, slot, 0, 0));
        try
        {
            var state = VhostPorts.State(slot)!.Value;
            Assert.False(state.OffersTso);
            Assert.Equal(0UL, state.Offered & (1UL << 12)); // VIRTIO_NET_F_HOST_TSO6
            Assert.NotEqual(0UL, state.Offered & (1UL << 15)); // VIRTIO_NET_F_MRG_RXBUF stays
            Assert.False(state.Connected);
        }
        finally
        {
            Assert.Null(VhostPorts.Destroy(slot, path));
        }
        Assert.False(File.Exists(path));
        Assert.Null(VhostPorts.State(slot));
    }

    private static void Connect(string path)
    {
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(path));
    }

    private void WaitForState(DataPathNic nic, string state)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var node = "socket " + _dp.PathOf(nic) + "\\n" + state;
        while (!_dp.GraphDot().Contains(node, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"NIC {nic.Id} never reached '{state}':\n{_dp.GraphDot()}");
            Thread.Sleep(50);
        }
    }

    private static string Inode(string path) => Shell.Run("stat", "-c", "%i", path).Output.Trim();
}
