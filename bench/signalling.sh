#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/signalling.sh -- IHMP signalling cost and handoff latency (the DIME
# paper's claim that signalling is per peer, not per connection).
#
#   bench/signalling.sh [--quick] [--datapath=queue|kernel] [--help]
#
#   --quick   c up to 1,000, 2 latency repetitions per kind, hard handoffs
#             with a 0.5 s gap
#   (full)    c up to 10,000, 5 latency repetitions per kind, 1 s gap
#   --datapath=queue|kernel  dimed's --datapath (default: dimed's own, auto)
#   Measured on the shared 2-core machine (kernel 6.18): quick 39-50 s
#   (56 s while a test suite ran alongside, load average 5), full 78-82 s
#   (172 s under that load).
#
# Setting: test/lab/lab.sh (MH -- R1/R2 -- switch -- CH), dimed on MH and
# CH with no configuration (IHMP does every mapping), debug logs piped through
# a time stamper (DIME_STAMP=1 of test/lab/dime.sh: wall time per line, so
# the logs give each IHMP step's time). Before every case the daemons are stopped, MH
# is put back on link A, and the daemons are started fresh.
#
# (a) Messages per handoff vs. connections. For c in 1 10 100 1000 [10000]:
#     c idle TCP connections MH(A) -> CH (bench/sig_tool.py conns: non-
#     blocking connects in batches, one byte echoed through each by an echo
#     server on CH); once IHMP is quiet (the HELLO exchange and its probes
#     are over), nft counters on MH count IHMP datagrams (UDP port 3463) in
#     its output hook (MH -> CH) and prerouting hook (CH -> MH); one hard
#     handoff (move_hard, 1 s gap, quick 0.5 s); counted until the ACKs are
#     in and the counters stood still for 0.5 s (quick 0.3 s). by_type: the
#     deltas of MH's `dimectl -j stats` (sent.* = MH -> CH, recv.* = CH ->
#     MH, plus retransmits and local send errors: sends that found no route
#     while MH had no address, which never reach the wire).
#     Then one byte is echoed through every connection again, 1,000
#     connections at a time (conns_alive = how many answered; established
#     sockets on MH, dimed's stats and TCP RSTs seen are logged). Why in
#     batches: dimed's NFQUEUE holds 4,096 packets and fails open when full,
#     so a burst on 10,000 translated connections at once lets packets pass
#     untranslated and the peers' RSTs kill a part of them -- a dimed
#     limitation, not the handoff's (SIG_ECHO_BATCH=0 echoes all at once).
#     Expected: the same small number for every c (per address family one
#     HANDOFF, CH's return-routability PATH_PROBE, and an ACK for each).
#     The stdout table adds "done ms": from MH's dimed logging its new
#     address to the last ACK it got (both families switched).
# (b) Latency. Hard (1 s gap, quick 0.5 s) and soft (new link up, old gone 1 s later)
#     handoffs, 5 repetitions each (quick: 2), alternating. A UDP probe MH(A)
#     -> CH, 100 bytes every 2 ms. The event: MH's new IPv4 address B being
#     added (`ip -ts monitor address` in MH: netlink event time). Then, in
#     CH's namespace (bench/sig_tool.py watch): dimed's control socket polled
#     every ~2-3 ms (`show hids`) until B is the first active IPv4 address of
#     MH's HID (event_to_table_ms), and an AF_PACKET socket on CH's link
#     gives the kernel receive time of the first probe datagram from B
#     (event_to_data_ms). In a soft handoff the moment MH's flows switch
#     is dimed's choice: when the old address goes (builds before the
#     route-move handoff) or when the default route moves to the new link;
#     the stdout table therefore also gives both numbers from the new
#     default route's netlink event and, for soft, from the old address's
#     removal. The stamped logs give a per-step breakdown
#     (logs-signalling/breakdown.txt).
#
# Output (bench/out/eval/):
#   signalling.csv  conns,rep,ihmp_pkts_mh_to_ch,ihmp_pkts_ch_to_mh,ihmp_bytes,by_type,conns_alive
#                   (ihmp_bytes: IP bytes both ways, as counted by nft)
#   latency.csv     handoff,rep,event_to_table_ms,event_to_data_ms
#   logs-signalling/  stamped dimed logs, stats, connection results, breakdown
#   and a table on stdout. Exit 0 once the tables are printed, whatever the
#   numbers; non-zero only if the benchmark itself could not run.
#
# Needs root, nft, iproute2 (ip, ss), python3, build/src/dimed + dimectl (not
# rebuilt here).
set -euo pipefail

