#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Self-tests of the lab (lab.sh): topology, moves, rate limits, traffic
# helpers, and that cleanup leaves nothing behind -- also when a run is killed
# midway. No dimed involved. Prints one "ok"/"not ok" line per check (the
# inner run's, indented, first), the last line "N passed, N failed".
#
#   bash test/lab/selftest.sh
#
# The outer run starts two inner runs of this file (a full one, and one that is
# killed with SIGTERM while traffic flows) with a ledger of every namespace and
# PID they made, then checks that none of them is left.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=dime.sh
source "$HERE/dime.sh"
quiet() { "$@" >/dev/null; }

# ------------------------------------------------------------ inner run ---
inner() {
	lab_up
	local fam r ratio

	route_is() { # FAMILY DEV SRC
		local r
		r=$(lab_mh ip -"$1" route get "$(lab_ch_addr "$1")")
		[[ $r == *" dev $2 "* && $r == *" src $3 "* ]] || { echo "  # route: $r" >&2; return 1; }
	}
	tcp_connect() { # FAMILY : a TCP connect MH -> CH from the current address
		local fam=$1 port ch pid rc=0
		port=$(lab_port) ch=$(lab_ch_addr "$fam")
		lab_bg ip netns exec "$LAB_NS_CH" timeout 5 socat -u "TCP$fam-LISTEN:$port,bind=$(lab_bracket "$ch")" OPEN:/dev/null
		pid=$LAB_BG_PID
		lab_wait_listen "$LAB_NS_CH" tcp "$port" || return 1
		echo hello | lab_mh timeout 5 socat -u STDIN "TCP$fam:$(lab_bracket "$ch"):$port,bind=$(lab_bracket "$(lab_addr "$fam")"),connect-timeout=2" || rc=$?
		lab_wait "$pid" || rc=$?
		return "$rc"
	}
	ping_ok() { lab_mh ping -"$1" -c 1 -W 2 "$(lab_ch_addr "$1")" >/dev/null; }

	# Start state: A only.
	for fam in 4 6; do
		check "v$fam start: MH -> CH via R1 (ping)" ping_ok "$fam"
		check "v$fam start: MH -> CH via R1 (tcp connect)" tcp_connect "$fam"
		check "v$fam start: route via $MH_A_DEV src $(lab_addr "$fam" A)" route_is "$fam" "$MH_A_DEV" "$(lab_addr "$fam" A)"
	done
	check "start: no address on $MH_B_DEV" test -z "$(lab_mh ip -br addr show dev "$MH_B_DEV" scope global | awk '{print $3}')"

	# Hard move A -> B.
	move_hard 0.2
	check "move_hard: lab_cur is B" test "$(lab_cur)" = B
	for fam in 4 6; do
		check "v$fam after move_hard: route via $MH_B_DEV src $(lab_addr "$fam" B)" route_is "$fam" "$MH_B_DEV" "$(lab_addr "$fam" B)"
		check "v$fam after move_hard: MH -> CH via R2 (ping)" ping_ok "$fam"
		check "v$fam after move_hard: MH -> CH via R2 (tcp connect)" tcp_connect "$fam"
		check "v$fam after move_hard: A address gone" test -z "$(lab_mh ip -"$fam" -br addr show dev "$MH_A_DEV" scope global | awk '{print $3}')"
	done
	# Source address validation: old source out of the new link is dropped at R2.
	check "v4 SAV: source A via link B dropped" bash -c "! ip netns exec $LAB_NS_MH ping -c1 -W1 -I $MH_B_DEV $CH4 >/dev/null 2>&1 || true"

	# move_back, then soft move A -> B.
	move_back
	check "move_back: lab_cur is A" test "$(lab_cur)" = A
	for fam in 4 6; do
		check "v$fam after move_back: route via $MH_A_DEV" route_is "$fam" "$MH_A_DEV" "$(lab_addr "$fam" A)"
	done
	lab_bg move_soft 1
	sleep 0.3
	for fam in 4 6; do
		check "v$fam during move_soft: new connections use B" route_is "$fam" "$MH_B_DEV" "$(lab_addr "$fam" B)"
		check "v$fam during move_soft: A address still there" test -n "$(lab_mh ip -"$fam" -br addr show dev "$MH_A_DEV" scope global | awk '{print $3}')"
	done
	lab_wait "$LAB_BG_PID"
	for fam in 4 6; do
		check "v$fam after move_soft: route via $MH_B_DEV src $(lab_addr "$fam" B)" route_is "$fam" "$MH_B_DEV" "$(lab_addr "$fam" B)"
		check "v$fam after move_soft: A address gone" test -z "$(lab_mh ip -"$fam" -br addr show dev "$MH_A_DEV" scope global | awk '{print $3}')"
		check "v$fam after move_soft: tcp connect" tcp_connect "$fam"
	done
	move_back

	# mh_offline: nothing, then A again.
	lab_bg mh_offline 0.5
	sleep 0.2
	check "mh_offline: no global address" test -z "$(lab_mh ip -br addr show scope global | awk '{print $3}')"
	lab_wait "$LAB_BG_PID"
	check "mh_offline: back on A" route_is 4 "$MH_A_DEV" "$MH_A4"

	# Traffic helpers, no move: everything survives, intact.
	for fam in 4 6; do
		r=$(tcp_transfer "$fam" 1 "tcp$fam") || true
		check "v$fam tcp_transfer survives without a move" test "$(lab_result "tcp$fam" survived)" = yes
		check "v$fam tcp_transfer: bytes at CH > 0, 0.5 s intervals" test "$(lab_result "tcp$fam" bytes_recv)" -gt 0 -a \
			"$(lab_result "tcp$fam" tx_intervals | tr ',' '\n' | wc -l)" -ge 2
		r=$(udp_flow "$fam" 1 5M "udp$fam") || true
		check "v$fam udp_flow survives, ~5 Mbit/s arrive" bash -c "[[ $(lab_result "udp$fam" survived) == yes ]] && (( $(lab_result "udp$fam" bytes_recv) > 400000 ))"
		r=$(udp_stream "$fam" 1 "udps$fam") || true
		check "v$fam udp_stream survives" test "$(lab_result "udps$fam" survived)" = yes
		r=$(stream_check "$fam" 3000000 "st$fam") || true
		check "v$fam stream_check: 3000000 bytes intact" bash -c "[[ $(lab_result "st$fam" sha_match) == yes && $(lab_result "st$fam" bytes_recv) == 3000000 ]]"
	done
	: "$r"

	# Rate limit: ask for 20 Mbit/s on A, loose ratio check against iperf3.
	link_rate A 20mbit
	tcp_transfer 4 2 rate >/dev/null || true
	ratio=$(awk -v b="$(lab_result rate bytes_recv)" 'BEGIN { printf "%.2f", b * 8 / 2 / 20e6 }')
	note "20mbit tbf: received/asked = $ratio"
	check "link_rate A 20mbit: goodput within 0.6..1.15 of the rate ($ratio)" \
		awk -v r="$ratio" 'BEGIN { exit !(r >= 0.6 && r <= 1.15) }'
	link_rate A off
	check "link_rate off: qdisc gone" bash -c "! tc -n $LAB_NS_MH qdisc show dev $MH_A_DEV | grep -q tbf"

	# Firewall: allows the test ports, conntrack on, loose off.
	lab_firewall on
	check "firewall: tcp_transfer still works" quiet tcp_transfer 4 1 fw
	check "firewall: nf_conntrack_tcp_loose=0 in MH" test "$(lab_mh sysctl -n net.netfilter.nf_conntrack_tcp_loose)" = 0
	check "firewall: conntrack saw the flow in CH" bash -c "ip netns exec $LAB_NS_CH conntrack -L -p tcp 2>/dev/null | grep -q $CH4"
	check "firewall: other ports refused" bash -c "! ip netns exec $LAB_NS_MH timeout 3 socat -u /dev/null TCP4:$CH4:22,connect-timeout=1 2>/dev/null"
	lab_firewall off
	check "rp_filter loose on MH (LAB_RP_FILTER=$LAB_RP_FILTER)" test "$(lab_mh sysctl -n net.ipv4.conf.all.rp_filter)" = "$LAB_RP_FILTER"

	# A move while traffic runs, helpers in the background.
	lab_bg lab_delayed 0.5 move_soft 0.5
	tcp_transfer 4 2 bgmove >/dev/null || true
	lab_wait "$LAB_BG_PID" || true
	check "move_soft in background while iperf3 runs: move done" test "$(lab_cur)" = B
	move_back

	tap_summary
}

