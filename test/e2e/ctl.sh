#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ctl.sh -- operator-experience tests (docs/man: dimectl.8, dimed.8,
# dimed.conf.5): dimectl and the control protocol, the socket's access rules,
# configuration and reload, logs and systemd readiness, against dimed running
# on MH and CH in the lab of test/lab/lab.sh with a real TCP flow (MH -> CH)
# going on the whole time.
#
#   1 every command, text and -j: exit 0, JSON parses with the expected keys,
#     the text is the JSON rendered (one print path)
#   2 errors: one "dimectl: " line on stderr, non-zero exit; usage exit 2
#   3 access: socket 0660, nobody refused; with 0666 nobody may look but not
#     change state; the protocol by hand with socat; long lines; concurrency
#   4 configuration: --print-config round trip, golden bad files (FILE:LINE),
#     refusal to start, reload by dimectl and SIGHUP (good, bad = atomic),
#     running flows untouched by reloads
#   5 logs: <N> syslog prefixes, -l warning
#   6 systemd readiness: READY=1, STATUS=, STOPPING=1 over $NOTIFY_SOCKET
#
# Output: "ok N - name" / "not ok N - name" (details as "# " lines), last line
# "N passed, N failed"; exit status 0 only if nothing failed.
# Environment: DIMED, DIMECTL (default build/src/...), CTL_KEEP=1 keeps $LAB_DIR.
# Needs root, python3, socat, setpriv, nft; the user "nobody", group "nogroup".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lab/dime.sh
source "$HERE/../lab/dime.sh"
ROOT=$DIME_ROOT
DIMED=$(realpath "$DIMED") DIMECTL=$(realpath "$DIMECTL")
PY=$LAB_PYTHON
chk() { "$PY" "$HERE/ctl_check.py" "$@"; }
[[ ${CTL_KEEP:-0} != 1 ]] || export LAB_KEEP=1
T_START=$SECONDS

# Each case runs under check: in a subshell with set -e, its output shown
# only if it failed. die ends the case with a reason.
die() { echo "$*"; exit 1; }

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# expect_one_err OUTFILE ERRFILE RC : a failure shown as one "dimectl: " line.
expect_one_err() {
	(($3 != 0)) || die "exit status 0, expected failure"
	[[ ! -s $1 ]] || die "stdout not empty: $(head -3 "$1")"
	[[ $(wc -l <"$2") == 1 ]] || die "stderr has $(wc -l <"$2") lines: $(head -5 "$2")"
	grep -q '^dimectl: ' "$2" || die "stderr does not start with 'dimectl: ': $(cat "$2")"
}

# ------------------------------------------------------------ the lab ---
preflight root dimed python3 socat setpriv nft
lab_up
chmod 711 "$LAB_DIR"		# so that "nobody" gets as far as the socket's own mode
lab_firewall on 3463
# A namespace of our own for short-lived extra daemons (cleaned up by lab_cleanup).
XNS="dime-ctlx-$LAB_ID"
ip netns add "$XNS"
lab_ledger "ns $XNS"
LAB_NSES+=" $XNS"
ip -n "$XNS" link set lo up

for h in mh ch; do
	echo "log-level = info" >"$LAB_DIR/$h.conf"
done
for h in mh ch; do
	dime_start $h -c "$LAB_DIR/$h.conf" || tap_bail "dimed started on $h: $DIME_ERR"
done
MH_PID=$(dime_pid mh)

# The TCP flow: paced, MH -> CH, for the whole run.
FLOW_PORT=$(lab_port)
FLOW_COUNT=$LAB_DIR/flow.count
lab_bg lab_ch "$PY" "$HERE/ctl_flow.py" recv "$CH4" "$FLOW_PORT" "$FLOW_COUNT"
for i in $(seq 50); do lab_ch ss -Hltn "sport = :$FLOW_PORT" | grep -q . && break; sleep 0.1; done
lab_bg lab_mh "$PY" "$HERE/ctl_flow.py" send "$CH4" "$FLOW_PORT" 800
flow_bytes() { cat "$FLOW_COUNT" 2>/dev/null || echo 0; }
for i in $(seq 50); do (($(flow_bytes) > 0)) && break; sleep 0.1; done
# flow_line H : MH's (or CH's) show flows -j entry for the flow, canonical.
flow_line() {
	dime_ctl "$1" -j show flows >"$LAB_DIR/fl.json"
	chk flows "$LAB_DIR/fl.json" | grep 'proto=tcp ' | grep -E "(lport|rport)=$FLOW_PORT( |\$)" || true
}
for i in $(seq 30); do [[ -n $(flow_line mh) ]] && break; sleep 0.1; done
# flow_grows : CH keeps receiving.
flow_grows() {
	local a b
	a=$(flow_bytes)
	sleep 0.6
	b=$(flow_bytes)
	((b > a)) || die "the TCP flow stalled: $a bytes, 0.6 s later $b"
}

# ------------------------------------------------ 1: every command ---
# cmd_case H "CMD WORDS" KEY... : text and -j, keys, text == rendered JSON.
cmd_case() {
	local h=$1 cmd=$2 rc=0
	shift 2
	# shellcheck disable=SC2086
	dime_ctl "$h" $cmd >"$LAB_DIR/c.txt" 2>"$LAB_DIR/c.err" || rc=$?
	((rc == 0)) || die "$h: dimectl $cmd: exit $rc: $(cat "$LAB_DIR/c.err")"
	[[ -s $LAB_DIR/c.txt ]] || die "$h: dimectl $cmd: empty output"
	# shellcheck disable=SC2086
	dime_ctl "$h" -j $cmd >"$LAB_DIR/c.json" 2>"$LAB_DIR/c.err" || rc=$?
	((rc == 0)) || die "$h: dimectl -j $cmd: exit $rc: $(cat "$LAB_DIR/c.err")"
	"$PY" -m json.tool "$LAB_DIR/c.json" >/dev/null || die "$h: dimectl -j $cmd: not JSON: $(head -c 300 "$LAB_DIR/c.json")"
	chk keys "$LAB_DIR/c.json" "$@" || die "$h: dimectl -j $cmd"
	chk same "$LAB_DIR/c.txt" "$LAB_DIR/c.json" || die "$h: dimectl $cmd: text and JSON differ"
}
jget() { chk get "$LAB_DIR/c.json" "$1"; }

