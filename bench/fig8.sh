#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/fig8.sh -- the DIME paper's Fig. 8 ("TCP handoff goodput", §IV-B) on
# the namespace lab (test/lab/lab.sh, the paper's Fig. 7 testbed), side by
# side with the kernel's MPTCP and with plain TCP/UDP.
#
#   bench/fig8.sh [--quick] [--datapath=queue|kernel] [--help]
#
#   (full)    15 s transfers, the events at 5 s and 10 s. IPv4: TCP and UDP,
#             every series, 2 repetitions; IPv6: TCP, dime and mptcp (plain
#             dies the same way in both families), 1 repetition: 24 runs.
#             Measured on the shared 2-core machine: 7.5-8.5 minutes.
#   --quick   IPv4 only, 1 repetition, 3 s transfers with the events at 0.8 s
#             and 1.6 s (a smoke test of the whole pipeline, 10 runs; the
#             numbers are not the paper's figure). Measured: about 65 s.
#   --datapath=queue|kernel  dimed's --datapath in the dime series
#             (default: dimed's own, auto)
#
# The lab: one per address family (lab_up), both of MH's links rate-limited
# to 100 Mbit/s with the lab's tbf helper (link_rate A|B 100mbit), and
# lab_firewall on (stateful; IHMP port 3463 open) for every series, so all
# of them pay for conntrack alike. Before each run the lab is reset: MH on
# link A only, no address on lo (dimed's held identifiers), MPTCP endpoints
# flushed, TCP metrics and conntrack flushed, no dimed table or NFQUEUE rule
# left; every process of a run (daemons, iperf3, capture) is started for that
# run and stopped after it. Runs are interleaved (rep > proto > handoff >
# series), so a slow phase of the shared machine hits every series.
#
# One run: a transfer MH (link-A address) -> CH, receiver-side goodput per
# 0.5 s. TCP: iperf3 (server JSON, -i 0.5). UDP: bench/fig8_tool.py, 50 Mbit/s
# of 1200-byte datagrams paced by the clock, send errors ignored (iperf3 -u
# gives up at the first send error, i.e. at the first instant without an
# address); the receiver counts only datagrams from the sender's original
# address, as an application talking to that address would. The handoff is
# lab.sh's (the steps of move_soft / move_hard: lab_attach / lab_detach, run
# at fixed times after t0):
#   soft  t=5 s  link B's address and default route come up (lab_attach B),
#         t=10 s link A's address goes (lab_detach A);
#   hard  t=5 s  link A's address and route go, t=10 s link B's come up.
# The lab's soft handoff moves the default route to link B at once: a packet
# still sourced from A then leaves on link B, where R2's source address
# validation (BCP 38) drops it. So the old address is unusable from t=5 s on
# although it is still configured, and a flow that keeps using it stalls.
# t0: the TCP client is launched / the UDP sender starts (it waits for t0).
# Event times: the script stamps each step before and after its commands
# (new_addr_begin/_done, old_addr_begin/_done); the kernel's times come from
# `ip -ts monitor address route` on MH: new_addr_usable = the family's new
# address AND its default route in place, old_addr_removed = the old
# address deleted (the stamps are the fallback).
#
# Series:
#   dime   dimed on MH and CH, zero configuration, started as test/e2e/ihmp.sh
#          starts them (dime_start: dimed -f --ctl SOCK --state-dir DIR, one
#          state dir per host, -l debug; its log lines are time-stamped, and the analysis
#          takes from MH's when the HANDOFF left and the old address was held
#          on lo: "dimed_ready" in the note, relative to the reference event).
#   plain  no dimed: the flow dies (goodput 0 from then on; not an error).
#   mptcp  the kernel's MPTCP, in-kernel path manager: iperf3 client and
#          server under `mptcpize run` (package mptcpd), `ip mptcp limits set
#          subflows 4 add_addr_accepted 4` on both hosts. mptcpd is not run:
#          its address handling is emulated by one command at the instant of
#          the address change: at setup, link A's address is endpoint id 1
#          (mptcpd adds the addresses present when it starts); right after
#          link B's address comes up, `ip mptcp endpoint add ADDR_B id 2 dev
#          lte0 subflow` (the PM opens a subflow from it on every
#          connection); right after link A's address goes, `ip mptcp endpoint
#          delete id 1` (the PM closes the subflows on it). iperf3 runs
#          without --snd-timeout in all series: an MPTCP socket refuses
#          TCP_USER_TIMEOUT (iperf3 3.12 then fails, "unable to set TCP/SCTP
#          MSS"). No UDP over MPTCP: skipped. Evidence that it was MPTCP with
#          a second subflow: nstat MPTcpExt counters of both hosts (nstat.*),
#          `ip mptcp monitor` on MH (SF_ESTABLISHED), `ss -Mni`/`ss -tni`;
#          the note says "mptcp=yes subflows=N joins_at_ch=N fallback=0".
#
# Metrics (bench/fig8_tool.py analyze):
#   goodput    receiver side, Mbit/s per 0.5 s; t = end of the interval from
#              t0 (iperf3's intervals start with its test, some 10-100 ms
#              after t0: first_data in the events file shows by how much).
#   mean_mbps  bytes received in the transfer / its length.
#   resume_ms  from a capture on CH's interface (tcpdump -w, or dumpcap; the
#              kernel's receive timestamps, ns; MH -> CH packets with payload
#              to the run's port), so the arrival of a data packet at CH is
#              known to well under a millisecond; dime and mptcp alike.
#              hard: new_addr_usable -> the first data packet from MH's new
#                    address (the new path) at CH;
#              soft: old_addr_removed -> the first data packet from the new
#                    address at or after it; 0 with "no stall at removal"
#                    when data already came that way and no receive gap of
#                    50 ms spans the removal.
#              Empty: never resumed. The note adds the longest receive gap
#              between two data packets from 0.5 s before the first event on,
#              and the event it began at (the lab's soft handoff makes the
#              outage begin at the up event), or "receive stops" if nothing
#              came after the last event.
#   deficit    (note) the goodput the receiving application lost after the
#              first event, against its rate before it, in ms at that rate:
#              an application-level outage. The capture sees packets
#              arrive, not delivery: an MPTCP receiver waits (head of line)
#              for data reinjected from a dead subflow while packets of the
#              new one already arrive.
#   survived   TCP: the iperf3 client finished (status 0, no error: data and
#              control connection alive to the end) and data arrived after
#              the last event; UDP: data from the original address arrived
#              in the last second. Bytes at both ends in the note.
# A table on stdout: means over repetitions, hard/soft ratio, resume times.
#
# Outputs (overwritten by each run of the script):
#   bench/out/eval/fig8_goodput.csv  family,proto,handoff,series,rep,t,mbps
#   bench/out/eval/fig8_summary.csv  family,proto,handoff,series,rep,mean_mbps,resume_ms,survived,note
#   bench/out/eval/fig8_events.csv   family,handoff,series,rep,event,t
#       (no proto column: the events of UDP runs are named udp_*; TCP's
#       plain: new_addr_begin/_usable/_done, old_addr_begin/_removed/_done,
#       mptcp_endpoint_added/_deleted, mptcp_subflow_established,
#       dime_addr_up_sent, dime_handoff_sent, dime_identifier_held,
#       first_data, first_data_new_path, outage_start/_end, transfer_end)
#   bench/out/eval/logs-fig8/        runs.log (one line per run), lab-vN.log,
#       versions.txt, bin/ (the dimed and dimectl used: copied at the start),
#       and per run: run.log, trace (set -x, time-stamped), events, iperf3
#       JSON / udp-*.json, dimed logs and stats, MPTCP monitor/nstat/ss, MH's
#       `ip -ts monitor`.
#
# Environment (for working on it): FIG8_FAMILIES ("4 6"), FIG8_REPS (2),
# FIG8_REPS6 (2; quick 1), FIG8_PROTOS ("tcp udp"), FIG8_PROTOS6 ("tcp"),
# FIG8_HANDOFFS ("soft hard"), FIG8_SERIES ("dime plain mptcp"),
# FIG8_SERIES6 ("dime mptcp"),
# FIG8_KEEP_PCAP=1 (keep the captures), DIMED, DIMECTL, and FIG8_SOFT=keep:
# a soft handoff in which link B's default route comes up with metric 100
# behind link A's, so A stays usable until it goes (not lab.sh's move_soft;
# the rows still log "soft", with "soft=keep" in the note).
#
# Needs root, iperf3, python3, nft, tc, ip, and build/src/dimed (used as it
# is, not rebuilt). mptcpize (package mptcpd) and tcpdump are installed with
# apt-get if missing; without mptcpize the mptcp series is skipped (a
# "skipped" row), without tcpdump or dumpcap resume_ms stays empty. Exit 0
# once the table is printed, whatever the numbers; non-zero only if the
# benchmark could not run.
set -euo pipefail

