#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ihmp.sh -- end-to-end tests of IHMP signalling (docs/ihmp.md §5) in the lab of
# test/lab/lab.sh (the DIME paper's Fig. 7):
#
#        MH ==wifi0== R1 --+
#         \                +-- bridge -- CH (198.18.0.10 / 2001:db8::10,
#          ==lte0=== R2 --+                  may move to .11 / ::11)
#
# Zero configuration: both hosts run plain `dimed -f --ctl SOCK` (and
# --state-dir DIR, each its own: dime_start; no map commands); conntrack and
# a stateful firewall are on (lab_firewall on 3463).
# One lab per address family (the families run side by side); every test
# starts from MH on link A, CH on its first address, freshly started daemons.
#
#   soft        TCP (iperf3) + UDP survive a soft handoff, handed off when
#               the route moves (before the old address goes)   } + timings:
#   hard5       ... a hard handoff with a 5 s gap; MH restarts the
#               stalled TCP sender at once (tcp_kicked or tcp_probed) } peer table
#   persist     a bulk TCP sender whose route goes before its address waits
#               on its persist timer (nothing in flight); MH's dimed gives
#               it CH's last ACK after the handoff, and it resumes long
#               before that timer (datapath.tcp_probed)
#   download    CH's bulk sender to MH (iperf3 -R) is in retransmission
#               backoff after MH's hard handoff; CH's dimed restarts it
#               (its ISN from its SYN-ACK), long before its timer
#   back        ... a hard handoff (1 s gap), then back to A     } update, resume
#   offline     ... MH has no address at all for 3 s
#   chmove      ... CH moves (new address added, old removed), MH stays
#   both        ... MH moves, then CH moves
#   inflight    a TCP and a UDP probe survive a hard move ~30 ms after their
#               first packets (the HELLO they caused is in flight)
#   inflight-lost ... CH's answers are lost until MH has moved: CH cannot
#               prove the HELLO's source, so it binds nothing to it and
#               refuses the HANDOFF (docs/ihmp.md T2); MH's applications
#               are told, a new connection works
#   stream      a socat stream across a hard move arrives intact (sha256)
#   renumber    30 hard handoffs on link A in a row (fresh addresses)
#   straggler   a late segment from MH's previous address reaches CH, then
#               MH moves again: no flow learned from it, the stream intact
#   conns1000   1,000 TCP connections: one move = one HANDOFF and one ACK per
#               family (nft counters on the wire and `stats -j`); all echo after
#   nodime      CH without dimed: flows untouched, at most 4 HELLOs at CH,
#               MH records the HELLO's timeout
#   garble      garbled datagrams at CH's IHMP port: daemon up, `show hids`
#               unchanged, rejected counters up, the flow goes on
#   restart-mh  MH hands off (its flows translated at both ends), then MH's
#               dimed is killed (SIGKILL) and started again 1 s later, under
#               a socat stream and a UDP stream: the stream intact (sha256),
#               not one TCP RST at either end (nft counters at the wire),
#               both streams move again within 1 s of the restarted
#               dimed answering (its own start, 0.3-0.8 s, reported)
#   restart-ch  ... CH's dimed killed and started again
#   restart-move ... CH's dimed killed, then MH hands off while it is down
#   state-file  MH's state file restored as written; then corrupt, then
#               CH's (another host key): a clean start, one log line each
#
# Output: "ok N - name" / "not ok N - name" with "# " details and
# "# metric NAME VALUE" lines (timings, never asserted), then
# "N passed, N failed". Exit status 0 only if nothing failed.
#
# Environment:
#   DIMED, DIMECTL   binaries (default <repo>/build/src/dimed, dimectl)
#   IHMP_TESTS       tests to run (default: all, in the order above)
#   IHMP_FAMILIES    address families (default "4 6")
#   IHMP_JOBS        labs at once (default 2: the families side by side)
#   IHMP_KEEP        1: keep the output directory (logs) even on success
#   IHMP_UNPRIV      1: both dimeds as the packaged unit runs them, nobody
#                    with CAP_NET_ADMIN only (dime_unprivileged); meson's
#                    e2e-ihmp-capnetadmin runs the TCP restart cases so
#
# Needs root, iperf3, socat, nft, iptables, python3 (standard library only).
set -euo pipefail

IHMP_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IHMP_ROOT=$(cd "$IHMP_HERE/../.." && pwd)
# shellcheck source=../lab/dime.sh
source "$IHMP_ROOT/test/lab/dime.sh"
IHMP_TESTS=${IHMP_TESTS:-soft hard5 persist download back offline chmove both inflight inflight-lost stream renumber straggler conns1000 nodime garble restart-mh restart-ch restart-move state-file}
IHMP_FAMILIES=${IHMP_FAMILIES:-4 6}
IHMP_JOBS=${IHMP_JOBS:-2}
IHMP_PORT=3463			# dimed's default IHMP port (include/ihmp_wire.h)
IHMP_HELLO_MAX=4		# HELLOs to a silent peer per backoff period (IHMP_TRIES)
IHMP_PY=$LAB_PYTHON
TOOL=("$IHMP_PY" "$IHMP_HERE/ihmp_tool.py")
CH_ALT4=198.18.0.11 CH_ALT6=2001:db8::11

declare -A IHMP_TITLE=(
	[soft]="TCP and UDP survive a soft handoff"
	[hard5]="TCP and UDP survive a hard handoff with a 5 s gap"
	[persist]="a TCP sender on its persist timer resumes right after a hard handoff"
	[download]="CH's TCP sender in backoff resumes right after MH's hard handoff"
	[back]="TCP and UDP survive a hard handoff with a 1 s gap and MH moving back to A"
	[renumber]="30 hard handoffs in a row, each to a fresh address: every one applied, CH's sets bounded, a stream intact"
	[offline]="TCP and UDP survive MH without any address for 3 s"
	[chmove]="TCP and UDP survive CH moving while MH stays"
	[both]="TCP and UDP survive MH moving, then CH moving"
	[inflight]="TCP and UDP survive a hard move right after their first packets (HELLO in flight)"
	[inflight-lost]="a hard move before CH could prove the HELLO's source: nothing bound to the old address, MH told, new connections work"
	[stream]="socat stream across a hard move arrives intact (sha256)"
	[straggler]="a late segment from MH's previous address does not become a flow at CH, and the next move keeps the stream intact"
	[conns1000]="1000 connections, one hard move: one HANDOFF and one ACK per family, all still echo"
	[nodime]="peer without dimed: flows untouched, at most $IHMP_HELLO_MAX HELLOs, HELLO timed out"
	[garble]="garbled datagrams at CH's IHMP port: no crash, no state change, counted, flow goes on"
	[restart-mh]="kill -9 and restart of MH's dimed under translated TCP and UDP: bytes intact, no RST, flows move within 1 s"
	[restart-ch]="kill -9 and restart of CH's dimed under translated TCP and UDP: bytes intact, no RST, flows move within 1 s"
	[restart-move]="MH hands off while CH's dimed is down: bytes intact, no RST, flows move within 1 s of CH's restart"
	[state-file]="the state file restored as written; a corrupt one and another host's: a clean start, one log line each"
)

# ================================================== inside one family ===
# Runs in the family's shell after lab.sh is sourced and lab_up has run; each
# test body runs in a subshell of its own (set -e, output to its log).

# A test's log: "FAIL: ..." (fails it), "# " notes, "metric NAME VALUE".
fail() { echo "FAIL: $*"; }
metric() { echo "metric ihmp.v$FAM.$1 $2"; }
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.3f", a - b }'; }
# event_time NAME : time of the last "$LAB_DIR/events" line starting with NAME
event_time() { awk -v n="$1" 'index($0, n) == 1 { t = $NF } END { print t }' "$LAB_DIR/events"; }
tdiff() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "none" || b == "none") print "none"; else printf "%.3f", a - b }'; }

# --- daemons (started and stopped by the family shell, so it can wait for
# them; logs: $DIME_LOG, set by run_test). Failures go into the test's log.
start_dimeds() {	# HOST... : start each, wait until it answers
	local h rc=0
	for h; do
		dime_start "$h" -l debug 2>/dev/null || { echo "FAIL: $DIME_ERR" >>"$IHMP_SETUP_LOG"; rc=1; continue; }
		[[ ${IHMP_UNPRIV:-0} != 1 ]] || grep -Eq '^Uid:\s+65534\s' "/proc/$(dime_pid "$h")/status" ||
			{ echo "FAIL: dimed on $h does not run as nobody (IHMP_UNPRIV=1)" >>"$IHMP_SETUP_LOG"; rc=1; }
	done
	return "$rc"
}
stop_dimeds() { dime_stop "$@" 2>/dev/null || echo "FAIL: $DIME_ERR" >>"$IHMP_SETUP_LOG"; }

