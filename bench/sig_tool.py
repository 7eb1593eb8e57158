#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""sig_tool.py -- helpers for bench/signalling.sh (standard library; shared parts in test/lab/labnet.py).

  echo-server BIND PORT SECS       TCP echo server (IPv4) for many connections
  conns SRC DST PORT N DIR [BATCH=1000]
                                   open N idle TCP connections SRC -> DST:PORT
                                   (non-blocking, in batches), echo one byte
                                   through each, write DIR/ready; when DIR/go
                                   appears echo through each again, BATCH
                                   connections at a time (0: all at once),
                                   write DIR/result; when DIR/close appears
                                   close them all with a RST (SO_LINGER 0)
  probe-tx SRC DST PORT SECS IVAL  UDP datagrams of 100 bytes every IVAL s
                                   from a connected socket; errors ignored
  watch CTLSOCK ADDR DEV PORT SECS OUT READY
                                   in CH's namespace: (1) poll dimed's control
                                   socket (`show hids`) every 2 ms, note the
                                   wall time at which ADDR is first seen as an
                                   active address of some HID and as the first
                                   active one of its family (primary); (2) on
                                   DEV (AF_PACKET), the kernel's receive time of
                                   the first UDP datagram from ADDR to PORT.
                                   READY is created once both run; OUT gets
                                   key=value lines (t_active, t_primary,
                                   t_data; "none" if not seen within SECS)
  mon-times MONFILE NEW GW OLD     from `ip -ts monitor address route`
                                   output: wall times of address NEW added, of
                                   the default route via GW added, of address
                                   OLD deleted ("none" if not seen)
  breakdown MHLOG CHLOG AFTER T0 H:WORDS...
                                   for each H:WORDS (H = mh or ch): the first
                                   line of that stamped log at or after AFTER
                                   containing WORDS, in ms after T0
  span LOG AFTER START END         ms from the first stamped line (at or after
                                   AFTER) containing START to the last one
                                   containing END
  quiet SECS CTLSOCK...            until the IHMP totals (sent + received) of
                                   every daemon stood still for 0.3 s
  stats-by-type BEFORE AFTER       `dimectl -j stats` deltas by message type:
                                   "sent.HANDOFF:2;recv.ACK:2;..." (non-zero
                                   ones; retransmits/timeouts appended)
"""
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "lab"))
import labnet  # noqa: E402  (test/lab/labnet.py)

TYPES = ["HELLO", "PATH_PROBE", "ADDR_UP", "ADDR_UP_UNREACHABLE", "ADDR_DOWN",
         "ADDR_DOWN_UNREACHABLE", "HANDOFF", "HANDOFF_UNREACHABLE", "ACK", "NAT_ENTRY"]


def cmd_echo_server(bind, port, secs):
    labnet.echo_server(socket.AF_INET, bind, port, secs)


def wait_file(path, secs):
    end = time.monotonic() + secs
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.02)
    return os.path.exists(path)


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def cmd_conns(src, dst, port, n, d, batch="1000"):
    labnet.raise_nofile()
    n = int(n)
    batch = int(batch)
    t0 = time.monotonic()
    socks, failed = labnet.open_conns(socket.AF_INET, src, dst, int(port), n)
    t1 = time.monotonic()
    ok1, err1, left1 = labnet.echo_all(socks, b"a", 30)
    write_atomic(os.path.join(d, "ready"),
                 "connected=%d failed=%d before_ok=%d before_err=%d before_noreply=%d connect_s=%.2f echo_s=%.2f\n"
                 % (len(socks), failed, ok1, err1, left1, t1 - t0, time.monotonic() - t1))
    wait_file(os.path.join(d, "go"), 300)
    t2 = time.monotonic()
    ok2, err2, left2 = labnet.echo_all(socks, b"b", 30, batch)
    write_atomic(os.path.join(d, "result"),
                 "connected=%d after_ok=%d after_err=%d after_noreply=%d echo_s=%.2f\n"
                 % (len(socks), ok2, err2, left2, time.monotonic() - t2))
    wait_file(os.path.join(d, "close"), 300)
    lin = struct.pack("ii", 1, 0)
    for i, s in enumerate(socks):
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, lin)
        except OSError:
            pass
        s.close()
        if i % 1000 == 999:
            time.sleep(0.02)	# a burst of RSTs would overflow dimed's queue


def cmd_probe_tx(src, dst, port, secs, ival):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.connect((dst, int(port)))
    buf = b"p" * 100
    ival = float(ival)
    end = time.monotonic() + float(secs)
    nxt = time.monotonic()
    while time.monotonic() < end:
        try:
            s.send(buf)
        except OSError:
            pass
        nxt += ival
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
        else:
            nxt = time.monotonic()


def ctl_query(path, line):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(2)
    c.connect(path)
    c.sendall(line.encode() + b"\n")
    c.shutdown(socket.SHUT_WR)
    buf = b""
    while True:
        b = c.recv(65536)
        if not b:
            break
        buf += b
    c.close()
    head, _, body = buf.partition(b"\n")
    if head != b"ok":
        raise ValueError(head.decode(errors="replace"))
    return json.loads(body)


def cmd_watch(ctlsock, addr, dev, port, secs, out, ready):
    end = time.monotonic() + float(secs)
    res = {"t_active": "none", "t_primary": "none", "t_data": "none", "polls": 0}
    v6 = ":" in addr
    want = socket.inet_aton(addr)
    port = int(port)
    sniff_up = threading.Event()

    def sniff():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
        s.bind((dev, 0x0800))
        s.setsockopt(socket.SOL_SOCKET, 29, 1)	# SO_TIMESTAMP: struct timeval
        s.settimeout(0.1)
        sniff_up.set()
        while time.monotonic() < end:
            try:
                data, anc, _, _ = s.recvmsg(256, 64)
            except socket.timeout:
                continue
            if len(data) < 28 or data[9] != 17 or data[12:16] != want:
                continue
            ihl = (data[0] & 15) * 4
            if struct.unpack("!H", data[ihl + 2:ihl + 4])[0] != port:
                continue
            t = time.time()
            for lvl, typ, val in anc:
                if lvl == socket.SOL_SOCKET and typ == 29 and len(val) >= 16:
                    sec, usec = struct.unpack("qq", val[:16])
                    t = sec + usec / 1e6
            res["t_data"] = "%.6f" % t
            return

    th = threading.Thread(target=sniff, daemon=True)
    th.start()
    sniff_up.wait(5)
    open(ready, "w").close()
    while time.monotonic() < end and res["t_primary"] == "none":
        t = time.time()
        try:
            h = ctl_query(ctlsock, "dime/1 -j show hids")
        except (OSError, ValueError):
            h = {}
        res["polls"] += 1
        for hid in h.get("hids", []):
            act = hid.get("active", [])
            if addr in act and res["t_active"] == "none":
                res["t_active"] = "%.6f" % t
            fam = [a for a in act if (":" in a) == v6]
            if fam and fam[0] == addr:
                res["t_primary"] = "%.6f" % t
        time.sleep(0.002)
    th.join(max(0, end - time.monotonic()))
    write_atomic(out, "".join("%s=%s\n" % kv for kv in res.items()))


def cmd_mon_times(monfile, new, gw, old):
    """"T_NEW_ADDR T_NEW_DEFAULT_ROUTE T_OLD_ADDR_DELETED" (or "none")."""
    print(labnet.mon_time(monfile, [new]), labnet.mon_time(monfile, ["default", "via", gw]),
          labnet.mon_time(monfile, [old], deleted=True))


def cmd_breakdown(mhlog, chlog, after, t0, *items):
    """For each item "mh:WORDS" or "ch:WORDS": the first stamped line of that
    host's log at or after AFTER containing WORDS, in ms after T0."""
    after, t0 = float(after), float(t0)
    logs = {}
    for h, path in (("mh", mhlog), ("ch", chlog)):
        logs[h] = []
        for line in open(path, errors="replace"):
            t, _, rest = line.partition(" ")
            try:
                logs[h].append((float(t), rest))
            except ValueError:
                pass
    found = []
    for it in items:
        h, _, words = it.partition(":")
        t = next((t for t, rest in logs[h] if t >= after and words in rest), None)
        if t is not None:
            found.append((t, h + ": " + words))
    for t, what in sorted(found):
        print("    %-44s %9.1f ms" % (what, (t - t0) * 1000))


