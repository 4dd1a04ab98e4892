using System.Security.Cryptography;
using Butterfly.TestKit;
using Butterfly.Wire;

namespace Butterfly.EndToEnd.Tests.Topology;

/// <summary>How the underlay of a <see cref="ThreeHostFabric"/> is built and how VNIs flood.</summary>
public enum FabricKind
{
    /// <summary>
    /// One L2 segment: a Linux bridge with IGMP/MLD snooping, its own querier, and unregistered
    /// multicast not flooded (mcast_flood off on every port), so a host only receives a VNI's
    /// floods once its daemon has joined the VNI's group. The daemons use multicast flooding
    /// (no --vxlan-peer).
    /// </summary>
    Multicast,

    /// <summary>
    /// A routed underlay: hosts A and B on one plain bridge, host C in another subnet behind a Linux
    /// router (a namespace with forwarding on); every daemon has -i IP/LEN and --vxlan-gateway,
    /// and names the two others with --vxlan-peer (head-end replication).
    /// </summary>
    RoutedHeadEnd,
}

/// <summary>
/// Three hosts A, B, C, each a network namespace running a daemon, with an af_packet underlay on
/// a veth whose other end is in the fabric (in the test's namespace) and a management veth to
/// the test's namespace on which the daemon's API listens. The daemon makes its tap NICs in its
/// host's namespace; they are moved on into per-"VM" namespaces. NICs bypass filtering.
///
///   netns a1   netns z         netns a2   netns x         netns a3   netns y
///   (VNI 710)  (VNI 712)       (VNI 710)  (VNI 711)       (VNI 710)  (VNI 711)
///     │ tap      │ tap           │ tap      │ tap           │ tap      │ tap
///   ┌─┴──────────┴──────┐      ┌─┴──────────┴──────┐      ┌─┴──────────┴──────┐
///   │ netns host A      │      │ netns host B      │      │ netns host C      │
///   │ daemon A     mgmt ├─ API │ daemon B     mgmt ├─ API │ daemon C     mgmt ├─ API (to the test)
///   └─┬ af_packet ──────┘      └─┬ af_packet ──────┘      └─┬ af_packet ──────┘
///     │ veth                     │ veth                     │ veth
///   Multicast:
///     └──── bridge, snooping ────┴──────────────────────────┘
///   RoutedHeadEnd:
///     └───────── bridge ─────────┴─── router ns ── veth ────┘
///
/// VNI 710 spans the three hosts, 711 spans B and C, 712 is only on A. VM addresses are
/// 10.79.0.N/24 and fd79::N/64 for every VNI (the same subnets: only the VNI separates them).
/// Names are random per instance; Dispose removes daemons, namespaces, veths and bridges.
/// </summary>
public abstract class ThreeHostFabric : IAsyncLifetime
{
    public const uint Vni = 710;
    public const uint OtherVni = 711;
    public const uint LoneVni = 712;

    /// <summary>The name of every host's underlay interface, inside its namespace.</summary>
    private const string Underlay = "underlay";

    private readonly NetworkNamespaces _namespaces = new();
    private readonly string _id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly List<string> _links = [];
    private readonly List<(DaemonProcess Daemon, Vm Vm)> _nics = [];
    private readonly DaemonProcess?[] _hosts = new DaemonProcess?[3];
    private readonly HostNamespace?[] _hostNamespaces = new HostNamespace?[3];
    private readonly string?[] _extraArgs;

    protected ThreeHostFabric(FabricKind kind, bool ipv6, params string[] extraDaemonArgs)
    {
        Kind = kind;
        Ipv6 = ipv6;
        _extraArgs = extraDaemonArgs;
    }

    public FabricKind Kind { get; }

    public bool Ipv6 { get; }

    public Vm A1 { get; private set; } = null!;

    public Vm A2 { get; private set; } = null!;

    public Vm A3 { get; private set; } = null!;

    public Vm X { get; private set; } = null!;

    public Vm Y { get; private set; } = null!;

    public Vm Z { get; private set; } = null!;

    /// <summary>The bridge of the segment of A and B (all three hosts in <see cref="FabricKind.Multicast"/>).</summary>
    public string Bridge => $"bfb{_id}";

    /// <summary>The daemons of hosts A, B, C.</summary>
    public DaemonProcess Host(int index) => _hosts[index] ?? throw new InvalidOperationException("the fabric is not up");

    /// <summary>The network namespace of host <paramref name="index"/>, where its daemon runs and makes its taps.</summary>
    public string HostNetns(int index) => _hostNamespaces[index]?.Name ?? throw new InvalidOperationException("the fabric is not up");

    /// <summary>The bridge port of host <paramref name="index"/>'s underlay (Multicast fabric).</summary>
    public string BridgePort(int index) => $"bfu{_id}{index}p";

