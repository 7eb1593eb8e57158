# shellcheck shell=bash
# shellcheck disable=SC2034 # variables set here are read by the sourcing script
# SPDX-License-Identifier: MIT
#
# bench/lib.sh -- what the benchmark scripts share, so that each of them is
# only its measurement: options and --help, paths, logging, building, the
# lab with dimed on MH and CH (test/lab/dime.sh, which sources
# test/lab/lab.sh), and filling MH's socket table. A new benchmark:
#
#   #!/bin/bash
#   # SPDX-License-Identifier: MIT
#   #
#   # bench/NAME.sh -- what it measures; this comment is its --help.
#   #
#   #   bench/NAME.sh [--quick] [--datapath=queue|kernel] [--help]
#   set -euo pipefail
#   BENCH_NAME=NAME
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_args "$@"                   # QUICK=1 with --quick; DATAPATHS
#   bench_need dimed nft python3      # root is always needed
#   bench_logs "$EVAL/logs-NAME"      # LOGS, emptied; daemons' logs go there
#   lab_up
#   bench_daemons start -l info       # dimed on MH and CH, answering
#   ... dime_ctl mh -j stats ...
#   bench_daemons stop
#
# Read: BENCH_NAME (log prefix, and the lab's LAB_ID is NAME<pid>), DIMED and
# DIMECTL (default build/src/dimed, dimectl next to it), and what
# test/lab/dime.sh reads (DIME_LOG, DIME_STAMP, ...). BENCH_DATAPATHS=both
# before bench_args: the script measures several datapaths in one run
# (bench/run); otherwise --datapath=both is refused.
# Set: ROOT (the repository), BENCH (bench/), OUT (bench/out), EVAL
#   (bench/out/eval: what bench/report.py reads), BIN (bench/out/bin: the
#   compiled helpers), PY (python3), QUICK (0/1), T_START, DATAPATHS (the
#   datapaths to measure, in order: "queue", "kernel", "queue kernel", or ""
#   = dimed's own choice), DATAPATH (the one bench_daemons start asks for:
#   the first of DATAPATHS; a script measuring both sets it per part).
#
#   bench_args "$@"        --quick, --datapath=queue|kernel|both,
#                          -h/--help (the script's header comment); any
#                          other word goes to the script's own
#                          bench_option WORD if it defines one (a non-zero
#                          return: unknown option, exit 2)
#   log TEXT / die TEXT    "[NAME  12.3s] TEXT" on stderr; die exits 1
#   bench_need WORD...     root, then each WORD as preflight takes it (a
#                          program, "dimed"); dies naming what is missing
#   bench_logs DIR         LOGS=DIR, emptied; DIME_LOG=$LOGS/dimed- (so the
#                          daemons log to $LOGS/dimed-HOST.log)
#   bench_build            meson setup (if needed) and compile build/; the
#                          log in $LOGS/build.log, shown if it fails
#   bench_cc NAME [CC-ARGS...]  bench/NAME.c built as $BIN/NAME unless newer
#   bench_daemons start [DIMED-ARGS...]   dime_start on MH and CH with
#                          --datapath $DATAPATH (if set), or die; dies too
#                          if dimed runs another datapath than asked (a
#                          kernel datapath that did not load falls back to
#                          the queue: its numbers must not pass as kernel's)
#   bench_daemons stop     dime_stop both (a bad exit is logged as a
#                          WARNING), then what a clean exit must not leave:
#                          dimed's nft table, identifiers held on lo
#   bench_show HOST KEY    a top-level number of `dimectl -j show`
#   bench_fill_setup       MH gets fill0 (a veth) with FILL_NSRC addresses
#   bench_fill_reset       the next bench_fill starts at flow 0 and counts
#                          flows from MH's count now
#   bench_fill N [BUDGET]  MH's socket table up to N fill flows (below)

: "${BENCH_NAME:?set BENCH_NAME before sourcing bench/lib.sh}"
export LAB_ID=$BENCH_NAME$$	# namespaces dime-*-NAME<pid>, never a caller's
# shellcheck source=../test/lab/dime.sh
source "$(dirname "${BASH_SOURCE[0]}")/../test/lab/dime.sh"

