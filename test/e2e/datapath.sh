#!/bin/bash
# SPDX-License-Identifier: MIT
#
# datapath.sh -- end-to-end tests of dimed's datapath (StackTrans) in the
# network-namespace lab of test/lab/lab.sh (the DIME paper's Fig. 7):
#
#        MH ==wifi0== R1 --+
#         \                +-- bridge -- CH        MH moves from A (R1) to B (R2)
#          ==lte0=== R2 --+
#
# Each case builds its own lab (stateful nft firewall and conntrack on MH and
# CH), runs one dimed per host, moves MH and switches translation on by hand,
# in the order the daemons need until IHMP does it for them:
#   1. move MH (move_hard / move_soft): MH's dimed sees its old address go
#   2. CH:  dimectl map OLD_MH NEW_MH
#   3. MH:  dimectl map-local CH NEW_MH
# and asserts on what real programs see (iperf3, socat, python sockets), on
# `dimectl -j` and on nft/iptables state. Every case runs for IPv4 and IPv6:
#   1 TCP (iperf3) survives a hard move       6 new connection after a move is native,
#   2 TCP survives a soft move                  untranslated, translation counters still
#   3 UDP survives a hard move                7 kill -9 of MH's dimed: flows bypass; restart
#   4 socat stream, sha256 equal after move     leaves no duplicate rules; SIGTERM leaves nothing
#   5 a flow older than dimed survives        8 PMTU: MTU drop after the move, ICMP translated
#                                             9 odd packets (AF_PACKET) at both daemons
#                                            10 fragmented UDP, no conntrack at CH
#                                            11 kernel datapath refused: queue fallback
#                                            12 --no-rules: the administrator's table
#
# Output: "ok N - name" / "not ok N - name" (details as "# " lines), then
# "N passed, N failed". Exit status 0 only if nothing failed.
#
# Environment:
#   E2E_CASES     cases to run (default "1 2 3 4 5 6 7 8 9 10 11 12")
#   E2E_FAMILIES  address families (default "4 6")
#   E2E_JOBS      labs run at once (default 2)
#   E2E_SLOW      flows last this many times longer (default: 1 on an idle
#                 machine, more when building the lab shows it is loaded)
#   E2E_BUILD     meson build dir (default <repo>/build)
#   E2E_KEEP      1: keep the logs directory even when everything passed
#
# Needs root, iperf3, socat, nft, iptables/ip6tables (nft_compat, xt_NFQUEUE),
# python3 (standard library only) and a built dimed/dimectl.
set -euo pipefail

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_ROOT=$(cd "$E2E_HERE/../.." && pwd)
E2E_BUILD=${E2E_BUILD:-$E2E_ROOT/build}
DIMED=${DIMED:-$E2E_BUILD/src/dimed}
# shellcheck source=../lab/dime.sh
source "$E2E_ROOT/test/lab/dime.sh"
E2E_CASES=${E2E_CASES:-1 2 3 4 5 6 7 8 9 10 11 12}
E2E_FAMILIES=${E2E_FAMILIES:-4 6}
E2E_JOBS=${E2E_JOBS:-2}
E2E_PY=$LAB_PYTHON
E2E_PKT="$E2E_PY $E2E_HERE/e2e_pkt.py"
# Mappings here are made by hand (dimectl map / map-local): no signalling.
if [[ -z ${E2E_DIMED_ARGS+x} ]]; then
	E2E_DIMED_ARGS=''
	"$DIMED" --help 2>&1 | grep -q -- --no-ihmp && E2E_DIMED_ARGS=--no-ihmp
fi

declare -A E2E_TITLE=(
	[1]="TCP (iperf3) survives a hard move"
	[2]="TCP (iperf3) survives a soft move"
	[3]="UDP flow survives a hard move"
	[4]="socat stream across a hard move arrives intact (sha256)"
	[5]="flow opened before dimed started survives a hard move"
	[6]="new connection after a move is native and not translated"
	[7]="kill -9 of MH's dimed: bypass, clean restart, clean SIGTERM"
	[8]="path MTU drop after a move: ICMP translated, TCP continues"
	[9]="odd packets at daemons with translated flows"
	[10]="fragmented UDP of a translated flow, no conntrack: datagrams arrive whole"
	[11]="a kernel that cannot load the kernel datapath: dimed says so and translates itself"
	[12]="--no-rules: the administrator's table decides the datapath; a flow moves in it"
)

# ===================================================== inside one lab ===
# Everything below up to the runner runs in a case's subshell, after lab.sh
# has been sourced and lab_up has run.

# A case's log: "FAIL: ..." lines (each fails the case) and "# " notes.
E2E_FAILS=0
fail() { echo "FAIL: $*"; E2E_FAILS=$((E2E_FAILS + 1)); }

