# shellcheck shell=bash
# shellcheck disable=SC2034 # variables set here are read by the sourcing script
# SPDX-License-Identifier: MIT
#
# dime.sh -- dimed in the lab, and the tests' results. Source it instead of
# lab.sh (it sources lab.sh): the end-to-end tests, the lab's own tests and
# the benchmarks (bench/lib.sh) start, ask and stop their daemons with it,
# and the tests print their results with it.
#
#   source "$(dirname "$0")/../lab/dime.sh"
#   preflight root dimed iperf3 nft
#   lab_up
#   dime_start mh -l debug
#   dime_start ch
#   check "CH knows MH" dime_ctl ch show hids
#   dime_stop mh ch
#   tap_summary                    # last line "N passed, N failed"; 1 if any failed
#
# Variables read:
#   DIMED, DIMECTL  the binaries (default <repo>/build/src/dimed, and dimectl
#                   next to DIMED)
#   DIME_DIR        where dime_start puts HOST.sock, HOST-state/ (the host
#                   key), HOST.pid (default: $LAB_DIR)
#   DIME_LOG        prefix of the daemons' logs: ${DIME_LOG}HOST.log
#                   (default: $DIME_DIR/); dime_start appends to it
#   DIME_WRAP       array: words run between `ip netns exec NS` and dimed
#                   (e.g. setpriv ...); default none
#   DIME_STAMP      1: each log line prefixed with the wall time it was
#                   written ("%.6f "), for benchmarks that time log lines
#   DIME_WAIT       seconds dime_start waits for the control socket (10)
#   DIME_KEEP_STATE 1: dime_start keeps HOST-state/state, what the last run
#                   saved (a restart); default: removed, every start fresh
#   DIME_STOP_WAIT  seconds dime_stop waits after SIGTERM before SIGKILL (30)
#   DIME_DATAPATH   queue or kernel: dime_start passes --datapath (default:
#                   dimed's own, auto: kernel where it loads). The lab suite
#                   runs with both (test/meson.build)
#
# Daemons (HOST: mh, ch, r1, r2, sw, or the name of a namespace of the lab's):
#   dime_ns HOST                 the namespace's name
#   dime_start HOST [ARGS...]    `dimed -f --ctl SOCK --state-dir DIR ARGS` in
#                                HOST's namespace, PID recorded for lab_cleanup;
#                                returns once the control socket answers, or
#                                fails with the log's tail (DIME_ERR)
#   dime_ctl HOST ARGS...        `dimectl -s SOCK ARGS` in HOST's namespace
#   dime_stop HOST...            SIGTERM to each (its recorded PID only), then
#                                wait; fails if one exited non-zero or with a
#                                sanitizer report (DIME_ERR). Call it from the
#                                shell that ran dime_start.
#   dime_pid HOST / dime_alive HOST / dime_sock HOST / dime_log HOST / dime_state HOST
#   dime_json PATH [FILE]        a value of JSON (stdin or FILE), dotted path
#                                ("peers.0.key"); objects and lists as JSON
#   dime_stat HOST PATH          one value of `dimectl -j stats`
#   dime_stamp FILE              stdin to FILE, each line time-stamped
#   dime_admin_table NS [FAST]   dimed's table as docs/packaging.md has the
#                                administrator load it for `dimed --no-rules`
#                                on a kernel without nft queue: nft/dimed.nft,
#                                FAST (default nft/dimed-fast.nft; /dev/null:
#                                the queue datapath's), the enqueue mark
#   dime_admin_xt NS -I|-D       that page's xtables fallback rules in or out
#   dime_copy_bins DIR           run copies of DIMED and DIMECTL from DIR (a
#                                rebuild meanwhile cannot change them)
#   dime_unprivileged            from now on dime_start runs dimed as the
#                                packaged unit does: nobody:nogroup holding
#                                only CAP_NET_ADMIN (bounding, inheritable,
#                                ambient), its binaries and DIME_DIR in
#                                $LAB_DIR/nobody, /dev/net/tun 0666 as Debian
#                                has it (a node of ours bind-mounted in
#                                dimed's mount namespace only). After lab_up.
#
# Results, TAP style ("ok N - NAME" / "not ok N - NAME", details as "# "
# lines, the last line "N passed, N failed", which test/run and CI read):
#   check NAME CMD...            CMD in a subshell with set -e; its output is
#                                shown (as "# " lines) only if it failed
#   tap_result STATUS NAME       a result decided elsewhere (STATUS 0: ok)
#   note TEXT...                 a "# TEXT" line
#   tap_summary                  the failed ones again, then the last line;
#                                returns 1 if any failed
#   tap_bail NAME                a failure that ends the run: "not ok", the
#                                summary, exit 1
#   preflight WORD...            each WORD is a program on PATH, or "root" (run
#                                as root) or "dimed" (DIMED and DIMECTL
#                                built); if any is missing: one "not ok" line
#                                naming it, the summary, exit 1 (never a skip)
#   preflight_fail WHAT          that failure, for a check of one's own

