namespace Butterfly.Domain.Nics;

/// <summary>How a NIC is attached to the host. Values are the wire numbers of MessageV0.Nic.Type.</summary>
public enum NicType
{
    /// <summary>A vhost-user server socket in the socket directory; QEMU is the client.</summary>
    VhostUserServer = 0,

    /// <summary>A kernel tap interface named after the NIC id, with the NIC's MAC.</summary>
    Tap = 1,

    /// <summary>The in-switch ICMP probe: no VM behind it, the packet thread sends echo requests and times the replies, or answers them (btype / dip / dmac).</summary>
    Bench = 2,
}
