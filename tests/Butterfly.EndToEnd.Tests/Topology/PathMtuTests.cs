using System.Globalization;
using System.Security.Cryptography;
using Butterfly.TestKit;
using Butterfly.Wire;
using static Butterfly.EndToEnd.Tests.Topology.Traffic;

namespace Butterfly.EndToEnd.Tests.Topology;

/// <summary>
/// VMs at the usual MTU of 1500 on two hosts, whatever the underlay carries: the issue's "MTU
/// black hole" (ping worked, a 1 MiB TCP transfer never completed). Two daemons in namespaces,
/// af_packet underlays on the two ends of a veth pair, head-end replication; the tap "VMs" a1 and
/// a2 keep their default MTU 1500 and are in an allow-all security group with anti-spoofing on
/// (the firewall carries the traffic; the switch's answers go straight to the sending VM).
///
///   netns a1 (VNI 720)   10.80.0.1 fd80::1              netns a2 (VNI 720)   10.80.0.2 fd80::2
///        │ tap, MTU 1500                                       │ tap, MTU 1500
///   ┌────┴─── netns host A ───────┐                    ┌───────┴── netns host B ─┐
///   │ daemon A: VTEP …1, peer …2  ├─ mgmt: API         │ daemon B: VTEP …2, peer …1 ├─ mgmt: API
///   └──── af_packet ──────────────┘                    └──── af_packet ──────────┘
///              └────────── veth pair "underlay", MTU 1500 or 1600 ────────┘
///
/// - Underlay MTU 1600 (<see cref="WideUnderlayTests"/>): the daemons read it from the interface
///   (IPv6 underlay, and IPv4 on af_xdp ports: the test sets the veth's MTU) or set it there
///   themselves past DPDK's 1500 cap for af_packet (IPv4 underlay: --nic-mtu 1600, the veth left
///   at 1500); full-size frames cross whole, nobody is answered.
/// - Underlay MTU 1500 (<see cref="PathMtuDiscoveryTests"/>): a full-size frame does not fit once
///   encapsulated; the sending VM gets ICMP "fragmentation needed" / ICMPv6 "packet too big" with
///   1450 (IPv4 underlay) or 1430 (IPv6), which its kernel shows (ping) and learns (ip route get),
///   the daemon counts it (encap_too_big_icmp_sent), and TCP completes through path-MTU discovery.
///   IPv4 without DF is fragmented by the switch instead.
/// Every 1 MiB transfer is random bytes compared by SHA-256 on arrival, over IPv4 and IPv6 inside.
/// </summary>
public abstract class PathMtuTests(PathMtuTopology topology)
{
    protected PathMtuTopology Topology { get; } = topology;

    [Theory]
    [InlineData(4)]
    [InlineData(6)]
    public async Task A_vm_at_mtu_1500_sends_1_MiB_over_tcp_to_a_vm_on_the_other_host(int family)
    {
        var (a1, a2) = (Topology.A1, Topology.A2);
        var target = family == 4 ? a2.Ipv4 : a2.Ipv6;
        AssertOk(PingEventually(a1, target), $"ping a1 → {target} first");

        var (sent, received) = await Topology.SendMiB(a1, a2, family, 5800 + family);

        Assert.True(sent == received, $"a2 got {received}, a1 sent {sent}\n{Topology.Story()}");
    }

    [Fact]
    public void Both_daemons_run_on_the_underlay_mtu_the_interface_carries()
    {
        foreach (var daemon in new[] { Topology.HostA, Topology.HostB })
        {
            Assert.Contains($"underlay MTU {Topology.UnderlayMtu} (interface underlay, {Topology.Driver})", daemon.StandardError, StringComparison.Ordinal);
            var link = NetworkNamespaces.Exec(daemon.NetworkNamespace!, "ip", "link", "show", "dev", "underlay");
            Assert.Contains($" mtu {Topology.UnderlayMtu} ", link.Output, StringComparison.Ordinal);
        }
    }
}