BENCH_NAME=fig8
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_args "$@"
TOOL=("$PY" "$BENCH/fig8_tool.py")
RATE=100mbit
UDP_MBPS=50
IHMP_PORT=3463

if ((QUICK)); then
	SECS=3 T_FIRST=0.8 T_SECOND=1.6
	FAMILIES=${FIG8_FAMILIES:-4} REPS=${FIG8_REPS:-1} REPS6=${FIG8_REPS6:-1}
else
	SECS=15 T_FIRST=5 T_SECOND=10
	FAMILIES=${FIG8_FAMILIES:-4 6} REPS=${FIG8_REPS:-2} REPS6=${FIG8_REPS6:-2}
fi
PROTOS=${FIG8_PROTOS:-tcp udp}
PROTOS6=${FIG8_PROTOS6:-tcp}
HANDOFFS=${FIG8_HANDOFFS:-soft hard}
SOFT_MODE=${FIG8_SOFT:-lab}
[[ $SOFT_MODE == lab || $SOFT_MODE == keep ]] || { echo "bench/fig8: FIG8_SOFT is lab or keep" >&2; exit 2; }
SERIES=${FIG8_SERIES:-dime plain mptcp}
SERIES6=${FIG8_SERIES6:-dime mptcp}

# ------------------------------------------------------------ checks ---
bench_need dimed iperf3 nft tc ip "$PY"
want=()
command -v mptcpize >/dev/null || want+=(mptcpd)
command -v tcpdump >/dev/null || command -v dumpcap >/dev/null || want+=(tcpdump)
if ((${#want[@]})) && command -v apt-get >/dev/null; then
	log "installing ${want[*]} (apt-get)"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}"; } >/dev/null 2>&1 ||
		log "could not install ${want[*]}"
fi
HAVE_MPTCP=1
command -v mptcpize >/dev/null || { HAVE_MPTCP=0; log "no mptcpize: the mptcp series is skipped"; }
[[ $(sysctl -n net.mptcp.enabled 2>/dev/null || echo 0) == 1 ]] || { HAVE_MPTCP=0; log "net.mptcp.enabled is not 1: the mptcp series is skipped"; }
CAPTURE=
if command -v tcpdump >/dev/null; then CAPTURE=tcpdump
elif command -v dumpcap >/dev/null; then CAPTURE=dumpcap
else log "no tcpdump or dumpcap: resume_ms stays empty"; fi

mkdir -p "$EVAL"
bench_logs "$EVAL/logs-fig8"
{
	echo "dimed: $DIMED ($(stat -c '%y' "$DIMED")), sha256 $(sha256sum <"$DIMED" | cut -c1-16)"
	echo "git: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
	echo "kernel: $(uname -r); iperf3: $(iperf3 --version | head -n1); capture: ${CAPTURE:-none}"
} >"$LOGS/versions.txt"
# One binary for the whole benchmark, even if build/ is rebuilt meanwhile.
dime_copy_bins "$LOGS/bin"
GOODPUT=$EVAL/fig8_goodput.csv SUMMARY=$EVAL/fig8_summary.csv EVENTS=$EVAL/fig8_events.csv
echo "family,proto,handoff,series,rep,t,mbps" >"$GOODPUT"
echo "family,proto,handoff,series,rep,mean_mbps,resume_ms,survived,note" >"$SUMMARY"
echo "family,handoff,series,rep,event,t" >"$EVENTS"

# ------------------------------------------------------ inside a run ---
# These run in the family's shell (after lab_up; LAB_DIR is the family's lab
# directory) or in a run's subshell of it (RUN = the run's log directory).

stamp() { echo "$1 $EPOCHREALTIME" >>"$RUN/events"; }
# sleep_until T0 SECS : until T0 (an EPOCHREALTIME) + SECS
sleep_until() {
	local d
	d=$(awk -v t0="$1" -v s="$2" -v now="$EPOCHREALTIME" 'BEGIN { d = t0 + s - now; printf "%.6f", (d > 0 ? d : 0) }')
	sleep "$d"
}
# dimeds_stop : the daemons' stats, then SIGTERM, until they exit
dimeds_stop() {
	local h
	for h in mh ch; do dime_ctl "$h" -j stats >"$RUN/dimed.$h.stats.json" 2>/dev/null || true; done
	bench_daemons stop
}

mptcp_ep() { ip -n "$LAB_NS_MH" mptcp endpoint "$@"; }

# The two events of the handoff, at T_FIRST and T_SECOND after t0: the steps
# of lab.sh's move_soft / move_hard (lab_attach, lab_detach), stamped.
ev_new_up() {
	stamp new_addr_begin
	if [[ $HO == soft && $SOFT_MODE == keep ]]; then
		# the old default route stays first: A keeps working until it goes
		ip -n "$LAB_NS_MH" addr replace "$MH_B4/$PLEN4" dev "$MH_B_DEV"
		ip -n "$LAB_NS_MH" addr replace "$MH_B6/$PLEN6" dev "$MH_B_DEV" nodad
		ip -n "$LAB_NS_MH" route replace default via "$R2_B4" dev "$MH_B_DEV" metric 100
		ip -n "$LAB_NS_MH" -6 route replace default via "$R2_B6" dev "$MH_B_DEV" metric 100
	else
		lab_attach B
	fi
	echo B >"$LAB_DIR/cur"
	stamp new_addr_done
	if [[ $SER == mptcp ]]; then
		mptcp_ep add "$ADDR_B" id 2 dev "$MH_B_DEV" subflow
		stamp mptcp_endpoint_added
	fi
}
ev_old_down() {
	stamp old_addr_begin
	lab_detach A
	[[ $(lab_cur) != A ]] || echo none >"$LAB_DIR/cur"
	stamp old_addr_done
	if [[ $SER == mptcp ]]; then
		mptcp_ep delete id 1
		stamp mptcp_endpoint_deleted
	fi
}

start_capture() {
	local i f=$RUN/cap.pcap filt="(tcp or udp) and dst port $PORT"
	case "$CAPTURE" in
	tcpdump)
		lab_bg ip netns exec "$LAB_NS_CH" tcpdump -i "$SW_DEV" -n -s 96 -B 16384 -Z root \
			--time-stamp-precision=nano -w "$f" "$filt" 2>"$RUN/capture.err" ;;
	dumpcap)
		lab_bg ip netns exec "$LAB_NS_CH" dumpcap -q -i "$SW_DEV" -s 96 -B 16 -F pcap -f "$filt" \
			-w "$f" 2>"$RUN/capture.err" ;;
	*) return 0 ;;
	esac
	CAP_PID=$LAB_BG_PID
	for ((i = 0; i < 100; i++)); do
		grep -qi 'listening on\|capturing on' "$RUN/capture.err" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "capture did not start: $(cat "$RUN/capture.err")"
}

