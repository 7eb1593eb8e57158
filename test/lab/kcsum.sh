#!/bin/bash
# SPDX-License-Identifier: MIT
#
# kcsum.sh -- what the kernel does to checksums when nftables rewrites
# addresses with the kernel datapath's statements (nft/dimed-fast.nft,
# docs/datapath.md "The kernel datapath: what the kernel does to
# checksums"). No dimed: static maps of the same shape, real packets.
#
#   A (IA on lo) --a0-- r0 R r1 --b0-- B (IB on lo)
#     198.18.10.2     .10.1   .11.1     198.18.11.2      IA 198.18.98.2, IB 198.18.99.2
#     2001:db8:10::2                    2001:db8:11::2   IA 2001:db8:98::2, IB 2001:db8:99::2
#
# Sockets on A talk from IA to IB; A's output chain (route, mangle - 1)
# rewrites IA->LA, IB->LB; B's prerouting chain (raw - 1) rewrites back, and
# the same the other way. R has no route to IA or IB: what it forwards was
# translated. Captured on R's r1 (the wire) and at B after its rewrite
# (nflog, prerouting -100); every IPv4 header checksum and every TCP/UDP
# checksum is checked: "complete" (valid), "pseudo" (the field holds the
# pseudo-header sum of the packet's addresses: CHECKSUM_PARTIAL, finished by
# whoever transmits it for real), "zero" (IPv4 UDP without one), "bad".
#
# Modes: offload (veth defaults: checksum offload and TSO on, so packets
# stay CHECKSUM_PARTIAL and GSO from A's socket to B's), sw (checksum
# offload off on every veth: A's device finishes the checksum nft updated,
# B receives CHECKSUM_NONE and verifies), complete (sw, and B rewrites after
# conntrack, whose checksum check makes the packet CHECKSUM_COMPLETE).
#
# Prints PASS/FAIL lines; exits 1 if any failed. Root; nft, tcpdump,
# python3. Run under flock /tmp/dime-lab.lock.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
ID=${KC_ID:-$$}
A=dime-kca-$ID R=dime-kcr-$ID B=dime-kcb-$ID
DIR=$(mktemp -d "${TMPDIR:-/tmp}/dime-kcsum.XXXXXX")
PIDS=()
FAILS=0 PASSES=0
MODES=${KC_MODES:-offload sw complete}

LA4=198.18.10.2 RA4=198.18.10.1 RB4=198.18.11.1 LB4=198.18.11.2 IA4=198.18.98.2 IB4=198.18.99.2
LA6=2001:db8:10::2 RA6=2001:db8:10::1 RB6=2001:db8:11::1 LB6=2001:db8:11::2 IA6=2001:db8:98::2 IB6=2001:db8:99::2

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for p in $A $R $B; do ip netns del "$p" 2>/dev/null || true; done
	[[ ${KC_KEEP:-0} == 1 ]] && echo "# kept $DIR" || rm -rf "$DIR"
}
trap cleanup EXIT