BENCH_NAME=signalling
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_args "$@"
IHMP_PORT=3463
OVERLAP=1		# soft handoff: seconds with both addresses
if ((QUICK)); then
	CONNS_LIST="1 10 100 1000" LAT_REPS=1 GAP=0.5 STILL=3	# GAP: hard handoff, seconds without any address
else
	CONNS_LIST="1 10 100 1000 10000" LAT_REPS=5 GAP=1 STILL=5	# STILL: wire counters unchanged for STILL/10 s
fi
# For working on one part: SIG_CONNS="10000" SIG_LAT_REPS=0 bench/signalling.sh
CONNS_LIST=${SIG_CONNS:-$CONNS_LIST} LAT_REPS=${SIG_LAT_REPS:-$LAT_REPS}
ECHO_BATCH=${SIG_ECHO_BATCH:-1000}

bench_need dimed nft python3 ip ss
mkdir -p "$EVAL"
bench_logs "$EVAL/logs-signalling"
ulimit -n 200000 2>/dev/null || ulimit -n 65536 2>/dev/null || true
TOOL=("$PY" "$BENCH/sig_tool.py")
DIME_STAMP=1

lab_up

now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "none" || b == "none" || a == "" || b == "") print "nan"; else printf "%.1f", (a - b) * 1000 }'; }

# ------------------------------------------------------------- daemons ---
# fresh TAG : daemons stopped, MH on A only, daemons started again (debug
# logs, stamped: LOGS/dimed-TAG.HOST.log)
# (bench_daemons stop warns about, and removes, identifiers left on lo)
fresh() {
	bench_daemons stop
	if [[ $(lab_cur) != A ]] || ip -n "$LAB_NS_MH" -o addr show dev "$MH_B_DEV" | grep -q ' inet '; then
		move_back
	fi
	DIME_LOG=$LOGS/dimed-$1.
	bench_daemons start -l debug
}

# ihmp_quiet : until neither daemon's IHMP totals (sent + received) moved
# for 0.3 s (at most 8 s)
ihmp_quiet() {
	local r
	r=$("${TOOL[@]}" quiet 8 "$(dime_sock mh)" "$(dime_sock ch)") || log "WARNING: IHMP $r"
}

