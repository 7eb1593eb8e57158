#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""hostile_ihmp.py -- the hostile peer of test/e2e/hostile.sh.

An IHMP v1 encoder written from docs/ihmp.md (independent of src/ihmp_wire.c),
checked against the spec's section 10 vectors at every start, an Ed25519
signer (python3-nacl), raw-socket senders that forge any source address, a
sniffer for IHMP datagrams and the case generators.

  selftest                        encoder and signatures vs docs/ihmp.md §10
  sniff IFACE OUT                 log every UDP datagram to/from port 3463
                                  ("time src sport dst dport hex" lines)
  attack CASE CTX                 build and send the datagrams of CASE; CTX is
                                  a JSON file (addresses, key files, capture,
                                  state); prints "# ..." notes, and on stdout
                                  one line "expect COUNTER=N ..." (the
                                  rejected counters that must rise)
  keygen OUT                      a libsodium-format 64-octet secret key
  pubkey KEYFILE                  base64 public key of a libsodium secret key
  b64 KEYFILE / hex KEYFILE       encodings of the secret (for the log check)
  hidcount                        number of HIDs in `show hids -j` (stdin)
  hidof ADDR                      that HID's entry (stdin: `show hids -j`)
  keyof ADDR HIDS KEYS            the key bound to the HID holding ADDR
  delta BEFORE AFTER              "name=delta" for every changed ihmp.rejected
"""
import base64
import ipaddress
import json
import os
import random
import socket
import struct
import sys
import time

try:
    import nacl.signing
    import nacl.exceptions
except ImportError:  # hostile.sh installs it; this is the fallback
    os.system("apt-get install -y python3-nacl >/dev/null 2>&1")
    import nacl.signing
    import nacl.exceptions

PORT = 3463
CTX_SIG = b"IHMP-v1-signature"
# message types
HELLO, PATH_PROBE, ADDR_UP, ADDR_UP_UNR, ADDR_DOWN, ADDR_DOWN_UNR, HANDOFF, HANDOFF_UNR, ACK, NAT_ENTRY = range(1, 11)
# TLV types
T_ADDRS, T_NEW, T_OLD, T_ECHO, T_NATMAP, T_COUNTER, T_PUBKEY, T_KEYROT, T_NONCE, T_NONCE_ECHO, T_SIG = range(1, 12)
T_PAD = 128


# ------------------------------------------------------------ encoder ---
def fam_addr(a):
    ip = ipaddress.ip_address(a)
    return bytes([1 if ip.version == 4 else 2]) + ip.packed


def header(mtype, seq, host_id, flags=0, version=1, hid_fam=None, hid_len=None):
    ip = ipaddress.ip_address(host_id)
    fam = hid_fam if hid_fam is not None else (1 if ip.version == 4 else 2)
    ln = hid_len if hid_len is not None else len(ip.packed)
    return struct.pack("!BBHHBB", version, mtype, flags, seq, fam, ln) + ip.packed


def tlv(t, v):
    return bytes([t, len(v)]) + v


def addrs_tlv(addrs):
    return tlv(T_ADDRS, b"".join(fam_addr(a) for a in addrs))


# COUNTER's top bit: sent over IPv4 (docs/ihmp.md §7.2); set by Ctx for the
# family a case attacks in, so counters here are the value below that bit.
COUNTER_V4 = 1 << 63
COUNTER_FAM_BIT = 0


def counter_tlv(c):
    return tlv(T_COUNTER, struct.pack("!Q", c | COUNTER_FAM_BIT))


def sign(sk, body):
    """Append the SIGNATURE TLV: Ed25519 over "IHMP-v1-signature" || body."""
    sig = sk.sign(CTX_SIG + body).signature
    return body + bytes([T_SIG, 64]) + sig


def msg(mtype, seq, host_id, tlvs, flags=0, sk=None, counter=None):
    b = header(mtype, seq, host_id, flags)
    if counter is not None:
        tlvs = list(tlvs) + [counter_tlv(counter)]
    # canonical order: ascending type (stable), SIGNATURE last
    tlvs = sorted(tlvs, key=lambda x: x[0])
    b += b"".join(tlvs)
    return sign(sk, b) if sk is not None else b


def tlv_offsets(b):
    """[(type, start, end)] of the TLVs of message b."""
    off = 8 + b[7]
    out = []
    while off + 2 <= len(b):
        t, ln = b[off], b[off + 1]
        out.append((t, off, off + 2 + ln))
        off += 2 + ln
    return out


def verify(pk, b):
    """True if b ends with a SIGNATURE TLV that verifies with pk (bytes)."""
    if len(b) < 66 or b[-66] != T_SIG or b[-65] != 64:
        return False
    try:
        nacl.signing.VerifyKey(pk).verify(CTX_SIG + b[:-66], b[-64:])
        return True
    except nacl.exceptions.BadSignatureError:
        return False


def get_counter(b):
    for t, s, e in tlv_offsets(b):
        if t == T_COUNTER and e - s == 10:
            return struct.unpack("!Q", b[s + 2:e])[0]
    return None


# ------------------------------------------------------------ selftest ---
def hx(s):
    return bytes.fromhex("".join(s.split()))


VEC = {
    "10.1": "01 01 00 00 12 34 01 04 c6 12 01 0a 01 16 01 c6 12 01 0a 02 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 10",
    "10.2": "01 09 00 00 12 34 01 04 c6 13 00 02 01 05 01 c6 13 00 02 04 01 01",
    "10.3": "01 07 00 01 12 35 01 04 c6 12 01 0a 02 05 01 c6 12 02 0a 03 05 01 c6 12 01 0a",
    "10.4": "01 09 00 00 12 35 01 04 c6 13 00 02 04 01 07",
    "10.5": """01 01 00 00 be ef 02 10 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 10 01 16 02 20 01 0d b8 00
01 00 00 00 00 00 00 00 00 00 10 01 c6 12 01 0a 06 08 67 00 00 00 00 00 00 01 07 20 d7 5a 98 01
82 b1 0a b7 d5 4b fe d3 c9 64 07 3a 0e e1 72 f3 da a6 23 25 af 02 1a 68 f7 07 51 1a 09 10 a0 a1
a2 a3 a4 a5 a6 a7 a8 a9 aa ab ac ad ae af 0b 40 ba fc d6 da b3 1c e0 ec dc e6 bd 34 b0 be 95 ce
18 bd 7f 22 b8 2a 1c 91 42 02 dd 86 e3 a2 26 c6 8c dc 45 b5 f5 2f b1 0b 81 92 c2 b0 7c 06 ae c1
54 8c f5 3e 7c 44 f0 f9 a2 a4 18 c5 04 59 85 01""",
    "10.6": """01 09 00 04 be ef 02 10 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 02 01 11 02 20 01 0d b8 00