pass() { PASSES=$((PASSES + 1)); echo "PASS $*"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL $*"; }
# expect NAME CMD... : PASS/FAIL with CMD's output on the line.
expect() {
	local name=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	if ((rc == 0)); then pass "$name: $out"; else fail "$name: $out"; fi
}

for c in nft tcpdump "$PY"; do command -v "$c" >/dev/null || { echo "FAIL preflight: missing $c"; exit 1; }; done
[[ $(id -u) == 0 ]] || { echo "FAIL preflight: needs root"; exit 1; }

# Sockets, and the checksum census of a capture (test/e2e/fastpath_pkt.py).
KC_PY=$HERE/../e2e/fastpath_pkt.py
kc() { $PY "$KC_PY" "$@"; }

# --------------------------------------------------------- topology ---
topology() {
	local n
	for n in $A $R $B; do
		ip netns add "$n"
		ip -n "$n" link set lo up
		ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 >/dev/null
	done
	ip netns exec $R sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
	ip -n $A link add a0 type veth peer name r0 netns $R
	ip -n $B link add b0 type veth peer name r1 netns $R
	ip -n $A addr add $LA4/24 dev a0; ip -n $A addr add $LA6/64 dev a0 nodad
	ip -n $R addr add $RA4/24 dev r0; ip -n $R addr add $RA6/64 dev r0 nodad
	ip -n $R addr add $RB4/24 dev r1; ip -n $R addr add $RB6/64 dev r1 nodad
	ip -n $B addr add $LB4/24 dev b0; ip -n $B addr add $LB6/64 dev b0 nodad
	ip -n $A addr add $IA4/32 dev lo scope host; ip -n $A addr add $IA6/128 dev lo nodad
	ip -n $B addr add $IB4/32 dev lo scope host; ip -n $B addr add $IB6/128 dev lo nodad
	for n in "$A a0" "$R r0" "$R r1" "$B b0"; do set -- $n; ip -n "$1" link set "$2" up; done
	ip -n $A route add default via $RA4; ip -n $A -6 route add default via $RA6
	ip -n $B route add default via $RB4; ip -n $B -6 route add default via $RB6
}

# rules HOST CHAIN_IN_PRIORITY : the kernel datapath's shape (nft/dimed-fast.nft).
rules() {
	local ns=$1 prio=$2 f t k
	{
		echo "table inet kc {"
		for f in 4 6; do
			t=ipv4_addr; ((f == 4)) || t=ipv6_addr
			for k in out in; do
				echo "map fast_${k}${f}_dst { type $t . $t . inet_proto . inet_service . inet_service : $t; }"
				echo "map fast_${k}${f}_src { type $t . $t . inet_proto . inet_service . inet_service : $t; }"
			done
		done
		echo "chain inbound { type filter hook prerouting priority $prio; policy accept;"
		for f in 4 6; do
			k=ip; ((f == 4)) || k=ip6
			echo "  $k daddr set $k saddr . $k daddr . meta l4proto . th sport . th dport map @fast_in${f}_dst $k saddr set $k saddr . $k daddr . meta l4proto . th sport . th dport map @fast_in${f}_src counter"
		done
		echo "}"
		echo "chain outbound { type route hook output priority mangle - 1; policy accept;"
		for f in 4 6; do
			k=ip; ((f == 4)) || k=ip6
			echo "  $k daddr set $k saddr . $k daddr . meta l4proto . th sport . th dport map @fast_out${f}_dst $k saddr set $k saddr . $k daddr . meta l4proto . th sport . th dport map @fast_out${f}_src counter"
		done
		# GSO super-packets that left the rewrite (longer than the MTU).
		echo "  meta l4proto { tcp, udp } meta length > 1500 ip saddr $LA4 counter comment \"big4\""
		echo "  meta l4proto { tcp, udp } meta length > 1500 ip6 saddr $LA6 counter comment \"big6\""
		echo "}"
		# B: what its stack gets after the rewrite, and the fragments that arrive.
		echo "chain after { type filter hook prerouting priority -100; policy accept;"
		echo "  ip saddr $IA4 log group 7"
		echo "  ip6 saddr $IA6 log group 7"
		echo "}"
		echo "chain frags { type filter hook prerouting priority raw - 2; policy accept;"
		echo "  ip frag-off & 0x1fff != 0 counter comment \"later4\""
		echo "  meta nfproto ipv6 frag frag-off != 0 counter comment \"later6\""
		echo "}"
		echo "}"
	} >"$DIR/$ns.nft"
	ip netns exec "$ns" nft -f "$DIR/$ns.nft"
}

# flow_maps PROTO CPORT SPORT : the eight elements of one flow A:CPORT -> B:SPORT, both families.
flow_maps() {
	local p=$1 c=$2 s=$3 f la lb ia ib
	for f in 4 6; do
		eval "la=\$LA$f lb=\$LB$f ia=\$IA$f ib=\$IB$f"
		ip netns exec $A nft "add element inet kc fast_out${f}_dst { $ia . $ib . $p . $c . $s : $lb };
			add element inet kc fast_out${f}_src { $ia . $lb . $p . $c . $s : $la };
			add element inet kc fast_in${f}_dst { $lb . $la . $p . $s . $c : $ia };
			add element inet kc fast_in${f}_src { $lb . $ia . $p . $s . $c : $ib }"
		ip netns exec $B nft "add element inet kc fast_in${f}_dst { $la . $lb . $p . $c . $s : $ib };
			add element inet kc fast_in${f}_src { $la . $ib . $p . $c . $s : $ia };
			add element inet kc fast_out${f}_dst { $ib . $ia . $p . $s . $c : $la };
			add element inet kc fast_out${f}_src { $ib . $la . $p . $s . $c : $lb }"
	done
}

# counter NS CHAIN PATTERN : packets of the (first) rule whose text matches.
counter() {
	ip netns exec "$1" nft list chain inet kc "$2" |
		awk -v p="$3" 'index($0, p) && !n { for (i = 1; i < NF; i++) if ($i == "packets") n = $(i + 1) } END { print n + 0 }'
}
csum_errors() {	# B's InCsumErrors, IPv4 TCP+UDP and IPv6 UDP (TCP over IPv6 counts in Tcp)
	ip netns exec $B cat /proc/net/snmp /proc/net/snmp6 | awk '
		/^Tcp: / && !t { for (i = 1; i <= NF; i++) h[i] = $i; t = 1; next }
		/^Tcp: / { for (i = 1; i <= NF; i++) if (h[i] == "InCsumErrors") n += $i }
		/^Udp: / && !u { for (i = 1; i <= NF; i++) g[i] = $i; u = 1; next }
		/^Udp: / { for (i = 1; i <= NF; i++) if (g[i] == "InCsumErrors") n += $i }
		/^Udp6InCsumErrors/ { n += $2 }
		END { print n + 0 }'
}

# capture_start NAME : tcpdump on R's r1 (the wire) and nflog group 7 at B.
capture_start() {
	local n=$1
	ip netns exec $R tcpdump -i r1 -s 0 -U -n -w "$DIR/$n.wire.pcap" 'tcp or udp or (ip[6:2] & 0x1fff != 0) or ip6[6] == 44' \
		2>"$DIR/$n.wire.err" &
	PIDS+=($!) CAP1=$!
	ip netns exec $B tcpdump -i nflog:7 -s 0 -U -n -w "$DIR/$n.b.pcap" 2>"$DIR/$n.b.err" &
	PIDS+=($!) CAP2=$!
	for _ in $(seq 100); do
		grep -q listening "$DIR/$n.wire.err" && grep -q listening "$DIR/$n.b.err" && return 0
		sleep 0.05
	done
	echo "tcpdump did not start: $(cat "$DIR/$n.wire.err" "$DIR/$n.b.err")" >&2
	return 1
}
capture_stop() {
	sleep 0.3
	kill -INT "$CAP1" "$CAP2" 2>/dev/null || true
	wait "$CAP1" "$CAP2" 2>/dev/null || true
}

# ------------------------------------------------------------ cases ---
tcp_case() {	# MODE FAMILY
	local m=$1 f=$2 n ia ib sp big0 big1 e0 e1 want_w want_b
	n=$m-tcp$f
	eval "ia=\$IA$f ib=\$IB$f"
	sp=$((5200 + f + BASE))
	e0=$(csum_errors)
	big0=$(counter $A outbound "big$f")
	capture_start "$n"
	ip netns exec $B timeout 40 $PY "$KC_PY" tcp-serve "$ib" "$sp" "$DIR/$n.srv" &
	PIDS+=($!)
	local spid=$!
	sleep 0.3
	ip netns exec $A timeout 40 $PY "$KC_PY" tcp-send "$ia" $((40000 + f + BASE)) "$ib" "$sp" 16000000 "$DIR/$n.cli" || true
	wait "$spid" || true
	capture_stop
	e1=$(csum_errors)
	big1=$(counter $A outbound "big$f")
	read -r _ sent_sha got_sha <"$DIR/$n.cli" 2>/dev/null || true
	read -r peer _ rsha <"$DIR/$n.srv" 2>/dev/null || true
	if [[ -n ${sent_sha:-} && $sent_sha == "${rsha:-x}" && $got_sha == "$sent_sha" && $peer == "$ia" ]]; then
		pass "$n: 16000000 bytes from $ia arrive intact at $ib (sha256 ${rsha:0:12})"
	else
		fail "$n: stream: client '$(cat "$DIR/$n.cli" 2>/dev/null)' server '$(cat "$DIR/$n.srv" 2>/dev/null)'"
	fi
	((big1 > big0)) && pass "$n: A's output rewrote $((big1 - big0)) GSO super-packets (> 1500 bytes)" ||
		fail "$n: no GSO super-packet rewritten at A's output ($big0 -> $big1)"
	((e1 == e0)) && pass "$n: B's stack counted no checksum error ($e0 -> $e1)" ||
		fail "$n: B's InCsumErrors $e0 -> $e1"
	case $m in
	offload) want_w=some-pseudo,some-big want_b=some-pseudo,some-big ;;
	*) want_w=all-complete,no-big want_b=all-complete ;;
	esac
	expect "$n: on the wire ($want_w)" kc check "$DIR/$n.wire.pcap" "$want_w"
	expect "$n: at B after its rewrite ($want_b)" kc check "$DIR/$n.b.pcap" "$want_b"
}