# ---------------------------------------------------- wire counters ---
wire_on() {
	local t rules_o='' rules_i=''
	for t in 1 2 3 4 5 6 7 8 9 10; do
		rules_o+="udp dport $IHMP_PORT @th,72,8 $t counter comment \"o$t\""$'\n'
		rules_i+="udp sport $IHMP_PORT @th,72,8 $t counter comment \"i$t\""$'\n'
	done
	ip netns exec "$LAB_NS_MH" nft -f - <<-EOF
		table inet sigwire {
			chain out {
				type filter hook output priority -400; policy accept;
				$rules_o
				udp dport $IHMP_PORT counter comment "oall"
			}
			chain in {
				type filter hook prerouting priority -400; policy accept;
				$rules_i
				udp sport $IHMP_PORT counter comment "iall"
			}
		}
	EOF
}
wire_off() { ip netns exec "$LAB_NS_MH" nft delete table inet sigwire 2>/dev/null || true; }
# wire_snap : read the counters once (into WIRE); wire COMMENT [packets|bytes]
# then reads one of them from that snapshot.
wire_snap() { WIRE=$(ip netns exec "$LAB_NS_MH" nft list table inet sigwire); }
wire() {
	sed -n "s/.*counter packets \([0-9]*\) bytes \([0-9]*\) .*comment \"$1\".*/\1 \2/p" <<<"$WIRE" |
		awk -v w="${2:-packets}" '{ print (w == "bytes") ? $2 : $1 }'
}
wire_types() {	# o|i : "HANDOFF:2;ACK:2" from the snapshot
	awk -v d="$1" 'BEGIN { split("HELLO PATH_PROBE ADDR_UP ADDR_UP_UNREACHABLE ADDR_DOWN ADDR_DOWN_UNREACHABLE HANDOFF HANDOFF_UNREACHABLE ACK NAT_ENTRY", N, " ") }
		match($0, /comment "[oi][0-9]+"/) {
			c = substr($0, RSTART + 9, RLENGTH - 10)
			if (substr(c, 1, 1) != d) next
			t = substr(c, 2) + 0
			if (match($0, /packets [0-9]+/)) n = substr($0, RSTART + 8, RLENGTH - 8) + 0
			if (n) out = out (out == "" ? "" : ";") N[t] ":" n
		}
		END { print (out == "" ? "none" : out) }' <<<"$WIRE"
}

# diag_on / diag_read / diag_off : TCP RSTs seen on MH and CH (both ways),
# for the echo after the move: a connection that does not answer died by one.
diag_on() {
	local h
	for h in mh ch; do
		ip netns exec "$(dime_ns "$h")" nft -f - <<-EOF
			table inet sigdiag {
				chain in {
					type filter hook prerouting priority -400; policy accept;
					tcp flags rst counter comment "rst_in"
				}
				chain out {
					type filter hook output priority -400; policy accept;
					tcp flags rst counter comment "rst_out"
				}
			}
		EOF
	done
}
diag_read() {
	local h
	for h in mh ch; do
		printf '%s: %s ' "$h" "$(ip netns exec "$(dime_ns "$h")" nft list table inet sigdiag |
			sed -n 's/.*counter packets \([0-9]*\) .*comment "\(rst_[a-z]*\)".*/\2=\1/p' | tr '\n' ' ')"
	done
}
diag_off() { local h; for h in mh ch; do ip netns exec "$(dime_ns "$h")" nft delete table inet sigdiag 2>/dev/null || true; done; }

# --------------------------------------------------- CH side, shared ---
P_ECHO=$(lab_port) P_PROBE=$(lab_port)
lab_bg ip netns exec "$LAB_NS_CH" "${TOOL[@]}" echo-server "$CH4" "$P_ECHO" 100000
lab_bg ip netns exec "$LAB_NS_CH" "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    s.recv(2048)' "$CH4" "$P_PROBE"
lab_wait_listen "$LAB_NS_CH" tcp "$P_ECHO" || die "echo server did not start"
lab_wait_listen "$LAB_NS_CH" udp "$P_PROBE" || die "UDP sink did not start"
log "MH ephemeral ports: $(ip netns exec "$LAB_NS_MH" sysctl -n net.ipv4.ip_local_port_range | tr '\t' -)"

# ------------------------------------------------------------- part a ---
SIG_CSV=$EVAL/signalling.csv LAT_CSV=$EVAL/latency.csv
echo "conns,rep,ihmp_pkts_mh_to_ch,ihmp_pkts_ch_to_mh,ihmp_bytes,by_type,conns_alive" >"$SIG_CSV.tmp"
echo "handoff,rep,event_to_table_ms,event_to_data_ms" >"$LAT_CSV.tmp"

