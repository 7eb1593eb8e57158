#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/nat.sh -- flows carried through NATs (issue 13), measured side by
# side in one run on the namespace lab (test/lab/lab.sh); only ratios are
# judged, absolute numbers are printed for context and never asserted.
#
#   bench/nat.sh [--quick] [--perf] [--help]
#
#   (full)    goodput: 3 repetitions x 4 conditions, 8 s windows; resume:
#             5 repetitions x 2 series, 2 s gap. About 4 minutes.
#   --quick   1 repetition of 3 s windows; 2 resume repetitions, 1 s gap.
#             About 1 minute.
#   --perf    also `perf record -g` both dimeds during the last
#             encapsulated goodput window; the top symbols with their
#             callees ("children") go to LOGS/perf-encap-*.txt, MH's are
#             printed.
#
# The lab: IPv4, MH -- R1/R2 -- switch -- CH, stateful firewalls on MH and
# CH for every condition (lab_firewall on 3463), dimed with zero
# configuration on MH and CH, fresh daemons for every run, MH on its first
# link only and every conntrack table flushed before each run. A NAT is
# lab.sh's lab_nat (masquerade of MH's subnet out of the router's core
# link, nothing unsolicited in, CH without a route to the subnet); a copy of
# it here is used with a lab.sh that has none.
#
# 1. Goodput: one iperf3 TCP flow MH -> CH, receiver's goodput over a window
#    of SECS s (iperf3 -J intervals of 0.5 s), links not rate-limited (the
#    datapath's own cost). Conditions, interleaved within each repetition:
#      kernel      R2 plain, MH on B, the flow from B: needs no translation
#                  (dimed running; mode "native")
#      kernel_nat  the same through NAT2 (R2 masquerading): the NAT's own
#                  cost, for context (mode "native")
#      translated  R2 plain: the flow starts on A, MH moves hard (no gap)
#                  to B, dimed translates it (mode "translated")
#      encap       R2 a NAT: the same move, the flow now crosses NAT2 and
#                  dimed carries it in UDP DATA datagrams through dime0
#                  (mode "encap")
#    A moved flow's window starts SETTLE s after it resumed (the first 0.5 s
#    interval with data at or after the move); a kernel flow's SETTLE s
#    after it began. Every flow of the iperf3 test (control and data) must
#    have the claimed mode in `dimectl -j show flows` on MH and CH, and the
#    counters must agree (encap: tunnel.encap_out grew; translated:
#    datapath.translated_out grew and encap_out did not; kernel: neither),
#    or the benchmark fails. dimed's CPU share on each host over the window
#    (from /proc) is printed with the goodput.
# 2. Resume after a NAT -> NAT hard handoff: R1 and R2 both NATs, links
#    rate-limited to 100 Mbit/s (tbf, as bench/fig8.sh), a bulk iperf3 TCP
#    flow from MH's A address; T_DOWN s in, A goes (address and route), GAP
#    s with no address, then B comes up (lab.sh's move_hard steps, stamped).
#    Resume time = new address usable (MH's address and default route both
#    in place: `ip -ts monitor` on MH, as fig8.sh) -> the first flow data
#    at CH via NAT2 (tcpdump on CH's sw0, kernel timestamps: a TCP segment
#    with payload from NAT2's address, or a DATA datagram to port 3463 whose
#    inner packet is such a segment). Series, alternating:
#      dime   dimed on both hosts; the flow must be "encap" after the move
#      mptcp  the kernel's MPTCP (fig8.sh's set-up: iperf3 under mptcpize,
#             limits 4/4, endpoint A id 1 at the start, deleted right after
#             A goes; endpoint B id 2 "subflow" added right after B comes
#             up); the connection must have been MP_CAPABLE (nstat)
#    A series that never resumes is reported as such (not a failure).
#
# Output: a table, then one line per ratio, "ratio encap/translated goodput
# = 0.xx (median of N...)" (goodput ratios: median of the per-repetition
# ratios; resume: ratio of the medians). Goals (issue 13): encap >= 0.8 x
# translated; dime's resume <= MPTCP's. Exit 0 once the table is printed,
# whatever the numbers; 1 if a case did not run as claimed or could not run.
# Logs: bench/out/logs-nat/ (samples.txt, per run: iperf3 JSON, dimectl
# flows and stats, capture, ip monitor, daemons' logs).
#
# Environment: DIMED, DIMECTL (default build/src/dimed, dimectl; copied at
# the start, so a rebuild meanwhile changes nothing), NAT_GREPS, NAT_RREPS
# (repetitions), NAT_SECS (goodput window), NAT_GAP (resume gap, s).
# Needs root, iperf3, nft, tc, tcpdump, conntrack, python3, and mptcpize
# with net.mptcp.enabled=1 (without them the mptcp series is skipped and
# said so).
set -euo pipefail

