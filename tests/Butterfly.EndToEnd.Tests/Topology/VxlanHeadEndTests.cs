using System.Globalization;
using System.Security.Cryptography;
using Butterfly.TestKit;
using Butterfly.Wire;
using static Butterfly.EndToEnd.Tests.Topology.Traffic;

namespace Butterfly.EndToEnd.Tests.Topology;

/// <summary>
/// Two hosts, each a network namespace running a daemon, joined by VXLAN with head-end
/// replication, once over an IPv4 underlay and once over IPv6: each daemon's underlay is an
/// af_packet port (af_xdp in <see cref="VxlanHeadEndAfXdpTests"/>) on its end of a veth pair
/// between the two namespaces (the VTEP addresses,
/// 192.0.2.1/.2 or 2001:db8:78::1/2, live only inside the daemons, the kernels never route
/// them) and each names the other with --vxlan-peer. Each daemon's API listens on a management
/// veth to the test's namespace. The daemons make their tap NICs in their hosts' namespaces;
/// they are moved on into per-"VM" namespaces with real Linux IP stacks. NICs bypass filtering.
///
///   netns a1 (VNI 710)                          netns a2 (VNI 710)   netns x (VNI 711)
///   10.78.0.1 fd78::1                           10.78.0.2 fd78::2    10.78.0.9 fd78::9
///        │ tap                                        │ tap               │ tap
///   ┌────┴──────── netns host A ─┐              ┌─────┴─── netns host B ──┴──┐
///   │ daemon A: VTEP …1, peer …2 ├─ mgmt: API   │ daemon B: VTEP …2, peer …1 ├─ mgmt: API
///   └──── af_packet ─────────────┘              └──── af_packet ─────────────┘
///              └───────────────── veth pair ─────────────┘
///
/// a1 ↔ a2: ARP/ND floods are replicated to the peer, the replies come back through learned
/// MACs; ping, TCP and UDP work over IPv4 and IPv6. x (VNI 711, same subnets) reaches nobody.
/// </summary>
public abstract class VxlanHeadEndTests(VxlanTopology topology)
{
    [Fact]
    public void Nics_of_one_vni_on_two_daemons_ping_each_other_over_ipv4_and_ipv6()
    {
        var (a1, a2) = (topology.A1, topology.A2);

        // The first frames towards a peer VTEP may be lost while its MAC is resolved on the underlay.
        AssertOk(PingEventually(a1, a2.Ipv4), "IPv4 ping a1 → a2 (first)");
        AssertOk(Ping(a1, a2.Ipv4), "IPv4 ping a1 → a2");
        AssertOk(Ping(a2, a1.Ipv4), "IPv4 ping a2 → a1");
        AssertOk(PingEventually(a2, a1.Ipv6), "IPv6 ping a2 → a1 (first)");
        AssertOk(Ping(a1, a2.Ipv6), "IPv6 ping a1 → a2");
    }

    [Fact]
    public async Task Tcp_over_ipv4_and_udp_over_ipv6_cross_the_tunnel()
    {
        var (client, server) = (topology.A1, topology.A2);
        AssertOk(PingEventually(client, server.Ipv4), "IPv4 ping before TCP");

        var tcp = await Exchange(server, ["TCP4-LISTEN:5710,reuseaddr", "SYSTEM:cat"], client, $"TCP4:{server.Ipv4}:5710", "hello over vxlan tcp");
        Assert.True(tcp.Output.Contains("hello over vxlan tcp", StringComparison.Ordinal), $"TCP echo: {tcp}");

        var udp = await Exchange(server, ["UDP6-RECVFROM:5711", "SYSTEM:cat"], client, $"UDP6:[{server.Ipv6}]:5711", "hello over vxlan udp");
        Assert.True(udp.Output.Contains("hello over vxlan udp", StringComparison.Ordinal), $"UDP echo: {udp}");
    }

