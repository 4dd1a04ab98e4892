using System.Buffers.Binary;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>What decap found: the VNI, the inner frame's place in the buffer, and who sent it.</summary>
internal readonly struct DecapResult
{
    public DecapResult(uint vni, int innerOffset, int innerLength, IpAddr remoteVtep)
    {
        Vni = vni;
        InnerOffset = innerOffset;
        InnerLength = innerLength;
        RemoteVtep = remoteVtep;
    }

    public uint Vni { get; }

    public int InnerOffset { get; }

    public int InnerLength { get; }

    /// <summary>The outer source address: the VTEP behind the inner source MAC.</summary>
    public IpAddr RemoteVtep { get; }
}

/// <summary>
/// Stage: VXLAN decap. Validates an underlay frame the parser has read up to its outer UDP
/// header and finds the inner frame; it moves nothing (the caller advances the mbuf).
///
/// Input: the frame, its outer <see cref="PacketMeta"/>, our underlay configuration.
/// Output: a <see cref="DecapResult"/>, or a drop reason.
/// Accepted: outer IPv4 or IPv6 (no extension headers), UDP to 4789, destination = our VTEP
/// address of that family or the multicast group of the header's VNI (<see cref="MulticastGroups"/>).
/// UDP checksums: verified when non-zero; zero is accepted over IPv4 (RFC 7348) and over IPv6
/// (RFC 6935/6936 allow a tunnel endpoint to accept it, and peers that chose it interoperate).
/// Drop reasons:
/// - <see cref="DropReason.DecapNotVxlan"/>: not IPv4/IPv6 + UDP to port 4789 (callers classify first; this re-checks).
/// - <see cref="DropReason.DecapOuterFragment"/>: an outer fragment; VTEPs do not reassemble (RFC 7348 §4.3).
/// - <see cref="DropReason.DecapOuterBadChecksum"/>: the outer IPv4 header checksum is wrong.
/// - <see cref="DropReason.DecapOuterBadSource"/>: outer source multicast, unspecified or IPv4-mapped.
/// - <see cref="DropReason.DecapFromSelf"/>: outer source is our own VTEP (a looped-back copy).
/// - <see cref="DropReason.DecapNotOurAddress"/>: outer destination is neither our VTEP nor the VNI's group.
/// - <see cref="DropReason.DecapTruncated"/>: no room for the VXLAN header and a 14-byte inner Ethernet header.
/// - <see cref="DropReason.DecapFlagsInvalid"/>: the I flag is clear.
/// - <see cref="DropReason.DecapBadUdpChecksum"/>: a non-zero UDP checksum that does not verify.
/// State: none (learning is the switch's). Thread: any.
/// </summary>
internal static class VxlanDecap
{
    public static DropReason Decapsulate(ReadOnlySpan<byte> frame, in PacketMeta outer, UnderlayConfig local, out DecapResult result)
    {
        result = default;
        var v4 = outer.L3 == L3Kind.Ipv4;
        if (!v4 && outer.L3 != L3Kind.Ipv6)
        {
            return DropReason.DecapNotVxlan;
        }
        if (outer.Has(PacketFlags.Fragment))
        {
            return DropReason.DecapOuterFragment;
        }
        if (outer.L4Protocol != Ipv4Header.ProtocolUdp || outer.L4Offset == 0 || outer.DestinationPort != VxlanHeader.UdpPort
            || outer.L3End > frame.Length)
        {
            return DropReason.DecapNotVxlan;
        }
        if (v4 && !InternetChecksum.Ipv4HeaderValid(frame[outer.L3Offset..outer.L4Offset]))
        {
            return DropReason.DecapOuterBadChecksum;
        }

        var source = outer.SourceIp;
        if (source.IsMulticast || source.IsUnspecified || source.IsV4 != v4)
        {
            return DropReason.DecapOuterBadSource;
        }
        var hasOurs = v4 ? local.HasIpv4 : local.HasIpv6;
        var ours = v4 ? local.Ipv4Address : local.Ipv6Address;
        if (hasOurs && source == ours)
        {
            return DropReason.DecapFromSelf;
        }

        var udp = frame[outer.L4Offset..outer.L3End];
        int udpLength = BinaryPrimitives.ReadUInt16BigEndian(udp[UdpHeader.LengthOffset..]);
        const int MinUdp = UdpHeader.Length + VxlanHeader.Length + EthernetHeader.Length;
        if (udpLength < MinUdp)
        {
            return DropReason.DecapTruncated;
        }
        var vxlan = udp[UdpHeader.Length..];
        var vni = VxlanHeader.ReadVni(vxlan);

        var destination = outer.DestinationIp;
        var forUs = hasOurs && destination == ours;
        if (!forUs && !(destination.IsMulticast && destination == MulticastGroups.GroupOf(vni, v4)))
        {
            return DropReason.DecapNotOurAddress;
        }
        if ((vxlan[0] & VxlanHeader.FlagValidVni) == 0)
        {
            return DropReason.DecapFlagsInvalid;
        }
        if (BinaryPrimitives.ReadUInt16BigEndian(udp[UdpHeader.ChecksumOffset..]) != 0)
        {
            var pseudo = v4
                ? InternetChecksum.PseudoHeaderV4(source.V4, destination.V4, (ushort)udpLength, Ipv4Header.ProtocolUdp)
                : InternetChecksum.PseudoHeaderV6(source, destination, (uint)udpLength, Ipv6Header.NextUdp);
            if (!InternetChecksum.VerifyTransport(pseudo, udp[..udpLength]))
            {
                return DropReason.DecapBadUdpChecksum;
            }
        }

        const int InnerFromUdp = UdpHeader.Length + VxlanHeader.Length;
        result = new DecapResult(vni, outer.L4Offset + InnerFromUdp, udpLength - InnerFromUdp, source);
        return DropReason.None;
    }
}
