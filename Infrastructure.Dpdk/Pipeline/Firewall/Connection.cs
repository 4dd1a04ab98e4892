using System.Runtime.InteropServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

/// <summary>Facts about a tracked connection beyond its protocol state.</summary>
[Flags]
internal enum ConnectionFlags : byte
{
    None = 0,

    /// <summary>The entry is in use (the table's own mark; a free entry has no flag).</summary>
    Used = 1 << 0,

    /// <summary>The connection's first packet came from endpoint A of the key.</summary>
    OriginIsA = 1 << 1,

    /// <summary>A packet went the reply way (UDP: the flow is a stream; ICMP: the echo was answered).</summary>
    SeenReply = 1 << 2,

    /// <summary>
    /// The first packet went toward the NIC: the connection was admitted by INBOUND rules
    /// (else by OUTBOUND rules, or by the absence of any). What a re-check after a rule change
    /// evaluates again.
    /// </summary>
    Inbound = 1 << 3,

    /// <summary>Came from a nic_export document (a migrated VM's session), not from a packet here.</summary>
    Imported = 1 << 4,
}

/// <summary>
/// One side of a TCP connection for sequence tracking (the van Rooij algorithm that pf and
/// Open vSwitch's conntrack-tcp use): the highest sequence this side has sent, the highest
/// the other side lets it send, its largest advertised window and its window scale.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal struct TcpPeer
{
    /// <summary>One past the highest sequence number sent (pf's seqlo).</summary>
    public uint End;

    /// <summary>The highest sequence number the other side's ACK and window allow (pf's seqhi).</summary>
    public uint Limit;

    /// <summary>The largest window this side advertised, before scaling.</summary>
    public uint MaxWindow;

    /// <summary>Window scale shift and flags (<see cref="TcpTracker"/>).</summary>
    public byte WindowScale;

    /// <summary>This side's <see cref="TcpPeerState"/>.</summary>
    public TcpPeerState State;
}

/// <summary>
/// A tracked connection: its key, when it expires, the policy version it was admitted or last
/// checked under, and protocol state. 96 bytes, in the <see cref="ConnectionTable"/>'s native
/// array; only the packet thread reads or writes it.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 96)]
internal struct Connection
{
    public FlowKey Key;

    /// <summary>Clock value (the packet thread's ticks) after which the entry is dead.</summary>
    public long Expires;

    /// <summary>The low 32 bits of the <see cref="FirewallPolicy.Version"/> that last admitted it.</summary>
    public uint PolicyVersion;

    public ConnectionFlags Flags;

    private readonly byte _pad0;
    private readonly ushort _pad1;

    /// <summary>TCP: the side that opened the connection.</summary>
    public TcpPeer Origin;

    /// <summary>TCP: the side that answers.</summary>
    public TcpPeer Reply;

    public readonly bool Has(ConnectionFlags flag) => (Flags & flag) != 0;

    /// <summary>True when a packet whose sender is (or is not) endpoint A goes the way the first packet went.</summary>
    public readonly bool IsOriginal(bool senderIsA) => senderIsA == Has(ConnectionFlags.OriginIsA);
}
