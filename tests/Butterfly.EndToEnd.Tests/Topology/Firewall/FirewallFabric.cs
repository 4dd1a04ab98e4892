using System.Security.Cryptography;
using Butterfly.TestKit;
using Butterfly.Wire;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.EndToEnd.Tests.Topology.Firewall;

/// <summary>
/// Daemons whose tap NICs are "VMs" with real IP stacks in namespaces, every NIC with its IPs
/// configured (so anti-spoofing applies) and filtered by security groups the tests set. With
/// two hosts, each daemon runs in a host namespace and the hosts are joined by a veth underlay
/// carrying VXLAN (head-end replication); b1 is on the second host:
///
///   ┌──────── host a: butterflyd ────────┐  veth underlay  ┌──────── host b: butterflyd ────────┐
///   │ VNI 720: a1, a2                    ├─────────────────┤ VNI 720: b1                        │
///   └─────┬──────────────┬───────────────┘ 192.168.79.1/.2 └─────┬──────────────────────────────┘
///     tap │          tap │                                   tap │
///   ┌─────┴──────┐ ┌─────┴──────┐                          ┌─────┴──────┐
///   │ a1         │ │ a2         │                          │ b1         │
///   │ 10.79.0.1  │ │ 10.79.0.2  │                          │ 10.79.0.3  │
///   │ fd79::1    │ │ fd79::2    │                          │ fd79::3    │
///   └────────────┘ └────────────┘                          └────────────┘
///
/// A security group lives in each daemon's configuration, as an orchestrator sets it on every
/// host: <see cref="OnAll"/> sends a request to every daemon. <see cref="Reset"/> puts every NIC
/// back in no group (default deny) with no anti-spoofing extras, and deletes the groups.
/// <paramref name="firstHostArgs"/> are given to host a's daemon only (e.g. --packet-trace and
/// its file, which two daemons must not share).
/// </summary>
public abstract class FirewallFabric(bool twoHosts, bool cutEstablished, IReadOnlyList<string>? firstHostArgs = null) : IAsyncLifetime
{
    public const uint Vni = 720;
    private const string Underlay = "underlay";

    private readonly NetworkNamespaces _namespaces = new();
    private readonly string _id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly List<(DaemonProcess Daemon, Vm Vm)> _nics = [];
    private readonly List<DaemonProcess> _daemons = [];
    private readonly HashSet<string> _groups = new(StringComparer.Ordinal);

    public Vm A1 { get; private set; } = null!;

    public Vm A2 { get; private set; } = null!;

    /// <summary>The VM of the second host, or null with one host.</summary>
    public Vm? B1 { get; private set; }

    public DaemonProcess HostA => _daemons[0];

    /// <summary>The daemon of the second host, or null with one host.</summary>
    public DaemonProcess? HostB => _daemons.Count > 1 ? _daemons[1] : null;

