namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// Remembers the last complete path of the current burst, so a burst whose frames mostly go
/// to one VTEP resolves it once instead of per frame. Only complete paths are kept, and only
/// for calls with the same <c>now</c> (the packet thread reads its clock once per burst), so a
/// neighbour change is seen from the next burst on. A probe request is asked for once: later
/// hits report <see cref="PathStatus.Ready"/>.
/// Thread: packet thread (one instance per thread).
/// </summary>
internal sealed class UnderlayPathCache
{
    private IpAddr _vtep;
    private long _now;
    private UnderlayPath _path;
    private bool _valid;

    public PathStatus PathTo(UnderlayConfig config, NeighbourTable neighbours, IpAddr vtep, long now, out UnderlayPath path, out IpAddr nextHop)
    {
        if (_valid && _now == now && _vtep == vtep)
        {
            path = _path;
            nextHop = default;
            return PathStatus.Ready;
        }
        var status = UnderlayRouting.PathTo(config, neighbours, vtep, now, out path, out nextHop);
        _valid = status is PathStatus.Ready or PathStatus.ReadyProbe;
        _vtep = vtep;
        _now = now;
        _path = path;
        return status;
    }

    /// <summary>Forgets the cached path (the underlay configuration changed).</summary>
    public void Clear() => _valid = false;
}
