#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Packet tools for test/e2e/datapath.sh (standard library only, no scapy).

  e2e_pkt.py inject IFNAME DST_MAC FAMILY SRC DST SPORT DPORT PROTO KIND...
      Sends hand-made frames through an AF_PACKET socket on IFNAME (run it in
      a router's namespace), so the kernel of the sender changes nothing.
      SRC:SPORT -> DST:DPORT is the locator tuple of a translated flow at the
      receiving daemon, so the frames match its in4/in6 set. Prints one line
      per KIND: "KIND frames=N".
  e2e_pkt.py udp-recv FAMILY ADDR PORT SECS OUT
      Unconnected UDP receiver; one line per datagram in OUT:
      "PEER_ADDR LEN FIRST_8_BYTES".
  e2e_pkt.py udp-send FAMILY SRC DST PORT SECS [SIZE]
      Connected UDP sender, one datagram of SIZE bytes (100) every 20 ms,
      ignoring errors (a hard handoff's gap makes sends fail for a while);
      over the path MTU, the kernel fragments it.
"""
import socket
import struct
import sys
import time

MARK_ZERO = b"ZEROCSUM"
MARK_BIG = b"OVERSIZE"
MARK_LARGE = b"LARGEDGM"


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def a2b(fam, a):
    return socket.inet_pton(socket.AF_INET if fam == 4 else socket.AF_INET6, a)


def pseudo(fam, src, dst, proto, length):
    if fam == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def l4_csum(fam, src, dst, proto, seg):
    c = csum(pseudo(fam, src, dst, proto, len(seg)) + seg)
    if proto == 17 and c == 0:
        c = 0xFFFF
    return c


def tcp_seg(sport, dport, payload=b"", good_csum=False, fam=4, src=b"", dst=b""):
    # ACK only, sequence numbers far outside any window; by default a wrong
    # checksum so that no stack ever acts on it (conntrack calls it invalid).
    h = struct.pack("!HHIIBBHHH", sport, dport, 0x12345678, 0x9ABCDEF0, 5 << 4, 0x10, 512, 0, 0)
    seg = h + payload
    c = l4_csum(fam, src, dst, 6, seg) if good_csum else 0xBEEF
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp_dgram(fam, src, dst, sport, dport, payload, zero_csum=False):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = 0 if zero_csum else l4_csum(fam, src, dst, 17, seg)
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def ip4(src, dst, proto, payload, ident=0x4242, frag=0, opts=b"", ihl=None, tot=None, ttl=64):
    hl = 20 + len(opts)
    if ihl is None:
        ihl = hl // 4
    if tot is None:
        tot = hl + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | (ihl & 0xF), 0, tot & 0xFFFF, ident, frag, ttl, proto, 0, src, dst) + opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ip6(src, dst, nh, payload, plen=None, hlim=64):
    if plen is None:
        plen = len(payload)
    return struct.pack("!IHBB16s16s", 6 << 28, plen & 0xFFFF, nh, hlim, src, dst) + payload


def v6ext(nh, body):
    """A hop-by-hop/destination options/routing style header; body padded to 8n-2."""
    body += b"\0" * ((-(len(body) + 2)) % 8)
    return struct.pack("!BB", nh, (len(body) + 2) // 8 - 1) + body


def icmp4_err(src, dst, quote, typ=3, code=4, mtu=1280):
    body = struct.pack("!BBHHH", typ, code, 0, 0, mtu) + quote
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    return ip4(src, dst, 1, body)


def icmp6_err(src, dst, quote, typ=2, code=0, mtu=1280):
    body = struct.pack("!BBHI", typ, code, 0, mtu) + quote
    c = csum(pseudo(6, src, dst, 58, len(body)) + body)
    body = body[:2] + struct.pack("!H", c) + body[4:]
    return ip6(src, dst, 58, body)


def frag4(src, dst, proto, l4, ident, chunk=1480):
    out = []
    for off in range(0, len(l4), chunk):
        more = 0x2000 if off + chunk < len(l4) else 0
        out.append(ip4(src, dst, proto, l4[off:off + chunk], ident=ident, frag=more | (off // 8)))
    return out


def frag6(src, dst, proto, l4, ident, chunk=1448):
    out = []
    for off in range(0, len(l4), chunk):
        more = 1 if off + chunk < len(l4) else 0
        fh = struct.pack("!BBHI", proto, 0, off | more, ident)
        out.append(ip6(src, dst, 44, fh + l4[off:off + chunk]))
    return out


def frames(kind, fam, s, d, sport, dport, proto):
    """The IP packets for one kind of odd packet (a list)."""
    tcp = tcp_seg(sport, dport)
    if fam == 4:
        if kind == "tcp-trunc":        # IP fine, TCP header cut after the ports
            return [ip4(s, d, 6, struct.pack("!HH", sport, dport))]
        if kind == "bad-ihl":          # IHL 3 and IHL 15 > packet: the kernel drops both
            return [ip4(s, d, 6, tcp, ihl=3), ip4(s, d, 6, tcp[:20], ihl=15)]
        if kind == "bad-ipopt":        # option length runs past the header: reaches dimed
            return [ip4(s, d, 6, tcp, opts=b"\x44\x10\x05\x00"),
                    ip4(s, d, 6, tcp, opts=b"\x07\x00\x00\x00")]
        if kind == "bad-totlen":       # total length beyond the frame: the kernel drops it
            return [ip4(s, d, 6, tcp, tot=1400)]
        if kind == "nonfirst-frag":    # a lone later fragment (never completed)
            return [ip4(s, d, proto, b"\xaa" * 64, ident=0x7001, frag=185)]
        if kind == "first-frag-only":  # a lone first fragment (never completed)
            return [ip4(s, d, proto, tcp + b"\xbb" * 36, ident=0x7002, frag=0x2000)]
        if kind == "udp-zero-csum":
            return [ip4(s, d, 17, udp_dgram(4, s, d, sport, dport, MARK_ZERO, zero_csum=True))]
        if kind == "large":            # 65000-byte datagram in fragments: reassembled before dimed
            pay = MARK_LARGE + b"\xc1" * (65000 - 20 - 8 - len(MARK_LARGE))
            return frag4(s, d, 17, udp_dgram(4, s, d, sport, dport, pay), 0x7005)
        if kind == "oversize":         # 65535 bytes: more than NFQUEUE can copy (65531)
            pay = MARK_BIG + b"\xcc" * (65535 - 20 - 8 - len(MARK_BIG))
            return frag4(s, d, 17, udp_dgram(4, s, d, sport, dport, pay), 0x7003)
        if kind == "too-big-reasm":    # fragments past 64 KiB: the kernel drops the lot
            return [ip4(s, d, 17, b"\xdd" * 1480, ident=0x7004, frag=0x2000),
                    ip4(s, d, 17, b"\xdd" * 1480, ident=0x7004, frag=8100)]
        if kind == "icmp-odd-quotes":  # errors quoting odd packets of the flow, rtr -> dst
            q_ok = ip4(d, s, proto, b"", tot=40)[:20] + struct.pack("!HH", dport, sport) + b"\0" * 4
            return [
                icmp4_err(s, d, q_ok[:20] + struct.pack("!HH", dport, sport)[:2]),   # quote ends mid-ports
                icmp4_err(s, d, b"\x43" + q_ok[1:]),                                  # inner IHL 3
                icmp4_err(s, d, b"\x4f" + q_ok[1:]),                                  # inner IHL 15 > quote
                icmp4_err(s, d, q_ok[:6] + b"\x00\xb9" + q_ok[8:]),                   # inner later fragment
                icmp4_err(s, d, b"\x60" + q_ok[1:]),                                  # inner version 6
                icmp4_err(s, d, q_ok[:8]),                                            # quote of 8 bytes
                icmp4_err(s, d, b""),                                                 # no quote at all
                icmp4_err(s, d, q_ok + b"\xee" * 1400),                               # long quote
            ]
    else:
        if kind == "tcp-trunc":
            return [ip6(s, d, 6, struct.pack("!HH", sport, dport))]
        if kind == "bad-plen":         # payload length beyond the frame: the kernel drops it
            return [ip6(s, d, 6, tcp, plen=1400)]
        if kind == "unknown-ext":      # next header 253 (experimental) and 140 (shim6) before TCP
            return [ip6(s, d, 253, v6ext(6, b"\x01\x00") + tcp),
                    ip6(s, d, 140, v6ext(6, b"\x01\x00") + tcp)]
        if kind == "dstopt-unknown":   # destination option of an unknown type (skip-able) before TCP
            return [ip6(s, d, 60, v6ext(6, b"\x1e\x02\x00\x00") + tcp)]
        if kind == "hbh-not-first":    # hop-by-hop after a destination options header: malformed
            return [ip6(s, d, 60, v6ext(0, b"\x01\x00") + v6ext(6, b"\x01\x00") + tcp)]
        if kind == "nonfirst-frag":
            return [ip6(s, d, 44, struct.pack("!BBHI", proto, 0, 1480, 0x7001) + b"\xaa" * 64)]
        if kind == "first-frag-only":
            return [ip6(s, d, 44, struct.pack("!BBHI", proto, 0, 1, 0x7002) + tcp + b"\xbb" * 36)]
        if kind == "udp-zero-csum":    # invalid in IPv6 (RFC 8200): must stay undeliverable
            return [ip6(s, d, 17, udp_dgram(6, s, d, sport, dport, MARK_ZERO, zero_csum=True))]
        if kind == "large":            # 65000 bytes with the IPv6 header
            pay = MARK_LARGE + b"\xc1" * (65000 - 40 - 8 - len(MARK_LARGE))
            return frag6(s, d, 17, udp_dgram(6, s, d, sport, dport, pay), 0x7005)
        if kind == "oversize":         # payload length 65535: 65575 bytes, more than NFQUEUE copies
            pay = MARK_BIG + b"\xcc" * (65535 - 8 - len(MARK_BIG))
            return frag6(s, d, 17, udp_dgram(6, s, d, sport, dport, pay), 0x7003)
        if kind == "too-big-reasm":
            return [ip6(s, d, 44, struct.pack("!BBHI", 17, 0, 1, 0x7004) + b"\xdd" * 1448),
                    ip6(s, d, 44, struct.pack("!BBHI", 17, 0, 65000 | 1, 0x7004) + b"\xdd" * 1448)]
        if kind == "icmp-odd-quotes":
            q_ok = ip6(d, s, proto, struct.pack("!HH", dport, sport) + b"\0" * 4)
            return [
                icmp6_err(s, d, q_ok[:42]),                                                  # quote ends mid-ports
                icmp6_err(s, d, ip6(d, s, 253, v6ext(proto, b"\x01\x00") + q_ok[40:])),       # unknown ext in quote
                icmp6_err(s, d, ip6(d, s, 60, v6ext(proto, b"\x01\x00" + b"\0" * 40))[:52]),  # ext hdr cut short
                icmp6_err(s, d, ip6(d, s, 44, struct.pack("!BBHI", proto, 0, 1480, 9) + b"\0" * 8)),  # later fragment
                icmp6_err(s, d, b"\x45" + q_ok[1:]),                                         # inner version 4
                icmp6_err(s, d, b""),                                                        # no quote
                icmp6_err(s, d, q_ok + b"\xee" * 1180),                                      # long quote
            ]
    raise SystemExit("unknown kind %r for IPv%d" % (kind, fam))


def inject(argv):
    ifname, dmac, fam, src, dst, sport, dport, proto = argv[:8]
    kinds = argv[8:]
    fam, sport, dport = int(fam), int(sport), int(dport)
    proto = {"tcp": 6, "udp": 17}[proto]
    s, d = a2b(fam, src), a2b(fam, dst)
    with open("/sys/class/net/%s/address" % ifname) as f:
        smac = bytes.fromhex(f.read().strip().replace(":", ""))
    eth = bytes.fromhex(dmac.replace(":", "")) + smac + struct.pack("!H", 0x0800 if fam == 4 else 0x86DD)
    sk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sk.bind((ifname, 0))
    for kind in kinds:
        pkts = frames(kind, fam, s, d, sport, dport, proto)
        for p in pkts:
            sk.send(eth + p)
        print("%s frames=%d" % (kind, len(pkts)))
        time.sleep(0.02)


def udp_recv(argv):
    fam, addr, port, secs, out = argv
    sk = socket.socket(socket.AF_INET if fam == "4" else socket.AF_INET6, socket.SOCK_DGRAM)
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sk.bind((addr, int(port)))
    sk.settimeout(0.2)
    end = time.monotonic() + float(secs)
    with open(out, "w", buffering=1) as f:
        while time.monotonic() < end:
            try:
                data, peer = sk.recvfrom(70000)
            except socket.timeout:
                continue
            f.write("%s %d %s\n" % (peer[0], len(data), data[:8].decode("latin-1").replace(" ", "_")))


def udp_send(argv):
    fam, src, dst, port, secs = argv[:5]
    size = int(argv[5]) if len(argv) > 5 else 100
    sk = socket.socket(socket.AF_INET if fam == "4" else socket.AF_INET6, socket.SOCK_DGRAM)
    if fam == "4":  # let the kernel fragment (no DF), as for any big datagram
        sk.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
    else:
        sk.setsockopt(socket.IPPROTO_IPV6, 23, 0)  # IPV6_MTU_DISCOVER = IPV6_PMTUDISC_DONT
    sk.bind((src, 0))
    sk.connect((dst, int(port)))
    end = time.monotonic() + float(secs)
    while time.monotonic() < end:
        try:
            sk.send(b"tick____" + b"t" * (size - 8))
        except OSError:
            pass
        time.sleep(0.02)


def main():
    cmd, argv = sys.argv[1], sys.argv[2:]
    {"inject": inject, "udp-recv": udp_recv, "udp-send": udp_send}[cmd](argv)


if __name__ == "__main__":
    main()
