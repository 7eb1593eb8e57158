#!/usr/bin/env python3
"""Helpers for bench/run: read iperf3 JSON, summarise samples, print the report.

  benchlib.py window SERVER_JSON FROM [TO]   goodput of the intervals whose middle
        is inside [FROM, TO] (seconds since the test started; TO omitted: to the
        end); stubs shorter than 0.25 s are left out. Prints
        "gbps=G pps=P secs=S" (pps only for UDP).
  benchlib.py resume SERVER_JSON AFTER      start of the first interval at or after
        AFTER that carried data (the flow resumed); -1 if none.
  benchlib.py report SAMPLES CSV            median per test and condition, the
        ratios (of the medians, and the median of per-repetition ratios), a
        table on stdout and CSV lines in CSV.

SAMPLES lines: "TEST CONDITION REP VALUE UNIT" (VALUE "nan" for a failed run) or
"info KEY VALUE...".
"""
import json
import math
import statistics
import sys


def intervals(path):
    with open(path) as f:
        d = json.load(f)
    out = []
    for iv in d.get("intervals", []):
        s = iv.get("sum", {})
        out.append((s.get("start", 0.0), s.get("end", 0.0), s.get("seconds", 0.0),
                    s.get("bytes", 0), s.get("packets")))
    return out


def cmd_window(path, lo, hi=None):
    lo = float(lo)
    hi = float(hi) if hi is not None else math.inf
    secs = byts = 0.0
    pkts = 0
    have_pkts = False
    for start, end, sec, b, p in intervals(path):
        mid = (start + end) / 2
        if sec >= 0.25 and lo <= mid <= hi:
            secs += sec
            byts += b
            if p is not None:
                pkts += p
                have_pkts = True
    if secs <= 0:
        print("gbps=nan pps=nan secs=0")
        return
    pps = "%.0f" % (pkts / secs) if have_pkts else "nan"
    print("gbps=%.4f pps=%s secs=%.2f" % (byts * 8 / secs / 1e9, pps, secs))


def cmd_resume(path, after):
    after = float(after)
    for start, end, sec, b, p in intervals(path):
        if end > after and b > 0:
            print("%.3f" % max(start, after))
            return
    print("-1")


# dimed's datapaths, in the order bench/run measures them. A condition with
# {dp} is measured once per datapath (bench/run: NAME_queue, NAME_kernel).
DATAPATHS = ("queue", "kernel")

# (test, ratio label, numerator condition, denominator condition, target, kind)
# kind ">=": ratio should be at least target; "<=" at most.
RATIOS = [
    ("P1", "dimed / no dimed (untranslated TCP)", "dimed_{dp}", "no_dimed", 0.98, ">="),
    ("P1", "dimed / no dimed, conntrack on", "dimed_{dp}", "no_dimed_ct", None, ""),
    ("P1", "no dimed, conntrack on / no dimed", "no_dimed_ct", "no_dimed", None, ""),
    ("P1i", "dimed's rules / none; taking turns", "on_{dp}", "off_{dp}", 0.98, ">="),
    ("P1u", "dimed's rules / none; 64-byte UDP; turns", "on_{dp}", "off_{dp}", None, ""),
    ("P2", "dimed translated / unqueued", "dimed_xl_{dp}", "unqueued", 0.90, ">="),
    ("P2", "dimed translated / noop accept", "dimed_xl_{dp}", "noop_accept", None, ""),
    ("P2", "dimed translated / noop copy", "dimed_xl_{dp}", "noop_copy", None, ""),
    ("P2", "noop accept / unqueued", "noop_accept", "unqueued", None, ""),
    ("P2", "noop copy / unqueued", "noop_copy", "unqueued", None, ""),
    ("P2i", "translated / untranslated; taking turns", "xl_{dp}", "plain_{dp}", 0.90, ">="),
    ("P3", "dimed translated / noop 1-per-syscall copy", "dimed_xl_{dp}", "noop_single_copy", 5.0, ">="),
    ("P3", "dimed translated / noop batched copy", "dimed_xl_{dp}", "noop_batch_copy", None, ""),
    ("P3", "dimed translated / unqueued", "dimed_xl_{dp}", "unqueued", None, ""),
    ("P3", "noop 1-per-syscall copy / unqueued", "noop_single_copy", "unqueued", None, ""),
    ("P4", "translated TCP, full tables / empty", "xl_full_{dp}", "xl_empty_{dp}", 0.95, ">="),
]


# (test, label, condition, target, kind): medians judged as they are.
LIMITS = [
    ("P4", "dimed: flow_table_bytes / flows (bytes)", "dimed_bytes_per_flow_{dp}", 256, "<="),
    ("P4", "kernel: bytes per map element, all in", "map_bytes_per_element_all_in_{dp}", 256, "<="),
    ("P4", "kernel: bytes per map element, growth", "map_bytes_per_element_{dp}", None, ""),
    ("P4", "kernel: bytes per flow, all in", "kernel_bytes_per_flow_all_in_{dp}", None, ""),
    ("P4", "kernel: bytes per flow, growth", "kernel_bytes_per_flow_{dp}", None, ""),
    ("P4", "translated flows in MH's tables", "filled_flows_{dp}", None, ""),
    ("P4", "of them in the kernel maps (kernel_flows)", "kernel_flows_{dp}", None, ""),
    ("P4", "their elements in the kernel maps (kernel_elements)", "kernel_elements_{dp}", None, ""),
]


