using System.Globalization;
using Butterfly.TestKit;

namespace Butterfly.EndToEnd.Tests.Vm;

/// <summary>
/// Bulk TCP between two real guests on one daemon, each way and over both IP families. Both
/// guests negotiated checksum and segmentation offload in both directions (virtio CSUM,
/// HOST_TSO4/6, GUEST_CSUM, GUEST_TSO4/6), so the switch hands a sender's partial checksums and
/// TSO super-frames to the receiver as virtio NEEDS_CSUM/GSO headers, untouched
/// (Infrastructure.Dpdk/Forwarder.Offload.cs). Before that, the vhost library's compliant
/// offload flags were lost on the way and the receiver dropped every data segment.
///
///   guest 1 (10.0.7.1, fd07::1)             guest 2 (10.0.7.2, fd07::2)
///        │ vhost-user NIC vm1, VNI 7              │ vhost-user NIC vm2, VNI 7
///        └─────────────── butterflyd ─────────────┘
///
/// Every transfer is 1 MiB of random bytes, compared by SHA-256 on arrival.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class SameHostTcpTests(SameHostTcpGuests guests) : IClassFixture<SameHostTcpGuests>
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);
    /// <summary>The guest gives up first, so that a failed transfer leaves its command loop free for the next test.</summary>
    private const int GuestTransferSeconds = 200;
    private static readonly TimeSpan TransferTimeout = TimeSpan.FromSeconds(GuestTransferSeconds + 40);

    [Theory]
    [InlineData(1, "10.0.7.2")]
    [InlineData(2, "10.0.7.1")]
    [InlineData(1, "fd07::2")]
    public async Task A_guest_sends_1_MiB_over_tcp_to_a_guest_on_the_same_daemon(int from, string address)
    {
        var (sender, receiver) = from == 1 ? (guests.Guest1, guests.Guest2) : (guests.Guest2, guests.Guest1);
        // The listener's stdin is a FIFO it holds open itself (at EOF on stdin nc would close its
        // sending half, and the sender's nc quits when it sees that).
        await receiver.RunOkAsync(
            "kill $(cat /tmp/nc.pid 2>/dev/null) 2>/dev/null; rm -f /tmp/rx; [ -p /tmp/hold ] || busybox mkfifo /tmp/hold; nc -l -p 5003 0<>/tmp/hold >/tmp/rx 2>/dev/null & echo $! > /tmp/nc.pid",
            CommandTimeout);
        var sent = (await sender.RunOkAsync("dd if=/dev/urandom of=/tmp/tx bs=1024 count=1024 2>/dev/null && busybox sha256sum /tmp/tx", CommandTimeout)).Split(' ')[0];

        var send = await sender.RunAsync(
            $"timeout {GuestTransferSeconds} sh -c 'for i in $(seq 40); do nc {address} 5003 < /tmp/tx 2>/dev/null && exit 0; sleep 0.5; done; exit 1'",
            TransferTimeout);
        Assert.True(send.ExitCode == 0, $"nc to {address} failed: {send.Output}\n{guests.Daemon.Tail()}");

        await receiver.RunOkAsync("i=0; while kill -0 $(cat /tmp/nc.pid) 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done", CommandTimeout);
        var received = (await receiver.RunOkAsync("busybox sha256sum /tmp/rx; wc -c < /tmp/rx", CommandTimeout)).Split('\n');
        Assert.True(received.Length == 2 && received[0].StartsWith(sent, StringComparison.Ordinal),
            $"the receiver got {string.Join(" / ", received)}, the sender sent {sent}\n{guests.Daemon.Tail()}");
        Assert.Equal(1024 * 1024, int.Parse(received[1].Trim(), CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_security_group_admits_one_port_of_a_guest_and_refuses_another()
    {
        // Guest 2 admits TCP 8080 from the subnet only (it is in the allow-all group otherwise).
        using var client = guests.Daemon.CreateClient();
        client.CallOk(Requests.SgAdd("web8080", rules: [Requests.Rule(Wire.MessageV0.Types.Rule.Types.Direction.Inbound, 6, "10.0.7.0/24", 8080, 8080)]));
        client.CallOk(Requests.NicUpdate(new Wire.MessageV0.Types.NicUpdateReq { Id = "vm2", SecurityGroup = { "web8080" } }));
        try
        {
            await guests.Guest2.RunOkAsync("rm -f /tmp/fw.pids; for p in 8080 8081; do nc -l -p $p >/tmp/rx$p 2>/dev/null & echo $! >>/tmp/fw.pids; done", CommandTimeout);
            var allowed = await guests.Guest1.RunAsync(
                "for i in $(seq 10); do echo open | timeout 3 nc 10.0.7.2 8080 && exit 0; sleep 0.5; done; exit 1", CommandTimeout);
            var refused = await guests.Guest1.RunAsync("echo closed | timeout 3 nc 10.0.7.2 8081", CommandTimeout);
            await Task.Delay(500);
            var received = await guests.Guest2.RunOkAsync("cat /tmp/rx8080 /tmp/rx8081", CommandTimeout);

            Assert.True(allowed.ExitCode == 0, $"8080: {allowed.Output}\n{guests.Daemon.Tail()}");
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains("open", received, StringComparison.Ordinal);
            Assert.DoesNotContain("closed", received, StringComparison.Ordinal);
            var drops = client.CallOk(Requests.NicStats("vm2")).NicStats.Drop;
            Assert.Contains(drops, d => d.Reason == "firewall_inbound_denied" && d.Frames > 0);
        }
        finally
        {
            await guests.Guest2.RunAsync("kill $(cat /tmp/fw.pids) 2>/dev/null; true", CommandTimeout);
            client.CallOk(Requests.NicUpdate(new Wire.MessageV0.Types.NicUpdateReq { Id = "vm2", SecurityGroup = { Requests.OpenGroup } }));
        }
    }
}

/// <summary>One daemon with two booted guests in VNI 7, addressed over both families.</summary>
public sealed class SameHostTcpGuests : IAsyncLifetime
{
    private const string Mac1 = "52:54:00:00:07:01";
    private const string Mac2 = "52:54:00:00:07:02";

    private DaemonProcess? _daemon;
    private QemuGuest? _guest1;
    private QemuGuest? _guest2;

    internal DaemonProcess Daemon => _daemon ?? throw new InvalidOperationException("the daemon is not up");

    internal QemuGuest Guest1 => _guest1 ?? throw new InvalidOperationException("the guests are not up");

    internal QemuGuest Guest2 => _guest2 ?? throw new InvalidOperationException("the guests are not up");

    public async Task InitializeAsync()
    {
        _daemon = await DaemonProcess.StartAsync();
        try
        {
            using var client = _daemon.CreateClient();
            client.CallOk(Requests.SgAddOpen());
            var path1 = client.CallOk(Requests.NicAdd(Requests.Nic("vm1", Mac1, 7, sgs: [Requests.OpenGroup]))).NicAdd.Path;
            var path2 = client.CallOk(Requests.NicAdd(Requests.Nic("vm2", Mac2, 7, sgs: [Requests.OpenGroup]))).NicAdd.Path;
            var booted = await QemuGuest.BootAllAsync([(path1, Mac1), (path2, Mac2)]);
            (_guest1, _guest2) = (booted[0], booted[1]);
            var timeout = TimeSpan.FromSeconds(60);
            foreach (var (guest, host) in new[] { (_guest1, 1), (_guest2, 2) })
            {
                await guest.RunOkAsync(
                    $"sysctl -w net.ipv6.conf.eth0.accept_dad=0 >/dev/null && ip addr add 10.0.7.{host}/24 dev eth0 && ip -6 addr add fd07::{host}/64 dev eth0",
                    timeout);
                var features = (await guest.RunOkAsync("cat /sys/class/net/eth0/device/features", timeout)).Trim();
                // VIRTIO_NET_F_CSUM, GUEST_CSUM, GUEST_TSO4, GUEST_TSO6, HOST_TSO4, HOST_TSO6: the
                // pass-through path is what this fixture is for.
                foreach (var bit in new[] { 0, 1, 7, 8, 11, 12 })
                {
                    if (features.Length <= bit || features[bit] != '1')
                    {
                        throw new InvalidOperationException($"guest {host} did not negotiate virtio feature {bit}: {features}");
                    }
                }
            }
            var ping = await _guest1.RunAsync("ping -c 1 -w 20 10.0.7.2", timeout);
            if (ping.ExitCode != 0)
            {
                throw new InvalidOperationException($"guest 1 cannot ping guest 2: {ping.Output}\n{_daemon.Tail()}");
            }
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        _guest1?.Dispose();
        _guest2?.Dispose();
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync();
        }
    }
}
