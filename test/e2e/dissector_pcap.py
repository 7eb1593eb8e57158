#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dissector_pcap.py -- tiny pcap writer for test/e2e/dissector.sh.

Wraps IHMP messages in IPv4 or IPv6 + UDP headers (port 3463 both ways) and
writes them to a classic pcap file (LINKTYPE_RAW, so no link layer).

  dissector_pcap.py vectors DOC OUT.pcap
      the test vectors of DOC (docs/ihmp.md section 10: every "### 10.N"
      heading and the hex block after "The NN octets:"), one per frame, in
      document order; prints "FRAME SECTION LENGTH" per vector. The family
      of the IP header follows the Host ID family; requests go A -> B, ACKs
      B -> A (A = 198.18.1.10 / 2001:db8:1::10, B = 198.19.0.2 / 2001:db8:2::2).
  dissector_pcap.py raw OUT.pcap NAME=HEX...
      one frame per argument (HEX may be empty: an empty UDP payload);
      prints "FRAME NAME LENGTH".
  dissector_pcap.py cutoff DOC OUT.pcap
      vector 10.7 (IPv6 HANDOFF) captured with a 78-octet snap length, and
      vector 10.3 (IPv4 HANDOFF) quoted in an ICMP port unreachable (IP + UDP
      headers + 10 octets): IHMP that is cut off but not malformed.
  dissector_pcap.py fuzz OUT.pcap N SEED
      N pseudo-random datagrams that look like IHMP (version 1, a known type,
      a plausible Host ID, random TLVs, often truncated or bent).
  dissector_pcap.py datafuzz OUT.pcap N SEED
      N pseudo-random DATA datagrams (docs/ihmp.md 8.3: 0x80, reserved, tag,
      an IPv4 or IPv6 packet with TCP, UDP or ICMP), often bent: reserved
      octets and tag, IP version and lengths, truncated or extended.

Standard library only; only lab addresses (198.18.0.0/15, 2001:db8::/32).
"""
import random
import re
import socket
import struct
import sys

PORT = 3463
A4, B4 = "198.18.1.10", "198.19.0.2"
A6, B6 = "2001:db8:1::10", "2001:db8:2::2"


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_ip(payload, v6, src, dst, sport=PORT, dport=PORT):
    ulen = 8 + len(payload)
    if v6:
        s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
        pseudo = s + d + struct.pack("!IxxxB", ulen, 17)
    else:
        s, d = socket.inet_aton(src), socket.inet_aton(dst)
        pseudo = s + d + struct.pack("!xBH", 17, ulen)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    if v6:
        return struct.pack("!IHBB", 6 << 28, ulen, 17, 64) + s + d + udp
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0x4000, 64, 17, 0, s, d)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + udp


def write_pcap(path, packets):
    """packets: bytes, or (captured bytes, original length)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        for i, p in enumerate(packets):
            p, orig = p if isinstance(p, tuple) else (p, len(p))
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(p), orig))
            f.write(p)


def cutoff(doc):
    vs = dict(vectors(doc))
    full = frame(vs["10.7"])
    inner = frame(vs["10.3"])[:20 + 8 + 10]
    icmp = struct.pack("!BBHI", 3, 3, 0, 0) + inner
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0,
                      socket.inet_aton(B4), socket.inet_aton(A4))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return [(full[:78], len(full)), hdr + icmp]


def frame(msg):
    """IP/UDP around one IHMP message, family and direction from its header."""
    v6 = len(msg) >= 8 and msg[6] == 2
    ack = len(msg) >= 2 and msg[1] == 9
    a, b = (A6, B6) if v6 else (A4, B4)
    return udp_ip(msg, v6, b if ack else a, a if ack else b)


def vectors(doc):
    text = open(doc, encoding="utf-8").read()
    sec = text[text.index("## 10. Test vectors"):]
    out = []
    for m in re.finditer(r"^### (10\.\d+)[^\n]*\n(.*?)(?=^### |\Z)", sec, re.S | re.M):
        body = m.group(2)
        t = re.search(r"The (\d+) octets:\s*```\n(.*?)```", body, re.S)
        if not t:
            sys.exit("no octets block in section " + m.group(1))
        data = bytes.fromhex("".join(t.group(2).split()))
        if len(data) != int(t.group(1)):
            sys.exit("section %s: %d octets, document says %s" % (m.group(1), len(data), t.group(1)))
        out.append((m.group(1), data))
    if not out:
        sys.exit("no test vectors found in " + doc)
    return out


