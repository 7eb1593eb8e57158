#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""nat_tool.py -- helpers of bench/nat.sh (python3 standard library only).

  modes FLOWS_JSON SIDE PORT
        the "mode" of every TCP flow of an iperf3 test on PORT in a
        `dimectl -j show flows` answer (SIDE mh: rport == PORT, ch: lport ==
        PORT), sorted and unique, space-separated ("none" if there is none).
  stat STATS_JSON PATH...
        values of `dimectl -j stats` (dotted paths, e.g. tunnel.encap_out),
        one per line (0 for a missing one).
  cpu PID
        "TICKS HZ": utime + stime of a process so far (for its CPU share
        over an interval: two calls).
  resume key=value...
        one resume run of bench/nat.sh: dir= (events, mh-ip-monitor.txt,
        cap.pcap), t0=, port=, ihmp_port=, addr_a=, addr_b=, gw_b= (MH's),
        old_src=, new_src= (the public addresses CH sees: the NATs'),
        series=dime|mptcp. The reference event new_addr_usable is when MH's
        new address and its default route were both in place (kernel times,
        `ip -ts monitor address route`, read with fig8_tool.monitor_times;
        the script's stamp after lab_attach is the fallback). The first data
        at CH through the new path is the first packet in CH's capture from
        new_src at or after it carrying flow data: TCP to port with payload
        (MPTCP's new subflow), or a DATA datagram to the IHMP port (first
        octet 0x80) whose inner packet is TCP to port with payload (dime's
        encapsulation). Prints key=value: resume_ms (empty: never resumed),
        usable_from (monitor or stamp), kind (tcp or encap), pkts_old,
        pkts_new, last_old_ms (the last data via the old path, relative to
        the reference; negative: before it), t_up (from t0), and from MH's
        time-stamped dimed log if there is one: dimed_held_ms (the old
        address held as an identifier) and dimed_nat_ms (CH's ACK through
        the new NAT arrived: "sees us as new_src"), from the reference.
  nstat-diff BEFORE AFTER NAME...
        AFTER - BEFORE of `nstat -az` counters, "NAME=N" per name.
  report SAMPLES
        the final table and ratio lines. SAMPLES lines: "PART COND REP
        VALUE UNIT [key=value...]" (VALUE nan: no result).
"""
import json
import math
import os
import socket
import statistics
import struct
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fig8_tool  # noqa: E402  (monitor_times, read_events)

ENCAP_TYPE = 0x80
ENCAP_HDR = 8


# ------------------------------------------------------------ dimectl ---
def cmd_modes(path, side, port):
    port = int(port)
    try:
        doc = json.load(open(path))
    except (OSError, ValueError):
        print("unreadable")
        return
    key = "rport" if side == "mh" else "lport"
    modes = sorted({f.get("mode", "?") for f in doc.get("flows", [])
                    if f.get("proto") == "tcp" and int(f.get(key, -1)) == port})
    print(" ".join(modes) or "none")


def cmd_stat(path, *keys):
    try:
        doc = json.load(open(path))
    except (OSError, ValueError):
        doc = {}
    for k in keys:
        v = doc
        for p in k.split("."):
            v = v.get(p, {}) if isinstance(v, dict) else {}
        print(v if isinstance(v, int) else 0)


def cmd_cpu(pid):
    with open("/proc/%s/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    # fields[0] is the state (field 3): utime and stime are fields 14 and 15
    print(int(fields[11]) + int(fields[12]), os.sysconf("SC_CLK_TCK"))


def cmd_nstat_diff(before, after, *names):
    b, a = fig8_tool.nstat(before), fig8_tool.nstat(after)
    for n in names:
        print("%s=%d" % (n, a.get(n, 0) - b.get(n, 0)))


# ------------------------------------------------------------ capture ---
def pcap_packets(path):
    """(time, outer IPv4 src, proto, dport, l4 payload bytes) of the
    capture's IPv4 packets (Ethernet or Linux cooked v1/v2 link types)."""
    with open(path, "rb") as f:
        gh = f.read(24)
        if len(gh) < 24:
            return
        magic = struct.unpack("<I", gh[:4])[0]
        end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
        magic = struct.unpack(end + "I", gh[:4])[0]
        div = 1e9 if magic == 0xa1b23c4d else 1e6
        linktype = struct.unpack(end + "I", gh[20:24])[0]
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, incl, _orig = struct.unpack(end + "IIII", h)
            pkt = f.read(incl)
            if len(pkt) < incl:
                return
            if linktype == 1:
                et, off = struct.unpack("!H", pkt[12:14])[0], 14
            elif linktype == 113:
                et, off = struct.unpack("!H", pkt[14:16])[0], 16
            elif linktype == 276:
                et, off = struct.unpack("!H", pkt[0:2])[0], 20
            else:
                continue
            if et != 0x0800 or len(pkt) < off + 20:
                continue
            ihl = (pkt[off] & 0xf) * 4
            tot = struct.unpack("!H", pkt[off + 2:off + 4])[0]
            l4 = off + ihl
            if len(pkt) < l4 + 8:
                continue
            yield (sec + frac / div, pkt[off + 12:off + 16], pkt[off + 9],
                   struct.unpack("!H", pkt[l4 + 2:l4 + 4])[0], pkt[l4:off + tot], tot - ihl)


def tcp_payload(seg, seglen):
    """Payload length of a TCP segment (seg: its captured bytes, seglen:
    its length on the wire), or -1 if the header was not captured."""
    if len(seg) < 13:
        return -1
    return seglen - (seg[12] >> 4) * 4


def inner_data(udp, udplen, port):
    """True if a UDP datagram (captured bytes, length on the wire) is a
    DATA datagram whose inner IPv4 packet is TCP to port with payload."""
    p = udp[8:]
    if len(p) < ENCAP_HDR + 20 or p[0] != ENCAP_TYPE:
        return False
    ip = p[ENCAP_HDR:]
    if ip[0] >> 4 != 4 or ip[9] != 6:
        return False
    ihl = (ip[0] & 0xf) * 4
    tot = struct.unpack("!H", ip[2:4])[0]
    seg = ip[ihl:]
    if len(seg) < 13 or struct.unpack("!H", seg[2:4])[0] != port:
        return False
    return tcp_payload(seg, tot - ihl) > 0


def cmd_resume(*args):
    a = dict(x.split("=", 1) for x in args)
    d, t0 = a["dir"], float(a["t0"])
    port, iport = int(a["port"]), int(a["ihmp_port"])
    ev = fig8_tool.read_events(os.path.join(d, "events"))
    kt = fig8_tool.monitor_times(os.path.join(d, "mh-ip-monitor.txt"), t0, "4",
                                 a["addr_a"], a["addr_b"], a["gw_b"])
    t_up, src = kt.get("new_addr_usable"), "monitor"
    if t_up is None:
        t_up, src = ev.get("hard_up"), "stamp"
    out = {"resume_ms": "", "usable_from": src if t_up else "none", "kind": "",
           "pkts_old": 0, "pkts_new": 0, "last_old_ms": ""}
    old, new = socket.inet_aton(a["old_src"]), socket.inet_aton(a["new_src"])
    last_old = None
    try:
        pkts = list(pcap_packets(os.path.join(d, "cap.pcap")))
    except OSError:
        pkts = None
        out["kind"] = "no_capture"
    for t, s, proto, dport, l4, l4len in sorted(pkts or [], key=lambda p: p[0]):
        if s not in (old, new):
            continue
        if proto == 6 and dport == port and tcp_payload(l4, l4len) > 0:
            kind = "tcp"
        elif proto == 17 and dport == iport and inner_data(l4, l4len, port):
            kind = "encap"
        else:
            continue
        if s == old:
            out["pkts_old"] += 1
            last_old = t
            continue
        out["pkts_new"] += 1
        if t_up is not None and t >= t_up and out["resume_ms"] == "":
            out["resume_ms"] = "%.1f" % ((t - t_up) * 1000)
            out["kind"] = kind
    if last_old is not None and t_up is not None:
        out["last_old_ms"] = "%.0f" % ((last_old - t_up) * 1000)
    if t_up is not None:
        out["t_up"] = "%.3f" % (t_up - t0)
        # dimed's view (MH's log, time-stamped lines, if any): when it held
        # the old address as an identifier, and when CH's ACK through the
        # new NAT told it its new public endpoint
        marks = [("dimed_held_ms", "holding identifier %s " % a["addr_a"]),
                 ("dimed_nat_ms", "sees us as %s " % a["new_src"])]
        try:
            for line in open(os.path.join(d, "dimed.mh.log")):
                p = line.split(None, 1)
                try:
                    t = float(p[0])
                except (ValueError, IndexError):
                    continue
                for k, pat in marks:
                    if k not in out and pat in p[1] and t >= t_up - 0.5:
                        out[k] = "%.1f" % ((t - t_up) * 1000)
        except OSError:
            pass
    print(" ".join("%s=%s" % kv for kv in out.items()))


# ------------------------------------------------------------- report ---
GOODPUT = [("kernel", "kernel path (dimed running, flow needs nothing)"),
           ("kernel_nat", "kernel path through NAT2 (context)"),
           ("translated", "plainly translated (public A -> public B)"),
           ("encap", "encapsulated (public A -> NAT2 B)")]
RESUME = [("dime", "dime (encap), NAT1 -> NAT2 hard"),
          ("mptcp", "MPTCP, NAT1 -> NAT2 hard")]
# (label, part, numerator, denominator, goal, kind, paired)
RATIOS = [("encap/translated goodput", "goodput", "encap", "translated", 0.8, ">=", True),
          ("encap/kernel goodput", "goodput", "encap", "kernel", None, "", True),
          ("translated/kernel goodput", "goodput", "translated", "kernel", None, "", True),
          ("kernel_nat/kernel goodput", "goodput", "kernel_nat", "kernel", None, "", True),
          ("dime/mptcp resume", "resume", "dime", "mptcp", 1.0, "<=", False)]


def fnum(v, nd=2):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else "%.*f" % (nd, v)


def cmd_report(path):
    samples, extra = {}, {}
    for line in open(path):
        w = line.split()
        if len(w) < 5:
            continue
        part, cond, rep, val, unit = w[:5]
        samples.setdefault((part, cond), []).append((rep, float(val), unit))
        for kv in w[5:]:
            k, v = kv.split("=", 1)
            extra.setdefault((part, cond, k), []).append(v)

    def med(key):
        xs = [v for _, v, _ in samples.get(key, []) if not math.isnan(v)]
        return statistics.median(xs) if xs else float("nan")

    def med_extra(key, k, nd=0):
        xs = []
        for v in extra.get(key + (k,), []):
            try:
                xs.append(float(v))
            except ValueError:
                pass
        return fnum(statistics.median(xs), nd) if xs else "-"

    rows = [("part", "condition", "median", "unit", "n", "samples", "dimed CPU mh/ch %", "what")]
    for part, conds in (("goodput", GOODPUT), ("resume", RESUME)):
        for cond, what in conds:
            key = (part, cond)
            if key not in samples:
                continue
            s = samples[key]
            nd = 2 if part == "goodput" else 1
            vals = " ".join(fnum(v, nd) for _, v, _ in s)
            ok = sum(1 for _, v, _ in s if not math.isnan(v))
            cpu = "%s/%s" % (med_extra(key, "cpu_mh"), med_extra(key, "cpu_ch")) if part == "goodput" else "-"
            rows.append((part, cond, fnum(med(key), nd), s[0][2], "%d/%d" % (ok, len(s)), vals, cpu, what))
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
    print()
    for label, part, num, den, goal, kind, paired in RATIOS:
        a, b = samples.get((part, num)), samples.get((part, den))
        if not a or not b:
            continue
        if paired:
            db = {rep: v for rep, v, _ in b}
            rs = [v / db[rep] for rep, v, _ in a if rep in db and db[rep] and not math.isnan(v / db[rep])]
            r = statistics.median(rs) if rs else float("nan")
            how = "median of %d" % len(rs)
        else:
            ma, mb = med((part, num)), med((part, den))
            r = ma / mb if mb and not math.isnan(ma) and not math.isnan(mb) else float("nan")
            how = "ratio of the medians of %d and %d" % (
                sum(1 for _, v, _ in a if not math.isnan(v)), sum(1 for _, v, _ in b if not math.isnan(v)))
        g = ""
        if goal is not None:
            met = "n/a" if math.isnan(r) else ("met" if (r >= goal if kind == ">=" else r <= goal) else "NOT met")
            g = "; goal %s %.2f: %s" % (kind, goal, met)
        print("ratio %s = %s (%s%s)" % (label, fnum(r), how, g))


def main():
    cmds = {"modes": cmd_modes, "stat": cmd_stat, "cpu": cmd_cpu, "resume": cmd_resume,
            "nstat-diff": cmd_nstat_diff, "report": cmd_report}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