BENCH_NAME=nat
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PERF=0
bench_option() {
	case "$1" in
	--perf) PERF=1 ;;
	*) return 1 ;;
	esac
}
bench_args "$@"
IHMP_PORT=3463
RATE=100mbit
TOOL=("$PY" "$BENCH/nat_tool.py")

if ((QUICK)); then
	GREPS=${NAT_GREPS:-1} SECS=${NAT_SECS:-3} RREPS=${NAT_RREPS:-2} GAP=${NAT_GAP:-1} T_DOWN=1.0 AFTER=1.5
else
	GREPS=${NAT_GREPS:-3} SECS=${NAT_SECS:-8} RREPS=${NAT_RREPS:-5} GAP=${NAT_GAP:-2} T_DOWN=1.5 AFTER=1.5
fi
PRE=1.5		# s of flow on A before a goodput run's move
SETTLE=1	# s after the (re)start of a flow before its goodput window
GCONDS="kernel kernel_nat translated encap"

bench_need dimed iperf3 nft tc tcpdump conntrack "$PY"
HAVE_MPTCP=1
command -v mptcpize >/dev/null || { HAVE_MPTCP=0; log "no mptcpize (package mptcpd): the mptcp series is skipped"; }
[[ $(sysctl -n net.mptcp.enabled 2>/dev/null || echo 0) == 1 ]] ||
	{ HAVE_MPTCP=0; log "net.mptcp.enabled is not 1: the mptcp series is skipped"; }
((PERF == 0)) || command -v perf >/dev/null || { PERF=0; log "no perf: --perf ignored"; }

bench_logs "$OUT/logs-nat"
dime_copy_bins "$LOGS/bin"
SAMPLES=$LOGS/samples.txt
: >"$SAMPLES"
{
	echo "dimed: sha256 $(sha256sum <"$DIMED" | cut -c1-16); git $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
	echo "kernel $(uname -r); $(iperf3 --version | head -n1); cpus $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$LOGS/versions.txt"

kv() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"; }
since() { awk -v t0="$1" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.3f", now - t0 }'; }
# sleep_until T0 SECS : until T0 (an EPOCHREALTIME) + SECS
sleep_until() {
	local d
	d=$(awk -v t0="$1" -v s="$2" -v now="$EPOCHREALTIME" 'BEGIN { d = t0 + s - now; printf "%.6f", (d > 0 ? d : 0) }')
	sleep "$d"
}
stamp() { echo "$1 $EPOCHREALTIME" >>"$RUN/events"; }
ceil() { awk -v x="$1" 'BEGIN { n = int(x); if (n < x) n++; print n }'; }

# ------------------------------------------------------------------ NAT ---
# nat R1|R2 on|off : lab.sh's lab_nat, or the same rules here without it.
declare -A NAT_STATE=([R1]=off [R2]=off)
nat() {
	[[ ${NAT_STATE[$1]} != "$2" ]] || return 0
	if declare -F lab_nat >/dev/null; then
		lab_nat "$1" "$2"
	else
		local ns sub pub
		case "$1" in
		R1) ns=$LAB_NS_R1 sub=$SUBNET_A4 pub=$R1_S4 ;;
		R2) ns=$LAB_NS_R2 sub=$SUBNET_B4 pub=$R2_S4 ;;
		esac
		ip netns exec "$ns" nft delete table ip natlab 2>/dev/null || true
		if [[ $2 == on ]]; then
			# ("fwd" and "post" are nft keywords)
			ip netns exec "$ns" nft -f - <<-NFT
				table ip natlab {
					chain postr {
						type nat hook postrouting priority srcnat; policy accept;
						oifname "$SW_DEV" ip saddr $sub masquerade
					}
					chain forw {
						type filter hook forward priority 0; policy accept;
						ct state established,related accept
						iifname "$SW_DEV" ip daddr $sub drop
					}
				}
			NFT
			ip -n "$LAB_NS_CH" route del "$sub" 2>/dev/null || true
		else
			ip -n "$LAB_NS_CH" route replace "$sub" via "$pub"
		fi
		ip netns exec "$ns" conntrack -F >/dev/null 2>&1 || true
	fi
	NAT_STATE[$1]=$2
}

