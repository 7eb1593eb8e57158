#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fig8_tool.py -- helpers of bench/fig8.sh (python3 standard library only).

  udp-tx FAM SRC DST PORT SECS MBPS OUT [START]
        paced UDP sender (from wall time START, if given): 1200-byte datagrams (sequence number and send time
        in the first 16 bytes) from a socket bound to SRC and connected to
        DST:PORT, MBPS Mbit/s of payload for SECS seconds. Send errors (no
        address, no route during a hard handoff) are counted and ignored, as
        a media application would; pacing goes on by the clock, so there is
        no burst after a gap. OUT gets key=value lines.
  udp-rx FAM BIND PORT SRC SECS OUT
        receiver: counts the payload bytes of datagrams whose source is SRC
        (the sender's identifier: what an application talking to SRC
        accepts) in 10 ms bins of wall time; datagrams from anyone else are
        counted apart. Stops after SECS s or on SIGTERM; OUT gets JSON.
  analyze key=value...
        one run of fig8.sh: goodput per 0.5 s (iperf3 server JSON for TCP,
        udp-rx JSON for UDP), events, and the resume/outage times from CH's
        packet capture; writes the run's rows of the three CSV files
        (goodput.csv, summary.csv, events.csv in dir=) and prints one line.
"""
import json
import os
import signal
import socket
import struct
import sys
import time

BIN = 0.5          # goodput interval, s
UDP_LEN = 1200     # datagram payload, bytes


def fam_af(fam):
    return socket.AF_INET if fam == "4" else socket.AF_INET6


# ------------------------------------------------------------------ UDP ---
def cmd_udp_tx(fam, src, dst, port, secs, mbps, out, start_at=None):
    s = socket.socket(fam_af(fam), socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.connect((dst, int(port)))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    pps = float(mbps) * 1e6 / 8 / UDP_LEN
    pad = b"\0" * (UDP_LEN - 16)
    secs = float(secs)
    if start_at:
        time.sleep(max(0.0, float(start_at) - time.time()))
    start = time.time()
    end = start + secs
    seq = sent = errors = 0
    last_err = ""
    while True:
        now = time.time()
        if now >= end:
            break
        due = int((now - start) * pps) + 1
        while seq < due:
            try:
                s.send(struct.pack("!Qd", seq, now) + pad)
                sent += UDP_LEN
            except OSError as e:
                errors += 1
                last_err = e.strerror or str(e)
            seq += 1
        time.sleep(0.001)
    with open(out, "w") as f:
        f.write("start=%.6f\nend=%.6f\ndatagrams=%d\nbytes_sent=%d\nsend_errors=%d\nlast_error=%s\n"
                % (start, time.time(), seq, sent, errors, last_err.replace(" ", "_")))


def cmd_udp_rx(fam, bind, port, src, secs, out):
    s = socket.socket(fam_af(fam), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((bind, int(port)))
    s.settimeout(0.2)
    want = socket.inet_pton(fam_af(fam), src)
    bins, foreign = {}, {}
    st = {"packets": 0, "bytes": 0, "max_seq": -1, "first": None, "last": None}
    stop = [False]

    def term(*_):
        stop[0] = True
    signal.signal(signal.SIGTERM, term)
    end = time.time() + float(secs)
    while not stop[0] and time.time() < end:
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        now = time.time()
        if socket.inet_pton(fam_af(fam), addr[0]) != want:
            foreign[addr[0]] = foreign.get(addr[0], 0) + len(data)
            continue
        k = int(now * 100)
        bins[k] = bins.get(k, 0) + len(data)
        st["packets"] += 1
        st["bytes"] += len(data)
        if len(data) >= 8:
            st["max_seq"] = max(st["max_seq"], struct.unpack("!Q", data[:8])[0])
        if st["first"] is None:
            st["first"] = now
        st["last"] = now
    st["bins10ms"] = sorted(bins.items())
    st["foreign_bytes"] = foreign
    with open(out, "w") as f:
        json.dump(st, f)


# -------------------------------------------------------------- capture ---
def read_pcap(path, port, addrs):
    """Data packets (TCP with payload, UDP) to PORT from one of addrs
    (name -> packed address): list of (time, name), in capture order."""
    out = []
    try:
        f = open(path, "rb")
    except OSError:
        return None
    with f:
        gh = f.read(24)
        if len(gh) < 24:
            return []
        magic = struct.unpack("<I", gh[:4])[0]
        if magic in (0xa1b2c3d4, 0xa1b23c4d):
            end = "<"
        else:
            end = ">"
            magic = struct.unpack(">I", gh[:4])[0]
        div = 1e9 if magic == 0xa1b23c4d else 1e6
        linktype = struct.unpack(end + "I", gh[20:24])[0]
        byaddr = {v: k for k, v in addrs.items()}
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            sec, frac, incl, _orig = struct.unpack(end + "IIII", h)
            pkt = f.read(incl)
            if len(pkt) < incl:
                break
            if linktype == 1:           # Ethernet
                et, off = struct.unpack("!H", pkt[12:14])[0], 14
                if et == 0x8100:
                    et, off = struct.unpack("!H", pkt[16:18])[0], 18
            elif linktype == 113:       # Linux cooked
                et, off = struct.unpack("!H", pkt[14:16])[0], 16
            else:
                continue
            if et == 0x0800 and len(pkt) >= off + 20:
                ihl = (pkt[off] & 0xf) * 4
                tot = struct.unpack("!H", pkt[off + 2:off + 4])[0]
                proto = pkt[off + 9]
                s = pkt[off + 12:off + 16]
                l4, l4len = off + ihl, tot - ihl
            elif et == 0x86dd and len(pkt) >= off + 40:
                plen = struct.unpack("!H", pkt[off + 4:off + 6])[0]
                proto = pkt[off + 6]
                s = pkt[off + 8:off + 24]
                l4, l4len = off + 40, plen
            else:
                continue
            name = byaddr.get(s)
            if name is None or len(pkt) < l4 + 4:
                continue
            dport = struct.unpack("!H", pkt[l4 + 2:l4 + 4])[0]
            if dport != port:
                continue
            if proto == 6:
                if len(pkt) < l4 + 13:
                    continue
                payload = l4len - (pkt[l4 + 12] >> 4) * 4
            elif proto == 17:
                payload = l4len - 8
            else:
                continue
            if payload > 0:
                out.append((sec + frac / div, name))
    out.sort()
    return out


# -------------------------------------------------------------- analyze ---
def read_events(path):
    ev = {}
    try:
        for line in open(path):
            p = line.split()
            if len(p) >= 2:
                ev[p[0]] = float(p[-1])     # the last stamp of a name wins
    except OSError:
        pass
    return ev


def read_kv(path):
    kv = {}
    try:
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                kv[k] = v
    except OSError:
        pass
    return kv


def iperf_bins(path, nbins):
    """bytes per 0.5 s interval of the iperf3 server's JSON (first occurrence
    of each start: iperf3 repeats the last interval when it stops)."""
    out = [0] * nbins
    secs = [BIN] * nbins
    try:
        doc = json.load(open(path))
    except (OSError, ValueError):
        return out, secs, False
    for iv in doc.get("intervals", []):
        s = iv.get("sum", {})
        k = int(round(float(s.get("start", 0)) / BIN))
        if 0 <= k < nbins and not out[k]:
            out[k] = int(s.get("bytes", 0))
            secs[k] = float(s.get("seconds", BIN)) or BIN
    return out, secs, True


def udp_bins(path, t0, nbins):
    out = [0] * nbins
    try:
        doc = json.load(open(path))
    except (OSError, ValueError):
        return out, {}
    for k10, b in doc.get("bins10ms", []):
        t = (k10 + 0.5) / 100.0 - t0
        k = int(t // BIN)
        if 0 <= k < nbins:
            out[k] += b
    return out, doc


def nstat(path):
    d = {}
    try:
        for line in open(path):
            p = line.split()
            if len(p) >= 2 and p[1].isdigit():
                d[p[0]] = int(p[1])
    except OSError:
        pass
    return d


def monitor_times(path, t0, fam, addr_a, addr_b, gw_b):
    """new_addr_usable: MH's new address of the family and its default route
    both in place; old_addr_removed: the old address deleted (wall times)."""
    import datetime
    inet = "inet6" if fam == "6" else "inet"
    added = route = removed = None
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return {}
    for line in lines:
        if not line.startswith("[") or "]" not in line:
            continue
        stamp, rest = line[1:].split("]", 1)
        try:
            t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").timestamp()
        except ValueError:
            continue
        if t < t0:
            continue
        rest = " " + rest.strip() + " "
        deleted = rest.startswith(" Deleted ")
        if not deleted and added is None and " %s %s/" % (inet, addr_b) in rest:
            added = t
        if not deleted and route is None and gw_b and rest.startswith(" default via %s " % gw_b):
            route = t
        if deleted and removed is None and " %s %s/" % (inet, addr_a) in rest:
            removed = t
    out = {}
    if added is not None and route is not None:
        out["new_addr_usable"] = max(added, route)
    if removed is not None:
        out["old_addr_removed"] = removed
    return out


def fmt(t):
    return "" if t is None else "%.3f" % t


def cmd_analyze(*args):
    a = dict(x.split("=", 1) for x in args)
    d = a["dir"]
    fam, proto, handoff, series, rep = a["family"], a["proto"], a["handoff"], a["series"], a["rep"]
    secs, t0, port = float(a["secs"]), float(a["t0"]), int(a["port"])
    nbins = int(round(secs / BIN))
    af = fam_af(fam)
    ev = read_events(os.path.join(d, "events"))
    # Kernel times of the events from MH's `ip -ts monitor address route`;
    # the script's stamps after the commands are the fallback.
    kt = monitor_times(os.path.join(d, "mh-ip-monitor.txt"), t0, fam, a["addr_a"], a["addr_b"], a.get("gw_b", ""))
    ev.update(kt)
    ev.setdefault("new_addr_usable", ev.get("new_addr_done"))
    ev.setdefault("old_addr_removed", ev.get("old_addr_done"))
    ev = {k: v for k, v in ev.items() if v is not None}
    t_up, t_down = ev.get("new_addr_usable"), ev.get("old_addr_removed")
    t_end = t0 + secs
    notes = []
    if handoff == "soft" and a.get("soft_mode", "lab") != "lab":
        notes.append("soft=" + a["soft_mode"])

    # goodput
    if proto == "tcp":
        b, durs, ok = iperf_bins(os.path.join(d, "server.json"), nbins)
        if not ok:
            notes.append("no iperf3 server JSON")
        mbps = [b[k] * 8 / durs[k] / 1e6 for k in range(nbins)]
        res = read_kv(os.path.join(d, "tcp.res"))
        survived = res.get("survived") == "yes"
        notes.append("tx=%.1fMB rx=%.1fMB" % (int(res.get("bytes_sent", 0) or 0) / 1e6,
                                              int(res.get("bytes_recv", 0) or 0) / 1e6))
        if res.get("client_error"):
            notes.append("client_error=" + res["client_error"].replace(",", ""))
        if res.get("client_rc") not in (None, "0"):
            notes.append("client_rc=" + res["client_rc"])
    else:
        b, doc = udp_bins(os.path.join(d, "udp-rx.json"), t0, nbins)
        mbps = [x * 8 / BIN / 1e6 for x in b]
        tx = read_kv(os.path.join(d, "udp-tx.txt"))
        last = doc.get("last")
        last_ev = max([t for t in (t_up, t_down) if t is not None] or [t0])
        survived = bool(last and last >= t_end - 1.0 and last > last_ev)
        notes.append("tx=%.1fMB rx=%.1fMB send_errors=%s" % (
            int(tx.get("bytes_sent", 0) or 0) / 1e6, int(doc.get("bytes", 0)) / 1e6, tx.get("send_errors", "?")))
        fb = sum(doc.get("foreign_bytes", {}).values())
        if fb:
            notes.append("rx_from_other_src=%.1fMB" % (fb / 1e6))
    mean = sum(b) * 8 / secs / 1e6
    # Application-level view of the outage (the capture sees packets, not
    # what reached the receiving application, e.g. MPTCP's head-of-line
    # wait for data reinjected from a dead subflow): the goodput lost after
    # the first event, against the rate before it, as milliseconds at that
    # rate.
    first = min([ev[k] for k in ("new_addr_begin", "old_addr_begin") if k in ev] or [t_end]) - t0
    pre = [mbps[k] for k in range(nbins) if (k + 1) * BIN <= first]
    if len(pre) > 1:
        pre = pre[1:]       # the first interval has the start-up in it
    base = sum(pre) / len(pre) if pre else 0.0
    if base > 0:
        lost = sum((base - mbps[k]) * BIN for k in range(nbins) if (k + 1) * BIN > first)
        notes.append("deficit=%.0fms" % (max(0.0, lost) / base * 1000))

    # capture: resume and outage
    addrs = {"A": socket.inet_pton(af, a["addr_a"]), "B": socket.inet_pton(af, a["addr_b"])}
    pk = read_pcap(os.path.join(d, "cap.pcap"), port, addrs)
    resume_ms = None
    extra_ev = []
    if pk is None:
        notes.append("no capture")
    elif not pk:
        notes.append("no data captured")
    else:
        times = [t for t, _ in pk]
        extra_ev.append(("first_data", times[0]))
        nb = [t for t, n in pk if n == "B"]
        if nb:
            extra_ev.append(("first_data_new_path", nb[0]))
        if handoff == "hard" and t_up is not None:
            r = next((t for t in nb if t >= t_up), None)
            if r is not None:
                resume_ms = (r - t_up) * 1000
        elif handoff == "soft" and t_down is not None:
            before = [t for t in times if t < t_down]
            after = next((t for t in times if t >= t_down), None)
            rb = next((t for t in nb if t >= t_down), None)
            b_flowing = any(t_down - 0.3 <= t < t_down for t in nb)
            gap = (after - before[-1]) if (before and after is not None) else None
            if b_flowing and gap is not None and gap < 0.05 and rb is not None and rb - t_down < 0.05:
                resume_ms = 0.0
                notes.append("no stall at removal")
            elif rb is not None:
                resume_ms = (rb - t_down) * 1000
        # The longest receive gap between two data packets from 0.5 s
        # before the first event to the end; "dead" if nothing came after
        # the last event.
        evs = [t for t in (t_up, t_down) if t is not None]
        if evs:
            begins = {"up": ev.get("new_addr_begin", t_up), "down": ev.get("old_addr_begin", t_down)}
            w0 = min(t for t in begins.values() if t is not None) - 0.5
            w1 = t_end + 0.5
            w = [t for t in times if w0 <= t <= w1]
            if not any(t > max(evs) for t in w):
                gs = max([t for t in times if t <= max(evs)] or [w0])
                near = min((abs(gs - t), n) for n, t in begins.items() if t is not None)[1]
                notes.append("receive stops %+.0fms from %s event" % ((gs - begins[near]) * 1000, near))
                extra_ev.append(("outage_start", gs))
            elif w:
                best = (0.0, None, None)
                for p0, p1 in zip(w, w[1:]):
                    if p1 - p0 > best[0]:
                        best = (p1 - p0, p0, p1)
                g, gs, ge = best
                if gs is not None:
                    near = min((abs(gs - t), n) for n, t in begins.items() if t is not None)[1]
                    notes.append("longest_gap=%.0fms from %+.0fms of %s event" % (
                        g * 1000, (gs - begins[near]) * 1000, near))
                    extra_ev.append(("outage_start", gs))
                    extra_ev.append(("outage_end", ge))
        notes.append("pkts_A=%d pkts_B=%d" % (len(times) - len(nb), len(nb)))

    # MPTCP evidence: counters of both hosts, MH's `ip mptcp monitor`
    if series == "mptcp":
        mh, ch = nstat(os.path.join(d, "nstat.mh")), nstat(os.path.join(d, "nstat.ch"))
        capable = mh.get("MPTcpExtMPCapableSYNACKRX", 0) > 0 and ch.get("MPTcpExtMPCapableACKRX", 0) > 0
        per_token, first_sf = {}, None
        try:
            for line in open(os.path.join(d, "mptcp-monitor.txt")):
                p = line.replace("[", " ").replace("]", " ").split()
                tok = next((x[6:] for x in p if x.startswith("token=")), None)
                if len(p) < 2 or tok is None:
                    continue
                if p[1] == "CREATED":
                    per_token[tok] = per_token.get(tok, 0) + 1
                elif p[1] == "SF_ESTABLISHED":
                    per_token[tok] = per_token.get(tok, 0) + 1
                    if first_sf is None:
                        first_sf = float(p[0])
        except (OSError, ValueError):
            pass
        if first_sf is not None:
            extra_ev.append(("mptcp_subflow_established", first_sf))
        notes.append("mptcp=%s subflows=%d joins_at_ch=%d fallback=%d" % (
            "yes" if capable else "no", max(per_token.values() or [0]), ch.get("MPTcpExtMPJoinAckRx", 0),
            mh.get("MPTcpExtMPCapableFallbackSYNACK", 0) + mh.get("MPTcpExtMPCapableFallbackACK", 0)))

    # dimed's view (MH's log, time-stamped lines): when the signalling was done
    if series == "dime":
        pat = [("dime_addr_up_sent", "IHMP: sent ADDR_UP"), ("dime_handoff_sent", "IHMP: sent HANDOFF"),
               ("dime_identifier_held", "holding identifier " + a["addr_a"] + " ")]
        seen = {}
        try:
            for line in open(os.path.join(d, "dimed.mh.log")):
                p = line.split(None, 1)
                if len(p) < 2:
                    continue
                txt = p[1]
                fam_ok = (":" in txt.split("->")[0].split()[-1]) == (fam == "6") if "->" in txt else True
                for name, key in pat:
                    if name not in seen and key in txt + " " and fam_ok:
                        seen[name] = float(p[0])
        except (OSError, ValueError):
            pass
        extra_ev += sorted(seen.items(), key=lambda kv: kv[1])
        ref = t_up if handoff == "hard" else t_down
        if "dime_identifier_held" in seen and ref is not None:
            notes.append("dimed_ready=%+.0fms" % ((seen["dime_identifier_held"] - ref) * 1000))

    # outputs
    with open(os.path.join(d, "goodput.csv"), "w") as f:
        for k in range(nbins):
            f.write("%s,%s,%s,%s,%s,%.1f,%.3f\n" % (fam, proto, handoff, series, rep, (k + 1) * BIN, mbps[k]))
    note = " ".join(notes).replace(",", ";")
    with open(os.path.join(d, "summary.csv"), "w") as f:
        f.write("%s,%s,%s,%s,%s,%.2f,%s,%d,%s\n" % (fam, proto, handoff, series, rep, mean,
                                                  "" if resume_ms is None else "%.1f" % resume_ms,
                                                  1 if survived else 0, note))
    names = ["new_addr_begin", "new_addr_usable", "new_addr_done", "old_addr_begin", "old_addr_removed",
             "old_addr_done", "mptcp_endpoint_added", "mptcp_endpoint_deleted"]
    rows = [(n, ev[n]) for n in names if n in ev] + extra_ev + [("transfer_end", t_end)]
    rows.sort(key=lambda r: r[1])
    # The events file has no proto column: UDP runs' events carry "udp_".
    pre = "udp_" if proto == "udp" else ""
    with open(os.path.join(d, "events.csv"), "w") as f:
        for n, t in rows:
            f.write("%s,%s,%s,%s,%s%s,%.3f\n" % (fam, handoff, series, rep, pre, n, t - t0))
    print("v%s %s %-4s %-5s rep%s mean=%.1f Mbit/s resume_ms=%s survived=%d  %s" % (
        fam, proto, handoff, series, rep, mean, "" if resume_ms is None else "%.1f" % resume_ms,
        1 if survived else 0, note))


def cmd_table(path):
    """The summary CSV as a table: means over repetitions per series."""
    import csv
    import re
    rows = list(csv.DictReader(open(path)))
    groups = {}
    for r in rows:
        groups.setdefault((r["family"], r["proto"], r["series"], r["handoff"]), []).append(r)

    def mean(xs):
        xs = [float(x) for x in xs if x not in ("", None)]
        return sum(xs) / len(xs) if xs else None

    def f(x, spec="%.1f"):
        return "-" if x is None else spec % x

    def gap(rs):
        out = []
        for r in rs:
            m = re.search(r"longest_gap=(\d+)ms from \S+ of (\w+)", r["note"])
            if m:
                out.append("%s@%s" % (m.group(1), m.group(2)))
            elif "receive stops" in r["note"]:
                out.append("dead")
        return "/".join(out) or "-"

    def deficit(rs):
        out = []
        for r in rs:
            m = re.search(r"deficit=(\d+)ms", r["note"])
            out.append(m.group(1) if m else "-")
        return "/".join(out) or "-"

    hdr = ("fam", "proto", "series", "soft Mb/s", "hard Mb/s", "hard/soft", "resume soft ms",
           "resume hard ms", "longest gap soft ms", "longest gap hard ms", "deficit soft ms",
           "deficit hard ms", "survived s/h")
    lines = [hdr]
    keys = sorted({k[:3] for k in groups}, key=lambda k: (k[0], k[1] != "tcp", ["dime", "mptcp", "plain"].index(k[2])
                                                            if k[2] in ("dime", "mptcp", "plain") else 9))
    for fam, proto, ser in keys:
        s, h = groups.get((fam, proto, ser, "soft"), []), groups.get((fam, proto, ser, "hard"), [])
        ms, mh = mean(r["mean_mbps"] for r in s), mean(r["mean_mbps"] for r in h)
        ratio = mh / ms if ms and mh is not None else None
        rs = "/".join(r["resume_ms"] or "-" for r in s) or "-"
        rh = "/".join(r["resume_ms"] or "-" for r in h) or "-"
        surv = "%d/%d %d/%d" % (sum(r["survived"] == "1" for r in s), len(s),
                                sum(r["survived"] == "1" for r in h), len(h))
        lines.append(("v" + fam, proto, ser, f(ms), f(mh), f(ratio, "%.2f"), rs, rh, gap(s), gap(h),
                      deficit(s), deficit(h), surv))
    w = [max(len(str(l[i])) for l in lines) for i in range(len(hdr))]
    for l in lines:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(l)).rstrip())
    print("(resume: per repetition; hard: new address usable -> first data via it at CH; soft: old address "
          "removed -> first data via the new address at or after it, 0 = no stall at removal; longest gap: "
          "receive gap at CH and the event it follows, dead = never resumed; deficit: goodput lost "
          "after the first event at the receiving application, in ms at the rate before it)")


def main():
    cmds = {"udp-tx": cmd_udp_tx, "udp-rx": cmd_udp_rx, "analyze": cmd_analyze, "table": cmd_table}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
