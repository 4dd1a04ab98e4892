using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Where a VNI's broadcast, multicast and unknown-unicast frames go on the underlay, chosen when
/// the daemon starts:
/// - <see cref="Multicast"/> (Butterfly's mode, the default): one underlay multicast group per
///   VNI (<see cref="MulticastGroups"/>), joined with IGMP/MLD while the VNI has a local NIC, so
///   floods reach exactly the hosts of the VNI and the underlay replicates them;
/// - <see cref="HeadEnd"/> (--vxlan-peer): one unicast copy per peer VTEP, for underlays without
///   multicast; every peer gets every VNI's floods and drops those of VNIs it does not host;
/// - <see cref="None"/>: no usable underlay, floods stay on the host.
/// Control thread.
/// </summary>
internal sealed class UnderlayFlooding
{
    internal enum Kind
    {
        None,
        Multicast,
        HeadEnd,
    }

    private readonly IReadOnlyList<IpAddr> _peers;
    private readonly bool _multicastV4;

    private UnderlayFlooding(Kind mode, IReadOnlyList<IpAddr> peers, bool multicastV4)
    {
        Mode = mode;
        _peers = peers;
        _multicastV4 = multicastV4;
    }

    public static UnderlayFlooding None { get; } = new(Kind.None, [], false);

    public Kind Mode { get; }

    public static UnderlayFlooding HeadEnd(IReadOnlyList<IpAddr> peers) => new(Kind.HeadEnd, peers, false);

    /// <summary>Per-VNI groups of the family of the VTEP address (<paramref name="v4"/>).</summary>
    public static UnderlayFlooding Multicast(bool v4) => new(Kind.Multicast, [], v4);

    /// <summary>The flood destinations of <paramref name="vni"/>.</summary>
    public IReadOnlyList<IpAddr> VtepsOf(uint vni) => Mode switch
    {
        Kind.Multicast => [MulticastGroups.GroupOf(vni, _multicastV4)],
        Kind.HeadEnd => _peers,
        _ => [],
    };

    public override string ToString() => Mode switch
    {
        Kind.Multicast => $"multicast, one {(_multicastV4 ? "IPv4 group 230.x.y.z" : "IPv6 group ff00::/96")} per VNI",
        Kind.HeadEnd => $"head-end replication to {string.Join(", ", _peers)}",
        _ => "none (floods stay on this host)",
    };
}