DIME_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIME_ROOT=$(cd "$DIME_HERE/../.." && pwd)
# shellcheck source=lab.sh
source "$DIME_HERE/lab.sh"

DIMED=${DIMED:-$DIME_ROOT/build/src/dimed}
DIMECTL=${DIMECTL:-$(dirname "$DIMED")/dimectl}
[[ -v DIME_WRAP ]] || DIME_WRAP=()
DIME_ERR=''

# ------------------------------------------------------------ daemons ---
dime_unprivileged() {
	local w=$LAB_DIR/nobody
	# LAB_DIR is 0700 root: nobody may pass through to its own directory.
	mkdir -p "$w/run"
	chmod 0711 "$LAB_DIR"
	chmod 0755 "$w"
	install -m 0755 "$DIMED" "$DIMECTL" "$w/"
	chown nobody:nogroup "$w/run"
	chmod 0750 "$w/run"
	DIMED=$w/dimed DIMECTL=$w/dimectl DIME_DIR=$w/run DIME_LOG=${DIME_LOG:-$LAB_DIR/}
	[[ -c $w/tun ]] || mknod -m 0666 "$w/tun" c 10 200
	# shellcheck disable=SC2016,SC2054 # sh -c expands; setpriv's lists have commas
	DIME_WRAP=(sh -c 'mount --bind "$0" /dev/net/tun && exec "$@"' "$w/tun"
		setpriv --reuid=nobody --regid=nogroup --clear-groups
		--bounding-set=-all,+net_admin --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin)
}

dime_ns() {
	case "$1" in
	mh) echo "$LAB_NS_MH" ;; ch) echo "$LAB_NS_CH" ;; r1) echo "$LAB_NS_R1" ;;
	r2) echo "$LAB_NS_R2" ;; sw) echo "$LAB_NS_SW" ;; *) echo "$1" ;;
	esac
}
dime_dir() { echo "${DIME_DIR:-$LAB_DIR}"; }
dime_sock() { echo "$(dime_dir)/$1.sock"; }
dime_state() { echo "$(dime_dir)/$1-state"; }
dime_log() { echo "${DIME_LOG:-$(dime_dir)/}$1.log"; }
dime_pid() { cat "$(dime_dir)/$1.pid" 2>/dev/null; }
dime_alive() { local p; p=$(dime_pid "$1") && lab_alive "$p"; }

dime_ctl() { local h=$1; shift; ip netns exec "$(dime_ns "$h")" "$DIMECTL" -s "$(dime_sock "$h")" "$@"; }

# dime_error MSG : remembered in DIME_ERR for the caller, and said on stderr.
dime_error() { DIME_ERR=$*; echo "[dime] error: $*" >&2; }

