namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>Whether an outer path to a VTEP could be made.</summary>
internal enum PathStatus : byte
{
    /// <summary>The path is complete: encapsulate.</summary>
    Ready,

    /// <summary>The path is complete: encapsulate, and also send the resolution request (a refresh).</summary>
    ReadyProbe,

    /// <summary>The next hop's MAC is unknown: the frame cannot go yet (the forwarder parks it); send the resolution request.</summary>
    Unresolved,

    /// <summary>The next hop's MAC is unknown and a request is in flight: the frame cannot go yet (the forwarder parks it).</summary>
    Pending,

    /// <summary>We have no VTEP address of the destination's family: drop the frame.</summary>
    NoUnderlayAddress,
}

/// <summary>
/// Turns a VTEP address into the outer headers' parameters: our address of its family, the next
/// hop (on-link peer, multicast group or gateway) and that hop's MAC from the neighbour cache.
/// Packet thread.
/// </summary>
internal static class UnderlayRouting
{
    /// <param name="nextHop">The address whose MAC is needed; when the status asks for a request, pass it to <see cref="BuildResolutionRequest"/>.</param>
    public static PathStatus PathTo(UnderlayConfig config, NeighbourTable neighbours, IpAddr vtep, long now, out UnderlayPath path, out IpAddr nextHop)
    {
        path = default;
        nextHop = default;
        if (!config.TrySourceFor(vtep, out var source))
        {
            return PathStatus.NoUnderlayAddress;
        }
        if (vtep.IsMulticast)
        {
            nextHop = vtep;
            path = new UnderlayPath(config.Mac, MulticastGroups.MacOf(vtep), source.Address, vtep, config.Ttl, config.Mtu);
            return PathStatus.Ready;
        }
        nextHop = UnderlayConfig.NextHop(source, vtep);
        var state = neighbours.Resolve(nextHop, now, out var mac);
        if (state is NeighbourState.Unresolved)
        {
            return PathStatus.Unresolved;
        }
        if (state is NeighbourState.Pending)
        {
            return PathStatus.Pending;
        }
        path = new UnderlayPath(config.Mac, mac, source.Address, vtep, config.Ttl, config.Mtu);
        return state == NeighbourState.ResolvedProbe ? PathStatus.ReadyProbe : PathStatus.Ready;
    }

    /// <summary>
    /// Writes the ARP request (IPv4) or neighbour solicitation (IPv6) that resolves
    /// <paramref name="nextHop"/> into <paramref name="destination"/>; returns its length, or 0
    /// when we have no address of that family or the buffer is too small.
    /// </summary>
    public static int BuildResolutionRequest(UnderlayConfig config, IpAddr nextHop, Span<byte> destination)
    {
        if (!config.TrySourceFor(nextHop, out var source))
        {
            return 0;
        }
        return nextHop.IsV4
            ? ArpResponder.BuildRequest(destination, config.Mac, source.Address, nextHop)
            : NdResponder.BuildSolicitation(destination, config.Mac, source.Address, nextHop);
    }
}
