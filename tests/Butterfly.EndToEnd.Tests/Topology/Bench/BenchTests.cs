using System.Globalization;
using Butterfly.EndToEnd.Tests.Topology.Capture;
using Butterfly.EndToEnd.Tests.Topology.Firewall;
using Butterfly.TestKit;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.EndToEnd.Tests.Topology.Bench;

/// <summary>
/// BENCH NICs (the in-switch ICMP probe) between two daemons over VXLAN, with the tap "VMs"
/// of <see cref="FirewallFabric"/> (a1, a2 on host a, b1 on host b, VNI 720); host a's daemon
/// also captures its underlay (--packet-trace):
///
///   ┌──────── host a ────────┐   veth underlay (VXLAN)   ┌──────── host b ────────┐
///   │ a1  a2                 ├───────────────────────────┤ b1                     │
///   │ bsnd  ICMP_SND_LIKE ───┼──── echo requests ───────►│ brcv  ICMP_RCV_LIKE    │
///   │ 10.79.0.11             │◄─── echo replies ─────────┼ 10.79.0.12             │
///   │ bsnd4 → a2 (same host) │                           │ brcv4 ◄── ping from a1 │
///   │ bsnd6 → b1 over IPv6 ──┼──────────────────────────►│                        │
///   └────────────────────────┘                           └────────────────────────┘
///
/// The probes go through the NICs' firewalls like a VM's frames: the responders and the VMs
/// they ping are in a group admitting ICMP and ICMPv6, the senders are open outbound.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class BenchTests(BenchFabric fabric) : IClassFixture<BenchFabric>
{
    private const V0.Rule.Types.Direction In = V0.Rule.Types.Direction.Inbound;

    [Fact]
    public async Task A_sender_and_a_responder_on_two_hosts_measure_round_trips_over_vxlan()
    {
        fabric.Reset();
        fabric.OnAll(Requests.SgAdd("bench-echo", rules: [Requests.Rule(In, 1, "10.79.0.0/24")]));
        using var a = fabric.HostA.CreateClient();
        using var b = fabric.HostB!.CreateClient();
        b.CallOk(Requests.NicAdd(Bench("brcv", "52:54:00:79:00:12", "10.79.0.12", "ICMP_RCV_LIKE", sgs: ["bench-echo"])));
        a.CallOk(Requests.NicAdd(Bench("bsnd", "52:54:00:79:00:11", "10.79.0.11", "ICMP_SND_LIKE", "10.79.0.12", "52:54:00:79:00:12")));
        try
        {
            Assert.True(await Eventually.TrueAsync(() => a.CallOk(Requests.NicStats("bsnd")).NicStats.Bench.Received >= 5, TimeSpan.FromSeconds(60)),
                $"bsnd: {a.CallOk(Requests.NicStats("bsnd")).NicStats}\n{fabric.HostA.Tail()}");

            var snd = a.CallOk(Requests.NicStats("bsnd")).NicStats;
            var rcv = b.CallOk(Requests.NicStats("brcv")).NicStats;
            Assert.Equal("ICMP_SND_LIKE", snd.Bench.Btype);
            Assert.True(snd.Bench.Sent >= snd.Bench.Received, snd.ToString());
            Assert.True(snd.Bench.RttMinUs > 0 && snd.Bench.RttMinUs <= snd.Bench.RttMeanUs && snd.Bench.RttMeanUs <= snd.Bench.RttMaxUs, snd.ToString());
            Assert.InRange(snd.Bench.RttP99Us, snd.Bench.RttMinUs, snd.Bench.RttMaxUs);
            // The responder counted the requests it got and answered each; it times nothing.
            Assert.Equal("ICMP_RCV_LIKE", rcv.Bench.Btype);
            Assert.True(rcv.Bench.Received >= snd.Bench.Received, rcv.ToString());
            Assert.Equal(rcv.Bench.Received, rcv.Bench.Sent);
            Assert.False(rcv.Bench.HasRttMeanUs);
            // Frames of the NIC's port like a VM's: 98-byte requests out, replies in.
            Assert.True(snd.PacketsIn >= snd.Bench.Sent && snd.In >= 98 * snd.Bench.Sent, snd.ToString());
            Assert.True(snd.PacketsOut >= snd.Bench.Received, snd.ToString());

            var cli = await new CliRunner(fabric.HostA.Endpoint).RunAsync("nic", "stats", "bsnd");
            Assert.True(cli.ExitCode == 0, cli.ToString());
            Assert.Contains("bench type: ICMP_SND_LIKE", cli.StandardOutput, StringComparison.Ordinal);
            Assert.Matches("bench received: [0-9]+\n", cli.StandardOutput);
            Assert.Matches("bench rtt p99: [0-9]+\\.[0-9] us\n", cli.StandardOutput);

            // --packet-trace on host a: the probes leave and come back in VXLAN on the underlay.
            var underlay = "";
            Assert.True(await Eventually.TrueAsync(() =>
            {
                underlay = TcpdumpText(fabric.UnderlayFile);
                return underlay.Contains("10.79.0.11 > 10.79.0.12: ICMP echo request", StringComparison.Ordinal)
                    && underlay.Contains("10.79.0.12 > 10.79.0.11: ICMP echo reply", StringComparison.Ordinal);
            }), underlay);
            Assert.Contains("192.168.79.1.", underlay, StringComparison.Ordinal);
            Assert.Contains(".4789: VXLAN", underlay, StringComparison.Ordinal);
            Assert.Contains("vni 720", underlay, StringComparison.Ordinal);
        }
        finally
        {
            a.CallOk(Requests.NicDel("bsnd"));
            b.CallOk(Requests.NicDel("brcv"));
        }
    }

    [Fact]
    public async Task Bench_nics_ping_vms_and_answer_them_over_ipv4_and_ipv6()
    {
        fabric.Reset();
        fabric.OnAll(Requests.SgAdd("bench-echo", rules: [Requests.Rule(In, 1, "10.79.0.0/24"), Requests.Rule(In, 58, "fd79::/64")]));
        fabric.Groups(fabric.A2, "bench-echo");
        fabric.Groups(fabric.B1!, "bench-echo");
        using var a = fabric.HostA.CreateClient();
        using var b = fabric.HostB!.CreateClient();
        // A VM on the same host (its kernel asks for the probe's MAC: the probe answers ARP) …
        a.CallOk(Requests.NicAdd(Bench("bsnd4", "52:54:00:79:00:21", "10.79.0.21", "ICMP_SND_LIKE", fabric.A2.Ipv4, fabric.A2.Mac)));
        // … a VM on the other host over IPv6 (its neighbour solicitation crosses VXLAN to the probe) …
        a.CallOk(Requests.NicAdd(Bench("bsnd6", "52:54:00:79:00:22", "fd79::22", "ICMP_SND_LIKE", fabric.B1!.Ipv6, fabric.B1.Mac)));
        // … and a responder a VM on the other host pings.
        b.CallOk(Requests.NicAdd(Bench("brcv4", "52:54:00:79:00:23", "10.79.0.23", "ICMP_RCV_LIKE", sgs: ["bench-echo"])));
        try
        {
            Assert.True(await Eventually.TrueAsync(() => a.CallOk(Requests.NicStats("bsnd4")).NicStats.Bench.Received >= 3, TimeSpan.FromSeconds(60)),
                $"bsnd4 → a2: {a.CallOk(Requests.NicStats("bsnd4")).NicStats}");
            Assert.True(await Eventually.TrueAsync(() => a.CallOk(Requests.NicStats("bsnd6")).NicStats.Bench.Received >= 3, TimeSpan.FromSeconds(60)),
                $"bsnd6 → b1: {a.CallOk(Requests.NicStats("bsnd6")).NicStats}");
            Traffic.AssertOk(Traffic.PingEventually(fabric.A1, "10.79.0.23"), "a1 → brcv4 across hosts");
            Assert.True(b.CallOk(Requests.NicStats("brcv4")).NicStats.Bench.Sent >= 1);
            // The VMs' kernels learned the probes' MACs from their ARP and ND answers.
            var neighbours = NetworkNamespaces.Exec(fabric.A2.Namespace, "ip", "neigh", "show", "10.79.0.21").Output;
            Assert.Contains("52:54:00:79:00:21", neighbours, StringComparison.Ordinal);
            neighbours = NetworkNamespaces.Exec(fabric.B1.Namespace, "ip", "-6", "neigh", "show", "fd79::22").Output;
            Assert.Contains("52:54:00:79:00:22", neighbours, StringComparison.Ordinal);
        }
        finally
        {
            a.CallOk(Requests.NicDel("bsnd4"));
            a.CallOk(Requests.NicDel("bsnd6"));
            b.CallOk(Requests.NicDel("brcv4"));
        }
    }

    [Fact]
    public void A_bench_nic_without_what_its_probe_needs_is_refused()
    {
        using var a = fabric.HostA.CreateClient();
        var noDip = a.Call(Requests.NicAdd(Bench("bbad", "52:54:00:79:00:31", "10.79.0.31", "ICMP_SND_LIKE")));
        Assert.False(noDip.Status.Status_);
        Assert.Contains("needs dip", noDip.Status.Error.Description, StringComparison.Ordinal);
        var noIp = a.Call(Requests.NicAdd(Bench("bbad", "52:54:00:79:00:31", null, "ICMP_RCV_LIKE")));
        Assert.Contains("needs an ip", noIp.Status.Error.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("bbad", a.CallOk(Requests.NicList()).NicList);
    }

    private static V0.Nic Bench(string id, string mac, string? ip, string btype, string? dip = null, string? dmac = null, string[]? sgs = null)
    {
        var nic = Requests.Nic(id, mac, FirewallFabric.Vni, ip is null ? [] : [ip], sgs, V0.Nic.Types.Type.Bench);
        nic.Btype = btype;
        // Host a's --packet-trace would trace it by default; these tests capture the underlay only.
        nic.PacketTrace = false;
        if (dip is not null)
        {
            nic.Dip = dip;
        }
        if (dmac is not null)
        {
            nic.Dmac = dmac;
        }
        return nic;
    }

    /// <summary>tcpdump's reading of a capture the daemon is still writing: empty while a block is half written.</summary>
    private static string TcpdumpText(string file)
    {
        var result = NetworkNamespaces.Run("tcpdump", "-nn", "-r", file);
        return result.Ok ? result.Output : "";
    }
}

/// <summary>
/// Two hosts; host a's daemon captures its underlay to <see cref="UnderlayFile"/>. Its --packet-trace
/// also traces its VMs' NICs by default, to /tmp/butterfly-ID.pcap: removed with the fabric.
/// </summary>
public sealed class BenchFabric : FirewallFabric
{
    private static readonly string File = Path.Combine(Path.GetTempPath(),
        "bf-underlay-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8] + ".pcap");

    public BenchFabric()
        : base(twoHosts: true, cutEstablished: false, firstHostArgs: ["--packet-trace", "--packet-trace-underlay", File])
    {
    }

    public string UnderlayFile => File;

    public override async Task DisposeAsync()
    {
        var traced = Vms.Where(vm => DaemonOf(vm) == HostA).Select(vm => $"/tmp/butterfly-{vm.Tap}.pcap").ToList();
        await base.DisposeAsync();
        foreach (var file in traced.Append(File))
        {
            foreach (var f in Directory.GetFiles(Path.GetDirectoryName(file)!, Path.GetFileName(file) + "*"))
            {
                System.IO.File.Delete(f);
            }
        }
    }
}
