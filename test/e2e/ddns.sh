#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ddns.sh -- end-to-end tests of issue #15: secure dynamic DNS (RFC 2136 +
# TSIG) for new inbound connections, and the rendezvous when both hosts move
# at once, in the lab of test/lab/lab.sh with a real DNS server (Knot DNS,
# test/lab/dns.sh) on the core:
#
#        MH ==wifi0== R1 --+
#         \                +-- bridge -- CH  (.10 / ::10, may move to .11 / ::11)
#          ==lte0=== R2 --+        |  \-- DNS  198.18.0.53 / 2001:db8::53 (zone dime.test, key dimekey)
#                                  |  \-- DNSF 198.18.0.54 / 2001:db8::54 (forger: every name -> victim)
#                                  \----- AT   198.18.0.66 / 2001:db8::66 (the victim)
#
# One lab per address family (side by side); every test starts from MH on
# link A, CH on its first address, no mh/ch records in the zone, the server
# answering, freshly started daemons (configuration per test: DDNS_SETUP).
# conntrack and a stateful firewall are on (lab_firewall on 3463), as in
# e2e-ihmp.
#
#   publish     MH with [ddns]: the server answers MH's A address within
#               DDNS_START_MAX s of dimed's start; after a hard handoff
#               A->B, B's address within DDNS_MOVE_MAX (1) s of the lab
#               adding it (asserted; metric), A's gone; `dimectl -j show`
#               ddns.published = B's addresses, ddns.result NOERROR
#   by-name     after the move, a new TCP connection from CH to
#               mh.dime.test (CH resolving through the lab server) reaches
#               MH at B (the bytes echo; MH's listener saw B as local)
#   wrongkey    secret-file = a wrong key: the server refuses (NOTAUTH,
#               BADSIG), nothing in the zone, dimed logs the refusal once
#               over several address changes and retries, ddns.result names it
#   deadserver  the server drops everything: a translated TCP stream and a
#               UDP stream keep flowing during dimed's retries, `dimectl
#               show` answers within 1 s throughout; once the server is
#               back the update lands within DDNS_RETRY_MAX s
#   bothmove    MH and CH both named and publishing, resolving through the
#               lab server: both hard-move within 100 ms; a TCP stream
#               (sha256) and a UDP stream between them survive
#   bothmove-noddns ... the same without [ddns]: the flows fail cleanly, the
#               TCP sender is told (an error within DDNS_TOLD_MAX s, not a
#               hang)
#   nat         MH behind a NAT (R1; nat66 for IPv6) with [ddns]: once a
#               peer (CH) has told it where it sees it from (OBSERVED), the
#               name has the NAT's public address in place of MH's inside
#               address
#   forged      as bothmove, but both resolve through the forger, whose
#               every answer is the victim's address: the victim sees no
#               packet of the flows (nft counter), CH counts the unproven
#               rendezvous (DDNS_STAT_RV)
#
# Output as e2e-ihmp: "ok N - name" / "not ok N - name", "# " details,
# "# metric NAME VALUE" lines, "N passed, N failed"; exit 0 only if nothing
# failed.
#
# Environment:
#   DIMED, DIMECTL   binaries (default <repo>/build/src/dimed, dimectl)
#   DDNS_TESTS       tests to run (default: all, in the order above)
#   DDNS_FAMILIES    address families (default "4 6")
#   DDNS_JOBS        labs at once (default 2)
#   DDNS_KEEP        1: keep the output directory (logs) even on success
#   DDNS_STANDIN     1: a check of the test itself: dimed without [ddns], a
#                    stand-in publisher (nsupdate on `ip monitor address`)
#                    in its place; the dimed-only checks are skipped (noted)
#
# Needs root, knotd + keymgr (knot), dig + nsupdate (bind9-dnsutils), iperf3,
# socat, nft, python3.
set -euo pipefail

DDNS_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DDNS_ROOT=$(cd "$DDNS_HERE/../.." && pwd)
# shellcheck source=../lab/dime.sh
source "$DDNS_ROOT/test/lab/dime.sh"

# ------------------------------------------- the daemon's interface ---
# What these tests expect of dimed (issue #15); adjust here if it changes.
DDNS_STAT_RV=${DDNS_STAT_RV:-ihmp.rejected.rendezvous_unproven}	# stats -j: a rendezvous address that did not prove the key
DDNS_LOG_REFUSED=${DDNS_LOG_REFUSED:-'ddns.*refused'}		# ERE: dimed's log line of a refused update (once)
DDNS_RESULT_OK=NOERROR						# show -j: ddns.result after a good update
DDNS_RESULT_BAD=${DDNS_RESULT_BAD:-'NOTAUTH|BADSIG'}		# ERE: ddns.result after the wrong key
DDNS_TTL=5
# ddns_conf_text NAME SERVER SECRETFILE RESOLVER : one dimed.conf ([ddns]
# only if NAME is not "-"; resolver only if RESOLVER is not "-")
ddns_conf_text() {
	[[ $4 == - ]] || echo "resolver = $4"
	[[ $1 != - ]] || return 0
	cat <<-EOF
		[ddns]
		server = $2
		zone = $DNS_ZONE
		name = $1
		key-name = dimekey
		algorithm = hmac-sha256
		secret-file = $3
		ttl = $DDNS_TTL
		publish-private = no
	EOF
}
# ------------------------------------------------------------ limits ---
DDNS_START_MAX=2	# s from dimed's start to its first record at the server
DDNS_MOVE_MAX=1		# s from the new address being usable to dig answering it (issue #15)
DDNS_RETRY_MAX=20	# s from the server answering again to the update landing
DDNS_SHOW_MAX=1		# s: dimectl show during the retries
DDNS_TOLD_MAX=25	# s from the move to the TCP sender's error, without DDNS