def cmd_span(log, after, start, end):
    """ms from the first stamped line of LOG at or after AFTER containing
    START to the last one containing END ("nan" if either is missing)."""
    after = float(after)
    t0 = t1 = None
    for line in open(log, errors="replace"):
        t, _, rest = line.partition(" ")
        try:
            t = float(t)
        except ValueError:
            continue
        if t < after:
            continue
        if t0 is None and start in rest:
            t0 = t
        if end in rest:
            t1 = t
    print("nan" if t0 is None or t1 is None else "%.0f" % ((t1 - t0) * 1000))


def cmd_quiet(secs, *socks):
    """Until the IHMP message totals of every daemon (control sockets SOCKS)
    stood still for 0.3 s; at most SECS. Prints "quiet after S s" or "busy"."""
    t0 = time.monotonic()
    end = t0 + float(secs)
    prev, since = None, time.monotonic()
    while time.monotonic() < end:
        cur = []
        for s in socks:
            try:
                d = ctl_query(s, "dime/1 -j stats")["ihmp"]
                cur.append(sum(d["sent"].values()) + sum(d["received"].values()))
            except (OSError, ValueError, KeyError):
                cur.append(None)
        if cur != prev:
            prev, since = cur, time.monotonic()
        elif time.monotonic() - since >= 0.3:
            print("quiet after %.2f s" % (time.monotonic() - t0))
            return 0
        time.sleep(0.05)
    print("busy after %.2f s: %s" % (time.monotonic() - t0, prev))
    return 1


def cmd_stats_by_type(before, after):
    b, a = json.load(open(before)), json.load(open(after))
    out = []
    for key, tag in (("sent", "sent"), ("received", "recv")):
        for t in TYPES:
            d = a["ihmp"][key][t] - b["ihmp"][key][t]
            if d:
                out.append("%s.%s:%d" % (tag, t, d))
    for k in ("retransmits", "timeouts", "send_errors"):
        d = a["ihmp"][k] - b["ihmp"][k]
        if d:
            out.append("%s:%d" % (k, d))
    print(";".join(out) if out else "none")


def main():
    return labnet.run(__doc__, {
        "echo-server": cmd_echo_server, "conns": cmd_conns,
        "probe-tx": cmd_probe_tx, "watch": cmd_watch, "mon-times": cmd_mon_times,
        "breakdown": cmd_breakdown, "span": cmd_span, "stats-by-type": cmd_stats_by_type, "quiet": cmd_quiet,
    })


if __name__ == "__main__":
    sys.exit(main())