    /// <summary>The VTEP address of host <paramref name="index"/>.</summary>
    public string Vtep(int index) => (Kind, Ipv6, index) switch
    {
        (FabricKind.RoutedHeadEnd, false, 2) => "198.51.100.3",
        (FabricKind.RoutedHeadEnd, true, 2) => "2001:db8:7a::3",
        (_, false, _) => $"192.0.2.{index + 1}",
        (_, true, _) => $"2001:db8:79::{index + 1}",
    };

    private string InnerMtu => Ipv6 ? "1430" : "1450";

    public async Task InitializeAsync()
    {
        try
        {
            for (var i = 0; i < 3; i++)
            {
                _hostNamespaces[i] = _namespaces.CreateHost($"host{(char)('a' + i)}");
            }
            BuildUnderlay();
            for (var i = 0; i < 3; i++)
            {
                _hosts[i] = await StartHost(i);
            }
            A1 = AddNic(Host(0), "a1", Vni, 1);
            Z = AddNic(Host(0), "z", LoneVni, 4);
            A2 = AddNic(Host(1), "a2", Vni, 2);
            X = AddNic(Host(1), "x", OtherVni, 5);
            A3 = AddNic(Host(2), "a3", Vni, 3);
            Y = AddNic(Host(2), "y", OtherVni, 6);
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
        using var client = DaemonOf(vm).CreateClient();
        return client.CallOk(Requests.NicStats(vm.Tap)).NicStats;
    }

    /// <summary>Removes a VM's NIC from its daemon (its tap, and the namespace's interface, go away).</summary>
    public void RemoveNic(Vm vm)
    {
        using var client = DaemonOf(vm).CreateClient();
        client.CallOk(Requests.NicDel(vm.Tap));
    }

    /// <summary>Adds <paramref name="vm"/>'s NIC again on the daemon that had it and configures it in its namespace.</summary>
    public void AddNicAgain(Vm vm, uint vni)
    {
        Attach(DaemonOf(vm), vm, vni);
    }

    private DaemonProcess DaemonOf(Vm vm) => _nics.First(n => n.Vm == vm).Daemon;

    /// <summary>The daemons first (their taps go with them), then the namespaces with their management links and underlay ends, then the bridges' veths.</summary>
    public async Task DisposeAsync()
    {
        try
        {
            foreach (var daemon in _hosts)
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
            foreach (var link in Enumerable.Reverse(_links))
            {
                _ = NetworkNamespaces.Run("ip", "link", "del", link);
            }
        }
    }

    private void BuildUnderlay()
    {
        var snooping = Kind == FabricKind.Multicast;
        // A querier counts as present only a query response interval after it is switched on
        // (until then the bridge floods, and with mcast_flood off drops, all multicast): make
        // that interval 1 s instead of 10 and switch the querier on once the bridge is up.
        Check(NetworkNamespaces.Run("ip", "link", "add", Bridge, "type", "bridge", "mcast_snooping", snooping ? "1" : "0",
            "mcast_query_response_interval", "100"), "create the bridge");
        _links.Add(Bridge);
        if (snooping && Ipv6)
        {
            // The bridge's own MLD querier needs a usable link-local address when it comes up
            // (without one it counts as absent for a query interval and floods instead): no DAD.
            _ = NetworkNamespaces.Run("sysctl", "-qw", $"net.ipv6.conf.{Bridge}.accept_dad=0");
        }
        else
        {
            Quiet(Bridge);
        }
        Check(NetworkNamespaces.Run("ip", "link", "set", "dev", Bridge, "up"), "bring the bridge up");
        if (snooping)
        {
            Check(NetworkNamespaces.Run("ip", "link", "set", "dev", Bridge, "type", "bridge", "mcast_querier", "1"), "start the bridge's querier");
        }
        var bridged = Kind == FabricKind.Multicast ? 3 : 2;
        for (var i = 0; i < 3; i++)
        {
            // The host's end is made in its namespace: the veth never exists outside a namespace
            // that Dispose deletes, whatever fails next.
            var hostNetns = HostNetns(i);
            var fabricEnd = BridgePort(i);
            Check(NetworkNamespaces.Run("ip", "link", "add", fabricEnd, "type", "veth", "peer", "name", Underlay, "netns", hostNetns), $"create the underlay of host {i}");
            NetworkNamespaces.BringUpQuietly(hostNetns, Underlay);
            Quiet(fabricEnd);
            if (i < bridged)
            {
                _links.Add(fabricEnd);
                Check(NetworkNamespaces.Run("ip", "link", "set", "dev", fabricEnd, "master", Bridge), $"bridge {fabricEnd}");
                if (snooping)
                {
                    // Unregistered multicast is not flooded; a leave takes effect at once.
                    Check(NetworkNamespaces.Run("bridge", "link", "set", "dev", fabricEnd, "mcast_flood", "off", "fastleave", "on"), $"multicast flags of {fabricEnd}");
                }
                Check(NetworkNamespaces.Run("ip", "link", "set", "dev", fabricEnd, "up"), $"bring {fabricEnd} up");
            }
        }
        if (Kind == FabricKind.RoutedHeadEnd)
        {
            BuildRouter();
        }
    }

    /// <summary>The router: one leg on the bridge (gateway of A and B), one on C's veth (gateway of C).</summary>
    private void BuildRouter()
    {
        var router = _namespaces.Create("router");
        var legToBridge = $"bfr{_id}b";
        Check(NetworkNamespaces.Run("ip", "link", "add", legToBridge, "type", "veth", "peer", "name", legToBridge + "p"), "create the router's bridge leg");
        _links.Add(legToBridge + "p");
        Quiet(legToBridge + "p");
        Check(NetworkNamespaces.Run("ip", "link", "set", "dev", legToBridge + "p", "master", Bridge), "bridge the router leg");
        Check(NetworkNamespaces.Run("ip", "link", "set", "dev", legToBridge + "p", "up"), "bring the router leg's bridge end up");
        Check(NetworkNamespaces.Run("ip", "link", "set", "dev", legToBridge, "netns", router), "move the router's bridge leg");
        Check(NetworkNamespaces.Run("ip", "link", "set", "dev", BridgePort(2), "netns", router), "move C's underlay peer into the router");
        var (gatewayAb, gatewayC) = Gateways;
        Configure(router, legToBridge, gatewayAb + (Ipv6 ? "/64" : "/24"));
        Configure(router, BridgePort(2), gatewayC + (Ipv6 ? "/64" : "/24"));
        Check(NetworkNamespaces.Exec(router, "sysctl", "-qw", Ipv6 ? "net.ipv6.conf.all.forwarding=1" : "net.ipv4.ip_forward=1"), "enable forwarding");
    }

    private (string Ab, string C) Gateways => Ipv6 ? ("2001:db8:79::fe", "2001:db8:7a::fe") : ("192.0.2.254", "198.51.100.254");

    private static void Configure(string netns, string dev, string address)
    {
        var family = address.Contains(':', StringComparison.Ordinal) ? "-6" : "-4";
        string[] add = family == "-6" ? ["ip", family, "address", "add", address, "dev", dev, "nodad"] : ["ip", family, "address", "add", address, "dev", dev];
        Check(NetworkNamespaces.Exec(netns, add), $"address {address} on {dev}");
        Check(NetworkNamespaces.Exec(netns, "ip", "link", "set", "dev", dev, "up"), $"bring {dev} up");
    }

    /// <summary>No IPv6 on underlay plumbing in the test's namespace: the kernel's own router solicitations and DAD would be noise.</summary>
    private static void Quiet(string dev) => _ = NetworkNamespaces.Run("sysctl", "-qw", $"net.ipv6.conf.{dev}.disable_ipv6=1");

    private async Task<DaemonProcess> StartHost(int index)
    {
        List<string> args = [.. _extraArgs.OfType<string>()];
        var ip = Vtep(index);
        if (Kind == FabricKind.RoutedHeadEnd)
        {
            var (gatewayAb, gatewayC) = Gateways;
            ip += Ipv6 ? "/64" : "/24";
            args.AddRange(["--vxlan-gateway", index == 2 ? gatewayC : gatewayAb]);
            for (var peer = 0; peer < 3; peer++)
            {
                if (peer != index)
                {
                    args.AddRange(["--vxlan-peer", Vtep(peer)]);
                }
            }
        }
        var host = _hostNamespaces[index]!;
        return await DaemonProcess.StartAsync(new DaemonStartOptions
        {
            DpdkArgs = $"--no-huge -m 256 --no-pci --file-prefix bfvf{_id}{index} --vdev=net_af_packet0,iface={Underlay}",
            Ip = ip,
            ExtraArgs = args,
            NetworkNamespace = host.Name,
            ApiAddress = host.ApiAddress,
        });
    }

    private Vm AddNic(DaemonProcess daemon, string name, uint vni, int host)
    {
        var vm = new Vm(name, $"bft{daemon.Port}{name}", $"52:54:00:79:00:{host:x2}", _namespaces.Create(name),
            $"10.79.0.{host}", $"fd79::{host}");
        _nics.Add((daemon, vm));
        Attach(daemon, vm, vni);
        return vm;
    }

    private void Attach(DaemonProcess daemon, Vm vm, uint vni)
    {
        using var client = daemon.CreateClient();
        var nic = Requests.Nic(vm.Tap, vm.Mac, vni, type: MessageV0.Types.Nic.Types.Type.Tap);
        nic.BypassFiltering = true;
        client.CallOk(Requests.NicAdd(nic));
        _namespaces.Attach(vm.Namespace, vm.Tap, vm.Mac, [vm.Ipv4 + "/24", vm.Ipv6 + "/64"], sourceNetns: daemon.NetworkNamespace);
        Check(NetworkNamespaces.Exec(vm.Namespace, "ip", "link", "set", "dev", vm.Tap, "mtu", InnerMtu), $"set the MTU of {vm.Tap}");
    }

    private static void Check(CommandResult result, string what)
    {
        if (!result.Ok)
        {
            throw new InvalidOperationException($"{what} failed ({result.Code}): {result.Output}");
        }
    }
}