# --------------------------------------------------------- killed run ---
killed() {
	lab_up
	echo ready >"$LAB_LEDGER.ready"
	tcp_transfer 4 30 long >/dev/null
}

# ------------------------------------------------------------ outer run ---
leftovers() { # LEDGER : namespaces or PIDs from it still there
	local kind x left=0
	while read -r kind x; do
		case "$kind" in
		ns) ip netns list | grep -qw "$x" && { echo "  # left: netns $x"; left=1; } ;;
		pid) kill -0 "$x" 2>/dev/null && [[ $(awk '{print $3}' /proc/"$x"/stat 2>/dev/null) != Z ]] && { echo "  # left: pid $x $(tr '\0' ' ' </proc/"$x"/cmdline 2>/dev/null)"; left=1; } ;;
		esac
	done <"$1"
	return "$left"
}

outer() {
	local ledger rc=0 pid i start
	start=$SECONDS
	preflight root ip tc nft iperf3 socat conntrack ping
	TMP_OUTER=$(mktemp -d "${TMPDIR:-/tmp}/dime-labtest.XXXXXX")
	trap 'rm -rf "$TMP_OUTER"' EXIT

	local tmp=$TMP_OUTER
	ledger=$tmp/full
	: >"$ledger"
	# Its own LAB_ID (lab.sh exported ours); its lines indented, as a subtest.
	LAB_ID='' LAB_LEDGER=$ledger bash "$HERE/selftest.sh" --inner | sed 's/^/    /' || rc=$?
	check "inner run passed" test "$rc" = 0
	check "inner run made namespaces and processes" bash -c "grep -q '^ns ' $ledger && grep -q '^pid ' $ledger"
	check "after a full run: no namespace or process left" leftovers "$ledger"

	ledger=$tmp/killed
	: >"$ledger"
	LAB_ID='' LAB_LEDGER=$ledger bash "$HERE/selftest.sh" --killed &
	pid=$!
	for ((i = 0; i < 100; i++)); do [[ -e $ledger.ready ]] && break; sleep 0.05; done
	sleep 1
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	check "killed run ended by the signal (status $rc)" test "$rc" != 0
	check "after a killed run: no namespace or process left" leftovers "$ledger"

	note "selftest: $((SECONDS - start)) s"
	tap_summary
}

case "${1:-}" in
--inner) inner ;;
--killed) killed ;;
*) outer ;;
esac
