using System.Numerics;
using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// What the model says about switching, compiled for the packet thread: which VNI each local
/// port belongs to, which local port owns each (VNI, MAC), and per VNI the ports and remote
/// VTEPs a flooded frame goes to.
///
/// Immutable. The control side builds a new one with <see cref="SwitchTablesBuilder"/> on every
/// change and publishes it by one reference swap; the packet thread reads the reference once
/// per burst, so a burst sees one consistent version and traffic never stops for an update.
/// Lookups are O(1) in flat arrays (open addressing, load ≤ 50 %, linear probing that stops
/// at an empty slot: there are no deletions in an immutable table) and never allocate.
/// Thread: built on the control thread; read by any thread.
/// </summary>
internal sealed class SwitchTables
{
    /// <summary>Returned for ports and VNIs the tables do not know.</summary>
    public const int NoSlot = -1;

    // (slot << 48 | mac) → port; key 0 marks an empty slot (MAC 0 is refused by the builder).
    private readonly ulong[] _macKeys;
    private readonly ushort[] _macPorts;
    private readonly int _macMask;

    // vni | Occupied → slot.
    private readonly uint[] _vniKeys;
    private readonly int[] _vniSlots;
    private readonly int _vniMask;

    private readonly int[] _portSlots;
    private readonly uint[] _slotVnis;
    private readonly ushort[][] _floodPorts;
    private readonly IpAddr[][] _floodVteps;

    private const uint Occupied = 0x8000_0000;

    internal SwitchTables(
        IReadOnlyList<(ushort Port, int Slot, MacAddress Mac)> ports,
        IReadOnlyList<uint> slotVnis,
        IReadOnlyList<IpAddr[]> slotFloodVteps,
        long version)
    {
        Version = version;
        _slotVnis = [.. slotVnis];
        _floodVteps = [.. slotFloodVteps];
        var groups = new SortedSet<IpAddr>(Comparer<IpAddr>.Create(MulticastMembership.Compare));
        foreach (var vteps in _floodVteps)
        {
            foreach (var vtep in vteps)
            {
                if (vtep.IsMulticast)
                {
                    groups.Add(vtep);
                }
            }
        }
        MulticastGroups = [.. groups];

        var maxPort = -1;
        foreach (var p in ports)
        {
            maxPort = Math.Max(maxPort, p.Port);
        }
        _portSlots = new int[maxPort + 1];
        Array.Fill(_portSlots, NoSlot);
        var portsPerSlot = new List<ushort>[_slotVnis.Length];
        for (var s = 0; s < portsPerSlot.Length; s++)
        {
            portsPerSlot[s] = [];
        }

        var macSize = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(8, ports.Count * 2));
        _macKeys = new ulong[macSize];
        _macPorts = new ushort[macSize];
        _macMask = macSize - 1;
        foreach (var (port, slot, mac) in ports)
        {
            _portSlots[port] = slot;
            portsPerSlot[slot].Add(port);
            var key = MacKey(slot, mac);
            var i = (int)(Mix(key) & (uint)_macMask);
            while (_macKeys[i] != 0)
            {
                i = (i + 1) & _macMask;
            }
            _macKeys[i] = key;
            _macPorts[i] = port;
        }
        _floodPorts = new ushort[_slotVnis.Length][];
        for (var s = 0; s < _floodPorts.Length; s++)
        {
            portsPerSlot[s].Sort();
            _floodPorts[s] = [.. portsPerSlot[s]];
        }

        var vniSize = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(8, _slotVnis.Length * 2));
        _vniKeys = new uint[vniSize];
        _vniSlots = new int[vniSize];
        _vniMask = vniSize - 1;
        for (var s = 0; s < _slotVnis.Length; s++)
        {
            var key = _slotVnis[s] | Occupied;
            var i = (int)(Mix(key) & (uint)_vniMask);
            while (_vniKeys[i] != 0)
            {
                i = (i + 1) & _vniMask;
            }
            _vniKeys[i] = key;
            _vniSlots[i] = s;
        }
    }

    /// <summary>An empty table: no port, no VNI. What the packet thread starts with.</summary>
    public static SwitchTables Empty { get; } = new([], [], [], 0);

    /// <summary>Increases with every build, so statistics can show which version is live.</summary>
    public long Version { get; }

    /// <summary>Number of VNIs with at least one local port.</summary>
    public int VniCount => _slotVnis.Length;

    /// <summary>The VNI slot of a local port, or <see cref="NoSlot"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SlotOfPort(ushort port) => port < _portSlots.Length ? _portSlots[port] : NoSlot;

    /// <summary>The slot of <paramref name="vni"/>, or <see cref="NoSlot"/> when no local port is in it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SlotOfVni(uint vni)
    {
        var key = vni | Occupied;
        var i = (int)(Mix(key) & (uint)_vniMask);
        while (true)
        {
            var k = _vniKeys[i];
            if (k == key)
            {
                return _vniSlots[i];
            }
            if (k == 0)
            {
                return NoSlot;
            }
            i = (i + 1) & _vniMask;
        }
    }

    public uint VniOf(int slot) => _slotVnis[slot];

    /// <summary>The local port owning <paramref name="mac"/> in the VNI of <paramref name="slot"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetLocalPort(int slot, MacAddress mac, out ushort port)
    {
        var key = MacKey(slot, mac);
        var i = (int)(Mix(key) & (uint)_macMask);
        while (true)
        {
            var k = _macKeys[i];
            if (k == key)
            {
                port = _macPorts[i];
                return true;
            }
            if (k == 0)
            {
                port = 0;
                return false;
            }
            i = (i + 1) & _macMask;
        }
    }

    /// <summary>Every local port of the VNI, ascending (the ingress port included: callers skip it).</summary>
    public ReadOnlySpan<ushort> PortsOf(int slot) => _floodPorts[slot];

    /// <summary>
    /// The underlay multicast groups the VNIs flood to, sorted (<see cref="MulticastMembership.Compare"/>),
    /// each once: the groups this host must be a member of. A new array with every new tables.
    /// </summary>
    public IpAddr[] MulticastGroups { get; }

    /// <summary>Where flooded frames of the VNI go on the underlay: its multicast group, or the head-end replication peers.</summary>
    public ReadOnlySpan<IpAddr> FloodVtepsOf(int slot) => _floodVteps[slot];

    private static ulong MacKey(int slot, MacAddress mac) => ((ulong)(uint)slot << 48) | mac.Value;

    private static uint Mix(ulong key)
    {
        var x = key * 0x9E37_79B9_7F4A_7C15;
        return (uint)(x >> 32) ^ (uint)x;
    }
}