# --- CH's second address (on the switch subnet: R1/R2 need nothing new)
ch_move() {	# to the alternative address: add the new one, then remove the old
	lab_stamp "ch_up alt"
	ip -n "$LAB_NS_CH" addr add "$CH_ALT4/$PLEN4" dev "$SW_DEV"
	ip -n "$LAB_NS_CH" addr add "$CH_ALT6/$PLEN6" dev "$SW_DEV" nodad
	ip -n "$LAB_NS_CH" addr del "$CH4/$PLEN4" dev "$SW_DEV"
	ip -n "$LAB_NS_CH" addr del "$CH6/$PLEN6" dev "$SW_DEV"
	echo alt >"$LAB_DIR/ch_at"
	lab_stamp "ch_down base"
}

ch_restore() {	# back to the lab's address (daemons stopped)
	[[ $(cat "$LAB_DIR/ch_at" 2>/dev/null || echo base) == alt ]] || return 0
	ip -n "$LAB_NS_CH" addr replace "$CH4/$PLEN4" dev "$SW_DEV"
	ip -n "$LAB_NS_CH" addr replace "$CH6/$PLEN6" dev "$SW_DEV" nodad
	ip -n "$LAB_NS_CH" addr del "$CH_ALT4/$PLEN4" dev "$SW_DEV" 2>/dev/null || true
	ip -n "$LAB_NS_CH" addr del "$CH_ALT6/$PLEN6" dev "$SW_DEV" 2>/dev/null || true
	# Routes to MH's subnets go through the switch subnet; put back any the
	# address juggling took with it.
	ip -n "$LAB_NS_CH" route replace "$SUBNET_A4" via "$R1_S4"
	ip -n "$LAB_NS_CH" route replace "$SUBNET_B4" via "$R2_S4"
	ip -n "$LAB_NS_CH" -6 route replace "$SUBNET_A6" via "$R1_S6"
	ip -n "$LAB_NS_CH" -6 route replace "$SUBNET_B6" via "$R2_S6"
	echo base >"$LAB_DIR/ch_at"
}

# --- nft helpers of this test (tables "ihmp_*", removed between tests)
nft_in() { ip netns exec "$(dime_ns "$1")" nft "${@:2}"; }
# nft_counter mh|ch TABLE COMMENT : packets of the counter rule with that comment
nft_counter() {
	nft_in "$1" list table inet "$2" | sed -n "s/.*counter packets \([0-9]*\) .*comment \"$3\".*/\1/p" | head -n1
}
drop_my_tables() {
	local h t
	for h in mh ch; do
		for t in ihmp_wire ihmp_drop ihmp_count ihmp_rst; do
			! nft_in "$h" list tables 2>/dev/null | grep -q " $t\$" || nft_in "$h" delete table inet "$t"
		done
	done
}

# Wire counters on MH: HANDOFFs (type 7) out, ACKs (type 9) in, per family.
wire_counters_mh() {
	nft_in mh -f - <<-EOF
		table inet ihmp_wire {
			chain out {
				type filter hook output priority -400; policy accept;
				meta nfproto ipv4 udp dport $IHMP_PORT @th,72,8 7 counter comment "handoff4"
				meta nfproto ipv6 udp dport $IHMP_PORT @th,72,8 7 counter comment "handoff6"
				udp dport $IHMP_PORT counter comment "out_all"
			}
			chain in {
				type filter hook prerouting priority -400; policy accept;
				meta nfproto ipv4 udp sport $IHMP_PORT @th,72,8 9 counter comment "ack4"
				meta nfproto ipv6 udp sport $IHMP_PORT @th,72,8 9 counter comment "ack6"
				udp sport $IHMP_PORT counter comment "in_all"
			}
		}
	EOF
}

# --- flows
FL_PIDS=()
# flows_start FAMILY SECS TAG [probe] : iperf3 TCP and udp_stream MH -> CH in
# the background (+ a 100-byte-per-10-ms TCP and UDP probe pair, whose
# receive times give the resume timings).
flows_start() {
	local fam=$1 secs=$2 tag=$3 p src dst port
	FL_FAM=$fam FL_TAG=$tag FL_PROBE=${4:-} FL_PIDS=()
	# Two labs share two cores with whatever else runs: rate-limited links
	# keep iperf3 from starving the daemons and the probes.
	link_rate A 200mbit
	link_rate B 200mbit
	if [[ -n $FL_PROBE ]]; then
		src=$(lab_addr "$fam") dst=$(lab_ch_addr "$fam")
		for p in tcp udp; do
			port=$(lab_port)
			lab_bg ip netns exec "$LAB_NS_CH" timeout -k 1 $((secs + 14)) \
				"${TOOL[@]}" probe-rx "$p" "$fam" "$dst" "$port" $((secs + 8)) "$LAB_DIR/$tag-probe-$p.rx"
			FL_PIDS+=("$LAB_BG_PID")
			wait_listen "$LAB_NS_CH" "$p" "$port"
			lab_bg ip netns exec "$LAB_NS_MH" timeout -k 1 $((secs + 10)) \
				"${TOOL[@]}" probe-tx "$p" "$fam" "$src" "$dst" "$port" $((secs + 2))
			FL_PIDS+=("$LAB_BG_PID")
		done
	fi
	tcp_transfer "$fam" "$secs" "$tag-tcp" >/dev/null 2>&1 &
	FL_PIDS+=($!)
	udp_stream "$fam" "$secs" "$tag-udp" >/dev/null 2>&1 &
	FL_PIDS+=($!)
}

# wait_listen NS PROTO PORT : a loaded machine gets 15 s to start a python
# listener.
wait_listen() { lab_wait_listen "$1" "$2" "$3" 15 || { fail "nothing listens on $2 port $3 in $1 after 15 s"; return 1; }; }

# flows_known TCP UDP [SETTLE=0.5] : until MH's dimed knows that many TCP and
# UDP flows to CH (a loaded machine can take a while to start them), then
# SETTLE s more so that data flows.
flows_known() {
	local i n
	for ((i = 0; i < 200; i++)); do
		n=$(dime_ctl mh -j show flows 2>/dev/null | "${TOOL[@]}" flows "$(lab_ch_addr "$FL_FAM")" 2>/dev/null || true)
		[[ $n =~ tcp=([0-9]+)\ udp=([0-9]+) ]] &&
			((BASH_REMATCH[1] >= $1 && BASH_REMATCH[2] >= $2)) && break
		sleep 0.05
	done
	((i < 200)) || fail "MH's dimed does not see the flows to CH after 10 s ($n)"
	sleep "${3:-0.5}"
}

res_line() {
	[[ -f $LAB_DIR/$1.res ]] || { echo "no result file: the traffic helper died"; return 0; }
	grep -v '_intervals=' "$LAB_DIR/$1.res" | grep -v '^t0=' | tr '\n' ' '
}

# expect_survived NAME WHAT : survived=yes and data arrived after the last event
expect_survived() {
	local s r
	s=$(lab_result "$1" survived 2>/dev/null || true)
	r=$(lab_result "$1" rx_after_move 2>/dev/null || true)
	if [[ $s == yes && ${r:-0} =~ ^[0-9]+$ && ${r:-0} -gt 0 ]]; then
		note "$2: bytes_recv=$(lab_result "$1" bytes_recv) rx_after_move=$r"
	else
		fail "$2: $(res_line "$1")"
		grep '^rx_intervals=' "$LAB_DIR/$1.res" 2>/dev/null | sed 's/^/  /' || true
	fi
}

flows_finish() {
	local p
	for p in "${FL_PIDS[@]}"; do lab_wait "$p" || true; done
	FL_PIDS=()
	expect_survived "$FL_TAG-tcp" "iperf3 TCP"
	expect_survived "$FL_TAG-udp" "UDP stream"
}

