#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# hostile.sh -- hostile-peer suite for IHMP security (docs/ihmp.md §7, and
# §9's processing order and counters), in the namespace lab of test/lab/lab.sh. MH and CH run dimed with zero
# configuration (own state dirs, so each has its Ed25519 host key); a real TCP
# flow MH->CH per family (iperf3, paced) runs for the whole suite; after the
# HELLO exchange CH has MH's key bound (TOFU). An attacker in R2's namespace
# (test/e2e/hostile_ihmp.py: independent IHMP encoder checked against the
# docs/ihmp.md §10 vectors, Ed25519 via python3-nacl, raw sockets that forge
# any source) sends crafted datagrams at CH's port 3463. For every case:
#   - the named counter(s) of `dimectl -j stats` .ihmp.rejected rise,
#   - `dimectl -j show hids` on CH is byte-identical before and after,
#   - both TCP flows still move bytes (ss on CH: bytes_received grows).
# Some cases use MH's secret key read from its state dir (the "stolen key"):
# replay, reordering, truncation of a signed message, redirect-to-victim.
# Ends with key-file/log checks and a real hard handoff (v4 + v6) between the
# two signed peers.
#
# Output: "ok N - name" / "not ok N - name" with "# " details, last line
# "N passed, N failed"; exit status 1 if anything failed.
#
# Environment: DIMED, DIMECTL (binaries), HOSTILE_KEEP=1 (keep $LAB_DIR),
#   HOSTILE_HID_BOUND (max HIDs a HELLO flood may add, default 100),
#   HOSTILE_VICTIM_MAX (max packets CH may send to a victim, default 8).
# Needs root, iperf3, nft, python3 + python3-nacl (installed if missing).
set -euo pipefail

[[ -x /usr/bin/python3 ]] && { /usr/bin/python3 -c 'import nacl.signing' 2>/dev/null ||
	apt-get install -y python3-nacl >/dev/null 2>&1 || true; }

H_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lab/dime.sh
source "$H_HERE/../lab/dime.sh"
PY=/usr/bin/python3
TOOL="$PY $H_HERE/hostile_ihmp.py"
HID_BOUND=${HOSTILE_HID_BOUND:-100}
VICTIM_MAX=${HOSTILE_VICTIM_MAX:-8}
PORT=3463
T0=$(date +%s)

[[ ${HOSTILE_KEEP:-0} == 1 ]] && LAB_KEEP=1

# bytes CH's iperf3 server received on port $1 (all its connections)
flow_bytes() {
	lab_ch ss -Htin state established "( sport = :$1 )" 2>/dev/null |
		grep -o 'bytes_received:[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }'
}
declare -A LASTB=()
# flows_alive: both flows received bytes since the last call
flows_alive() {
	local p b bad=0
	for p in "$P4" "$P6"; do
		b=$(flow_bytes "$p")
		if ((b <= ${LASTB[$p]:-0})); then
			note "flow on port $p stalled: bytes_received $b (was ${LASTB[$p]:-0})"
			bad=1
		fi
		LASTB[$p]=$b
	done
	return $bad
}

