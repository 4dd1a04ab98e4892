using System.Globalization;
using Butterfly.TestKit;
using Butterfly.Wire;
using static Butterfly.EndToEnd.Tests.Topology.Traffic;

namespace Butterfly.EndToEnd.Tests.Topology;

/// <summary>
/// Three daemons joined by VXLAN (<see cref="ThreeHostFabric"/>): once with multicast flooding
/// over a snooping bridge, once with head-end replication over a routed underlay; each over an
/// IPv4 and an IPv6 underlay. Inside, the "VMs" speak IPv4 and IPv6.
/// </summary>
public abstract class ThreeHostVxlanTests(ThreeHostFabric fabric)
{
    protected ThreeHostFabric Fabric => fabric;

    [Fact]
    public void Each_daemon_runs_in_its_own_host_namespace_and_makes_its_taps_there()
    {
        for (var host = 0; host < 3; host++)
        {
            var (daemon, netns) = (fabric.Host(host), fabric.HostNetns(host));
            // The PID the harness signals is butterflyd itself (ip netns exec execs it), and its
            // network namespace is the one /run/netns/<host> names: `ip netns identify` compares
            // the inodes of /proc/PID/ns/net and of every /run/netns entry.
            Assert.Equal(RepoPaths.Butterflyd, File.ResolveLinkTarget($"/proc/{daemon.Pid}/exe", returnFinalTarget: false)?.FullName);
            Assert.Equal(netns, Kernel.Run("ip", "netns", "identify", daemon.Pid.ToString(CultureInfo.InvariantCulture)).Trim());

            // A tap the daemon makes appears in its host's namespace, never in the test's.
            var tap = $"bft{daemon.Port}probe";
            using var client = daemon.CreateClient();
            var nic = Requests.Nic(tap, $"52:54:00:79:0f:{host:x2}", ThreeHostFabric.Vni, type: MessageV0.Types.Nic.Types.Type.Tap);
            client.CallOk(Requests.NicAdd(nic));
            try
            {
                AssertOk(NetworkNamespaces.Run("ip", "-n", netns, "link", "show", "dev", tap), $"{tap} in {netns}");
                Assert.False(Kernel.InterfaceExists(tap), $"{tap} is in the test's namespace");
            }
            finally
            {
                client.CallOk(Requests.NicDel(tap));
            }
        }
    }

    [Fact]
    public void One_vni_spans_three_hosts_ping_works_between_every_pair_over_ipv4_and_ipv6()
    {
        var (a1, a2, a3) = (fabric.A1, fabric.A2, fabric.A3);

        AssertOk(PingEventually(a1, a2.Ipv4), "IPv4 a1 → a2 (first)");
        AssertOk(PingEventually(a1, a3.Ipv4), "IPv4 a1 → a3 (first)");
        AssertOk(PingEventually(a2, a3.Ipv4), "IPv4 a2 → a3 (first)");
        AssertOk(Ping(a3, a1.Ipv4), "IPv4 a3 → a1");
        AssertOk(PingEventually(a3, a2.Ipv6), "IPv6 a3 → a2 (first)");
        AssertOk(PingEventually(a1, a3.Ipv6), "IPv6 a1 → a3 (first)");
        AssertOk(Ping(a2, a1.Ipv6), "IPv6 a2 → a1");
    }

    [Fact]
    public void No_frame_is_lost_while_a_vtep_or_gateway_mac_is_resolved()
    {
        // Whichever test runs first makes the first contacts: ARP/ND for the peer VTEPs (or the
        // gateway) on the underlay. Frames wait for the answer instead of being dropped.
        AssertOk(Ping(fabric.A1, fabric.A3.Ipv4, count: 1), "IPv4 a1 → a3, one echo");
        AssertOk(Ping(fabric.A3, fabric.A2.Ipv6, count: 1), "IPv6 a3 → a2, one echo");
        AssertOk(Ping(fabric.X, fabric.Y.Ipv4, count: 1), "IPv4 x → y, one echo");
        for (var host = 0; host < 3; host++)
        {
            using var client = fabric.Host(host).CreateClient();
            var stats = client.CallOk(new MessageV0.Types.Request { PacketThreadStats = new MessageV0.Types.PacketThreadStatsReq() }).PacketThreadStats;
            Assert.DoesNotContain(stats.Drop, d => d.Reason == "encap_neighbour_unresolved");
            // Busy rounds never sleep, so each is in the poll-gap histogram (revision 12).
            Assert.Equal(24, stats.PollGaps.Count);
            Assert.True(stats.PollGaps.Aggregate(0UL, (sum, c) => sum + c) >= stats.BusyRounds, $"host {host}: poll gaps {string.Join(',', stats.PollGaps)}, busy rounds {stats.BusyRounds}");
            Assert.True(stats.BusyRounds > 0);
        }
    }

    [Fact]
    public async Task Tcp_over_ipv4_and_udp_over_ipv6_cross_hosts()
    {
        var (a1, a2, a3) = (fabric.A1, fabric.A2, fabric.A3);
        AssertOk(PingEventually(a1, a3.Ipv4), "IPv4 a1 → a3 before TCP");
        AssertOk(PingEventually(a3, a2.Ipv6), "IPv6 a3 → a2 before UDP");

        var tcp = await Exchange(a3, ["TCP4-LISTEN:5790,reuseaddr", "SYSTEM:cat"], a1, $"TCP4:{a3.Ipv4}:5790", "tcp across three hosts");
        Assert.True(tcp.Output.Contains("tcp across three hosts", StringComparison.Ordinal), $"TCP echo: {tcp}");

        var udp = await Exchange(a2, ["UDP6-RECVFROM:5791", "SYSTEM:cat"], a3, $"UDP6:[{a2.Ipv6}]:5791", "udp across three hosts");
        Assert.True(udp.Output.Contains("udp across three hosts", StringComparison.Ordinal), $"UDP echo: {udp}");
    }