# shellcheck source=../lab/dns.sh
source "$DDNS_ROOT/test/lab/dns.sh"
DDNS_TESTS=${DDNS_TESTS:-publish by-name wrongkey deadserver nat bothmove bothmove-noddns forged}
DDNS_FAMILIES=${DDNS_FAMILIES:-4 6}
DDNS_JOBS=${DDNS_JOBS:-2}
IHMP_PORT=3463
TOOL=("$LAB_PYTHON" "$DDNS_HERE/ihmp_tool.py")

declare -A DDNS_TITLE=(
	[publish]="MH's addresses published at start and within ${DDNS_MOVE_MAX} s of a hard handoff; dimectl show's ddns"
	[by-name]="a new TCP connection from CH by name reaches MH at its new address"
	[wrongkey]="a wrong TSIG key: refused by the server, logged once, shown"
	[deadserver]="a server that does not answer blocks nothing: translated flows and dimectl go on, the update lands once it is back"
	[bothmove]="both hosts hard-move within 100 ms: TCP (sha256) and UDP survive through the DNS rendezvous"
	[bothmove-noddns]="both hosts hard-move within 100 ms without DDNS: the TCP sender is told, no hang"
	[forged]="forged DNS answers pointing at a victim redirect nothing: the victim sees no flow packet, counted"
	[nat]="behind a NAT the name gets the public address peers observe, not the inside one"
)
# Daemons per test: HOST=plain (no configuration file) or
# HOST=ddns:NAME:KEY:RESOLVER (KEY dimekey|wrongkey; RESOLVER dns|forger|-).
declare -A DDNS_SETUP=(
	[publish]="mh=ddns:mh:dimekey:- ch=plain"
	[by-name]="mh=ddns:mh:dimekey:- ch=plain"
	[wrongkey]="mh=ddns:mh:wrongkey:- ch=plain"
	[deadserver]="mh=ddns:mh:dimekey:- ch=plain"
	[bothmove]="mh=ddns:mh:dimekey:dns ch=ddns:ch:dimekey:dns"
	[bothmove-noddns]="mh=plain ch=plain"
	[forged]="mh=ddns:mh:dimekey:forger ch=ddns:ch:dimekey:forger"
	[nat]="mh=ddns:mh:dimekey:- ch=plain"
)

# ================================================== inside one family ===
fail() { echo "FAIL: $*"; }
metric() { echo "metric ddns.v$FAM.$1 $2"; }
now() { date +%s.%N; }
event_time() { awk -v n="$1" 'index($0, n) == 1 { t = $NF } END { print t }' "$LAB_DIR/events"; }
tdiff() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "none" || b == "none") print "none"; else printf "%.3f", a - b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "none" && a != "" && a + 0 <= b + 0) }'; }
rtype() { [[ $FAM == 4 ]] && echo A || echo AAAA; }
dns_server() { [[ $FAM == 4 ]] && echo "$DNS4" || echo "$DNS6"; }
forger() { [[ $FAM == 4 ]] && echo "$DNSF4" || echo "$DNSF6"; }
bracket() { [[ $1 == *:* ]] && echo "[$1]" || echo "$1"; }

# conf_for HOST SPEC : the configuration file for that spec, or "" (plain)
conf_for() {
	local h=$1 spec=$2 name key res f
	[[ $spec == ddns:* ]] || return 0
	IFS=: read -r _ name key res <<<"$spec"
	case "$res" in dns) res=$(dns_server) ;; forger) res=$(forger) ;; esac
	f=$LAB_DIR/$h.conf
	ddns_conf_text "$name.$DNS_ZONE" "$(dns_server)" "$LAB_DIR/dns/$key.key" "$res" >"$f"
	echo "$f"
}