def per_datapath(cond, dp):
    """The condition for datapath dp; a condition without {dp} is shared."""
    return cond.replace("{dp}", dp)


def met(v, target, kind):
    if target is None or v is None or math.isnan(v):
        return ""
    return "yes" if (v >= target if kind == ">=" else v <= target) else "NO"


def fnum(v, unit=""):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if unit == "pps" or abs(v) >= 1000:
        return "{:,.0f}".format(v)
    return "%.3f" % v


def cmd_report(samples_path, csv_path):
    samples = {}
    units = {}
    info = []
    order = []
    with open(samples_path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "info":
                info.append((w[1], " ".join(w[2:])))
                continue
            test, cond, rep, val, unit = w[:5]
            key = (test, cond)
            if key not in samples:
                samples[key] = []
                order.append(key)
            samples[key].append((rep, float(val)))
            units[key] = unit
    med = {}
    csv = ["test,what,rep,value,unit"]
    print()
    print("%-4s %-36s %-10s %-8s %s" % ("test", "condition", "median", "unit", "samples"))
    print("-" * 92)
    for key in order:
        vals = [v for _, v in samples[key] if not math.isnan(v)]
        m = statistics.median(vals) if vals else float("nan")
        med[key] = m
        unit = units[key]
        for rep, v in samples[key]:
            csv.append("%s,%s,%s,%s,%s" % (key[0], key[1], rep, "" if math.isnan(v) else "%.6g" % v, unit))
        csv.append("%s,%s,median,%s,%s" % (key[0], key[1], "" if math.isnan(m) else "%.6g" % m, unit))
        print("%-4s %-36s %-10s %-8s %s" % (key[0], key[1], fnum(m, unit), unit,
                                           " ".join(fnum(v, unit) for _, v in samples[key])))
    print()
    # One line per ratio, the datapaths side by side: the paired ratio (the
    # one judged), and a datapath's ratio in results.csv as "LABEL [dp]".
    print("%-4s %-44s %-8s %-8s %-8s %s" % ("test", "ratio (paired; see results.csv for medians)",
                                          "queue", "kernel", "target", "met (queue, kernel)"))
    print("-" * 92)
    for test, label, num, den, target, kind in RATIOS:
        shown, judged = {}, {}
        for dp in DATAPATHS:
            a, b = med.get((test, per_datapath(num, dp))), med.get((test, per_datapath(den, dp)))
            if a is None or b is None:
                continue
            r = a / b if b and not math.isnan(a) and not math.isnan(b) else float("nan")
            # Per repetition: the two runs were made minutes apart at most, so
            # their ratio is less exposed to a shared machine's changing load.
            da = dict(samples[(test, per_datapath(num, dp))])
            db = dict(samples[(test, per_datapath(den, dp))])
            pairs = [da[k] / db[k] for k in da if k in db and db[k] and not math.isnan(da[k] / db[k])]
            rp = statistics.median(pairs) if pairs else float("nan")
            judged[dp] = rp if not math.isnan(rp) else r
            shown[dp] = fnum(rp)
            tag = (" [%s]" % dp) if "{dp}" in num + den else ""
            lab = label.replace(",", ";") + tag
            csv.append("%s,ratio of medians: %s,,%s,ratio" % (test, lab, "" if math.isnan(r) else "%.4g" % r))
            csv.append("%s,median of paired ratios: %s,,%s,ratio" % (test, lab, "" if math.isnan(rp) else "%.4g" % rp))
            if "{dp}" not in num + den:
                break	# shared by both: measured once
        if not shown:
            continue
        if "{dp}" in num + den:
            q, k = shown.get("queue", "-"), shown.get("kernel", "-")
        else:
            q, k = next(iter(shown.values())), ""	# one baseline ratio, in the first column
        tgt = ("%s %g" % (kind, target)) if target is not None else ""
        m = ", ".join(met(judged[dp], target, kind) for dp in DATAPATHS if dp in judged) if target else ""
        print("%-4s %-44s %-8s %-8s %-8s %s" % (test, label, q, k, tgt, m))
    for test, label, cond, target, kind in LIMITS:
        vals = {dp: med.get((test, per_datapath(cond, dp))) for dp in DATAPATHS}
        vals = {dp: v for dp, v in vals.items() if v is not None and not math.isnan(v)}
        if not vals:
            continue
        tgt = ("%s %g" % (kind, target)) if target is not None else ""
        m = ", ".join(met(v, target, kind) for v in vals.values()) if target else ""
        print("%-4s %-44s %-8s %-8s %-8s %s" % (test, label, fnum(vals["queue"]) if "queue" in vals else "-",
                                              fnum(vals["kernel"]) if "kernel" in vals else "-", tgt, m))
    print("(paired: the median of the per-repetition ratios, the one judged against the")
    print(" target; the ratio of the medians is in results.csv too)")
    if info:
        print()
        for k, v in info:
            print("%-28s %s" % (k, v))
            csv.append("info,%s,,%s," % (k, v.replace(",", ";")))
    with open(csv_path, "w") as f:
        f.write("\n".join(csv) + "\n")


def main(argv):
    if len(argv) >= 3 and argv[1] == "window":
        cmd_window(*argv[2:5])
    elif len(argv) == 4 and argv[1] == "resume":
        cmd_resume(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "report":
        cmd_report(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