# ---------------------------------------------------------------- runs ---
# reset_lab A|B : MH on that link only; nothing left of the previous run (no
# address on lo, no dimed table or NFQUEUE rule, no dime0, no MPTCP
# endpoint, no TCP metrics, no conntrack entry anywhere).
reset_lab() {
	local link=$1 h ns a t
	lab_detach "$(lab_other "$link")"
	lab_attach "$link"
	echo "$link" >"$LAB_DIR/cur"
	for h in mh ch; do
		ns=$(dime_ns "$h")
		printf '%s\n' "mptcp endpoint flush" "mptcp limits set subflows 2 add_addr_accepted 0" \
			"tcp_metrics flush all" | ip -force -n "$ns" -batch - >/dev/null 2>&1 || true
		for a in $(ip -n "$ns" -o addr show dev lo | awk '$4 !~ /^(127\.|::1\/)/ { print $4 }'); do
			log "WARNING: $h: $a left on lo; removing it"
			ip -n "$ns" addr del "$a" dev lo
		done
		if ip netns exec "$ns" nft list tables 2>/dev/null | grep -q ' dimed$'; then
			log "WARNING: $h: dimed's nft table was left behind; deleting it"
			ip netns exec "$ns" nft delete table inet dimed || true
		fi
		if ip netns exec "$ns" iptables-save 2>/dev/null | grep -q NFQUEUE; then
			log "WARNING: $h: NFQUEUE rules were left behind; flushing raw and mangle"
			for t in raw mangle; do ip netns exec "$ns" iptables -t "$t" -F 2>/dev/null || true; done
		fi
		if ip -n "$ns" link show dime0 >/dev/null 2>&1; then
			log "WARNING: $h: dime0 was left behind; deleting it"
			ip -n "$ns" link del dime0 || true
		fi
	done
	for ns in "$LAB_NS_MH" "$LAB_NS_CH" "$LAB_NS_R1" "$LAB_NS_R2"; do
		ip netns exec "$ns" conntrack -F >/dev/null 2>&1 || true
	done
}

# check_modes WANT PORT TAG : every TCP flow of the test on PORT has mode
# WANT on MH and on CH, or the benchmark fails.
check_modes() {
	local want=$1 port=$2 tag=$3 h got
	for h in mh ch; do
		dime_ctl "$h" -j show flows >"$RUN/flows.$h.json" 2>&1 || true
		got=$("${TOOL[@]}" modes "$RUN/flows.$h.json" "$h" "$port")
		[[ $got == "$want" ]] ||
			die "$tag: the flow's mode on $h is '$got', not '$want' (the case did not run as claimed; see ${RUN#"$ROOT"/}/flows.$h.json)"
	done
}

# check_counters COND TAG : MH's counters agree with the mode claimed.
check_counters() {
	local cond=$1 tag=$2 h eo to
	for h in mh ch; do dime_ctl "$h" -j stats >"$RUN/stats.$h.json" 2>&1 || true; done
	read -r eo to < <("${TOOL[@]}" stat "$RUN/stats.mh.json" tunnel.encap_out datapath.translated_out | paste -sd' ')
	case "$cond" in
	encap) ((eo >= 1000)) || die "$tag: MH's tunnel.encap_out is $eo (the flow was not encapsulated)" ;;
	translated) ((to >= 1000 && eo == 0)) || die "$tag: MH translated_out $to, encap_out $eo (not plainly translated)" ;;
	*) ((to == 0 && eo == 0)) || die "$tag: MH translated_out $to, encap_out $eo (not the kernel path)" ;;
	esac
	echo "encap_out=$eo translated_out=$to"
}

cpu_ticks() { "${TOOL[@]}" cpu "$1" 2>/dev/null | cut -d' ' -f1 || echo 0; }