# watch_primary FAMILY : before a move, start polling CH's table for MH's
# address on B becoming primary, and log MH's address and route events.
watch_primary() {
	rm -f "$LAB_DIR/primary"
	lab_bg ip -n "$LAB_NS_MH" -ts monitor address route >"$LAB_DIR/mon" 2>&1
	MON_PID=$LAB_BG_PID
	lab_bg ip netns exec "$LAB_NS_CH" "${TOOL[@]}" primary-wait "$DIMECTL" "$(dime_sock ch)" \
		"$(lab_addr "$1" B)" 15 "$LAB_DIR/primary"
	WATCH_PID=$LAB_BG_PID
}

# timings KIND REF FROM TO : metrics (never asserted). REF is the lab event
# after which the new address is usable (hard_up, soft_up: address and
# default route in place), FROM..TO the window in which receive gaps count
# (hard_down..hard_up; soft_up..soft_down), plus 3 s.
timings() {
	local kind=$1 ref=$2 from=$3 to=$4 t_ref t_to t_add t_rt t_prim g p gw
	lab_wait "$WATCH_PID" || true
	kill "$MON_PID" 2>/dev/null || true
	t_ref=$(event_time "$ref") t_to=$(event_time "$to")
	t_prim=$(cat "$LAB_DIR/primary" 2>/dev/null || echo none)
	[[ $t_prim != none ]] || fail "CH's table never showed MH's new address $(lab_addr "$FAM" B) as the first active one"
	t_add=$("${TOOL[@]}" mon-time "$LAB_DIR/mon" "$(lab_addr "$FAM" B)")
	gw=$([[ $FAM == 4 ]] && echo "$R2_B4" || echo "$R2_B6")
	t_rt=$("${TOOL[@]}" mon-time "$LAB_DIR/mon" default via "$gw")
	metric "$kind.new_addr_added_to_peer_primary_s" "$(tdiff "$t_prim" "$t_add")"
	metric "$kind.new_route_added_to_peer_primary_s" "$(tdiff "$t_prim" "$t_rt")"
	metric "$kind.lab_event_${ref}_to_peer_primary_s" "$(tdiff "$t_prim" "$t_ref")"
	[[ $to == "$ref" ]] || metric "$kind.lab_event_${to}_to_peer_primary_s" "$(tdiff "$t_prim" "$t_to")"
	for p in tcp udp; do
		[[ -s $LAB_DIR/$FL_TAG-probe-$p.rx ]] || { note "$p probe: CH received nothing"; continue; }
		g=$("${TOOL[@]}" gaps "$LAB_DIR/events" "$LAB_DIR/$FL_TAG-probe-$p.rx" "$ref" "$from" "$to")
		[[ $g =~ first=([^ ]*)\ maxgap=(.*) ]] || continue
		if [[ $to == "$ref" ]]; then
			metric "$kind.new_route_added_to_${p}_data_s" "$(tdiff "$(awk -v a="${BASH_REMATCH[1]:-x}" -v b="$t_ref" 'BEGIN { if (a == "x") print "none"; else printf "%.6f", a + b }')" "$t_rt")"
			metric "$kind.lab_event_${ref}_to_${p}_data_s" "${BASH_REMATCH[1]:-none}"
		fi
		metric "$kind.${p}_longest_receive_gap_s" "${BASH_REMATCH[2]:-none}"
	done
}

# ------------------------------------------------------------- tests ---
# Each runs in a subshell; FAM is the family. MH is on A, CH on its first
# address, daemons fresh (both, unless the test table says otherwise).

t_soft() {
	local tp tu td
	flows_start "$FAM" 8 soft probe
	flows_known 3 2
	watch_primary "$FAM"
	move_soft 2
	flows_finish
	timings soft soft_up soft_up soft_down
	# The default route moved with soft_up, and the lab's routers drop
	# packets from the old address on the new link: the handoff must not
	# wait for the old address to go (docs/ihmp.md 5.5).
	# Event order, not a time limit: before the middle of the 2 s overlap
	# (soft_down is stamped after the old address is already gone).
	tp=$(cat "$LAB_DIR/primary" 2>/dev/null || echo none) tu=$(event_time soft_up) td=$(event_time soft_down)
	[[ $tp != none ]] && awk -v p="$tp" -v u="$tu" -v d="$td" 'BEGIN { exit !(p < (u + d) / 2) }' ||
		fail "CH made MH's new address primary only when the old one went (at $tp; new address up $tu, old gone $td)"
}

t_hard5() {
	# TCP resumes on its retransmission backoff (up to ~6 s after the loss
	# for a 5 s gap): iperf3 must not give up on its own before.
	export LAB_SND_TIMEOUT_MS=15000
	local k
	flows_start "$FAM" 11 hard5 probe
	flows_known 3 2
	watch_primary "$FAM"
	move_hard 5
	# The TCP sender sat out 5 s of backed-off retransmissions: MH's dimed
	# restarts it once the handoff is ACKed (RFC 6069, src/tcpkick.c).
	for ((k = 0; k < 40; k++)); do
		(($(dime_stat mh datapath.tcp_kicked) + $(dime_stat mh datapath.tcp_probed) > 0)) && break
		sleep 0.05
	done
	# In backoff, or on its persist timer if the address went before the
	# data in flight was acknowledged: either is restarted (kicked, probed).
	(($(dime_stat mh datapath.tcp_kicked) + $(dime_stat mh datapath.tcp_probed) > 0)) ||
		fail "MH's dimed restarted no stalled TCP sender after the handoff (stats datapath.tcp_kicked and tcp_probed = 0)"
	flows_finish
	timings hard_gap5 hard_up hard_down hard_up
}

# sender_watch HOST PEER COND SECS : tcp-watch on HOST's busiest socket to PEER
sender_watch() { "${TOOL[@]}" tcp-watch "$(dime_ns "$1")" "$2" "$3" "$4"; }
field() { [[ $1 =~ (^| )$2=([^ ]*) ]] && echo "${BASH_REMATCH[2]}"; }

# resumes_early HOST PEER WHAT : call right before the new address comes up:
# the sender's timer now, then (after lab_attach, in the background) when its
# bytes_acked moves; fails unless that is within half the time its own timer
# had left. Sets RESUME_PID; resume_check finishes.
resumes_early() {
	RS_HOST=$1 RS_PEER=$2 RS_WHAT=$3
	RS_BEFORE=$(sender_watch "$1" "$2" "backoff>=0" 1) || true
	( sender_watch "$1" "$2" "acked>$(field "$RS_BEFORE" acked)" 10 >"$LAB_DIR/resume" ) &
	RESUME_PID=$!
}
resume_check() {
	local after left took
	wait "$RESUME_PID" || true
	after=$(cat "$LAB_DIR/resume")
	left=$(field "$RS_BEFORE" left)
	took=$(awk -v a="$(field "$after" t)" -v b="$(field "$RS_BEFORE" t)" 'BEGIN { printf "%.3f", a - b }')
	note "$RS_WHAT: before the new address: $RS_BEFORE; resumed: $after"
	metric "$FL_TAG.sender_resumed_s" "$took"
	metric "$FL_TAG.lab_event_hard_up_to_sender_resumed_s" "$(tdiff "$(field "$after" t)" "$(event_time hard_up)")"
	[[ $after == *acked=* && ! $after == *"no socket"* ]] && awk -v t="$took" -v l="$left" 'BEGIN { exit !(t < l / 2) }' ||
		fail "$RS_WHAT resumed $took s after the new address came, its own $(field "$RS_BEFORE" timer) timer had $left s left: nothing restarted it"
}

# bulk_start TAG : one iperf3 TCP transfer at link rate (LAB_IPERF_REVERSE
# picks the direction), known to MH's dimed
bulk_start() {
	export LAB_SND_TIMEOUT_MS=15000
	FL_FAM=$FAM FL_TAG=$1 FL_PIDS=()
	link_rate A 200mbit
	link_rate B 200mbit
	tcp_transfer "$FAM" 12 "$1-tcp" >/dev/null 2>&1 &
	FL_PIDS+=($!)
	flows_known 1 0
}

# bulk_handoff HOST PEER WHAT : once HOST's sender to PEER has backed off a
# few times (about 1.4 s, for a wide margin), link B comes up; the sender
# must resume early (resumes_early)
bulk_handoff() {
	sender_watch "$1" "$2" "backoff>=3" 6 >/dev/null || true
	resumes_early "$1" "$2" "$3"
	lab_attach B
	echo B >"$LAB_DIR/cur"
	lab_stamp "hard_up B"
	resume_check
}

