namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// Builds a <see cref="SwitchTables"/> from the model: one call per local NIC port and per VNI
/// flood list. Validates as it goes and says which field is wrong and why. Control thread;
/// allocates freely.
/// </summary>
internal sealed class SwitchTablesBuilder
{
    /// <summary>VNIs are 24-bit (RFC 7348 §5).</summary>
    public const uint MaxVni = 0xFF_FFFF;

    /// <summary>Slots are packed into 16 bits of the local MAC key.</summary>
    public const int MaxVnis = 0xFFFF;

    private readonly List<(ushort Port, uint Vni, MacAddress Mac)> _ports = [];
    private readonly HashSet<ushort> _portIds = [];
    private readonly HashSet<(uint, ulong)> _macs = [];
    private readonly Dictionary<uint, IpAddr[]> _floodVteps = [];

    /// <summary>Adds a local port (a NIC) with its VNI and MAC. Returns why it was refused, or null.</summary>
    public string? AddPort(ushort port, uint vni, MacAddress mac)
    {
        if (vni > MaxVni)
        {
            return $"vni {vni} is out of range (0..{MaxVni})";
        }
        if (mac.IsMulticast || mac.IsZero)
        {
            return $"mac {mac} of port {port} is not a unicast address";
        }
        if (!_portIds.Add(port))
        {
            return $"port {port} is already in the tables";
        }
        if (!_macs.Add((vni, mac.Value)))
        {
            _portIds.Remove(port);
            return $"mac {mac} is already used by another port of vni {vni}";
        }
        _ports.Add((port, vni, mac));
        return null;
    }

    /// <summary>
    /// Sets where BUM frames of <paramref name="vni"/> go on the underlay: the VNI's multicast
    /// group (<see cref="MulticastGroups"/>) or the head-end replication peers. VNIs without a
    /// local port are left out of the tables, so their list is unused. Returns an error or null.
    /// </summary>
    public string? SetFloodVteps(uint vni, IReadOnlyList<IpAddr> vteps)
    {
        if (vni > MaxVni)
        {
            return $"vni {vni} is out of range (0..{MaxVni})";
        }
        foreach (var vtep in vteps)
        {
            if (vtep.IsUnspecified)
            {
                return $"flood vtep {vtep} of vni {vni} is unspecified";
            }
        }
        _floodVteps[vni] = [.. vteps];
        return null;
    }

    /// <summary>Compiles the tables. Returns null and an error when there are more VNIs than slots.</summary>
    public SwitchTables? Build(long version, out string? error)
    {
        var slotOf = new Dictionary<uint, int>();
        var slotVnis = new List<uint>();
        var compiled = new List<(ushort, int, MacAddress)>(_ports.Count);
        foreach (var (port, vni, mac) in _ports)
        {
            if (!slotOf.TryGetValue(vni, out var slot))
            {
                if (slotVnis.Count == MaxVnis)
                {
                    error = $"more than {MaxVnis} vnis on one host";
                    return null;
                }
                slot = slotVnis.Count;
                slotOf.Add(vni, slot);
                slotVnis.Add(vni);
            }
            compiled.Add((port, slot, mac));
        }
        var flood = new List<IpAddr[]>(slotVnis.Count);
        foreach (var vni in slotVnis)
        {
            flood.Add(_floodVteps.TryGetValue(vni, out var vteps) ? vteps : []);
        }
        error = null;
        return new SwitchTables(compiled, slotVnis, flood, version);
    }
}
