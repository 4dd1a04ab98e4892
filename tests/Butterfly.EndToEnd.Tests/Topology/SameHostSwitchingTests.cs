using Butterfly.TestKit;
using Butterfly.Wire;
using static Butterfly.EndToEnd.Tests.Topology.Traffic;

namespace Butterfly.EndToEnd.Tests.Topology;

/// <summary>
/// One daemon, four tap NICs, each moved into its own network namespace (a "VM" with a real
/// Linux IP stack). Three share VNI 700; the fourth is alone in VNI 701 but has an address of
/// the same subnets, so only the switch keeps it apart. Every NIC bypasses filtering, so the
/// tests stay valid once security groups filter the others.
///
///            ┌──────────────────────── butterflyd (host namespace) ───────────────────────┐
///            │   packet thread: switch per VNI          underlay: net_null (receives none)│
///            │   VNI 700: a1, a2, a3                    VNI 701: b                        │
///            └─────┬──────────────────┬──────────────────┬───────────────────┬────────────┘
///              tap │              tap │              tap │               tap │
///        ┌─────────┴──────┐ ┌─────────┴──────┐ ┌─────────┴──────┐  ┌─────────┴──────┐
///        │ netns a1       │ │ netns a2       │ │ netns a3       │  │ netns b        │
///        │ 10.77.0.1/24   │ │ 10.77.0.2/24   │ │ 10.77.0.3/24   │  │ 10.77.0.4/24   │
///        │ fd77::1/64     │ │ fd77::2/64     │ │ fd77::3/64     │  │ fd77::4/64     │
///        └────────────────┘ └────────────────┘ └────────────────┘  └────────────────┘
///          same VNI: ping (IPv4, IPv6 ULA and link-local), TCP, UDP, broadcast ping
///          VNI 701 ↔ 700: nothing, in either direction, broadcast included
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class SameHostSwitchingTests(SameHostTopology topology) : IClassFixture<SameHostTopology>
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 2)]
    [InlineData(2, 0)]
    public void Nics_of_one_vni_ping_each_other_over_ipv4_and_ipv6(int from, int to)
    {
        var (source, target) = (topology.Vms[from], topology.Vms[to]);

        AssertOk(Ping(source, target.Ipv4), $"IPv4 ping {source.Name} → {target.Name}");
        AssertOk(Ping(source, target.Ipv6), $"IPv6 ping {source.Name} → {target.Name}");
        AssertOk(Ping(source, $"{topology.LinkLocalOf(target)}%{source.Tap}"), $"IPv6 link-local ping {source.Name} → {target.Name}");
    }

    [Fact]
    public async Task A_tcp_exchange_over_ipv6_and_a_udp_exchange_over_ipv4_work()
    {
        var (client, server) = (topology.Vms[0], topology.Vms[2]);

        var tcp = await Exchange(server, ["TCP6-LISTEN:5700,reuseaddr", "SYSTEM:cat"], client, $"TCP6:[{server.Ipv6}]:5700", "hello over tcp");
        Assert.True(tcp.Output.Contains("hello over tcp", StringComparison.Ordinal), $"TCP echo: {tcp}");

        var udp = await Exchange(server, ["UDP4-RECVFROM:5701", "SYSTEM:cat"], client, $"UDP4:{server.Ipv4}:5701", "hello over udp");
        Assert.True(udp.Output.Contains("hello over udp", StringComparison.Ordinal), $"UDP echo: {udp}");
    }

    [Fact]
    public void A_broadcast_ping_reaches_the_other_nics_of_the_vni_and_not_the_other_vni()
    {
        var result = NetworkNamespaces.Exec(topology.Vms[0].Namespace, "ping", "-b", "-c", "3", "-i", "0.3", "-W", "2", "10.77.0.255");

        AssertOk(result, "broadcast ping from a1");
        Assert.Contains("from 10.77.0.2:", result.Output, StringComparison.Ordinal);
        Assert.Contains("from 10.77.0.3:", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("from 10.77.0.4:", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_nic_of_another_vni_reaches_nothing_and_is_reached_by_nothing()
    {
        var isolated = topology.Isolated;
        var before = topology.Stats(isolated);

        foreach (var vm in topology.Vms)
        {
            Assert.False(Ping(isolated, vm.Ipv4, count: 2).Ok, $"{isolated.Name} → {vm.Name} over IPv4");
            Assert.False(Ping(isolated, vm.Ipv6, count: 2).Ok, $"{isolated.Name} → {vm.Name} over IPv6");
            Assert.False(Ping(vm, isolated.Ipv4, count: 2).Ok, $"{vm.Name} → {isolated.Name} over IPv4");
        }
        // b answers its own broadcast ping through loopback; nobody else may.
        var broadcast = NetworkNamespaces.Exec(isolated.Namespace, "ping", "-b", "-c", "2", "-W", "1", "10.77.0.255");
        foreach (var vm in topology.Vms)
        {
            Assert.DoesNotContain($"from {vm.Ipv4}:", broadcast.Output, StringComparison.Ordinal);
        }

        // It did send (ARP, NS, broadcasts): the switch got its frames and delivered none, and
        // nothing of VNI 700's traffic (ARP and ND broadcasts and multicasts included) reached it.
        var after = topology.Stats(isolated);
        Assert.True(after.In > before.In, $"nic_stats in of {isolated.Name}: {before.In} → {after.In}");
        Assert.Equal(0UL, after.Out);
    }

    [Fact]
    public void Nic_stats_count_bytes_both_ways_on_both_sides()
    {
        var (a, b) = (topology.Vms[0], topology.Vms[1]);
        var (beforeA, beforeB) = (topology.Stats(a), topology.Stats(b));

        AssertOk(Ping(a, b.Ipv4, count: 5), "ping a1 → a2");

        var (afterA, afterB) = (topology.Stats(a), topology.Stats(b));
        // Five 98-byte echo requests one way, five replies the other.
        Assert.True(afterA.In >= beforeA.In + (5 * 98), $"a1 in: {beforeA.In} → {afterA.In}");
        Assert.True(afterA.Out >= beforeA.Out + (5 * 98), $"a1 out: {beforeA.Out} → {afterA.Out}");
        Assert.True(afterB.In >= beforeB.In + (5 * 98), $"a2 in: {beforeB.In} → {afterB.In}");
        Assert.True(afterB.Out >= beforeB.Out + (5 * 98), $"a2 out: {beforeB.Out} → {afterB.Out}");
    }
}

/// <summary>A tap NIC in its namespace.</summary>
public sealed record Vm(string Name, string Tap, string Mac, string Namespace, string Ipv4, string Ipv6);

/// <summary>The daemon, its NICs and their namespaces of <see cref="SameHostSwitchingTests"/>, made once for the class.</summary>
public sealed class SameHostTopology : IAsyncLifetime
{
    private const uint Vni = 700;
    private const uint OtherVni = 701;

    private readonly NetworkNamespaces _namespaces = new();
    private DaemonProcess? _daemon;

    /// <summary>a1, a2, a3: VNI 700.</summary>
    public IReadOnlyList<Vm> Vms { get; private set; } = [];

    /// <summary>b: VNI 701.</summary>
    public Vm Isolated { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        try
        {
            _daemon = await DaemonProcess.StartAsync();
            using var client = _daemon.CreateClient();
            var vms = new List<Vm>();
            for (var i = 1; i <= 4; i++)
            {
                var name = i < 4 ? $"a{i}" : "b";
                var vm = new Vm(name, $"bft{_daemon.Port}{name}", $"52:54:00:77:00:0{i}", _namespaces.Create(name),
                    $"10.77.0.{i}", $"fd77::{i}");
                var nic = Requests.Nic(vm.Tap, vm.Mac, i < 4 ? Vni : OtherVni, type: MessageV0.Types.Nic.Types.Type.Tap);
                nic.BypassFiltering = true;
                client.CallOk(Requests.NicAdd(nic));
                _namespaces.Attach(vm.Namespace, vm.Tap, vm.Mac, [vm.Ipv4 + "/24", vm.Ipv6 + "/64"]);
                // Answer broadcast pings, so a broadcast that leaked across VNIs would show.
                _ = NetworkNamespaces.Exec(vm.Namespace, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_broadcasts=0");
                vms.Add(vm);
            }
            Vms = vms.Take(3).ToList();
            Isolated = vms[3];
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>The link-local address the kernel gave a VM's interface, once it is usable (not tentative).</summary>
    public string LinkLocalOf(Vm vm)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var shown = NetworkNamespaces.Exec(vm.Namespace, "ip", "-6", "-o", "address", "show", "dev", vm.Tap, "scope", "link").Output;
            var address = shown.Split(' ', StringSplitOptions.RemoveEmptyEntries).SkipWhile(w => w != "inet6").Skip(1).FirstOrDefault();
            if (address is not null && !shown.Contains("tentative", StringComparison.Ordinal))
            {
                return address.Split('/')[0];
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{vm.Tap} in {vm.Namespace} has no usable link-local address: {shown}");
            }
            Thread.Sleep(100);
        }
    }

    /// <summary>nic_stats of a VM's NIC.</summary>
    public MessageV0.Types.NicStats Stats(Vm vm)
    {
        using var client = _daemon!.CreateClient();
        return client.CallOk(Requests.NicStats(vm.Tap)).NicStats;
    }

    /// <summary>The daemon first: its taps go with it, then the namespaces are empty.</summary>
    public async Task DisposeAsync()
    {
        try
        {
            if (_daemon is not null)
            {
                await _daemon.DisposeAsync();
            }
        }
        finally
        {
            _namespaces.Dispose();
        }
    }
}