conns_case() {
	local c=$1 dir cpid i r o in bytes bt est alive flows t0 t_mv span
	t0=$(now)
	fresh "a-$c"
	dir=$LAB_DIR/conns-$c
	mkdir -p "$dir"
	lab_bg ip netns exec "$LAB_NS_MH" "${TOOL[@]}" conns "$MH_A4" "$CH4" "$P_ECHO" "$c" "$dir" "$ECHO_BATCH"
	cpid=$LAB_BG_PID
	for ((i = 0; i < 2400; i++)); do [[ -f $dir/ready ]] && break; kill -0 "$cpid" 2>/dev/null || break; sleep 0.05; done
	[[ -f $dir/ready ]] || die "c=$c: the connections were not up after 120 s"
	r=$(cat "$dir/ready")
	[[ $r == *"connected=$c failed=0 before_ok=$c "* ]] || log "WARNING: c=$c: not all connections echo before the move: $r"
	for ((i = 0; i < 100; i++)); do
		flows=$(bench_show mh flows)
		((flows >= c)) && break
		sleep 0.05
	done
	ihmp_quiet
	wire_on
	dime_ctl mh -j stats >"$LOGS/stats-a-$c-mh-0.json"
	dime_ctl ch -j stats >"$LOGS/stats-a-$c-ch-0.json"
	t_mv=$(now)
	move_hard "$GAP"
	# Both families' exchanges, then until nothing more moves for 0.5 s.
	for ((i = 0; i < 160; i++)); do
		wire_snap
		(($(wire i9) >= 2)) && break
		sleep 0.05
	done
	local prev='' cur same=0
	for ((i = 0; i < 40; i++)); do
		wire_snap
		cur="$(wire oall) $(wire iall)"
		if [[ $cur == "$prev" ]]; then same=$((same + 1)); ((same >= STILL)) && break; else same=0; fi
		prev=$cur
		sleep 0.1
	done
	dime_ctl mh -j stats >"$LOGS/stats-a-$c-mh-1.json"
	dime_ctl ch -j stats >"$LOGS/stats-a-$c-ch-1.json"
	wire_snap
	o=$(wire oall) in=$(wire iall)
	bytes=$(($(wire oall bytes) + $(wire iall bytes)))
	bt=$("${TOOL[@]}" stats-by-type "$LOGS/stats-a-$c-mh-0.json" "$LOGS/stats-a-$c-mh-1.json")
	echo "c=$c wire out: $(wire_types o) in: $(wire_types i); MH stats: $bt; CH stats: $("${TOOL[@]}" stats-by-type "$LOGS/stats-a-$c-ch-0.json" "$LOGS/stats-a-$c-ch-1.json")" >>"$LOGS/by_type.txt"
	wire_off
	diag_on
	touch "$dir/go"
	for ((i = 0; i < 1200; i++)); do [[ -f $dir/result ]] && break; kill -0 "$cpid" 2>/dev/null || break; sleep 0.05; done
	r=$(cat "$dir/result" 2>/dev/null || echo "none")
	alive=$(sed -n 's/.*after_ok=\([0-9]*\).*/\1/p' <<<"$r")
	est=$(ip netns exec "$LAB_NS_MH" ss -Htn state established "( dport = :$P_ECHO )" | wc -l)
	dime_ctl mh -j stats >"$LOGS/stats-a-$c-mh-2.json"
	dime_ctl ch -j stats >"$LOGS/stats-a-$c-ch-2.json"
	echo "c=$c during the echo after the move: $(diag_read)" >>"$LOGS/conns.txt"
	diag_off
	echo "c=$c ready: $(tr -d '\n' <"$dir/ready"); after: $r; established on MH: $est; MH flows: $flows" >>"$LOGS/conns.txt"
	# From MH's dimed seeing B to its last ACK (both families done).
	span=$("${TOOL[@]}" span "$LOGS/dimed-a-$c.mh.log" "$t_mv" "local address $MH_B4 up" "got ACK")
	echo "$c,1,$o,$in,$bytes,$bt,${alive:-0}" >>"$SIG_CSV.tmp"
	echo "$c $span" >>"$LAB_DIR/span.txt"
	log "c=$c: IHMP MH->CH $o, CH->MH $in ($bytes bytes): $bt; B up -> last ACK $span ms; alive ${alive:-0}/$c (established $est); $(lab_since "$t0") s"
	touch "$dir/close"
	for ((i = 0; i < 200; i++)); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.05; done
	wait "$cpid" 2>/dev/null || true
	# RSTs are out (translated by the daemons still running); let CH's
	# server drop its ends before the daemons go.
	sleep 0.2
}