def fuzz(n, seed):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        fam = rnd.choice([1, 2, 1, 2, 3, 0])
        hl = {1: 4, 2: 16}.get(fam, rnd.choice([0, 4, 16, 7]))
        if rnd.random() < 0.1:
            hl = rnd.randrange(0, 20)
        m = bytearray([1, rnd.choice(list(range(0, 12)) + [224, 255]), 0, rnd.randrange(16),
                       rnd.randrange(256), rnd.randrange(256), fam, hl])
        m += bytes([198, 18, 1, 10] if hl == 4 else [rnd.randrange(256) for _ in range(hl)])
        for _ in range(rnd.randrange(0, 6)):
            t = rnd.choice([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 100, 128, 200, 255])
            good = {1: [5, 17, 22, 0, 40], 2: [5, 17], 3: [5, 17], 4: [1], 5: [15, 27, 39],
                    6: [8], 7: [32], 8: [96], 9: [16], 10: [16], 11: [64],
                    12: [7, 19]}.get(t, [0, 3])
            n_ = rnd.choice(good) if rnd.random() < 0.7 else rnd.randrange(0, 100)
            v = bytearray(rnd.randrange(256) for _ in range(n_))
            if t in (1, 2, 3, 5, 12) and n_ and rnd.random() < 0.8:
                v[0 if t != 5 else min(5, n_ - 1)] = rnd.choice([1, 2, 2, 9])
            m += bytes([t, n_]) + v
        if rnd.random() < 0.3 and len(m) > 1:
            m = m[:rnd.randrange(1, len(m))]
        if rnd.random() < 0.1:
            m += bytes([rnd.randrange(256)])
        out.append(bytes(m))
    return out


def datafuzz(n, seed):
    rnd = random.Random(seed)
    out = []
    # Only ports no Wireshark dissector claims: the inner packet's own
    # dissectors are not under test.
    ports = [40000, 40001, 40002, 40003]
    for _ in range(n):
        v6 = rnd.random() < 0.4
        proto = rnd.choice([6, 6, 17, 17, 58 if v6 else 1, rnd.randrange(256)])
        payload = bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 1, 4, 20, 60])))
        sp, dp = rnd.choice(ports), rnd.choice(ports)
        if proto == 6:
            l4 = struct.pack("!HHIIBBHHH", sp, dp, rnd.randrange(1 << 32), rnd.randrange(1 << 32),
                             rnd.choice([5, 5, 5, 8, 15, 2]) << 4, rnd.randrange(256),
                             rnd.randrange(65536), rnd.randrange(65536), 0)
            if l4[12] >> 4 > 5:
                l4 += bytes(rnd.choice([1, 1, 2, 3, 4, 8]) for _ in range(4 * ((l4[12] >> 4) - 5)))
            l4 += payload
        elif proto == 17:
            ul = 8 + len(payload) if rnd.random() < 0.8 else rnd.randrange(65536)
            l4 = struct.pack("!HHHH", sp, dp, ul, rnd.randrange(65536)) + payload
        else:
            l4 = bytes([rnd.choice([0, 3, 8, 11, 128, 129, 1, 2])]) + bytes(rnd.randrange(256) for _ in range(7)) + payload
        if v6:
            ip = struct.pack("!IHBB", 6 << 28, len(l4), proto, 64) + bytes([0x20, 1, 0xd, 0xb8]) + \
                bytes(rnd.randrange(256) for _ in range(12)) + bytes([0x20, 1, 0xd, 0xb8]) + \
                bytes(rnd.randrange(256) for _ in range(12)) + l4
        else:
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), rnd.randrange(65536),
                             rnd.choice([0x4000, 0x4000, 0, 0x2000, 0x0010]), 64, proto, 0,
                             bytes([198, 18, 1, 10]), bytes([198, 19, 0, 2])) + l4
        ip = bytearray(ip)
        r = rnd.random()
        if r < 0.1:
            ip[0] = rnd.randrange(256)                          # version, IHL
        elif r < 0.2:
            o = 4 if ip[0] >> 4 == 6 else 2                     # IP length
            ip[o:o + 2] = struct.pack("!H", rnd.randrange(65536))
        elif r < 0.3:
            del ip[rnd.randrange(0, len(ip)):]                  # cut short
        elif r < 0.35:
            ip += bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 9)))
        hdr = bytearray([0x80, 0, 0, 0]) + struct.pack("!I", rnd.randrange(1, 1 << 32))
        if rnd.random() < 0.1:
            hdr[rnd.randrange(1, 4)] = rnd.randrange(1, 256)
        if rnd.random() < 0.1:
            hdr[4:8] = b"\0\0\0\0"
        m = bytes(hdr + ip)
        if rnd.random() < 0.05:
            m = m[:rnd.randrange(1, 9)]
        out.append(m)
    return out


def main(argv):
    if len(argv) == 4 and argv[1] == "vectors":
        vs = vectors(argv[2])
        write_pcap(argv[3], [frame(d) for _, d in vs])
        for i, (s, d) in enumerate(vs, 1):
            print(i, s, len(d), d.hex())
    elif len(argv) >= 3 and argv[1] == "raw":
        pkts = []
        for i, arg in enumerate(argv[3:], 1):
            name, _, hx = arg.partition("=")
            d = bytes.fromhex(hx)
            pkts.append(frame(d))
            print(i, name, len(d))
        write_pcap(argv[2], pkts)
    elif len(argv) == 4 and argv[1] == "cutoff":
        write_pcap(argv[3], cutoff(argv[2]))
    elif len(argv) == 5 and argv[1] in ("fuzz", "datafuzz"):
        pkts = (fuzz if argv[1] == "fuzz" else datafuzz)(int(argv[3]), int(argv[4]))
        write_pcap(argv[2], [frame(d) for d in pkts])
        print(len(pkts))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
