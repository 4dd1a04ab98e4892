using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// The 50 bytes encap puts in front of an inner frame over IPv4, as one packed struct whose
/// fields hold network-order values: encap fills it on the stack (no bounds checks) and stores
/// it with one copy. Layout (offsets): Ethernet 0, IPv4 14, UDP 34, VXLAN 42; see
/// <see cref="EthernetHeader"/>, <see cref="Ipv4Header"/>, <see cref="UdpHeader"/>,
/// <see cref="VxlanHeader"/> for the diagrams.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct VxlanOuterV4
{
    public EthernetWords Ethernet;
    public byte VersionIhl;
    public byte Tos;
    public ushort TotalLength;
    public ushort Identification;
    public ushort FlagsFragment;
    public byte Ttl;
    public byte Protocol;
    public ushort Checksum;
    public uint Source;
    public uint Destination;
    public UdpVxlanWords UdpVxlan;
}

/// <summary>The 70 bytes encap puts in front of an inner frame over IPv6: Ethernet 0, IPv6 14, UDP 54, VXLAN 62.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct VxlanOuterV6
{
    public EthernetWords Ethernet;
    public uint VersionClassFlow;
    public ushort PayloadLength;
    public byte NextHeader;
    public byte HopLimit;
    public ulong SourceHi;
    public ulong SourceLo;
    public ulong DestinationHi;
    public ulong DestinationLo;
    public UdpVxlanWords UdpVxlan;
}

/// <summary>An untagged Ethernet header as network-order words (destination 4+2 bytes, source 2+4, type).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct EthernetWords
{
    public uint DestinationHigh;
    public ushort DestinationLow;
    public ushort SourceHigh;
    public uint SourceLow;
    public ushort EtherType;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(MacAddress destination, MacAddress source, ushort etherType)
    {
        DestinationHigh = BigEndian((uint)(destination.Value >> 16));
        DestinationLow = BigEndian((ushort)destination.Value);
        SourceHigh = BigEndian((ushort)(source.Value >> 32));
        SourceLow = BigEndian((uint)source.Value);
        EtherType = BigEndian(etherType);
    }

    internal static uint BigEndian(uint value) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;

    internal static ushort BigEndian(ushort value) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;

    internal static ulong BigEndian(ulong value) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;
}

/// <summary>UDP header then VXLAN header, as network-order words.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct UdpVxlanWords
{
    public ushort SourcePort;
    public ushort DestinationPort;
    public ushort Length;
    public ushort Checksum;
    public uint Flags;
    public uint Vni;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(ushort sourcePort, ushort length, uint vni)
    {
        SourcePort = EthernetWords.BigEndian(sourcePort);
        DestinationPort = EthernetWords.BigEndian(VxlanHeader.UdpPort);
        Length = EthernetWords.BigEndian(length);
        Checksum = 0;
        Flags = EthernetWords.BigEndian((uint)VxlanHeader.FlagValidVni << 24);
        Vni = EthernetWords.BigEndian(vni << 8);
    }
}
