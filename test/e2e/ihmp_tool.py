#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ihmp_tool.py -- small helpers for test/e2e/ihmp.sh (standard library; shared parts in test/lab/labnet.py).

  hids [--flows]                  `dimectl -j show hids` from stdin, normalised
                                  (sorted; the per-HID flow count dropped
                                  unless --flows), one line
  primary-wait DIMECTL SOCK ADDR SECS OUT
                                  poll `show hids` every 20 ms; write the wall
                                  time at which ADDR first is the first active
                                  address of its family of some HID ("none")
  probe-rx tcp|udp FAM BIND PORT SECS OUT
                                  receive a probe stream; OUT gets one wall
                                  time per recv()
  probe-tx tcp|udp FAM SRC DST PORT SECS
                                  100 bytes every 10 ms; send errors ignored;
                                  at the end "END" (UDP) or EOF (TCP)
  gaps EVENTS RXLOG REF [FROM [TO]]
                                  "first=S maxgap=S": first receive after the
                                  (last) REF event's time, and the longest
                                  receive gap from 0.5 s before FROM to 3 s
                                  after TO or the next event (FROM and TO
                                  default to REF)
  mon-time MONFILE WORD...        wall time of the first non-deletion line of
                                  `ip -ts monitor` output holding every WORD
  probe-tx2 FAM SRC DST TPORT UPORT SECS STARTED
                                  TCP and UDP probe from one process; creates
                                  STARTED once both have sent their first bytes
  echo-server FAM BIND PORT SECS  TCP echo for many connections
  conns FAM SRC DST PORT N DIR    open N TCP connections, check each echoes,
                                  write DIR/ready; when DIR/go appears check
                                  them all again; result in DIR/result
  garble FAM SRC DST PORT HOSTID  hostile/garbled datagrams at an IHMP port
  flows REMOTE                    `show flows -j` on stdin: counts to REMOTE
  keyof ADDR                      `show hids -j` on stdin: key origin of ADDR's HID
  delta BEFORE AFTER PATH...      "PATH=after-before" of two JSON files
  stale-seg FAM SRC DST SPORT DPORT
                                  one TCP ACK (good checksum, sequence numbers
                                  of no window) SRC:SPORT -> DST:DPORT through
                                  a raw socket, whatever SRC is: a late
                                  segment of a flow that moved away from SRC
  tcp-watch NS PEER COND SECS     the TCP socket in netns NS to PEER that has
                                  sent the most: poll `ss` until COND holds
                                  (timer=on|persist|none, backoff>=N or
                                  acked>N); print "t=WALLTIME timer=KIND
                                  left=SECS backoff=N acked=N"; exit 1 with
                                  the last state if SECS pass first
