using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>
/// What the firewall knows of one NIC: its conntrack zone, the MAC and IPs it may send from,
/// its anti-spoofing and bypass settings and the indices of its security groups (a group that
/// does not exist yet has an index too, with no rules: deny until it is defined). Immutable.
/// </summary>
internal sealed class NicFilter
{
    /// <summary>Up to this many IPs are scanned in order; beyond, they are looked up in a hash set.</summary>
    private const int ScannedIps = 8;

    private readonly MemberSet? _ipSet;

    public NicFilter(string id, uint zone, MacAddress mac, IpAddr[] ips, bool ipAntiSpoof, bool bypass, int[] groups)
    {
        Id = id;
        Zone = zone;
        Mac = mac;
        Ips = ips;
        if (ips.Length > ScannedIps)
        {
            // A NIC with many addresses (secondary IPs, a whole test range): O(1) per frame.
            _ipSet = new MemberSet(ips.Length);
            foreach (var ip in ips)
            {
                _ipSet.Add(ip);
            }
        }
        IpAntiSpoof = ipAntiSpoof;
        Bypass = bypass;
        Groups = groups;
        LinkLocal = LinkLocalOf(mac);
    }

    public string Id { get; }

    /// <summary>
    /// The NIC's conntrack zone: (incarnation &lt;&lt; 16) | port handle. A NIC re-created on the
    /// same handle gets a new zone, so it never inherits its predecessor's connections, and
    /// the sweeper can tell a dead zone's entries (<see cref="FirewallPolicy.IsLiveZone"/>).
    /// </summary>
    public uint Zone { get; }

    public MacAddress Mac { get; }

    /// <summary>The NIC's IPv4 and IPv6 addresses; empty means the NIC is not IP-filtered for spoofing.</summary>
    public IpAddr[] Ips { get; }

    /// <summary>The IPv6 link-local address derived from the MAC (modified EUI-64, RFC 4291 App. A), always the NIC's.</summary>
    public IpAddr LinkLocal { get; }

    /// <summary>ip_anti_spoof: ARP and neighbour discovery contents must match the NIC too.</summary>
    public bool IpAntiSpoof { get; }

    /// <summary>bypass_filtering: no anti-spoofing, no firewall.</summary>
    public bool Bypass { get; }

    /// <summary>Indices into <see cref="FirewallPolicy.Groups"/>.</summary>
    public int[] Groups { get; }

    /// <summary>True when <paramref name="address"/> is one of the NIC's configured IPs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Owns(IpAddr address)
    {
        if (_ipSet is not null)
        {
            return _ipSet.Contains(address);
        }
        foreach (var ip in Ips)
        {
            if (ip == address)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>fe80::/64 with the MAC as a modified EUI-64 interface id.</summary>
    public static IpAddr LinkLocalOf(MacAddress mac)
    {
        var m = mac.Value;
        var eui = ((m >> 24) << 40) | (0xFFFEUL << 24) | (m & 0xFF_FFFF);
        return new IpAddr(0xFE80_0000_0000_0000, eui ^ 0x0200_0000_0000_0000);
    }
}

/// <summary>
/// The compiled firewall the packet thread applies: a <see cref="NicFilter"/> per port handle,
/// the rules of every known group and every group's members, stamped with the event-log
/// sequence it was compiled from. Built by <see cref="PolicyCompiler"/> on the control thread
/// and published by one reference swap (read once per round by the packet thread); the top
/// level never changes once published. Member sets are shared from one version to the next
/// and change in place (<see cref="MemberSet"/>), which is what makes a member change O(1);
/// every other change makes a new policy.
/// </summary>
internal sealed class FirewallPolicy
{
    public static readonly FirewallPolicy Empty = new(0, [], [], []);

    public FirewallPolicy(long version, NicFilter?[] byHandle, GroupRules?[] groups, MemberSet[] members)
    {
        Version = version;
        ByHandle = byHandle;
        Groups = groups;
        Members = members;
    }

    /// <summary>The event sequence the policy reflects.</summary>
    public long Version { get; }

    /// <summary>The filter of each NIC's port handle; null for handles without a NIC (the underlay).</summary>
    public NicFilter?[] ByHandle { get; }

    /// <summary>Rules by group index; null for a group that does not exist (referenced, not defined).</summary>
    public GroupRules?[] Groups { get; }

    /// <summary>Members by group index.</summary>
    public MemberSet[] Members { get; }

    /// <summary>The filter of <paramref name="handle"/>, or null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NicFilter? FilterOf(ushort handle) => handle < ByHandle.Length ? ByHandle[handle] : null;

    /// <summary>True while a NIC with conntrack zone <paramref name="zone"/> exists.</summary>
    public bool IsLiveZone(uint zone) => FilterOf((ushort)zone)?.Zone == zone;

    /// <summary>
    /// True when a NIC's security groups admit a new flow: inbound, a matching INBOUND rule of
    /// any of its groups; outbound, a matching OUTBOUND rule, or no OUTBOUND rule in any group.
    /// </summary>
    public bool Admits(NicFilter nic, in FlowView flow, bool inbound)
    {
        var restricted = inbound;
        foreach (var g in nic.Groups)
        {
            var rules = g < Groups.Length ? Groups[g] : null;
            if (rules is null)
            {
                continue;
            }
            var list = inbound ? rules.Inbound : rules.Outbound;
            restricted |= list.Length != 0;
            foreach (ref readonly var rule in list.AsSpan())
            {
                if (rule.Matches(flow, Members))
                {
                    return true;
                }
            }
        }
        return !restricted;
    }
}