udp_case() {	# MODE FAMILY nocheck(0|1) [SIZE=1000] [COUNT=300]
	local m=$1 f=$2 z=$3 size=${4:-1000} cnt=${5:-300} n ia ib sp e0 e1 want ok bad srcs
	n=$m-udp$f; ((z == 0)) || n=$n-nocsum
	((size <= 1400)) || n=$m-frag$f
	eval "ia=\$IA$f ib=\$IB$f"
	sp=$((5210 + f + 2 * z + BASE)); ((size <= 1400)) || sp=$((5220 + f + BASE))
	e0=$(csum_errors)
	capture_start "$n"
	ip netns exec $B timeout 30 $PY "$KC_PY" udp-recv "$ib" "$sp" "$DIR/$n.rx" 8 &
	PIDS+=($!)
	local rpid=$!
	sleep 0.3
	ip netns exec $A $PY "$KC_PY" udp-send "$ia" $((sp + 30000)) "$ib" "$sp" "$cnt" "$size" "$z"
	wait "$rpid" || true
	capture_stop
	e1=$(csum_errors)
	read -r ok bad srcs <"$DIR/$n.rx" || true
	if ((size > 1400)); then
		return 0	# the caller judges fragments
	fi
	if [[ $m == complete && $f == 6 ]]; then
		# Measured on 6.18: nft_payload_l4csum_update() adjusts skb->csum
		# for the new L4 checksum field but not for the new addresses,
		# which a CHECKSUM_COMPLETE IPv6 skb's csum covers (no header
		# checksum cancels them, as in IPv4); conntrack made it complete in
		# software (csum_complete_sw), so udp6_csum_init() drops it.
		if ((ok == 0 && e1 - e0 >= cnt * 9 / 10)); then
			pass "$n: all dropped by B's stack as checksum errors ($e0 -> $e1), though every checksum field is right (below): CHECKSUM_COMPLETE IPv6 after conntrack"
		else
			fail "$n: $ok/$cnt delivered, InCsumErrors $e0 -> $e1: the kernel's CHECKSUM_COMPLETE IPv6 behaviour changed; update docs/datapath.md"
		fi
	elif ((ok >= cnt * 9 / 10 && bad == 0)) && [[ $srcs == "$ia" ]]; then
		pass "$n: $ok/$cnt datagrams intact at $ib, from $srcs"
	else
		fail "$n: $ok/$cnt intact, $bad corrupt, from '$srcs'"
	fi
	[[ $m == complete && $f == 6 ]] || { ((e1 == e0)) && pass "$n: B's stack counted no checksum error" || fail "$n: B's InCsumErrors $e0 -> $e1"; }
	if ((z == 1)); then
		want=zero
	elif [[ $m == offload ]]; then
		want=some-pseudo,no-zero
	else
		want=all-complete,no-zero
	fi
	expect "$n: on the wire ($want)" kc check "$DIR/$n.wire.pcap" "$want"
	expect "$n: at B after its rewrite ($want)" kc check "$DIR/$n.b.pcap" "$want"
}

