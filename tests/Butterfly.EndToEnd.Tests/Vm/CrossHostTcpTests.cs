using System.Globalization;
using System.Security.Cryptography;
using Butterfly.EndToEnd.Tests.Topology;
using Butterfly.TestKit;
using Xunit.Abstractions;

namespace Butterfly.EndToEnd.Tests.Vm;

/// <summary>
/// Bulk TCP from a real guest that offloads checksums and segmentation (virtio CSUM and
/// HOST_TSO4/6, negotiated by default) reaches guests and taps on its own and on another daemon
/// byte for byte: the switch finishes the partial checksums and cuts the TSO super-frames where
/// the destination cannot take them (Infrastructure.Dpdk/Forwarder.Offload.cs). Ping alone
/// never showed the problem: ICMP checksums are computed by the guest.
///
/// The daemons, the af_packet veth underlay and the tap "VMs" a1/a2 are those of
/// <see cref="VxlanHeadEndTests"/> (<see cref="VxlanIpv4Topology"/>, reused as it is); each
/// daemon also gets one vhost-user guest in the taps' VNI 710.
///
///   guest 1 10.78.0.51 fd78::51     netns a1 10.78.0.1          guest 2 10.78.0.52 fd78::52     netns a2 10.78.0.2
///        │ vhost-user vm1                │ tap                       │ vhost-user vm2                │ tap
///   ┌────┴─── daemon A (netns host A) ───┴──┐                   ┌────┴─── daemon B (netns host B) ───┴──┐
///   └──── af_packet ────────────────────────┘                   └──── af_packet ────────────────────────┘
///              └────────────────────────────────── veth pair ───────────────────────┘
///
/// Every transfer is 1 MiB of random bytes from guest 1, compared by SHA-256 on arrival.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class CrossHostTcpTests(CrossHostTcpGuests guests, ITestOutputHelper output) : IClassFixture<CrossHostTcpGuests>
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);
    /// <summary>The guest gives up first, so that a failed transfer leaves its command loop free for the next test.</summary>
    private const int GuestTransferSeconds = 200;
    private static readonly TimeSpan TransferTimeout = TimeSpan.FromSeconds(GuestTransferSeconds + 40);

    [Fact]
    public void The_guests_were_offered_and_took_checksum_and_segmentation_offload()
    {
        foreach (var features in new[] { guests.Features1, guests.Features2 })
        {
            // /sys/class/net/eth0/device/features: one character per virtio feature bit.
            Assert.True(features.Length > 12, features);
            Assert.Equal('1', features[0]);  // VIRTIO_NET_F_CSUM
            Assert.Equal('1', features[11]); // VIRTIO_NET_F_HOST_TSO4
            Assert.Equal('1', features[12]); // VIRTIO_NET_F_HOST_TSO6
            Assert.Equal('0', features[14]); // VIRTIO_NET_F_HOST_UFO: never offered
        }
    }

    [Theory]
    [InlineData("10.78.0.52")]
    [InlineData("fd78::52")]
    public async Task A_guest_sends_1_MiB_over_tcp_to_a_guest_on_the_other_daemon(string address)
    {
        var (g1, g2) = (guests.Guest1, guests.Guest2);
        // The listener's stdin is a FIFO it holds open itself: at EOF on stdin nc would close its
        // sending half, and the sender's nc quits as soon as it sees that, whatever is left to send.
        await g2.RunOkAsync(
            "kill $(cat /tmp/nc.pid 2>/dev/null) 2>/dev/null; rm -f /tmp/rx; [ -p /tmp/hold ] || busybox mkfifo /tmp/hold; nc -l -p 5001 0<>/tmp/hold >/tmp/rx 2>/dev/null & echo $! > /tmp/nc.pid",
            CommandTimeout);

        var (sent, perPacket) = await Send(g1, address);
        output.WriteLine($"guest 1 handed its NIC {perPacket} bytes per frame on average (MTU 1450)");

        // The listener exits when the sender's FIN arrives.
        await g2.RunOkAsync("i=0; while kill -0 $(cat /tmp/nc.pid) 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done", CommandTimeout);
        var received = (await g2.RunOkAsync("busybox sha256sum /tmp/rx; wc -c < /tmp/rx", CommandTimeout)).Split('\n');
        Assert.True(received.Length == 2 && received[0].StartsWith(sent, StringComparison.Ordinal),
            $"guest 2 got {string.Join(" / ", received)}, guest 1 sent {sent} ({perPacket} bytes per frame handed over)\n{guests.Story()}");
    }

    [Fact]
    public async Task A_guest_sends_1_MiB_over_tcp_to_a_tap_on_its_own_daemon() =>
        await SendToTap(guests.Topology.A1);

    [Fact]
    public async Task A_guest_sends_1_MiB_over_tcp_to_a_tap_on_the_other_daemon() =>
        await SendToTap(guests.Topology.A2);

    /// <summary>A socat sink in the tap's namespace hashes what arrives; the guest sends to it.</summary>
    private async Task SendToTap(Topology.Vm tap)
    {
        using var sink = NetworkNamespaces.Start(tap.Namespace, "socat", "-u", "TCP4-LISTEN:5002,reuseaddr", "STDOUT");
        try
        {
            var hashing = Task.Run(() => SHA256.HashData(sink.StandardOutput.BaseStream));
            var (sent, perPacket) = await Send(guests.Guest1, tap.Ipv4, port: 5002);
            output.WriteLine($"guest 1 handed its NIC {perPacket} bytes per frame on average (MTU 1450)");
            var received = Convert.ToHexStringLower(await hashing.WaitAsync(CommandTimeout));
            Assert.True(received == sent, $"{tap.Name} got {received}, guest 1 sent {sent} ({perPacket} bytes per frame handed over)\n{guests.Story()}");
        }
        finally
        {
            if (!sink.HasExited)
            {
                sink.Kill(entireProcessTree: true);
            }
            await sink.WaitForExitAsync();
        }
    }

    /// <summary>
    /// Sends 1 MiB of fresh random bytes from <paramref name="guest"/> to address:port (retrying
    /// the connection while the listener comes up); returns their SHA-256 and the average size of
    /// the frames the guest handed to its NIC meanwhile (above the MTU: TSO super-frames).
    /// </summary>
    private static async Task<(string Sha256, long PerPacket)> Send(QemuGuest guest, string address, int port = 5001)
    {
        var sum = await guest.RunOkAsync("dd if=/dev/urandom of=/tmp/tx bs=1024 count=1024 2>/dev/null && busybox sha256sum /tmp/tx", CommandTimeout);
        var before = await TxCounters(guest);
        var send = await guest.RunAsync(
            $"timeout {GuestTransferSeconds} sh -c 'for i in $(seq 40); do nc {address} {port.ToString(CultureInfo.InvariantCulture)} < /tmp/tx 2>/dev/null && exit 0; sleep 0.5; done; exit 1'",
            TransferTimeout);
        var after = await TxCounters(guest);
        var packets = after.Packets - before.Packets;
        var perPacket = packets > 0 ? (after.Bytes - before.Bytes) / packets : 0;
        Assert.True(send.ExitCode == 0, $"nc to {address}:{port} failed: {send.Output}");
        // The premise of these tests: the guest handed over TSO super-frames, not MTU-sized frames.
        Assert.True(perPacket > 1514, $"guest 1 handed its NIC only {perPacket} bytes per frame: no TSO");
        return (sum.Split(' ')[0], perPacket);
    }

    private static async Task<(long Packets, long Bytes)> TxCounters(QemuGuest guest)
    {
        var lines = (await guest.RunOkAsync("cat /sys/class/net/eth0/statistics/tx_packets /sys/class/net/eth0/statistics/tx_bytes", CommandTimeout)).Split('\n');
        return (long.Parse(lines[0], CultureInfo.InvariantCulture), long.Parse(lines[1], CultureInfo.InvariantCulture));
    }
}

