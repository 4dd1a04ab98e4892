using System.Net;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// The VXLAN side of the daemon's options, checked and compiled on the control thread: the
/// head-end replication peers (--vxlan-peer), the routed-underlay options (-i IP/LEN,
/// --vxlan-gateway) and this host's <see cref="UnderlayConfig"/> (the underlay port's MAC and MTU,
/// the -i address). Free of EAL so unit tests call it directly.
/// </summary>
internal static class UnderlaySetup
{
    /// <summary>
    /// Parses <paramref name="peers"/>: unicast addresses of the same family as
    /// <paramref name="localIp"/>, not <paramref name="localIp"/> itself; duplicates collapse.
    /// </summary>
    /// <exception cref="ArgumentException">A peer is invalid; the message names it.</exception>
    internal static IReadOnlyList<IpAddr> ParsePeers(string localIp, IReadOnlyList<string>? peers)
    {
        if (peers is null || peers.Count == 0)
        {
            return [];
        }
        var local = IPAddress.Parse(localIp);
        var result = new List<IpAddr>();
        foreach (var text in peers)
        {
            // ScopeId throws for IPv4 addresses: ask only IPv6 ones.
            if (!IPAddress.TryParse(text, out var address)
                || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && address.ScopeId != 0))
            {
                throw new ArgumentException($"VXLAN peer '{text}' is not an IPv4 or IPv6 address");
            }
            if (address.IsIPv4MappedToIPv6)
            {
                address = address.MapToIPv4();
            }
            if (address.AddressFamily != local.AddressFamily)
            {
                throw new ArgumentException($"VXLAN peer '{text}' is not of the family of this host's VTEP address {localIp}");
            }
            var peer = IpAddr.From(address);
            if (peer.IsUnspecified || peer.IsMulticast || address.Equals(IPAddress.Broadcast))
            {
                throw new ArgumentException($"VXLAN peer '{text}' is not a unicast address");
            }
            if (address.Equals(local))
            {
                throw new ArgumentException($"VXLAN peer '{text}' is this host's own VTEP address");
            }
            if (!result.Contains(peer))
            {
                result.Add(peer);
            }
        }
        return result;
    }

    /// <summary>
    /// Checks the routed-underlay options: a gateway needs the on-link prefix of the VTEP
    /// address (-i IP/LEN) and must be a unicast address inside it, of the same family.
    /// </summary>
    /// <exception cref="ArgumentException">The combination is invalid; the message says why.</exception>
    internal static void CheckRouting(string localIp, int prefixLength, string? gateway)
    {
        var local = IpAddr.Parse(localIp);
        var max = local.IsV4 ? 32 : 128;
        if (prefixLength < 0 || prefixLength > max)
        {
            throw new ArgumentException($"underlay prefix length {prefixLength} is out of range for {localIp} (1 to {max})");
        }
        if (gateway is null)
        {
            return;
        }
        if (!IpAddr.TryParse(gateway, out var g) || g.IsV4 != local.IsV4)
        {
            throw new ArgumentException($"VXLAN gateway '{gateway}' is not an address of the family of {localIp}");
        }
        if (prefixLength == 0 || prefixLength == max)
        {
            throw new ArgumentException($"VXLAN gateway {gateway} needs the on-link prefix of this host's VTEP address: give -i {localIp}/LEN");
        }
        if (g.IsMulticast || g.IsUnspecified || g == local || !g.SharesPrefix(local, prefixLength))
        {
            throw new ArgumentException($"VXLAN gateway {gateway} is not another unicast address of {localIp}/{prefixLength}");
        }
    }

    /// <summary>
    /// This host's underlay: <paramref name="mac"/> (the underlay port's), <paramref name="localIp"/>
    /// as the VTEP address of its family with its on-link <paramref name="prefixLength"/> (0: not
    /// given) and <paramref name="gateway"/>, and the port's <paramref name="mtu"/>. Without a
    /// gateway every VTEP is treated as on-link and outer frames go to the VTEP's own MAC; with
    /// one, VTEPs outside the prefix are reached through it.
    /// Returns null and an error when the MAC is not a usable unicast address.
    /// </summary>
    internal static UnderlayConfig? BuildConfig(string? mac, string localIp, out string? error,
        int prefixLength = 0, string? gateway = null, int mtu = UnderlayConfig.DefaultMtu)
    {
        error = null;
        if (!MacAddress.TryParse(mac, out var parsed))
        {
            error = $"the underlay port has no readable MAC ({mac ?? "none"})";
            return null;
        }
        var address = IpAddr.Parse(localIp);
        var hostPrefix = address.IsV4 ? 32 : 128;
        var vtep = new VtepAddress(address, prefixLength == 0 ? hostPrefix : prefixLength,
            gateway is null ? default : IpAddr.Parse(gateway));
        try
        {
            return address.IsV4
                ? new UnderlayConfig(parsed, vtep, null, mtu)
                : new UnderlayConfig(parsed, null, vtep, mtu);
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return null;
        }
    }
}