# Later fragments carry no ports: `th` breaks the rule, only first
# fragments are rewritten, and B (no conntrack, so no defragmentation before
# the hook) cannot reassemble what it got.
frag_case() {	# MODE FAMILY
	local m=$1 f=$2 n=$1-frag$2 in0 in1 l0 l1 ok
	in0=$(counter $B inbound "fast_in${f}_src")
	l0=$(counter $B frags "later$f")
	udp_case "$m" "$f" 0 4000 50
	in1=$(counter $B inbound "fast_in${f}_src")
	l1=$(counter $B frags "later$f")
	read -r ok _ <"$DIR/$n.rx" || ok=x
	# 50 first fragments and the 3 small STOP datagrams are rewritten.
	if ((in1 - in0 == 53 && l1 - l0 == 100)) && [[ $ok == 0 ]]; then
		pass "$n: 50 datagrams of 4000 bytes: B rewrote the 50 first fragments (+3 small datagrams), $((l1 - l0)) later fragments arrived untouched, $ok datagrams reassembled"
	else
		fail "$n: B rewrote $((in1 - in0)) packets, $((l1 - l0)) later fragments, $ok datagrams delivered (want 53, 100, 0)"
	fi
}

icmp_case() {
	local f=$1 ia ib c0 c1
	eval "ia=\$IA$f ib=\$IB$f"
	c0=$(counter $A outbound "fast_out${f}_src")
	ip netns exec $A ping -"$f" -c 2 -i 0.2 -W 1 -I "$ia" "$ib" >/dev/null 2>&1 || true
	c1=$(counter $A outbound "fast_out${f}_src")
	((c1 == c0)) && pass "icmp$f: echo requests from $ia to $ib are not rewritten (th on ICMP loads its first 4 octets; no tcp/udp key matches)" ||
		fail "icmp$f: the fast rule rewrote $((c1 - c0)) ICMP packets"
}