    public async Task InitializeAsync()
    {
        try
        {
            string[] extra = cutEstablished ? ["--conntrack-cut-established"] : [];
            if (twoHosts)
            {
                var (hostA, hostB) = (_namespaces.CreateHost("fwa"), _namespaces.CreateHost("fwb"));
                Check(NetworkNamespaces.Run("ip", "link", "add", Underlay, "netns", hostA.Name, "type", "veth", "peer", "name", Underlay, "netns", hostB.Name),
                    "create the veth underlay");
                NetworkNamespaces.BringUpQuietly(hostA.Name, Underlay);
                NetworkNamespaces.BringUpQuietly(hostB.Name, Underlay);
                _daemons.Add(await StartHost(hostA, "192.168.79.1", "192.168.79.2", "a", [.. extra, .. firstHostArgs ?? []]));
                _daemons.Add(await StartHost(hostB, "192.168.79.2", "192.168.79.1", "b", extra));
            }
            else
            {
                _daemons.Add(await DaemonProcess.StartAsync(new DaemonStartOptions { ExtraArgs = [.. extra, .. firstHostArgs ?? []] }));
            }
            A1 = AddNic(_daemons[0], "a1", 1);
            A2 = AddNic(_daemons[0], "a2", 2);
            if (twoHosts)
            {
                B1 = AddNic(_daemons[1], "b1", 3);
            }
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>Every VM of the fabric.</summary>
    public IEnumerable<Vm> Vms => _nics.Select(n => n.Vm);

    /// <summary>The daemon that has <paramref name="vm"/>'s NIC.</summary>
    public DaemonProcess DaemonOf(Vm vm) => _nics.First(n => n.Vm == vm).Daemon;

    /// <summary>Sends <paramref name="requests"/> to every daemon (a group is configured on every host) and expects success.</summary>
    public void OnAll(params V0.Request[] requests)
    {
        foreach (var daemon in _daemons)
        {
            using var client = daemon.CreateClient();
            foreach (var request in requests)
            {
                client.CallOk(request);
                if (request.SgAdd is { } sg)
                {
                    _groups.Add(sg.Id);
                }
                if (request.SgRuleAdd is { } rule)
                {
                    _groups.Add(rule.SgId);
                }
                if (request.SgMemberAdd is { } member)
                {
                    _groups.Add(member.SgId);
                }
            }
        }
    }

    /// <summary>A request to the daemon of <paramref name="vm"/>, expected to succeed.</summary>
    public MessageV0.Types.Response Call(Vm vm, V0.Request request)
    {
        using var client = DaemonOf(vm).CreateClient();
        return client.CallOk(request);
    }

    /// <summary>The NIC of <paramref name="vm"/> is now in exactly <paramref name="groups"/> (none: default deny).</summary>
    public void Groups(Vm vm, params string[] groups)
    {
        var update = new V0.NicUpdateReq { Id = vm.Tap };
        update.SecurityGroup.AddRange(groups.Length == 0 ? [""] : groups);
        Call(vm, Requests.NicUpdate(update));
    }

    /// <summary>Every NIC in no group, without ip_anti_spoof or bypass; every group the tests made deleted.</summary>
    public void Reset()
    {
        foreach (var vm in Vms)
        {
            var update = new V0.NicUpdateReq { Id = vm.Tap, IpAntiSpoof = false, BypassFiltering = false };
            update.SecurityGroup.Add("");
            Call(vm, Requests.NicUpdate(update));
        }
        foreach (var group in _groups)
        {
            OnAll(Requests.SgDel(group));
        }
        _groups.Clear();
    }

    /// <summary>nic_stats of a VM's NIC.</summary>
    public V0.NicStats Stats(Vm vm) => Call(vm, Requests.NicStats(vm.Tap)).NicStats;

    /// <summary>The frames of <paramref name="vm"/>'s NIC dropped for <paramref name="reason"/> (per-NIC reasons).</summary>
    public ulong Dropped(Vm vm, string reason) => Stats(vm).Drop.FirstOrDefault(d => d.Reason == reason)?.Frames ?? 0;

    /// <summary>The daemons first (their taps go with them), then the namespaces.</summary>
    public virtual async Task DisposeAsync()
    {
        try
        {
            foreach (var daemon in _daemons)
            {
                await daemon.DisposeAsync();
            }
        }
        finally
        {
            _namespaces.Dispose();
        }
    }

    /// <summary>
    /// After the daemon of <paramref name="vm"/> re-made its tap (a restart, the NIC added again),
    /// moves it back into the VM's namespace with its MAC and addresses.
    /// </summary>
    public void Reattach(Vm vm) =>
        _namespaces.Attach(vm.Namespace, vm.Tap, vm.Mac, [vm.Ipv4 + "/24", vm.Ipv6 + "/64"], sourceNetns: DaemonOf(vm).NetworkNamespace);

    private async Task<DaemonProcess> StartHost(HostNamespace host, string vtep, string peer, string role, string[] extra) =>
        await DaemonProcess.StartAsync(new DaemonStartOptions
        {
            DpdkArgs = $"--no-huge -m 256 --no-pci --file-prefix bffw{_id}{role} --vdev=net_af_packet0,iface={Underlay}",
            Ip = vtep,
            ExtraArgs = ["--vxlan-peer", peer, .. extra],
            NetworkNamespace = host.Name,
            ApiAddress = host.ApiAddress,
        });

    private Vm AddNic(DaemonProcess daemon, string name, int n)
    {
        var vm = new Vm(name, $"bft{daemon.Port}{name}", $"52:54:00:79:00:{n:x2}", _namespaces.Create(name), $"10.79.0.{n}", $"fd79::{n}");
        using var client = daemon.CreateClient();
        client.CallOk(Requests.NicAdd(Requests.Nic(vm.Tap, vm.Mac, Vni, [vm.Ipv4, vm.Ipv6], type: V0.Nic.Types.Type.Tap)));
        _nics.Add((daemon, vm));
        Reattach(vm);
        // Inner MTU for the VXLAN underlay's 1500 (IPv4 outer headers: 50 bytes).
        Check(NetworkNamespaces.Exec(vm.Namespace, "ip", "link", "set", "dev", vm.Tap, "mtu", "1450"), $"set the MTU of {vm.Tap}");
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

/// <summary>Two hosts over VXLAN: a1, a2 on one, b1 on the other.</summary>
public sealed class TwoHostFirewallFabric() : FirewallFabric(twoHosts: true, cutEstablished: false);

/// <summary>One host: a1 and a2.</summary>
public sealed class OneHostFirewallFabric() : FirewallFabric(twoHosts: false, cutEstablished: false);

/// <summary>One host whose daemon cuts established connections its new rules refuse.</summary>
public sealed class CuttingFirewallFabric() : FirewallFabric(twoHosts: false, cutEstablished: true);