ROOT=$DIME_ROOT
BENCH=$ROOT/bench
OUT=$BENCH/out
EVAL=$OUT/eval
BIN=$OUT/bin
PY=$LAB_PYTHON
QUICK=0
T_START=$(date +%s.%N)
DATAPATHS=${DATAPATHS:-}
DATAPATH=

log() { printf '[%s %5.1fs] %s\n' "$BENCH_NAME" "$(lab_since "$T_START")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

bench_args() {
	local a
	for a; do
		case "$a" in
		--quick) QUICK=1 ;;
		--datapath=queue | --datapath=kernel) DATAPATHS=${a#--datapath=} ;;
		--datapath=both) DATAPATHS="queue kernel" ;;
		-h | --help) bench_help; exit 0 ;;
		*)
			if ! declare -F bench_option >/dev/null || ! bench_option "$a"; then
				echo "bench/$BENCH_NAME: unknown option '$a' (try --help)" >&2
				exit 2
			fi
			;;
		esac
	done
	if [[ $DATAPATHS == *" "* && ${BENCH_DATAPATHS:-one} != both ]]; then
		echo "bench/$BENCH_NAME: measures one datapath per run (--datapath=queue or kernel)" >&2
		exit 2
	fi
	DATAPATH=${DATAPATHS%% *}
}

