#!/bin/bash
# The handoff demo: the DIME paper's testbed (Fig. 7) in network namespaces.
# A TCP transfer runs from the mobile host (MH) to the correspondent (CH)
# while MH loses its address on link A and gets a new one on link B
# (a hard handoff with a 1 s gap) — first without dimed, then with it.
#
#   MH ==A== R1 ---+
#    \             +-- switch -- CH
#     ===B== R2 ---+
#
# Usage: bash test/demo.sh [4|6]   (root; installs what is missing and builds)
set -euo pipefail
cd "$(dirname "$0")/.."
FAM=${1:-4}
[[ $FAM == 4 || $FAM == 6 ]] || { echo "usage: test/demo.sh [4|6]" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "test/demo.sh: needs root (network namespaces)" >&2; exit 1; }
bash test/setup-deps
[[ -f build/build.ninja ]] || meson setup build >/dev/null
meson compile -C build >/dev/null
DIMED=$PWD/build/src/dimed DIMECTL=$PWD/build/src/dimectl

source test/lab/dime.sh
lab_up
lab_firewall on 3463	# a stateful firewall on both hosts, IHMP's port open

say() { printf '\n== %s\n' "$*"; }
OLD=$(lab_addr "$FAM" A) NEW=$(lab_addr "$FAM" B) CH=$(lab_ch_addr "$FAM")

# run_case NAME WITH_DIMED: 8 s of iperf3, hard move 2.5 s in.
run_case() {
	local name=$1 with=$2 tp
	[[ $(lab_cur) == A ]] || move_back
	tcp_transfer "$FAM" 8 "$name" >/dev/null 2>&1 &
	tp=$!
	sleep 2.5
	move_hard 1	# no configuration, no commands: IHMP does the rest
	wait "$tp" || true
	printf '   bytes before the move: %s, after the move: %s, survived: %s\n' \
		"$(($(lab_result "$name" bytes_recv) - $(lab_result "$name" rx_after_move)))" \
		"$(lab_result "$name" rx_after_move)" "$(lab_result "$name" survived)"
}

say "IPv$FAM: MH $OLD -> $NEW, CH $CH; without dimed"
run_case plain no

say "IPv$FAM: the same with dimed on both hosts (zero configuration)"
dime_start mh
dime_start ch
run_case dime yes

say "CH's view of MH after the move (dimectl show hids): the new address is primary"
dime_ctl ch show hids
say "IHMP messages MH sent (dimectl -j stats)"
dime_ctl mh stats | sed -n '/^ihmp:/,/^  received:/p' | grep -v ': 0$'
[[ $(lab_result dime survived) == yes && $(lab_result plain survived) == no ]] &&
	say "demo: the connection died without dimed and survived with it" ||
	{ say "demo: unexpected outcome (see $LAB_DIR)"; LAB_KEEP=1; exit 1; }