dime_start() {
	local h=$1 d pid i out log
	shift
	d=$(dime_dir) log=$(dime_log "$h")
	out=$log
	DIME_ERR=''
	[[ ${DIME_KEEP_STATE:-0} == 1 ]] || rm -f "$(dime_state "$h")/state"
	if [[ ${DIME_STAMP:-0} == 1 ]]; then
		out=$d/$h.log.fifo
		[[ -p $out ]] || mkfifo "$out"
		# In the background: opening a FIFO waits for the other end.
		dime_stamp "$log" <"$out" &
		lab_track $!
		echo $! >"$d/$h.stamp.pid"
	fi
	# ip netns exec (and a DIME_WRAP like setpriv) exec dimed: $! is dimed.
	local dp=()
	[[ -z ${DIME_DATAPATH:-} ]] || dp=(--datapath "$DIME_DATAPATH")
	ip netns exec "$(dime_ns "$h")" "${DIME_WRAP[@]}" "$DIMED" -f --ctl "$(dime_sock "$h")" \
		--state-dir "$(dime_state "$h")" "${dp[@]}" "$@" </dev/null >>"$out" 2>&1 &
	pid=$!
	lab_track "$pid"
	echo "$pid" >"$d/$h.pid"
	for ((i = 0; i < ${DIME_WAIT:-10} * 20; i++)); do
		if dime_ctl "$h" version >/dev/null 2>&1; then
			dime_datapath_is "$h" && return 0
			return 1
		fi
		lab_alive "$pid" || break
		sleep 0.05
	done
	if lab_alive "$pid"; then
		dime_error "dimed on $h does not answer on $(dime_sock "$h") after ${DIME_WAIT:-10} s: $(dime_log_tail "$h")"
	else
		i=0
		wait "$pid" 2>/dev/null || i=$?
		rm -f "$d/$h.pid"
		dime_error "dimed on $h exited with status $i before it answered: $(dime_log_tail "$h")"
	fi
	return 1
}

# dime_datapath_is HOST : the datapath HOST's dimed runs is the one
# DIME_DATAPATH asks for (when it asks): a fallback must not pass unseen.
dime_datapath_is() {
	local dp
	[[ -n ${DIME_DATAPATH:-} ]] || return 0
	dp=$(dime_ctl "$1" -j show | dime_json datapath)
	[[ $dp == "$DIME_DATAPATH" ]] && return 0
	dime_error "dimed on $1 runs the $dp datapath, not $DIME_DATAPATH: $(dime_log_tail "$1")"
	return 1
}

dime_stop() {
	local h pid rc i wait=${DIME_STOP_WAIT:-30} err=''
	for h; do
		pid=$(dime_pid "$h") || continue
		kill -TERM "$pid" 2>/dev/null || true
	done
	for h; do
		pid=$(dime_pid "$h") || continue
		for ((i = 0; i < wait * 20; i++)); do
			lab_alive "$pid" || break
			sleep 0.05
		done
		if lab_alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
			err+="dimed on $h ignored SIGTERM for $wait s (killed); "
		fi
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		rm -f "$(dime_dir)/$h.pid"
		# The time stamper ends with dimed's output: the log is complete.
		if [[ -f $(dime_dir)/$h.stamp.pid ]]; then
			wait "$(cat "$(dime_dir)/$h.stamp.pid")" 2>/dev/null || true
			rm -f "$(dime_dir)/$h.stamp.pid"
		fi
		if ((rc != 0)); then
			err+="dimed on $h exited with status $rc after SIGTERM: $(dime_log_tail "$h"); "
		elif grep -q 'Sanitizer\|runtime error:' "$(dime_log "$h")" 2>/dev/null; then
			err+="dimed on $h: sanitizer report in $(dime_log "$h"): $(grep -m1 'Sanitizer\|runtime error:' "$(dime_log "$h")"); "
		fi
	done
	[[ -n $err ]] || return 0
	dime_error "${err%; }"
	return 1
}

# dime_log_tail HOST : the last lines of its log (a sanitizer report first), on one line.
dime_log_tail() {
	local f
	f=$(dime_log "$1")
	{ grep -m1 'Sanitizer\|runtime error:' "$f" || tail -n 3 "$f"; } 2>/dev/null | tr '\n' ' '
}

dime_json() {
	"$LAB_PYTHON" -c '
import json, sys
v = json.load(open(sys.argv[2]) if len(sys.argv) > 2 else sys.stdin)
for k in filter(None, sys.argv[1].split(".")):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$@"
}
dime_stat() { dime_ctl "$1" -j stats | dime_json "$2"; }