/// <summary>An underlay that carries 1600 bytes: VM frames of 1514 bytes fit once encapsulated.</summary>
public abstract class WideUnderlayTests(PathMtuTopology topology) : PathMtuTests(topology)
{
    [Theory]
    [InlineData(4)]
    [InlineData(6)]
    public void Full_size_packets_with_df_cross_whole_and_nobody_is_answered(int family)
    {
        var (a1, a2) = (Topology.A1, Topology.A2);
        var target = family == 4 ? a2.Ipv4 : a2.Ipv6;
        AssertOk(PingEventually(a1, target), $"ping a1 → {target} first");

        // 1500 bytes of IP, DF (IPv6 is never fragmented on the way).
        AssertOk(PathMtuTopology.PingDf(a1, target, family, count: 3), $"ping -M do of 1500 bytes a1 → {target}");

        Assert.Null(PathMtuTopology.LearnedMtu(a1, target, family));
        foreach (var daemon in new[] { Topology.HostA, Topology.HostB })
        {
            Assert.Equal(0UL, PathMtuTopology.Drops(daemon, "encap_too_big", "encap_too_big_icmp_sent", "encap_too_big_rate_limited"));
        }
    }
}

/// <summary>An underlay that carries 1500 bytes: VMs at MTU 1500 learn the path MTU from the switch.</summary>
public abstract class PathMtuDiscoveryTests(PathMtuTopology topology) : PathMtuTests(topology)
{
    [Theory]
    [InlineData(4)]
    [InlineData(6)]
    public void The_sending_vm_is_told_the_path_mtu_by_icmp_and_learns_it(int family)
    {
        var (a1, a2) = (Topology.A1, Topology.A2);
        var target = family == 4 ? a2.Ipv4 : a2.Ipv6;
        AssertOk(PingEventually(a1, target), $"ping a1 → {target} first");
        PathMtuTopology.ForgetPathMtu(a1, family);
        var before = PathMtuTopology.Drops(Topology.HostA, "encap_too_big_icmp_sent");

        var ping = PathMtuTopology.PingDf(a1, target, family, count: 1);

        // The kernel of a1 took the switch's answer (its checksums verify, it quotes a1's echo
        // request) and shows it: iputils prints the type and the MTU field.
        var mtu = Topology.InnerMtu.ToString(CultureInfo.InvariantCulture);
        var expected = family == 4 ? $"Frag needed and DF set (mtu = {mtu})" : $"Packet too big: mtu={mtu}";
        Assert.False(ping.Ok, ping.Output);
        Assert.Contains(expected, ping.Output, StringComparison.Ordinal);
        Assert.Contains($"From {target} ", ping.Output, StringComparison.Ordinal);
        // ... and learned the path MTU towards a2.
        Assert.Equal(Topology.InnerMtu, PathMtuTopology.LearnedMtu(a1, target, family));
        Assert.True(PathMtuTopology.Drops(Topology.HostA, "encap_too_big_icmp_sent") > before, "daemon A counts the answer");

        // Now within the path MTU, DF packets of the largest size that fits cross.
        AssertOk(PathMtuTopology.PingDf(a1, target, family, count: 1, ipLength: Topology.InnerMtu), $"ping -M do of {mtu} bytes");
    }

    [Fact]
    public void Ipv4_without_df_is_fragmented_by_the_switches_both_ways()
    {
        var (a1, a2) = (Topology.A1, Topology.A2);
        AssertOk(PingEventually(a1, a2.Ipv4), "ping a1 → a2 first");
        // Neither kernel may cut the datagrams itself from a path MTU learned earlier.
        PathMtuTopology.ForgetPathMtu(a1, 4);
        PathMtuTopology.ForgetPathMtu(a2, 4);
        var before = PathMtuTopology.Drops(Topology.HostA, "encap_too_big", "encap_too_big_icmp_sent", "encap_too_big_rate_limited")
            + PathMtuTopology.Drops(Topology.HostB, "encap_too_big", "encap_too_big_icmp_sent", "encap_too_big_rate_limited");

        // 1500-byte echo requests without DF; Linux answers echoes without DF too.
        var ping = NetworkNamespaces.Exec(a1.Namespace, "ping", "-c", "3", "-i", "0.3", "-W", "2", "-M", "dont", "-s", "1472", a2.Ipv4);

        AssertOk(ping, "ping -M dont of 1500 bytes a1 → a2");
        Assert.Null(PathMtuTopology.LearnedMtu(a1, a2.Ipv4, 4));
        var after = PathMtuTopology.Drops(Topology.HostA, "encap_too_big", "encap_too_big_icmp_sent", "encap_too_big_rate_limited")
            + PathMtuTopology.Drops(Topology.HostB, "encap_too_big", "encap_too_big_icmp_sent", "encap_too_big_rate_limited");
        Assert.Equal(before, after);
    }
}

