using Butterfly.EndToEnd.Tests.Topology;
using Butterfly.TestKit;

namespace Butterfly.EndToEnd.Tests.Vm;

/// <summary>
/// A virtual machine on one daemon reaches a virtual machine on another, through VXLAN with
/// head-end replication. The two daemons and their af_packet veth underlay are those of
/// <see cref="VxlanHeadEndTests"/> (<see cref="VxlanIpv4Topology"/>, reused as it is: its tap
/// NICs of VNI 710/711 stay idle here); each gets one vhost-user NIC in VNI 712.
///
///   guest 1 (52:54:00:79:00:01, 10.79.0.1/24)        guest 2 (52:54:00:79:00:02, 10.79.0.2/24)
///        │ vhost-user NIC vm1, VNI 712                      │ vhost-user NIC vm2, VNI 712
///   daemon A (VTEP 192.0.2.1, peer .2)                daemon B (VTEP 192.0.2.2, peer .1)
///   in netns host A                                   in netns host B
///        └──── af_packet ──────── veth pair ──────── af_packet ─────────┘
///
/// The guest's ARP request is flooded to the peer VTEP; the reply comes back on the learned MAC.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class CrossHostVmTests(VxlanIpv4Topology topology) : IClassFixture<VxlanIpv4Topology>
{
    private const uint Vni = 712;
    private const string Mac1 = "52:54:00:79:00:01";
    private const string Mac2 = "52:54:00:79:00:02";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Guests_on_two_daemons_in_one_vni_ping_each_other_over_vxlan()
    {
        var (hostA, hostB) = (topology.HostA, topology.HostB);
        using var clientA = hostA.CreateClient();
        using var clientB = hostB.CreateClient();
        clientA.CallOk(TestKit.Requests.SgAddOpen());
        clientB.CallOk(TestKit.Requests.SgAddOpen());
        var path1 = clientA.CallOk(TestKit.Requests.NicAdd(TestKit.Requests.Nic("vm1", Mac1, Vni, sgs: [TestKit.Requests.OpenGroup]))).NicAdd.Path;
        var path2 = clientB.CallOk(TestKit.Requests.NicAdd(TestKit.Requests.Nic("vm2", Mac2, Vni, sgs: [TestKit.Requests.OpenGroup]))).NicAdd.Path;

        var guests = await QemuGuest.BootAllAsync([(path1, Mac1), (path2, Mac2)]);
        await using var guest1 = guests[0];
        await using var guest2 = guests[1];

        // The inner MTU of an IPv4 underlay of 1500: 1450.
        await guest1.RunOkAsync("ip link set eth0 mtu 1450 && ip addr add 10.79.0.1/24 dev eth0", CommandTimeout);
        await guest2.RunOkAsync("ip link set eth0 mtu 1450 && ip addr add 10.79.0.2/24 dev eth0", CommandTimeout);

        // The first frames may be lost while daemon A resolves its peer VTEP's MAC on the
        // underlay: busybox ping -w keeps sending (one a second) until an answer or the deadline.
        var first = await guest1.RunAsync("ping -c 1 -w 20 10.79.0.2", CommandTimeout);
        Assert.True(first.ExitCode == 0, $"guest 1 → guest 2 (first): {first.Output}\n--- daemon A ---\n{hostA.Tail()}\n--- daemon B ---\n{hostB.Tail()}");

        var there = await guest1.RunAsync("ping -c 3 -w 20 10.79.0.2", CommandTimeout);
        Assert.True(there.ExitCode == 0, $"guest 1 → guest 2: {there.Output}");
        Assert.Contains("bytes from 10.79.0.2", there.Output, StringComparison.Ordinal);

        var back = await guest2.RunAsync("ping -c 3 -w 20 10.79.0.1", CommandTimeout);
        Assert.True(back.ExitCode == 0, $"guest 2 → guest 1: {back.Output}\n--- daemon B ---\n{hostB.Tail()}");

        // Each daemon counted the echo frames of its own guest both ways.
        var stats1 = clientA.CallOk(TestKit.Requests.NicStats("vm1")).NicStats;
        var stats2 = clientB.CallOk(TestKit.Requests.NicStats("vm2")).NicStats;
        Assert.True(stats1.In >= 6 * 98 && stats1.Out >= 6 * 98, $"vm1 on daemon A: {stats1}");
        Assert.True(stats2.In >= 6 * 98 && stats2.Out >= 6 * 98, $"vm2 on daemon B: {stats2}");
    }
}
