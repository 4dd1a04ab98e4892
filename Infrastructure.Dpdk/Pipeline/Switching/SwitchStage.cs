using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>Where the switch sends a frame.</summary>
internal enum ForwardKind : byte
{
    Drop,

    /// <summary>To one local port (<see cref="ForwardDecision.Port"/>).</summary>
    Local,

    /// <summary>VXLAN-encapsulated to one remote VTEP (<see cref="ForwardDecision.Vtep"/>).</summary>
    Remote,

    /// <summary>
    /// To every local port of the VNI but <see cref="ForwardDecision.Port"/> (the ingress), and, when
    /// <see cref="ForwardDecision.FloodRemote"/>, to each of the VNI's flood VTEPs.
    /// </summary>
    Flood,
}

/// <summary>The switch's answer for one frame. A 40-byte value; no allocation.</summary>
internal readonly struct ForwardDecision
{
    /// <summary>Port value meaning "no port" (a flood that came from the underlay excludes nothing).</summary>
    public const ushort NoPort = ushort.MaxValue;

    private ForwardDecision(ForwardKind kind, DropReason reason, ushort port, IpAddr vtep, int slot, uint vni, bool floodRemote)
    {
        Kind = kind;
        Reason = reason;
        Port = port;
        Vtep = vtep;
        Slot = slot;
        Vni = vni;
        FloodRemote = floodRemote;
    }

    public ForwardKind Kind { get; }

    /// <summary>Why, when <see cref="Kind"/> is <see cref="ForwardKind.Drop"/>.</summary>
    public DropReason Reason { get; }

    /// <summary>Local: the output port. Flood: the port to leave out (the ingress), or <see cref="NoPort"/>.</summary>
    public ushort Port { get; }

    /// <summary>Remote: the destination VTEP.</summary>
    public IpAddr Vtep { get; }

    /// <summary>The VNI's slot in the <see cref="SwitchTables"/> the decision was made with.</summary>
    public int Slot { get; }

    public uint Vni { get; }

    /// <summary>Flood: also replicate to the VNI's flood VTEPs (only for frames from a local port).</summary>
    public bool FloodRemote { get; }

    public static ForwardDecision Dropped(DropReason reason) => new(ForwardKind.Drop, reason, NoPort, default, SwitchTables.NoSlot, 0, false);

    public static ForwardDecision ToLocal(ushort port, int slot, uint vni) => new(ForwardKind.Local, DropReason.None, port, default, slot, vni, false);

    public static ForwardDecision ToRemote(IpAddr vtep, int slot, uint vni) => new(ForwardKind.Remote, DropReason.None, NoPort, vtep, slot, vni, false);

    public static ForwardDecision ToFlood(ushort excludedPort, int slot, uint vni, bool remote) => new(ForwardKind.Flood, DropReason.None, excludedPort, default, slot, vni, remote);
}

/// <summary>
/// Stage: switch within the VNI.
///
/// Input: a parsed frame (<see cref="PacketMeta"/>) and where it came from: a local port, or the
/// underlay after decap (VNI and sending VTEP).
/// Output: a <see cref="ForwardDecision"/>: one local port, one remote VTEP, a flood, or a drop.
/// Rules: lookups are keyed by VNI, so nothing crosses VNIs. Unknown unicast, broadcast and
/// multicast flood to every other local port of the VNI, and — from a local port only — to the
/// VNI's flood VTEPs (multicast group or head-end peers). Split horizon: a frame from the
/// underlay never goes back to the underlay; a frame never goes back out its ingress port.
/// Learning: frames from the underlay teach (VNI, inner source MAC) → sending VTEP; local MACs
/// are never learned (the model gives them) and take precedence over learned ones.
/// Drop reasons:
/// - <see cref="DropReason.SwitchUnknownPort"/>: the ingress port is in no VNI (not in the tables yet, or removed).
/// - <see cref="DropReason.SwitchUnknownVni"/>: a decapsulated VNI with no local port here.
/// - <see cref="DropReason.SwitchHairpin"/>: the destination MAC is the ingress port's own.
/// - <see cref="DropReason.SwitchRemoteToRemote"/>: an underlay frame to a MAC learned behind a VTEP.
/// - <see cref="DropReason.SwitchSourceMacIsLocal"/>: an underlay frame claims a local NIC's MAC
///   (a loop or a spoof); it is neither learned nor delivered.
/// State: reads <see cref="SwitchTables"/>; reads and writes <see cref="LearnedFdb"/>. Thread: packet thread.
/// </summary>
internal static class SwitchStage
{
    /// <summary>Switches a frame received on local port <paramref name="ingressPort"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ForwardDecision FromLocal(SwitchTables tables, LearnedFdb learned, ushort ingressPort, in PacketMeta meta, long now)
    {
        var slot = tables.SlotOfPort(ingressPort);
        if (slot < 0)
        {
            return ForwardDecision.Dropped(DropReason.SwitchUnknownPort);
        }
        var vni = tables.VniOf(slot);
        var destination = meta.Destination;
        if (destination.IsMulticast)
        {
            return ForwardDecision.ToFlood(ingressPort, slot, vni, remote: true);
        }
        if (tables.TryGetLocalPort(slot, destination, out var port))
        {
            return port == ingressPort
                ? ForwardDecision.Dropped(DropReason.SwitchHairpin)
                : ForwardDecision.ToLocal(port, slot, vni);
        }
        if (learned.TryLookup(vni, destination, now, out var vtep))
        {
            return ForwardDecision.ToRemote(vtep, slot, vni);
        }
        return ForwardDecision.ToFlood(ingressPort, slot, vni, remote: true);
    }

    /// <summary>
    /// Switches an inner frame decapsulated from <paramref name="remoteVtep"/> with
    /// <paramref name="vni"/>, learning its source MAC on the way.
    /// </summary>
    public static ForwardDecision FromUnderlay(SwitchTables tables, LearnedFdb learned, uint vni, IpAddr remoteVtep, in PacketMeta inner, long now)
    {
        var slot = tables.SlotOfVni(vni);
        if (slot < 0)
        {
            return ForwardDecision.Dropped(DropReason.SwitchUnknownVni);
        }
        if (tables.TryGetLocalPort(slot, inner.Source, out _))
        {
            return ForwardDecision.Dropped(DropReason.SwitchSourceMacIsLocal);
        }
        learned.Learn(vni, inner.Source, remoteVtep, now);

        var destination = inner.Destination;
        if (destination.IsMulticast)
        {
            return ForwardDecision.ToFlood(ForwardDecision.NoPort, slot, vni, remote: false);
        }
        if (tables.TryGetLocalPort(slot, destination, out var port))
        {
            return ForwardDecision.ToLocal(port, slot, vni);
        }
        if (learned.TryLookup(vni, destination, now, out _))
        {
            return ForwardDecision.Dropped(DropReason.SwitchRemoteToRemote);
        }
        return ForwardDecision.ToFlood(ForwardDecision.NoPort, slot, vni, remote: false);
    }

    /// <summary>
    /// Writes the local ports a flood decision reaches (every port of the VNI but the excluded
    /// one) into <paramref name="destination"/>; returns how many. <paramref name="destination"/>
    /// should hold <see cref="SwitchTables.PortsOf"/>'s length; extra ports are not written.
    /// </summary>
    public static int FloodPorts(SwitchTables tables, in ForwardDecision decision, Span<ushort> destination)
    {
        var count = 0;
        foreach (var port in tables.PortsOf(decision.Slot))
        {
            if (port != decision.Port && count < destination.Length)
            {
                destination[count++] = port;
            }
        }
        return count;
    }
}