/// <summary>IPv4 underlay of 1600, set by the daemons themselves (--nic-mtu 1600 on af_packet, past ethdev's 1500).</summary>
[Collection(EndToEndCollection.Name)]
public sealed class WideUnderlayIpv4Tests(WideIpv4Underlay topology) : WideUnderlayTests(topology), IClassFixture<WideIpv4Underlay>;

/// <summary>IPv6 underlay of 1600, set on the veth by the test and read by the daemons.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class WideUnderlayIpv6Tests(WideIpv6Underlay topology) : WideUnderlayTests(topology), IClassFixture<WideIpv6Underlay>;

/// <summary>IPv4 underlay of 1600 on af_xdp ports, set on the veth by the test and read by the daemons.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class WideUnderlayAfXdpTests(WideAfXdpUnderlay topology) : WideUnderlayTests(topology), IClassFixture<WideAfXdpUnderlay>;

/// <summary>IPv4 underlay of 1500: VMs are told 1450.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class PathMtuDiscoveryIpv4Tests(NarrowIpv4Underlay topology) : PathMtuDiscoveryTests(topology), IClassFixture<NarrowIpv4Underlay>;

/// <summary>IPv6 underlay of 1500: VMs are told 1430.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class PathMtuDiscoveryIpv6Tests(NarrowIpv6Underlay topology) : PathMtuDiscoveryTests(topology), IClassFixture<NarrowIpv6Underlay>;

public sealed class WideIpv4Underlay() : PathMtuTopology("192.0.2.1", "192.0.2.2", 1600, viaNicMtu: true);

public sealed class WideIpv6Underlay() : PathMtuTopology("2001:db8:80::1", "2001:db8:80::2", 1600, viaNicMtu: false);

public sealed class WideAfXdpUnderlay() : PathMtuTopology("192.0.2.1", "192.0.2.2", 1600, viaNicMtu: false, "net_af_xdp0,start_queue=0,queue_count=1,iface=");

public sealed class NarrowIpv4Underlay() : PathMtuTopology("192.0.2.1", "192.0.2.2", 1500, viaNicMtu: false);

public sealed class NarrowIpv6Underlay() : PathMtuTopology("2001:db8:80::1", "2001:db8:80::2", 1500, viaNicMtu: false);

/// <summary>
/// The two hosts, daemons, veth underlay and VMs of <see cref="PathMtuTests"/>. The underlay's MTU
/// is <paramref name="underlayMtu"/>: given to the daemons with --nic-mtu when
/// <paramref name="viaNicMtu"/>, else set on both veth ends before they start. <paramref name="vdev"/>
/// is each daemon's underlay port, completed with the name of its veth end.
/// </summary>
public abstract class PathMtuTopology(string vtepA, string vtepB, int underlayMtu, bool viaNicMtu, string vdev = "net_af_packet0,iface=") : IAsyncLifetime
{
    private const uint Vni = 720;
    private const string Underlay = "underlay";
    private static readonly TimeSpan TransferTimeout = TimeSpan.FromSeconds(180);

    private readonly NetworkNamespaces _namespaces = new();
    private readonly string _id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private DaemonProcess? _hostA;
    private DaemonProcess? _hostB;

    public Vm A1 { get; private set; } = null!;

    public Vm A2 { get; private set; } = null!;

    public DaemonProcess HostA => _hostA ?? throw new InvalidOperationException("the topology is not up");

    public DaemonProcess HostB => _hostB ?? throw new InvalidOperationException("the topology is not up");

    public int UnderlayMtu => underlayMtu;

