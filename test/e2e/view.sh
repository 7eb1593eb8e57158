#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# view.sh -- the operator's view (issue #14; dimectl(8) "show", "monitor"):
# dimed on MH and CH in the lab of test/lab/lab.sh, a paced TCP flow MH -> CH,
# a monitor (text and -j) on each host from the start, then a hard handoff
# (MH's address on link A renumbered, as e2e-ihmp's renumber case does).
#
#   1 monitor: peer-up and key-bound (tofu) on both hosts; handoff-start and
#     handoff-done on both (MH: hard, CH: peer-moved), the duration from the
#     event to the first translated data packet on the new locator between 0
#     and 1000 ms (bench/ measures a few ms); text and JSON lines agree;
#     golden files after normalisation (test/e2e/golden/monitor-*.txt)
#   2 show: a wg-like block per peer, text and -j, against golden files
#     (test/e2e/golden/show-*) after normalising what varies (fingerprints,
#     byte counts, times), whose shapes are checked
#   3 monitors outlive the 2 s idle expiry and end when the daemon stops
#
# VIEW_GOLDEN_UPDATE=1 rewrites the golden files from this run.
# Output: "ok N - name" / "not ok N - name", last line "N passed, N failed".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lab/dime.sh
source "$HERE/../lab/dime.sh"
DIMED=$(realpath "$DIMED") DIMECTL=$(realpath "$DIMECTL")
PY=$LAB_PYTHON
GOLDEN=$HERE/golden
vchk() { "$PY" "$HERE/view_check.py" "$@"; }
die() { echo "$*"; exit 1; }

preflight root dimed python3
lab_up
for h in mh ch; do
	echo "log-level = info" >"$LAB_DIR/$h.conf"
	dime_start $h -c "$LAB_DIR/$h.conf" || tap_bail "dimed started on $h: $DIME_ERR"
done

# The monitors, from before the first packet: they must see the peers come up.
for h in mh ch; do
	lab_bg dime_ctl $h monitor >"$LAB_DIR/mon-$h.txt" 2>"$LAB_DIR/mon-$h.err"
	lab_bg dime_ctl $h -j monitor >"$LAB_DIR/mon-$h.json" 2>"$LAB_DIR/mon-$h.jerr"
done
sleep 0.5

FLOW_PORT=$(lab_port)
# (its receiver sees a reset when the daemons stop at the end: not a failure)
FLOW_COUNT=$LAB_DIR/flow.count
lab_bg lab_ch "$PY" "$HERE/ctl_flow.py" recv "$CH4" "$FLOW_PORT" "$FLOW_COUNT"
for i in $(seq 50); do lab_ch ss -Hltn "sport = :$FLOW_PORT" | grep -q . && break; sleep 0.1; done
lab_bg lab_mh "$PY" "$HERE/ctl_flow.py" send "$CH4" "$FLOW_PORT" 800
flow_bytes() { cat "$FLOW_COUNT" 2>/dev/null || echo 0; }
for i in $(seq 50); do (($(flow_bytes) > 0)) && break; sleep 0.1; done
# Both hosts know each other as dime peers (the flow's HELLO) before the move.
for i in $(seq 50); do
	grep -q '^key-bound' "$LAB_DIR/mon-mh.txt" && grep -q '^key-bound' "$LAB_DIR/mon-ch.txt" && break
	sleep 0.1
done
# Longer than the control socket's 2 s idle expiry: the monitors must stay.
sleep 2.5

# The hard handoff: the old addresses go, new ones come, on link A.
NEW4=198.18.1.150 NEW6=2001:db8:1::150
lab_renumber_a "$MH_A4" "$MH_A6" "$NEW4" "$NEW6"
for i in $(seq 100); do
	grep -q "^handoff-done .*to=$NEW4" "$LAB_DIR/mon-mh.txt" &&
		grep -q "^handoff-done .*to=$NEW4" "$LAB_DIR/mon-ch.txt" && break
	sleep 0.1
done
sleep 1		# the flow runs on; a few more seconds of bytes for show

case_monitor() {
	local h
	for h in mh ch; do
		echo "# $h:"
		sed 's/^/#   /' "$LAB_DIR/mon-$h.txt"
		vchk monitor "$h" "$LAB_DIR/mon-$h.txt" "$LAB_DIR/mon-$h.json" "$NEW4" || exit 1
		vchk golden "$GOLDEN/monitor-$h.txt" <(vchk norm-monitor <"$LAB_DIR/mon-$h.txt") || exit 1
		vchk golden "$GOLDEN/monitor-$h.json" <(vchk norm-monitor-json <"$LAB_DIR/mon-$h.json") || exit 1
	done
}
case_show() {
	local h
	for h in mh ch; do
		dime_ctl $h show >"$LAB_DIR/show-$h.txt" || die "$h: dimectl show failed"
		dime_ctl $h -j show >"$LAB_DIR/show-$h.json" || die "$h: dimectl -j show failed"
		echo "# $h:"
		sed 's/^/#   /' "$LAB_DIR/show-$h.txt"
		vchk show "$h" "$LAB_DIR/show-$h.txt" "$LAB_DIR/show-$h.json" || exit 1
		vchk golden "$GOLDEN/show-$h.txt" <(vchk norm-show <"$LAB_DIR/show-$h.txt") || exit 1
		vchk golden "$GOLDEN/show-$h.json" <(vchk norm-show-json <"$LAB_DIR/show-$h.json") || exit 1
	done
}
case_monitor_end() {
	local h i
	# SIGTERM by PID: dime_stop waits for its child, and in this subshell
	# the daemons are not ours.
	for h in mh ch; do
		kill -TERM "$(dime_pid $h)" || die "$h: dimed not running"
	done
	for i in $(seq 50); do
		dime_alive mh || dime_alive ch || break
		sleep 0.1
	done
	! dime_alive mh && ! dime_alive ch || die "dimed did not stop on SIGTERM"
	for i in $(seq 30); do
		pgrep -f -- "$DIMECTL -s $LAB_DIR/.* monitor" >/dev/null || break
		sleep 0.1
	done
	! pgrep -f -- "$DIMECTL -s $LAB_DIR/.* monitor" >/dev/null || die "a monitor outlived its daemon"
	grep -q 'AddressSanitizer\|runtime error' "$LAB_DIR/mh.log" "$LAB_DIR/ch.log" && die "sanitizer report in a log"
	true
}
# The measured handoffs, for the log (TAP comments).
for h in mh ch; do note "$h: $(grep -m1 '^handoff-done' "$LAB_DIR/mon-$h.txt" || echo 'no handoff-done')"; done
check "monitor: peer-up, key-bound, handoff-start/done with a duration in 0..1000 ms (MH, CH; text = JSON; golden)" case_monitor
check "show: wg-like blocks, text and -j against golden files (MH, CH)" case_show
check "monitors stay past the idle expiry and end with their daemon; no sanitizer reports" case_monitor_end
tap_summary