02 00 00 00 00 00 00 00 00 00 02 04 01 01 06 08 68 00 00 00 00 00 00 07 07 20 3d 40 17 c3 e8 43
89 5a 92 b7 0a a7 4d 1b 7e bc 9c 98 2c cf 2e c4 96 8c c0 cd 55 f1 2a f4 66 0c 0a 10 a0 a1 a2 a3
a4 a5 a6 a7 a8 a9 aa ab ac ad ae af 0b 40 e4 a2 51 d6 19 1e cd 15 02 88 ed 85 b0 97 bf a5 c3 bd
45 1d 5a 19 51 6b 17 54 38 84 7a 53 a0 e6 21 e4 ab ed 02 16 73 87 f7 a8 3e e1 86 3a c3 a2 e9 57
28 dc 7d 88 da 08 e7 c8 04 bb 02 67 b8 04""",
    "10.7": """01 07 00 00 be f0 02 10 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 10 02 11 02 20 01 0d b8 00
03 00 00 00 00 00 00 00 00 00 10 03 11 02 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 10 06 08
67 00 00 00 00 00 00 02 0b 40 a7 61 b2 2f 5b aa 4f 42 a7 5c 8d 97 d1 6e 42 23 c7 88 7d 7d 5b 0c
28 05 4f 65 3b f4 3e a7 97 f0 dd 4f c3 e8 99 5d 43 5a 03 cb fa 48 b0 9b 1a b9 b0 00 0a 0c 9d 65
7b 35 32 99 64 52 73 51 17 0a""",
    "10.8": """01 09 00 00 be f0 02 10 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 02 04 01 07 06 08 68 00 00