perf_dimeds() {
	local h secs=$1 pids=()
	for h in mh ch; do
		perf record -e cpu-clock -g -o "$RUN/perf-$h.data" -p "$(dime_pid "$h")" -- sleep "$secs" \
			>/dev/null 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	for h in mh ch; do
		perf report -i "$RUN/perf-$h.data" --children --stdio --percent-limit 4 -g none 2>/dev/null |
			grep -v '^#' | grep -v '^$' | head -40 >"$LOGS/perf-encap-$h.txt" || true
	done
}

# goodput_run COND REP
goodput_run() {
	local cond=$1 rep=$2 start=A move=1 want nat2=off port total t0 tmove spid cpid
	local pm pc cm0 cc0 cm1 cc1 t1 t2 hz res w from to cnt mark
	case "$cond" in
	kernel) start=B move=0 want=native ;;
	kernel_nat) start=B move=0 want=native nat2=on ;;
	translated) want=translated ;;
	encap) want=encap nat2=on ;;
	esac
	RUN=$LOGS/goodput-$cond-$rep
	mkdir -p "$RUN"
	DIME_LOG=$RUN/dimed.
	mark=$(wc -l <"$LAB_DIR/pids")
	nat R1 off
	nat R2 "$nat2"
	reset_lab "$start"
	bench_daemons start -l info
	port=$(lab_port)
	total=$(ceil "$(awk -v p="$PRE" -v m="$move" -v s="$SETTLE" -v n="$SECS" 'BEGIN { print m * p + s + n + 1.5 }')")
	lab_bg ip netns exec "$LAB_NS_CH" timeout -k 2 $((total + 20)) \
		iperf3 -s -1 -B "$CH4" -p "$port" -i 0.5 -J --logfile "$RUN/server.json"
	spid=$LAB_BG_PID
	lab_wait_listen "$LAB_NS_CH" tcp "$port" || die "iperf3 server did not start"
	t0=$EPOCHREALTIME
	lab_bg ip netns exec "$LAB_NS_MH" timeout -k 2 $((total + 15)) \
		iperf3 -c "$CH4" -B "$(lab_addr 4 "$start")" -p "$port" -t "$total" -i 0.5 -J \
		--connect-timeout 3000 --logfile "$RUN/client.json"
	cpid=$LAB_BG_PID
	tmove=0
	if ((move)); then
		sleep_until "$t0" "$PRE"
		move_hard 0
		tmove=$(since "$t0")
	fi
	sleep_until "$t0" "$(awk -v m="$tmove" -v s="$SETTLE" 'BEGIN { print m + s * 0.6 }')"
	check_modes "$want" "$port" "goodput $cond #$rep"
	pm=$(dime_pid mh) pc=$(dime_pid ch)
	sleep_until "$t0" "$(awk -v m="$tmove" -v s="$SETTLE" 'BEGIN { print m + s }')"
	cm0=$(cpu_ticks "$pm") cc0=$(cpu_ticks "$pc") t1=$EPOCHREALTIME
	if ((PERF)) && [[ $cond == encap && $rep == "$GREPS" ]]; then
		perf_dimeds "$((SECS - 1))"
		sleep_until "$t1" "$SECS"
	else
		sleep "$SECS"
	fi
	cm1=$(cpu_ticks "$pm") cc1=$(cpu_ticks "$pc") t2=$EPOCHREALTIME
	lab_wait "$cpid" || log "goodput $cond #$rep: iperf3 client exited with $?"
	for ((i = 0; i < 40; i++)); do kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
	kill -TERM "$spid" 2>/dev/null || true
	lab_wait "$spid" || true
	cnt=$(check_counters "$cond" "goodput $cond #$rep") || exit 1
	bench_daemons stop
	lab_kill_since "$mark"
	hz=$(getconf CLK_TCK)
	res=$("$PY" "$BENCH/benchlib.py" resume "$RUN/server.json" "$tmove")
	if [[ $res == -1 ]]; then
		log "goodput $cond #$rep: the flow never resumed after the move"
		echo "goodput $cond $rep nan Gbit/s" >>"$SAMPLES"
		return 0
	fi
	from=$(awk -v r="$res" -v s="$SETTLE" 'BEGIN { print r + s }')
	to=$(awk -v f="$from" -v n="$SECS" 'BEGIN { print f + n }')
	w=$("$PY" "$BENCH/benchlib.py" window "$RUN/server.json" "$from" "$to")
	local cpum cpuc
	cpum=$(awk -v a="$cm0" -v b="$cm1" -v hz="$hz" -v t1="$t1" -v t2="$t2" 'BEGIN { printf "%.0f", (b - a) / hz / (t2 - t1) * 100 }')
	cpuc=$(awk -v a="$cc0" -v b="$cc1" -v hz="$hz" -v t1="$t1" -v t2="$t2" 'BEGIN { printf "%.0f", (b - a) / hz / (t2 - t1) * 100 }')
	echo "goodput $cond $rep $(kv "$w" gbps) Gbit/s cpu_mh=$cpum cpu_ch=$cpuc" >>"$SAMPLES"
	log "goodput $cond #$rep: $(kv "$w" gbps) Gbit/s over $(kv "$w" secs) s (mode $want$( ((move)) && echo ", moved at ${tmove}s, resumed at ${res}s"); dimed CPU mh ${cpum}% ch ${cpuc}%; $cnt)"
}