# show's text is its own (wg-like blocks, no zero counters: test/e2e/view.sh
# has its goldens), so only the JSON keys here.
case_show() {
	local rc=0
	for h in mh ch; do
		dime_ctl $h show >"$LAB_DIR/c.txt" 2>"$LAB_DIR/c.err" || rc=$?
		((rc == 0)) && [[ -s $LAB_DIR/c.txt ]] || die "$h: dimectl show: exit $rc: $(cat "$LAB_DIR/c.err")"
		dime_ctl $h -j show >"$LAB_DIR/c.json" 2>"$LAB_DIR/c.err" || die "$h: dimectl -j show: $(cat "$LAB_DIR/c.err")"
		chk keys "$LAB_DIR/c.json" version rules fingerprint listen_port local_addresses flows translated_flows \
			peers peers[].hid peers[].address peers[].active peers[].unreachable peers[].local peers[].key \
			peers[].flows peers[].bytes_in peers[].bytes_out peers[].last_handoff || die "$h: dimectl -j show"
		[[ " $(jget 'peers[].flows') " =~ \ [1-9] ]] || die "$h: no peer with flows"
		(($(jget flows) >= 1)) || die "$h: no flows"
	done
	[[ " $(dime_ctl mh -j show | chk get /dev/stdin local_addresses) " == *" $MH_A4 "* ]] ||
		die "MH's local_addresses lack $MH_A4"
	[[ $(dime_ctl mh show) == *"rules: "* ]] || die "no rules line"
}
case_show_hids() {
	for h in mh ch; do
		cmd_case $h "show hids" hids hids[].hid hids[].active hids[].unreachable hids[].local \
			hids[].key hids[].flows
	done
	cmd_case mh "show hids" hids
	[[ " $(jget hids[].active) " == *" $CH4 "* ]] || die "MH's HID table lacks CH $CH4: $(cat "$LAB_DIR/c.txt")"
}
case_show_flows() {
	for h in mh ch; do
		cmd_case $h "show flows" flows flows[].proto flows[].local flows[].lport flows[].remote \
			flows[].rport flows[].hid flows[].translated flows[].preexisting
	done
	[[ -n $(flow_line mh) ]] || die "MH does not list the flow to port $FLOW_PORT"
	[[ -n $(flow_line ch) ]] || die "CH does not list the flow from port $FLOW_PORT"
}
case_show_keys() {
	local mhkey chkey
	for h in mh ch; do
		cmd_case $h "show keys" local local.public_key local.bindings peers peers[].hid \
			peers[].address peers[].origin peers[].key
	done
	chkey=$(dime_ctl ch -j show keys | chk get /dev/stdin local.public_key)
	mhkey=$(dime_ctl mh -j show keys | chk get /dev/stdin peers[].key)
	[[ " $mhkey " == *" $chkey "* ]] || die "MH's binding for CH ($mhkey) is not CH's key ($chkey)"
}
IHMP_TYPES="HELLO PATH_PROBE ADDR_UP ADDR_DOWN HANDOFF ACK NAT_ENTRY"
case_stats() {
	local k keys=()
	for k in received verdicts modified send_errors recv_errors kernel_errors; do keys+=("queue.$k"); done
	for k in packets translated_in translated_out passed flows_learned; do keys+=("datapath.$k"); done
	for k in malformed xlate_errors flow_table_full hid_table_full; do keys+=("drops_and_rejects.$k"); done
	for k in $IHMP_TYPES; do keys+=("ihmp.sent.$k" "ihmp.received.$k"); done
	keys+=(ihmp.retransmits ihmp.rejected)
	for h in mh ch; do
		cmd_case $h stats "${keys[@]}"
		(($(jget queue.received) > 0)) || die "$h: nothing received from the queue"
		(($(jget datapath.flows_learned) > 0)) || die "$h: no flows learned"
		(($(jget ihmp.sent.HELLO) + $(jget ihmp.received.HELLO) > 0)) || die "$h: no HELLO either way"
	done
	# A few counters that do not move by themselves: the same in both outputs.
	dime_ctl ch stats >"$LAB_DIR/s.txt"
	dime_ctl ch -j stats >"$LAB_DIR/s.json"
	for k in HELLO ACK; do
		local tv jv
		tv=$(awk -v k="$k:" '/^  sent:/ { s = 1; next } /^  [a-z]/ { s = 0 } s && $1 == k { print $2 }' "$LAB_DIR/s.txt")
		jv=$(chk get "$LAB_DIR/s.json" "ihmp.sent.$k")
		[[ -n $tv && $tv == "$jv" ]] || die "ihmp sent $k: text '$tv', JSON '$jv'"
	done
}
case_version() {
	for h in mh ch; do
		cmd_case $h version version protocol
		[[ $(jget protocol) == dime/1 ]] || die "protocol $(jget protocol)"
		[[ $("$DIMECTL" -V) == "dimectl $(jget version)" ]] || die "dimectl -V: $("$DIMECTL" -V), daemon $(jget version)"
		[[ $("$DIMED" -V) == "dimed $(jget version)" ]] || die "dimed -V: $("$DIMED" -V)"
	done
}