bulk_finish() {
	local p
	for p in "${FL_PIDS[@]}"; do lab_wait "$p" || true; done
	expect_survived "$FL_TAG-tcp" "$1"
}

t_persist() {
	local st
	bulk_start persist
	# The route first: the ACKs of what is in flight still arrive, nothing
	# new can leave, and the sender ends up with nothing in flight. (IPv4's
	# reverse-path filter would drop those ACKs without a route: off here.)
	[[ $FAM == 6 ]] || lab_sysctl "$LAB_NS_MH" net.ipv4.conf.all.rp_filter=0 "net.ipv4.conf.$MH_A_DEV.rp_filter=0"
	ip -n "$LAB_NS_MH" "-$FAM" route del default dev "$MH_A_DEV"
	st=$(sender_watch mh "$(lab_ch_addr "$FAM")" timer=persist 3) ||
		fail "the sender never waited on its persist timer with its route gone: $st"
	lab_detach A
	echo none >"$LAB_DIR/cur"
	[[ $FAM == 6 ]] || lab_sysctl "$LAB_NS_MH" net.ipv4.conf.all.rp_filter="$LAB_RP_FILTER" \
		"net.ipv4.conf.$MH_A_DEV.rp_filter=$LAB_RP_FILTER"
	bulk_handoff mh "$(lab_ch_addr "$FAM")" "MH's sender (persist timer)"
	(($(dime_stat mh datapath.tcp_probed) > 0)) || fail "MH's dimed restarted no sender on its persist timer (stats datapath.tcp_probed = 0)"
	bulk_finish "iperf3 TCP"
}

t_download() {
	export LAB_IPERF_REVERSE=1
	bulk_start download
	lab_detach A
	echo none >"$LAB_DIR/cur"
	bulk_handoff ch "$(lab_addr "$FAM" A)" "CH's sender (retransmission timer)"
	(($(dime_stat ch datapath.tcp_kicked) + $(dime_stat ch datapath.tcp_probed) > 0)) ||
		fail "CH's dimed restarted no TCP sender (stats datapath.tcp_kicked and tcp_probed = 0)"
	bulk_finish "iperf3 TCP (reverse)"
}

t_back() {
	export LAB_SND_TIMEOUT_MS=8000
	flows_start "$FAM" 10 back probe
	flows_known 3 2
	watch_primary "$FAM"
	move_hard 1
	sleep 1.5
	move_back
	flows_finish
	timings hard_gap1 hard_up hard_down hard_up
}

t_offline() {
	export LAB_SND_TIMEOUT_MS=15000
	flows_start "$FAM" 13 offline
	flows_known 2 1
	mh_offline 3
	flows_finish
}

t_chmove() {
	flows_start "$FAM" 8 chmove
	flows_known 2 1
	ch_move
	flows_finish
	note "CH's table after: $(dime_ctl ch -j show hids | "${TOOL[@]}" hids)"
	note "MH's table after: $(dime_ctl mh -j show hids | "${TOOL[@]}" hids)"
}

t_both() {
	export LAB_SND_TIMEOUT_MS=8000
	flows_start "$FAM" 11 both
	flows_known 2 1
	move_hard 1
	sleep 1.5
	ch_move
	flows_finish
	note "MH's table after: $(dime_ctl mh -j show hids | "${TOOL[@]}" hids)"
}

# hello_order : from MH's log, whether the first HELLO was answered before
# MH's old address went
hello_order() {
	awk '/IHMP: sent HELLO/ && !h { h = NR } /IHMP: got ACK/ && !a { a = NR }
	     /local address .* down/ && !d { d = NR }
	     END { printf "HELLO sent: %s; its first ACK: %s", h ? "yes" : "no",
	           !a ? "never" : (!d || a < d) ? "before the old address went" : "after the old address went" }' "$IHMP_LOG_MH"
}

# inflight_probes TAG SECS : a TCP and a UDP probe from one process; returns
# as soon as both have sent their first bytes (the HELLO is then in flight).
inflight_probes() {
	local tag=$1 secs=$2 p port src dst i
	FL_FAM=$FAM FL_TAG=$tag FL_PIDS=()
	src=$(lab_addr "$FAM") dst=$(lab_ch_addr "$FAM")
	declare -A ports
	for p in tcp udp; do
		ports[$p]=$(lab_port)
		lab_bg ip netns exec "$LAB_NS_CH" timeout -k 1 $((secs + 14)) \
			"${TOOL[@]}" probe-rx "$p" "$FAM" "$dst" "${ports[$p]}" $((secs + 8)) "$LAB_DIR/$tag-probe-$p.rx"
		FL_PIDS+=("$LAB_BG_PID")
		wait_listen "$LAB_NS_CH" "$p" "${ports[$p]}"
	done
	rm -f "$LAB_DIR/$tag.started"
	lab_bg ip netns exec "$LAB_NS_MH" timeout -k 1 $((secs + 10)) \
		"${TOOL[@]}" probe-tx2 "$FAM" "$src" "$dst" "${ports[tcp]}" "${ports[udp]}" "$secs" "$LAB_DIR/$tag.started"
	PROBE_TX=$LAB_BG_PID
	for ((i = 0; i < 3000; i++)); do
		[[ -f $LAB_DIR/$tag.started ]] && return 0
		sleep 0.005
	done
	fail "the probes did not start"
	return 1
}

# inflight_finish EVENT : the probes sent without error and CH got data
# from both after EVENT.
inflight_finish() {
	local rc=0 p g
	lab_wait "$PROBE_TX" || rc=$?
	for p in "${FL_PIDS[@]}"; do lab_wait "$p" || true; done
	((rc == 0)) || fail "TCP probe: a send failed (connection dead), status $rc"
	for p in tcp udp; do
		g=$("${TOOL[@]}" gaps "$LAB_DIR/events" "$LAB_DIR/$FL_TAG-probe-$p.rx" "$1" hard_down "$1")
		if [[ $g =~ first=([0-9.]+) ]]; then
			note "$p probe: $(wc -l <"$LAB_DIR/$FL_TAG-probe-$p.rx") receives at CH, first $(sed 's/first=//; s/ maxgap=/ s after the new address, longest gap /' <<<"$g") s"
		else
			fail "$p probe: nothing reached CH after the move ($(wc -l <"$LAB_DIR/$FL_TAG-probe-$p.rx" 2>/dev/null || echo 0) receives in all; $g)"
		fi
	done
}

t_inflight() {
	inflight_probes inflight 6
	sleep 0.03
	move_hard 1
	inflight_finish hard_up
	note "$(hello_order)"
	note "MH's table after: $(dime_ctl mh -j show hids | "${TOOL[@]}" hids)"
}

t_inflight_lost() {
	# CH's IHMP replies are lost on the way (dropped as they reach MH) until
	# MH has moved: CH's challenge to the HELLO's source never comes back,
	# so CH never learns that MH received at the old address. By
	# docs/ihmp.md T2 nobody may then speak for that address: CH binds
	# nothing to it and refuses MH's HANDOFF from the new one (a spoofer
	# could have sent that HELLO). What must hold instead: nothing is
	# bound, MH's applications are told (its HANDOFF times out and the
	# connection is aborted, not left hanging), and new connections from
	# the new address work at once.
	nft_in mh -f - <<-EOF
		table inet ihmp_drop {
			chain in {
				type filter hook prerouting priority -400; policy accept;
				udp sport $IHMP_PORT counter drop comment "lost"
			}
		}
	EOF
	inflight_probes inflight-lost 12
	sleep 0.05
	lab_bg move_hard 1
	sleep 0.1
	note "CH's IHMP datagrams lost before the move: $(nft_counter mh ihmp_drop lost)"
	nft_in mh delete table inet ihmp_drop
	lab_wait "$LAB_BG_PID"
	local rc=0 p old hids
	lab_wait "$PROBE_TX" || rc=$?
	for p in "${FL_PIDS[@]}"; do lab_wait "$p" || true; done
	((rc != 0)) || fail "MH's TCP probe never saw its connection aborted (it would hang)"
	old=$(lab_addr "$FAM" A)
	hids=$(dime_ctl ch -j show hids)
	[[ $("${TOOL[@]}" keyof "$old" <<<"$hids") == none ]] ||
		fail "CH bound a key to MH's old address $old: $(${TOOL[@]} hids <<<"$hids")"
	(($(dime_stat ch ihmp.rejected.unproven_sender) > 0)) || fail "CH did not refuse MH's HANDOFF as unproven"
	(($(dime_stat mh ihmp.timeouts) > 0)) || fail "MH's HANDOFF did not time out"
	stream_check "$FAM" 2000000 inflight-lost-new 20 >"$LAB_DIR/inflight-lost-new.out" 2>&1 ||
		fail "a new connection from MH's new address failed: $(tail -n 2 "$LAB_DIR/inflight-lost-new.out" | tr '\n' ' ')"
	note "MH: $(hello_order); HELLO sent=$(dime_stat mh ihmp.sent.HELLO) timeouts=$(dime_stat mh ihmp.timeouts); TCP probe status $rc"
	note "CH's table after: $(${TOOL[@]} hids <<<"$hids")"
}