: >"$LAB_DIR/span.txt"
for c in $CONNS_LIST; do conns_case "$c"; done

# ------------------------------------------------------------- part b ---
: >"$LOGS/breakdown.txt"
lat_case() {	# hard|soft REP
	local kind=$1 rep=$2 tag=lat-$1-$2 ppid mpid wpid i t_add t_rt t_old t_ev t_prim t_data t_act
	local e2t e2d from
	fresh "$tag"
	lab_bg ip netns exec "$LAB_NS_MH" "${TOOL[@]}" probe-tx "$MH_A4" "$CH4" "$P_PROBE" 30 0.002
	ppid=$LAB_BG_PID
	for ((i = 0; i < 100; i++)); do
		(($(bench_show mh flows) >= 1)) && break
		sleep 0.05
	done
	ihmp_quiet
	lab_bg ip -n "$LAB_NS_MH" -ts monitor address route >"$LAB_DIR/$tag.mon" 2>&1
	mpid=$LAB_BG_PID
	rm -f "$LAB_DIR/$tag.ready"
	lab_bg ip netns exec "$LAB_NS_CH" "${TOOL[@]}" watch "$(dime_sock ch)" "$MH_B4" "$SW_DEV" "$P_PROBE" 6 \
		"$LAB_DIR/$tag.watch" "$LAB_DIR/$tag.ready"
	wpid=$LAB_BG_PID
	for ((i = 0; i < 200; i++)); do [[ -f $LAB_DIR/$tag.ready ]] && break; sleep 0.02; done
	[[ -f $LAB_DIR/$tag.ready ]] || die "the watcher on CH did not start"
	sleep 0.1
	t_ev=$(now)
	if [[ $kind == hard ]]; then move_hard "$GAP"; else move_soft "$OVERLAP"; fi
	lab_wait "$wpid" || true
	kill "$mpid" "$ppid" 2>/dev/null || true
	wait "$mpid" "$ppid" 2>/dev/null || true
	read -r t_add t_rt t_old < <("${TOOL[@]}" mon-times "$LAB_DIR/$tag.mon" "$MH_B4" "$R2_B4" "$MH_A4")
	if [[ $t_add == none ]]; then
		t_add=$(awk '/^(hard_up|soft_up) / { t = $NF } END { print t }' "$LAB_DIR/events")
		log "WARNING: $tag: no netlink event for $MH_B4; using the script's stamp"
	fi
	t_prim=$(sed -n 's/^t_primary=//p' "$LAB_DIR/$tag.watch")
	t_act=$(sed -n 's/^t_active=//p' "$LAB_DIR/$tag.watch")
	t_data=$(sed -n 's/^t_data=//p' "$LAB_DIR/$tag.watch")
	e2t=$(ms "$t_prim" "$t_add") e2d=$(ms "$t_data" "$t_add")
	echo "$kind,$rep,$e2t,$e2d" >>"$LAT_CSV.tmp"
	echo "$kind $rep $e2t $e2d $(ms "$t_prim" "$t_rt") $(ms "$t_data" "$t_rt") $(ms "$t_prim" "$t_old") $(ms "$t_data" "$t_old")" \
		>>"$LAB_DIR/lat.txt"
	# Each step's time from the stamped debug logs, ms after B was added.
	from=$(awk -v t="$t_ev" 'BEGIN { printf "%.6f", t - 0.05 }')
	{
		printf '%s #%s (ms after %s was added): its default route %s; %s removed %s; CH table: B active %s, primary %s; first data from B at CH %s (%s polls)\n' \
			"$kind" "$rep" "$MH_B4" "$(ms "$t_rt" "$t_add")" "$MH_A4" "$(ms "$t_old" "$t_add")" \
			"$(ms "$t_act" "$t_add")" "$e2t" "$e2d" "$(sed -n 's/^polls=//p' "$LAB_DIR/$tag.watch")"
		"${TOOL[@]}" breakdown "$LOGS/dimed-$tag.mh.log" "$LOGS/dimed-$tag.ch.log" "$from" "$t_add" \
			"mh:local address $MH_A4 down" "mh:local address $MH_B4 up" "mh:ADDR_UP $MH_B4" "mh:sent ADDR_UP" \
			"mh:HANDOFF $MH_B4" "mh:sent HANDOFF" "ch:got ADDR_UP" "ch:got HANDOFF" "ch:sent PATH_PROBE" \
			"mh:got PATH_PROBE" "ch:got ACK" "ch:sent ACK" "mh:got ACK" "mh:holding identifier $MH_A4" \
			"mh:sent ADDR_DOWN" "ch:got ADDR_DOWN"
	} >>"$LOGS/breakdown.txt"
	log "$kind #$rep: B added -> CH table primary ${e2t} ms, -> first data from B at CH ${e2d} ms"
}

