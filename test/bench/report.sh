#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# report.sh -- bench/report.py turns the evaluation's CSV files into
# docs/evaluation.md and plots: run it on small generated inputs (the
# schemas bench/fig8.sh, fig9.sh, signalling.sh and bench/run write) in a
# temporary directory and check what it wrote; then with no inputs at all.
# Also: every test Tables I and III cite still contains its case title.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# check, tap_summary (no lab here)
# shellcheck source=../lab/dime.sh
source "$HERE/../lab/dime.sh"
ROOT=$DIME_ROOT
PY=/usr/bin/python3
W=$(mktemp -d)
# REPORT_KEEP=1: keep the generated page and plots to look at
[[ ${REPORT_KEEP:-0} == 1 ]] && echo "# output kept in $W" || trap 'rm -rf "$W"' EXIT

mkdir -p "$W/eval" "$W/docs" "$W/empty" "$W/docs2"
"$PY" - "$W/eval" <<'PY'
import sys, os
d = sys.argv[1]
def w(name, header, rows):
    with open(os.path.join(d, name), "w") as f:
        f.write(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
g, s, e = [], [], []
for proto in ("tcp", "udp"):
    for ho in ("soft", "hard"):
        for series in ("dime", "plain", "mptcp"):
            if proto == "udp" and series == "mptcp":
                continue
            for rep in (1, 2):
                for i in range(1, 31):
                    t = i / 2
                    gap = ho == "hard" and 5 < t <= 10.5
                    dead = series == "plain" and t > (5 if ho == "hard" else 10)
                    g.append(("4", proto, ho, series, rep, t, 0 if gap or dead else 90 + rep))
                s.append(("4", proto, ho, series, rep, 60 if ho == "hard" else 90, "" if series == "plain" else 12 + rep,
                          0 if series == "plain" else 1, "mptcp subflows=2" if series == "mptcp" else ""))
                e.append(("4", ho, series, rep, "old-down" if ho == "hard" else "new-up", 5))
w("fig8_goodput.csv", "family,proto,handoff,series,rep,t,mbps", g)
w("fig8_summary.csv", "family,proto,handoff,series,rep,mean_mbps,resume_ms,survived,note", s)
w("fig8_events.csv", "family,handoff,series,rep,event,t", e)
w("fig9.csv", "entries,reached,rep,pps,mbps,bytes_per_entry",
  [(n, n, 1, 100000 - n / 100, 50, 108 if n else 0) for n in (0, 10, 100, 1000, 10000, 100000, 1000000)])
w("signalling.csv", "conns,rep,ihmp_pkts_mh_to_ch,ihmp_pkts_ch_to_mh,ihmp_bytes,by_type,conns_alive",
  [(c, 1, 3, 3, 700, "HANDOFF:1;ACK:1", c) for c in (1, 10, 100, 1000, 10000)])
w("latency.csv", "handoff,rep,event_to_table_ms,event_to_data_ms", [("hard", r, 5 + r, 9 + r) for r in (1, 2, 3)])
w("../results.csv", "test,what,rep,value,unit",
  [("P1", "ratio of medians: dimed / no dimed (untranslated TCP) [queue]", "", 0.99, "ratio"),
   ("P1", "ratio of medians: dimed / no dimed (untranslated TCP) [kernel]", "", 0.97, "ratio"),
   ("P2", "ratio of medians: dimed translated / unqueued [queue]", "", 0.42, "ratio"),
   ("P2", "ratio of medians: dimed translated / unqueued [kernel]", "", 0.5, "ratio"),
   ("P2", "median of paired ratios: dimed translated / unqueued [kernel]", "", 0.95, "ratio"),
   ("P2", "ratio of medians: noop accept / unqueued", "", 0.55, "ratio"),
   ("P3", "ratio of medians: dimed translated / unqueued [kernel]", "", 0.57, "ratio"),
   ("P4", "dimed_bytes_per_flow_queue", "median", 119.1, "bytes"),
   ("P4", "map_bytes_per_element_all_in_kernel", "median", 300, "bytes"),
   ("info", "mode", "", "quick", "")])
PY

out=$("$PY" "$ROOT/bench/report.py" --eval "$W/eval" --results "$W/results.csv" --out "$W/docs" 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/# /'
check "report.py exits 0 on complete inputs" test "$rc" = 0
md=$W/docs/evaluation.md
check "evaluation.md written" test -s "$md"
for p in fig8 fig9 signalling; do
	check "$p.png is a PNG" bash -c "head -c 8 '$W/docs/eval/$p.png' | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'"
	check "evaluation.md shows $p.png" grep -q "(eval/$p.png)" "$md"
done
for c in fig8_goodput fig8_summary fig9 signalling latency p1-p4; do
	check "docs/eval/$c.csv copied" test -s "$W/docs/eval/$c.csv"
done
check "Fig. 8 table: dime hard handoff resume (median 13.5 ms, shown 14), survived 2/2" grep -Eq '^\| IPv4 \| TCP \| hard \| dime \| 60\.0 \| 14 \| 2/2 \|' "$md"
check "Fig. 8: plain TCP survived 0/2" grep -Eq '^\| IPv4 \| TCP \| hard \| plain \| 60\.0 \| - \| 0/2 \|' "$md"
check "Fig. 8: hard/soft ratio 0.67" grep -Eq '^\| IPv4 \| TCP \| dime \| 0\.67 \|' "$md"
check "Fig. 9: 1,000,000 entries row with its ratio to 0" grep -Eq '^\| 1,000,000 \| 1,000,000 \| 90,000 \| 50\.0 \| 0\.900 \| - \| - \| 108\.0 \|' "$md"
check "P1 judged per datapath: queue met, kernel not (bench/run's targets)" \
	grep -Eq '^\| P1 \| dimed / no dimed \(untranslated TCP\) \| 0\.990 \| 0\.970 \| >= 0\.98 \| yes / \*\*no\*\* \|' "$md"
check "P2: the paired ratio wins over the ratio of medians; queue not met, kernel met" \
	grep -Eq '^\| P2 \| dimed translated / unqueued \| 0\.420 \| 0\.950 \| >= 0\.9 \| \*\*no\*\* / yes \|' "$md"
check "P3's 'dimed translated / unqueued' (no target) is not P2's (>= 0.9)" \
	grep -Eq '^\| P3 \| dimed translated / unqueued \| - \| 0\.570 \| - \| - \|' "$md"
check "P2: a baseline ratio (no datapath) is said once" grep -q 'Baselines (no dimed): P2 noop accept / unqueued 0.550' "$md"
check "P4: memory limits, dimed's side (queue) met, the kernel's (kernel) not" \
	bash -c "grep -Eq '^\| P4 \| dimed: flow_table_bytes / flows \(bytes\) \| 119\.1 \| - \| <= 256 \| yes \|' '$md' && grep -Eq '^\| P4 \| kernel: bytes per map element, all in \| - \| 300\.0 \| <= 256 \| \*\*no\*\* \|' '$md'"
check "latency: median 7.0 ms event -> CH table" grep -Eq '^\| hard \| event -> CH table \| 7\.0 \| 6\.0 \| 8\.0 \| 3 \|' "$md"
check "Tables I, II, III present with evidence" \
	bash -c "grep -q '## Table I:' '$md' && grep -q '## Table II:' '$md' && grep -q '## Table III:' '$md' && grep -q 'e2e-dualstack' '$md'"
check "Table II counts dime's own lines" grep -Eq '^\| dime \(this: daemon, control tool, ruleset\) \| 0 \| [1-9][0-9,]* \|' "$md"

out=$("$PY" "$ROOT/bench/report.py" --eval "$W/empty" --results "$W/none.csv" --out "$W/docs2" 2>&1) && rc=0 || rc=$?
check "no inputs: exits 0 and says what was not measured" \
	bash -c "test $rc = 0 && test \$(grep -c 'Not measured in this run' '$W/docs2/evaluation.md') = 4"
check "no inputs: no plots" bash -c "! ls '$W/docs2/eval/'*.png >/dev/null 2>&1"
out=$("$PY" "$ROOT/bench/report.py" --check-evidence 2>&1) && rc=0 || rc=$?
echo "# $out"
check "every cited test contains its case title" test "$rc" = 0
out=$("$PY" "$ROOT/bench/report.py" --bogus 2>&1) && rc=0 || rc=$?
check "unknown argument: exit 2 with a message" bash -c "test $rc = 2 && grep -q 'unknown argument' <<<'$out'"

tap_summary
