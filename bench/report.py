#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""report.py -- turn the evaluation's CSV files into docs/evaluation.md and plots.

    bench/report.py [--eval DIR] [--results CSV] [--out DOCS] [--meta FILE]
    bench/report.py --check-evidence

Reads what bench/run-all wrote (bench/out/eval/*.csv from fig8.sh, fig9.sh,
signalling.sh; bench/out/results.csv from bench/run) and writes:

    DOCS/evaluation.md         tables next to the DIME paper's (section IV)
    DOCS/eval/*.png            Fig. 8, Fig. 9, signalling plots (matplotlib)
    DOCS/eval/*.csv            the inputs, copied, so the page is self-contained

Every "yes" in Tables I and III names the test that proves it; the test's
file must contain the quoted case title, or this exits 1 (--check-evidence
checks only that). A part whose CSV is missing is reported as not measured.
Needs python3 and python3-matplotlib; Table II uses cloc when installed.
"""
import csv
import math
import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib  # noqa: E402  (ratio targets of bench/run)

# ----------------------------------------------------------------- evidence ---
# (file under test/, a case title it contains, the meson test that runs it)
EV = {
    "zero-config": ("e2e/ihmp.sh", "Zero configuration: both hosts run plain `dimed -f --ctl SOCK`", "e2e-ihmp"),
    "one-daemon": ("pkg/capnetadmin.sh", "dimed started as nobody with only CAP_NET_ADMIN on MH and CH", "pkg-capnetadmin"),
    "conffile": ("pkg/deb.sh", "/etc/dimed/dimed.conf is all comments", "pkg-deb"),
    "stock-apps": ("e2e/ihmp.sh", "TCP and UDP survive a hard handoff with a 5 s gap", "e2e-ihmp"),
    "stock-kernel": ("e2e/datapath.sh", "TCP (iperf3) survives a hard move", "e2e-datapath"),
    "routers": ("lab/selftest.sh", "after move_hard: MH -> CH via R2 (ping)", "lab-selftest"),
    "v4": ("e2e/ihmp.sh", "TCP and UDP survive a soft handoff", "e2e-ihmp (IPv4 lab)"),
    "v6": ("e2e/ihmp.sh", "TCP and UDP survive a soft handoff", "e2e-ihmp (IPv6 lab)"),
    "udp": ("e2e/datapath.sh", "UDP flow survives a hard move", "e2e-datapath"),
    "dualstack": ("e2e/dualstack.sh", "a hard handoff keeps both flows, and CH's one HID holds MH's new v4 and v6 addresses", "e2e-dualstack"),
    "both-move": ("e2e/ihmp.sh", "TCP and UDP survive MH moving, then CH moving", "e2e-ihmp"),
    "preexisting": ("e2e/datapath.sh", "flow opened before dimed started survives a hard move", "e2e-datapath"),
    "arm": ("cross/arm64.sh", "unit tests under qemu-aarch64", "cross-arm64"),
    "crash": ("e2e/datapath.sh", "kill -9 of MH's dimed: bypass, clean restart, clean SIGTERM", "e2e-datapath"),
    "signed": ("e2e/hostile.sh", "redirect-to-victim", "e2e-hostile"),
    "native-new": ("e2e/datapath.sh", "new connection after a move is native and not translated", "e2e-datapath"),
    "pmtu": ("e2e/datapath.sh", "path MTU drop after a move: ICMP translated, TCP continues", "e2e-datapath"),
    "scale-signalling": ("e2e/ihmp.sh", "1000 connections, one hard move: one HANDOFF and one ACK per family", "e2e-ihmp"),
    "capnetadmin": ("pkg/capnetadmin.sh", "daemon runs as uid 65534", "pkg-capnetadmin"),
    "route-move": ("e2e/ihmp.sh", "CH made MH's new address primary only when the old one went", "e2e-ihmp (soft)"),
    "tcp-kick": ("e2e/ihmp.sh", "MH's dimed restarted no stalled TCP sender after the handoff", "e2e-ihmp (hard5)"),
    "tcp-persist": ("e2e/ihmp.sh", "MH's dimed restarted no sender on its persist timer", "e2e-ihmp (persist)"),
    "tcp-unpriv": ("meson.build", "e2e-ihmp-capnetadmin", "e2e-ihmp-capnetadmin"),
    "nat": ("e2e/nat.sh", "NAT1 -> NAT2 port-randomising, hard, then NAT2 rebinds (conntrack -F)", "e2e-nat"),
    "tcp-download": ("e2e/ihmp.sh", "CH's dimed restarted no TCP sender", "e2e-ihmp (download)"),
    "restart": ("e2e/ihmp.sh", "kill -9 and restart of CH's dimed under translated TCP and UDP: bytes intact, no RST",
                "e2e-ihmp (restart-mh, restart-ch, restart-move)"),
    "fold": ("e2e/dualstack.sh", "CH holds one HID for MH: both families' addresses", "e2e-dualstack"),
    "ddns": ("e2e/ddns.sh", "a new TCP connection from CH by name reaches MH at its new address",
             "e2e-ddns (publish, by-name, wrongkey, deadserver, nat)"),
    "both-at-once": ("e2e/ddns.sh", "both hosts hard-move within 100 ms: TCP (sha256) and UDP survive through the DNS rendezvous",
                     "e2e-ddns (bothmove, forged)"),
}


def check_evidence():
    bad = []
    for key, (path, title, _) in EV.items():
        full = os.path.join(ROOT, "test", path)
        try:
            text = open(full, encoding="utf-8").read()
        except OSError:
            bad.append("%s: %s missing" % (key, full))
            continue
        if title not in text:
            bad.append("%s: %s does not contain %r" % (key, path, title))
    return bad


def ev(key):
    path, title, test = EV[key]
    return "`%s` (test/%s: \"%s\")" % (test, path, title)


# -------------------------------------------------------------------- input ---
def read_csv(path):
    if not path or not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def fnum(v, nd=1):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if abs(v) >= 10000:
        return "{:,.0f}".format(v)
    return ("%." + str(nd) + "f") % v


def fl(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# -------------------------------------------------------------------- plots ---
def plt_mod():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


COLORS = {"dime": "tab:blue", "plain": "tab:red", "mptcp": "tab:green"}
STYLES = {"dime": "-", "plain": ":", "mptcp": "--"}	# overlapping series stay visible


def plot_fig8(rows, events, path):
    plt = plt_mod()
    protos = sorted({r["proto"] for r in rows}, key=lambda p: p != "tcp")
    fams = sorted({r["family"] for r in rows})
    fam = fams[0]
    fig, axes = plt.subplots(len(protos), 2, figsize=(11, 3.6 * len(protos)), squeeze=False)
    for i, proto in enumerate(protos):
        for j, ho in enumerate(("soft", "hard")):
            ax = axes[i][j]
            for series in ("dime", "mptcp", "plain"):
                pts = {}
                for r in rows:
                    if (r["family"], r["proto"], r["handoff"], r["series"]) == (fam, proto, ho, series):
                        pts.setdefault(float(r["t"]), []).append(float(r["mbps"]))
                if not pts:
                    continue
                ts = sorted(pts)
                ax.plot(ts, [statistics.mean(pts[t]) for t in ts], label=series,
                        color=COLORS.get(series), ls=STYLES.get(series), lw=2 if series == "dime" else 1.5,
                        drawstyle="steps-pre")
            for e in events or []:
                name = e["event"][4:] if e["event"].startswith("udp_") else e["event"]
                if name not in ("new_addr_usable", "old_addr_removed", "new-up", "old-down"):
                    continue	# the two address events, not every stamp fig8.sh keeps
                if (e["event"].startswith("udp_")) != (proto == "udp"):
                    continue
                if (e["family"], e["handoff"], e["rep"], e["series"]) == (fam, ho, "1", "dime"):
                    ax.axvline(float(e["t"]), color="grey", ls=":", lw=1)
                    ax.annotate(name, (float(e["t"]), 0), rotation=90, fontsize=7,
                                va="bottom", ha="right", color="grey")
            ax.set_title("%s, %s handoff (IPv%s)" % (proto.upper(), ho, fam))
            ax.set_xlabel("time (s)")
            ax.set_ylabel("goodput (Mbit/s)")
            ax.set_xlim(0, 15)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("Fig. 8: handoff goodput per 0.5 s (mean over repetitions)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_fig9(rows, path):
    plt = plt_mod()
    by = {}
    for r in rows:
        by.setdefault(int(r["entries"]), []).append(r)
    ns = sorted(by)
    x = [max(n, 1) for n in ns]
    pps = [med(fl(r["pps"]) for r in by[n]) for n in ns]
    bpe = [med(fl(r["bytes_per_entry"]) for r in by[n]) for n in ns]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, [p / 1000 if p else 0 for p in pps], "o-", color="tab:blue", label="translated UDP (kpps)")
    ax.set_xscale("log")
    ax.set_xlabel("socket-table entries (0 plotted at 1)")
    ax.set_ylabel("translated UDP packets/s (thousands)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, which="both")
    ax2 = ax.twinx()
    ax2.plot(x, [b or 0 for b in bpe], "s--", color="tab:orange", label="bytes per entry")
    ax2.set_ylabel("bytes per entry")
    ax2.set_ylim(0, 160)
    ax.axvline(1500, color="grey", ls=":", lw=1)
    ax.annotate("paper: degrades beyond ~1,500", (1500, 0), rotation=90, fontsize=7, va="bottom",
                ha="right", color="grey")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower left")
    fig.suptitle("Fig. 9: socket-table scalability")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_signalling(rows, path):
    plt = plt_mod()
    by = {}
    for r in rows:
        by.setdefault(int(r["conns"]), []).append(r)
    cs = sorted(by)
    up = [med(fl(r["ihmp_pkts_mh_to_ch"]) for r in by[c]) for c in cs]
    down = [med(fl(r["ihmp_pkts_ch_to_mh"]) for r in by[c]) for c in cs]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(cs, up, "o-", label="IHMP datagrams MH -> CH")
    ax.plot(cs, down, "s-", label="IHMP datagrams CH -> MH")
    ax.set_xscale("log")
    ax.set_xlabel("open TCP connections")
    ax.set_ylabel("datagrams per handoff")
    ax.set_ylim(bottom=0, top=max([v or 0 for v in up + down] + [4]) * 1.5)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.suptitle("Signalling per handoff vs. connections")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------- tables ---
def loc_table():
    """Table II: physical source lines (cloc when present)."""
    parts = [("daemon and control tool (C)", ["src", "include"]), ("nftables ruleset", ["nft"]),
             ("tests", ["test"]), ("benchmarks", ["bench"])]
    rows, tool = [], None
    for label, dirs in parts:
        paths = [os.path.join(ROOT, d) for d in dirs]
        n = None
        if shutil.which("cloc"):
            try:
                out = subprocess.run(["cloc", "--csv", "--quiet", "--exclude-dir=out,corpus_pkt,corpus_ihmp"] + paths,
                                     capture_output=True, text=True, timeout=120).stdout
                for line in out.splitlines():
                    f = line.split(",")
                    if len(f) >= 5 and f[1] == "SUM":
                        n = int(f[4])
                tool = "cloc %s" % subprocess.run(["cloc", "--version"], capture_output=True,
                                                  text=True).stdout.strip()
            except (OSError, subprocess.SubprocessError, ValueError):
                n = None
        if n is None:
            tool = "non-blank lines (cloc not installed)"
            n = 0
            for p in paths:
                for dp, dn, fn in os.walk(p):
                    dn[:] = [d for d in dn if d not in ("out", "corpus_pkt", "corpus_ihmp")]
                    for f in fn:
                        try:
                            n += sum(1 for line in open(os.path.join(dp, f), errors="replace") if line.strip())
                        except OSError:
                            pass
        rows.append((label, n))
    return rows, tool


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# -------------------------------------------------------------------- report ---
def section_fig8(summary, have_plot, goodput=None):
    md = ["## Fig. 8: handoff goodput (paper IV-B)", ""]
    if not summary:
        return md + ["Not measured in this run (bench/out/eval/fig8_summary.csv missing).", ""]
    secs = max((float(r["t"]) for r in goodput or []), default=15.0)
    t1, t2 = ("5", "10") if secs > 10 else ("%.1f" % (secs * 0.8 / 3), "%.1f" % (secs * 1.6 / 3))
    md += ["A %.0f s transfer MH -> CH through tbf-limited links (100 Mbit/s); the soft handoff brings" % secs,
           "the new address up at %s s and takes the old one away at %s s; the hard handoff removes the" % (t1, t2),
           "old address at %s s and adds the new one at %s s. Series: dime (zero configuration)," % (t1, t2)]
    md += ["plain TCP/UDP with no mobility support, and the kernel's MPTCP (in-kernel path manager,",
           "mptcpize). Resume: from the new address being usable (hard) or the old address going",
           "(soft) to data arriving again at CH; medians over repetitions.", ""]
    if have_plot:
        md += ["![Fig. 8](eval/fig8.png)", ""]
    keys = []
    for r in summary:
        k = (r["family"], r["proto"], r["handoff"], r["series"])
        if k not in keys:
            keys.append(k)
    rows = []
    means = {}
    for k in keys:
        rs = [r for r in summary if (r["family"], r["proto"], r["handoff"], r["series"]) == k]
        m = med(fl(r["mean_mbps"]) for r in rs)
        means[k] = m
        res = med(fl(r["resume_ms"]) for r in rs)
        alive = sum(1 for r in rs if r["survived"] == "1")
        notes = sorted({r.get("note", "") for r in rs if r.get("note")})
        rows.append(["IPv" + k[0], k[1].upper(), k[2], k[3], fnum(m), fnum(res, 0) if res is not None else "-",
                     "%d/%d" % (alive, len(rs)), "; ".join(notes)])
    md += [table(["family", "proto", "handoff", "series", "mean goodput (Mbit/s)", "resume (ms)",
                  "survived", "note"], rows), ""]
    slower = []
    for r in rows:
        if r[3] != "dime" or r[5] == "-":
            continue
        m = [x for x in rows if x[:3] == r[:3] and x[3] == "mptcp" and x[5] != "-"]
        if m and float(r[5].replace(",", "")) > 2 * float(m[0][5].replace(",", "")) + 20:
            slower.append("%s %s %s (dime %s ms, MPTCP %s ms)" % (r[0], r[1], r[2], r[5], m[0][5]))
    md += ["Where dime resumed more slowly than MPTCP in this run: " +
           ("; ".join(slower) if slower else "nowhere") + ".", ""]
    ratio_rows = []
    for (fam, proto, ho, series), m in means.items():
        if ho != "hard":
            continue
        s = means.get((fam, proto, "soft", series))
        if m is not None and s:
            ratio_rows.append(["IPv" + fam, proto.upper(), series, "%.2f" % (m / s)])
    if ratio_rows:
        md += ["Hard / soft mean goodput (paper: about 2/3 for DIME, since 5 of 15 s have no address):", "",
               table(["family", "proto", "series", "hard / soft"], ratio_rows), ""]
    return md


def section_fig9(rows, have_plot, all_rows=None):
    md = ["## Fig. 9: socket-table scalability (paper IV-C)", ""]
    if not rows:
        return md + ["Not measured in this run (bench/out/eval/fig9.csv missing).", ""]
    md += ["Translated UDP throughput MH -> CH with n other entries in MH's socket table",
           "(learned from real first packets). The paper's implementation (on a Raspberry Pi B+)",
           "was flat to about 1,500 entries and then degraded linearly.", ""]
    if have_plot:
        md += ["![Fig. 9](eval/fig9.png)", ""]
    by = {}
    for r in rows:
        by.setdefault(int(r["entries"]), []).append(r)
    base = med(fl(r["pps"]) for r in by.get(0, []))
    # CPU time of MH's dimed per translated packet (fig9.sh's fig9_all.csv):
    # much less disturbed by a shared machine's neighbours than throughput.
    us = {}
    for r in all_rows or []:
        if r.get("flow") == "xl" and r.get("len") == "1200":
            us.setdefault(int(r["entries"]), []).append(fl(r.get("dimed_us_per_pkt")))
    us_base = med(us.get(0, []))
    out = []
    for n in sorted(by):
        p = med(fl(r["pps"]) for r in by[n])
        u = med(us.get(n, []))
        out.append(["{:,}".format(n), "{:,}".format(int(med(fl(r["reached"]) for r in by[n]) or 0)), fnum(p, 0),
                    fnum(med(fl(r["mbps"]) for r in by[n]), 1),
                    ("%.3f" % (p / base)) if (p and base) else "-",
                    fnum(u, 2) if u else "-", ("%.2f" % (u / us_base)) if (u and us_base) else "-",
                    fnum(med(fl(r["bytes_per_entry"]) for r in by[n]), 1) if n >= 10000 else "-"])
    md += [table(["entries", "reached", "packets/s", "Mbit/s", "vs. 0 entries", "dimed us/packet",
                  "vs. 0 entries", "bytes/entry"], out), "",
           "Packets/s is the median of 0.25-0.5 s slices; on this shared machine it swings by a factor",
           "of two between runs at the same size, so the CPU time dimed spends per translated packet is",
           "the steadier measure. Bytes per entry is the table's memory divided by its flows; it means",
           "something from about 10,000 entries (the table preallocates).", ""]
    return md


def section_ratios(results):
    md = ["## Throughput ratios P1-P4 (bench/run)", ""]
    if not results:
        return md + ["Not measured in this run (bench/out/results.csv missing).", ""]
    dps = benchlib.DATAPATHS
    # (test, label) -> (target, kind, per datapath?)
    known = {(t, lab.replace(",", ";")): (tg, kind, "{dp}" in num + den)
             for t, lab, num, den, tg, kind in benchlib.RATIOS}
    vals, shared, order = {}, {}, []
    for pref in ("ratio of medians: ", "median of paired ratios: "):	# paired (judged) wins
        for r in results:
            if r["unit"] != "ratio" or not r["what"].startswith(pref) or fl(r["value"]) is None:
                continue
            label, dp = r["what"][len(pref):], None
            for d in dps:
                if label.endswith(" [%s]" % d):
                    label, dp = label[:-len(" [%s]" % d)], d
            per_dp = known.get((r["test"], label), (None, "", dp is not None))[2]
            if (r["test"], label) not in order:
                order.append((r["test"], label))
            if per_dp:
                # a row without [dp] is from before the kernel datapath: the queue's
                vals.setdefault((r["test"], label), {})[dp or "queue"] = fl(r["value"])
            else:
                shared[(r["test"], label)] = fl(r["value"])
    rows = []
    for key in order:
        if key not in vals:
            continue
        tg, kind, _ = known.get(key, (None, "", True))
        v = vals[key]
        met = ["yes" if (v[d] >= tg if kind == ">=" else v[d] <= tg) else "**no**" for d in dps if d in v and tg is not None]
        rows.append([key[0], key[1]] + ["%.3f" % v[d] if d in v else "-" for d in dps] +
                    [("%s %s" % (kind, tg)) if tg is not None else "-", " / ".join(met) if tg is not None else "-"])
    med_rows = {(r["test"], r["what"]): fl(r["value"]) for r in results if r["rep"] == "median"}
    for test, label, cond, tg, kind in benchlib.LIMITS:
        v = {d: med_rows.get((test, benchlib.per_datapath(cond, d))) for d in dps}
        v = {d: x for d, x in v.items() if x is not None}
        if not v:
            continue
        met = ["yes" if (v[d] >= tg if kind == ">=" else v[d] <= tg) else "**no**" for d in dps if d in v and tg is not None]
        rows.append([test, label] + [fnum(v[d]) if d in v else "-" for d in dps] +
                    [("%s %s" % (kind, tg)) if tg is not None else "-", " / ".join(met) if tg is not None else "-"])
    # bench/run before the kernel datapath: bytes_per_entry, judged <= 128 then
    for r in results:
        if r["test"] == "P4" and r["what"] == "bytes_per_entry" and r["rep"] == "median":
            v = fl(r["value"])
            rows.append(["P4", "bytes per socket-table entry", "%.1f" % v, "-", "<= 128", "yes" if v <= 128 else "**no**"])
    md += ["dimed's two datapaths side by side (`--datapath queue`: dimed rewrites every translated",
           "packet from NFQUEUE; `kernel`: nftables maps rewrite settled flows), measured in the same",
           "repetitions against the same baselines. A ratio is the median of the per-repetition",
           "ratios where bench/run wrote it (the one it judges), else the ratio of the medians.", ""]
    md += [table(["", "ratio", "queue", "kernel", "target", "met (queue / kernel)"], rows), ""]
    if shared:
        md += ["Baselines (no dimed): " + "; ".join("%s %s %.3f" % (t, lab, v) for (t, lab), v in shared.items()) + ".", ""]
    tk = {d: med_rows.get(("P4", "table_kib_" + d)) for d in dps}
    if any(v is not None for v in tk.values()):
        md += ["Loading dimed's table on MH and CH together, before any flow (the kernel's memory as above): " +
               ", ".join("%s %+.0f KiB" % (d, v) for d, v in tk.items() if v is not None) +
               (" (a set or map declared with a size preallocates its hash buckets)."
                if any(v is not None and v > 4096 for v in tk.values()) else
                " (nothing beyond the machine-wide noise: the sets and maps grow with their elements)."), ""]
    info = {r["what"]: r["value"] for r in results if r["test"] == "info"}
    if info:
        md += ["bench/run: mode %s, %s s, kernel %s, load average %s%s." % (
            info.get("mode", "?"), info.get("runtime_seconds", "?"), info.get("kernel", "?"),
            info.get("load_average", "?"),
            (", P4 target %s" % info["p4_fill_target"]) if "p4_fill_target" in info else ""), ""]
    md += ["With the queue, P2 and P3 measure the per-packet NFQUEUE round trip that every translated",
           "packet takes (docs/datapath.md): a no-op queue program that only accepts reaches about half",
           "of the unqueued kernel path on these 2-core machines, so P2's 0.90 is out of reach of any",
           "NFQUEUE design here; the kernel datapath takes settled flows off the queue.",
           "P2 compares runs made a minute apart, and a whole run here can lose 30 % to the shared",
           "machine; P2i compares the same translated flow with an untranslated one over the same links,",
           "the two taking turns in 2.5 s phases within one run (bench/run's header), so the machine's",
           "drift cancels. Its untranslated flow goes to a twin of CH without dimed and passes MH's",
           "table as any untranslated flow does (what P1 measures). P1i and P1u are P1 the same way:",
           "dimed's rules put on and taken off in turns within one flow, bulk TCP (P1i) and 64-byte",
           "UDP datagrams (P1u), which pay the rules on every packet where TCP's GSO packets share them.",
           "P4's memory: dimed's side is flow_table_bytes / flows from `dimectl -j show`; the kernel's",
           "is the growth of SUnreclaim + Percpu + VmallocUsed (/proc/meminfo) from dimed's table",
           "loaded to the tables filled (the learning set udp_seen4, whose elements expire after 30 s,",
           "flushed first), per flow, and with the kernel datapath per map element",
           "(kernel_elements: 2 per flow when one end moved); \"all in\" adds MH's share of the table",
           "as loaded (half of both hosts').",
           "/proc/meminfo is machine-wide: an upper bound.", ""]
    return md


def section_signalling(sig, lat, have_plot):
    md = ["## Signalling", ""]
    if not sig and not lat:
        return md + ["Not measured in this run.", ""]
    if sig:
        md += ["IHMP datagrams on the wire for one hard handoff, by number of open TCP connections",
               "(the paper claims IHMP is scale-free: the count must not grow with connections).", ""]
        if have_plot:
            md += ["![signalling](eval/signalling.png)", ""]
        by = {}
        for r in sig:
            by.setdefault(int(r["conns"]), []).append(r)
        rows = []
        for c in sorted(by):
            rs = by[c]
            rows.append(["{:,}".format(c), fnum(med(fl(r["ihmp_pkts_mh_to_ch"]) for r in rs), 0),
                         fnum(med(fl(r["ihmp_pkts_ch_to_mh"]) for r in rs), 0),
                         fnum(med(fl(r["ihmp_bytes"]) for r in rs), 0), rs[0].get("by_type", ""),
                         rs[0].get("conns_alive", "")])
        md += [table(["connections", "MH -> CH", "CH -> MH", "bytes", "by type (rep 1)", "alive after"], rows), ""]
    if lat:
        md += ["Time from MH's address event to CH's table update and to data from the new address", ""]
        by = {}
        for r in lat:
            by.setdefault(r["handoff"], []).append(r)
        rows = []
        for ho in sorted(by):
            for col, name in (("event_to_table_ms", "event -> CH table"), ("event_to_data_ms", "event -> data at CH")):
                xs = [fl(r[col]) for r in by[ho] if fl(r[col]) is not None]
                if xs:
                    rows.append([ho, name, fnum(statistics.median(xs), 1), fnum(min(xs), 1), fnum(max(xs), 1),
                                 len(xs)])
        md += [table(["handoff", "interval", "median (ms)", "min", "max", "n"], rows), ""]
    return md


def section_tables():
    md = ["## Table I: deployment requirements (paper IV-A)", ""]
    md += [table(["requirement", "MIPv6 (paper)", "HIP (paper)", "DIME (paper)", "dime (this)", "evidence"], [
        ["daemons", "4", "1", "1", "1 (`dimed`)", ev("one-daemon")],
        ["config files", "3", "2", "1", "0 needed (`/etc/dimed/dimed.conf` ships all comments)",
         ev("conffile") + "; " + ev("zero-config")],
        ["application changes", "-", "yes", "-", "no (stock iperf3, socat)", ev("stock-apps")],
        ["system configuration", "-", "yes", "-", "no (the package installs its nft table and a modules-load.d entry)",
         ev("conffile")],
        ["custom kernel", "yes", "-", "-", "no (Debian's kernel, nftables + NFQUEUE)", ev("stock-kernel")],
        ["router changes", "yes", "-", "-", "no (the lab's routers only route)", ev("routers")],
    ]), ""]
    rows, tool = loc_table()
    total = sum(n for label, n in rows if label in ("daemon and control tool (C)", "nftables ruleset"))
    md += ["## Table II: lines of code (paper IV-D)", "",
           table(["protocol", "kernel LOC", "user LOC", "total"], [
               ["HIP (paper)", "0", "28,770", "28,770"],
               ["DIME (paper)", "200", "2,400", "2,600"],
               ["dime (this: daemon, control tool, ruleset)", "0", "{:,}".format(total), "{:,}".format(total)],
           ]), "", "Counted with %s; for context:" % tool, "",
           table(["part", "lines"], [[label, "{:,}".format(n)] for label, n in rows]), ""]
    md += ["## Table III: feature set (paper IV-E)", "",
           table(["feature", "MIPv6 (paper)", "HIP (paper)", "DIME (paper)", "dime (this)", "evidence"], [
               ["IPv4 support", "-", "yes", "yes", "yes", ev("v4")],
               ["IPv6 support", "yes", "yes", "-", "yes", ev("v6")],
               ["UDP support", "yes", "yes", "yes", "yes", ev("udp")],
               ["IPv4/v6 handover", "-", "yes", "yes",
                "per family: a dual-stack host moves both families at once; one flow never changes family",
                ev("dualstack")],
               ["private / link addresses", "-", "-", "yes",
                "private: yes (probed only when potentially reachable); link-local never advertised",
                "docs/ihmp.md 5.1; no dedicated lab test"],
               ["simultaneous mobility", "-", "yes", "yes", "both ends move, one after the other",
                ev("both-move")],
               ["... both at the same moment", "-", "yes (rendezvous server)", "-",
                "yes: each finds the other through its DNS name, proven with its key (docs/ihmp.md 11)",
                ev("both-at-once")],
               ["reachable by name after a move", "home agent", "rendezvous server", "-",
                "yes: RFC 2136 updates signed with TSIG to the user's zone (docs/ddns.md)", ev("ddns")],
               ["preexisting connections", "-", "yes", "yes", "yes (sock_diag at start)", ev("preexisting")],
               ["NAT traversal", "yes", "-", "with middlebox",
                "yes, end to end: flows carried in UDP through home, port-randomising and CGNAT-style NATs, "
                "bindings proven (docs/ihmp.md 8)", ev("nat")],
               ["micro-mobility", "yes", "-", "with middlebox", "no", "-"],
               ["multipath", "-", "-", "-", "no", "-"],
               ["ARM architecture", "-", "-", "yes", "yes (arm64, unit tests under qemu-user)", ev("arm")],
               ["signed signalling, return routability", "-", "yes", "keys optional",
                "yes (Ed25519, counters, nonce probes)", ev("signed")],
               ["daemon crash keeps traffic", "-", "-", "-", "yes (queue bypass)", ev("crash")],
               ["daemon restart resumes translated flows, no RST", "-", "-", "-",
                "yes (state file, table and elements in one transaction)", ev("restart")],
               ["new connections after a move untouched", "-", "-", "-", "yes", ev("native-new")],
               ["path MTU change after a move", "-", "-", "-", "yes", ev("pmtu")],
               ["soft handoff when the route moves (before the old address goes)", "-", "-", "-", "yes",
                ev("route-move")],
               ["TCP restarted right after a long outage (RFC 6069)", "-", "-", "-", "yes (CAP_NET_ADMIN only)",
                ev("tcp-kick")],
               ["... also a sender on its persist timer (the peer's ACK, put into the local stack)", "-", "-", "-",
                "yes (CAP_NET_ADMIN only)", ev("tcp-persist")],
               ["... also the fixed peer's sender (a mobile client's download)", "-", "-", "-",
                "yes (CAP_NET_ADMIN only)", ev("tcp-download")],
               ["... all three with dimed as the packaged unit runs it (nobody, CAP_NET_ADMIN)", "-", "-", "-",
                "yes", ev("tcp-unpriv")],
               ["one HID per dual-stack host", "-", "-", "-", "yes", ev("fold")],
           ]), ""]
    return md


LATENCY_NOTE = """## Latency

This kernel has no netem, so no delay was added: the lab's round trip
is about 0.1 ms and its links are limited by tbf only. The paper's testbed
added 60 ms across the switch. What scales with delay here is the IHMP
exchange: a handoff costs one round trip (HANDOFF, ACK) plus, for a claimed
address, one return-routability probe (PATH_PROBE, ACK), so with the paper's
60 ms the resume times above would grow by about 60-120 ms, as would MPTCP's
(its new subflow needs a three-way handshake and an MP_JOIN exchange). Plain
TCP's retransmission timer backs off independently of both. The goodput
curves under tbf are comparable in shape; absolute recovery times are not.
"""


def main(argv):
    args = {"--eval": os.path.join(ROOT, "bench/out/eval"), "--results": os.path.join(ROOT, "bench/out/results.csv"),
            "--out": os.path.join(ROOT, "docs"), "--meta": None}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        if a == "--check-evidence":
            bad = check_evidence()
            for b in bad:
                print("report.py: evidence: " + b, file=sys.stderr)
            print("evidence: %d claims, %d broken" % (len(EV), len(bad)))
            return 1 if bad else 0
        if a in args and i + 1 < len(argv):
            args[a] = argv[i + 1]
            i += 2
            continue
        print("report.py: unknown argument %r (try --help)" % a, file=sys.stderr)
        return 2
    bad = check_evidence()
    if bad:
        for b in bad:
            print("report.py: evidence: " + b, file=sys.stderr)
        return 1
    ed, out = args["--eval"], args["--out"]
    pdir = os.path.join(out, "eval")
    os.makedirs(pdir, exist_ok=True)
    f8 = read_csv(os.path.join(ed, "fig8_goodput.csv"))
    f8s = read_csv(os.path.join(ed, "fig8_summary.csv"))
    f8e = read_csv(os.path.join(ed, "fig8_events.csv"))
    f9 = read_csv(os.path.join(ed, "fig9.csv"))
    f9all = read_csv(os.path.join(ed, "fig9_all.csv"))
    sig = read_csv(os.path.join(ed, "signalling.csv"))
    lat = read_csv(os.path.join(ed, "latency.csv"))
    res = read_csv(args["--results"])
    for name in ("fig8_goodput.csv", "fig8_summary.csv", "fig8_events.csv", "fig9.csv", "fig9_all.csv",
                 "signalling.csv", "latency.csv"):
        if os.path.exists(os.path.join(ed, name)):
            shutil.copy(os.path.join(ed, name), os.path.join(pdir, name))
    if res:
        shutil.copy(args["--results"], os.path.join(pdir, "p1-p4.csv"))
    plots = {}
    if f8:
        plot_fig8(f8, f8e, os.path.join(pdir, "fig8.png"))
        plots["fig8"] = True
    if f9:
        plot_fig9(f9, os.path.join(pdir, "fig9.png"))
        plots["fig9"] = True
    if sig:
        plot_signalling(sig, os.path.join(pdir, "signalling.png"))
        plots["sig"] = True
    meta = ""
    if args["--meta"] and os.path.exists(args["--meta"]):
        meta = open(args["--meta"]).read().strip()
    md = ["# Evaluation: the DIME paper's section IV, reproduced", "",
          "Generated by `bench/run-all` (bench/report.py) from the CSV files in [eval/](eval/);",
          "regenerate with `sudo bench/run-all` (about 20 min) or `sudo bench/run-all --quick` (about 3 min).",
          "The lab is test/lab/lab.sh: the paper's Fig. 7 (MH, R1, R2, a switch, CH) in network",
          "namespaces on one 2-core virtual machine, veth links. Numbers from a shared, noisy machine:",
          "ratios measured side by side are the claims, absolute values are context.", ""]
    if meta:
        md += ["Run: " + meta, ""]
    md += section_fig8(f8s, plots.get("fig8"), f8)
    md += section_fig9(f9, plots.get("fig9"), f9all)
    md += section_ratios(res)
    md += section_signalling(sig, lat, plots.get("sig"))
    md += section_tables()
    md += LATENCY_NOTE.splitlines() + [""]
    with open(os.path.join(out, "evaluation.md"), "w") as f:
        f.write("\n".join(md).rstrip() + "\n")
    print("report.py: wrote %s (%s)" % (os.path.join(out, "evaluation.md"),
                                        ", ".join(sorted(plots)) or "no plots"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