    [Fact]
    public void Vnis_are_isolated_across_hosts_in_every_direction_broadcast_included()
    {
        var (a1, a2, x, y, z) = (fabric.A1, fabric.A2, fabric.X, fabric.Y, fabric.Z);
        // VNI 711 works across B and C (so the tunnel carries it) ...
        AssertOk(PingEventually(x, y.Ipv4), "IPv4 x → y in VNI 711");
        AssertOk(PingEventually(y, x.Ipv6), "IPv6 y → x in VNI 711");
        AssertOk(PingEventually(a1, a2.Ipv4), "IPv4 a1 → a2 in VNI 710");
        var zBefore = fabric.Stats(z);

        // ... but never into 710, in either direction, with the same addresses on both sides.
        Assert.False(Ping(x, a1.Ipv4, count: 2).Ok, "x (711) → a1 (710) over IPv4");
        Assert.False(Ping(y, a2.Ipv6, count: 2).Ok, "y (711) → a2 (710) over IPv6");
        Assert.False(Ping(a1, y.Ipv4, count: 2).Ok, "a1 (710) → y (711) over IPv4");
        // z is alone in 712: it reaches nobody, and the ARP/ND broadcasts and multicasts of
        // every other VNI, flooded on every host, never come out of its NIC.
        Assert.False(Ping(z, a2.Ipv4, count: 2).Ok, "z (712) → a2 over IPv4");
        Assert.False(Ping(z, y.Ipv6, count: 2).Ok, "z (712) → y over IPv6");
        Assert.False(NetworkNamespaces.Exec(x.Namespace, "ping", "-b", "-c", "2", "-W", "1", "10.79.0.255").Output.Contains("from 10.79.0.4", StringComparison.Ordinal), "broadcast ping from x answered by z");

        var zAfter = fabric.Stats(z);
        Assert.True(zAfter.In > zBefore.In, $"z did send: in {zBefore.In} → {zAfter.In}");
        Assert.Equal(zBefore.Out, zAfter.Out);
    }
}

/// <summary>Multicast flooding: the joins themselves, seen in the snooping bridge's group table.</summary>
public abstract class ThreeHostMulticastTests(ThreeHostFabric fabric) : ThreeHostVxlanTests(fabric)
{
    [Fact]
    public async Task Each_host_joins_the_group_of_each_of_its_vnis_and_leaves_it_with_its_last_nic()
    {
        string Group(uint vni) => Fabric.Ipv6 ? $"ff00::{vni:x}" : $"230.0.{vni >> 8}.{vni & 0xFF}";

        // 710 on A, B, C; 711 on B, C; 712 on A only.
        await AssertMembers(Group(ThreeHostFabric.Vni), [0, 1, 2]);
        await AssertMembers(Group(ThreeHostFabric.OtherVni), [1, 2]);
        await AssertMembers(Group(ThreeHostFabric.LoneVni), [0]);

        Fabric.RemoveNic(Fabric.Z);
        await AssertMembers(Group(ThreeHostFabric.LoneVni), []);
        Fabric.AddNicAgain(Fabric.Z, ThreeHostFabric.LoneVni);
        await AssertMembers(Group(ThreeHostFabric.LoneVni), [0]);
    }

    /// <summary>Waits (up to 10 s) until the bridge's mdb lists exactly <paramref name="hosts"/>' ports for <paramref name="group"/>.</summary>
    private async Task AssertMembers(string group, int[] hosts)
    {
        var mdb = "";
        for (var attempt = 0; attempt < 50; attempt++)
        {
            mdb = NetworkNamespaces.Run("bridge", "mdb", "show", "dev", Fabric.Bridge).Output;
            var members = Enumerable.Range(0, 3).Where(h => mdb.Contains($"port {Fabric.BridgePort(h)} grp {group} ", StringComparison.Ordinal)).ToArray();
            if (members.SequenceEqual(hosts))
            {
                return;
            }
            await Task.Delay(200);
        }
        Assert.Fail($"group {group}: expected ports of hosts [{string.Join(", ", hosts)}] in the bridge's mdb:\n{mdb}");
    }
}

[Collection(EndToEndCollection.Name)]
public sealed class ThreeHostMulticastIpv4Tests(MulticastIpv4Fabric fabric) : ThreeHostMulticastTests(fabric), IClassFixture<MulticastIpv4Fabric>;

[Collection(EndToEndCollection.Name)]
public sealed class ThreeHostMulticastIpv6Tests(MulticastIpv6Fabric fabric) : ThreeHostMulticastTests(fabric), IClassFixture<MulticastIpv6Fabric>;

[Collection(EndToEndCollection.Name)]
public sealed class ThreeHostRoutedHeadEndIpv4Tests(RoutedIpv4Fabric fabric) : ThreeHostVxlanTests(fabric), IClassFixture<RoutedIpv4Fabric>;

[Collection(EndToEndCollection.Name)]
public sealed class ThreeHostRoutedHeadEndIpv6Tests(RoutedIpv6Fabric fabric) : ThreeHostVxlanTests(fabric), IClassFixture<RoutedIpv6Fabric>;

public sealed class MulticastIpv4Fabric() : ThreeHostFabric(FabricKind.Multicast, ipv6: false);

public sealed class MulticastIpv6Fabric() : ThreeHostFabric(FabricKind.Multicast, ipv6: true);

public sealed class RoutedIpv4Fabric() : ThreeHostFabric(FabricKind.RoutedHeadEnd, ipv6: false);

public sealed class RoutedIpv6Fabric() : ThreeHostFabric(FabricKind.RoutedHeadEnd, ipv6: true);