FAKE=198.18.0.99	# a lab address nobody has: manual commands act on it
KEY1=$($PY -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
# state_cmd H ARGS... : text then -j; both exit 0 (-j output checked elsewhere).
state_cmd() {
	local h=$1 rc=0
	shift
	dime_ctl "$h" "$@" >"$LAB_DIR/sc.out" 2>"$LAB_DIR/sc.err" || rc=$?
	((rc == 0)) || die "dimectl $*: exit $rc: $(cat "$LAB_DIR/sc.err")"
}
case_state_text() {
	state_cmd mh map "$FAKE" 198.18.0.98
	[[ $(dime_ctl mh -j show hids | chk get /dev/stdin hids[].active) == *198.18.0.98* ]] ||
		die "map: no HID at 198.18.0.98"
	state_cmd mh map-local "$FAKE" "$MH_A4"
	state_cmd mh key-pin "$FAKE" "$KEY1"
	dime_ctl mh -j show keys >"$LAB_DIR/k.json"
	grep -q "$KEY1" "$LAB_DIR/k.json" || die "key-pin: key not listed: $(cat "$LAB_DIR/k.json")"
	grep -q '"origin":"pinned"' "$LAB_DIR/k.json" || die "key-pin: no pinned origin: $(cat "$LAB_DIR/k.json")"
	state_cmd mh key-remove "$FAKE"
	! dime_ctl mh -j show keys | grep -q "$KEY1" || die "key-remove: key still listed"
	state_cmd mh set-local-key generate 198.18.99.0/24
	state_cmd mh set-local-key "$LAB_DIR/mh-state/host.key" 198.18.98.0/24
	dime_ctl mh -j show keys >"$LAB_DIR/k.json"
	grep -q '198.18.99.0/24' "$LAB_DIR/k.json" || die "set-local-key: no binding for 198.18.99.0/24: $(cat "$LAB_DIR/k.json")"
	state_cmd mh reload
	flow_grows
}
case_state_json() {
	local c bad='' rc
	for c in "map $FAKE 198.18.0.97" "map-local $FAKE $MH_A4" "key-pin $FAKE $KEY1" \
		"key-remove $FAKE" "set-local-key generate 198.18.96.0/24" reload; do
		rc=0
		# shellcheck disable=SC2086
		dime_ctl mh -j $c >"$LAB_DIR/sj.out" 2>"$LAB_DIR/sj.err" || rc=$?
		((rc == 0)) || { bad+=" [$c: exit $rc: $(cat "$LAB_DIR/sj.err")]"; continue; }
		"$PY" -m json.tool "$LAB_DIR/sj.out" >/dev/null 2>&1 ||
			bad+=" [$c: -j output is not JSON: $(od -c "$LAB_DIR/sj.out" | head -2 | tr -s ' ' | tr '\n' ' ')]"
	done
	[[ -z $bad ]] || die "state-changing commands with -j:$bad"
	flow_grows
}

check "show: text and -j, keys (MH, CH)" case_show
check "show hids: text and -j, keys, text = rendered JSON" case_show_hids
check "show flows: text and -j, lists the running TCP flow on both hosts" case_show_flows
check "show keys: text and -j; MH's binding for CH is CH's public key" case_show_keys
check "stats: text and -j, queue/datapath/drops/ihmp sent+received per type; text = JSON" case_stats
check "version: text and -j, matches dimectl -V and dimed -V" case_version
check "map, map-local, key-pin, key-remove, set-local-key, reload (text): exit 0, take effect" case_state_text
check "map, map-local, key-pin, key-remove, set-local-key, reload with -j: exit 0, output is JSON" case_state_json

# ------------------------------------------------------- 2: errors ---
# err_case [ctl args...] : one "dimectl: " line, non-zero exit.
err_case() {
	local rc=0
	dime_ctl mh "$@" >"$LAB_DIR/e.out" 2>"$LAB_DIR/e.err" || rc=$?
	expect_one_err "$LAB_DIR/e.out" "$LAB_DIR/e.err" "$rc" || exit 1
	echo "$* -> $(cat "$LAB_DIR/e.err") (exit $rc)"
}
case_errors() {
	local j
	for j in "" -j; do
		# shellcheck disable=SC2086
		{
			err_case $j frobnicate
			grep -q 'unknown command' "$LAB_DIR/e.err" || die "frobnicate: $(cat "$LAB_DIR/e.err")"
			err_case $j show nonsense
			err_case $j map 1.2.3 4.5.6.7
			grep -q '1.2.3' "$LAB_DIR/e.err" || die "map: the bad address is not named"
			err_case $j map "$FAKE" not-an-address
			err_case $j map "$FAKE"
			err_case $j map "$FAKE" 198.18.0.98 198.18.0.97
			err_case $j map-local "$FAKE"
			err_case $j key-pin "$FAKE" notakey
			err_case $j key-pin "$FAKE"
			err_case $j key-remove
			err_case $j set-local-key /nonexistent
			grep -q /nonexistent "$LAB_DIR/e.err" || die "set-local-key: path not named"
			err_case $j set-local-key
		}
	done
}
case_extra_args() {
	local c bad=''
	for c in "stats extra" "version extra" "show hids extra" "show flows extra" "reload extra"; do
		# shellcheck disable=SC2086
		if dime_ctl mh $c >/dev/null 2>&1; then bad+=" [$c]"; fi
	done
	[[ -z $bad ]] || die "accepted with a surplus argument (exit 0):$bad"
}
case_no_daemon() {
	local rc=0
	"$DIMECTL" -s "$LAB_DIR/nothing-here.sock" show >"$LAB_DIR/e.out" 2>"$LAB_DIR/e.err" || rc=$?
	((rc == 1)) || die "exit $rc, expected 1"
	expect_one_err "$LAB_DIR/e.out" "$LAB_DIR/e.err" "$rc"
	grep -q "nothing-here.sock" "$LAB_DIR/e.err" || die "path not named: $(cat "$LAB_DIR/e.err")"
	cat "$LAB_DIR/e.err"
}
case_usage() {
	local rc=0
	"$DIMECTL" >"$LAB_DIR/e.out" 2>"$LAB_DIR/e.err" || rc=$?
	((rc == 2)) || die "no arguments: exit $rc, expected 2"
	grep -q '^usage: dimectl' "$LAB_DIR/e.err" || die "no usage on stderr: $(cat "$LAB_DIR/e.err")"
	rc=0
	"$DIMECTL" --bogus-option >/dev/null 2>&1 || rc=$?
	((rc == 2)) || die "unknown option: exit $rc, expected 2"
	rc=0
	"$DIMECTL" -s "$LAB_DIR/mh.sock" map "" x >/dev/null 2>"$LAB_DIR/e.err" || rc=$?
	((rc == 2)) || die "empty argument: exit $rc, expected 2"
	"$DIMECTL" -h | grep -q 'set-local-key' || die "-h does not list the commands"
}
check "errors (text and -j): unknown command, show nonsense, bad map/map-local/key-pin/key-remove/set-local-key -> one 'dimectl: ' line, non-zero" case_errors
check "surplus arguments (stats x, version x, show hids x, ...) are refused" case_extra_args
check "no daemon at -s PATH: one clear line naming the path, exit 1" case_no_daemon
check "no arguments: usage, exit 2 (also unknown option, empty argument)" case_usage

# ------------------------------------------------------- 3: access ---
SOCK=$LAB_DIR/mh.sock
case_mode() {
	local m
	m=$(stat -c '%a %U' "$SOCK")
	[[ $m == "660 root" ]] || die "socket mode/owner: $m, expected 660 root"
	[[ $(stat -c %F "$SOCK") == socket ]] || die "not a socket"
}
case_nobody_refused() {
	local rc=0
	as_nobody "$DIMECTL" -s "$SOCK" show >"$LAB_DIR/e.out" 2>"$LAB_DIR/e.err" || rc=$?
	((rc == 1)) || die "nobody: exit $rc, expected 1"
	expect_one_err "$LAB_DIR/e.out" "$LAB_DIR/e.err" "$rc"
	grep -qi 'permission denied' "$LAB_DIR/e.err" || die "nobody: $(cat "$LAB_DIR/e.err")"
}
case_nobody_readonly() {
	local c rc bad=''
	chmod 666 "$SOCK"
	trap 'chmod 660 "$SOCK"' EXIT
	for c in show "show hids" "show flows" "show keys" stats version "-j show" "-j stats"; do
		# shellcheck disable=SC2086
		as_nobody "$DIMECTL" -s "$SOCK" $c >"$LAB_DIR/n.out" 2>"$LAB_DIR/n.err" || bad+=" [$c: $(cat "$LAB_DIR/n.err")]"
		[[ -s $LAB_DIR/n.out ]] || bad+=" [$c: no output]"
	done
	[[ -z $bad ]] || die "read-only commands refused to nobody:$bad"
	for c in "map 198.18.0.77 198.18.0.76" "map-local $FAKE $MH_A4" reload "key-pin $FAKE $KEY1" \
		"key-remove $FAKE" "set-local-key generate 198.18.95.0/24"; do
		rc=0
		# shellcheck disable=SC2086
		as_nobody "$DIMECTL" -s "$SOCK" $c >"$LAB_DIR/n.out" 2>"$LAB_DIR/n.err" || rc=$?
		expect_one_err "$LAB_DIR/n.out" "$LAB_DIR/n.err" "$rc"
		grep -q 'permission denied' "$LAB_DIR/n.err" || bad+=" [$c: $(cat "$LAB_DIR/n.err")]"
	done
	[[ -z $bad ]] || die "state-changing commands not refused with 'permission denied':$bad"
	[[ $(dime_ctl mh -j show hids) != *198.18.0.77* ]] || die "nobody's map took effect"
	[[ $(dime_ctl mh -j show keys) != *198.18.95.0* ]] || die "nobody's set-local-key took effect"
}
case_socat() {
	local out
	out=$(echo 'dime/1 show' | socat -t 5 - "UNIX-CONNECT:$SOCK")
	[[ $(head -1 <<<"$out") == ok ]] || die "first line: $(head -1 <<<"$out")"
	[[ $(tail -n +2 <<<"$out") == "$(dime_ctl mh show | head -1)"* ]] || die "body: $(tail -n +2 <<<"$out" | head -3)"
	out=$(echo 'dime/1 -j stats' | socat -t 5 - "UNIX-CONNECT:$SOCK")
	[[ $(head -1 <<<"$out") == ok ]] || die "-j stats first line: $(head -1 <<<"$out")"
	tail -n +2 <<<"$out" | "$PY" -m json.tool >/dev/null || die "-j stats body is not JSON"
	out=$(echo 'dime/1 frobnicate' | socat -t 5 - "UNIX-CONNECT:$SOCK")
	[[ $out == 'error: unknown command "frobnicate"' ]] || die "unknown command: $out"
	out=$(printf 'dime/1 version\r\n' | socat -t 5 - "UNIX-CONNECT:$SOCK")
	[[ $(head -1 <<<"$out") == ok ]] || die "CRLF request: $out"
}
case_bad_version() {
	local v out
	for v in 'dime/2 show' 'show' 'DIME/1 show' ''; do
		out=$(echo "$v" | socat -t 5 - "UNIX-CONNECT:$SOCK")
		[[ $out == "error: unsupported protocol"* ]] || die "request '$v': answer '$out'"
	done
}
case_long_line() {
	local out
	out=$($PY -c 'print("dime/1 show " + "x" * 2000)' | socat -t 5 - "UNIX-CONNECT:$SOCK" 2>&1) || true
	[[ $out == error:* ]] || die "2000-byte line: answer '$out'"
	echo "2000-byte line: $out"
	out=$($PY -c 'import sys; sys.stdout.write("dime/1 show " + "y" * 2000)' | socat -t 5 - "UNIX-CONNECT:$SOCK" 2>&1) || true
	[[ $out == error:* ]] || die "2000 bytes, no newline: answer '$out'"
	out=$(echo "dime/1 show$(printf ' a%.0s' $(seq 20))" | socat -t 5 - "UNIX-CONNECT:$SOCK")
	[[ $out == error:* ]] || die "20 words: answer '$out'"
	out=$(printf 'dime/1 sh\0ow\n' | socat -t 5 - "UNIX-CONNECT:$SOCK")
	[[ $out == error:* ]] || die "NUL byte: answer '$out'"
	lab_alive "$MH_PID" || die "dimed died"
	dime_ctl mh version >/dev/null || die "dimed does not answer any more"
	flow_grows
}
case_concurrent() {
	local i pids='' bad=0
	for i in $(seq 20); do
		{ dime_ctl mh -j stats >"$LAB_DIR/cc$i.out" 2>&1; echo $? >"$LAB_DIR/cc$i.rc"; } &
		pids+=" $!"
	done
	# shellcheck disable=SC2086
	wait $pids
	for i in $(seq 20); do
		if [[ $(cat "$LAB_DIR/cc$i.rc") != 0 ]] || ! "$PY" -m json.tool "$LAB_DIR/cc$i.out" >/dev/null 2>&1; then
			bad=$((bad + 1))
			echo "client $i: exit $(cat "$LAB_DIR/cc$i.rc"): $(head -c 200 "$LAB_DIR/cc$i.out")"
		fi
	done
	((bad == 0)) || die "$bad of 20 concurrent dimectl runs failed"
	# 20 connections open at once, then all send, then all read.
	timeout 20 "$PY" "$HERE/ctl_check.py" conn "$SOCK" 20 'dime/1 version' >"$LAB_DIR/conn.out"
	sort "$LAB_DIR/conn.out" | uniq -c
	# The daemon serves 16 clients at a time and tells the others so.
	! grep -vx 'ok\|error: too many control clients' "$LAB_DIR/conn.out" || die "20 simultaneous connections: not all answered"
	(($(grep -cx ok "$LAB_DIR/conn.out") >= 16)) || die "fewer than 16 of 20 simultaneous connections served"
	dime_ctl mh version >/dev/null
}
case_idle_clients() {
	local rc=0
	# 16 connections that say nothing must not lock root out.
	coproc IDLE { exec "$PY" "$HERE/ctl_check.py" idle "$SOCK" 16; }
	read -r -t 10 line <&"${IDLE[0]}" || true
	timeout 10 "$DIMECTL" -s "$SOCK" version >"$LAB_DIR/i.out" 2>"$LAB_DIR/i.err" || rc=$?
	eval "exec ${IDLE[1]}>&-"
	wait "$IDLE_PID" 2>/dev/null || true
	((rc == 0)) || die "with 16 idle clients connected: dimectl version: exit $rc$( ((rc == 141)) && echo ' (SIGPIPE)'): '$(cat "$LAB_DIR/i.err")'"
	dime_ctl mh version >/dev/null || die "no answer after the idle clients left"
}
check "control socket is mode 0660, owned by root" case_mode
check "nobody cannot connect to the 0660 socket: permission denied, exit 1" case_nobody_refused
check "socket 0666: nobody may run read-only commands; map, map-local, reload, key-* refused 'permission denied'" case_nobody_readonly
check "protocol by hand with socat: ok + body, -j, error line, CRLF" case_socat
check "wrong or missing protocol version: 'error: unsupported protocol'" case_bad_version
check "2000-byte line, no newline, too many words, NUL: error answer, daemon stays up, flow goes on" case_long_line
check "20 concurrent clients: 20 dimectl runs all served; 20 connections held open at once all answered (ok or busy)" case_concurrent
check "16 idle connected clients do not lock others out of the control socket" case_idle_clients

# ---------------------------------------- the flow, translated, for 4 ---
FLOW_BEFORE=''
case_move() {
	local i l
	move_soft 1
	for i in $(seq 80); do
		l=$(flow_line mh)
		[[ $l == *translated=true* ]] && break
		sleep 0.1
	done
	echo "MH: $l"
	[[ $l == *translated=true* ]] || die "the flow is not translated 8 s after a soft move"
	flow_grows
}
check "setup: soft move of MH, the TCP flow goes on translated" case_move
FLOW_BEFORE=$(flow_line mh)

# ------------------------------------------------ 4: configuration ---
GOOD=$LAB_DIR/good.conf
cat >"$GOOD" <<EOF
# every key, most not at their defaults
control-socket = /run/dime-ctl-test/x.sock
state-dir	=	/var/tmp/dime-ctl-test   # tabs, trailing comment
queue = 10
port = 4000
rules = none
xt-mark = 0x00100000
log-level = notice
max-flows = 1000
max-peers = 100
udp-timeout = 600
tcp-timeout = 3600
hello-allow = 198.18.0.0/15
hello-allow = 2001:db8::/32
require-signatures = yes
pin-key = 198.18.0.0/24 $KEY1
pin-key = 2001:db8:1::/64 $KEY1
local-key = $LAB_DIR/mh-state/host.key 198.18.1.0/24 2001:db8:1::/64
EOF
case_print_config() {
	"$DIMED" -c "$GOOD" --print-config >"$LAB_DIR/p1.conf"
	"$DIMED" -c "$LAB_DIR/p1.conf" --print-config >"$LAB_DIR/p2.conf"
	diff -u "$LAB_DIR/p1.conf" "$LAB_DIR/p2.conf" || die "print-config of print-config differs"
	local k
	for k in 'queue = 10' 'port = 4000' 'rules = none' 'log-level = notice' 'hello = list' \
		'hello-allow = 2001:db8::/32' 'require-signatures = yes' 'tcp-timeout = 3600' \
		"pin-key = 198.18.0.0/24 $KEY1" 'state-dir = /var/tmp/dime-ctl-test'; do
		grep -qxF "$k" "$LAB_DIR/p1.conf" || die "print-config lacks '$k': $(cat "$LAB_DIR/p1.conf")"
	done
	grep -q '^local-key = .*host.key 198.18.1.0/24 2001:db8:1::/64$' "$LAB_DIR/p1.conf" || die "local-key line"
	# Command-line options win over the file.
	"$DIMED" -c "$GOOD" -q 77 -l debug --print-config | grep -qx 'queue = 77' || die "-q does not override"
	# The defaults round-trip, and are the ones dimed.conf(5) shows.
	: >"$LAB_DIR/empty.conf"
	"$DIMED" -c "$LAB_DIR/empty.conf" --print-config >"$LAB_DIR/d1.conf"
	"$DIMED" -c "$LAB_DIR/d1.conf" --print-config | diff -u "$LAB_DIR/d1.conf" - || die "defaults do not round-trip"
	sed -n '/^The defaults, as/,/^\.EE/p' "$ROOT/docs/man/dimed.conf.5" | sed -n '/^\.EX/,/^\.EE/p' |
		grep -v '^\.E[XE]' | sed 's/\\-/-/g' | grep -v '^control-socket\|^state-dir' >"$LAB_DIR/man.conf"
	grep -v '^control-socket\|^state-dir' "$LAB_DIR/d1.conf" | diff -u "$LAB_DIR/man.conf" - ||
		die "defaults differ from dimed.conf(5)"
}
# Golden bad files: contents (printf format) | expected line | expected text after "FILE:LINE: ".
BAD_CASES=(
	'queue = 10\nbogus = 1\n|2|unknown key "bogus"'
	'# comment\n\nqueue = 70000\n|3|queue: expected a number from 0 to 65535, got "70000"'
	'queue = 1\nqueue = 2\n|2|queue: set again (first on line 1)'
	'port 3463\n|1|expected KEY = VALUE, got "port 3463"'
	'port = 80\n|1|port: '
	'hello = list\n|1|hello: "list" needs at least one hello-allow line'
	'hello = all\nhello-allow = 198.18.0.0/15\n|2|hello'
	'hello-allow = 198.18.0.0/15\nhello-allow = 198.18.0.0/15\n|2|hello-allow: '
	'hello-allow = 198.18.0.1/15\n|1|hello-allow: '
	'xt-mark = 0x3\n|1|xt-mark: expected a hex mask with exactly one bit set'
	'state-dir = relative\n|1|state-dir: expected an absolute path, got "relative"'
	'log-level = loud\n|1|log-level: expected err, warning, notice, info or debug, got "loud"'
	'udp-timeout = 59\n|1|udp-timeout: '
	'require-signatures = maybe\n|1|require-signatures: expected yes or no'
	'pin-key = 198.18.0.0/15 notakey\n|1|pin-key: '
	'rules = some\n|1|rules: '
	'Queue = 1\n|1|unknown key'
	'queue = 1\n\xff = 2\n|2|invalid UTF-8'
	'queue = 1\x01\n|1|'
	'queue =\n|1|queue: '
)
case_bad_files() {
	local i c body line want rc bad=0
	for i in "${!BAD_CASES[@]}"; do
		c=${BAD_CASES[$i]}
		want=${c##*|}
		c=${c%|*}
		line=${c##*|}
		body=${c%|*}
		# shellcheck disable=SC2059
		printf "$body" >"$LAB_DIR/bad$i.conf"
		rc=0
		"$DIMED" -c "$LAB_DIR/bad$i.conf" --print-config >"$LAB_DIR/b.out" 2>"$LAB_DIR/b.err" || rc=$?
		local got
		got=$(sed 's/^<[0-9]>//' "$LAB_DIR/b.err")
		if ((rc != 1)) || [[ -s $LAB_DIR/b.out || $(wc -l <"$LAB_DIR/b.err") != 1 ||
			$got != "dimed: $LAB_DIR/bad$i.conf:$line: $want"* ]]; then
			echo "bad$i ($body): exit $rc, stderr '$(cat "$LAB_DIR/b.err")', expected ':$line: $want'"
			bad=$((bad + 1))
		fi
	done
	# A line longer than 1024 bytes.
	$PY -c "import sys; open(sys.argv[1], 'w').write('queue = 1\n# ' + 'x' * 1100 + '\n')" "$LAB_DIR/long.conf"
	rc=0
	"$DIMED" -c "$LAB_DIR/long.conf" --print-config >/dev/null 2>"$LAB_DIR/b.err" || rc=$?
	if ((rc != 1)) || ! grep -q "long.conf:2: line longer than 1024 bytes" "$LAB_DIR/b.err"; then
		echo "long line: exit $rc, '$(cat "$LAB_DIR/b.err")'"
		bad=$((bad + 1))
	fi
	rc=0
	"$DIMED" -c "$LAB_DIR/missing.conf" --print-config >/dev/null 2>"$LAB_DIR/b.err" || rc=$?
	if ((rc != 1)) || ! grep -q "missing.conf" "$LAB_DIR/b.err"; then
		echo "missing -c file: exit $rc, '$(cat "$LAB_DIR/b.err")'"
		bad=$((bad + 1))
	fi
	((bad == 0)) || die "$bad bad files not rejected as expected"
}
case_bad_start() {
	local rc=0
	printf 'log-level = debug\nqueue = 5\nbogus = 1\n' >"$LAB_DIR/bs.conf"
	timeout 10 ip netns exec "$XNS" "$DIMED" -f -c "$LAB_DIR/bs.conf" --ctl "$LAB_DIR/bs.sock" \
		--state-dir "$LAB_DIR/bs-state" >"$LAB_DIR/bs.out" 2>"$LAB_DIR/bs.log" </dev/null || rc=$?
	((rc == 1)) || die "exit $rc, expected 1; log: $(cat "$LAB_DIR/bs.log")"
	[[ $(wc -l <"$LAB_DIR/bs.log") == 1 ]] || die "not one line: $(cat "$LAB_DIR/bs.log")"
	grep -q "bs.conf:3: unknown key \"bogus\"" "$LAB_DIR/bs.log" || die "no FILE:LINE: $(cat "$LAB_DIR/bs.log")"
	[[ ! -e $LAB_DIR/bs.sock ]] || die "the control socket was created"
	! ip netns exec "$XNS" nft list table inet dimed >/dev/null 2>&1 || die "the nft table was installed"
	cat "$LAB_DIR/bs.log"
}

# Reloads. Debug lines show the running log level; they are made on demand:
# a datagram to an address nobody has makes MH greet a new peer (HELLO, logged
# at debug). Each probe uses a fresh address.
echo 50 >"$LAB_DIR/probe"
probe_debug() {	# prints the number of new debug lines; fails if no HELLO was sent
	local before hello0 hello1 i PROBE
	PROBE=$(($(cat "$LAB_DIR/probe") + 1))
	echo "$PROBE" >"$LAB_DIR/probe"
	before=$(grep -c '^<7>' "$LAB_DIR/mh.log" || true)
	hello0=$(dime_ctl mh -j stats | chk get /dev/stdin ihmp.sent.HELLO)
	lab_mh "$PY" -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'probe', ('198.18.0.$PROBE', 9))"
	for i in $(seq 30); do
		hello1=$(dime_ctl mh -j stats | chk get /dev/stdin ihmp.sent.HELLO)
		((hello1 > hello0)) && break
		sleep 0.1
	done
	((hello1 > hello0)) || { echo "probe: no HELLO sent to 198.18.0.$PROBE" >&2; return 1; }
	sleep 0.2
	echo $(($(grep -c '^<7>' "$LAB_DIR/mh.log" || true) - before))
}
case_reload_bad_ctl() {
	local rc=0 n
	printf 'log-level = debug\nbogus = 1\n' >"$LAB_DIR/mh.conf"
	dime_ctl mh reload >"$LAB_DIR/r.out" 2>"$LAB_DIR/r.err" || rc=$?
	expect_one_err "$LAB_DIR/r.out" "$LAB_DIR/r.err" "$rc"
	grep -q "$LAB_DIR/mh.conf:2: " "$LAB_DIR/r.err" || die "error does not name FILE:LINE: $(cat "$LAB_DIR/r.err")"
	cat "$LAB_DIR/r.err"
	n=$(probe_debug)
	((n == 0)) || die "$n debug lines after a bad reload: the debug line of the bad file was applied"
	flow_grows
}
case_reload_good_ctl() {
	local n
	printf 'log-level = debug\n' >"$LAB_DIR/mh.conf"
	dime_ctl mh reload >"$LAB_DIR/r.out" 2>"$LAB_DIR/r.err" || die "exit non-zero: $(cat "$LAB_DIR/r.err")"
	n=$(probe_debug)
	((n > 0)) || die "no debug lines after reloading to log-level = debug"
	grep '^<7>' "$LAB_DIR/mh.log" | tail -1
	flow_grows
}
wait_log() {	# wait_log PATTERN : up to 3 s for a line in mh.log
	local i
	for i in $(seq 30); do grep -q -- "$1" "$LAB_DIR/mh.log" && return 0; sleep 0.1; done
	return 1
}
case_sighup_bad() {
	local n
	printf 'log-level = info\nqueue = x\n' >"$LAB_DIR/mh.conf"
	kill -HUP "$MH_PID"
	wait_log "^<[34]>reload: $LAB_DIR/mh.conf:2: .*keeping the running configuration" ||
		die "no warning naming FILE:LINE: $(tail -3 "$LAB_DIR/mh.log")"
	lab_alive "$MH_PID" || die "dimed died"
	n=$(probe_debug)
	((n > 0)) || die "no debug lines: the bad file's log-level = info was applied"
	flow_grows
}
case_sighup_good() {
	local n c
	printf 'log-level = info\n' >"$LAB_DIR/mh.conf"
	c=$(grep -c 'reload: configuration read' "$LAB_DIR/mh.log" || true)
	kill -HUP "$MH_PID"
	for i in $(seq 30); do
		(($(grep -c 'reload: configuration read' "$LAB_DIR/mh.log" || true) > c)) && break
		sleep 0.1
	done
	(($(grep -c 'reload: configuration read' "$LAB_DIR/mh.log" || true) > c)) || die "no 'configuration read' line"
	n=$(probe_debug)
	((n == 0)) || die "$n debug lines after SIGHUP to log-level = info"
	flow_grows
}
case_reload_flows() {
	local f0 h0 f1 h1 i after
	f0=$(dime_ctl mh -j show flows | chk flows /dev/stdin | grep proto=tcp | sort)
	h0=$(dime_ctl mh -j show hids | chk hid /dev/stdin "$CH4")
	for i in 1 2 3; do
		printf 'log-level = info\nudp-timeout = %d\n' $((300 + i)) >"$LAB_DIR/mh.conf"
		dime_ctl mh reload || die "reload $i"
		flow_grows
		kill -HUP "$MH_PID"
		flow_grows
	done
	# A key that needs a restart: accepted, logged, the running value kept.
	printf 'log-level = info\nqueue = 10\n' >"$LAB_DIR/mh.conf"
	dime_ctl mh reload || die "reload with queue = 10"
	wait_log 'queue.*next start' || die "no 'takes effect at the next start' warning"
	flow_grows
	flow_grows
	printf 'log-level = info\n' >"$LAB_DIR/mh.conf"
	dime_ctl mh reload
	f1=$(dime_ctl mh -j show flows | chk flows /dev/stdin | grep proto=tcp | sort)
	h1=$(dime_ctl mh -j show hids | chk hid /dev/stdin "$CH4")
	[[ $f0 == "$f1" ]] || die "the TCP flows in show flows changed across reloads: $(diff <(echo "$f0") <(echo "$f1"))"
	[[ $h0 == "$h1" ]] || die "CH's HID changed across reloads: $h0 / $h1"
	after=$(flow_line mh)
	[[ -n $FLOW_BEFORE && $after == "$FLOW_BEFORE" ]] ||
		die "the flow's entry changed since before the first reload: '$FLOW_BEFORE' -> '$after'"
	lab_alive "$MH_PID" || die "dimed died"
	echo "$after; $(flow_bytes) bytes received"
}
check "--print-config output parses back identically; CLI overrides; defaults = dimed.conf(5)" case_print_config
check "golden bad files: each rejected, exit 1, one line 'dimed: FILE:LINE: reason'" case_bad_files
check "a bad file makes dimed refuse to start: FILE:LINE, exit 1, no socket, no nft table" case_bad_start
check "dimectl reload, bad file: non-zero, 'dimectl: FILE:LINE: ...', running config kept (no debug lines)" case_reload_bad_ctl
check "dimectl reload to log-level = debug: exit 0, debug lines appear" case_reload_good_ctl
check "SIGHUP with a bad file: warning names FILE:LINE, config kept (still debug)" case_sighup_bad
check "SIGHUP with log-level = info: read, debug lines stop" case_sighup_good
check "reloads (dimectl and SIGHUP, a restart-only key) keep the translated flow and tables intact" case_reload_flows

# --------------------------------------------------------- 5: logs ---
case_log_prefixes() {
	local h bad
	for h in mh ch; do
		[[ -s $LAB_DIR/$h.log ]] || die "$h: empty log"
		bad=$(grep -v '^<[0-7]>' "$LAB_DIR/$h.log" || true)
		[[ -z $bad ]] || die "$h: lines without a <N> prefix: $(head -3 <<<"$bad")"
	done
	grep -q '^<6>dimed .* running' "$LAB_DIR/mh.log" || die "no <6> start line"
	grep -q '^<4>reload: ' "$LAB_DIR/mh.log" || die "no <4> reload warning"
}
case_log_warning() {
	local log
	log=$(dime_log "$XNS")
	: >"$LAB_DIR/lw.conf"
	dime_start "$XNS" -l warning -c "$LAB_DIR/lw.conf" || die "no control socket: $DIME_ERR"
	dime_ctl "$XNS" reload	# an info line, and the file (no log-level) must not undo -l
	dime_ctl "$XNS" stats >/dev/null
	dime_stop "$XNS" || die "after SIGTERM: $DIME_ERR"
	if grep -q '^<[5-7]>' "$log"; then die "info lines with -l warning: $(grep '^<[5-7]>' "$log" | head -3)"; fi
	[[ ! -e $(dime_sock "$XNS") ]] || die "control socket left behind"
	echo "log with -l warning: $(wc -l <"$log") lines"
}
case_log_startup_error() {
	# The start-up refusal is an error: journald should see <3>.
	local l
	l=$(head -1 "$LAB_DIR/bs.log")
	[[ $l == '<3>'* ]] || die "start-up error line without <3> (stderr not a terminal): '$l'"
}
check "dimed's stderr (not a terminal): every line starts with a <N> priority" case_log_prefixes
check "-l warning suppresses info lines (also after a reload); SIGTERM exits 0" case_log_warning
check "start-up error (bad config) is logged with <3> when stderr is not a terminal" case_log_startup_error

# -------------------------------------------------------- 6: notify ---
case_notify() {
	: >"$LAB_DIR/nt.conf"
	timeout 40 ip netns exec "$XNS" "$PY" "$HERE/ctl_notify.py" "$LAB_DIR/notify.sock" "$LAB_DIR/nt.sock" \
		"$DIMED" -f -c "$LAB_DIR/nt.conf" --ctl "$LAB_DIR/nt.sock" --state-dir "$LAB_DIR/nt-state" \
		>"$LAB_DIR/nt.res" 2>"$LAB_DIR/nt.log"
	cat "$LAB_DIR/nt.res"
	grep -qx 'ready=yes' "$LAB_DIR/nt.res" || die "no READY=1"
	grep -qx 'ready_ctl_exists=yes' "$LAB_DIR/nt.res" || die "READY=1 before the control socket existed"
	grep -q '^status=..*' "$LAB_DIR/nt.res" || die "no STATUS="
	grep -qx 'stopping=yes' "$LAB_DIR/nt.res" || die "no STOPPING=1 on SIGTERM"
	grep -qx 'exit=0' "$LAB_DIR/nt.res" || die "exit status after SIGTERM"
	grep -q '^<6>' "$LAB_DIR/nt.log" || die "no info lines at the default level: $(cat "$LAB_DIR/nt.log")"
	[[ ! -e $LAB_DIR/nt.sock ]] || die "control socket left behind"
}
check "systemd: READY=1 (after the control socket exists) with STATUS=, STOPPING=1 on SIGTERM" case_notify

# ------------------------------------------------------------- end ---
t_final() {
	lab_alive "$MH_PID" || die "MH's dimed died"
	dime_ctl mh version >/dev/null && dime_ctl ch version >/dev/null
	flow_grows
	grep -q 'AddressSanitizer\|runtime error' "$LAB_DIR/mh.log" "$LAB_DIR/ch.log" && die "sanitizer report in a log"
	echo "the flow carried $(flow_bytes) bytes"
}
check "both daemons still up, the flow still running, no sanitizer reports" t_final
echo "# runtime $((SECONDS - T_START)) s"
tap_summary
