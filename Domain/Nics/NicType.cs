namespace Butterfly.Domain.Nics;

/// <summary>How a NIC is attached to the host. Values are the wire numbers of MessageV0.Nic.Type.</summary>
public enum NicType
{
    /// <summary>A vhost-user server socket in the socket directory; QEMU is the client.</summary>
    VhostUserServer = 0,

    /// <summary>A kernel tap interface named after the NIC id, with the NIC's MAC.</summary>
    Tap = 1,

    /// <summary>A synthetic traffic NIC used by benchmarks (btype / dip / dmac).</summary>
    Bench = 2,
}