# check_expect STATS_BEFORE STATS_AFTER "expect k=v ..." : every counter rose by >= v
check_expect() {
	local before=$1 after=$2 line=$3 kv k v b a bad=0 any ks
	[[ -n $line ]] || { note "the attacker printed no expectation"; return 1; }
	if [[ $line == expect-any* ]]; then	# "expect-any k1,k2=N": their sum rose by >= N
		ks=${line#expect-any } v=${ks#*=} ks=${ks%%=*} any=0
		for k in ${ks//,/ }; do
			b=$(dime_json "ihmp.rejected.$k" "$before" 2>/dev/null || echo 0)
			a=$(dime_json "ihmp.rejected.$k" "$after" 2>/dev/null || echo 0)
			any=$((any + a - b))
		done
		((any >= v)) || { note "counters $ks: +$any together, expected +$v"; return 1; }
		return 0
	fi
	for kv in ${line#expect}; do
		k=${kv%%=*} v=${kv#*=}
		[[ $k == _* ]] && { bad=1; continue; }
		b=$(dime_json "ihmp.rejected.$k" "$before" 2>/dev/null || echo missing)
		a=$(dime_json "ihmp.rejected.$k" "$after" 2>/dev/null || echo missing)
		if [[ $a == missing ]]; then
			note "counter ihmp.rejected.$k does not exist"
			bad=1
		elif (((a - b) < v)); then
			note "counter $k: +$((a - b)), expected +$v"
			bad=1
		fi
	done
	return $bad
}

hids_snap() { dime_ctl ch -j show hids >"$1"; }
hids_same() {	# BEFORE AFTER
	cmp -s "$1" "$2" && return 0
	note "show hids changed:"
	note "  before: $(tr -d '\n' <"$1" | cut -c1-900)"
	note "  after:  $(tr -d '\n' <"$2" | cut -c1-900)"
	return 1
}

# hcase NAME FAM [SETTLE] : one hostile case sent from R2's namespace
hcase() {
	local name=$1 fam=$2 settle=${3:-0.3} out exp bad=0 title
	title="$name (IPv$fam)"
	dime_ctl ch -j stats >"$LAB_DIR/s0"
	hids_snap "$LAB_DIR/h0"
	out=$(lab_r2 $TOOL attack "$name" "$LAB_DIR/ctx.json" "$fam" 2>&1) || { note "attacker failed: $out"; bad=1; }
	sleep "$settle"
	dime_ctl ch -j stats >"$LAB_DIR/s1"
	hids_snap "$LAB_DIR/h1"
	grep '^#' <<<"$out" | head -8 || true
	if grep -q '^skip' <<<"$out"; then
		tap_result 0 "$title # SKIP $(grep '^skip' <<<"$out" | cut -c6-)"
		return
	fi
	exp=$(grep '^expect' <<<"$out" | head -1 || true)
	note "rejected delta: $($TOOL delta "$LAB_DIR/s0" "$LAB_DIR/s1")"
	if [[ $exp == expect-info* ]]; then
		:
	elif [[ -n $exp ]]; then
		check_expect "$LAB_DIR/s0" "$LAB_DIR/s1" "$exp" || bad=1
	else
		bad=1
	fi
	hids_same "$LAB_DIR/h0" "$LAB_DIR/h1" || bad=1
	flows_alive || bad=1
	dimed_up || bad=1
	tap_result "$bad" "$title"
}

dimed_up() {
	local h
	for h in mh ch; do
		dime_alive $h || { note "dimed on $h died: $(dime_log_tail $h)"; return 1; }
	done
}

victim_pkts() {	# packets CH sent to R1's core addresses (nft counter, postrouting)
	lab_ch nft list chain inet hostile post | awk -v a="$1" '$0 ~ a && /packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }' | head -1
}

# ============================================================== setup ===
echo "# hostile-peer suite: $DIMED"
preflight root dimed iperf3 nft
st=$($TOOL selftest) || { echo "$st"; tap_bail "IHMP encoder self-check against docs/ihmp.md §10"; }
note "$st"
lab_up
lab_firewall on $PORT
for h in mh ch; do
	dime_start $h -l debug || tap_bail "dimed started on $h: $DIME_ERR"
done
lab_bg lab_ch $TOOL sniff "$SW_DEV" "$LAB_DIR/cap.txt"
lab_ch nft -f - <<EOF
table inet hostile {
	chain post {
		type filter hook postrouting priority 300; policy accept;
		ip daddr $R1_S4 counter
		ip6 daddr $R1_S6 counter
	}
}
EOF
sleep 0.3
P4=$(lab_port) P6=$(lab_port)
for p in "$P4" "$P6"; do lab_bg lab_ch iperf3 -s -p "$p" >"$LAB_DIR/iperf-s-$p.log" 2>&1; done
sleep 0.5
lab_bg lab_mh iperf3 -c "$CH4" -p "$P4" -t 600 -b 8M -i 0 >"$LAB_DIR/iperf-c4.log" 2>&1
IPERF4=$LAB_BG_PID
lab_bg lab_mh iperf3 -c "$CH6" -p "$P6" -t 600 -b 8M -i 0 >"$LAB_DIR/iperf-c6.log" 2>&1
IPERF6=$LAB_BG_PID
ATK_SEED=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >"$LAB_DIR/ctx.json" <<EOF
{"mh4": "$MH_A4", "mh6": "$MH_A6", "mhb4": "$MH_B4", "mhb6": "$MH_B6", "ch4": "$CH4", "ch6": "$CH6",
 "r1s4": "$R1_S4", "r1s6": "$R1_S6", "r2s4": "$R2_S4", "r2s6": "$R2_S6",
 "nobody4": "198.18.0.99", "nobody6": "2001:db8::99",
 "mh_key": "$LAB_DIR/mh-state/host.key", "attacker_seed": "$ATK_SEED",
 "capture": "$LAB_DIR/cap.txt", "sent_log": "$LAB_DIR/sent.txt", "state": "$LAB_DIR/atk-state.json"}
EOF
# wait for the HELLO exchange: CH knows MH (both families, one HID: see
# test/e2e/dualstack.sh) with a TOFU key
for ((i = 0; i < 60; i++)); do
	j=$(dime_ctl ch -j show hids 2>/dev/null | $TOOL hidof "$MH_A4" || true)
	[[ $j == *"\"$MH_A6\""* && $j == *tofu* ]] && break
	sleep 0.1
done
sleep 1
note "CH's HID table after setup: $(dime_ctl ch -j show hids | tr -d '\n')"
flows_alive >/dev/null || true

# ---------------------------------------------------------- key checks ---
bad=0
for h in mh ch; do
	f=$LAB_DIR/$h-state/host.key
	if [[ ! -f $f ]]; then note "$f missing"; bad=1; continue; fi
	m=$(stat -c %a "$f") s=$(stat -c %s "$f")
	[[ $m == 600 ]] || { note "$f mode $m, not 600"; bad=1; }
	[[ $s == 64 ]] || { note "$f is $s octets, not 64"; bad=1; }
	$TOOL pubkey "$f" >/dev/null 2>&1 || { note "$f is not a libsodium Ed25519 secret key (seed || public)"; bad=1; }
done
tap_result "$bad" "host key files exist on MH and CH, mode 0600, 64-octet libsodium keys"

bad=0
MHPK=$($TOOL pubkey "$LAB_DIR/mh-state/host.key" 2>/dev/null || echo none)
CHPK=$($TOOL pubkey "$LAB_DIR/ch-state/host.key" 2>/dev/null || echo none)
kch=$(dime_ctl ch -j show keys 2>&1 || true)
kmh=$(dime_ctl mh -j show keys 2>&1 || true)
note "CH show keys: $(tr -d '\n' <<<"$kch" | cut -c1-600)"
[[ $kch == *"$MHPK"* ]] || { note "CH's 'show keys' lacks MH's public key $MHPK"; bad=1; }
[[ $kch == *'"tofu"'* ]] || { note "CH's 'show keys' has no origin \"tofu\""; bad=1; }
[[ $kch == *"$CHPK"* ]] || { note "CH's 'show keys' lacks its own public key $CHPK"; bad=1; }
[[ $kmh == *"$CHPK"* ]] || { note "MH's 'show keys' lacks CH's public key (MH did not bind CH's key from the ACK)"; bad=1; }
tap_result "$bad" "HELLO exchange bound keys TOFU both ways (show keys)"

real=$(grep -c " $CH4 $PORT \| $CH6 $PORT " "$LAB_DIR/cap.txt" || true)
note "IHMP datagrams to CH captured so far: $real"

# ------------------------------------------------------ hostile cases ---
for fam in 4 6; do
	for c in bad-version unknown-type bad-hid-family hid-length-mismatch bad-addr-family addr-length-mismatch \
		unknown-critical-tlv duplicate-tlv tlv-not-allowed signature-not-last bad-echo tlv-overrun \
		truncated oversized incomplete forged-unsigned unsigned-after-bind unsigned-ack wrong-key altered-bytes \
		replay-captured replay-ack reordered lying-hostid; do
		hcase "$c" "$fam"
	done
done
hcase empty 4

# redirect-to-victim: a validly signed (stolen key) HANDOFF / ADDR_UP moving MH
# to R1's address; CH must probe, get no answer, not switch, count it
for c in redirect-handoff redirect-addrup; do
	for fam in 4 6; do
		victim=$([[ $fam == 4 ]] && echo "$R1_S4" || echo "$R1_S6")
		v0=$(victim_pkts "$victim")
		dime_ctl ch -j stats >"$LAB_DIR/s0"
		hids_snap "$LAB_DIR/h0"
		out=$(lab_r2 $TOOL attack "$c" "$LAB_DIR/ctx.json" "$fam" 2>&1) || note "attacker failed: $out"
		grep '^#' <<<"$out" || true
		bad=0
		sleep 0.5
		hids_snap "$LAB_DIR/hmid"
		fl=$(dime_ctl ch -j show flows)
		if [[ $fl == *"\"remote_locator\": \"$victim\""* || $fl == *"\"remote_locator\":\"$victim\""* ]]; then
			note "0.5 s after the forged $c, a flow's remote_locator is the victim $victim"; bad=1
		fi
		hids_same "$LAB_DIR/h0" "$LAB_DIR/hmid" || { note "(during the probe)"; bad=1; }
		sleep 4.3	# the probe's 4 transmissions give up after 3.75 s
		dime_ctl ch -j stats >"$LAB_DIR/s1"
		hids_snap "$LAB_DIR/h1"
		v1=$(victim_pkts "$victim")
		note "rejected delta: $($TOOL delta "$LAB_DIR/s0" "$LAB_DIR/s1"); packets CH -> victim $victim: $((v1 - v0))"
		check_expect "$LAB_DIR/s0" "$LAB_DIR/s1" "$(grep '^expect' <<<"$out" | head -1)" || bad=1
		((v1 - v0 <= VICTIM_MAX)) || { note "CH sent $((v1 - v0)) packets to the victim (max $VICTIM_MAX)"; bad=1; }
		((v1 - v0 >= 1)) || note "CH sent no probe at all to the victim"
		hids_same "$LAB_DIR/h0" "$LAB_DIR/h1" || bad=1
		flows_alive || bad=1
		tap_result "$bad" "$c to a victim's address, signed with MH's stolen key (IPv$fam)"
	done
done

# garbage flood: 10,000 datagrams from one source
for fam in 4 6; do
	dime_ctl ch -j stats >"$LAB_DIR/s0"
	hids_snap "$LAB_DIR/h0"
	lab_r2 $TOOL attack garbage-flood "$LAB_DIR/ctx.json" "$fam" >"$LAB_DIR/flood.out" 2>&1 &
	fpid=$!
	bad=0 slow=0 nq=0
	while kill -0 "$fpid" 2>/dev/null; do
		t=$(date +%s%N)
		timeout 1 ip netns exec "$LAB_NS_CH" "$DIMECTL" -s "$(dime_sock ch)" stats >/dev/null 2>&1 || slow=$((slow + 1))
		nq=$((nq + 1))
		sleep 0.1
	done
	wait "$fpid" || { note "flood sender failed: $(tail -2 "$LAB_DIR/flood.out")"; bad=1; }
	t=$(date +%s%N)
	timeout 1 ip netns exec "$LAB_NS_CH" "$DIMECTL" -s "$(dime_sock ch)" stats >/dev/null 2>&1 || slow=$((slow + 1))
	note "$(grep '^#' "$LAB_DIR/flood.out" | head -2 | tr '\n' ' ') stats queries during the flood: $nq, over 1 s: $slow"
	((slow == 0)) || { note "dimectl stats did not answer within 1 s $slow times"; bad=1; }
	sleep 0.5
	dime_ctl ch -j stats >"$LAB_DIR/s1"
	hids_snap "$LAB_DIR/h1"
	note "rejected delta: $($TOOL delta "$LAB_DIR/s0" "$LAB_DIR/s1")"
	check_expect "$LAB_DIR/s0" "$LAB_DIR/s1" "$(grep '^expect' "$LAB_DIR/flood.out" | head -1)" || bad=1
	hids_same "$LAB_DIR/h0" "$LAB_DIR/h1" || bad=1
	flows_alive || bad=1
	dimed_up || bad=1
	tap_result "$bad" "flood of 10000 garbage datagrams from one source: rate_limited, responsive (IPv$fam)"
	# The flooding source's rate-limit bucket refills at 50/s (burst 100):
	# give it back before the next case sends from the same address.
	sleep 2.5
done

# another peer's address: the attacker becomes a legitimate peer of CH (own
# key, HELLO from R2's address; a half-open entry that expires after 120 s, so
# this comes late), then claims MH's address with its own valid signature
for fam in 4 6; do
	lab_r2 $TOOL attack attacker-hello "$LAB_DIR/ctx.json" "$fam" | sed 's/^/# /'
	sleep 0.5
	hcase steal-other-peer "$fam"
done

# HELLO flood from many forged sources
for fam in 4 6; do
	dime_ctl ch -j stats >"$LAB_DIR/s0"
	n0=$(dime_ctl ch -j show hids | $TOOL hidcount)
	mh=$([[ $fam == 4 ]] && echo "$MH_A4" || echo "$MH_A6")
	e0=$(dime_ctl ch -j show hids | $TOOL hidof "$mh" || true)
	out=$(lab_r2 $TOOL attack hello-flood "$LAB_DIR/ctx.json" "$fam" 2>&1) || note "attacker failed: $out"
	bad=0
	t=$(date +%s%N)
	timeout 1 ip netns exec "$LAB_NS_CH" "$DIMECTL" -s "$(dime_sock ch)" stats >/dev/null 2>&1 ||
		{ note "dimectl stats did not answer within 1 s after the HELLO flood"; bad=1; }
	sleep 1
	dime_ctl ch -j stats >"$LAB_DIR/s1"
	n1=$(dime_ctl ch -j show hids | $TOOL hidcount)
	e1=$(dime_ctl ch -j show hids | $TOOL hidof "$mh" || true)
	note "$(grep '^#' <<<"$out" | tr '\n' ' ') HIDs before $n0, after $n1 (bound +$HID_BOUND)"
	note "rejected delta: $($TOOL delta "$LAB_DIR/s0" "$LAB_DIR/s1")"
	((n1 - n0 <= HID_BOUND)) || { note "the HELLO flood added $((n1 - n0)) HIDs"; bad=1; }
	[[ $e0 == "$e1" ]] || { note "MH's HID changed: before $e0 after $e1"; bad=1; }
	flows_alive || bad=1
	dimed_up || bad=1
	tap_result "$bad" "HELLO flood from many forged sources: HID table bounded, MH's HID intact (IPv$fam)"
done

# ------------------------------------------------- positive: handoff ---
bad=0
hb=$(flow_bytes "$P4"):$(flow_bytes "$P6")
move_hard 1
sleep 3
flows_alive >/dev/null || true
sleep 2
flows_alive || bad=1
kill -0 "$IPERF4" 2>/dev/null || { note "iperf3 client v4 exited: $(tail -3 "$LAB_DIR/iperf-c4.log" | tr '\n' ' ')"; bad=1; }
kill -0 "$IPERF6" 2>/dev/null || { note "iperf3 client v6 exited: $(tail -3 "$LAB_DIR/iperf-c6.log" | tr '\n' ' ')"; bad=1; }
j=$(dime_ctl ch -j show hids)
[[ $j == *"\"$MH_B4\""* ]] || { note "CH's HID table lacks MH's new address $MH_B4"; bad=1; }
[[ $j == *"\"$MH_B6\""* ]] || { note "CH's HID table lacks MH's new address $MH_B6"; bad=1; }
note "bytes before move $hb, 5 s after $(flow_bytes "$P4"):$(flow_bytes "$P6"); CH hids: $(tr -d '\n' <<<"$j" | cut -c1-500)"
note "CH rejected: $(dime_stat ch ihmp.rejected | tr -d '\n')"
tap_result "$bad" "legitimate hard handoff (move_hard 1) between signed peers keeps TCP flows (IPv4 and IPv6)"

# --------------------------------------------- key never in the logs ---
bad=0
for h in mh ch; do
	f=$LAB_DIR/$h-state/host.key
	[[ -f $f ]] || { bad=1; continue; }
	while read -r s; do
		[[ -n $s ]] || continue
		for lg in "$LAB_DIR/mh.log" "$LAB_DIR/ch.log"; do
			grep -qF -- "$s" "$lg" && { note "$h's secret key (${s:0:8}...) appears in $lg"; bad=1; }
		done
	done < <($TOOL secrets "$f")
done
note "log sizes: mh $(wc -l <"$LAB_DIR/mh.log") lines, ch $(wc -l <"$LAB_DIR/ch.log") lines"
tap_result "$bad" "secret keys (hex, base64, seed) never appear in either daemon's log"

kill "$IPERF4" "$IPERF6" 2>/dev/null || true
note "runtime $(($(date +%s) - T0)) s"
tap_summary