# --- DDNS_STANDIN=1: a check of this test itself, before dimed speaks DDNS.
# dimed runs without [ddns]; a stand-in publisher (nsupdate, driven by `ip
# monitor address` in the host's namespace) replaces the host's A/AAAA
# records on every address change, as dimed will. What only dimed can show
# (dimectl's ddns object, its log, the rendezvous) is then not checked.
standin() { [[ ${DDNS_STANDIN:-0} == 1 ]]; }
# unless_standin WHAT : 0 (and a note) in stand-in mode, so "unless_standin X || check"
unless_standin() { standin || return 1; note "stand-in publisher: not checked: $*"; }
standin_start() {	# HOST NAME KEYFILE SERVER
	# shellcheck disable=SC2016 # the inner shell expands
	lab_bg ip netns exec "$(dime_ns "$1")" bash -c '
		name=$1 key=$2 server=$3 zone=$4 log=$5 prev=""
		{ echo start; exec ip monitor address route; } | while read -r _; do
			cur=$(ip -o addr show | awk '\''$2 != "lo" && $3 ~ /^inet/ && $4 !~ /^fe80/ { sub("/.*", "", $4); print $4 }'\'' | sort | tr "\n" " ")
			[[ $cur != "$prev" ]] || continue
			{
				echo "server $server"; echo "zone $zone"
				echo "update delete $name A"; echo "update delete $name AAAA"
				for a in $cur; do
					case $a in *:*) echo "update add $name 5 AAAA $a" ;; *) echo "update add $name 5 A $a" ;; esac
				done
				echo send
			} | nsupdate -t 2 -u 1 -r 0 -k "$key" >>"$log" 2>&1 && prev=$cur
			echo "$(date +%s.%N) published [$cur] rc=$?" >>"$log"
		done' standin "$2" "$3" "$4" "$DNS_ZONE" "$DIME_LOG$1.standin.log"
}