00 00 00 00 08 0b 40 01 70 d1 eb dd 5c 1a 25 bb ad 76 00 25 06 ad 60 89 64 5d 25 68 e3 4f 96 61
a3 66 28 d7 81 0e c1 fb fb fc ec eb 6f 28 c2 e6 88 2d fe 8f 32 4a 35 3d 2e 6d cb f6 ff 64 4d d8
18 8c 0d eb 33 33 02""",
}
SK_A = nacl.signing.SigningKey(hx("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
SK_B = nacl.signing.SigningKey(hx("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"))
PK_A = hx("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
PK_B = hx("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
NONCE = bytes(range(0xa0, 0xb0))


def selftest():
    A4, A4n, B4 = "198.18.1.10", "198.18.2.10", "198.19.0.2"
    A6, A6n, B6 = "2001:db8:1::10", "2001:db8:3::10", "2001:db8:2::2"
    got = {
        "10.1": msg(HELLO, 0x1234, A4, [addrs_tlv([A4, A6])]),
        "10.2": msg(ACK, 0x1234, B4, [addrs_tlv([B4]), tlv(T_ECHO, bytes([HELLO]))]),
        "10.3": msg(HANDOFF, 0x1235, A4, [tlv(T_NEW, fam_addr(A4n)), tlv(T_OLD, fam_addr(A4))], flags=1),
        "10.4": msg(ACK, 0x1235, B4, [tlv(T_ECHO, bytes([HANDOFF]))]),
        "10.5": msg(HELLO, 0xbeef, A6, [addrs_tlv([A6, A4]), tlv(T_PUBKEY, PK_A), tlv(T_NONCE, NONCE)],
                    sk=SK_A, counter=0x6700000000000001),
        "10.6": msg(ACK, 0xbeef, B6, [addrs_tlv([B6]), tlv(T_ECHO, bytes([HELLO])), tlv(T_PUBKEY, PK_B),
                                     tlv(T_NONCE_ECHO, NONCE)], flags=4, sk=SK_B, counter=0x6800000000000007),
        "10.7": msg(HANDOFF, 0xbef0, A6, [tlv(T_NEW, fam_addr(A6n)), tlv(T_OLD, fam_addr(A6))],
                    sk=SK_A, counter=0x6700000000000002),
        "10.8": msg(ACK, 0xbef0, B6, [tlv(T_ECHO, bytes([HANDOFF]))], sk=SK_B, counter=0x6800000000000008),
    }
    bad = []
    if bytes(SK_A.verify_key) != PK_A or bytes(SK_B.verify_key) != PK_B:
        bad.append("RFC 8032 test keys: public key mismatch")
    for k, v in VEC.items():
        want = hx(v)
        if got[k] != want:
            i = next((i for i in range(min(len(want), len(got[k]))) if want[i] != got[k][i]),
                     min(len(want), len(got[k])))
            bad.append("vector %s: encoder differs at octet %d (len %d, spec %d)" % (k, i, len(got[k]), len(want)))
        if k in ("10.5", "10.7") and not verify(PK_A, want):
            bad.append("vector %s: spec signature does not verify with A's key" % k)
        if k in ("10.6", "10.8") and not verify(PK_B, want):
            bad.append("vector %s: spec signature does not verify with B's key" % k)
    if bad:
        for b in bad:
            print("selftest FAIL: " + b)
        return 1
    print("selftest ok: %d vectors of docs/ihmp.md §10 reproduced octet for octet, signatures verify" % len(VEC))
    return 0


# ------------------------------------------------------------ sockets ---
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


_raw = {}


def raw_send(src, dst, payload, sport=PORT, dport=PORT):
    """One UDP datagram with any source address (IPPROTO_RAW, header included)."""
    s_ip, d_ip = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    ulen = 8 + len(payload)
    if s_ip.version == 4:
        pseudo = s_ip.packed + d_ip.packed + struct.pack("!BBH", 0, 17, ulen)
        udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
        c = csum(pseudo + udp) or 0xffff
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, random.getrandbits(16), 0, 64, 17, 0,
                         s_ip.packed, d_ip.packed)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        af = socket.AF_INET
        pkt = ip + udp
    else:
        pseudo = s_ip.packed + d_ip.packed + struct.pack("!I3xB", ulen, 17)
        udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
        c = csum(pseudo + udp) or 0xffff
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
        ip = struct.pack("!IHBB16s16s", 6 << 28, ulen, 17, 64, s_ip.packed, d_ip.packed)
        af = socket.AF_INET6
        pkt = ip + udp
    if af not in _raw:
        _raw[af] = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for _ in range(50):
        try:
            _raw[af].sendto(pkt, (dst, 0))
            return
        except BlockingIOError:
            time.sleep(0.001)
        except OSError as e:
            if e.errno == 105:  # ENOBUFS under a flood: retry
                time.sleep(0.001)
                continue
            raise


def udp_send(src, dst, payloads, sport=0):
    """Ordinary UDP socket bound to src (our own address); kernel fragments."""
    af = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(af, socket.SOCK_DGRAM)
    s.bind((src, sport))
    for p in payloads:
        while True:
            try:
                s.sendto(p, (dst, PORT))
                break
            except OSError as e:
                if e.errno in (105, 11):
                    time.sleep(0.0005)
                    continue
                raise
    s.close()


def raw_syn(src, dst, dport):
    """One TCP SYN with any source address (IPv4 only: enough for a spray)."""
    s_ip, d_ip = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    sport = random.randint(20000, 60000)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = s_ip.packed + d_ip.packed + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0, 64, 6, 0,
                     s_ip.packed, d_ip.packed)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    if socket.AF_INET not in _raw:
        _raw[socket.AF_INET] = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    while True:
        try:
            _raw[socket.AF_INET].sendto(ip + tcp, (dst, 0))
            return
        except OSError as e:
            if e.errno not in (105, 11):
                raise
            time.sleep(0.0005)


def amplification(c):
    """Each kind of datagram an unauthenticated sender can make, from an
    address of R2's that no peer uses (its MH-side one: the answers reach
    us, and CH knows nothing of it): octets in, octets out (T5)."""
    R = c.c["r2b" + ("6" if ":" in c.r2 else "4")]
    kinds = [
        ("HELLO-minimal", msg(HELLO, c.seq(), R, [addrs_tlv([])])),
        ("HELLO-8-addrs", msg(HELLO, c.seq(), R, [addrs_tlv([R] + fake_addrs(c, 7))])),
        ("HELLO-self-signed", msg(HELLO, c.seq(), R, [addrs_tlv([R]), tlv(T_PUBKEY, bytes(c.atk.verify_key))],
                                  sk=c.atk, counter=(int(time.time()) << 32) + 99)),
        ("PATH_PROBE", msg(PATH_PROBE, c.seq(), c.mh, [])),
        ("PATH_PROBE-nonce", msg(PATH_PROBE, c.seq(), c.mh, [tlv(T_NONCE, os.urandom(16))])),
        ("ADDR_UP", msg(ADDR_UP, c.seq(), c.mh, [tlv(T_NEW, fam_addr(R))])),
        ("HANDOFF", handoff(c, c.mh, R, c.mh)),
        ("ADDR_DOWN-keyless", msg(ADDR_DOWN, c.seq(), c.k, [tlv(T_OLD, fam_addr(c.k))])),
        ("ACK-stray", msg(ACK, c.seq(), R, [tlv(T_ECHO, bytes([HANDOFF]))])),
    ]
    af = socket.AF_INET6 if ":" in R else socket.AF_INET
    s = socket.socket(af, socket.SOCK_DGRAM)
    s.bind((R, PORT))
    s.settimeout(0.3)
    worst = 0.0
    for name, m in kinds:
        s.sendto(m, (c.ch, PORT))
        out = 0
        while True:
            try:
                b, _ = s.recvfrom(4096)
                out += len(b)
            except socket.timeout:
                break
        print("amp %s in=%d out=%d" % (name, len(m), out))
        worst = max(worst, out / len(m))
        time.sleep(0.05)
    s.close()
    print("# worst ratio %.2f" % worst)


def fake_addrs(c, n):
    base = "2001:db8:77::" if ":" in c.r2 else "198.18.77."
    return [base + str(i + 1) for i in range(n)]


def greet(src, dst, mk_hello, timeout=1.0):
    """A HELLO from our own address, answering the receiver's challenge
    (docs/ihmp.md 5.1, T2) as a real peer would: mk_hello(nonce_echo)
    builds the HELLO (None: the first one). Returns the number of
    challenges answered."""
    af = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(af, socket.SOCK_DGRAM)
    s.bind((src, PORT))
    s.settimeout(timeout)
    answered = 0
    echo = None
    try:
        for _ in range(3):
            s.sendto(mk_hello(echo), (dst, PORT))
            try:
                b, _ = s.recvfrom(2048)
            except socket.timeout:
                return answered
            cookie = [b[st + 2:e] for t, st, e in tlv_offsets(b) if t == T_NONCE and e - st == 18]
            if len(b) < 2 or b[1] != ACK or not cookie:
                return answered     # the final ACK: greeted
            echo = cookie[0]
            answered += 1
    finally:
        s.close()
    return answered


# ------------------------------------------------------------ sniffer ---
def sniff(iface, out):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
    s.bind((iface, 0))
    f = open(out, "a", buffering=1)
    while True:
        pkt = s.recv(65535)
        if not pkt:
            continue
        v = pkt[0] >> 4
        if v == 4:
            ihl = (pkt[0] & 15) * 4
            if pkt[9] != 17 or (struct.unpack("!H", pkt[6:8])[0] & 0x3fff):
                continue
            src, dst = socket.inet_ntop(socket.AF_INET, pkt[12:16]), socket.inet_ntop(socket.AF_INET, pkt[16:20])
            u = pkt[ihl:]
        elif v == 6:
            if pkt[6] != 17:
                continue
            src, dst = socket.inet_ntop(socket.AF_INET6, pkt[8:24]), socket.inet_ntop(socket.AF_INET6, pkt[24:40])
            u = pkt[40:]
        else:
            continue
        if len(u) < 8:
            continue
        sp, dp, ln = struct.unpack("!HHH", u[:6])
        if PORT not in (sp, dp):
            continue
        f.write("%.6f %s %d %s %d %s\n" % (time.time(), src, sp, dst, dp, u[8:ln].hex()))


def read_capture(path):
    out = []
    try:
        for line in open(path):
            p = line.split()
            if len(p) == 6:
                out.append((float(p[0]), p[1], int(p[2]), p[3], int(p[4]), bytes.fromhex(p[5])))
    except FileNotFoundError:
        pass
    return out


# ------------------------------------------------------------ keys -------
def load_sk(path):
    raw = open(path, "rb").read()
    if len(raw) != 64:
        raise SystemExit("key file %s: %d octets, not 64" % (path, len(raw)))
    sk = nacl.signing.SigningKey(raw[:32])
    if bytes(sk.verify_key) != raw[32:]:
        raise SystemExit("key file %s: public half does not match the seed" % path)
    return sk


# ------------------------------------------------------------ cases ------
class Ctx:
    def __init__(self, path, fam):
        self.path = path
        c = json.load(open(path))
        self.c = c
        f = str(fam)
        self.fam = f
        global COUNTER_FAM_BIT
        COUNTER_FAM_BIT = COUNTER_V4 if f == "4" else 0
        self.mh = c["mh" + f]           # MH's address (its Host ID at CH)
        self.mh_b = c["mhb" + f]        # MH's other link (not configured now)
        self.ch = c["ch" + f]
        self.r1 = c["r1s" + f]          # victim: R1's core address (no dimed)
        self.r2 = c["r2s" + f]          # attacker's own address
        self.nobody = c["nobody" + f]
        self.k = c.get("k" + f)         # a server without dimed CH talks to (keyless HID)
        self.state = c["state"]
        self.capture = c["capture"]
        self.sent_log = c["sent_log"]
        try:
            self.st = json.load(open(self.state))
        except (FileNotFoundError, ValueError):
            self.st = {}
        self.stolen = load_sk(c["mh_key"]) if os.path.exists(c.get("mh_key", "")) else None
        self.atk = nacl.signing.SigningKey(bytes.fromhex(c["attacker_seed"]))

    def save(self):
        json.dump(self.st, open(self.state, "w"))

    def seq(self):
        return random.getrandbits(16)

    def mh_msgs(self):
        """Validly signed datagrams MH really sent to CH (not ours), with counters."""
        sent = set()
        try:
            sent = set(l.strip() for l in open(self.sent_log))
        except FileNotFoundError:
            pass
        pk = bytes(self.stolen.verify_key)
        out = []
        for t, src, sp, dst, dp, p in read_capture(self.capture):
            if dp != PORT or dst not in (self.c["ch4"], self.c["ch6"]):
                continue
            if p.hex() in sent or not verify(pk, p):
                continue
            out.append((t, src, p, get_counter(p)))
        return out

    def last_counter(self, this_family=False):
        """Highest COUNTER (its family bit cleared) CH may have accepted
        from MH's key: MH's real messages (captured) and our accepted
        forgeries; of this family only: CH's replay floor for it."""
        pk = bytes(self.stolen.verify_key)
        fams = [self.fam] if this_family else ["4", "6"]
        best = max(self.st.get("forged_max" + f, 0) for f in fams)
        for t, src, sp, dst, dp, p in read_capture(self.capture):
            if dp == PORT and dst in [self.c["ch" + f] for f in fams] and verify(pk, p):
                c = get_counter(p)
                if c is not None and c & ~COUNTER_V4 > best:
                    best = c & ~COUNTER_V4
        return best

    def next_counter(self):
        c = self.last_counter() + 1
        self.st["forged_max" + self.fam] = c
        self.save()
        return c

    def send(self, src, payload, sport=PORT, note=None):
        with open(self.sent_log, "a") as f:
            f.write(payload.hex() + "\n")
        raw_send(src, self.ch, payload, sport=sport)
        time.sleep(0.02)
        if note:
            print("# sent %s: %d octets %s -> %s" % (note, len(payload), src, self.ch))