t_stream() {
	local pid
	link_rate A 50mbit
	link_rate B 50mbit
	FL_FAM=$FAM
	# 40 MB at 50 Mbit/s: about 6.5 s, the move 1 s after the connection is up.
	stream_check "$FAM" 40000000 stream 40 >"$LAB_DIR/stream.out" 2>&1 &
	pid=$!
	flows_known 1 0 1
	move_hard 1
	lab_wait "$pid" || true
	stream_verdict stream
}

# primary_of HIDS-JSON ADDR: ADDR is the first active address of its family
# in the HID that holds it (where CH sends that peer's traffic).
primary_of() {
	python3 -c 'import json, sys
a = sys.argv[2]
for h in json.loads(sys.argv[1])["hids"]:
    fam = [x for x in h.get("active", []) if (":" in x) == (":" in a)]
    if a in fam:
        sys.exit(0 if fam[0] == a else 1)
sys.exit(1)' "$1" "$2"
}

# renumber_applied OLD4 OLD6 NEW4 NEW6 SECS : lab_renumber_a, then wait up to
# SECS for CH to make this family's new address MH's primary. CH_HIDS gets
# CH's last `show hids -j`; fails if the handoff was not applied in time.
renumber_applied() {
	local j want
	lab_renumber_a "$@"
	want=$([[ $FAM == 4 ]] && echo "$3" || echo "$4")
	for ((j = 0; j < $5 * 10; j++)); do
		CH_HIDS=$(dime_ctl ch -j show hids)
		primary_of "$CH_HIDS" "$want" && return 0
		sleep 0.1
	done
	return 1
}

# stream_verdict NAME : stream_check's NAME arrived intact (sha256) and both
# ends finished cleanly, or a failure with the sender's last words
stream_verdict() {
	if [[ $(lab_result "$1" sha_match 2>/dev/null) == yes && $(lab_result "$1" survived) == yes ]]; then
		note "stream: $(res_line "$1")"
	else
		fail "stream: $(res_line "$1") $(tail -n 2 "$LAB_DIR/$1.out" | tr '\n' ' ')"
	fi
}

# t_renumber: MH's address on link A is renumbered 30 times (the old one
# goes, a fresh one comes, both families) under a socat stream. Each
# handoff must be applied at CH (the fresh address primary in MH's HID)
# and CH's sets stay within 8 addresses each (docs/ihmp.md T4: the oldest
# unreachable address that no flow names makes room).
t_renumber() {
	local i cur4=$MH_A4 cur6=$MH_A6 new4 new6 pid n=0 over=0
	link_rate A 50mbit
	FL_FAM=$FAM
	stream_check "$FAM" 60000000 renumber 60 >"$LAB_DIR/renumber.out" 2>&1 &
	pid=$!
	flows_known 1 0 1
	for ((i = 1; i <= 30; i++)); do
		new4=198.18.1.$((100 + i)) new6=2001:db8:1::$((100 + i))
		if renumber_applied "$cur4" "$cur6" "$new4" "$new6" 4; then
			n=$((n + 1))
		else
			note "handoff $i to $new4 / $new6 not applied at CH: $CH_HIDS"
		fi
		python3 -c 'import json, sys
sys.exit(0 if all(len(h.get(k, [])) <= 8 for h in json.loads(sys.argv[1])["hids"]
                  for k in ("active", "unreachable", "local")) else 1)' "$CH_HIDS" || over=$((over + 1))
		cur4=$new4 cur6=$new6
	done
	lab_wait "$pid" || true
	note "handoffs applied at CH: $n of 30; CH's table after: $(${TOOL[@]} hids <<<"$CH_HIDS")"
	((n == 30)) || fail "only $n of 30 handoffs were applied"
	((over == 0)) || fail "CH's sets grew beyond 8 addresses $over times"
	stream_verdict renumber
	lab_renumber_a "$cur4" "$cur6" "$MH_A4" "$MH_A6"	# back to the lab's own
}