start_dimeds() {	# HOST=SPEC... : start each, wait until it answers
	local hs h spec f rc=0 name key
	for hs; do
		h=${hs%%=*} spec=${hs#*=}
		f=$(conf_for "$h" "$spec")
		if [[ -n $f ]] && standin; then
			IFS=: read -r _ name key _ <<<"$spec"
			standin_start "$h" "$name.$DNS_ZONE" "$LAB_DIR/dns/$key.key" "$(dns_server)"
			f=''
		fi
		if [[ -n $f ]]; then
			cp "$f" "$DIME_LOG$h.conf"
			dime_start "$h" -l debug -c "$f" 2>/dev/null || { echo "FAIL: $DIME_ERR" >>"$DDNS_SETUP_LOG"; rc=1; }
		else
			dime_start "$h" -l debug 2>/dev/null || { echo "FAIL: $DIME_ERR" >>"$DDNS_SETUP_LOG"; rc=1; }
		fi
	done
	return "$rc"
}
stop_dimeds() { dime_stop "$@" 2>/dev/null || echo "FAIL: $DIME_ERR" >>"$DDNS_SETUP_LOG"; }

# show_ddns KEY : one value of `dimectl -j show`'s ddns object on MH (or HOST
# in $2); lists as "a b c"
show_ddns() {
	dime_ctl "${2:-mh}" -j show 2>/dev/null | "$LAB_PYTHON" -c '
import json, sys
try:
    v = json.load(sys.stdin)["ddns"][sys.argv[1]]
except Exception as e:
    print("missing(%s)" % type(e).__name__); sys.exit(0)
print(" ".join(map(str, v)) if isinstance(v, list) else v)' "$1"
}

# knot_count ERE : lines of knotd's log since this test began that match
# shellcheck disable=SC2119 # dns_log without "forger": the real server
knot_count() { tail -n +$((KNOT_MARK + 1)) "$(dns_log)" | grep -Ec -- "$1" || true; }

# zone_reset : no mh/ch records (between tests; with the right key)
zone_reset() {
	dns_update "$LAB_DIR/dns/dimekey.key" "update delete mh.$DNS_ZONE" "update delete ch.$DNS_ZONE" >/dev/null 2>&1 || true
}

# flows_known TCP UDP [SETTLE=0.5] : MH's dimed sees that many flows to CH
flows_known() {
	local i n
	for ((i = 0; i < 200; i++)); do
		n=$(dime_ctl mh -j show flows 2>/dev/null | "${TOOL[@]}" flows "$(lab_ch_addr "$FAM")" 2>/dev/null || true)
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

# stream_verdict NAME : stream_check's result (sha256 intact, both ends 0)
stream_verdict() {
	if [[ $(lab_result "$1" survived 2>/dev/null) == yes ]]; then
		note "TCP stream intact: $(lab_result "$1" bytes_recv) bytes, sha256 match"
	else
		fail "TCP stream: $(res_line "$1")"
	fi
}

# udp_verdict NAME : udp_stream received after the last event
udp_verdict() {
	local s r
	s=$(lab_result "$1" survived 2>/dev/null || true)
	r=$(lab_result "$1" rx_after_move 2>/dev/null || true)
	if [[ $s == yes && ${r:-0} =~ ^[0-9]+$ && ${r:-0} -gt 0 ]]; then
		note "UDP stream: bytes_recv=$(lab_result "$1" bytes_recv) rx_after_move=$r"
	else
		fail "UDP stream: $(res_line "$1")"
	fi
}

# udp_resume NAME EVENT : seconds from EVENT to the first growth of the UDP
# receiver's byte count after it (from NAME.samples, 0.2 s resolution)
udp_resume() {
	local t0 te
	t0=$(cat "$LAB_DIR/$1.t0" 2>/dev/null) || { echo none; return; }
	te=$(event_time "$2")
	awk -v rel="$(tdiff "$te" "$t0")" '
		$1 <= rel { base = $2; next }
		$2 > base && !done { printf "%.3f\n", $1 - rel; done = 1 }
		END { if (!done) print "none" }' "$LAB_DIR/$1.samples"
}

# wait_published NAME TYPE VALUE SECS WHAT : dig answers VALUE within SECS
wait_published() {
	local took
	if took=$(dns_wait_record "$1" "$2" "$3" "$4" "$(dns_server)"); then
		note "$5: $1 $2 $3 after $took s of polling"
	else
		fail "$5: $1 $2 never answered $3 within $4 s (answer now: $(dns_dig "$1" "$2" | tr '\n' ' '); dimectl ddns.result=$(show_ddns result) state=$(show_ddns state))"
		return 1
	fi
}

# ------------------------------------------------------------- tests ---
t_publish() {
	local start t_up lat pub
	start=$(event_time dimed_start)
	wait_published "mh.$DNS_ZONE" "$(rtype)" "$(lab_addr "$FAM" A)" "$DDNS_START_MAX" "at start" || true
	metric publish.dimed_start_to_dns_s "$(tdiff "$(cat "$LAB_DIR/dns/wait.at")" "$start")"
	sleep 0.5
	# The poller first, then the move: its answer time against hard_up.
	dns_wait_record "mh.$DNS_ZONE" "$(rtype)" "$(lab_addr "$FAM" B)" 8 "$(dns_server)" >"$LAB_DIR/publish.wait" 2>&1 &
	local wpid=$!
	move_hard 0.3
	wait "$wpid" || true
	t_up=$(event_time hard_up)
	lat=$(tdiff "$(cat "$LAB_DIR/dns/wait.at")" "$t_up")
	metric publish.hard_up_to_dns_s "$lat"
	le "$lat" "$DDNS_MOVE_MAX" ||
		fail "dig answered MH's new address $(lab_addr "$FAM" B) $lat s after it was usable (limit $DDNS_MOVE_MAX s)"
	# Replaced, not added: exactly B's addresses, both families.
	dns_wait_exact "mh.$DNS_ZONE" A "$MH_B4" 1 "$(dns_server)" >/dev/null 2>&1 ||
		fail "A records of mh.$DNS_ZONE are not exactly $MH_B4: $(dns_dig "mh.$DNS_ZONE" A | tr '\n' ' ')"
	dns_wait_exact "mh.$DNS_ZONE" AAAA "$MH_B6" 1 "$(dns_server)" >/dev/null 2>&1 ||
		fail "AAAA records of mh.$DNS_ZONE are not exactly $MH_B6: $(dns_dig "mh.$DNS_ZONE" AAAA | tr '\n' ' ')"
	unless_standin "dimectl show's ddns object" || {
		pub=$(show_ddns published)
		[[ " $pub " == *" $MH_B4 "* && " $pub " == *" $MH_B6 "* && " $pub " != *" $MH_A4 "* && " $pub " != *" $MH_A6 "* ]] ||
			fail "dimectl show: ddns.published is '$pub', want $MH_B4 $MH_B6"
		[[ $(show_ddns result) == "$DDNS_RESULT_OK" ]] || fail "dimectl show: ddns.result is '$(show_ddns result)', want $DDNS_RESULT_OK"
		[[ $(show_ddns state) == ok ]] || fail "dimectl show: ddns.state is '$(show_ddns state)', want ok"
		note "dimectl show ddns: state=$(show_ddns state) result=$(show_ddns result) updates=$(show_ddns updates) published=$pub"
	}
	note "knot: $(knot_count 'DDNS, finished') updates applied in this test"
}

t_by_name() {
	local port out local_ b
	b=$(lab_addr "$FAM" B)
	dns_resolv ch "$(dns_server)"
	wait_published "mh.$DNS_ZONE" "$(rtype)" "$(lab_addr "$FAM" A)" "$DDNS_START_MAX" "at start" || true
	move_hard 0.3
	wait_published "mh.$DNS_ZONE" "$(rtype)" "$b" 3 "after the move" || true
	port=$(lab_port)
	# MH's listener tells the local address the connection reached, then echoes.
	# shellcheck disable=SC2016 # socat's shell expands
	lab_bg ip netns exec "$LAB_NS_MH" timeout -k 1 15 socat "TCP$FAM-LISTEN:$port,reuseaddr" \
		SYSTEM:'echo "local=$SOCAT_SOCKADDR"; cat'
	lab_wait_listen "$LAB_NS_MH" tcp "$port" 5 || { fail "MH's listener did not start"; return 0; }
	note "CH resolves: $(ip netns exec "$LAB_NS_CH" getent ahosts "mh.$DNS_ZONE" | awk '{ print $1 }' | sort -u | tr '\n' ' ')"
	out=$(echo "hello-by-name-$FAM" | ip netns exec "$LAB_NS_CH" timeout -k 1 10 \
		socat -t 2 - "TCP$FAM:mh.$DNS_ZONE:$port,connect-timeout=5" 2>&1) || true
	note "socat TCP$FAM:mh.$DNS_ZONE:$port from CH: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
	grep -qx "hello-by-name-$FAM" <<<"$out" || fail "the bytes did not echo back over the connection by name"
	# socat gives IPv6 addresses in full ("[2001:0db8:0002:0000:...]")
	local_=$(sed -n 's/^local=//p' <<<"$out" | tr -d '[]')
	[[ -z $local_ ]] || local_=$("$LAB_PYTHON" -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]))' "$local_" 2>/dev/null || echo "$local_")
	[[ $local_ == "$b" ]] || fail "MH's listener saw local address '$local_', want its new address $b"
}