/// <summary>
/// <see cref="VxlanIpv4Topology"/> plus one booted guest per daemon in its VNI 710, addressed
/// and with the inner MTU of an IPv4 underlay of 1500 (1450).
/// </summary>
public sealed class CrossHostTcpGuests : IAsyncLifetime
{
    /// <summary>The topology's VNI of a1 and a2.</summary>
    private const uint Vni = 710;
    private const string Mac1 = "52:54:00:78:01:51";
    private const string Mac2 = "52:54:00:78:01:52";

    private QemuGuest? _guest1;
    private QemuGuest? _guest2;

    public VxlanIpv4Topology Topology { get; } = new();

    internal QemuGuest Guest1 => _guest1 ?? throw new InvalidOperationException("the guests are not up");

    internal QemuGuest Guest2 => _guest2 ?? throw new InvalidOperationException("the guests are not up");

    /// <summary>The virtio feature bits each guest's NIC negotiated, as its sysfs prints them.</summary>
    internal string Features1 { get; private set; } = string.Empty;

    internal string Features2 { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        await Topology.InitializeAsync();
        try
        {
            using var clientA = Topology.HostA.CreateClient();
            using var clientB = Topology.HostB.CreateClient();
            clientA.CallOk(Requests.SgAddOpen());
            clientB.CallOk(Requests.SgAddOpen());
            var path1 = clientA.CallOk(Requests.NicAdd(Requests.Nic("vm1", Mac1, Vni, sgs: [Requests.OpenGroup]))).NicAdd.Path;
            var path2 = clientB.CallOk(Requests.NicAdd(Requests.Nic("vm2", Mac2, Vni, sgs: [Requests.OpenGroup]))).NicAdd.Path;
            var booted = await QemuGuest.BootAllAsync([(path1, Mac1), (path2, Mac2)]);
            (_guest1, _guest2) = (booted[0], booted[1]);
            Features1 = await Configure(_guest1, 51);
            Features2 = await Configure(_guest2, 52);

            // Both directions resolved (ARP through the flood, the peer VTEPs' MACs) before any test runs.
            foreach (var (guest, target) in new[] { (_guest1, "10.78.0.52"), (_guest1, "10.78.0.1"), (_guest1, "10.78.0.2") })
            {
                var ping = await guest.RunAsync($"ping -c 1 -w 20 {target}", TimeSpan.FromSeconds(60));
                if (ping.ExitCode != 0)
                {
                    throw new InvalidOperationException($"guest 1 cannot ping {target}: {ping.Output}\n{Story()}");
                }
            }
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>The daemons' logs, for failure messages.</summary>
    internal string Story() => $"--- daemon A ---\n{Topology.HostA.Tail()}\n--- daemon B ---\n{Topology.HostB.Tail()}";

    public async Task DisposeAsync()
    {
        _guest1?.Dispose();
        _guest2?.Dispose();
        await Topology.DisposeAsync();
    }

    private static async Task<string> Configure(QemuGuest guest, int host)
    {
        var timeout = TimeSpan.FromSeconds(60);
        await guest.RunOkAsync(
            $"ip link set eth0 mtu 1450 && sysctl -w net.ipv6.conf.eth0.accept_dad=0 >/dev/null"
            + $" && ip addr add 10.78.0.{host}/24 dev eth0 && ip -6 addr add fd78::{host}/64 dev eth0", timeout);
        return (await guest.RunOkAsync("cat /sys/class/net/eth0/device/features", timeout)).Trim();
    }
}
