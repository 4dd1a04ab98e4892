#!/usr/bin/python3
"""Regenerates the golden frames pinned in GoldenFrames.cs (run with Debian's python3 + scapy).

The frames are built by scapy, independently of the C# code under test; the VXLAN source port
and IPv6 flow label come from a separate CRC32-C implementation below, mirroring FlowHash.cs.
Usage: /usr/bin/python3 golden_frames.py > /tmp/golden.txt, then paste the constants.
"""
import struct
from scapy.all import (ARP, Dot1Q, Ether, ICMP, IP, IPv6, IPv6ExtHdrFragment, Raw, TCP, UDP,
                       ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA,
                       ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr)
from scapy.layers.vxlan import VXLAN

OUR_MAC, PEER_MAC = "02:00:00:00:00:aa", "02:00:00:00:00:bb"
OUR_V4, PEER_V4 = "192.168.1.1", "192.168.1.2"
OUR_V6, PEER_V6 = "fd00::1", "fd00::2"
VM1, VM2 = "52:54:00:00:00:01", "52:54:00:00:00:02"


def crc32c(crc, data):
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc


def flow_hash_ip(src_hi, src_lo, dst_hi, dst_lo, sport, dport, proto):
    h = 0
    for word in (src_hi, src_lo, dst_hi, dst_lo, (sport << 32) | (dport << 16) | proto):
        h = crc32c(h, struct.pack("<Q", word))
    return h


def v4_mapped(a):
    return 0, 0x0000FFFF00000000 | struct.unpack(">I", bytes(map(int, a.split("."))))[0]


def show(name, frame):
    print(f'    public const string {name} = "{bytes(frame).hex()}";')


inner = Ether(src=VM1, dst=VM2) / IP(src="10.0.0.1", dst="10.0.0.2", ttl=64, id=1) / UDP(sport=1234, dport=5678) / Raw(b"hello")
h = flow_hash_ip(*v4_mapped("10.0.0.1"), *v4_mapped("10.0.0.2"), 1234, 5678, 17)
sport = 49152 | ((h ^ (h >> 16)) & 0x3FFF)
print(f"    // flow hash 0x{h:08x}, source port {sport}")
print(f"    public const uint InnerFlowHash = 0x{h:08x};")
show("InnerUdp", inner)
show("VxlanV4", Ether(src=OUR_MAC, dst=PEER_MAC) / IP(src=OUR_V4, dst=PEER_V4, flags="DF", id=0, ttl=64, tos=0)
     / UDP(sport=sport, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=42) / inner)
show("VxlanV6", Ether(src=OUR_MAC, dst=PEER_MAC) / IPv6(src=OUR_V6, dst=PEER_V6, hlim=64, tc=0, fl=h & 0xFFFFF)
     / UDP(sport=sport, dport=4789) / VXLAN(flags=0x08, vni=42) / inner)
show("VxlanV4UdpChecksum", Ether(src=PEER_MAC, dst=OUR_MAC) / IP(src=PEER_V4, dst=OUR_V4, flags="DF", id=7, ttl=64)
     / UDP(sport=50000, dport=4789) / VXLAN(flags=0x08, vni=42) / inner)
show("VxlanV4Multicast", Ether(src=PEER_MAC, dst="01:00:5e:00:00:2a") / IP(src=PEER_V4, dst="230.0.0.42", ttl=64)
     / UDP(sport=50000, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=42) / inner)

show("ArpRequestForUs", Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=PEER_MAC, psrc=PEER_V4, pdst=OUR_V4))
show("ArpReplyFromUs", Ether(src=OUR_MAC, dst=PEER_MAC) / ARP(op=2, hwsrc=OUR_MAC, psrc=OUR_V4, hwdst=PEER_MAC, pdst=PEER_V4))
show("ArpRequestFromUs", Ether(src=OUR_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=OUR_MAC, psrc=OUR_V4, hwdst="00:00:00:00:00:00", pdst=PEER_V4))
show("ArpReplyToUs", Ether(src=PEER_MAC, dst=OUR_MAC) / ARP(op=2, hwsrc=PEER_MAC, psrc=PEER_V4, hwdst=OUR_MAC, pdst=OUR_V4))

show("NsForUs", Ether(src=PEER_MAC, dst="33:33:ff:00:00:01") / IPv6(src=PEER_V6, dst="ff02::1:ff00:1", hlim=255)
     / ICMPv6ND_NS(tgt=OUR_V6) / ICMPv6NDOptSrcLLAddr(lladdr=PEER_MAC))
show("NaFromUs", Ether(src=OUR_MAC, dst=PEER_MAC) / IPv6(src=OUR_V6, dst=PEER_V6, hlim=255)
     / ICMPv6ND_NA(R=0, S=1, O=1, tgt=OUR_V6) / ICMPv6NDOptDstLLAddr(lladdr=OUR_MAC))
show("NsDad", Ether(src=PEER_MAC, dst="33:33:ff:00:00:01") / IPv6(src="::", dst="ff02::1:ff00:1", hlim=255) / ICMPv6ND_NS(tgt=OUR_V6))
show("NaDadDefence", Ether(src=OUR_MAC, dst="33:33:00:00:00:01") / IPv6(src=OUR_V6, dst="ff02::1", hlim=255)
     / ICMPv6ND_NA(R=0, S=0, O=1, tgt=OUR_V6) / ICMPv6NDOptDstLLAddr(lladdr=OUR_MAC))
show("NsFromUs", Ether(src=OUR_MAC, dst="33:33:ff:00:00:02") / IPv6(src=OUR_V6, dst="ff02::1:ff00:2", hlim=255)
     / ICMPv6ND_NS(tgt=PEER_V6) / ICMPv6NDOptSrcLLAddr(lladdr=OUR_MAC))
show("NaToUs", Ether(src=PEER_MAC, dst=OUR_MAC) / IPv6(src=PEER_V6, dst=OUR_V6, hlim=255)
     / ICMPv6ND_NA(R=0, S=1, O=1, tgt=PEER_V6) / ICMPv6NDOptDstLLAddr(lladdr=PEER_MAC))
show("RaFromRouter", Ether(src=PEER_MAC, dst="33:33:00:00:00:01") / IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA())

show("TcpV4Options", Ether(src=VM1, dst=VM2) / IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x01\x01\x01\x00")
     / TCP(sport=40000, dport=80, flags="S", options=[("MSS", 1460)]) / Raw(b"x"))
show("IcmpV4EchoVlan", Ether(src=VM1, dst=VM2) / Dot1Q(vlan=100, prio=5) / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP())
show("Ipv4LaterFragment", Ether(src=VM1, dst=VM2) / IP(src="10.0.0.1", dst="10.0.0.2", proto=17, flags=0, frag=10) / Raw(b"12345678"))
show("Ipv4FirstFragment", Ether(src=VM1, dst=VM2) / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF") / UDP(sport=1, dport=2, len=2000) / Raw(b"ab"))
show("Icmpv6Echo", Ether(src=VM1, dst=VM2) / IPv6(src="fd01::1", dst="fd01::2") / ICMPv6EchoRequest())
show("Ipv6Fragment", Ether(src=VM1, dst=VM2) / IPv6(src="fd01::1", dst="fd01::2") / IPv6ExtHdrFragment(nh=17, offset=0, m=1) / UDP(sport=1, dport=2))
show("Ipv6Udp", Ether(src=VM1, dst=VM2) / IPv6(src="fd01::1", dst="fd01::2") / UDP(sport=5353, dport=53) / Raw(b"q"))