"""
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import labnet  # noqa: E402  (test/lab/labnet.py)


def fam_af(fam):
    return socket.AF_INET if fam == "4" else socket.AF_INET6


def jpath(v, path):
    for k in path.split("."):
        if k == "":
            continue
        v = v[int(k)] if isinstance(v, list) else v[k]
    return v


def norm_hids(obj, flows):
    out = []
    for h in obj.get("hids", []):
        h = dict(h)
        if not flows:
            h.pop("flows", None)
        for k in ("active", "unreachable", "local"):
            h[k] = sorted(h.get(k, []))
        out.append(h)
    out.sort(key=lambda h: json.dumps(h, sort_keys=True))
    return json.dumps(out, sort_keys=True)


def cmd_hids(*args):
    print(norm_hids(json.load(sys.stdin), "--flows" in args))


def cmd_keyof(addr):
    """The key origin of the HID holding ADDR (`show hids -j` on stdin)."""
    for h in json.load(sys.stdin).get("hids", []):
        if addr in h.get("active", []) + h.get("unreachable", []):
            print(h.get("key", "none"))
            return 0
    print("none")
    return 0


def is_primary(obj, addr):
    v6 = ":" in addr
    for h in obj.get("hids", []):
        for a in h.get("active", []):
            if (":" in a) == v6:
                if a == addr:
                    return True
                break
    return False


def cmd_primary_wait(dimectl, sock, addr, secs, out):
    end = time.monotonic() + float(secs)
    res = "none"
    while time.monotonic() < end:
        t = time.time()
        try:
            p = subprocess.run([dimectl, "-s", sock, "-j", "show", "hids"],
                               capture_output=True, timeout=2)
            if p.returncode == 0 and is_primary(json.loads(p.stdout), addr):
                res = "%.6f" % t
                break
        except (subprocess.TimeoutExpired, ValueError):
            pass
        time.sleep(0.02)
    with open(out, "w") as f:
        f.write(res + "\n")


def cmd_probe_rx(proto, fam, bind, port, secs, out):
    af = fam_af(fam)
    end = time.monotonic() + float(secs)
    stamps = []
    if proto == "udp":
        s = socket.socket(af, socket.SOCK_DGRAM)
        s.bind((bind, int(port)))
        conn = s
    else:
        ls = socket.socket(af, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((bind, int(port)))
        ls.listen(1)
        ls.settimeout(max(0.1, end - time.monotonic()))
        try:
            conn, _ = ls.accept()
        except OSError:
            conn = None
    while conn is not None and time.monotonic() < end:
        conn.settimeout(max(0.05, min(0.5, end - time.monotonic())))
        try:
            b = conn.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not b and proto == "tcp":
            break
        if proto == "udp" and b == b"END":
            break
        stamps.append(time.time())
    with open(out, "w") as f:
        f.write("".join("%.6f\n" % t for t in stamps))


def cmd_probe_tx(proto, fam, src, dst, port, secs):
    af = fam_af(fam)
    s = socket.socket(af, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(3)
    s.connect((dst, int(port)))
    s.settimeout(None)
    if proto == "tcp":
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b"p" * 100
    end = time.monotonic() + float(secs)
    while time.monotonic() < end:
        try:
            s.send(buf)
        except OSError:
            if proto == "tcp":
                return 1
        time.sleep(0.01)
    if proto == "udp":
        for _ in range(3):
            try:
                s.send(b"END")
            except OSError:
                pass
            time.sleep(0.01)
    s.close()
    return 0


def cmd_probe_tx2(fam, src, dst, tport, uport, secs, started):
    """A TCP and a UDP probe from one process: both sockets are up and have
    sent their first bytes when STARTED is created (the moment to move)."""
    af = fam_af(fam)
    t = socket.socket(af, socket.SOCK_STREAM)
    t.bind((src, 0))
    t.settimeout(3)
    t.connect((dst, int(tport)))
    t.settimeout(None)
    t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    u = socket.socket(af, socket.SOCK_DGRAM)
    u.bind((src, 0))
    u.connect((dst, int(uport)))
    buf = b"p" * 100
    end = time.monotonic() + float(secs)
    rc = 0
    first = True
    while time.monotonic() < end:
        try:
            t.send(buf)
        except OSError:
            rc = 1
        try:
            u.send(buf)
        except OSError:
            pass
        if first:
            open(started, "w").close()
            first = False
        time.sleep(0.01)
    for _ in range(3):
        try:
            u.send(b"END")
        except OSError:
            pass
        time.sleep(0.01)
    t.close()
    return rc


def cmd_gaps(events, rxlog, ref, win_from=None, win_to=None):
    def last(prefix):
        t = None
        for line in open(events):
            parts = line.split()
            if parts and " ".join(parts[:-1]).startswith(prefix):
                t = float(parts[-1])
        return t
    t_ref = last(ref)
    t_from = last(win_from) if win_from else t_ref
    t_to = last(win_to) if win_to else t_ref
    if t_ref is None or t_from is None or t_to is None:
        print("first= maxgap=")
        return
    # The window ends 3 s after TO, or at the next event, if sooner.
    t_end = t_to + 3.0
    for line in open(events):
        parts = line.split()
        if parts and t_to + 0.001 < float(parts[-1]) < t_end:
            t_end = float(parts[-1])
    ts = [float(l) for l in open(rxlog) if l.strip()]
    first = next((t for t in ts if t >= t_ref), None)
    win = [t for t in ts if t_from - 0.5 <= t <= t_end]
    gap = max((b - a for a, b in zip(win, win[1:])), default=None)
    print("first=%s maxgap=%s" % ("" if first is None else "%.3f" % (first - t_ref),
                                   "" if gap is None else "%.3f" % gap))


def cmd_mon_time(monfile, *words):
    """Wall time of the first non-deletion line of `ip -ts monitor` output
    that holds every WORD (as whole words, or an address before its /len)."""
    print(labnet.mon_time(monfile, words))


def cmd_flows(remote):
    """`show flows -j` on stdin: "tcp=N udp=N translated=N" for flows to REMOTE."""
    n = {"tcp": 0, "udp": 0, "translated": 0, "total": 0}
    for f in json.load(sys.stdin).get("flows", []):
        if f.get("remote") != remote:
            continue
        n["total"] += 1
        if f.get("proto") in n:
            n[f["proto"]] += 1
        n["translated"] += bool(f.get("translated"))
    print("tcp=%(tcp)d udp=%(udp)d translated=%(translated)d total=%(total)d" % n)


def cmd_delta(before, after, *paths):
    """"path=after-before ..." for JSON files BEFORE and AFTER."""
    b, a = json.load(open(before)), json.load(open(after))
    print(" ".join("%s=%d" % (p, int(jpath(a, p)) - int(jpath(b, p))) for p in paths))


def cmd_echo_server(fam, bind, port, secs):
    labnet.echo_server(fam_af(fam), bind, port, secs)


def cmd_conns(fam, src, dst, port, n, d):
    labnet.raise_nofile()
    n = int(n)
    socks, failed = labnet.open_conns(fam_af(fam), src, dst, int(port), n)
    ok1, err1, left1 = labnet.echo_all(socks, b"a", 15)
    with open(os.path.join(d, "ready"), "w") as f:
        f.write("connected=%d failed=%d before_ok=%d before_err=%d before_noreply=%d\n"
                % (len(socks), failed, ok1, err1, left1))
    end = time.monotonic() + 120
    while not os.path.exists(os.path.join(d, "go")) and time.monotonic() < end:
        time.sleep(0.05)
    ok2, err2, left2 = labnet.echo_all(socks, b"b", 20)
    with open(os.path.join(d, "result.tmp"), "w") as f:
        f.write("connected=%d failed=%d before_ok=%d after_ok=%d after_err=%d after_noreply=%d\n"
                % (len(socks), failed, ok1, ok2, err2, left2))
    os.rename(os.path.join(d, "result.tmp"), os.path.join(d, "result"))
    for s in socks:
        s.close()


# IHMP wire (docs/ihmp.md, include/ihmp_wire.h): version, type, flags(16),
# seq(16), Host ID as family(1) length(1) address, then TLVs type(1) len(1).
def ihmp_msg(typ, hostid, tlvs=b"", version=1, flags=0, seq=None):
    fam = 1 if ":" not in hostid else 2
    a = socket.inet_pton(socket.AF_INET if fam == 1 else socket.AF_INET6, hostid)
    if seq is None:
        seq = random.randrange(65536)
    return struct.pack("!BBHHBB", version, typ, flags, seq, fam, len(a)) + a + tlvs


def tlv_addr(code, addr):
    fam = 1 if ":" not in addr else 2
    a = socket.inet_pton(socket.AF_INET if fam == 1 else socket.AF_INET6, addr)
    return struct.pack("!BBB", code, 1 + len(a), fam) + a


def cmd_garble(fam, src, dst, port, hostid):
    rnd = random.Random(3463)
    s = socket.socket(fam_af(fam), socket.SOCK_DGRAM)
    s.bind((src, 0))
    other = "198.18.3.3" if fam == "4" else "2001:db8:3::3"
    hello = ihmp_msg(1, hostid, tlv_addr(1, hostid))
    handoff = ihmp_msg(7, hostid, tlv_addr(2, other) + tlv_addr(3, hostid), flags=1)
    sets = {
        "random": [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))) for _ in range(40)],
        "truncated": [handoff[:k] for k in range(1, len(handoff))] + [hello[:k] for k in range(1, 8)],
        "bad_version": [bytes([v]) + handoff[1:] for v in (0, 2, 3, 255)],
        "oversize": [ihmp_msg(1, hostid) + b"\x80\xff" + bytes(255) * 8 for _ in range(3)]
        + [bytes(rnd.randrange(256) for _ in range(2000))],
        "unknown_type": [ihmp_msg(t, hostid) for t in (0, 11, 12, 127, 200, 255)],
        "unknown_critical_tlv": [ihmp_msg(7, hostid, b"\x63\x02ab")],
        "bad_tlvs": [ihmp_msg(7, hostid, b"\x02\x05\x09\x01\x02\x03\x04"),  # bad family
                     ihmp_msg(7, hostid, b"\x02\x20" + bytes(8)),            # overruns
                     ihmp_msg(7, hostid, tlv_addr(2, other) * 2),            # duplicate
                     ihmp_msg(7, hostid, tlv_addr(2, other) + b"\x0b\x40" + bytes(64))],
        "stray_ack": [ihmp_msg(9, hostid, b"\x04\x01\x07")],
    }
    sent = {}
    for name, msgs in sets.items():
        sent[name] = 0
        for m in msgs:
            try:
                s.sendto(m, (dst, int(port)))
                sent[name] += 1
            except OSError as e:
                print("send %s (%d bytes): %s" % (name, len(m), e), file=sys.stderr)
            time.sleep(0.002)
    print(" ".join("%s=%d" % kv for kv in sent.items()))


def inet_csum(data):
    data += b"\0" * (len(data) % 2)
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def cmd_stale_seg(fam, src, dst, sport, dport):
    af = fam_af(fam)
    s, d = socket.inet_pton(af, src), socket.inet_pton(af, dst)
    tcp = struct.pack("!HHIIBBHHH", int(sport), int(dport), 0x12345678, 0x9ABCDEF0, 5 << 4, 0x10, 512, 0, 0)
    if fam == "4":
        pseudo = s + d + struct.pack("!BBH", 0, 6, len(tcp))
    else:
        pseudo = s + d + struct.pack("!IxxxB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack("!H", inet_csum(pseudo + tcp)) + tcp[18:]
    if fam == "4":
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0x4343, 0, 64, 6, 0, s, d)
        ip = ip[:10] + struct.pack("!H", inet_csum(ip)) + ip[12:]
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, s, d)
    with socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_RAW) as sk:
        sk.sendto(ip + tcp, (dst, 0))


def ss_duration(text):
    """ss's timer text ("204ms", "3.128ms" = 3.128 s, "1min2.5ms") in seconds."""
    m = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(?:\.(\d+))?(ms|sec|s)?)?", text)
    if not m:
        return None
    mins, whole, frac, unit = m.groups()
    secs = int(mins or 0) * 60
    if frac is not None:        # seconds.milliseconds, whatever the unit says
        secs += int(whole) + int(frac) / 10 ** len(frac)
    elif whole is not None:
        secs += int(whole) / (1000 if unit == "ms" else 1)
    return secs


