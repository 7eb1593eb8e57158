# shellcheck shell=bash
# shellcheck disable=SC2034 # variables set here are read by the sourcing script
# SPDX-License-Identifier: MIT
#
# bench/lib.sh -- what the benchmark scripts share: options and --help,
# paths, logging, and the lab with dimed on MH and CH (test/lab/dime.sh,
# which sources test/lab/lab.sh). A new benchmark starts like this:
#
#   #!/bin/bash
#   # SPDX-License-Identifier: MIT
#   #
#   # bench/NAME.sh -- what it measures; this comment is its --help.
#   #
#   #   bench/NAME.sh [--quick] [--help]
#   set -euo pipefail
#   BENCH_NAME=NAME
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_args "$@"                   # QUICK=1 with --quick
#   bench_need dimed nft python3      # root is always needed
#   bench_logs "$EVAL/logs-NAME"      # LOGS, emptied; daemons' logs go there
#   lab_up
#   bench_daemons start -l info       # dimed on MH and CH, answering
#   ... dime_ctl mh -j stats ...
#   bench_daemons stop
#
# Read: BENCH_NAME (log prefix, and the lab's LAB_ID is NAME<pid>), DIMED and
# DIMECTL (default build/src/dimed, dimectl next to it), and what
# test/lab/dime.sh reads (DIME_LOG, DIME_STAMP, ...).
# Set: ROOT (the repository), BENCH (bench/), OUT (bench/out), EVAL
#   (bench/out/eval: what bench/report.py reads), BIN (bench/out/bin: the
#   compiled helpers), PY (python3), QUICK (0/1), T_START.
#
#   bench_args "$@"        --quick, -h/--help (the script's header comment);
#                          any other word goes to the script's own
#                          bench_option WORD if it defines one (a non-zero
#                          return: unknown option, exit 2)
#   log TEXT / die TEXT    "[NAME  12.3s] TEXT" on stderr; die exits 1
#   bench_need WORD...     root, then each WORD as preflight takes it (a
#                          program, "dimed"); dies naming what is missing
#   bench_logs DIR         LOGS=DIR, emptied; DIME_LOG=$LOGS/dimed- (so the
#                          daemons log to $LOGS/dimed-HOST.log)
#   bench_cc NAME [CC-ARGS...]  bench/NAME.c built as $BIN/NAME unless newer
#   bench_daemons start [DIMED-ARGS...]   dime_start on MH and CH, or die
#   bench_daemons stop     dime_stop both; a bad exit is logged as a WARNING

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

log() { printf '[%s %5.1fs] %s\n' "$BENCH_NAME" "$(lab_since "$T_START")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

bench_args() {
	local a
	for a; do
		case "$a" in
		--quick) QUICK=1 ;;
		-h | --help) bench_help; exit 0 ;;
		*)
			if ! declare -F bench_option >/dev/null || ! bench_option "$a"; then
				echo "bench/$BENCH_NAME: unknown option '$a' (try --help)" >&2
				exit 2
			fi
			;;
		esac
	done
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

bench_cc() {
	local name=$1
	shift
	mkdir -p "$BIN"
	[[ $BIN/$name -nt $BENCH/$name.c ]] || cc -O2 -Wall -o "$BIN/$name" "$BENCH/$name.c" "$@"
}

bench_daemons() {
	local h
	case "$1" in
	start)
		shift
		for h in mh ch; do dime_start "$h" "$@" || die "$DIME_ERR"; done
		;;
	stop) dime_stop mh ch 2>/dev/null || log "WARNING: $DIME_ERR" ;;
	*) die "bench_daemons start|stop" ;;
	esac
}
