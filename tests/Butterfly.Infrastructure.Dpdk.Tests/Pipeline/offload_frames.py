#!/usr/bin/python3
"""Regenerates the golden frames pinned in OffloadGoldenFrames.cs (run with Debian's python3 + scapy).

scapy builds every frame with its checksums, independently of the C# code under test: the tests
turn a frame's checksum back into the partial seed a guest would leave (or a TSO super-frame into
the one set of headers a guest hands over) and expect the software offload to give these bytes.
Usage: /usr/bin/python3 offload_frames.py > /tmp/offload.txt, then paste the constants.
"""
from scapy.all import (Dot1Q, Ether, IP, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, Raw, TCP, UDP)

VM1, VM2 = "52:54:00:00:00:01", "52:54:00:00:00:02"


def show(name, frame):
    print(f'    public const string {name} = "{bytes(frame).hex()}";')


def pattern(n, start=0):
    return bytes((start + i) * 7 % 251 for i in range(n))


# Checksum completion: whole frames, checksums correct (odd payload lengths on purpose).
show("TcpV4", Ether(src=VM1, dst=VM2) / IP(src="10.0.0.1", dst="10.0.0.2", id=0x1234, flags="DF", ttl=64)
     / TCP(sport=40000, dport=5001, seq=1000, ack=77, flags="PA", window=502,
           options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))]) / Raw(pattern(37)))
show("UdpV6VlanHopByHop", Ether(src=VM1, dst=VM2) / Dot1Q(vlan=100) / IPv6(src="fd01::1", dst="fd01::2", hlim=64)
     / IPv6ExtHdrHopByHop() / UDP(sport=5353, dport=9999) / Raw(pattern(21)))
# A UDP datagram whose checksum computes to 0 must carry 0xffff: payload chosen to make it so.
base = Ether(src=VM1, dst=VM2) / IP(src="10.0.0.1", dst="10.0.0.2", id=1, ttl=64) / UDP(sport=1, dport=2)
for k in range(65536):
    f = Ether(bytes(base / Raw(bytes([k >> 8, k & 0xFF]))))
    if f[UDP].chksum == 0xFFFF:
        show("UdpV4ZeroChecksum", f)
        break

# Segmentation: a super-frame (headers of the whole, as a guest hands it over) and the segments
# Linux's tcp_gso_segment would make of it at MSS 40: total length / payload length, IPv4 id + i,
# sequence + offset, CWR only first, FIN/PSH only last, every checksum recomputed.
payload = pattern(100, 3)
mss = 40


def v4(flags, seq, ident, data):
    return (Ether(src=VM1, dst=VM2) / IP(src="10.0.0.1", dst="10.0.0.2", id=ident, flags="DF", ttl=64)
            / TCP(sport=40000, dport=5001, seq=seq, ack=77, flags=flags, window=502) / Raw(data))


def v6(flags, seq, data):
    return (Ether(src=VM1, dst=VM2) / Dot1Q(vlan=7) / IPv6(src="fd01::1", dst="fd01::2", hlim=64) / IPv6ExtHdrDestOpt()
            / TCP(sport=40000, dport=5001, seq=seq, ack=77, flags=flags, window=502,
                  options=[("NOP", None), ("NOP", None), ("Timestamp", (5, 6))]) / Raw(data))


def segment_flags(i, last):
    flags = "A" + ("C" if i == 0 else "") + ("PF" if last else "")
    return flags


show("TsoV4Super", v4("FPAC", 0xFFFFFFF0, 0xFFFE, payload))
for i in range(0, len(payload), mss):
    last = i + mss >= len(payload)
    show(f"TsoV4Segment{i // mss}", v4(segment_flags(i, last), (0xFFFFFFF0 + i) & 0xFFFFFFFF, (0xFFFE + i // mss) & 0xFFFF, payload[i:i + mss]))
show("TsoV6Super", v6("FPAC", 5000, payload))
for i in range(0, len(payload), mss):
    last = i + mss >= len(payload)
    show(f"TsoV6Segment{i // mss}", v6(segment_flags(i, last), 5000 + i, payload[i:i + mss]))