def tcp_sender(ns, peer):
    """(timer, left, backoff, acked) of the socket to peer that sent the most."""
    out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-tnioH", "state", "established"],
                         capture_output=True, text=True).stdout.splitlines()
    best = None
    for head, info in zip(out, out[1:]):
        cols = head.split()
        if len(cols) < 4 or head[:1].isspace() or not info[:1].isspace():
            continue
        if cols[3].rsplit(":", 1)[0].strip("[]") != peer:
            continue
        num = lambda k: int((re.search(r"\b%s:(\d+)" % k, info) or [0, 0])[1])
        t = re.search(r"timer:\((\w+),([^,]*),(\d+)\)", head)
        st = (t.group(1) if t else "none", ss_duration(t.group(2)) if t else 0.0,
              num("backoff"), num("bytes_acked"))
        if best is None or num("bytes_sent") > best[0]:
            best = (num("bytes_sent"), st)
    return best[1] if best else None


def cmd_tcp_watch(ns, peer, cond, secs):
    m = re.fullmatch(r"(timer)=(\w+)|(backoff)>=(\d+)|(acked)>(\d+)", cond)
    if not m:
        print("bad condition: %s" % cond, file=sys.stderr)
        return 2
    end = time.time() + float(secs)
    while True:
        now = time.time()
        st = tcp_sender(ns, peer)
        if st:
            timer, left, backoff, acked = st
            ok = (m.group(1) and timer == m.group(2)) or \
                 (m.group(3) and backoff >= int(m.group(4))) or \
                 (m.group(5) and acked > int(m.group(6)))
            line = "t=%.6f timer=%s left=%.3f backoff=%d acked=%d" % (now, timer, left or 0, backoff, acked)
        else:
            ok, line = False, "t=%.6f no socket to %s" % (now, peer)
        if ok or now > end:
            print(line)
            return 0 if ok else 1
        time.sleep(0.01)


def main():
    return labnet.run(__doc__, {
        "hids": cmd_hids, "primary-wait": cmd_primary_wait,
        "probe-rx": cmd_probe_rx, "probe-tx": cmd_probe_tx, "gaps": cmd_gaps,
        "echo-server": cmd_echo_server, "conns": cmd_conns, "garble": cmd_garble,
        "flows": cmd_flows, "mon-time": cmd_mon_time, "probe-tx2": cmd_probe_tx2, "delta": cmd_delta,
        "tcp-watch": cmd_tcp_watch, "keyof": cmd_keyof, "stale-seg": cmd_stale_seg,
    })


if __name__ == "__main__":
    sys.exit(main())