for ((r = 1; r <= LAT_REPS; r++)); do
	lat_case hard "$r"
	lat_case soft "$r"
done
bench_daemons stop
mv "$SIG_CSV.tmp" "$SIG_CSV"
mv "$LAT_CSV.tmp" "$LAT_CSV"

# --------------------------------------------------------------- report ---
"$PY" - "$SIG_CSV" "$LAB_DIR/lat.txt" "$(lab_since "$T_START")" "$( ((QUICK)) && echo quick || echo full)" "$LAB_DIR/span.txt" <<-'EOF'
	import csv, statistics, sys
	print()
	print("(a) IHMP datagrams on the wire at MH for one hard handoff, vs. open connections")
	span = dict(l.split() for l in open(sys.argv[5]) if l.strip())
	print("%7s %8s %8s %7s %11s %8s  %s" % ("conns", "MH->CH", "CH->MH", "bytes", "alive", "done ms",
	      "by type (MH's stats)"))
	for r in csv.DictReader(open(sys.argv[1])):
	    print("%7s %8s %8s %7s %11s %8s  %s" % (r["conns"], r["ihmp_pkts_mh_to_ch"], r["ihmp_pkts_ch_to_mh"],
	          r["ihmp_bytes"], "%s/%s" % (r["conns_alive"], r["conns"]), span.get(r["conns"], "?"), r["by_type"]))
	print("(done ms: from MH's dimed seeing its new address to the last ACK it got, both families)")
	try:
	    rows = [l.split() for l in open(sys.argv[2]) if l.strip()]
	except OSError:
	    rows = []
	print()
	print("(b) handoff latency, ms: median [min..max] (n)")
	def stat(v):
	    v = [float(x) for x in v if x != "nan"]
	    if not v:
	        return "n/a"
	    return "%.0f [%.0f..%.0f] (%d)" % (statistics.median(v), min(v), max(v), len(v))
	print("%-5s %-28s %-24s %s" % ("", "from", "to CH's table", "to first data from B at CH"))
	for k in ("hard", "soft"):
	    rr = [r for r in rows if r[0] == k]
	    if not rr:
	        continue
	    refs = [("new address added", 2), ("new default route", 4)] + ([("old address removed", 6)] if k == "soft" else [])
	    for name, i in refs:
	        print("%-5s %-28s %-24s %s" % (k, name, stat(r[i] for r in rr), stat(r[i + 1] for r in rr)))
	print("mode %s, runtime %.0f s" % (sys.argv[4], float(sys.argv[3])))
EOF
echo
echo "results: $EVAL/signalling.csv, $EVAL/latency.csv   logs: $LOGS/"