# stat0 HOST KEY : a counter, 0 if this dimed has none by that name
stat0() { local v; v=$(dime_stat "$1" "$2" 2>/dev/null) || true; [[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo 0; }

# t_straggler: MH renumbers link A twice under a socat stream; then a
# segment of the stream from its previous address reaches CH (sent from
# R1, as a late or forged packet would be), and MH renumbers once more. CH
# must not take that segment for a new flow: learned, it maps onto MH's HID
# and at the next move claims the stream's locators, and the RST its own
# segment draws resets the stream (seen in CI under renumber). The stream
# arrives intact; CH knows one flow to MH.
t_straggler() {
	local pid i j a4 a6 lport port old sts lrn loose
	# As on a stock host: conntrack picks up a mid-stream segment as a new
	# connection, the path by which such a segment reaches dimed's learning.
	# (The lab turns pickup off where the namespace lets it, test/lab/lab.sh.)
	loose=$(ip netns exec "$LAB_NS_CH" sysctl -n net.netfilter.nf_conntrack_tcp_loose)
	lab_sysctl "$LAB_NS_CH" net.netfilter.nf_conntrack_tcp_loose=1
	link_rate A 50mbit
	FL_FAM=$FAM
	stream_check "$FAM" 40000000 straggler 40 >"$LAB_DIR/straggler.out" 2>&1 &
	pid=$!
	flows_known 1 0 0.3
	a4=$MH_A4 a6=$MH_A6
	for i in 1 2 3; do
		if ((i == 3)); then
			read -r lport port < <(lab_mh ss -Htn state established dst "$(lab_bracket "$(lab_ch_addr "$FAM")")" |
				awk '{ n = split($3, l, ":"); m = split($4, r, ":"); print l[n], r[m]; exit }')
			[[ -n $lport ]] || { fail "no stream socket on MH"; break; }
			sts=$(stat0 ch datapath.stragglers_not_learned) lrn=$(stat0 ch datapath.flows_learned)
			ip netns exec "$LAB_NS_R1" "${TOOL[@]}" stale-seg "$FAM" "$old" "$(lab_ch_addr "$FAM")" "$lport" "$port"
			for ((j = 0; j < 20; j++)); do
				(($(stat0 ch datapath.stragglers_not_learned) > sts)) && break
				sleep 0.05
			done
			note "the straggler from $old port $lport at CH: stragglers_not_learned +$(($(stat0 ch datapath.stragglers_not_learned) - sts)), flows_learned +$(($(stat0 ch datapath.flows_learned) - lrn))"
		fi
		old=$([[ $FAM == 4 ]] && echo "$a4" || echo "$a6")
		renumber_applied "$a4" "$a6" "198.18.1.$((140 + i))" "2001:db8:1::$((140 + i))" 6 ||
			fail "handoff $i to 198.18.1.$((140 + i)) / 2001:db8:1::$((140 + i)) not applied at CH: $CH_HIDS"
		a4=198.18.1.$((140 + i)) a6=2001:db8:1::$((140 + i))
	done
	lab_wait "$pid" || true
	stream_verdict straggler
	lab_renumber_a "$a4" "$a6" "$MH_A4" "$MH_A6"
	lab_sysctl "$LAB_NS_CH" net.netfilter.nf_conntrack_tcp_loose="$loose"
}

t_conns1000() {
	local port dir src dst i r f n_ok want=1000 d
	port=$(lab_port)
	src=$(lab_addr "$FAM") dst=$(lab_ch_addr "$FAM")
	dir=$LAB_DIR/conns.$FAM
	mkdir -p "$dir"
	rm -f "$dir"/*
	lab_bg ip netns exec "$LAB_NS_CH" timeout -k 1 120 "${TOOL[@]}" echo-server "$FAM" "$dst" "$port" 110
	wait_listen "$LAB_NS_CH" tcp "$port"
	lab_bg ip netns exec "$LAB_NS_MH" timeout -k 1 120 "${TOOL[@]}" conns "$FAM" "$src" "$dst" "$port" "$want" "$dir"
	for ((i = 0; i < 1200; i++)); do [[ -f $dir/ready ]] && break; sleep 0.05; done
	[[ -f $dir/ready ]] || { fail "the $want connections were not up after 60 s"; return 0; }
	r=$(cat "$dir/ready")
	note "before the move: $r"
	[[ $r == *"connected=$want failed=0 before_ok=$want "* ]] || fail "not all $want connections echo before the move: $r"
	note "MH's flows to CH: $(dime_ctl mh -j show flows | "${TOOL[@]}" flows "$dst")"
	# Whatever the connections started (HELLO, PATH_PROBE) is over by now.
	sleep 0.5
	wire_counters_mh
	dime_ctl mh -j stats >"$LAB_DIR/mh.stats.0"
	dime_ctl ch -j stats >"$LAB_DIR/ch.stats.0"
	move_hard 1
	# Both families' HANDOFFs and their ACKs, then a little longer for strays.
	for ((i = 0; i < 100; i++)); do
		(($(nft_counter mh ihmp_wire ack4) >= 1 && $(nft_counter mh ihmp_wire ack6) >= 1)) && break
		sleep 0.05
	done
	sleep 1
	touch "$dir/go"
	for ((i = 0; i < 800; i++)); do [[ -f $dir/result ]] && break; sleep 0.05; done
	dime_ctl mh -j stats >"$LAB_DIR/mh.stats.1"
	dime_ctl ch -j stats >"$LAB_DIR/ch.stats.1"
	# One exchange per peer and family, however many connections: one
	# HANDOFF (a retransmission of that same HANDOFF, when a slow machine
	# lets its timer run out, is the same exchange and is reported) and one
	# ACK. 1000 exchanges, or even two, would fail.
	local rtx
	rtx=$("${TOOL[@]}" delta "$LAB_DIR/mh.stats.0" "$LAB_DIR/mh.stats.1" ihmp.retransmits)
	rtx=${rtx#*=}
	rtx=${rtx%% *}
	for f in 4 6; do
		n_ok=$(nft_counter mh ihmp_wire "handoff$f")
		d=$(nft_counter mh ihmp_wire "ack$f")
		note "on the wire at MH, IPv$f: HANDOFF out $n_ok, ACK in $d (retransmissions, all families: $rtx)"
		((n_ok >= 1 && n_ok <= 1 + rtx)) || fail "IPv$f: $n_ok HANDOFFs left MH (expected 1, plus at most $rtx retransmissions)"
		[[ $d == 1 ]] || fail "IPv$f: $d ACKs reached MH (expected exactly 1)"
	done
	note "IHMP datagrams at MH during the move: out $(nft_counter mh ihmp_wire out_all), in $(nft_counter mh ihmp_wire in_all)"
	d=$("${TOOL[@]}" delta "$LAB_DIR/mh.stats.0" "$LAB_DIR/mh.stats.1" ihmp.sent.HANDOFF ihmp.received.ACK \
		ihmp.sent.HANDOFF_UNREACHABLE ihmp.retransmits ihmp.timeouts ihmp.send_errors)
	note "MH stats delta: $d"
	local sent=${d#*ihmp.sent.HANDOFF=}
	sent=${sent%% *}
	((sent - rtx == 2)) || fail "MH's stats: HANDOFF exchanges (sent minus retransmissions) $((sent - rtx)), expected 2 (one per family): $d"
	[[ $d == *"ihmp.received.ACK=2 "* ]] || fail "MH's stats: ACKs received (one per family, 2 expected): $d"
	d=$("${TOOL[@]}" delta "$LAB_DIR/ch.stats.0" "$LAB_DIR/ch.stats.1" ihmp.received.HANDOFF ihmp.sent.ACK)
	note "CH stats delta: $d"
	local got=${d#ihmp.received.HANDOFF=}
	got=${got%% *}
	((got >= 2 && got <= 2 + rtx)) && [[ $d == *" ihmp.sent.ACK=2" ]] ||
		fail "CH's stats: $d (expected 2 HANDOFFs plus at most $rtx retransmissions, and 2 ACKs)"
	[[ -f $dir/result ]] || { fail "the connections' check after the move did not finish"; return 0; }
	r=$(cat "$dir/result")
	note "after the move: $r"
	[[ $r == *"after_ok=$want "* ]] || fail "not every connection echoes after the move: $r"
}

t_nodime() {
	local h all mh_hello to n
	# Counted before anything else sees them (CH has no dimed; its firewall
	# would accept the port and answer with port-unreachable).
	nft_in ch -f - <<-EOF
		table inet ihmp_count {
			chain pre {
				type filter hook prerouting priority -400; policy accept;
				udp dport $IHMP_PORT @th,72,8 1 counter comment "hello"
				udp dport $IHMP_PORT counter comment "all"
			}
		}
	EOF
	FL_FAM=$FAM
	link_rate A 200mbit
	if tcp_transfer "$FAM" 5 nodime1 >/dev/null 2>&1; then
		note "iperf3 (5 s): $(res_line nodime1)"
	else
		fail "iperf3 (5 s) to a host without dimed: $(res_line nodime1)"
	fi
	# Normal bytes: 200 Mbit/s for 5 s is 125 MB; a loaded machine may lose some.
	(($(lab_result nodime1 bytes_recv) > 50000000)) ||
		fail "only $(lab_result nodime1 bytes_recv) bytes in 5 s over a 200 Mbit/s link"
	n=$(dime_ctl mh -j show flows | "${TOOL[@]}" flows "$(lab_ch_addr "$FAM")")
	note "MH's flows to CH: $n"
	[[ $n == *" translated=0 "* ]] || fail "flows to a host without dimed are translated: $n"
	# A second flow within the backoff period: no new HELLOs.
	tcp_transfer "$FAM" 2 nodime2 >/dev/null 2>&1 || fail "second iperf3: $(res_line nodime2)"
	h=$(nft_counter ch ihmp_count hello) all=$(nft_counter ch ihmp_count all)
	mh_hello=$(dime_stat mh ihmp.sent.HELLO) to=$(dime_stat mh ihmp.timeouts)
	note "at CH: $h HELLOs ($all IHMP datagrams); MH: HELLO sent=$mh_hello retransmits=$(dime_stat mh ihmp.retransmits) timeouts=$to"
	((h >= 1)) || fail "CH got no HELLO at all (MH never tried)"
	((all <= IHMP_HELLO_MAX)) || fail "CH got $all IHMP datagrams (at most $IHMP_HELLO_MAX allowed)"
	((to >= 1)) || fail "MH's stats show no timeout for the unanswered HELLO"
	note "MH's table: $(dime_ctl mh -j show hids | "${TOOL[@]}" hids)"
}

t_garble() {
	local before after d pid k r1
	FL_FAM=$FAM
	link_rate A 200mbit
	tcp_transfer "$FAM" 8 garble-tcp >/dev/null 2>&1 &
	pid=$!
	flows_known 2 0
	before=$(dime_ctl ch -j show hids | "${TOOL[@]}" hids --flows)
	dime_ctl ch -j stats >"$LAB_DIR/ch.stats.0"
	# The flow must go on after this (rx_after_move counts from here).
	lab_stamp "garble_start"
	note "from MH's address: $(lab_mh "${TOOL[@]}" garble "$FAM" "$(lab_addr "$FAM")" "$(lab_ch_addr "$FAM")" $IHMP_PORT "$(lab_addr "$FAM")" 2>&1 | tr '\n' ' ')"
	r1=$([[ $FAM == 4 ]] && echo "$R1_S4" || echo "$R1_S6")
	note "from R1 (a stranger claiming MH's Host ID): $(lab_r1 "${TOOL[@]}" garble "$FAM" "$r1" "$(lab_ch_addr "$FAM")" $IHMP_PORT "$(lab_addr "$FAM")" 2>&1 | tr '\n' ' ')"
	sleep 0.3
	dime_alive ch || fail "CH's dimed is gone: $(tail -n 5 "$IHMP_LOG_CH" | tr '\n' ' ')"
	after=$(dime_ctl ch -j show hids | "${TOOL[@]}" hids --flows) || fail "CH's dimectl does not answer"
	dime_ctl ch -j stats >"$LAB_DIR/ch.stats.1"
	if [[ $before != "$after" ]]; then
		if [[ $(jq_noflows "$before") == $(jq_noflows "$after") ]]; then
			fail "CH's show hids: only the flow counts changed: before $before after $after"
		else
			fail "CH's show hids changed: before $before after $after"
		fi
	else
		note "CH's table unchanged: $after"
	fi
	d=$("${TOOL[@]}" delta "$LAB_DIR/ch.stats.0" "$LAB_DIR/ch.stats.1" ihmp.rejected.malformed ihmp.rejected.bad_version \
		ihmp.rejected.unsupported ihmp.rejected.too_big ihmp.rejected.unknown_host_id ihmp.rejected.unexpected_ack \
		ihmp.rejected.address_owned_by_other_peer)
	note "CH rejected counters delta: $d"
	for k in malformed bad_version unsupported too_big; do
		if ! [[ $d =~ ihmp\.rejected\.$k=([1-9][0-9]*) ]]; then
			fail "rejected.$k did not increase: $d"
		fi
	done
	d=$("${TOOL[@]}" delta "$LAB_DIR/ch.stats.0" "$LAB_DIR/ch.stats.1" ihmp.sent.ACK ihmp.received.HANDOFF ihmp.received.HELLO)
	note "CH sent/received delta: $d"
	[[ $d == "ihmp.sent.ACK=0 ihmp.received.HANDOFF=0 ihmp.received.HELLO=0" ]] || fail "CH accepted or answered garbage: $d"
	lab_wait "$pid" || true
	expect_survived garble-tcp "iperf3 TCP during and after the garbage"
	dime_alive mh || fail "MH's dimed is gone"
}
jq_noflows() { "${TOOL[@]}" hids <<<"{\"hids\": $1}"; }

# --- restarts (docs/datapath.md "Restarts")
# rst_watch: every TCP RST MH and CH receive or send, counted at the wire
# (inbound before dimed's table, outbound after it).
rst_watch() {
	local h
	for h in mh ch; do
		nft_in "$h" -f - <<-EOF
			table inet ihmp_rst {
				chain in {
					type filter hook prerouting priority -500; policy accept;
					tcp flags & rst == rst counter comment "rst_in"
				}
				chain out {
					type filter hook postrouting priority 500; policy accept;
					tcp flags & rst == rst counter comment "rst_out"
				}
			}
		EOF
	done
}
rsts() { echo $(($(nft_counter "$1" ihmp_rst rst_in) + $(nft_counter "$1" ihmp_rst rst_out))); }

# kill9 HOST : SIGKILL, as a crash; the pid file goes with it.
kill9() {
	local p i
	p=$(dime_pid "$1")
	kill -KILL "$p"
	for ((i = 0; i < 100; i++)); do lab_alive "$p" || break; sleep 0.02; done
	rm -f "$(dime_dir)/$1.pid"
	lab_stamp "kill9 $1"
}

fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

# grow_times T0 SECS FILE SIZE FILE SIZE : for each FILE, the seconds from
# T0 until it was bigger than its SIZE ("none" if not within SECS), both
# polled together every 20 ms.
grow_times() {
	local t0=$1 secs=$2 i a=none b=none
	for ((i = 0; i < secs * 50; i++)); do
		[[ $a != none ]] || (($(fsize "$3") <= $4)) || a=$(since "$t0")
		[[ $b != none ]] || (($(fsize "$5") <= $6)) || b=$(since "$t0")
		[[ $a == none || $b == none ]] || break
		sleep 0.02
	done
	echo "$a $b"
}

# restart_case WHO MOVE : a socat stream and a UDP stream MH -> CH; with
# MOVE=before MH hands off, then WHO's dimed is killed; with MOVE=while
# WHO's dimed is killed, then MH hands off. WHO's dimed is started again
# 1 s after the kill; both streams must grow within 1 s of it answering.
restart_case() {
	local who=$1 move=$2 spid upid t0 tcp0 udp0 dt du rs i up r
	link_rate A 50mbit
	link_rate B 50mbit
	FL_FAM=$FAM
	rst_watch
	# 60 MB at 50 Mbit/s: about 10 s, the kill 1-2 s in.
	stream_check "$FAM" 60000000 rs 60 >"$LAB_DIR/rs.out" 2>&1 &
	spid=$!
	udp_stream "$FAM" 14 rsu >"$LAB_DIR/rsu.out" 2>&1 &
	upid=$!
	flows_known 1 1 0.3
	if [[ $move == before ]]; then
		move_hard 0.2
		# Translated at both ends before the kill: CH sends to MH's B.
		for ((i = 0; i < 60; i++)); do
			primary_of "$(dime_ctl ch -j show hids)" "$(lab_addr "$FAM" B)" && break
			sleep 0.05
		done
		((i < 60)) || fail "CH did not take MH's handoff before the kill"
		sleep 0.3
		kill9 "$who"
	else
		kill9 "$who"
		move_hard 0.2
	fi
	sleep 1
	note "state file of $who: $(grep -c '^flow' "$(dime_state "$who")/state" 2>/dev/null || true) flows, $(grep -c '^peer' "$(dime_state "$who")/state" 2>/dev/null || true) peers"
	tcp0=$(fsize "$LAB_DIR/rs.rx") udp0=$(fsize "$LAB_DIR/rsu.rx")
	t0=$(now)
	DIME_KEEP_STATE=1 dime_start "$who" -l debug || { fail "restart of $who: $DIME_ERR"; return 0; }
	up=$(since "$t0")
	lab_stamp "restart $who"
	note "started again in $up s (answering its control socket): $(grep -m1 'restored\|refused' "$(dime_log "$who")" | sed 's/^<[0-9]>//')"
	read -r dt du < <(grow_times "$t0" 5 "$LAB_DIR/rs.rx" "$tcp0" "$LAB_DIR/rsu.rx" "$udp0")
	metric "restart_${who}_$move.start_s" "$up"
	metric "restart_${who}_$move.tcp_resume_s" "$dt"
	metric "restart_${who}_$move.udp_resume_s" "$du"
	# Within 1 s of the restarted dimed answering; its own start (nft and
	# iptables run as children: 0.3-0.8 s here) is reported, bounded loosely.
	for r in "TCP $dt" "UDP $du"; do
		set -- $r
		[[ $2 != none ]] && awk -v t="$2" -v u="$up" 'BEGIN { exit !(t - u <= 1.0 && t <= 2.5) }' ||
			fail "the $1 stream moved again $2 s after $who's restart began, $up s of it starting (want <= 1 s after it answers)"
	done
	if grep -q '^FAIL' "$IHMP_SETUP_LOG" 2>/dev/null || [[ $dt == none || $du == none ]]; then
		note "$who's flows: $(dime_ctl "$who" -j show flows | tr -d '\n' | cut -c1-1500)"
		note "$who's stats: $(dime_ctl "$who" -j stats | tr -d '\n' | cut -c1-1500)"
		note "$who's sets: $(nft_in "$who" list table inet dimed | grep -A3 'set \(in\|out\)' | tr -s ' \t\n' ' ' | cut -c1-1500)"
	fi
	sleep 1
	rs="MH $(rsts mh) CH $(rsts ch)"
	note "TCP RSTs at the wire since the stream began: $rs"
	[[ $rs == "MH 0 CH 0" ]] || fail "TCP RSTs at the wire: $rs"
	lab_wait "$spid" || true
	lab_wait "$upid" || true
	stream_verdict rs
	expect_survived rsu "UDP stream across the restart"
	note "$who after: $(dime_ctl "$who" -j show hids | "${TOOL[@]}" hids)"
	# Started by this subshell: stopped here (SIGTERM, sanitizer report checked).
	dime_stop "$who" || fail "$DIME_ERR"
}

t_restart_mh() { restart_case mh before; }
t_restart_ch() { restart_case ch before; }
t_restart_move() { restart_case ch while; }

# refused_start WHAT WHY : MH's dimed, started on its state file as it is
# now, says once that it refused it (WHY in that line) and knows no peer.
refused_start() {
	local n
	DIME_KEEP_STATE=1 dime_start mh -l debug || { fail "start on $1: $DIME_ERR"; return 0; }
	n=$(grep -c 'refused, starting clean' "$(dime_log mh)" || true)
	note "$1: $(grep 'refused, starting clean' "$(dime_log mh)" | sed 's/^<[0-9]>//' | tail -n1)"
	((n == 1)) || fail "$n 'refused' log lines for $1 (want 1)"
	grep 'refused, starting clean' "$(dime_log mh)" | grep -q "$2" || fail "$1: the log line does not say '$2'"
	[[ $(dime_ctl mh -j show hids | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["hids"]))') == 0 ]] || fail "MH knows peers after refusing $1: $(dime_ctl mh -j show hids)"
	dime_stop mh || fail "$DIME_ERR"
	: >"$(dime_log mh)"
}

t_state_file() {
	local p i f
	# A first run that knows CH (a HELLO, its key bound), written at SIGTERM.
	lab_mh "$LAB_PYTHON" -c 'import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 9))
s.send(b"x")' "$(lab_ch_addr "$FAM")"
	for ((i = 0; i < 100; i++)); do
		[[ $(dime_ctl mh -j show hids) == *'"key":"tofu"'* ]] && break
		sleep 0.05
	done
	((i < 100)) || fail "MH did not bind CH's key: $(dime_ctl mh -j show hids)"
	p=$(dime_pid mh)
	kill -TERM "$p"
	for ((i = 0; i < 200; i++)); do lab_alive "$p" || break; sleep 0.05; done
	rm -f "$(dime_dir)/mh.pid"
	f=$(dime_state mh)/state
	grep -q '^peer .* tofu ' "$f" || fail "MH's state file has no peer with a key: $(head -c 300 "$f")"
	DIME_LOG=$(dime_dir)/sf.
	# Started again on it as it was: restored, nothing refused.
	DIME_KEEP_STATE=1 dime_start mh -l debug || { fail "$DIME_ERR"; return 0; }
	grep -q 'restored 1 peers' "$(dime_log mh)" || fail "not restored: $(grep -m3 'state\|restored' "$(dime_log mh)")"
	[[ $(dime_ctl mh -j show hids) == *'"key":"tofu"'* ]] || fail "CH's key binding not restored: $(dime_ctl mh -j show hids)"
	dime_stop mh || fail "$DIME_ERR"
	: >"$(dime_log mh)"
	# One byte changed.
	printf 'X' | dd of="$f" bs=1 seek=40 conv=notrunc status=none
	refused_start "a corrupt file" "checksum mismatch"
	# CH's file: another host key.
	cp "$(dime_state ch)/state" "$f"
	refused_start "CH's file" "another host key"
}

# ------------------------------------------------------ family runner ---
declare -A IHMP_DAEMONS=([nodime]="mh")

# run_test NAME : prepare, run t_NAME in a subshell, write OUT/FAM.NAME.{log,rc}
run_test() {
	local name=$1 base rc=0 h lo t0=$SECONDS t1
	base=$IHMP_OUT/v$FAM.$name
	IHMP_SETUP_LOG=$base.log
	: >"$base.log"
	IHMP_MARK=$(wc -l <"$LAB_DIR/pids")
	drop_my_tables
	if tc -n "$LAB_NS_MH" qdisc show | grep -q tbf; then
		link_rate A off
		link_rate B off
	fi
	ch_restore
	if [[ $(lab_cur) != A ]] || ip -n "$LAB_NS_MH" -o addr show dev "$MH_B_DEV" | grep -qv ' fe80'; then
		move_back >/dev/null
	fi
	lo=$(ip -n "$LAB_NS_MH" -o addr show dev lo | awk '$4 !~ /^(127\.|::1\/)/ { print $4 }' | tr '\n' ' ')
	[[ -z $lo ]] || note "left on MH's lo before this test: $lo" >>"$base.log"
	DIME_LOG=$base. IHMP_LOG_MH=$base.mh.log IHMP_LOG_CH=$base.ch.log
	# shellcheck disable=SC2086
	start_dimeds ${IHMP_DAEMONS[$name]:-mh ch} || rc=1
	t1=$SECONDS
	if ((rc == 0)); then
		set +e
		(
			set -e
			exec {BASH_XTRACEFD}>"$base.trace"
			PS4='+ ${EPOCHREALTIME} ${FUNCNAME[0]:-main}:$LINENO: '
			set -x
			"t_${name//-/_}"
		) >>"$base.log" 2>&1
		rc=$?
		set -e
	fi
	if ((rc != 0)) && ! grep -q '^FAIL' "$base.log"; then
		{
			echo "FAIL: test stopped with status $rc; last commands traced:"
			tail -n 8 "$base.trace" 2>/dev/null | sed 's/^/  /'
		} >>"$base.log"
	fi
	for h in mh ch; do
		if dime_pid "$h" >/dev/null && ! dime_alive "$h"; then
			echo "FAIL: dimed on $h died during the test: $(grep -v '^<7>' "$base.$h.log" | tail -n 3 | tr '\n' ' ')" >>"$base.log"
		fi
	done
	stop_dimeds mh ch
	lab_kill_since "$IHMP_MARK"
	echo "time: $((SECONDS - t0)) s (setup $((t1 - t0)) s)" >>"$base.log"
	grep -q '^FAIL' "$base.log" && rc=1
	echo "$rc" >"$base.rc"
}

run_family() {	# FAMILY
	FAM=$1
	# shellcheck disable=SC2034  # read by lab.sh
	LAB_ID="ihmp$$-$FAM"
	LAB_DIR=''
	# shellcheck source=../lab/lab.sh
	source "$IHMP_ROOT/test/lab/lab.sh"
	export LAB_GRACE=1
	lab_up
	[[ ${IHMP_UNPRIV:-0} != 1 ]] || dime_unprivileged
	lab_firewall on "$IHMP_PORT"
	# CH's second address is a secondary one: keep it when the first goes.
	lab_sysctl "$LAB_NS_CH" net.ipv4.conf.all.promote_secondaries=1 "net.ipv4.conf.$SW_DEV.promote_secondaries=1"
	echo base >"$LAB_DIR/ch_at"
	local t
	for t in $IHMP_TESTS; do
		run_test "$t"
	done
}

# ============================================================= main ===
ihmp_descendants() { local c; for c in $(pgrep -P "$1" 2>/dev/null || true); do echo "$c"; ihmp_descendants "$c"; done; }
ihmp_abort() {
	local p
	trap - INT TERM
	for p in $(ihmp_descendants $$); do kill -TERM "$p" 2>/dev/null || true; done
	wait || true
	echo "# interrupted"
	exit 130
}

main() {
	local fams=() pids=() f t rc base start=$SECONDS running
	preflight root dimed ip nft iperf3 socat timeout flock sha256sum awk
	for t in $IHMP_TESTS; do
		[[ -n ${IHMP_TITLE[$t]:-} ]] || tap_bail "unknown test '$t'"
	done
	IHMP_OUT=$(mktemp -d "${TMPDIR:-/tmp}/dime-ihmp.XXXXXX")
	# A private copy: a rebuild while the tests run must not pull the binaries
	# out from under them.
	dime_copy_bins "$IHMP_OUT/bin"
	trap ihmp_abort INT TERM
	read -r -a fams <<<"$IHMP_FAMILIES"
	for f in "${fams[@]}"; do
		# Not more than IHMP_JOBS labs at once.
		while :; do
			running=0
			for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
			((running < IHMP_JOBS)) && break
			sleep 0.5
		done
		(run_family "$f") >"$IHMP_OUT/family-v$f.log" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	trap - INT TERM
	for t in $IHMP_TESTS; do
		for f in "${fams[@]}"; do
			base=$IHMP_OUT/v$f.$t
			rc=$(cat "$base.rc" 2>/dev/null || echo missing)
			tap_result "$rc" "v$f $t: ${IHMP_TITLE[$t]}"
			[[ $rc == 0 || -f $base.log ]] || echo "# no result (see $IHMP_OUT/family-v$f.log: $(tail -n 3 "$IHMP_OUT/family-v$f.log" | tr '\n' ' '))"
			[[ ! -f $base.log ]] || grep -E '^(FAIL|# |metric|time)' "$base.log" | sed '/^# /!s/^/# /' | cut -c1-600
		done
	done
	echo "# runtime $((SECONDS - start)) s; logs in $IHMP_OUT"
	if ((TAP_FAIL == 0)) && [[ ${IHMP_KEEP:-0} != 1 ]]; then rm -rf "$IHMP_OUT"; fi
	tap_summary
}

main "$@"
