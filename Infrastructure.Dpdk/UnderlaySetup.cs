using System.Net;
using Butterfly.Infrastructure.Dpdk.Pipeline;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// The VXLAN side of the daemon's options, checked and compiled on the control thread: the
/// head-end replication peers (--vxlan-peer) and this host's <see cref="UnderlayConfig"/>
/// (the underlay port's MAC and the -i address). Free of EAL so unit tests call it directly.
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
    /// This host's underlay: <paramref name="mac"/> (the underlay port's) and
    /// <paramref name="localIp"/> as the VTEP address of its family. Every peer is treated as
    /// on-link (no gateway option yet), so the outer frames go to the peer's own MAC.
    /// Returns null and an error when the MAC is not a usable unicast address.
    /// </summary>
    internal static UnderlayConfig? BuildConfig(string? mac, string localIp, out string? error)
    {
        error = null;
        if (!MacAddress.TryParse(mac, out var parsed))
        {
            error = $"the underlay port has no readable MAC ({mac ?? "none"})";
            return null;
        }
        var address = IpAddr.Parse(localIp);
        var vtep = new VtepAddress(address, address.IsV4 ? 32 : 128, default);
        try
        {
            return address.IsV4
                ? new UnderlayConfig(parsed, vtep, null)
                : new UnderlayConfig(parsed, null, vtep);
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return null;
        }
    }
}