# reset_lab : MH on link A only, and nothing left of a previous run: no
# MPTCP endpoint, no TCP metrics, no conntrack entry; after a dime run also
# no address on lo (held identifiers), no dimed table or NFQUEUE rule.
reset_lab() {
	local h ns a t
	lab_detach B
	lab_attach A
	echo A >"$LAB_DIR/cur"
	for h in mh ch; do
		ns=$(dime_ns "$h")
		printf '%s\n' "mptcp endpoint flush" "mptcp limits set subflows 2 add_addr_accepted 0" \
			"tcp_metrics flush all" | ip -force -n "$ns" -batch - >/dev/null 2>&1 || true
		! command -v conntrack >/dev/null || ip netns exec "$ns" conntrack -F >/dev/null 2>&1 || true
		[[ ${PREV_SER:-} == dime ]] || continue
		for a in $(ip -n "$ns" -o addr show dev lo | awk '$4 !~ /^(127\.|::1\/)/ { print $4 }'); do
			echo "reset: $h: removing $a from lo"
			ip -n "$ns" addr del "$a" dev lo
		done
		if ip netns exec "$ns" nft list tables 2>/dev/null | grep -q ' dimed$'; then
			echo "reset: $h: dimed's nft table was left behind; deleting it"
			ip netns exec "$ns" nft delete table inet dimed || true
		fi
		if { ip netns exec "$ns" iptables-save; ip netns exec "$ns" ip6tables-save; } 2>/dev/null | grep -q NFQUEUE; then
			echo "reset: $h: NFQUEUE rules were left behind; flushing raw and mangle"
			for t in raw mangle; do
				ip netns exec "$ns" iptables -t "$t" -F 2>/dev/null || true
				ip netns exec "$ns" ip6tables -t "$t" -F 2>/dev/null || true
			done
		fi
	done
}