t_wrongkey() {
	local n i
	sleep 2
	# Several address changes, each a reason for a new update.
	for i in 1 2 3; do
		move_hard 0.2
		sleep 1.5
	done
	sleep 3
	[[ -z $(dns_dig "mh.$DNS_ZONE" A)$(dns_dig "mh.$DNS_ZONE" AAAA) ]] ||
		fail "the zone has records for mh.$DNS_ZONE after updates with the wrong key: $(dns_dig "mh.$DNS_ZONE" A) $(dns_dig "mh.$DNS_ZONE" AAAA)"
	note "knot: $(knot_count "verification failed 'BADSIG'") updates refused with BADSIG, $(knot_count 'DDNS, finished') applied"
	(($(knot_count "verification failed 'BADSIG'") > 0)) || fail "the server never saw a signed update (no BADSIG in its log)"
	unless_standin "dimed's log line and dimectl show" && return 0
	n=$(grep -Eic -- "$DDNS_LOG_REFUSED" "$(dime_log mh)" || true)
	note "dimed's refusal lines: $(grep -Ei -- "$DDNS_LOG_REFUSED" "$(dime_log mh)" | head -n 3 | tr '\n' '|' | cut -c1-400)"
	[[ $n == 1 ]] || fail "dimed logged the refusal $n times (want exactly once): /$DDNS_LOG_REFUSED/"
	[[ $(show_ddns result) =~ $DDNS_RESULT_BAD ]] || fail "dimectl show: ddns.result '$(show_ddns result)' does not name the error (/$DDNS_RESULT_BAD/)"
	[[ $(show_ddns state) == failing ]] || fail "dimectl show: ddns.state '$(show_ddns state)', want failing"
	note "dimectl show ddns: state=$(show_ddns state) result=$(show_ddns result) updates=$(show_ddns updates)"
}