# flows_of mh|ch KEY=VALUE... : the host's flows (JSON objects, one a line)
# that match every KEY=VALUE. Plain grep: polled often, on busy machines.
flows_of() {
	local h=$1 kv k v out
	shift
	out=$(dime_ctl "$h" -j show flows | grep -o '{[^{}]*}' || true)
	for kv; do
		k=${kv%%=*} v=${kv#*=}
		v=${v//./\\.}
		out=$(grep -E "\"$k\":(\"$v\"|$v)[,}]" <<<"$out" || true)
	done
	[[ -z $out ]] || echo "$out"
}
# field JSON_OBJECT KEY : one value of a flat JSON object
field() { grep -o "\"$2\":\"\?[^,\"}]*" <<<"$1" | sed "s/^\"$2\":\"\?//"; }

# start_dimed mh|ch : start dimed there (logs: $E2E_OUT.HOST.log), wait until it answers.
# shellcheck disable=SC2086 # E2E_DIMED_ARGS: words
start_dimed() { dime_start "$1" $E2E_DIMED_ARGS || { fail "$DIME_ERR"; return 1; }; }
start_daemons() { start_dimed mh && start_dimed ch; }

# stop_dimed mh|ch : SIGTERM, wait for the exit; fails on a non-zero status.
stop_dimed() { dime_stop "$1" || fail "$DIME_ERR"; }

# manual_map FAMILY : after MH moved A -> B, switch translation on (CH, then MH).
manual_map() {
	local fam=$1 old new c i addrs
	old=$(lab_addr "$fam" A) new=$(lab_addr "$fam" B) c=$(lab_ch_addr "$fam")
	for ((i = 0; i < 60; i++)); do
		addrs=$(dime_ctl mh -j show | grep -o '"local_addresses":\[[^]]*\]' || true)
		[[ $addrs == *"\"$new\""* && $addrs != *"\"$old\""* ]] && break
		sleep 0.05
	done
	((i < 60)) || fail "MH's dimed never saw $old go and $new come (local_addresses: $addrs)"
	dime_ctl ch map "$old" "$new" || fail "CH: dimectl map $old $new"
	dime_ctl mh map-local "$c" "$new" || fail "MH: dimectl map-local $c $new"
}

# bg_tcp FAMILY SECS NAME : tcp_transfer in the background (FLOW_PID).
bg_tcp() { tcp_transfer "$1" "$2" "$3" >>"$E2E_OUT.flows.log" 2>&1 & FLOW_PID=$!; }

# T SECS : a flow's duration, scaled on slow machines (E2E_SLOW).
T() { echo $(($1 * E2E_SLOW)); }

# flow_alive WHAT : the background flow must still run once translation is on,
# or the case proves nothing.
flow_alive() {
	kill -0 "$FLOW_PID" 2>/dev/null ||
		fail "$1 ended before the move and mapping were done (machine too slow? E2E_SLOW=$E2E_SLOW, try more)"
}

# wait_flow FAMILY PROTO : until MH's dimed knows a PROTO flow to CH (the flow
# runs), then a little more so that data flows; a loaded machine can take
# seconds to start a flow, and a move before that tests nothing.
count_flows() { flows_of mh proto="$2" remote="$(lab_ch_addr "$1")" | grep -c . || true; }
wait_flow() {	# FAMILY PROTO [MORE_THAN=0]
	local i
	for ((i = 0; i < 100; i++)); do
		(($(count_flows "$1" "$2") > ${3:-0})) && { sleep 0.5; return 0; }
		sleep 0.1
	done
	fail "no $2 flow to $(lab_ch_addr "$1") at MH's dimed after 10 s"
	return 1
}

# res_line NAME : a helper's result without the per-interval lists.
res_line() {
	[[ -f $LAB_DIR/$1.res ]] || { echo "no result file: the traffic helper died"; return 0; }
	grep -v '_intervals=' "$LAB_DIR/$1.res" | tr '\n' ' '
}

# expect_survived NAME WHAT : survived=yes and bytes arrived after the last event.
expect_survived() {
	local s r
	s=$(lab_result "$1" survived 2>/dev/null || true)
	r=$(lab_result "$1" rx_after_move 2>/dev/null || true)
	if [[ $s == yes && ${r:-0} =~ ^[0-9]+$ && ${r:-0} -gt 0 ]]; then
		note "$2: $(res_line "$1")"
	else
		fail "$2: $(res_line "$1")"
		grep '_intervals=' "$LAB_DIR/$1.res" 2>/dev/null | sed 's/^/  /' || true
	fi
}

# expect_gt A B WHAT
expect_gt() { [[ $1 =~ ^[0-9]+$ ]] && (($1 > $2)) || fail "$3: $1 (expected > $2)"; }

# xlate_counters mh|ch : "in4=P out4=P in6=P out6=P" packet counters of the set rules.
xlate_counters() {
	ip netns exec "$(dime_ns "$1")" nft list table inet dimed |
		sed -n 's/.*@\([a-z]*[46]\) counter packets \([0-9]*\) .*/\1=\2/p' | sort | tr '\n' ' '
}

# rule_counts mh|ch : nft dimed tables, then the xt dimed rules per table/chain, e.g. "1 1 1 1 1 1 1".
rule_counts() {
	local ns t c out
	ns=$(dime_ns "$1")
	out=$(ip netns exec "$ns" nft list tables | grep -c '^table inet dimed$' || true)
	for t in iptables ip6tables; do
		for c in "raw PREROUTING" "mangle PREROUTING" "mangle OUTPUT"; do
			set -- $c
			out+=" $(ip netns exec "$ns" "$t" -w -t "$1" -S "$2" 2>/dev/null | grep -c -- '--comment dimed' || true)"
		done
	done
	echo "$out"
}

on_lo() { ip -n "$(dime_ns "$1")" -o addr show dev lo | awk '{print $4}' | sort | tr '\n' ' '; }

# ----------------------------------------------------------- cases ---

# tcp_across_move FAMILY hard|soft [WHAT] : with the daemons running, an
# iperf3 TCP flow (200 Mbit/s links) across a move of MH, mapped by hand;
# it must survive ("iperf3 TCP across a KIND moveWHAT").
tcp_across_move() {
	local fam=$1 kind=$2
	link_rate A 200mbit
	link_rate B 200mbit
	bg_tcp "$fam" "$(T 8)" tcp
	wait_flow "$fam" tcp
	"move_$kind" 1
	manual_map "$fam"
	flow_alive "iperf3"
	wait "$FLOW_PID" || true
	expect_survived tcp "iperf3 TCP across a $kind move${3:-}"
}

move_case() {	# FAMILY hard|soft
	local fam=$1 kind=$2
	start_daemons
	tcp_across_move "$fam" "$kind"
	expect_gt "$(dime_translated mh out)" 0 "MH translated_out"
	expect_gt "$(dime_translated ch in)" 0 "CH translated_in"
}
case_1() { move_case "$1" hard; }
case_2() { move_case "$1" soft; }

case_3() {
	local fam=$1
	start_daemons
	udp_stream "$fam" "$(T 6)" udp >>"$E2E_OUT.flows.log" 2>&1 &
	FLOW_PID=$!
	wait_flow "$fam" udp
	move_hard 0.5
	manual_map "$fam"
	flow_alive "the UDP stream"
	wait "$FLOW_PID" || true
	expect_survived udp "UDP (connected sender, socat receiver) across a hard move"
	expect_gt "$(dime_translated ch in)" 0 "CH translated_in"
}

case_4() {
	local fam=$1 bytes=40000000
	link_rate A 100mbit
	link_rate B 100mbit
	start_daemons
	stream_check "$fam" "$bytes" stream $((30 * E2E_SLOW)) >>"$E2E_OUT.flows.log" 2>&1 &
	FLOW_PID=$!
	wait_flow "$fam" tcp
	# A short gap: socat's receiver gives up after 5 s without data, and TCP
	# retransmits 1.4, 3 and 6.2 s after the loss.
	move_hard 0.5
	manual_map "$fam"
	flow_alive "the socat stream"
	wait "$FLOW_PID" || true
	if [[ $(lab_result stream sha_match) == yes && $(lab_result stream survived) == yes &&
		$(lab_result stream bytes_recv) == "$bytes" ]]; then
		note "stream: $(res_line stream)"
	else
		fail "stream: $(res_line stream)"
	fi
	# The move must have happened while the stream ran: data went through translation.
	expect_gt "$(dime_translated mh out)" 0 "MH translated_out (move during the stream)"
}

case_5() {
	local fam=$1 c f i
	c=$(lab_ch_addr "$fam")
	link_rate A 200mbit
	link_rate B 200mbit
	bg_tcp "$fam" "$(T 9)" tcp
	for ((i = 0; i < 100; i++)); do
		(($(ip netns exec "$LAB_NS_MH" ss -Htn state established dst "$(lab_bracket "$c")" | wc -l) >= 2)) && break
		sleep 0.05
	done
	((i < 100)) || fail "iperf3's connections did not come up within 5 s"
	sleep 0.3
	start_daemons
	for h in mh ch; do
		if [[ $h == mh ]]; then f=$(flows_of mh proto=tcp remote="$c")
		else f=$(flows_of ch proto=tcp local="$c"); fi
		if [[ -z $f ]]; then
			fail "$h: dimed did not learn the running iperf3 connections: $(dime_ctl "$h" -j show flows)"
		elif grep -q '"preexisting":false' <<<"$f"; then
			fail "$h: a connection older than dimed is not marked preexisting: $f"
		else
			note "$h learned: $(tr '\n' ';' <<<"$f")"
		fi
	done
	move_hard 0.5
	manual_map "$fam"
	flow_alive "iperf3"
	wait "$FLOW_PID" || true
	expect_survived tcp "iperf3 TCP opened before dimed, across a hard move"
}

case_6() {
	local fam=$1 c new before_mh before_ch after_mh after_ch port spid cpid crc=0 f src i got
	c=$(lab_ch_addr "$fam") new=$(lab_addr "$fam" B)
	link_rate A 200mbit
	link_rate B 200mbit
	start_daemons
	tcp_transfer "$fam" "$(T 6)" old >>"$E2E_OUT.flows.log" 2>&1 &
	FLOW_PID=$!
	wait_flow "$fam" tcp
	move_hard 0.5
	manual_map "$fam"
	wait "$FLOW_PID" || true
	expect_survived old "the translated flow before the new connection"
	src=$(ip -n "$LAB_NS_MH" -"$fam" route get "$c" | sed -n 's/.* src \([^ ]*\).*/\1/p')
	[[ $src == "$new" ]] || fail "MH's route to CH picks source '$src', expected $new"
	sleep 0.5
	before_mh=$(xlate_counters mh) before_ch=$(xlate_counters ch)
	# A new connection without -B: the kernel chooses the source.
	port=$(lab_port)
	lab_bg ip netns exec "$LAB_NS_CH" timeout -k 2 15 iperf3 -s -1 -B "$c" -p "$port" -J \
		--logfile "$LAB_DIR/new.server.json"
	spid=$LAB_BG_PID
	lab_wait_listen "$LAB_NS_CH" tcp "$port"
	lab_bg ip netns exec "$LAB_NS_MH" timeout -k 2 12 iperf3 -c "$c" -p "$port" -t 3 -J \
		--connect-timeout 3000 --logfile "$LAB_DIR/new.client.json"
	cpid=$LAB_BG_PID
	sleep 1.5
	f=$(flows_of mh proto=tcp rport="$port")
	note "MH flows to the new port: $(tr '\n' ';' <<<"$f")"
	[[ -n $f ]] || fail "MH's dimed does not know the new connection"
	[[ -z $(flows_of mh proto=tcp rport="$port" | grep -v -e "\"local\":\"$new\"" -e '"translated":false') ]] &&
		[[ -z $(flows_of mh proto=tcp rport="$port" translated=true) ]] &&
		[[ -n $(flows_of mh proto=tcp rport="$port" local="$new" translated=false) ]] ||
		fail "MH: new connection not native ($new) and untranslated: $f"
	f=$(flows_of ch proto=tcp lport="$port")
	note "CH flows of the new port: $(tr '\n' ';' <<<"$f")"
	[[ -n $f ]] || fail "CH's dimed does not know the new connection"
	[[ -z $(flows_of ch proto=tcp lport="$port" translated=true) ]] &&
		[[ -n $(flows_of ch proto=tcp lport="$port" remote="$new" translated=false) ]] ||
		fail "CH: new connection not native ($new) and untranslated: $f"
	lab_wait "$cpid" || crc=$?
	lab_wait "$spid" || true
	got=$($E2E_PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bytes"])' \
		"$LAB_DIR/new.client.json" 2>/dev/null || echo 0)
	((crc == 0)) && expect_gt "$got" 0 "bytes of the new connection" ||
		fail "new connection: iperf3 client exit $crc, $(head -c 300 "$LAB_DIR/new.client.json")"
	after_mh=$(xlate_counters mh) after_ch=$(xlate_counters ch)
	note "set rule counters MH: $before_mh -> $after_mh; CH: $before_ch -> $after_ch"
	[[ $before_mh == "$after_mh" ]] || fail "MH: translation rules matched the new connection: $before_mh -> $after_mh"
	[[ $before_ch == "$after_ch" ]] || fail "CH: translation rules matched the new connection: $before_ch -> $after_ch"
	[[ -n $before_mh && -n $before_ch ]] || fail "no set rule counters found in table inet dimed"
}

case_7() {
	local fam=$1 h r old i
	old=$(lab_addr "$fam" A)
	link_rate A 200mbit
	link_rate B 200mbit
	start_daemons
	note "rules at start: MH $(rule_counts mh), CH $(rule_counts ch)"
	bg_tcp "$fam" "$(T 6)" tcp
	wait_flow "$fam" tcp
	kill -KILL "$(dime_pid mh)"
	wait "$(dime_pid mh)" 2>/dev/null || true
	lab_stamp "kill9 mh"
	# Left behind by the kill: the rules (queue-bypass makes them harmless).
	note "rules after kill -9: MH $(rule_counts mh)"
	# A new connection now meets the queue rule with nobody listening.
	tcp_transfer "$fam" 2 newconn >>"$E2E_OUT.flows.log" 2>&1 || true
	if [[ $(lab_result newconn survived) == yes && $(lab_result newconn bytes_recv) -gt 0 ]]; then
		note "new connection while MH's dimed is dead: $(res_line newconn)"
	else
		fail "new TCP connection while MH's dimed is dead (queue bypass): $(res_line newconn)"
	fi
	wait "$FLOW_PID" || true
	expect_survived tcp "untranslated TCP across kill -9 of MH's dimed"

	start_dimed mh || return 1
	r=$(rule_counts mh)
	[[ $r == "1 1 1 1 1 1 1" ]] || fail "after restart MH has dimed tables/xt rules '$r' (want one table, one rule per chain: 1 1 1 1 1 1 1)"
	note "rules after restart: MH $r"

	# The restarted daemon still works, and holds MH's old address on lo.
	i=$(count_flows "$fam" tcp)
	bg_tcp "$fam" "$(T 7)" tcp2
	wait_flow "$fam" tcp "$i"
	move_hard 0.5
	manual_map "$fam"
	flow_alive "iperf3 (restarted dimed)"
	sleep 0.5
	note "lo while translating: $(on_lo mh)"
	[[ " $(on_lo mh)" == *" $old/"* ]] || fail "MH does not hold $old on lo while a flow uses it"
	wait "$FLOW_PID" || true
	expect_survived tcp2 "TCP with the restarted dimed across a hard move"

	for h in mh ch; do stop_dimed "$h"; done
	for h in mh ch; do
		r=$(rule_counts "$h")
		[[ $r == "0 0 0 0 0 0 0" ]] || fail "$h after SIGTERM: dimed tables/xt rules left: $r"
		r=$(on_lo "$h")
		[[ $r == "127.0.0.1/8 ::1/128 " ]] || fail "$h after SIGTERM: addresses on lo: $r"
		ip netns exec "$(dime_ns "$h")" iptables -w -t raw -S | grep -q dimed && fail "$h: iptables raw: dimed left"
	done
	true
}

case_8() {
	local fam=$1 i t0 t1
	link_rate A 200mbit
	link_rate B 200mbit
	start_daemons
	bg_tcp "$fam" "$(T 11)" tcp
	wait_flow "$fam" tcp
	move_hard 0.5
	manual_map "$fam"
	flow_alive "iperf3"
	# Wait until translated data flows again, then shrink R2's link toward CH.
	t0=$(dime_translated mh out)
	for ((i = 0; i < 70; i++)); do
		sleep 0.1
		t1=$(dime_translated mh out)
		((t1 > t0 + 50)) && break
	done
	((i < 70)) || note "translated traffic did not resume within 7 s of the mapping"
	ip -n "$LAB_NS_R2" link set "$SW_DEV" mtu 1280
	lab_stamp "mtu 1280 on R2 $SW_DEV"
	wait "$FLOW_PID" || true
	expect_survived tcp "iperf3 TCP after the path MTU dropped to 1280 (bytes after the drop)"
	expect_gt "$(dime_stat mh datapath.icmp_errors_translated)" 0 "MH icmp_errors_translated"
	note "MH route cache: $(ip -n "$LAB_NS_MH" -"$fam" route get "$(lab_ch_addr "$fam")" from "$(lab_addr "$fam" A)" 2>&1 | tr '\n' ' ')"
}

# inject_at mh|ch PROTO KIND... : odd frames from R2 toward that host, using
# the locator tuple of one of its translated PROTO flows.
inject_at() {
	local h=$1 proto=$2 f lport rport lloc rloc dev dmac tdev
	shift 2
	f=$(flows_of "$h" proto="$proto" translated=true | sed -n 1p)
	[[ -n $f ]] || { fail "$h has no translated $proto flow to aim at: $(dime_ctl "$h" -j show flows)"; return 0; }
	lport=$(field "$f" lport) rport=$(field "$f" rport)
	lloc=$(field "$f" local_locator) rloc=$(field "$f" remote_locator)
	if [[ $h == ch ]]; then dev=$SW_DEV tdev=$SW_DEV; else dev=$R_MH_DEV tdev=$MH_B_DEV; fi
	dmac=$(ip netns exec "$(dime_ns "$h")" cat "/sys/class/net/$tdev/address")
	note "inject at $h ($proto $rloc:$rport -> $lloc:$lport): $(ip netns exec "$LAB_NS_R2" $E2E_PKT inject \
		"$dev" "$dmac" "$FAM" "$rloc" "$lloc" "$rport" "$lport" "$proto" "$@" | tr '\n' ' ')"
}

case_9() {
	local fam=$1 c a_old a_new port h pk_mh pk_ch mal_mh mal_ch rx big
	FAM=$fam
	c=$(lab_ch_addr "$fam") a_old=$(lab_addr "$fam" A) a_new=$(lab_addr "$fam" B)
	link_rate A 100mbit
	link_rate B 100mbit
	start_daemons
	port=$(lab_port)
	# Both UDP ends run until the lab is torn down.
	lab_bg ip netns exec "$LAB_NS_CH" $E2E_PKT udp-recv "$fam" "$c" "$port" 600 "$LAB_DIR/udp.rx"
	lab_wait_listen "$LAB_NS_CH" udp "$port"
	lab_bg ip netns exec "$LAB_NS_MH" $E2E_PKT udp-send "$fam" "$a_old" "$c" "$port" 600
	bg_tcp "$fam" "$(T 10)" tcp
	wait_flow "$fam" tcp
	move_hard 0.5
	manual_map "$fam"
	flow_alive "iperf3"
	sleep 1.5
	pk_mh=$(dime_stat mh datapath.packets) pk_ch=$(dime_stat ch datapath.packets)
	mal_mh=$(dime_stat mh drops_and_rejects.malformed) mal_ch=$(dime_stat ch drops_and_rejects.malformed)
	for h in ch mh; do
		if ((fam == 4)); then
			inject_at "$h" tcp tcp-trunc bad-ihl bad-ipopt bad-totlen icmp-odd-quotes
		else
			inject_at "$h" tcp tcp-trunc bad-plen unknown-ext dstopt-unknown hbh-not-first icmp-odd-quotes
		fi
		inject_at "$h" udp nonfirst-frag first-frag-only udp-zero-csum large oversize too-big-reasm icmp-odd-quotes
	done
	sleep 0.5
	for h in mh ch; do
		dime_alive "$h" || fail "dimed on $h died: $(tail -n 5 "$(dime_log "$h")" | tr '\n' ' ')"
		dime_ctl "$h" stats >/dev/null || fail "dimectl stats on $h does not answer"
	done
	note "MH packets $pk_mh -> $(dime_stat mh datapath.packets), malformed $mal_mh -> $(dime_stat mh drops_and_rejects.malformed)"
	note "CH packets $pk_ch -> $(dime_stat ch datapath.packets), malformed $mal_ch -> $(dime_stat ch drops_and_rejects.malformed)"
	if [[ $(dime_ctl mh -j show | dime_json datapath) == queue ]]; then
		expect_gt "$(dime_stat mh drops_and_rejects.malformed)" "$mal_mh" "MH malformed counter after odd packets"
		expect_gt "$(dime_stat ch drops_and_rejects.malformed)" "$mal_ch" "CH malformed counter after odd packets"
	else	# the kernel rewrites the settled flows' packets: no odd one reaches dimed
		note "kernel datapath: MH fast rules $(dime_translated mh out) out, CH $(dime_translated ch in) in"
	fi
	expect_gt "$(dime_stat mh datapath.packets)" "$((pk_mh + 10))" "MH queued packets after odd packets"
	expect_gt "$(dime_stat ch datapath.packets)" "$((pk_ch + 10))" "CH queued packets after odd packets"
	wait "$FLOW_PID" || true
	expect_survived tcp "iperf3 TCP while odd packets were injected"
	# What CH's UDP socket got: translated (from MH's identifier) where valid.
	rx=$LAB_DIR/udp.rx
	big=$((fam == 4 ? 64972 : 64952))
	grep -q "^$a_old $big LARGEDGM" "$rx" ||
		fail "65000-byte datagram (reassembled, then translated) not delivered from $a_old: $(grep -v tick "$rx" | head -n 5 | tr '\n' ';')"
	# Longer than NFQUEUE can copy (65531 bytes): dimed cannot rewrite it, but
	# it must not reach the socket from the locator either (drop it instead).
	grep -q "^$a_new .* OVERSIZE" "$rx" &&
		fail "datagram longer than the queue copy range delivered UNTRANSLATED (from locator $a_new): $(grep OVERSIZE "$rx")"
	if ((fam == 4)); then
		grep -q "^$a_old 8 ZEROCSUM" "$rx" ||
			fail "IPv4 UDP datagram with zero checksum not delivered (translated) from $a_old: $(grep -v tick "$rx" | head -n 5 | tr '\n' ';')"
	else
		grep -q ZEROCSUM "$rx" && fail "IPv6 UDP datagram with zero checksum was delivered (must be dropped): $(grep ZEROCSUM "$rx")"
	fi
	grep -q "^$a_old .* tick" "$rx" || fail "UDP flow: nothing from $a_old at CH"
	note "CH UDP socket got $(grep -c tick "$rx") ticks; others: $(grep -v tick "$rx" | tr '\n' ';')"
	true
}

# Without conntrack nothing reassembles a datagram before dimed's hook: the
# later fragments of a translated flow's datagrams (no ports) must be
# translated like their first, or none of them reassembles at CH.
case_10() {
	local fam=$1 c a_old port n0 n1 i
	c=$(lab_ch_addr "$fam") a_old=$(lab_addr "$fam" A)
	lab_firewall off
	start_daemons
	if ip netns exec "$LAB_NS_CH" nft list ruleset | grep -qw 'ct'; then
		fail "CH's ruleset uses conntrack: the case needs a host without it"
	fi
	port=$(lab_port)
	lab_bg ip netns exec "$LAB_NS_CH" $E2E_PKT udp-recv "$fam" "$c" "$port" 600 "$LAB_DIR/udp.rx"
	lab_wait_listen "$LAB_NS_CH" udp "$port"
	lab_bg ip netns exec "$LAB_NS_MH" $E2E_PKT udp-send "$fam" "$a_old" "$c" "$port" 600 4000
	wait_flow "$fam" udp
	move_hard 0.5
	manual_map "$fam"
	# Whole 4000-byte datagrams from MH's identifier, after the mapping.
	n0=$(grep -c "^$a_old 4000 " "$LAB_DIR/udp.rx" || true)
	for ((i = 0; i < 40; i++)); do
		sleep 0.1
		n1=$(grep -c "^$a_old 4000 " "$LAB_DIR/udp.rx" || true)
		((n1 > n0 + 20)) && break
	done
	note "4000-byte datagrams at CH: $n0 before the mapping, $n1 after 4 s at most; CH translated_in $(dime_translated ch in)"
	expect_gt "$((n1 - n0))" 20 "whole fragmented datagrams after the move"
	expect_gt "$(dime_stat ch datapath.translated_in)" 0 "CH dimed's translated_in (the later fragments)"
}

# A kernel without what nft/dimed-fast.nft needs (payload mangling, maps
# of that shape): nft(8) refuses it. Here an nft(8) in front of the real one
# refuses any input that names the kernel datapath's maps, as such a kernel
# would; dimed, asked for the kernel datapath, must fall back to the queue,
# say so, and translate.
case_11() {
	local fam=$1 h w=$LAB_DIR/nft-wrap
	mkdir -p "$w"
	cat >"$w/nft" <<-EOF
		#!/bin/bash
		in=\$(mktemp)
		trap 'rm -f "\$in"' EXIT
		cat >"\$in"
		if grep -q fast_out4_dst "\$in"; then
			echo "Error: Could not process rule: Operation not supported" >&2
			exit 1
		fi
		$(command -v nft) "\$@" <"\$in"
	EOF
	chmod +x "$w/nft"
	for h in mh ch; do
		PATH=$w:$PATH DIME_DATAPATH='' dime_start "$h" --datapath kernel || { fail "$DIME_ERR"; return; }
		[[ $(dime_ctl "$h" -j show | dime_json datapath) == queue ]] ||
			fail "$h: dimectl show says datapath $(dime_ctl "$h" -j show | dime_json datapath), not queue"
		grep -q 'datapath: queue: the kernel datapath does not load' "$(dime_log "$h")" ||
			fail "$h: no log line about the fallback: $(dime_log_tail "$h")"
	done
	tcp_across_move "$fam" hard ", translated by the daemons"
	expect_gt "$(dime_stat mh datapath.translated_out)" 0 "MH dimed's own translated_out"
	expect_gt "$(dime_stat ch datapath.translated_in)" 0 "CH dimed's own translated_in"
}

# --no-rules (docs/packaging.md): the administrator loads the ruleset and
# its table decides the datapath. A table of an older nft/dimed-fast.nft
# (its *_only_* maps missing) gives the queue, not a kernel datapath whose
# elements would fail; this tree's table gives what DIME_DATAPATH asks
# (kernel, or queue), and a flow moves on it.
admin_table() {	# NS old|new
	if [[ $2 == old ]]; then
		dime_admin_table "$1" <(grep -v '_only_' "$E2E_ROOT/nft/dimed-fast.nft")
	else
		dime_admin_table "$1"
	fi
}
case_12() {
	local fam=$1 h dp want=${DIME_DATAPATH:-kernel}
	for h in mh ch; do dime_admin_xt "$(dime_ns "$h")" -I; done
	if [[ $want == kernel ]]; then
		admin_table "$LAB_NS_MH" old || { fail "nft refused the older table"; return; }
		DIME_DATAPATH='' dime_start mh --no-rules --datapath kernel $E2E_DIMED_ARGS || { fail "$DIME_ERR"; return; }
		dp=$(dime_ctl mh -j show | dime_json datapath)
		[[ $dp == queue ]] || fail "a table without the *_only_* maps: datapath $dp, not queue"
		stop_dimed mh
		ip netns exec "$LAB_NS_MH" nft list table inet dimed >/dev/null 2>&1 ||
			fail "dimed --no-rules removed the administrator's table"
		ip netns exec "$LAB_NS_MH" nft delete table inet dimed
	fi
	for h in mh ch; do
		admin_table "$(dime_ns "$h")" new || { fail "$h: nft refused nft/dimed.nft + dimed-fast.nft"; return; }
		DIME_DATAPATH='' dime_start "$h" --no-rules --datapath "$want" $E2E_DIMED_ARGS || { fail "$DIME_ERR"; return; }
		dp=$(dime_ctl "$h" -j show | dime_json datapath)
		[[ $dp == "$want" ]] || fail "$h: the administrator's table, --datapath $want: datapath $dp"
	done
	tcp_across_move "$fam" hard ", in the administrator's table"
	if [[ $want == kernel ]]; then
		expect_gt "$(dime_fast_rewrites mh out)" 0 "packets MH's kernel rules rewrote"
		expect_gt "$(dime_fast_rewrites ch in)" 0 "packets CH's kernel rules rewrote"
	else
		expect_gt "$(dime_stat mh datapath.translated_out)" 0 "MH dimed's own translated_out"
	fi
}

# ============================================================ runner ===

# run_one CASE FAMILY OUTBASE : one case in its own lab; status 0 = pass.
run_one() {
	(
		LAB_ID="e2e$$-$1-$2"
		LAB_DIR=''
		E2E_OUT=$3 DIME_LOG=$3.
		# iperf3 gives up after this much unacknowledged data: a hard move
		# resumes on TCP's retransmission backoff (about 1.4, 3 or 6 s after the
		# loss), and a loaded machine must not turn a late mapping into a failure.
		export LAB_SND_TIMEOUT_MS=${LAB_SND_TIMEOUT_MS:-8000}
		# shellcheck source=../lab/lab.sh
		source "$E2E_ROOT/test/lab/lab.sh"
		# A full trace, so that a case stopped by set -e says where.
		exec {BASH_XTRACEFD}>"$3.trace"
		PS4='+ ${EPOCHREALTIME#*????} ${FUNCNAME[0]:-main}:$LINENO: '
		set -x
		t0=${EPOCHREALTIME/./}
		lab_up
		lab_firewall on
		# Flows last E2E_SLOW times longer on a machine that builds a lab
		# slowly (about 3 s when idle); default: guessed from that time.
		if [[ -z ${E2E_SLOW:-} ]]; then
			E2E_SLOW=$(((${EPOCHREALTIME/./} - t0) / 4000000 + 1))
			((E2E_SLOW <= 4)) || E2E_SLOW=4
		fi
		note "lab built in $(((${EPOCHREALTIME/./} - t0) / 1000)) ms, E2E_SLOW=$E2E_SLOW"
		"case_$1" "$2"
		((E2E_FAILS == 0))
	) >"$3.log" 2>&1
}

e2e_descendants() { local c; for c in $(pgrep -P "$1" 2>/dev/null || true); do echo "$c"; e2e_descendants "$c"; done; }

# Ctrl-C / SIGTERM: every case subshell gets SIGTERM and tears its lab down.
e2e_abort() {
	local p
	trap - INT TERM
	for p in $(e2e_descendants $$); do kill -TERM "$p" 2>/dev/null || true; done
	wait || true
	echo "# interrupted"
	exit 130
}

main() {
	local items=() wpids=() i n=0 w out rc c f p alive
	preflight root dimed ip nft iptables ip6tables iperf3 socat timeout flock sha256sum
	$E2E_PY -c 'import socket; socket.AF_PACKET' 2>/dev/null || preflight_fail "python3 with AF_PACKET"
	out=$(mktemp -d "${TMPDIR:-/tmp}/dime-e2e.XXXXXX")
	for c in $E2E_CASES; do for f in $E2E_FAMILIES; do items+=("$c:$f"); done; done
	# Workers take every E2E_JOBS-th item; each writes OUT/N.rc when a case is done.
	for ((w = 0; w < E2E_JOBS; w++)); do
		(
			for ((i = w; i < ${#items[@]}; i += E2E_JOBS)); do
				c=${items[i]%:*} f=${items[i]#*:} rc=0
				# Not in a condition: set -e must stay in force inside the case.
				t=$SECONDS
				run_one "$c" "$f" "$out/$((i + 1))" &
				wait $! || rc=$?
				echo "$c.$f:$((SECONDS - t))s" >"$out/$((i + 1)).time"
				if ((rc != 0)) && ! grep -q '^FAIL' "$out/$((i + 1)).log"; then
					{
						echo "FAIL: case stopped with status $rc; last commands traced:"
						awk '/ lab_cleanup:/ { exit } { print }' "$out/$((i + 1)).trace" |
							tail -n 12 | sed 's/^/  /'
					} >>"$out/$((i + 1)).log"
				fi
				echo "$rc" >"$out/$((i + 1)).rc"
			done
		) &
		wpids+=($!)
	done
	trap e2e_abort INT TERM
	for ((i = 0; i < ${#items[@]}; i++)); do
		n=$((i + 1)) c=${items[i]%:*} f=${items[i]#*:}
		while [[ ! -f $out/$n.rc ]]; do
			alive=0
			for p in "${wpids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
			if ((!alive)) && [[ ! -f $out/$n.rc ]]; then
				echo "FAIL: the worker running this case died" >>"$out/$n.log"
				echo 99 >"$out/$n.rc"
			fi
			sleep 0.2
		done
		rc=$(cat "$out/$n.rc")
		tap_result "$rc" "$c.$f IPv$f: ${E2E_TITLE[$c]}"
		if ((rc != 0)); then
			grep -E '^(FAIL|  )|(lab|dime)\] error' "$out/$n.log" | head -n 20 | sed 's/^/# /' || true
			echo "# log: $out/$n.log (dimed: $out/$n.mh.log, $out/$n.ch.log)"
		fi
	done
	wait
	echo "# case times: $(cat "$out"/*.time | sort -V | tr '\n' ' ')(total ${SECONDS}s, $E2E_JOBS at once)"
	if ((TAP_FAIL == 0)) && [[ ${E2E_KEEP:-0} != 1 ]]; then rm -rf "$out"; else echo "# logs kept in $out"; fi
	tap_summary
}

[[ ${E2E_SOURCE_ONLY:-0} == 1 ]] || main "$@"