# run_body : one transfer with its handoff (FAM PROTO HO SER REP RUN set)
run_body() {
	local wrap=() spid cpid crc=0 src_rc=0 i
	CAP_PID=
	# A dime run's daemons: sockets and state dirs in RUN, logs
	# RUN/dimed.HOST.log, each line time-stamped (the analysis reads MH's).
	DIME_DIR=$RUN DIME_LOG=$RUN/dimed. DIME_STAMP=1
	PORT=$(lab_port)
	SRC=$(lab_addr "$FAM" A) ADDR_B=$(lab_addr "$FAM" B) DST=$(lab_ch_addr "$FAM")
	: >"$RUN/events"
	lab_bg ip -n "$LAB_NS_MH" -ts monitor address route >"$RUN/mh-ip-monitor.txt" 2>&1
	case "$SER" in
	dime) bench_daemons start -l debug ;;
	mptcp)
		for ns in "$LAB_NS_MH" "$LAB_NS_CH"; do
			ip -n "$ns" mptcp limits set subflows 4 add_addr_accepted 4
		done
		# mptcpd, started with A configured, would have made it an endpoint
		mptcp_ep add "$SRC" id 1 dev "$MH_A_DEV" subflow
		lab_bg ip netns exec "$LAB_NS_MH" ip mptcp monitor > >(dime_stamp "$RUN/mptcp-monitor.txt") 2>&1
		wrap=(mptcpize run)
		;;
	esac
	start_capture

	if [[ $PROTO == tcp ]]; then
		lab_bg ip netns exec "$LAB_NS_CH" timeout -k 2 $((SECS + 20)) "${wrap[@]}" \
			iperf3 -s -1 -B "$DST" -p "$PORT" -i 0.5 -J --logfile "$RUN/server.json"
		spid=$LAB_BG_PID
		lab_wait_listen "$LAB_NS_CH" tcp "$PORT"
		T0=$EPOCHREALTIME
		lab_bg ip netns exec "$LAB_NS_MH" timeout -k 0.5 "$SECS.9" "${wrap[@]}" \
			iperf3 -c "$DST" -B "$SRC" -p "$PORT" -t "$SECS" -i 0.5 -J --connect-timeout 3000 \
			--logfile "$RUN/client.json"
	else
		lab_bg ip netns exec "$LAB_NS_CH" timeout -k 2 $((SECS + 20)) \
			"${TOOL[@]}" udp-rx "$FAM" "$DST" "$PORT" "$SRC" $((SECS + 8)) "$RUN/udp-rx.json"
		spid=$LAB_BG_PID
		lab_wait_listen "$LAB_NS_CH" udp "$PORT"
		# The sender starts at T0 exactly (an interpreter takes ~0.1 s to start).
		T0=$(awk -v now="$EPOCHREALTIME" 'BEGIN { printf "%.6f", now + 0.3 }')
		lab_bg ip netns exec "$LAB_NS_MH" timeout -k 0.5 $((SECS + 3)) \
			"${TOOL[@]}" udp-tx "$FAM" "$SRC" "$DST" "$PORT" "$SECS" "$UDP_MBPS" "$RUN/udp-tx.txt" "$T0"
	fi
	cpid=$LAB_BG_PID
	echo "$T0" >"$RUN/t0"

	sleep_until "$T0" "$T_FIRST"
	if [[ $HO == soft ]]; then ev_new_up; else ev_old_down; fi
	sleep_until "$T0" "$T_SECOND"
	if [[ $HO == soft ]]; then ev_old_down; else ev_new_up; fi
	if [[ $SER == mptcp ]]; then
		sleep 1
		{ ip netns exec "$LAB_NS_MH" ss -Mni; ip netns exec "$LAB_NS_MH" ss -tni; } >"$RUN/ss-mh.txt" 2>&1 || true
		ip netns exec "$LAB_NS_CH" ss -Mni >"$RUN/ss-ch.txt" 2>&1 || true
	fi

	lab_wait "$cpid" || crc=$?
	if [[ $PROTO == tcp ]]; then
		# iperf3's server ends by itself after a good run
		for ((i = 0; i < 10; i++)); do kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
	else
		sleep 0.1	# the last datagrams (tbf: 50 ms of queue at most)
	fi
	kill -TERM "$spid" 2>/dev/null || true
	lab_wait "$spid" || src_rc=$?
	[[ -z $CAP_PID ]] || { kill -TERM "$CAP_PID" 2>/dev/null || true; lab_wait "$CAP_PID" || true; }
	if [[ $SER == mptcp ]]; then
		ip netns exec "$LAB_NS_MH" nstat -asz >"$RUN/nstat.mh" 2>&1 || true
		ip netns exec "$LAB_NS_CH" nstat -asz >"$RUN/nstat.ch" 2>&1 || true
	fi
	[[ $SER != dime ]] || dimeds_stop
	if [[ $PROTO == tcp ]]; then
		"$PY" "$LAB_HERE/iperf_res.py" "$RUN/client.json" "$RUN/server.json" \
			"proto=tcp" "family=$FAM" "src=$SRC" "dst=$DST" "port=$PORT" \
			"client_rc=$crc" "server_rc=$src_rc" "t0=$T0" >"$RUN/tcp.res"
	fi
	"${TOOL[@]}" analyze "dir=$RUN" "soft_mode=$SOFT_MODE" "family=$FAM" "proto=$PROTO" "handoff=$HO" "series=$SER" \
		"rep=$REP" "secs=$SECS" "t0=$T0" "port=$PORT" "addr_a=$SRC" "addr_b=$ADDR_B" \
		"gw_b=$([[ $FAM == 4 ]] && echo "$R2_B4" || echo "$R2_B6")" >"$RUN/line"
	[[ ${FIG8_KEEP_PCAP:-0} == 1 ]] || rm -f "$RUN/cap.pcap"
}

