#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fastpath_pkt.py -- sockets with fixed ports and a checksum census of
captures, for test/lab/kcsum.sh and test/e2e/fastpath.sh (the kernel
datapath's checksums). Standard library only.

  tcp-serve ADDR PORT OUT            accept one connection, sha256 of what
                                     arrives, sent back; OUT: "peer bytes sha"
  tcp-send SRC SPORT DST DPORT N OUT N random bytes; OUT: "N sha sha-echoed"
  udp-recv ADDR PORT OUT SECS        OUT: "intact corrupt sources"
  udp-send SRC SPORT DST DPORT COUNT SIZE NOCHECK(0|1) [GAP=0.002] [FIXED=0]
                                     sha256-prefixed datagrams (FIXED=1: the
                                     same payload every time), unconnected
  check PCAP WANT[,WANT...] [PORT]   census: see check()
  fields PCAP PORT                   header fields of the first datagram to PORT
  ethtool-off DEV tx|rx              checksum offload off (SIOCETHTOOL)
"""
import fcntl, hashlib, os, socket, struct, sys, time

def ones(data, s=0):
    if len(data) % 2:
        data += b'\0'
    for (w,) in struct.iter_unpack('!H', data):
        s += w
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s

def ethtool_off(dev, what):
    # The legacy ETHTOOL_STXCSUM / ETHTOOL_SRXCSUM (struct ethtool_value
    # {u32 cmd, data}), through SIOCETHTOOL: no ethtool(8) needed.
    import ctypes
    cmd = {'tx': 0x17, 'rx': 0x15}[what]
    buf = ctypes.create_string_buffer(struct.pack('II', cmd, 0), 8)
    ifr = struct.pack('16sP', dev.encode(), ctypes.addressof(buf)).ljust(40, b'\0')
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fcntl.ioctl(s, 0x8946, ifr)

def fam_of(a):
    return socket.AF_INET6 if ':' in a else socket.AF_INET

def tcp_serve(addr, port, out):
    s = socket.socket(fam_of(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(1)
    s.settimeout(30)
    c, peer = s.accept()
    c.settimeout(15)
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(h.hexdigest().encode())
    c.close()
    open(out, 'w').write('%s %d %s\n' % (peer[0], n, h.hexdigest()))

def tcp_send(src, sport, dst, dport, nbytes, out):
    s = socket.socket(fam_of(dst), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, int(sport)))
    s.settimeout(15)
    s.connect((dst, int(dport)))
    h, left = hashlib.sha256(), int(nbytes)
    while left:
        b = os.urandom(min(left, 1 << 18))
        s.sendall(b)
        h.update(b)
        left -= len(b)
    s.shutdown(socket.SHUT_WR)
    got = s.recv(100).decode()
    open(out, 'w').write('%d %s %s\n' % (int(nbytes), h.hexdigest(), got))

def udp_recv(addr, port, out, secs):
    s = socket.socket(fam_of(addr), socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    s.settimeout(0.2)
    end, ok, bad, srcs = time.time() + float(secs), 0, 0, set()
    while time.time() < end:
        try:
            b, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        if b == b'STOP':
            break
        srcs.add(peer[0])
        if hashlib.sha256(b[32:]).digest() == b[:32]:
            ok += 1
        else:
            bad += 1
    open(out, 'w').write('%d %d %s\n' % (ok, bad, ','.join(sorted(srcs))))

def udp_send(src, sport, dst, dport, count, size, nocheck, gap='0.002', fixed='0'):
    s = socket.socket(fam_of(dst), socket.SOCK_DGRAM)
    if nocheck == '1':
        s.setsockopt(socket.SOL_SOCKET, 11, 1)   # SO_NO_CHECK: IPv4 UDP checksum 0
    s.bind((src, int(sport)))
    for i in range(int(count)):
        p = struct.pack('!I', 0 if fixed == '1' else i) + (b'D' * (int(size) - 36) if fixed == '1' else os.urandom(int(size) - 36))
        try:
            s.sendto(hashlib.sha256(p).digest() + p, (dst, int(dport)))
        except OSError:
            pass    # no route for a moment (a hard handoff): go on, as media apps do
        time.sleep(float(gap))
    for _ in range(3):
        s.sendto(b'STOP', (dst, int(dport)))

def packets(path):
    """IP packets of a pcap: Ethernet (1) or NFLOG (239)."""
    d = open(path, 'rb').read()
    magic, = struct.unpack('<I', d[:4])
    e = '<' if magic == 0xa1b2c3d4 else '>'
    link, = struct.unpack(e + 'I', d[20:24])
    o = 24
    while o + 16 <= len(d):
        _, _, incl, orig = struct.unpack(e + 'IIII', d[o:o + 16])
        f = d[o + 16:o + 16 + incl]
        o += 16 + incl
        if incl < orig:
            yield None, 'truncated'
            continue
        if link == 1:
            et, = struct.unpack('!H', f[12:14])
            if et in (0x0800, 0x86dd):
                yield f[14:], None
        elif link == 239:
            p = 4
            while p + 4 <= len(f):
                ln, ty = struct.unpack('<HH', f[p:p + 4])
                if ln < 4:
                    break
                if ty == 9:
                    yield f[p + 4:p + ln], None
                p += (ln + 3) & ~3

def l4_of(ip):
    """(proto, src, dst, l4 bytes, first-fragment?) of an IP packet."""
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        tot, = struct.unpack('!H', ip[2:4])
        return ip[9], ip[12:16], ip[16:20], ip[ihl:tot]
    plen, = struct.unpack('!H', ip[4:6])
    return ip[6], ip[8:24], ip[24:40], ip[40:40 + plen]

def ports_match(ip, port):
    if not port:
        return True
    proto, _, _, l4 = l4_of(ip)
    if proto not in (6, 17) or len(l4) < 4:
        return False
    sp, dp = struct.unpack('!HH', l4[:4])
    return int(port) in (sp, dp)

def fields(path, port):
    """Header fields of the first UDP datagram to PORT, one key=value a line."""
    for ip, err in packets(path):
        if err or not ip:
            continue
        proto, src, dst, l4 = l4_of(ip)
        if proto != 17 or struct.unpack('!H', l4[2:4])[0] != int(port):
            continue
        f = {}
        if ip[0] >> 4 == 4:
            (f['ip.ver_ihl'], f['ip.tos'], f['ip.len'], f['ip.id'], f['ip.flags_frag'], f['ip.ttl'],
             f['ip.proto'], f['ip.csum']) = struct.unpack('!BBHHHBBH', ip[:12])
            f['ip.src'], f['ip.dst'] = socket.inet_ntop(socket.AF_INET, src), socket.inet_ntop(socket.AF_INET, dst)
            f['ip.options'] = ip[20:(ip[0] & 15) * 4].hex()
        else:
            vtf, f['ip6.plen'], f['ip6.nexthdr'], f['ip6.hlim'] = struct.unpack('!IHBB', ip[:8])
            f['ip6.version'], f['ip6.tclass'], f['ip6.flowlabel'] = vtf >> 28, (vtf >> 20) & 0xff, vtf & 0xfffff
            f['ip6.src'], f['ip6.dst'] = socket.inet_ntop(socket.AF_INET6, src), socket.inet_ntop(socket.AF_INET6, dst)
        f['udp.sport'], f['udp.dport'], f['udp.len'], f['udp.csum'] = struct.unpack('!HHHH', l4[:8])
        f['udp.payload_sha256'] = hashlib.sha256(l4[8:]).hexdigest()[:16]
        for k in sorted(f):
            print('%s=%s' % (k, f[k]))
        return
    sys.exit('no UDP datagram to port %s in %s' % (port, path))

def check(path, want, port=''):
    """Every IPv4 header checksum; every TCP/UDP checksum: complete (valid),
    pseudo (the field holds the pseudo-header sum of the addresses on the
    packet: CHECKSUM_PARTIAL), zero (IPv4 UDP without checksum), bad."""
    c = dict(pkts=0, ip_ok=0, ip_bad=0, complete=0, pseudo=0, zero=0, bad=0, frag=0, big=0, truncated=0, maxlen=0)
    for ip, err in packets(path):
        if err:
            c[err] += 1
            continue
        if not ports_match(ip, port):
            continue
        c['pkts'] += 1
        c['maxlen'] = max(c['maxlen'], len(ip))
        if ip[0] >> 4 == 4:
            ihl = (ip[0] & 15) * 4
            tot, = struct.unpack('!H', ip[2:4])
            if ones(ip[:ihl]) == 0xffff:
                c['ip_ok'] += 1
            else:
                c['ip_bad'] += 1
            ff, = struct.unpack('!H', ip[6:8])
            proto, src, dst, l4 = ip[9], ip[12:16], ip[16:20], ip[ihl:tot]
            if ff & 0x3fff:
                c['frag'] += 1
                if ff & 0x1fff:
                    continue
                # A first fragment: its checksum covers the whole datagram.
                continue
        else:
            plen, = struct.unpack('!H', ip[4:6])
            proto, src, dst, l4 = ip[6], ip[8:24], ip[24:40], ip[40:40 + plen]
            if proto == 44:
                c['frag'] += 1
                continue
        if proto not in (6, 17):
            continue
        if len(ip) > 1500:
            c['big'] += 1
        off = 16 if proto == 6 else 6
        field, = struct.unpack('!H', l4[off:off + 2])
        if proto == 17 and field == 0 and len(src) == 4:
            c['zero'] += 1
            continue
        ph = src + dst + struct.pack('!HH', proto, len(l4))
        if ones(ph + l4) == 0xffff:
            c['complete'] += 1
        elif field == ones(ph):
            c['pseudo'] += 1
        else:
            c['bad'] += 1
    print(' '.join('%s=%d' % kv for kv in c.items()))
    ok = c['ip_bad'] == 0 and c['bad'] == 0 and c['truncated'] == 0 and c['pkts'] > 0
    for w in want.split(','):
        if w == 'all-complete':
            ok = ok and c['pseudo'] == 0
        elif w == 'some-pseudo':
            ok = ok and c['pseudo'] > 0
        elif w == 'some-big':
            ok = ok and c['big'] > 0
        elif w == 'no-big':
            ok = ok and c['big'] == 0
        elif w == 'zero':
            ok = ok and c['zero'] > 0 and c['complete'] == 0 and c['pseudo'] == 0
        elif w == 'no-zero':
            ok = ok and c['zero'] == 0
    sys.exit(0 if ok else 1)

if __name__ == '__main__':
    f = {'tcp-serve': tcp_serve, 'tcp-send': tcp_send, 'udp-recv': udp_recv, 'udp-send': udp_send,
         'check': check, 'fields': fields, 'ethtool-off': ethtool_off}[sys.argv[1]]
    f(*sys.argv[2:])