mptcp_ep() { ip -n "$LAB_NS_MH" mptcp endpoint "$@"; }
nstat_snap() { ip netns exec "$LAB_NS_MH" nstat -asz >"$RUN/nstat.mh.$1" 2>&1 || true; ip netns exec "$LAB_NS_CH" nstat -asz >"$RUN/nstat.ch.$1" 2>&1 || true; }

# resume_run SER REP : NAT1 -> NAT2 hard handoff of a bulk TCP flow
resume_run() {
	local ser=$1 rep=$2 wrap=() port secs t0 spid cpid cap i crc=0 out mark f
	RUN=$LOGS/resume-$ser-$rep
	mkdir -p "$RUN"
	: >"$RUN/events"
	DIME_LOG=$RUN/dimed.
	mark=$(wc -l <"$LAB_DIR/pids")
	reset_lab A
	port=$(lab_port)
	secs=$(ceil "$(awk -v a="$T_DOWN" -v g="$GAP" -v b="$AFTER" 'BEGIN { print a + g + b }')")
	lab_bg ip -n "$LAB_NS_MH" -ts monitor address route >"$RUN/mh-ip-monitor.txt" 2>&1
	case "$ser" in
	dime) DIME_STAMP=1 bench_daemons start -l info ;;
	mptcp)
		for ns in "$LAB_NS_MH" "$LAB_NS_CH"; do ip -n "$ns" mptcp limits set subflows 4 add_addr_accepted 4; done
		mptcp_ep add "$MH_A4" id 1 dev "$MH_A_DEV" subflow
		wrap=(mptcpize run)
		nstat_snap before
		;;
	esac
	lab_bg ip netns exec "$LAB_NS_CH" tcpdump -i "$SW_DEV" -n -s 160 -B 16384 -Z root \
		--time-stamp-precision=nano -w "$RUN/cap.pcap" "(tcp dst port $port) or (udp dst port $IHMP_PORT)" \
		2>"$RUN/capture.err"
	cap=$LAB_BG_PID
	for ((i = 0; i < 100; i++)); do grep -q 'listening on' "$RUN/capture.err" 2>/dev/null && break; sleep 0.05; done
	grep -q 'listening on' "$RUN/capture.err" || die "tcpdump did not start: $(cat "$RUN/capture.err")"
	lab_bg ip netns exec "$LAB_NS_CH" timeout -k 2 $((secs + 20)) "${wrap[@]}" \
		iperf3 -s -1 -B "$CH4" -p "$port" -i 0.5 -J --logfile "$RUN/server.json"
	spid=$LAB_BG_PID
	lab_wait_listen "$LAB_NS_CH" tcp "$port" || die "iperf3 server did not start"
	t0=$EPOCHREALTIME
	lab_bg ip netns exec "$LAB_NS_MH" timeout -k 1 $((secs + 3)) "${wrap[@]}" \
		iperf3 -c "$CH4" -B "$MH_A4" -p "$port" -t "$secs" -i 0.5 -J --connect-timeout 3000 \
		--logfile "$RUN/client.json"
	cpid=$LAB_BG_PID
	# move_hard's steps, with MPTCP's endpoint changes right after them
	sleep_until "$t0" "$T_DOWN"
	stamp hard_down
	lab_detach A
	echo none >"$LAB_DIR/cur"
	[[ $ser != mptcp ]] || mptcp_ep delete id 1
	sleep_until "$t0" "$(awk -v a="$T_DOWN" -v g="$GAP" 'BEGIN { print a + g }')"
	lab_attach B
	echo B >"$LAB_DIR/cur"
	stamp hard_up
	[[ $ser != mptcp ]] || { mptcp_ep add "$MH_B4" id 2 dev "$MH_B_DEV" subflow; stamp mptcp_endpoint_added; }
	sleep 0.8
	[[ $ser != dime ]] || check_modes encap "$port" "resume dime #$rep"
	lab_wait "$cpid" || crc=$?
	for ((i = 0; i < 40; i++)); do kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
	kill -TERM "$spid" 2>/dev/null || true
	lab_wait "$spid" || true
	sleep 0.1
	kill -TERM "$cap" 2>/dev/null || true
	lab_wait "$cap" || true
	case "$ser" in
	dime)
		for h in mh ch; do dime_ctl "$h" -j stats >"$RUN/stats.$h.json" 2>&1 || true; done
		dime_ctl ch -j show hids >"$RUN/hids.ch.json" 2>&1 || true
		bench_daemons stop
		;;
	mptcp) nstat_snap after ;;
	esac
	lab_kill_since "$mark"
	out=$("${TOOL[@]}" resume "dir=$RUN" "t0=$t0" "port=$port" "ihmp_port=$IHMP_PORT" "addr_a=$MH_A4" \
		"addr_b=$MH_B4" "gw_b=$R2_B4" "old_src=$(nat_pub R1)" "new_src=$(nat_pub R2)")
	if [[ $ser == mptcp ]]; then
		f=$("${TOOL[@]}" nstat-diff "$RUN/nstat.ch.before" "$RUN/nstat.ch.after" MPTcpExtMPCapableSYNRX MPTcpExtMPJoinSynRx MPTcpExtMPJoinAckRx | paste -sd' ')
		[[ $(kv "$f" MPTcpExtMPCapableSYNRX) -ge 1 ]] ||
			die "resume mptcp #$rep: CH saw no MP_CAPABLE SYN ($f): not an MPTCP connection"
		out+=" $f"
	fi
	out+=" client_rc=$crc"
	echo "$out" >"$RUN/result"
	local r
	r=$(kv "$out" resume_ms)
	echo "resume $ser $rep ${r:-nan} ms kind=$(kv "$out" kind)" >>"$SAMPLES"
	log "resume $ser #$rep: ${r:-never resumed}${r:+ ms}; $out"
}
nat_pub() {
	if declare -F lab_nat_public >/dev/null; then lab_nat_public "$1" 4
	else case "$1" in R1) echo "$R1_S4" ;; R2) echo "$R2_S4" ;; esac; fi
}