    /// <summary>The PMD of the underlay ports (net_af_packet, net_af_xdp).</summary>
    public string Driver => vdev[..vdev.IndexOf('0', StringComparison.Ordinal)];

    /// <summary>The path MTU the VMs should learn: the underlay's less 50 (IPv4 VTEPs) or 70 (IPv6) bytes of headers.</summary>
    public int InnerMtu => underlayMtu - (vtepA.Contains(':', StringComparison.Ordinal) ? 70 : 50);

    public async Task InitializeAsync()
    {
        try
        {
            var (hostA, hostB) = (_namespaces.CreateHost("hosta"), _namespaces.CreateHost("hostb"));
            Check(NetworkNamespaces.Run("ip", "link", "add", Underlay, "netns", hostA.Name, "type", "veth", "peer", "name", Underlay, "netns", hostB.Name),
                "create the veth underlay");
            foreach (var host in new[] { hostA, hostB })
            {
                if (!viaNicMtu)
                {
                    Check(NetworkNamespaces.Exec(host.Name, "ip", "link", "set", "dev", Underlay, "mtu", underlayMtu.ToString(CultureInfo.InvariantCulture)),
                        $"set the underlay MTU in {host.Name}");
                }
                NetworkNamespaces.BringUpQuietly(host.Name, Underlay);
            }
            _hostA = await StartHost(hostA, vtepA, vtepB, "a");
            _hostB = await StartHost(hostB, vtepB, vtepA, "b");
            A1 = AddVm(_hostA, "a1", 1);
            A2 = AddVm(_hostB, "a2", 2);
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            foreach (var daemon in new[] { _hostA, _hostB })
            {
                if (daemon is not null)
                {
                    await daemon.DisposeAsync();
                }
            }
        }
        finally
        {
            _namespaces.Dispose();
        }
    }

    /// <summary>The daemons' logs, for failure messages.</summary>
    public string Story() => $"--- daemon A ---\n{HostA.Tail()}\n--- daemon B ---\n{HostB.Tail()}";

    /// <summary>
    /// Sends 1 MiB of fresh random bytes over TCP from <paramref name="client"/> to a socat sink in
    /// <paramref name="server"/>; returns the SHA-256 of what was sent and of what arrived.
    /// </summary>
    public async Task<(string Sent, string Received)> SendMiB(Vm client, Vm server, int family, int port)
    {
        var data = RandomNumberGenerator.GetBytes(1 << 20);
        var file = Path.Combine(Path.GetTempPath(), $"bfmtu-{_id}-{port}.bin");
        await File.WriteAllBytesAsync(file, data);
        var p = port.ToString(CultureInfo.InvariantCulture);
        using var sink = NetworkNamespaces.Start(server.Namespace, "socat", "-u", $"TCP{family}-LISTEN:{p},reuseaddr", "STDOUT");
        try
        {
            var hashing = Task.Run(() => SHA256.HashData(sink.StandardOutput.BaseStream));
            var address = family == 4 ? server.Ipv4 : $"[{server.Ipv6}]";
            // Retried while the sink comes up; bounded, so a black hole fails the test instead of hanging it.
            var send = await Task.Run(() => NetworkNamespaces.Exec(client.Namespace, "timeout", "150", "sh", "-c",
                $"for i in $(seq 40); do socat -u OPEN:{file} TCP{family}:{address}:{p} && exit 0; sleep 0.25; done; exit 1"));
            Assert.True(send.Ok, $"socat {client.Name} → {address}:{p} failed ({send.Code}): {send.Output}\n{Story()}");
            var received = Convert.ToHexStringLower(await hashing.WaitAsync(TransferTimeout));
            return (Convert.ToHexStringLower(SHA256.HashData(data)), received);
        }
        finally
        {
            if (!sink.HasExited)
            {
                sink.Kill(entireProcessTree: true);
            }
            await sink.WaitForExitAsync();
            File.Delete(file);
        }
    }