    [Fact]
    public void A_nic_of_another_vni_reaches_nothing_across_the_tunnel_or_on_its_host()
    {
        var (a1, a2, x) = (topology.A1, topology.A2, topology.X);
        AssertOk(PingEventually(a1, a2.Ipv4), "IPv4 ping a1 → a2 (the tunnel works)");
        var before = topology.Stats(x);

        foreach (var vm in new[] { a1, a2 })
        {
            Assert.False(Ping(x, vm.Ipv4, count: 2).Ok, $"x → {vm.Name} over IPv4");
            Assert.False(Ping(x, vm.Ipv6, count: 2).Ok, $"x → {vm.Name} over IPv6");
            Assert.False(Ping(vm, x.Ipv4, count: 2).Ok, $"{vm.Name} → x over IPv4");
        }

        // x did send (ARP, NS): its daemon took the frames and delivered nothing of VNI 710 to it.
        var after = topology.Stats(x);
        Assert.True(after.In > before.In, $"nic_stats in of x: {before.In} → {after.In}");
        Assert.Equal(0UL, after.Out);
    }

    [Fact]
    public void Nic_stats_grow_on_both_daemons()
    {
        var (a1, a2) = (topology.A1, topology.A2);
        AssertOk(PingEventually(a1, a2.Ipv4), "IPv4 ping a1 → a2 (first)");
        var (beforeA1, beforeA2) = (topology.Stats(a1), topology.Stats(a2));

        AssertOk(Ping(a1, a2.Ipv4, count: 5), "ping a1 → a2");

        var (afterA1, afterA2) = (topology.Stats(a1), topology.Stats(a2));
        // Five 98-byte echo requests one way, five replies the other, each once through the tunnel.
        Assert.True(afterA1.In >= beforeA1.In + (5 * 98), $"a1 in: {beforeA1.In} → {afterA1.In}");
        Assert.True(afterA1.Out >= beforeA1.Out + (5 * 98), $"a1 out: {beforeA1.Out} → {afterA1.Out}");
        Assert.True(afterA2.In >= beforeA2.In + (5 * 98), $"a2 in: {beforeA2.In} → {afterA2.In}");
        Assert.True(afterA2.Out >= beforeA2.Out + (5 * 98), $"a2 out: {beforeA2.Out} → {afterA2.Out}");
    }
}

/// <summary>Over an IPv4 underlay.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class VxlanHeadEndIpv4Tests(VxlanIpv4Topology topology) : VxlanHeadEndTests(topology), IClassFixture<VxlanIpv4Topology>;

/// <summary>Over an IPv6 underlay (ND instead of ARP, UDP checksums on the outer headers).</summary>
[Collection(EndToEndCollection.Name)]
public sealed class VxlanHeadEndIpv6Tests(VxlanIpv6Topology topology) : VxlanHeadEndTests(topology), IClassFixture<VxlanIpv6Topology>;

/// <summary>
/// Over an IPv4 underlay whose ports are af_xdp sockets on the veth ends instead of af_packet
/// (the other Linux-interface PMD an operator may give with --dpdk-args).
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class VxlanHeadEndAfXdpTests(VxlanAfXdpTopology topology) : VxlanHeadEndTests(topology), IClassFixture<VxlanAfXdpTopology>
{
    [Fact]
    public void Both_daemons_run_their_underlay_on_an_af_xdp_port()
    {
        foreach (var daemon in new[] { topology.HostA, topology.HostB })
        {
            Assert.Contains("data path started: underlay net_af_xdp0 (port 0)", daemon.StandardError, StringComparison.Ordinal);
        }
    }
}

/// <summary>IPv4 VTEPs; inner MTU 1450 (the underlay's 1500 minus 50 bytes of headers).</summary>
public sealed class VxlanIpv4Topology() : VxlanTopology("192.0.2.1", "192.0.2.2", "1450");

/// <summary>IPv4 VTEPs on af_xdp underlay ports (one queue; libxdp loads its program on the veth).</summary>
public sealed class VxlanAfXdpTopology() : VxlanTopology("192.0.2.1", "192.0.2.2", "1450", "net_af_xdp0,start_queue=0,queue_count=1,iface=");

/// <summary>IPv6 VTEPs; inner MTU 1430 (the underlay's 1500 minus 70 bytes of headers).</summary>
public sealed class VxlanIpv6Topology() : VxlanTopology("2001:db8:78::1", "2001:db8:78::2", "1430");