# run_one FAM PROTO HANDOFF SERIES REP : in the family's shell
run_one() {
	local rc=0 t=$SECONDS mark pid
	FAM=$1 PROTO=$2 HO=$3 SER=$4 REP=$5
	RUN=$LOGS/v$FAM-$PROTO-$HO-$SER-$REP
	mkdir -p "$RUN"
	mark=$(wc -l <"$LAB_DIR/pids")
	reset_lab >"$RUN/run.log" 2>&1
	(
		set -e
		exec {BASH_XTRACEFD}>"$RUN/trace"
		PS4='+ ${EPOCHREALTIME} ${FUNCNAME[0]:-main}:$LINENO: '
		set -x
		run_body
	) >>"$RUN/run.log" 2>&1 &
	pid=$!
	lab_track "$pid"
	wait "$pid" || rc=$?
	lab_kill_since "$mark"
	PREV_SER=$SER
	if [[ $rc == 0 && -s $RUN/summary.csv ]]; then
		cat "$RUN/goodput.csv" >>"$GOODPUT"
		cat "$RUN/summary.csv" >>"$SUMMARY"
		cat "$RUN/events.csv" >>"$EVENTS"
		echo "$(cat "$RUN/line") [$((SECONDS - t)) s]" | tee -a "$LOGS/runs.log" >&3
	else
		echo "fail" >>"$LOGS/failed"
		echo "v$FAM $PROTO $HO $SER rep$REP: the run failed (status $rc): $(grep -v '^+' "$RUN/run.log" | tail -n 3 | tr '\n' ' ')" |
			tee -a "$LOGS/runs.log" >&3
	fi
}