# show_poll SECS OUT : dimectl -j show every 0.1 s for SECS; OUT gets "max=S n=N slow=N"
show_poll() {
	local end t0 t1 d max=0 n=0 slow=0
	end=$(awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.6f", a + b }')
	while le "$(now)" "$end"; do
		t0=$(now)
		# The control socket is a path: no need for MH's namespace (and
		# ip netns exec's own time).
		timeout 5 "$DIMECTL" -s "$(dime_sock mh)" -j show >/dev/null 2>&1 || slow=$((slow + 1000))
		t1=$(now)
		d=$(tdiff "$t1" "$t0")
		le "$d" "$max" || max=$d
		le "$d" "$DDNS_SHOW_MAX" || slow=$((slow + 1))
		n=$((n + 1))
		sleep 0.1
	done
	echo "max=$max n=$n slow=$slow" >"$2"
}

t_deadserver() {
	local spid upid ppid b st lat
	b=$(lab_addr "$FAM" B)
	wait_published "mh.$DNS_ZONE" "$(rtype)" "$(lab_addr "$FAM" A)" "$DDNS_START_MAX" "at start" || true
	dns_block on
	link_rate A 50mbit
	link_rate B 50mbit
	export LAB_STREAM_IDLE=15
	stream_check "$FAM" 60000000 dead-tcp 40 >/dev/null 2>&1 &
	spid=$!
	udp_stream "$FAM" 12 dead-udp >/dev/null 2>&1 &
	upid=$!
	flows_known 1 1
	show_poll 9 "$LAB_DIR/show.poll" &
	ppid=$!
	move_hard 0.3
	sleep 6
	[[ $(dns_dig "mh.$DNS_ZONE" "$(rtype)") != *"$b"* ]] || fail "the blocked server has MH's new address: dns_block did not block"
	st=$(show_ddns state)
	unless_standin "ddns.state while blocked" || [[ $st == pending || $st == failing ]] || fail "dimectl show: ddns.state '$st' while the server is silent (want pending or failing)"
	note "while blocked: ddns state=$st result=$(show_ddns result) updates=$(show_ddns updates); $(dns_blocked_count) packets to the server dropped"
	unless_standin "retries" || (($(dns_blocked_count) > 1)) || fail "dimed sent the silent server $(dns_blocked_count) packets: no retries"
	wait "$ppid" || true
	note "dimectl -j show during the retries: $(cat "$LAB_DIR/show.poll")"
	[[ $(cat "$LAB_DIR/show.poll") =~ slow=0$ ]] || fail "dimectl show took more than $DDNS_SHOW_MAX s during the retries: $(cat "$LAB_DIR/show.poll")"
	metric deadserver.show_max_s "$(sed 's/^max=\([^ ]*\).*/\1/' "$LAB_DIR/show.poll")"
	dns_block off
	if dns_wait_record "mh.$DNS_ZONE" "$(rtype)" "$b" "$DDNS_RETRY_MAX" "$(dns_server)" >/dev/null; then
		lat=$(tdiff "$(cat "$LAB_DIR/dns/wait.at")" "$(event_time "dns_block off")")
		metric deadserver.unblock_to_dns_s "$lat"
	else
		fail "MH's new address $b not at the server $DDNS_RETRY_MAX s after it answers again (ddns state=$(show_ddns state) result=$(show_ddns result))"
	fi
	wait "$spid" || true
	wait "$upid" || true
	stream_verdict dead-tcp
	udp_verdict dead-udp
}

# both_flows TAG : a TCP stream (40 MB at 50 Mbit/s) and a UDP stream MH -> CH,
# known to MH's dimed; then both hosts move at once
both_flows() {
	link_rate A 50mbit
	link_rate B 50mbit
	export LAB_STREAM_IDLE=30
	stream_check "$FAM" 60000000 "$1-tcp" 60 >/dev/null 2>&1 &
	BF_S=$!
	udp_stream "$FAM" 16 "$1-udp" >/dev/null 2>&1 &
	BF_U=$!
	flows_known 1 1 1
	local out
	out=$(move_both_hard 0.2) || fail "the moves were not within 100 ms: $out"
	note "move_both_hard: $out"
	metric "$1.move_skew_s" "${out##*skew=}"
}

t_bothmove() {
	wait_published "mh.$DNS_ZONE" "$(rtype)" "$(lab_addr "$FAM" A)" "$DDNS_START_MAX" "MH at start" || true
	wait_published "ch.$DNS_ZONE" "$(rtype)" "$(lab_ch_addr "$FAM")" "$DDNS_START_MAX" "CH at start" || true
	both_flows both
	wait_published "mh.$DNS_ZONE" "$(rtype)" "$(lab_addr "$FAM" B)" 3 "MH after the move" || true
	wait_published "ch.$DNS_ZONE" "$(rtype)" "$(ch_addr_now "$FAM")" 3 "CH after the move" || true
	wait "$BF_S" || true
	wait "$BF_U" || true
	stream_verdict both-tcp
	udp_verdict both-udp
	metric both.ch_hard_up_to_udp_resumed_s "$(udp_resume both-udp ch_hard_up)"
	note "MH's peers after: $(dime_ctl mh -j show hids | "${TOOL[@]}" hids)"
	# Each told the other its name (NAME, signed), and shows it.
	local names
	names=$(dime_ctl mh -j show 2>/dev/null | "$LAB_PYTHON" -c '
import json, sys
print(" ".join(p.get("name", "") for p in json.load(sys.stdin)["peers"] if p.get("name")))')
	[[ " $names " == *" ch.$DNS_ZONE "* ]] || fail "dimectl show on MH: no peer named ch.$DNS_ZONE (names: '$names')"
	note "MH's dimectl show names its peers: $names"
}

t_bothmove_noddns() {
	local port src dst t_end rc err t_up took rpid
	link_rate A 50mbit
	link_rate B 50mbit
	port=$(lab_port)
	src=$(lab_addr "$FAM") dst=$(lab_ch_addr "$FAM")
	# A sender that records when and how it ends: ~60 MB at 50 Mbit/s
	# outlasts the move by far; the receiver waits 60 s for data.
	lab_bg ip netns exec "$LAB_NS_CH" timeout -k 1 70 socat -u -T 60 \
		"TCP$FAM-LISTEN:$port,bind=$(bracket "$dst"),reuseaddr" OPEN:/dev/null
	rpid=$LAB_BG_PID
	lab_wait_listen "$LAB_NS_CH" tcp "$port" 5 || { fail "CH's listener did not start"; return 0; }
	# shellcheck disable=SC2016 # the inner shell expands
	lab_bg ip netns exec "$LAB_NS_MH" timeout -k 1 60 sh -c '
		head -c 60000000 /dev/zero | socat -u - "$1" 2>"$2.err"
		echo "rc=$? t=$(date +%s.%N)" >"$2"' sh \
		"TCP$FAM:$(bracket "$dst"):$port,bind=$(bracket "$src"),connect-timeout=3" "$LAB_DIR/noddns.sender"
	local spid=$LAB_BG_PID
	udp_stream "$FAM" 10 noddns-udp >/dev/null 2>&1 &
	local upid=$!
	flows_known 1 1 1
	local out
	out=$(move_both_hard 0.2) || fail "the moves were not within 100 ms: $out"
	note "move_both_hard: $out"
	t_up=$(event_time hard_up)
	lab_wait "$spid" || true
	wait "$upid" || true
	kill "$rpid" 2>/dev/null || true
	if [[ -f $LAB_DIR/noddns.sender ]]; then
		rc=$(sed -n 's/^rc=\([0-9]*\).*/\1/p' "$LAB_DIR/noddns.sender")
		t_end=$(sed -n 's/.* t=//p' "$LAB_DIR/noddns.sender")
		err=$(grep -Eo 'Connection reset by peer|No route to host|Connection timed out|Software caused connection abort|Broken pipe|Network is unreachable' "$LAB_DIR/noddns.sender.err" | head -n1)
		took=$(tdiff "$t_end" "$t_up")
		note "TCP sender ended with status $rc ($err) $took s after the moves: $(tail -n 1 "$LAB_DIR/noddns.sender.err" | cut -c1-200)"
		metric noddns.hard_up_to_app_error_s "$took"
		[[ $rc != 0 ]] || fail "the TCP sender finished without an error: the flow survived without DDNS?"
		le "$took" "$DDNS_TOLD_MAX" || fail "the TCP sender was told only $took s after the moves (limit $DDNS_TOLD_MAX s)"
	else
		fail "the TCP sender never ended: it hangs (killed by timeout after 60 s)"
	fi
	note "UDP (not asserted): $(res_line noddns-udp)"
	note "MH: ihmp.timeouts=$(dime_stat mh ihmp.timeouts 2>/dev/null || echo ?) CH: ihmp.timeouts=$(dime_stat ch ihmp.timeouts 2>/dev/null || echo ?)"
}

# victim_watch on|read : counters on the victim (AT): IHMP datagrams, and
# every other TCP/UDP packet (the flows' packets would be those)
victim_watch() {
	if [[ $1 == on ]]; then
		ip netns exec "$LAB_NS_AT" nft delete table inet ddns_victim 2>/dev/null || true
		ip netns exec "$LAB_NS_AT" nft -f - <<-EOF
			table inet ddns_victim {
				chain in {
					type filter hook prerouting priority -400; policy accept;
					udp dport $IHMP_PORT counter comment "ihmp"
					udp dport != $IHMP_PORT counter comment "udp_flow"
					meta l4proto tcp counter comment "tcp_flow"
				}
			}
		EOF
	else
		ip netns exec "$LAB_NS_AT" nft list table inet ddns_victim |
			sed -n "s/.*counter packets \([0-9]*\) .*comment \"$2\".*/\1/p" | head -n1
	fi
}

t_forged() {
	local rv
	victim_watch on
	note "the forger answers mh: $(dns_dig "mh.$DNS_ZONE" "$(rtype)" "$(forger)" | tr '\n' ' ')ch: $(dns_dig "ch.$DNS_ZONE" "$(rtype)" "$(forger)" | tr '\n' ' ')"
	wait_published "mh.$DNS_ZONE" "$(rtype)" "$(lab_addr "$FAM" A)" "$DDNS_START_MAX" "MH at start (real server)" || true
	both_flows forged
	wait "$BF_S" || true
	wait "$BF_U" || true
	note "TCP stream (not asserted): $(res_line forged-tcp)"
	note "UDP stream (not asserted): $(res_line forged-udp)"
	local tcpv udpv ihmpv
	tcpv=$(victim_watch read tcp_flow) udpv=$(victim_watch read udp_flow) ihmpv=$(victim_watch read ihmp)
	note "victim $( [[ $FAM == 4 ]] && echo "$AT4" || echo "$AT6"): TCP packets $tcpv, UDP (not IHMP) $udpv, IHMP $ihmpv"
	[[ $tcpv == 0 && $udpv == 0 ]] || fail "the victim received packets of the flows: TCP $tcpv, UDP $udpv"
	rv=$(dime_stat ch "$DDNS_STAT_RV" 2>/dev/null || echo missing)
	note "CH: $DDNS_STAT_RV=$rv; MH: $(dime_stat mh "$DDNS_STAT_RV" 2>/dev/null || echo missing)"
	if ! [[ $rv =~ ^[0-9]+$ ]] || ((rv == 0)); then fail "CH's stats $DDNS_STAT_RV is '$rv', want > 0"; fi
}

t_nat() {
	local pub inside port
	inside=$(lab_addr "$FAM" A)
	wait_published "mh.$DNS_ZONE" "$(rtype)" "$inside" "$DDNS_START_MAX" "before the NAT" || true
	lab_nat R1 on v6 nat66
	pub=$(lab_nat_public R1 "$FAM")
	# A flow to CH: the ACK of MH's HELLO says where CH sees MH from.
	port=$(lab_port)
	lab_bg ip netns exec "$LAB_NS_CH" timeout 10 socat -u "UDP$FAM-RECV:$port" - >/dev/null
	sleep 0.2
	echo nat-hello | ip netns exec "$LAB_NS_MH" socat -u - "UDP$FAM:$(bracket "$(lab_ch_addr "$FAM")"):$port" || true
	wait_published "mh.$DNS_ZONE" "$(rtype)" "$pub" 5 "behind the NAT" || true
	dns_wait_exact "mh.$DNS_ZONE" "$(rtype)" "$pub" 2 "$(dns_server)" >/dev/null 2>&1 ||
		fail "mh.$DNS_ZONE $(rtype) is not exactly the NAT's $pub: $(dns_dig "mh.$DNS_ZONE" "$(rtype)" | tr '\n' ' ')"
	note "published: $(show_ddns published)"
	lab_nat R1 off
}

# --------------------------------------------------------- one test ---
run_test() {
	local name=$1 base rc=0 h t0=$SECONDS t1
	base=$DDNS_OUT/v$FAM.$name
	DDNS_SETUP_LOG=$base.log
	: >"$base.log"
	DDNS_MARK=$(wc -l <"$LAB_DIR/pids")
	if tc -n "$LAB_NS_MH" qdisc show | grep -q tbf; then
		link_rate A off
		link_rate B off
	fi
	ch_move_back
	if [[ $(lab_cur) != A ]] || ip -n "$LAB_NS_MH" -o addr show dev "$MH_B_DEV" | grep -qv ' fe80'; then
		move_back >/dev/null
	fi
	dns_block off >/dev/null
	[[ ! -f $LAB_DIR/nat.R1 ]] || lab_nat R1 off
	zone_reset
	rm -rf "/etc/netns/$LAB_NS_CH/resolv.conf"
	: >"$LAB_DIR/events"
	KNOT_MARK=$(wc -l <"$(dns_log)")
	DIME_LOG=$base.
	lab_stamp dimed_start
	# shellcheck disable=SC2086
	start_dimeds ${DDNS_SETUP[$name]} || rc=1
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
	lab_kill_since "$DDNS_MARK"
	tail -n +$((KNOT_MARK + 1)) "$(dns_log)" >"$base.knot.log" 2>/dev/null || true
	echo "time: $((SECONDS - t0)) s (setup $((t1 - t0)) s)" >>"$base.log"
	grep -q '^FAIL' "$base.log" && rc=1
	echo "$rc" >"$base.rc"
}

run_family() {	# FAMILY
	FAM=$1
	# shellcheck disable=SC2034  # read by lab.sh
	LAB_ID="ddns$$-$FAM"
	LAB_DIR=''
	# shellcheck source=../lab/lab.sh
	source "$DDNS_ROOT/test/lab/lab.sh"
	# shellcheck source=../lab/dns.sh
	source "$DDNS_ROOT/test/lab/dns.sh"
	export LAB_GRACE=1
	lab_up
	lab_firewall on "$IHMP_PORT"
	echo base >"$LAB_DIR/ch_at"
	local t
	if ! dns_up || ! dns_up_forger; then
		for t in $DDNS_TESTS; do
			echo "FAIL: the lab's DNS servers did not start: $(tail -n 3 "$LAB_DIR/dns/knot.log" "$LAB_DIR/dnsf/knot.log" 2>/dev/null | tr '\n' ' ')" >"$DDNS_OUT/v$FAM.$t.log"
			echo 1 >"$DDNS_OUT/v$FAM.$t.rc"
		done
		return 0
	fi
	for t in $DDNS_TESTS; do
		run_test "$t"
	done
}

# ============================================================= main ===
ddns_descendants() { local c; for c in $(pgrep -P "$1" 2>/dev/null || true); do echo "$c"; ddns_descendants "$c"; done; }
ddns_abort() {
	local p
	trap - INT TERM
	for p in $(ddns_descendants $$); do kill -TERM "$p" 2>/dev/null || true; done
	wait || true
	echo "# interrupted"
	exit 130
}

main() {
	local fams=() pids=() f t rc base start=$SECONDS running p
	preflight root dimed ip nft iperf3 socat timeout flock sha256sum awk knotd knotc keymgr dig nsupdate getent
	for t in $DDNS_TESTS; do
		[[ -n ${DDNS_TITLE[$t]:-} ]] || tap_bail "unknown test '$t'"
	done
	DDNS_OUT=$(mktemp -d "${TMPDIR:-/tmp}/dime-ddns.XXXXXX")
	dime_copy_bins "$DDNS_OUT/bin"
	trap ddns_abort INT TERM
	read -r -a fams <<<"$DDNS_FAMILIES"
	for f in "${fams[@]}"; do
		while :; do
			running=0
			for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
			((running < DDNS_JOBS)) && break
			sleep 0.5
		done
		(run_family "$f") >"$DDNS_OUT/family-v$f.log" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	trap - INT TERM
	for t in $DDNS_TESTS; do
		for f in "${fams[@]}"; do
			base=$DDNS_OUT/v$f.$t
			rc=$(cat "$base.rc" 2>/dev/null || echo missing)
			tap_result "$rc" "v$f $t: ${DDNS_TITLE[$t]}"
			[[ $rc == 0 || -f $base.log ]] || echo "# no result (see $DDNS_OUT/family-v$f.log: $(tail -n 3 "$DDNS_OUT/family-v$f.log" | tr '\n' ' '))"
			[[ ! -f $base.log ]] || grep -E '^(FAIL|# |metric|time)' "$base.log" | sed '/^# /!s/^/# /' | cut -c1-600
		done
	done
	echo "# runtime $((SECONDS - start)) s; logs in $DDNS_OUT"
	if ((TAP_FAIL == 0)) && [[ ${DDNS_KEEP:-0} != 1 ]]; then rm -rf "$DDNS_OUT"; fi
	tap_summary
}

main "$@"