# ---------------------------------------------------------------- main ---
log "$( ((QUICK)) && echo quick || echo full): goodput $GREPS x {$GCONDS}, ${SECS} s windows; resume $RREPS x {dime$( ((HAVE_MPTCP)) && echo " mptcp")}, gap ${GAP} s, links $RATE; logs in ${LOGS#"$ROOT"/}"
lab_up
lab_firewall on "$IHMP_PORT"

for ((rep = 1; rep <= GREPS; rep++)); do
	for c in $GCONDS; do goodput_run "$c" "$rep"; done
done

nat R1 on
nat R2 on
link_rate A "$RATE"
link_rate B "$RATE"
for ((rep = 1; rep <= RREPS; rep++)); do
	resume_run dime "$rep"
	if ((HAVE_MPTCP)); then resume_run mptcp "$rep"; fi
done

echo
echo "bench/nat: dime through NATs ($( ((QUICK)) && echo quick || echo full); $(lab_since "$T_START") s; load now $(cut -d' ' -f1-3 /proc/loadavg))"
sed 's/^/  /' "$LOGS/versions.txt"
"${TOOL[@]}" report "$SAMPLES"
((HAVE_MPTCP)) || echo "(mptcp series skipped: no mptcpize or net.mptcp.enabled=0)"
if ((PERF)) && [[ -s $LOGS/perf-encap-mh.txt ]]; then
	echo
	echo "dimed on MH during an encapsulated window (perf cpu-clock; children, self, symbol):"
	head -n 24 "$LOGS/perf-encap-mh.txt"
fi
echo "(goodput: receiver's, one iperf3 TCP flow MH -> CH, links not rate-limited; resume: new address usable -> first flow data via NAT2 at CH, 100 Mbit/s links; logs: ${LOGS#"$ROOT"/})"
