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
# A server without dimed that CH talks to (R1, on its MH-side address): CH's
# HID for it has no key, the target of the keyless-takeover cases.
declare -A KPORT=() KADDR=([4]=$R1_A4 [6]=$R1_A6)
for fam in 4 6; do
	KPORT[$fam]=$(lab_port)
	lab_bg lab_r1 iperf3 -s -p "${KPORT[$fam]}" >"$LAB_DIR/iperf-k-$fam.log" 2>&1
done
sleep 0.5
for fam in 4 6; do
	lab_bg lab_ch iperf3 -c "${KADDR[$fam]}" -p "${KPORT[$fam]}" -t 600 -b 4M -i 0 >"$LAB_DIR/iperf-kc-$fam.log" 2>&1
done
ATK_SEED=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >"$LAB_DIR/ctx.json" <<EOF
{"mh4": "$MH_A4", "mh6": "$MH_A6", "mhb4": "$MH_B4", "mhb6": "$MH_B6", "ch4": "$CH4", "ch6": "$CH6",
 "r1s4": "$R1_S4", "r1s6": "$R1_S6", "r2s4": "$R2_S4", "r2s6": "$R2_S6",
 "nobody4": "198.18.0.99", "nobody6": "2001:db8::99", "k4": "$R1_A4", "k6": "$R1_A6", "r2b4": "$R2_B4", "r2b6": "$R2_B6",
 "sq4": "198.18.0.50", "sq6": "2001:db8::50", "ready": "$LAB_DIR/fake-ready.",
 "spray_port": "$P4", "spray_n": "${HOSTILE_SPRAY_N:-100000}",
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
# MH's signed ACKs, for the replay cases: the greeting proves both sides
# with challenges, not probes, so MH answers nothing of CH's yet. An
# address that comes and goes on CH makes CH ask (ADDR_UP, ADDR_DOWN).
lab_ch ip addr add 198.18.0.11/24 dev "$SW_DEV"
lab_ch ip addr add 2001:db8::11/64 dev "$SW_DEV" nodad
sleep 1.5
lab_ch ip addr del 198.18.0.11/24 dev "$SW_DEV"
lab_ch ip addr del 2001:db8::11/64 dev "$SW_DEV"
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

# ------------------------------------ trust rules (docs/ihmp.md §7) ---
# Judged by what traffic sees: CH's stream to the server without dimed keeps
# moving bytes there, a new connection reaches the host it was meant for,
# and the tables say no key was bound and no address was taken.
k_bytes() {	# PORT: bytes R1's iperf3 server received
	lab_r1 ss -Htin state established "( sport = :$1 )" 2>/dev/null |
		grep -o 'bytes_received:[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }'
}
declare -A KLAST=()
k_alive() {	# FAM: CH's stream to the server moved bytes since the last call
	local p=${KPORT[$1]} b
	b=$(k_bytes "$p")
	if ((b <= ${KLAST[$p]:-0})); then
		note "CH's stream to the server without dimed stalled: $b bytes (was ${KLAST[$p]:-0})"
		KLAST[$p]=$b
		return 1
	fi
	KLAST[$p]=$b
}
k_keyless() {	# FAM: the server's HID at CH still has no key
	local e
	e=$(dime_ctl ch -j show hids | $TOOL hidof "${KADDR[$1]}" || true)
	[[ $e == *'"key": "none"'* ]] || { note "the server's HID: $e"; return 1; }
}
# banner HOST-ADDRESS PORT tcp|udp: what a new connection from CH gets back
banner() {
	if [[ $3 == tcp ]]; then
		lab_ch timeout 5 socat -T2 - "TCP:$(lab_bracket "$1"):$2" </dev/null 2>/dev/null || true
	else
		echo hi | lab_ch timeout 5 socat -T2 - "UDP:$(lab_bracket "$1"):$2" 2>/dev/null || true
	fi
}
for fam in 4 6; do k_alive "$fam" >/dev/null || true; done

# T2/T3: takeover of the server's HID by unsigned, self-signed and probing
# messages, from R2 and spoofed from the server's own address.
for fam in 4 6; do
	for c in keyless-unsigned-down keyless-probe-down keyless-handoff keyless-selfsigned-hello; do
		dime_ctl ch -j stats >"$LAB_DIR/s0"
		out=$(lab_r2 $TOOL attack "$c" "$LAB_DIR/ctx.json" "$fam" 2>&1) || note "attacker failed: $out"
		grep '^#' <<<"$out" | head -4 || true
		sleep 1
		dime_ctl ch -j stats >"$LAB_DIR/s1"
		bad=0
		note "rejected delta: $($TOOL delta "$LAB_DIR/s0" "$LAB_DIR/s1")"
		check_expect "$LAB_DIR/s0" "$LAB_DIR/s1" "$(grep '^expect' <<<"$out" | head -1)" || bad=1
		k_alive "$fam" || bad=1
		k_keyless "$fam" || bad=1
		flows_alive || bad=1
		tap_result "$bad" "$c: a server without dimed is nobody's to take over (IPv$fam)"
	done
done

# T1: squatting. R2 proves its own address and advertises R1's and the
# server's as its own; new TCP and UDP connections from CH to them must
# still reach R1, not the impostor listening on R2 with the same ports.
BT=$(lab_port) BU=$(lab_port)
# serve_banner HOST PROTO FAM TEXT [BIND]: HOST answers TEXT to every new
# TCP connection (port BT) or UDP datagram (port BU), on BIND or on all of
# its addresses of that family.
serve_banner() {
	local port=$BT opt=",fork,reuseaddr"
	[[ $2 == UDP ]] && port=$BU
	if [[ -n ${5:-} ]]; then opt=",bind=$(lab_bracket "$5")$opt"
	elif [[ $3 == 6 ]]; then opt="$opt,ipv6only=1"; fi
	lab_bg "lab_$1" socat "$2$3-$([[ $2 == TCP ]] && echo LISTEN || echo RECVFROM):$port$opt" SYSTEM:"echo $4"
}
for fam in 4 6; do
	serve_banner r1 TCP "$fam" real-R1 "$([[ $fam == 4 ]] && echo "$R1_S4" || echo "$R1_S6")"
	serve_banner r1 TCP "$fam" real-R1 "${KADDR[$fam]}"
	serve_banner r1 UDP "$fam" real-R1
	serve_banner r2 TCP "$fam" impostor-R2
	serve_banner r2 UDP "$fam" impostor-R2
done
sleep 0.5
for fam in 4 6; do
	a1=$([[ $fam == 4 ]] && echo "$R1_S4" || echo "$R1_S6")
	dime_ctl ch -j stats >"$LAB_DIR/s0"
	out=$(lab_r2 $TOOL attack squat-hello "$LAB_DIR/ctx.json" "$fam" 2>&1) || note "attacker failed: $out"
	grep '^#' <<<"$out" | head -4 || true
	sleep 0.5
	bad=0
	for dst in "$a1" "${KADDR[$fam]}"; do
		t=$(banner "$dst" "$BT" tcp)
		[[ $t == real-R1 ]] || { note "a new TCP connection to $dst got \"$t\""; bad=1; }
	done
	u=$(banner "$a1" "$BU" udp)
	[[ $u == real-R1 ]] || { note "a new UDP flow to $a1 got \"$u\""; bad=1; }
	dime_ctl ch -j stats >"$LAB_DIR/s1"
	note "rejected delta: $($TOOL delta "$LAB_DIR/s0" "$LAB_DIR/s1")"
	e=$(dime_ctl ch -j show hids | $TOOL hidof "$([[ $fam == 4 ]] && echo "$R2_S4" || echo "$R2_S6")" || true)
	[[ $e != *"\"$a1\""* && $e != *"\"${KADDR[$fam]}\""* ]] || { note "R2's HID holds a squatted address: $e"; bad=1; }
	k_alive "$fam" || bad=1
	flows_alive || bad=1
	tap_result "$bad" "squatting by HELLO ADDRS: new TCP and UDP connections still reach the real host (IPv$fam)"
done

# T5: what CH sends back, per kind of datagram, against its size
for fam in 4 6; do
	out=$(lab_r2 $TOOL attack amplify "$LAB_DIR/ctx.json" "$fam" 2>&1) || note "attacker failed: $out"
	bad=0
	while read -r _ kind i o; do
		i=${i#in=} o=${o#out=}
		note "$kind: $i octets in, $o out"
		((o <= 3 * i)) || { note "$kind: answered with more than 3x its size"; bad=1; }
	done < <(grep '^amp ' <<<"$out")
	[[ $(grep -c '^amp ' <<<"$out") -ge 9 ]] || { note "the attacker measured too little: $out"; bad=1; }
	flows_alive || bad=1
	tap_result "$bad" "no amplification: answers to unauthenticated datagrams within 3x their size (IPv$fam)"
done

# T1 on the greeting side: CH greets a fake dime peer (R2's MH-side
# address), whose valid signed ACK lists a victim's address (a server on
# the core switch) as its own; new connections from CH to the victim must
# reach the victim, not the impostor.
lab_sw ip addr add 198.18.0.50/24 dev "$SW_BR"
lab_sw ip addr add 2001:db8::50/64 dev "$SW_BR" nodad
for fam in 4 6; do
	serve_banner sw TCP "$fam" real-victim
	serve_banner sw UDP "$fam" real-victim
done
sleep 0.5
for fam in 4 6; do
	me=$([[ $fam == 4 ]] && echo "$R2_B4" || echo "$R2_B6")
	victim=$([[ $fam == 4 ]] && echo 198.18.0.50 || echo 2001:db8::50)
	rm -f "$LAB_DIR/fake-ready.$fam"
	lab_bg lab_r2 $TOOL attack ack-squat "$LAB_DIR/ctx.json" "$fam" >"$LAB_DIR/acksquat$fam.out" 2>&1
	fake=$LAB_BG_PID
	for ((i = 0; i < 50; i++)); do [[ -f $LAB_DIR/fake-ready.$fam ]] && break; sleep 0.1; done
	bad=0
	t=$(banner "$me" "$BT" tcp)	# CH's first flow to the fake peer: CH says HELLO
	sleep 1.5
	t=$(banner "$victim" "$BT" tcp)
	[[ $t == real-victim ]] || { note "a new TCP connection to $victim got \"$t\""; bad=1; }
	u=$(banner "$victim" "$BU" udp)
	[[ $u == real-victim ]] || { note "a new UDP flow to $victim got \"$u\""; bad=1; }
	lab_wait "$fake" || true
	grep '^#' "$LAB_DIR/acksquat$fam.out" | head -2 || true
	grep -q 'answered' "$LAB_DIR/acksquat$fam.out" || { note "CH never said HELLO to the fake peer"; bad=1; }
	e=$(dime_ctl ch -j show hids | $TOOL hidof "$me" || true)
	[[ $e != *"\"$victim\""* ]] || { note "the fake peer's HID holds the victim: $e"; bad=1; }
	flows_alive || bad=1
	tap_result "$bad" "squatting by the ADDRS of a signed ACK: new TCP and UDP connections still reach the victim (IPv$fam)"
done

# T6: a control client that asks for a long answer and does not read it
# must not stall the daemon: the datapath and other clients go on.
lab_bg lab_mh python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
for p in range(20000, 24000):
    s.sendto(b"x", (sys.argv[2], p))
' "$MH_A4" "$CH4"
lab_wait "$LAB_BG_PID" || true
sleep 1
bad=0
lab_bg lab_ch python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b"dime/1 -j show flows\n")
time.sleep(4)
' "$(dime_sock ch)"
SLOW=$LAB_BG_PID
sleep 0.5
slow=0
for i in 1 2 3 4 5; do
	timeout 1 ip netns exec "$LAB_NS_CH" "$DIMECTL" -s "$(dime_sock ch)" show >/dev/null 2>&1 || slow=$((slow + 1))
	sleep 0.3
done
flows_alive || bad=1
k_alive 4 || bad=1
lab_wait "$SLOW" || true
nfl=$(dime_ctl ch -j show | dime_json flows)
note "CH's flows: $nfl; dimectl answers over 1 s while the slow client held its answer: $slow of 5"
((slow == 0)) || bad=1
((nfl > 3000)) || { note "too few flows for a response larger than the socket buffers"; bad=1; }
dimed_up || bad=1
tap_result "$bad" "a control client that does not read its long answer stalls neither the datapath nor other clients"

# T4: SYNs from 100,000 forged sources, MH's next address among them: the
# handoff below must still be applied (a keyless HID a spoofed flow made
# gives the address up to the peer that proves it is there).
dime_ctl ch -j stats >"$LAB_DIR/s0"
out=$(lab_r2 $TOOL attack syn-spray "$LAB_DIR/ctx.json" 4 2>&1) || note "attacker failed: $out"
grep '^#' <<<"$out" | head -2 || true
sleep 2
note "CH after the spray: $(dime_ctl ch -j show | tr -d '\n' | cut -c1-300)"
bad=0
flows_alive || bad=1
dimed_up || bad=1
tap_result "$bad" "SYNs from ${HOSTILE_SPRAY_N:-100000} forged sources: dimed up, flows go on"

# ------------------------------------------------- positive: handoff ---
# ... while R2, a proven peer of CH with its own key, drains what probe
# budget it can with claims of fresh addresses (T4: per-peer budgets under
# a global ceiling it cannot exhaust).
bad=0
hb=$(flow_bytes "$P4"):$(flow_bytes "$P6")
dime_ctl ch -j stats >"$LAB_DIR/s0"
lab_bg lab_r2 $TOOL attack claim-flood "$LAB_DIR/ctx.json" 4 >"$LAB_DIR/claims.out" 2>&1
CLAIMS=$LAB_BG_PID
sleep 0.5
move_hard 1
sleep 3
flows_alive >/dev/null || true
sleep 2
flows_alive || bad=1
kill -0 "$IPERF4" 2>/dev/null || { note "iperf3 client v4 exited: $(tail -3 "$LAB_DIR/iperf-c4.log" | tr '\n' ' ')"; bad=1; }
kill -0 "$IPERF6" 2>/dev/null || { note "iperf3 client v6 exited: $(tail -3 "$LAB_DIR/iperf-c6.log" | tr '\n' ' ')"; bad=1; }
j=$(dime_ctl ch -j show hids)
e=$($TOOL hidof "$MH_A4" <<<"$j" || true)
for a in "$MH_B4" "$MH_B6"; do
	python3 -c 'import json, sys; sys.exit(sys.argv[2] not in json.loads(sys.argv[1]).get("active", []))' "$e" "$a" 2>/dev/null ||
		{ note "MH's new address $a is not active in MH's HID at CH: $e"; bad=1; }
done
note "bytes before move $hb, 5 s after $(flow_bytes "$P4"):$(flow_bytes "$P6"); CH hids: $(tr -d '\n' <<<"$j" | cut -c1-500)"
note "CH rejected: $(dime_stat ch ihmp.rejected | tr -d '\n')"
lab_wait "$CLAIMS" || { note "claim flood: $(tail -2 "$LAB_DIR/claims.out")"; bad=1; }
dime_ctl ch -j stats >"$LAB_DIR/s1"
note "$(grep '^#' "$LAB_DIR/claims.out" | tr '\n' ' ')rejected delta: $($TOOL delta "$LAB_DIR/s0" "$LAB_DIR/s1")"
check_expect "$LAB_DIR/s0" "$LAB_DIR/s1" "expect probe_budget=1" || bad=1
tap_result "$bad" "legitimate hard handoff (move_hard 1) between signed peers keeps TCP flows, onto an address forged SYNs had used, while another peer drains the probe budget (IPv4 and IPv6)"

# T4: a flood of signed HELLOs from rotating sources while 100,000 flows
# exist: MH's flows, translated since the handoff, keep at least half
# their rate, and dimed's memory stays bounded.
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$(dime_pid ch)/status"; }
bad=0
nfl=$(dime_ctl ch -j show | dime_json flows)
note "flows at CH: $nfl (translated: $(dime_ctl ch -j show | dime_json translated_flows))"
((nfl >= 70000)) || { note "fewer flows than the case needs"; bad=1; }
r0=$(rss)
b0=$(($(flow_bytes "$P4") + $(flow_bytes "$P6")))
sleep 4
b1=$(($(flow_bytes "$P4") + $(flow_bytes "$P6")))
dime_ctl ch -j stats >"$LAB_DIR/s0"
lab_bg lab_r2 $TOOL attack signed-hello-flood "$LAB_DIR/ctx.json" 4 >"$LAB_DIR/hflood4.out" 2>&1
f4=$LAB_BG_PID
lab_bg lab_r2 $TOOL attack signed-hello-flood "$LAB_DIR/ctx.json" 6 >"$LAB_DIR/hflood6.out" 2>&1
f6=$LAB_BG_PID
b2=$(($(flow_bytes "$P4") + $(flow_bytes "$P6")))
sleep 4
b3=$(($(flow_bytes "$P4") + $(flow_bytes "$P6")))
lab_wait "$f4" || true
lab_wait "$f6" || true
dime_ctl ch -j stats >"$LAB_DIR/s1"
r1=$(rss)
note "$(cat "$LAB_DIR/hflood4.out" "$LAB_DIR/hflood6.out" | grep '^#' | tr '\n' ' ')"
note "rejected delta: $($TOOL delta "$LAB_DIR/s0" "$LAB_DIR/s1")"
note "MH's flows: $((b1 - b0)) bytes in 4 s before, $((b3 - b2)) during the flood; dimed RSS $r0 -> $r1 kB"
((2 * (b3 - b2) >= b1 - b0)) || { note "the flows lost more than half their rate"; bad=1; }
((r1 - r0 < 65536)) || { note "dimed grew by $((r1 - r0)) kB"; bad=1; }
dimed_up || bad=1
tap_result "$bad" "signed HELLO flood from rotating sources with $nfl flows: translated flows keep half their rate, memory bounded"

# T1 with a stolen key, last (it ends MH's flows): a signed PATH_PROBE
# "from" the victim, then a signed ADDR_DOWN of MH's address. The victim
# becomes nothing, and gets no more than an ACK and the budgeted probes.
for fam in 4 6; do
	victim=$([[ $fam == 4 ]] && echo "$R1_S4" || echo "$R1_S6")
	v0=$(victim_pkts "$victim")
	out=$(lab_r2 $TOOL attack probe-then-down "$LAB_DIR/ctx.json" "$fam" 2>&1) || note "attacker failed: $out"
	grep '^#' <<<"$out" | head -3 || true
	sleep 4.5
	bad=0
	v1=$(victim_pkts "$victim")
	j=$(dime_ctl ch -j show hids)
	e=$($TOOL hidof "$([[ $fam == 4 ]] && echo "$MH_A4" || echo "$MH_A6")" <<<"$j" || true)
	[[ $e != *"\"$victim\""* ]] || { note "the victim's address is in MH's HID: $e"; bad=1; }
	e=$($TOOL hidof "$victim" <<<"$j" || true)
	[[ $e == none || $e == *'"key": "none"'* ]] || { note "the victim's HID has a key: $e"; bad=1; }
	note "packets CH -> victim: $((v1 - v0)) (at most 1 ACK + 3 probes x 4 sends)"
	((v1 - v0 <= 13)) || bad=1
	tap_result "$bad" "PATH_PROBE from a victim, then ADDR_DOWN, signed with MH's stolen key: nothing goes to the victim (IPv$fam)"
done

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