# bench_help : the script's first comment block, without "# " and SPDX.
bench_help() { awk 'NR == 1 || /SPDX/ { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0" | sed '/./,$!d'; }

bench_need() {
	local w missing=()
	[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
	for w; do
		case "$w" in
		dimed) [[ -x $DIMED && -x $DIMECTL ]] || missing+=("a built $DIMED and $DIMECTL (meson compile -C build)") ;;
		*) command -v "$w" >/dev/null || missing+=("$w") ;;
		esac
	done
	((${#missing[@]} == 0)) || die "missing: ${missing[*]}"
}

bench_logs() {
	LOGS=$1
	rm -rf "$LOGS"
	mkdir -p "$LOGS"
	DIME_LOG=$LOGS/dimed-
}

bench_build() {
	local f=${LOGS:-$OUT}/build.log
	mkdir -p "${f%/*}"
	if ! { { [[ -d $ROOT/build ]] || meson setup "$ROOT/build"; } && meson compile -C "$ROOT/build"; } >"$f" 2>&1; then
		cat "$f" >&2
		die "build failed"
	fi
}

bench_cc() {
	local name=$1
	shift
	mkdir -p "$BIN"
	[[ $BIN/$name -nt $BENCH/$name.c ]] || cc -O2 -Wall -o "$BIN/$name" "$BENCH/$name.c" "$@"
}

bench_daemons() {
	local h dp
	case "$1" in
	start)
		shift
		for h in mh ch; do DIME_DATAPATH=$DATAPATH dime_start "$h" "$@" || die "$DIME_ERR"; done
		[[ -n $DATAPATH ]] || return 0
		for h in mh ch; do
			dp=$(dime_ctl "$h" -j show | grep -o '"datapath": *"[a-z]*"' | head -n1 | grep -o '[a-z]*"$')
			[[ ${dp%\"} == "$DATAPATH" ]] || die "dimed on $h runs datapath '${dp%\"}', not $DATAPATH (see $(dime_log "$h"))"
		done
		;;
	stop)
		dime_stop mh ch 2>/dev/null || log "WARNING: $DIME_ERR"
		bench_leftovers
		;;
	*) die "bench_daemons start|stop" ;;
	esac
}

# bench_leftovers : a clean exit of dimed removes its nft table and the
# identifiers it held on lo; what is left would change the next run.
bench_leftovers() {
	local h ns held a
	for h in mh ch; do
		ns=$(dime_ns "$h")
		if ip netns exec "$ns" nft list table inet dimed >/dev/null 2>&1; then
			log "WARNING: dimed left its nft table behind on $h"
			ip netns exec "$ns" nft delete table inet dimed || true
		fi
		held=$(ip -n "$ns" -o addr show dev lo 2>/dev/null | awk '$4 !~ /^(127\.|::1\/)/ { print $4 }')
		[[ -n $held ]] || continue
		log "WARNING: identifiers left on $h's lo after dimed exited: ${held//$'\n'/ }"
		for a in $held; do ip -n "$ns" addr del "$a" dev lo || true; done
	done
}

# bench_show HOST KEY : top-level members of `dimectl -j show` come before
# the per-peer ones, so the first match is the host's (no interpreter).
bench_show() { dime_ctl "$1" -j show | grep -o "\"$2\": *[0-9]*" | head -n1 | grep -o '[0-9]*$'; }

# ----------------------------------------------------------------- fill ---
# Fill flows: one first UDP packet per flow (bench/udp_fill) from FILL_NSRC
# addresses on fill0, a veth in MH, to FILL_DST (nobody: R1's and R2's
# source address validation drop them); up to FILL_NSRC x 65535 of them.
# dimed learns each from its first packet (never one to or from its IHMP
# port). 17 addresses: 1,000,000 learned even if 5 % of the first packets
# pass unseen.
FILL_DST=198.18.0.99 FILL_SRC=198.18.100.1 FILL_NSRC=17
FILL_PPS=50000		# dimed learns ~70k new untranslated flows/s here; stay below
FILL_CHUNK=50000
FILL_SENT=0 FILL_BASE=0 FILL_RATE=$FILL_PPS

bench_fill_setup() {
	local i
	ip -n "$LAB_NS_MH" link add fill0 type veth peer name fill1
	ip -n "$LAB_NS_MH" link set fill0 up
	ip -n "$LAB_NS_MH" link set fill1 up
	for ((i = 0; i < FILL_NSRC; i++)); do
		ip -n "$LAB_NS_MH" addr add "198.18.100.$((i + 1))/32" dev fill0
	done
}

bench_fill_reset() { FILL_SENT=0 FILL_BASE=$(bench_show mh flows) FILL_RATE=$FILL_PPS; }

# bench_fill N [BUDGET] : new fill flows (FILL_SENT on) in chunks, paced,
# until N are in MH's table. dimed's queue is fail-open, so when it falls
# behind, first packets pass unseen; and sending them again is no use: the
# ruleset queues a UDP flow's first packet only once in 30 s (udp_seen4).
# So a chunk that was not (almost) fully learned makes the next ones
# slower, and new flows make up for the lost ones. Stops after BUDGET
# seconds (default FILL_BUDGET). Sets FILLED (fill flows in the table: MH's
# flows minus FILL_BASE) and FILL_SECS; the log is $LOGS/fill.log.
bench_fill() {
	local n=$1 budget=${2:-$FILL_BUDGET} max=$((FILL_NSRC * 65535)) cnt want cur prev i t0
	t0=$(date +%s.%N)
	cur=$(($(bench_show mh flows) - FILL_BASE))
	while ((cur < n && FILL_SENT < max)); do
		cnt=$((n - cur))
		((cnt <= FILL_CHUNK)) || cnt=$FILL_CHUNK
		((FILL_SENT + cnt <= max)) || cnt=$((max - FILL_SENT))
		want=$((cur + cnt - cnt / 1000))	# 99.9 % of the chunk
		ip netns exec "$LAB_NS_MH" "$BIN/udp_fill" "$FILL_SRC" "$FILL_NSRC" "$FILL_DST" \
			"$FILL_SENT" "$cnt" "$FILL_RATE" >>"$LOGS/fill.log"
		prev=-1
		for ((i = 0; i < 40; i++)); do	# until the queue has drained
			cur=$(($(bench_show mh flows) - FILL_BASE))
			((cur != prev)) || break
			prev=$cur
			sleep 0.05
		done
		echo "chunk $FILL_SENT+$cnt at $FILL_RATE pps: $cur fill flows (wanted $want)" >>"$LOGS/fill.log"
		FILL_SENT=$((FILL_SENT + cnt))
		((cur >= want)) || FILL_RATE=$((FILL_RATE * 3 / 4))
		if awk -v t="$(lab_since "$t0")" -v b="$budget" 'BEGIN { exit !(t > b) }'; then
			log "fill: time budget (${budget}s) spent at $cur of $n"
			break
		fi
	done
	FILLED=$cur
	FILL_SECS=$(lab_since "$t0")
}