# dime_fast_rewrites HOST in|out|'(in|out)' [MAP] : packets the kernel
# datapath rewrote in that direction (the counters of nft/dimed-fast.nft's
# rules); with MAP (a regex: src), only by the rules naming @fast_DIR4_MAP
# or @fast_DIR6_MAP.
dime_fast_rewrites() {
	ip netns exec "$(dime_ns "$1")" nft list table inet dimed 2>/dev/null |
		awk '/@fast_'"$2"'[46]_'"${3:-}"'/ { for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) }
		     END { print n + 0 }'
}

# The ruleset of docs/packaging.md (`dimed --no-rules`), steps 2 and 3.
dime_admin_table() {
	{
		cat "$DIME_ROOT/nft/dimed.nft" "${2:-$DIME_ROOT/nft/dimed-fast.nft}"
		echo "add rule inet dimed enqueue meta mark set meta mark or 0x10000000"
	} | ip netns exec "$1" nft -f -
}
dime_admin_xt() {
	local t h
	for t in iptables ip6tables; do
		for h in "raw PREROUTING" "mangle PREROUTING" "mangle OUTPUT"; do
			# shellcheck disable=SC2086 # table and chain
			ip netns exec "$1" "$t" -w -t ${h% *} "$2" ${h#* } -m mark --mark 0x10000000/0x10000000 \
				-m comment --comment dimed -j NFQUEUE --queue-num 3463 --queue-bypass || return
		done
	done
}

# dime_translated HOST in|out : packets translated in that direction, by
# dimed (datapath.translated_*) and by the kernel datapath, whichever
# datapath HOST's dimed runs.
dime_translated() {
	echo $(($(dime_stat "$1" "datapath.translated_$2") + $(dime_fast_rewrites "$1" "$2")))
}

dime_stamp() {
	"$LAB_PYTHON" -c '
import sys, time
with open(sys.argv[1], "ab", buffering=0) as f:
    for line in iter(sys.stdin.buffer.readline, b""):
        f.write(b"%.6f " % time.time() + line)' "$1"
}

dime_copy_bins() {
	mkdir -p "$1"
	cp "$DIMED" "$DIMECTL" "$1/"
	DIMED=$1/$(basename "$DIMED") DIMECTL=$1/$(basename "$DIMECTL")
}

# ------------------------------------------------------------ results ---
TAP_N=0 TAP_PASS=0 TAP_FAIL=0 TAP_FAILED=()

tap_result() {
	TAP_N=$((TAP_N + 1))
	if [[ $1 == 0 ]]; then
		TAP_PASS=$((TAP_PASS + 1))
		echo "ok $TAP_N - $2"
	else
		TAP_FAIL=$((TAP_FAIL + 1))
		TAP_FAILED+=("$TAP_N - $2")
		echo "not ok $TAP_N - $2"
	fi
}

check() {
	local name=$1 out rc opts=$-
	shift
	out=$(mktemp "${LAB_DIR:-${TMPDIR:-/tmp}}/check.XXXXXX")
	# Not in a condition: set -e must stay in force inside CMD.
	set +e
	(set -e; "$@") >"$out" 2>&1
	rc=$?
	[[ $opts != *e* ]] || set -e
	tap_result "$rc" "$name"
	((rc == 0)) || sed 's/^/# /' "$out" | head -n 40
	rm -f "$out"
}

note() { echo "# $*"; }

tap_summary() {
	local f
	for f in "${TAP_FAILED[@]}"; do echo "# failed: $f"; done
	echo "$TAP_PASS passed, $TAP_FAIL failed"
	((TAP_FAIL == 0))
}

preflight() {
	local w missing=()
	for w; do
		case "$w" in
		root) [[ $(id -u) == 0 ]] || missing+=("root (network namespaces)") ;;
		dimed) [[ -x $DIMED && -x $DIMECTL ]] || missing+=("a built $DIMED and $DIMECTL (meson compile)") ;;
		*) command -v "$w" >/dev/null || missing+=("$w") ;;
		esac
	done
	((${#missing[@]} == 0)) || preflight_fail "${missing[*]}"
}

preflight_fail() { tap_bail "preflight: missing $*"; }

tap_bail() {
	tap_result 1 "$1"
	tap_summary || true
	exit 1
}