/// <summary>
/// The veth underlay, the two daemons, their NICs and namespaces of <see cref="VxlanHeadEndTests"/>.
/// <paramref name="underlayVdev"/> is the --vdev of each daemon's underlay port, completed with
/// the name of its veth end.
/// </summary>
public abstract class VxlanTopology(string vtepA, string vtepB, string innerMtu, string underlayVdev = "net_af_packet0,iface=") : IAsyncLifetime
{
    private const uint Vni = 710;
    private const uint OtherVni = 711;

    /// <summary>The name of each host's end of the veth underlay, inside its namespace.</summary>
    private const string Underlay = "underlay";

    private readonly NetworkNamespaces _namespaces = new();
    private readonly string _id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly List<(DaemonProcess Daemon, Vm Vm)> _nics = [];
    private DaemonProcess? _hostA;
    private DaemonProcess? _hostB;

    public Vm A1 { get; private set; } = null!;

    public Vm A2 { get; private set; } = null!;

    public Vm X { get; private set; } = null!;

    /// <summary>The daemon of A1 (VTEP vtepA), for tests that add NICs of their own (Vm/CrossHostVmTests).</summary>
    public DaemonProcess HostA => _hostA ?? throw new InvalidOperationException("the topology is not up");

    /// <summary>The daemon of A2 and X (VTEP vtepB).</summary>
    public DaemonProcess HostB => _hostB ?? throw new InvalidOperationException("the topology is not up");

    public async Task InitializeAsync()
    {
        try
        {
            var (hostA, hostB) = (_namespaces.CreateHost("hosta"), _namespaces.CreateHost("hostb"));
            // Both ends are made in their hosts' namespaces: the veth goes away with them.
            Check(NetworkNamespaces.Run("ip", "link", "add", Underlay, "netns", hostA.Name, "type", "veth", "peer", "name", Underlay, "netns", hostB.Name),
                "create the veth underlay");
            NetworkNamespaces.BringUpQuietly(hostA.Name, Underlay);
            NetworkNamespaces.BringUpQuietly(hostB.Name, Underlay);
            _hostA = await StartHost(hostA, vtepA, vtepB, "a");
            _hostB = await StartHost(hostB, vtepB, vtepA, "b");
            A1 = AddNic(_hostA, "a1", Vni, 1);
            A2 = AddNic(_hostB, "a2", Vni, 2);
            X = AddNic(_hostB, "x", OtherVni, 9);
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>nic_stats of a VM's NIC, from the daemon that has it.</summary>
    public MessageV0.Types.NicStats Stats(Vm vm)
    {
        var daemon = _nics.First(n => n.Vm == vm).Daemon;
        using var client = daemon.CreateClient();
        return client.CallOk(Requests.NicStats(vm.Tap)).NicStats;
    }

    /// <summary>The daemons first (their taps go with them), then the namespaces with the veth pair and the management links.</summary>
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

    private async Task<DaemonProcess> StartHost(HostNamespace host, string vtep, string peer, string role) =>
        await DaemonProcess.StartAsync(new DaemonStartOptions
        {
            DpdkArgs = $"--no-huge -m 256 --no-pci --file-prefix bfvx{_id}{role} --vdev={underlayVdev}{Underlay}",
            Ip = vtep,
            ExtraArgs = ["--vxlan-peer", peer],
            NetworkNamespace = host.Name,
            ApiAddress = host.ApiAddress,
        });

    private Vm AddNic(DaemonProcess daemon, string name, uint vni, int host)
    {
        var vm = new Vm(name, $"bft{daemon.Port}{name}", $"52:54:00:78:00:{host:x2}", _namespaces.Create(name),
            $"10.78.0.{host}", $"fd78::{host}");
        using var client = daemon.CreateClient();
        var nic = Requests.Nic(vm.Tap, vm.Mac, vni, type: MessageV0.Types.Nic.Types.Type.Tap);
        nic.BypassFiltering = true;
        client.CallOk(Requests.NicAdd(nic));
        _nics.Add((daemon, vm));
        _namespaces.Attach(vm.Namespace, vm.Tap, vm.Mac, [vm.Ipv4 + "/24", vm.Ipv6 + "/64"], sourceNetns: daemon.NetworkNamespace);
        Check(NetworkNamespaces.Exec(vm.Namespace, "ip", "link", "set", "dev", vm.Tap, "mtu", innerMtu), $"set the MTU of {vm.Tap}");
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