    /// <summary>Echo requests of <paramref name="ipLength"/> bytes of IP (1500 by default) with DF / IPv6 PMTU discovery on.</summary>
    internal static CommandResult PingDf(Vm source, string target, int family, int count, int ipLength = 1500)
    {
        var payload = ipLength - (family == 4 ? 28 : 48);
        return NetworkNamespaces.Exec(source.Namespace, "ping", $"-{family}", "-c", count.ToString(CultureInfo.InvariantCulture),
            "-i", "0.3", "-W", "2", "-M", "do", "-s", payload.ToString(CultureInfo.InvariantCulture), target);
    }

    /// <summary>The path MTU the VM's kernel learned towards <paramref name="target"/> ("mtu N" in ip route get), or null.</summary>
    internal static int? LearnedMtu(Vm source, string target, int family)
    {
        var route = NetworkNamespaces.Exec(source.Namespace, "ip", $"-{family}", "route", "get", target);
        Check(route, $"ip route get {target} in {source.Name}");
        var words = route.Output.Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var at = Array.IndexOf(words, "mtu");
        return at >= 0 && at + 1 < words.Length ? int.Parse(words[at + 1], CultureInfo.InvariantCulture) : null;
    }

    /// <summary>Makes the VM's kernel forget the path MTUs it learned (their route exceptions).</summary>
    internal static void ForgetPathMtu(Vm vm, int family) =>
        Check(NetworkNamespaces.Exec(vm.Namespace, "ip", $"-{family}", "route", "flush", "cache"), $"flush the route cache of {vm.Name}");

    /// <summary>The packet thread's drops of <paramref name="reasons"/>, summed, from the daemon's statistics.</summary>
    internal static ulong Drops(DaemonProcess daemon, params string[] reasons)
    {
        using var client = daemon.CreateClient();
        var stats = client.CallOk(new MessageV0.Types.Request { PacketThreadStats = new MessageV0.Types.PacketThreadStatsReq() }).PacketThreadStats;
        return stats.Drop.Where(d => reasons.Contains(d.Reason)).Aggregate(0UL, (sum, d) => sum + d.Frames);
    }

    private async Task<DaemonProcess> StartHost(HostNamespace host, string vtep, string peer, string role)
    {
        List<string> args = ["--vxlan-peer", peer];
        if (viaNicMtu)
        {
            args.AddRange(["--nic-mtu", underlayMtu.ToString(CultureInfo.InvariantCulture)]);
        }
        return await DaemonProcess.StartAsync(new DaemonStartOptions
        {
            DpdkArgs = $"--no-huge -m 256 --no-pci --file-prefix bfmtu{_id}{role} --vdev={vdev}{Underlay}",
            Ip = vtep,
            ExtraArgs = args,
            NetworkNamespace = host.Name,
            ApiAddress = host.ApiAddress,
        });
    }

    /// <summary>A tap NIC in the allow-all group with the VM's addresses (anti-spoofing on), moved into a namespace of its own; MTU left at 1500.</summary>
    private Vm AddVm(DaemonProcess daemon, string name, int host)
    {
        var vm = new Vm(name, $"bft{daemon.Port}{name}", $"52:54:00:80:00:{host:x2}", _namespaces.Create(name),
            $"10.80.0.{host}", $"fd80::{host}");
        using var client = daemon.CreateClient();
        client.CallOk(Requests.SgAddOpen());
        client.CallOk(Requests.NicAdd(Requests.Nic(vm.Tap, vm.Mac, Vni, ips: [vm.Ipv4, vm.Ipv6], sgs: [Requests.OpenGroup],
            type: MessageV0.Types.Nic.Types.Type.Tap)));
        _namespaces.Attach(vm.Namespace, vm.Tap, vm.Mac, [vm.Ipv4 + "/24", vm.Ipv6 + "/64"], sourceNetns: daemon.NetworkNamespace);
        var link = NetworkNamespaces.Exec(vm.Namespace, "ip", "link", "show", "dev", vm.Tap);
        if (!link.Output.Contains(" mtu 1500 ", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{vm.Tap} should have the default MTU 1500: {link.Output}");
        }
        return vm;
    }

    private static void Check(CommandResult result, string what)
    {
        if (!result.Ok)
        {
            throw new InvalidOperationException($"{what} failed ({result.Code}): {result.Output}");
        }
    }
}