def handoff(ctx, host_id, new, old, sk=None, counter=None, mtype=HANDOFF):
    return msg(mtype, ctx.seq(), host_id, [tlv(T_NEW, fam_addr(new)), tlv(T_OLD, fam_addr(old))],
               sk=sk, counter=counter)


def expect(**kw):
    print("expect " + " ".join("%s=%d" % (k, v) for k, v in kw.items()))


def attacker_greets(c, addrs, counter):
    """The attacker greets CH from its own address (R2) with its own key,
    listing addrs, and answers CH's challenge; returns the challenges
    answered. The counter used is saved for later signed messages."""
    seq = c.seq()
    cnt = [counter]

    def hello(echo):
        cnt[0] += 1
        t = [addrs_tlv(addrs), tlv(T_PUBKEY, bytes(c.atk.verify_key)), tlv(T_NONCE, os.urandom(16))]
        if echo is not None:
            t.append(tlv(T_NONCE_ECHO, echo))
        return msg(HELLO, seq, c.r2, t, sk=c.atk, counter=cnt[0])
    n = greet(c.r2, c.ch, hello)
    c.st["atk_counter"] = cnt[0]
    c.save()
    return n


def run_case(name, ctx):
    c = ctx
    R = c.r2                 # attacker position: R2's namespace
    atk_cnt = int(time.time()) << 32
    if name == "bad-version":
        for v in (0, 2, 255):
            m = bytearray(handoff(c, c.mh, R, c.mh))
            m[0] = v
            c.send(c.mh, bytes(m), note="version %d" % v)
        expect(bad_version=3)
    elif name == "empty":
        c.send(c.mh, b"", note="empty datagram")
        print("expect-any bad_version,malformed=1")
    elif name == "unknown-type":
        for t in (0, 11, 200, 255):
            m = bytearray(handoff(c, c.mh, R, c.mh))
            m[1] = t
            c.send(c.mh, bytes(m), note="type %d" % t)
        expect(unsupported=4)
    elif name == "bad-hid-family":
        m = bytearray(handoff(c, c.mh, R, c.mh))
        m[6] = 3
        c.send(c.mh, bytes(m), note="HID family 3")
        m[6] = 0
        c.send(c.mh, bytes(m), note="HID family 0")
        expect(malformed=2)
    elif name == "hid-length-mismatch":
        ip = ipaddress.ip_address(c.mh)
        wrong = 16 if ip.version == 4 else 4
        b = struct.pack("!BBHHBB", 1, HANDOFF, 0, c.seq(), 1 if ip.version == 4 else 2, wrong) + ip.packed
        b += tlv(T_NEW, fam_addr(R)) + tlv(T_OLD, fam_addr(c.mh))
        c.send(c.mh, b, note="HID length %d for family %d" % (wrong, 1 if ip.version == 4 else 2))
        expect(malformed=1)
    elif name == "bad-addr-family":
        for famcode in (0, 3, 10):
            b = header(HANDOFF, c.seq(), c.mh) + tlv(T_NEW, bytes([famcode]) + ipaddress.ip_address(R).packed) \
                + tlv(T_OLD, fam_addr(c.mh))
            c.send(c.mh, b, note="NEW_ADDR family %d" % famcode)
        expect(malformed=3)
    elif name == "addr-length-mismatch":
        ip4, ip6 = ipaddress.ip_address("198.18.2.77"), ipaddress.ip_address("2001:db8:2::77")
        bodies = [
            tlv(T_NEW, b"\x01" + ip6.packed),          # family 1, 16 octets
            tlv(T_NEW, b"\x02" + ip4.packed),          # family 2, 4 octets
            tlv(T_NEW, b"\x01" + ip4.packed + b"\0"),  # one octet too many
        ]
        for nb in bodies:
            b = header(HANDOFF, c.seq(), c.mh) + nb + tlv(T_OLD, fam_addr(c.mh))
            c.send(c.mh, b, note="NEW_ADDR value %s" % nb[2:].hex())
        b = header(HELLO, c.seq(), c.mh) + tlv(T_ADDRS, fam_addr(c.mh) + b"\x01\xc6\x12")  # last address cut
        c.send(c.mh, b, note="ADDRS with a cut address")
        expect(malformed=4)
    elif name == "unknown-critical-tlv":
        for t in (13, 50, 96, 127):
            b = header(HANDOFF, c.seq(), c.mh) + tlv(T_NEW, fam_addr(R)) + tlv(T_OLD, fam_addr(c.mh)) + tlv(t, b"xyz")
            c.send(c.mh, b, note="critical TLV %d" % t)
        expect(unsupported=4)
    elif name == "duplicate-tlv":
        b = header(HANDOFF, c.seq(), c.mh) + tlv(T_NEW, fam_addr(R)) + tlv(T_NEW, fam_addr(R)) \
            + tlv(T_OLD, fam_addr(c.mh))
        c.send(c.mh, b, note="NEW_ADDR twice")
        b = header(HANDOFF, c.seq(), c.mh) + tlv(T_NEW, fam_addr(R)) + tlv(T_OLD, fam_addr(c.mh)) \
            + counter_tlv(5) + counter_tlv(6)
        c.send(c.mh, b, note="COUNTER twice")
        expect(malformed=2)
    elif name == "tlv-not-allowed":
        b = header(HANDOFF, c.seq(), c.mh) + tlv(T_NEW, fam_addr(R)) + tlv(T_OLD, fam_addr(c.mh)) \
            + tlv(T_ECHO, bytes([HELLO]))
        c.send(c.mh, b, note="ECHO in a HANDOFF")
        b = header(HANDOFF, c.seq(), c.mh) + tlv(T_NEW, fam_addr(R)) + tlv(T_OLD, fam_addr(c.mh)) \
            + tlv(T_PUBKEY, bytes(c.atk.verify_key))
        c.send(c.mh, b, note="PUBKEY in a HANDOFF")
        expect(malformed=2)
    elif name == "signature-not-last":
        sk = c.atk
        body = header(HANDOFF, c.seq(), c.mh) + tlv(T_NEW, fam_addr(R)) + tlv(T_OLD, fam_addr(c.mh))
        signed = sign(sk, body + counter_tlv(atk_cnt))
        # SIGNATURE moved before COUNTER
        sig_tlv = signed[-66:]
        c.send(c.mh, body + sig_tlv + counter_tlv(atk_cnt), note="SIGNATURE before COUNTER")
        c.send(c.mh, signed + tlv(T_PAD, b"\0\0"), note="PAD after SIGNATURE")
        expect(malformed=2)
    elif name == "bad-echo":
        for e in (200, 0, ACK):
            b = header(ACK, c.seq(), c.mh) + tlv(T_ECHO, bytes([e]))
            c.send(c.mh, b, note="ACK with ECHO %d" % e)
        expect(malformed=3)
    elif name == "tlv-overrun":
        b = header(HANDOFF, c.seq(), c.mh) + tlv(T_NEW, fam_addr(R)) + tlv(T_OLD, fam_addr(c.mh))
        c.send(c.mh, b + bytes([T_PAD, 40]) + b"abc", note="PAD length past the end")
        c.send(c.mh, b + b"\x80", note="stray octet after the last TLV")
        expect(malformed=2)
    elif name == "truncated":
        # a validly signed (stolen key) HANDOFF, cut at every field boundary
        # and inside every field; counters are far below MH's (never accepted)
        full = handoff(c, c.mh, R, c.mh, sk=c.stolen, counter=1)
        hl = 8 + full[7]
        offs = tlv_offsets(full)
        cuts = {}
        for L in (1, 2, 4, 6, 7, 8):                 # inside the fixed header / no Host ID
            cuts[L] = "malformed"
        cuts[hl - 1] = "malformed"                   # inside the Host ID
        cuts[hl - 3] = "malformed"
        for t, s, e in offs:
            cuts[s + 1] = "malformed"                # TLV type without length
            cuts[s + 2] = "malformed" if e > s + 2 else None
            cuts[e - 1] = "malformed"                # value one octet short
        cuts[hl] = "incomplete"                      # header + Host ID, no TLV
        # boundaries after NEW_ADDR (OLD_ADDR missing): incomplete
        cuts[offs[0][2]] = "incomplete"
        # after OLD_ADDR / after COUNTER: a complete but unsigned HANDOFF
        cuts[offs[1][2]] = "unsigned"
        cuts[offs[2][2]] = "unsigned"
        exp = {}
        for L in sorted(cuts):
            k = cuts[L]
            if k is None or L >= len(full):
                continue
            c.send(c.mh, full[:L])
            exp[k] = exp.get(k, 0) + 1
        print("# sent %d cuts of a %d-octet signed HANDOFF at %s" % (sum(exp.values()), len(full),
              ",".join(str(L) for L in sorted(cuts) if cuts[L] and L < len(full))))
        expect(**exp)
    elif name == "oversized":
        m = handoff(c, c.mh, R, c.mh)
        big = m + tlv(T_PAD, b"\0" * 255) * 8
        big = big[:2000] + b"\0" * (2000 - len(big[:2000]))
        just = (m + tlv(T_PAD, b"\0" * 255) * 5)[:1233]
        udp_send(R, c.ch, [big, just])
        print("# sent 2000 and 1233 octets from %s (own address, fragmented)" % R)
        expect(too_big=2)
    elif name == "incomplete":
        c.send(c.mh, header(HELLO, c.seq(), c.mh) + tlv(T_PUBKEY, bytes(c.atk.verify_key)), note="HELLO without ADDRS")
        c.send(c.mh, header(HANDOFF, c.seq(), c.mh) + tlv(T_NEW, fam_addr(R)), note="HANDOFF without OLD_ADDR")
        body = header(HANDOFF, c.seq(), c.mh) + tlv(T_NEW, fam_addr(R)) + tlv(T_OLD, fam_addr(c.mh))
        c.send(c.mh, sign(c.stolen, body), note="SIGNATURE without COUNTER")
        expect(incomplete=3)
    # ---------------------------------------------- signatures ---
    elif name == "forged-unsigned":
        # R2 forges MH's source, claims MH's Host ID: unsigned HANDOFF to R2
        c.send(c.mh, handoff(c, c.mh, R, c.mh), note="unsigned HANDOFF, src = MH (forged)")
        c.send(R, handoff(c, c.mh, R, c.mh), note="unsigned HANDOFF, src = R2 = NEW_ADDR")
        expect(unsigned=2)
    elif name == "unsigned-after-bind":
        c.send(c.r1, msg(ADDR_DOWN, c.seq(), c.mh, [tlv(T_OLD, fam_addr(c.mh))]),
               note="unsigned ADDR_DOWN of MH's address from R1's address")
        c.send(c.mh, msg(ADDR_UP, c.seq(), c.mh, [tlv(T_NEW, fam_addr(c.mh_b))]),
               note="unsigned ADDR_UP from MH's address")
        c.send(c.mh, msg(PATH_PROBE, c.seq(), c.mh, [tlv(T_NONCE, os.urandom(16))]),
               note="unsigned PATH_PROBE from MH's address")
        c.send(c.mh, msg(HELLO, c.seq(), c.mh, [addrs_tlv([c.mh, R]), tlv(T_PUBKEY, bytes(c.atk.verify_key))]),
               note="unsigned HELLO from MH's address with another PUBKEY")
        expect(unsigned=4)
    elif name == "unsigned-ack":
        # §7.1 "this holds for ACKs too"; §9: step 7 (key) before step 8 (ACK match)
        c.send(c.mh, msg(ACK, c.seq(), c.mh, [tlv(T_ECHO, bytes([PATH_PROBE]))]),
               note="unsigned ACK (ECHO PATH_PROBE) from MH's address, MH's Host ID")
        expect(unsigned=1)
    elif name == "wrong-key":
        a = c.atk
        c.send(c.mh, handoff(c, c.mh, R, c.mh, sk=a, counter=atk_cnt + (1 << 40)),
               note="HANDOFF signed by the attacker's key")
        c.send(c.mh, msg(HELLO, c.seq(), c.mh, [addrs_tlv([c.mh]), tlv(T_PUBKEY, bytes(a.verify_key))],
                         sk=a, counter=atk_cnt + (1 << 40) + 1),
               note="HELLO self-signed with a new PUBKEY (re-bind attempt)")
        c.send(c.mh, msg(ADDR_DOWN, c.seq(), c.mh, [tlv(T_OLD, fam_addr(c.mh))], sk=a,
                         counter=atk_cnt + (1 << 40) + 2), note="ADDR_DOWN signed by the attacker's key")
        expect(bad_signature=3)
    elif name == "altered-bytes":
        good = handoff(c, c.mh, R, c.mh, sk=c.stolen, counter=c.last_counter() + 1)
        n = 0
        offs = tlv_offsets(good)
        # flip one bit in: Flags, Sequence, NEW_ADDR, OLD_ADDR (not the Host
        # ID: that would only make it unknown), COUNTER, signature
        for pos in (3, 5, offs[0][2] - 1, offs[1][2] - 1, len(good) - 66 - 1, len(good) - 1):
            m = bytearray(good)
            m[pos] ^= 0x01
            c.send(c.mh, bytes(m))
            n += 1
        # an extra skippable TLV inserted before SIGNATURE
        c.send(c.mh, good[:-66] + tlv(T_PAD, b"\0\0") + good[-66:])
        n += 1
        print("# sent %d altered copies of a validly signed HANDOFF" % n)
        expect(bad_signature=n)
    # ---------------------------------------------- replay ---
    elif name == "replay-captured":
        allreq = [r for r in c.mh_msgs() if r[2][1] != ACK]
        real = [r for r in allreq if (":" in r[1]) == (c.fam == "6")]
        if not real and allreq:
            # MH's HELLO went over the other family: replay it over this one,
            # from MH's address of this family (IP addresses are not signed)
            t, src, p, cnt = allreq[0]
            real = [(t, c.mh, p, cnt)]
        if not real:
            print("# no signed request of MH's captured at CH")
            expect(replay=1, _nocapture=1)
            return
        t, src, p, cnt = real[0]
        print("# replaying MH's datagram of %.3f (type %d, counter %#x, %d octets) from %s and from R2"
              % (t, p[1], cnt or 0, len(p), src))
        raw_send(src, c.ch, p)
        time.sleep(0.02)
        raw_send(R, c.ch, p)
        expect(replay=2)
    elif name == "replay-ack":
        # §9: the key/counter step (7) comes before ACK matching (8)
        acks = [r for r in c.mh_msgs() if r[2][1] == ACK]
        # One of this family if MH sent one; else the other family's bytes,
        # sent from MH's address of this one: the counter check is the same.
        real = [r for r in acks if (":" in r[1]) == (c.fam == "6")] or \
            [(t, c.mh, p, cnt) for t, _, p, cnt in acks]
        if not real:
            raise SystemExit("no signed ACK of MH's captured at CH: nothing to replay")
        t, src, p, cnt = real[-1]
        print("# replaying MH's signed ACK of %.3f (ECHO %s, counter %#x) from %s"
              % (t, [x for x in tlv_offsets(p) if x[0] == T_ECHO] and p[[x for x in tlv_offsets(p) if x[0] == T_ECHO][0][1] + 2],
                 cnt or 0, src))
        raw_send(src, c.ch, p)
        expect(replay=1)
    elif name == "reordered":
        last = c.last_counter(this_family=True)
        c.send(c.mh, handoff(c, c.mh, R, c.mh, sk=c.stolen, counter=last - 1), note="counter last-1 (%#x)" % (last - 1))
        c.send(c.mh, handoff(c, c.mh, R, c.mh, sk=c.stolen, counter=last), note="counter = last")
        c.send(c.mh, handoff(c, c.mh, R, c.mh, sk=c.stolen, counter=0), note="counter 0")
        expect(replay=3)
    # ---------------------------------------------- lying Host ID ---
    elif name == "lying-hostid":
        c.send(R, handoff(c, c.nobody, R, c.nobody), note="Host ID of nobody (%s)" % c.nobody)
        c.send(R, handoff(c, c.ch, R, c.ch), note="Host ID = CH's own address")
        c.send(R, msg(ADDR_DOWN, c.seq(), c.r1, [tlv(T_OLD, fam_addr(c.r1))]), note="Host ID of R1 (not a peer)")
        expect(unknown_host_id=3)
    elif name == "attacker-hello":
        # also: "steal-other-peer" runs it first (the entry is half-open, it expires)
        # setup, not a case: the attacker becomes a legitimate peer from R2
        n = attacker_greets(c, [R], atk_cnt)
        print("# attacker HELLO from %s (its own key), %d challenge(s) answered" % (R, n))
    elif name == "steal-other-peer":
        cnt = max(c.st.get("atk_counter", atk_cnt), atk_cnt) + 1
        c.st["atk_counter"] = cnt + 1
        c.save()
        m1 = handoff(c, R, c.mh, R, sk=c.atk, counter=cnt)
        m2 = msg(ADDR_UP, c.seq(), R, [tlv(T_NEW, fam_addr(c.mh))], sk=c.atk, counter=cnt + 1)
        c.send(c.mh, m1, note="peer R2 (signed, own key) claims MH's address by HANDOFF")
        c.send(c.mh, m2, note="peer R2 claims MH's address by ADDR_UP")
        expect(address_owned_by_other_peer=2)
    # ---------------------------------------------- redirect ---
    elif name in ("redirect-handoff", "redirect-addrup"):
        cnt = c.next_counter()
        if name == "redirect-handoff":
            m = handoff(c, c.mh, c.r1, c.mh, sk=c.stolen, counter=cnt)
        else:
            m = msg(ADDR_UP, c.seq(), c.mh, [tlv(T_NEW, fam_addr(c.r1))], sk=c.stolen, counter=cnt)
        c.send(c.r1, m, note="%s signed with MH's stolen key, NEW_ADDR = victim %s, counter %#x"
               % (name, c.r1, cnt))
        expect(unverified_address=1)
    # ---------------------------------------------- trust rules (docs/ihmp.md §7) ---
    elif name == "squat-hello":
        # T1: a peer that proves its own address advertises a third host's
        # (R1's) and CH's own server's: they stay candidates.
        n = attacker_greets(c, [R, c.r1, c.k], max(c.st.get("atk_counter", atk_cnt), atk_cnt) + 10)
        print("# attacker HELLO from %s listing %s and %s as its own, %d challenge(s) answered" % (R, c.r1, c.k, n))
        print("expect-info")
    elif name == "keyless-unsigned-down":
        # T3: ADDR_DOWN for the keyless server, from the attacker and spoofed
        # from the server itself (CH asks the server, which never confirms).
        c.send(R, msg(ADDR_DOWN, c.seq(), c.k, [tlv(T_OLD, fam_addr(c.k))]), note="ADDR_DOWN for %s from R2" % c.k)
        c.send(c.k, msg(ADDR_DOWN, c.seq(), c.k, [tlv(T_OLD, fam_addr(c.k))]), note="the same, spoofed from it")
        expect(unproven_sender=1)
    elif name == "keyless-probe-down":
        # T1 + T3: a PATH_PROBE from the attacker "for" the server, then its ADDR_DOWN.
        c.send(R, msg(PATH_PROBE, c.seq(), c.k, []), note="PATH_PROBE naming %s, from R2" % c.k)
        c.send(R, msg(ADDR_DOWN, c.seq(), c.k, [tlv(T_OLD, fam_addr(c.k))]), note="then ADDR_DOWN of it")
        expect(unproven_sender=1)
    elif name == "keyless-handoff":
        c.send(R, handoff(c, c.k, R, c.k), note="unsigned HANDOFF of %s to R2" % c.k)
        c.send(R, handoff(c, c.k, R, c.k, sk=c.atk, counter=atk_cnt + 7),
               note="the same, signed by a key nobody bound")
        expect(unproven_sender=2)
    elif name == "keyless-selfsigned-hello":
        # T2: a self-signed HELLO whose Host ID is the server, spoofed from it:
        # challenged, and the cookie goes to the server, not to us.
        m = msg(HELLO, c.seq(), c.k, [addrs_tlv([c.k]), tlv(T_PUBKEY, bytes(c.atk.verify_key)),
                                       tlv(T_NONCE, os.urandom(16))], sk=c.atk, counter=atk_cnt + 9)
        c.send(c.k, m, note="self-signed HELLO for %s, spoofed from it" % c.k)
        m = msg(HELLO, c.seq(), c.k, [addrs_tlv([c.k]), tlv(T_PUBKEY, bytes(c.atk.verify_key)),
                                       tlv(T_NONCE_ECHO, os.urandom(16))], sk=c.atk, counter=atk_cnt + 10)
        c.send(c.k, m, note="the same with a guessed cookie")
        expect(challenged=1, bad_cookie=1)
    elif name == "amplify":
        amplification(c)
        print("expect-info")
    elif name == "syn-spray":
        # T4: SYNs from many forged sources make the datapath file a flow and
        # a HID for each; MH's next address comes first (a later handoff to
        # it must still be applied).
        n = int(c.c.get("spray_n", 70000))
        first = [c.mh_b]
        t0 = time.time()
        srcs = first + ["198.19.%d.%d" % (i // 250, i % 250 + 1) for i in range(min(n, 62500))] + \
            ["198.18.%d.%d" % (100 + i // 250, i % 250 + 1) for i in range(max(0, n - 62500))]
        for a in srcs[:n]:
            raw_syn(a, c.ch, int(c.c["spray_port"]))
        print("# %d SYNs from %d forged sources (%s first) in %.1f s" % (n, n, c.mh_b, time.time() - t0))
        print("expect-info")
    elif name == "probe-then-down":
        cnt = c.next_counter()
        cur = c.mh_b     # MH's address after the handoff that precedes this case
        c.send(c.r1, msg(PATH_PROBE, c.seq(), cur, [], sk=c.stolen, counter=cnt),
               note="PATH_PROBE for MH spoofed from the victim %s, signed with the stolen key" % c.r1)
        c.send(cur, msg(ADDR_DOWN, c.seq(), cur, [tlv(T_OLD, fam_addr(cur))], sk=c.stolen, counter=cnt + 1),
               note="then ADDR_DOWN of MH's address")
        print("expect-info")
    elif name == "claim-flood":
        # T4: the attacker, a proven peer with its own key, claims one new
        # address after another (each spoofed as the source, as a claim
        # must come from it) for a few seconds: every claim costs CH a
        # probe if budgets allow. Runs while MH makes a real handoff.
        n = int(c.c.get("claim_n", 3000))
        cnt = max(c.st.get("atk_counter", atk_cnt), atk_cnt) + 100
        t0 = time.time()
        for i in range(n):
            # sources CH has a route back to (its loose rp_filter drops the
            # rest before the socket): MH's first subnet, which MH leaves
            if ":" in R:
                a = "2001:db8:1::%x" % (0x10 + i % 0xf000)
            else:
                a = "198.18.1.%d" % (10 + i % 240)
            cnt += 1
            m = msg(ADDR_UP, c.seq(), R, [tlv(T_NEW, fam_addr(a))], sk=c.atk, counter=cnt)
            raw_send(a, c.ch, m)
            time.sleep(0.001)
        c.st["atk_counter"] = cnt
        c.save()
        print("# %d signed ADDR_UP claims of fresh addresses in %.1f s" % (n, time.time() - t0))
        print("expect-info")
    # ---------------------------------------------- floods ---
    elif name == "garbage-flood":
        n = int(c.c.get("flood_n", 10000))
        rnd = random.Random(7)
        pl = []
        for i in range(n):
            k = i % 4
            if k == 0:
                pl.append(os.urandom(rnd.randint(1, 300)))
            elif k == 1:
                pl.append(b"\x01" + os.urandom(rnd.randint(0, 60)))
            elif k == 2:
                pl.append(handoff(c, c.mh, R, c.mh))
            else:
                pl.append(bytes([2]) + os.urandom(40))
        t0 = time.time()
        udp_send(R, c.ch, pl)
        print("# %d garbage datagrams from %s in %.2f s" % (n, R, time.time() - t0))
        expect(rate_limited=1)
    elif name == "hello-flood":
        n = int(c.c.get("hello_n", 2000))
        srcs = []
        if c.fam == "4":
            for net in ("198.18.1", "198.18.2"):
                for h in range(20, 250):
                    srcs.append("%s.%d" % (net, h))
        else:
            for i in range(n):
                net = ("2001:db8:1", "2001:db8:2")[i % 2]
                srcs.append("%s::%x:%x" % (net, 0xa000 + (i >> 16), i & 0xffff))
        t0 = time.time()
        for i, s in enumerate(srcs[:n]):
            m = msg(HELLO, i & 0xffff, s, [addrs_tlv([s])])
            raw_send(s, c.ch, m)
        print("# %d HELLOs from %d forged sources in %.2f s" % (min(n, len(srcs)), min(n, len(srcs)),
                                                                 time.time() - t0))
        print("expect-info hellos=%d" % min(n, len(srcs)))
    elif name == "ack-squat":
        # T1 on the greeting side: a fake dime peer at R2's MH-side address
        # answers CH's HELLO with a valid, signed ACK whose ADDRS lists a
        # victim's address as its own.
        me, victim = c.c["r2b" + c.fam], c.c["sq" + c.fam]
        af = socket.AF_INET6 if ":" in me else socket.AF_INET
        s = socket.socket(af, socket.SOCK_DGRAM)
        s.bind((me, PORT))
        s.settimeout(0.5)
        open(c.c["ready"] + c.fam, "w").close()
        cnt = (int(time.time()) << 32) + 9000
        t0, answered = time.time(), 0
        while time.time() - t0 < 10 and not (answered and time.time() - t0 > answered + 2):
            try:
                b, peer = s.recvfrom(2048)
            except socket.timeout:
                continue
            if len(b) < 8 or b[1] != HELLO:
                continue
            seq = struct.unpack("!H", b[4:6])[0]
            nonce = [b[st + 2:e] for t, st, e in tlv_offsets(b) if t == T_NONCE and e - st == 18]
            t = [tlv(T_ECHO, bytes([HELLO])), addrs_tlv([me, victim]), tlv(T_PUBKEY, bytes(c.atk.verify_key))]
            if nonce:
                t.append(tlv(T_NONCE_ECHO, nonce[0]))
            cnt += 1
            s.sendto(msg(ACK, seq, me, t, sk=c.atk, counter=cnt), peer)
            answered = answered or time.time() - t0
            print("# answered CH's HELLO seq %d, listing %s as ours" % (seq, victim))
        s.close()
        print("expect-info")
    elif name == "signed-hello-flood":
        # T4: self-signed HELLOs (a signature check each, if they get that
        # far) from sources rotating through the prefixes CH routes, for
        # a few seconds, as fast as we can send.
        secs = float(c.c.get("flood_secs", 4))
        nets = ("198.18.1", "198.18.2") if c.fam == "4" else ("2001:db8:1:", "2001:db8:2:")
        pk = bytes(c.atk.verify_key)
        cnt = (int(time.time()) << 32) + 5000
        t0, i = time.time(), 0
        while time.time() - t0 < secs:
            net = nets[i % 2]
            s = "%s.%d" % (net, 20 + (i // 2) % 230) if c.fam == "4" else "%s:%x" % (net, 0xb000 + i % 0x4000)
            cnt += 1
            m = msg(HELLO, i & 0xffff, s, [addrs_tlv([s]), tlv(T_PUBKEY, pk), tlv(T_NONCE, os.urandom(16))],
                    sk=c.atk, counter=cnt)
            raw_send(s, c.ch, m)
            i += 1
        print("# %d signed HELLOs from rotating sources in %.1f s" % (i, time.time() - t0))
        print("expect-info")
    else:
        raise SystemExit("unknown case " + name)


def main(a):
    if not a:
        print(__doc__)
        return 2
    cmd = a[0]
    if cmd == "selftest":
        return selftest()
    if cmd == "sniff":
        sniff(a[1], a[2])
        return 0
    if cmd == "attack":
        case, ctxf = a[1], a[2]
        fam = a[3] if len(a) > 3 else "4"
        run_case(case, Ctx(ctxf, fam))
        return 0
    if cmd == "keygen":
        sk = nacl.signing.SigningKey.generate()
        open(a[1], "wb").write(bytes(sk) + bytes(sk.verify_key))
        return 0
    if cmd == "pubkey":
        print(base64.b64encode(bytes(load_sk(a[1]).verify_key)).decode())
        return 0
    if cmd == "secrets":
        raw = open(a[1], "rb").read()
        for b in (raw, raw[:32]):
            print(b.hex())
            print(b.hex().upper())
            print(base64.b64encode(b).decode())
        return 0
    if cmd == "hidcount":
        print(len(json.load(sys.stdin).get("hids", [])))
        return 0
    if cmd == "hidof":
        for h in json.load(sys.stdin).get("hids", []):
            if a[1] in h.get("active", []) + h.get("unreachable", []):
                print(json.dumps(h, sort_keys=True))
                return 0
        print("none")
        return 1
    if cmd == "delta":
        b = json.load(open(a[1]))["ihmp"].get("rejected", {})
        c = json.load(open(a[2]))["ihmp"].get("rejected", {})
        out = []
        for k in sorted(set(b) | set(c)):
            if b.get(k, 0) != c.get(k, 0):
                out.append("%s=%+d" % (k, c.get(k, 0) - b.get(k, 0)))
        print(" ".join(out) or "(none)")
        return 0
    if cmd == "keys":
        # `show keys -j` on stdin: the entry for the HID holding ADDR (a[1]), as "origin key"
        j = json.load(sys.stdin)
        print(json.dumps(j, sort_keys=True))
        return 0
    print("unknown command " + cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