# ------------------------------------------------------------- main ---
# Each mode has its own ports (a TCP client's TIME_WAIT stays behind).
BASE=0
topology
rules $A "raw - 1"
rules $B "raw - 1"
# What nft(8) makes of the statements: the checksum attributes the kernel gets.
expect "nft: ip saddr set carries csum_type 1 (inet) csum_off 10 and csum_flags 0x1 (L4 pseudo-header)" \
	bash -c "ip netns exec $A nft -d netlink --check add rule inet kc outbound ip saddr set $LA4 2>&1 | grep -o 'payload write.*csum_flags 0x1' | grep 'csum_type 1 csum_off 10'"
expect "nft: ip6 saddr set carries csum_flags 0x1 only (csum_type 0: IPv6 has no header checksum)" \
	bash -c "ip netns exec $A nft -d netlink --check add rule inet kc outbound ip6 saddr set $LA6 2>&1 | grep -o 'payload write.*csum_type 0 csum_off 0 csum_flags 0x1'"
for m in $MODES; do
	case $m in
	offload) BASE=0 ;;
	sw | complete)
		[[ $m == sw ]] && BASE=100 || BASE=200
		for d in "$A a0" "$R r0" "$R r1" "$B b0"; do
			set -- $d
			ip netns exec "$1" $PY "$KC_PY" ethtool-off "$2" tx
		done
		;;
	esac
	if [[ $m == complete ]]; then
		# B rewrites after conntrack (mangle - 1), whose checksum check turns
		# CHECKSUM_NONE into CHECKSUM_COMPLETE; fragments are reassembled first.
		ip netns exec $B nft delete table inet kc
		rules $B "mangle - 1"
		ip netns exec $B sysctl -qw net.netfilter.nf_conntrack_checksum=1 2>/dev/null || true
		ip netns exec $B nft add chain inet kc ctk '{ type filter hook input priority 0; }'
		ip netns exec $B nft add rule inet kc ctk ct state invalid counter
	fi
	echo "# mode $m"
	for f in 4 6; do
		flow_maps tcp $((40000 + f + BASE)) $((5200 + f + BASE))
		flow_maps udp $((35210 + f + BASE)) $((5210 + f + BASE))
		flow_maps udp $((35212 + f + BASE)) $((5212 + f + BASE))
		flow_maps udp $((35220 + f + BASE)) $((5220 + f + BASE))
		tcp_case "$m" "$f"
		udp_case "$m" "$f" 0
		((f == 6)) || udp_case "$m" "$f" 1
		[[ $m != sw ]] || frag_case "$m" "$f"
	done
done
icmp_case 4
icmp_case 6
echo "# $PASSES passed, $FAILS failed"
((FAILS == 0))