# run_family FAM : one lab for the family, then every run on it (a subshell:
# lab_cleanup removes the lab when it exits)
run_family() {
	local n=$REPS rep proto ho ser protos=$PROTOS series=$SERIES
	FAM=$1
	[[ $FAM != 6 ]] || n=$REPS6 protos=$PROTOS6 series=$SERIES6
	LAB_DIR=$LOGS/lab-v$FAM LAB_KEEP=1
	mkdir -p "$LAB_DIR"
	export LAB_DIR LAB_KEEP
	lab_up
	link_rate A "$RATE"
	link_rate B "$RATE"
	lab_firewall on "$IHMP_PORT"
	echo "tcp congestion control: $(ip netns exec "$LAB_NS_MH" sysctl -n net.ipv4.tcp_congestion_control)" >"$LOGS/lab-v$FAM.info"
	for ((rep = 1; rep <= n; rep++)); do
		for proto in $protos; do
			for ho in $HANDOFFS; do
				for ser in $series; do
					[[ ! ($ser == mptcp && $proto == udp) ]] || continue
					if [[ $ser == mptcp && $HAVE_MPTCP == 0 ]]; then
						echo "$FAM,$proto,$ho,mptcp,$rep,,,0,skipped: no MPTCP (mptcpize or net.mptcp.enabled)" >>"$SUMMARY"
						continue
					fi
					run_one "$FAM" "$proto" "$ho" "$ser" "$rep"
				done
			done
		done
	done
}

