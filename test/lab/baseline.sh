#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Baseline: the lab reproduces the problem dime solves. With no mobility
# daemon, a TCP transfer (iperf3) and a UDP flow started on MH's address A
# stop at a hard handoff to B, for IPv4 and IPv6:
#   tcp  the iperf3 client fails and CH receives no byte after the move;
#   udp  the sender keeps sending (errors or a dead source), CH receives no
#        byte after the move.
# The same scenario functions (lab.sh: scenario_hard_move) run with dimed in
# an end-to-end test, which asserts survived=yes instead.
#
#   bash test/lab/baseline.sh
#
# Topology and helpers: see lab.sh.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=dime.sh
source "$HERE/dime.sh"

# Short enough to keep each case near 6 s: the client gives up after 2 s of
# unacknowledged data, the server gets 1 s to report.
LAB_SND_TIMEOUT_MS=2000
LAB_GRACE=1
start=$SECONDS
preflight root iperf3 socat nft
lab_up

val() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

for fam in 4 6; do
	for proto in tcp udp; do
		t=$SECONDS
		# In the background, so a signal is handled at once, not after the case.
		lab_bg scenario_hard_move "$fam" "$proto" 1 5 1.5 >"$LAB_DIR/line"
		lab_wait "$LAB_BG_PID" || true
		line=$(cat "$LAB_DIR/line")
		note "$line"
		what="v$fam $proto hard move, no daemon"
		if [[ $(val survived "$line") != no ]]; then
			tap_result 1 "$what: flow did not stop"
		elif ! (($(val bytes_recv "$line") > 0)); then
			tap_result 1 "$what: no bytes reached CH before the move either"
		elif [[ $(val rx_after_move "$line") != 0 ]]; then
			tap_result 1 "$what: CH received $(val rx_after_move "$line") bytes after the move"
		elif [[ $proto == tcp && -z $(val client_error "$line") ]]; then
			tap_result 1 "$what: iperf3 client reported no error"
		else
			tap_result 0 "$what: flow stops (CH got $(val bytes_recv "$line") bytes before, 0 after; $((SECONDS - t)) s)"
		fi
	done
done

note "baseline: $((SECONDS - start)) s"
tap_summary