# ----------------------------------------------------------- driver ---
FAM_PID=
on_signal() {
	[[ -z $FAM_PID ]] || { kill -TERM "$FAM_PID" 2>/dev/null || true; wait "$FAM_PID" 2>/dev/null || true; }
	exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

START=$SECONDS
exec 3>&2
log "$( ((QUICK)) && echo quick || echo full): families '$FAMILIES', ${SECS} s transfers, events at ${T_FIRST} s and ${T_SECOND} s, links $RATE, UDP $UDP_MBPS Mbit/s; logs in ${LOGS#"$ROOT"/}"
for f in $FAMILIES; do
	rc=0
	( run_family "$f" ) >"$LOGS/lab-v$f.log" 2>&1 &
	FAM_PID=$!
	wait "$FAM_PID" || rc=$?
	FAM_PID=
	((rc == 0)) || log "IPv$f: the lab stopped with status $rc ($(tail -n 2 "$LOGS/lab-v$f.log" | tr '\n' ' '))"
done
[[ -f $LOGS/runs.log ]] || die "no run happened (see ${LOGS#"$ROOT"/}/lab-v*.log)"
NRUN=$(wc -l <"$LOGS/runs.log")
NFAIL=0
[[ ! -f $LOGS/failed ]] || NFAIL=$(wc -l <"$LOGS/failed")
((NRUN > NFAIL)) || die "no run completed ($NFAIL of $NRUN failed; see ${LOGS#"$ROOT"/})"

echo
echo "DIME Fig. 8: goodput MH -> CH across a handoff ($( ((QUICK)) && echo quick || echo full); ${SECS} s, events at ${T_FIRST}/${T_SECOND} s, $RATE links; mptcp: no UDP)"
"${TOOL[@]}" table "$SUMMARY"
echo "runs: $NRUN ($NFAIL failed), $((SECONDS - START)) s; CSV in ${EVAL#"$ROOT"/}/fig8_{goodput,summary,events}.csv"
