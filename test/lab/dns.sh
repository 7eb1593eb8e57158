# shellcheck shell=bash
# SPDX-License-Identifier: MIT
#
# dns.sh -- a real DNS server (Knot DNS) in the lab, for the DDNS and
# rendezvous tests (issue #15). Source it after lab.sh (or dime.sh), call
# the helpers after lab_up, from the shell that ran lab_up (the namespaces
# join LAB_NSES, the PIDs $LAB_DIR/pids, so lab_cleanup removes them however
# the test ends; files under /etc/netns are removed by a cleanup hook).
#
#   core bridge (198.18.0.0/24, 2001:db8::/64)
#     DNS  $LAB_NS_DNS  dime-dns-$LAB_ID   DNS4=198.18.0.53  DNS6=2001:db8::53
#          knotd, zone dime.test., TSIG key "dimekey" (hmac-sha256) may UPDATE
#     DNSF $LAB_NS_DNSF dime-dnsf-$LAB_ID  DNSF4=198.18.0.54 DNSF6=2001:db8::54
#          knotd, zone dime.test., every name -> the victim (AT4/AT6)
#   Both have routes to MH's subnets through R1/R2 (as lab_attacker has).
#
# Helpers:
#   dns_up                 the server; key files in $LAB_DIR/dns/:
#                          dimekey.key (BIND form, 0600), wrongkey.key (same
#                          name, another secret), dimekey.secret (bare base64)
#   dns_dig NAME TYPE [SERVER=DNS4]   the answer's values, one a line (dig
#                          +short, run in the server's namespace: unaffected
#                          by dns_block)
#   dns_wait_record NAME TYPE VALUE TIMEOUT [SERVER]
#                          polls every ~20 ms until the answer contains VALUE
#                          (a whole line); prints the seconds it took;
#                          1 on timeout. The time of the answer (epoch) is in
#                          $LAB_DIR/dns/wait.at
#   dns_wait_exact NAME TYPE "V1 V2.." TIMEOUT [SERVER]
#                          ... until the answer is exactly that set ("" = empty)
#   dns_block on|off       the server stops answering from the network (nft
#                          drop of udp/tcp dport 53 not from lo, counted)
#   dns_blocked_count      packets dropped by dns_block so far
#   dns_update KEYFILE CMDS...   nsupdate -k KEYFILE from the server's
#                          namespace (a client for checks by hand); CMDS one
#                          per argument, "send" added; prints nsupdate's output
#   dns_resolv HOST|NS SERVER    programs run with `ip netns exec NS` resolve
#                          through SERVER (/etc/netns/NS/resolv.conf)
#   dns_up_forger [VICTIM4 VICTIM6]  the hostile server (default victim: the
#                          lab attacker, made if missing)
#   dns_log [forger]       knotd's log file (level DNS_LOG_LEVEL, default
#                          debug: only then does knot 3.2 log a refused
#                          update, "TSIG, key 'dimekey.', verification failed
#                          'BADSIG'" / "ACL, denied, action update, ... key
#                          none"; at info it logs accepted updates only)
#   ch_addr_now FAMILY     CH's current address (base .10/::10 or alt .11/::11)
#   ch_move_hard [GAP=0]   CH: old addresses gone, GAP s, new ones (alt if on
#                          base, else base) + routes; stamps ch_hard_down /
#                          ch_hard_up in $LAB_DIR/events
#   move_both_hard [GAP=0.2]  MH's move_hard and CH's ch_move_hard together
#                          (same stamps, both_start first); fails if the
#                          hard_up and ch_hard_up stamps are > 100 ms apart
#                          (prints "mh_up=T ch_up=T skew=S"; ~10 ms)
#
# Needs knotd (package knot), keymgr (knot), dig and nsupdate (bind9-dnsutils),
# nft, python3 is not needed.

LAB_NS_DNS="dime-dns-$LAB_ID"
LAB_NS_DNSF="dime-dnsf-$LAB_ID"
DNS4=198.18.0.53 DNS6=2001:db8::53
DNSF4=198.18.0.54 DNSF6=2001:db8::54
DNS_ZONE=dime.test
DNS_KEY_NAME=dimekey
DNS_KEY_ALG=hmac-sha256
CH_ALT4=${CH_ALT4:-198.18.0.11} CH_ALT6=${CH_ALT6:-2001:db8::11}
export LAB_NS_DNS LAB_NS_DNSF DNS4 DNS6 DNSF4 DNSF6 DNS_ZONE CH_ALT4 CH_ALT6

dns_die() { echo "[dns] error: $*" >&2; return 1; }

# dns_core_host NS DEV ADDR4 ADDR6 : a namespace on the core bridge (as
# lab_attacker), joins LAB_NSES.
dns_core_host() {
	local ns=$1 dev=$2
	ip netns add "$ns" || return 1
	lab_ledger "ns $ns"
	LAB_NSES+=" $ns"
	ip -n "$ns" link set lo up
	lab_sysctl "$ns" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.default.autoconf=0
	ip -n "$LAB_NS_SW" link add "$dev" type veth peer name "$SW_DEV" netns "$ns"
	ip -n "$LAB_NS_SW" link set "$dev" master "$SW_BR" up
	ip -n "$ns" link set "$SW_DEV" up
	ip -n "$ns" addr add "$3/$PLEN4" dev "$SW_DEV"
	ip -n "$ns" addr add "$4/$PLEN6" dev "$SW_DEV" nodad
	ip -n "$ns" route add "$SUBNET_A4" via "$R1_S4"
	ip -n "$ns" route add "$SUBNET_B4" via "$R2_S4"
	ip -n "$ns" -6 route add "$SUBNET_A6" via "$R1_S6"
	ip -n "$ns" -6 route add "$SUBNET_B6" via "$R2_S6"
}

# dns_knot DIR NS ADDR4 ADDR6 KEYCONF ACL : knotd.conf in DIR (zone file
# DIR/dime.test.zone already written), knotd started in NS, waits until it
# answers the SOA on both addresses.
dns_knot() {
	local d=$1 ns=$2 a4=$3 a6=$4 keyconf=$5 acl=$6 i
	mkdir -p "$d/run" "$d/db"
	cat >"$d/knot.conf" <<-EOF
		server:
		    rundir: "$d/run"
		    listen: [ $a4@53, $a6@53 ]
		    # A zone's answers only, as an authoritative server
		    identity: ""
		log:
		  - target: "$d/knot.log"
		    any: ${DNS_LOG_LEVEL:-debug}
		database:
		    storage: "$d/db"
		$keyconf
		$acl
		template:
		  - id: default
		    storage: "$d"
		    file: "%s.zone"
		    # updates live in the journal only: the zone file stays as written
		    zonefile-sync: -1
		    zonefile-load: whole
		    journal-content: changes
		    semantic-checks: off
		zone:
		  - domain: $DNS_ZONE
		    ${acl:+acl: [ update ]}
	EOF
	knotc -c "$d/knot.conf" conf-check >"$d/conf-check.out" 2>&1 ||
		{ dns_die "knot.conf: $(tr '\n' ' ' <"$d/conf-check.out")"; return 1; }
	lab_bg ip netns exec "$ns" knotd -c "$d/knot.conf" </dev/null >>"$d/knotd.out" 2>&1
	echo "$LAB_BG_PID" >"$d/knotd.pid"
	for ((i = 0; i < 200; i++)); do
		if [[ -n $(ip netns exec "$ns" dig +short +time=1 +tries=1 @"$a4" "$DNS_ZONE" SOA 2>/dev/null) &&
			-n $(ip netns exec "$ns" dig +short +time=1 +tries=1 @"$a6" "$DNS_ZONE" SOA 2>/dev/null) ]]; then
			return 0
		fi
		lab_alive "$LAB_BG_PID" || break
		sleep 0.05
	done
	dns_die "knotd in $ns does not answer on $a4 and $a6: $(tail -n 3 "$d/knot.log" "$d/knotd.out" 2>/dev/null | tr '\n' ' ')"
}

# dns_keygen NAME : a fresh secret (base64 of 32 random bytes), from keymgr
dns_keygen() { keymgr -t "$1" "$DNS_KEY_ALG" | sed -n 's/^ *secret: *//p'; }

dns_up() {
	local d=$LAB_DIR/dns sec wsec
	[[ -n ${LAB_DIR:-} && -f $LAB_DIR/pids ]] || { dns_die "dns_up: call lab_up first"; return 1; }
	mkdir -p "$d"
	chmod 0700 "$d"
	lab_cleanup_hook dns_cleanup
	sec=$(dns_keygen "$DNS_KEY_NAME") && [[ -n $sec ]] || { dns_die "keymgr -t failed"; return 1; }
	wsec=$(dns_keygen "$DNS_KEY_NAME")
	(
		umask 077
		printf 'key "%s" {\n\talgorithm %s;\n\tsecret "%s";\n};\n' "$DNS_KEY_NAME" "$DNS_KEY_ALG" "$sec" >"$d/dimekey.key"
		printf 'key "%s" {\n\talgorithm %s;\n\tsecret "%s";\n};\n' "$DNS_KEY_NAME" "$DNS_KEY_ALG" "$wsec" >"$d/wrongkey.key"
		printf '%s\n' "$sec" >"$d/dimekey.secret"
	)
	cat >"$d/$DNS_ZONE.zone" <<-EOF
		\$ORIGIN $DNS_ZONE.
		\$TTL 5
		@	SOA	ns hostmaster 1 60 60 3600 5
		@	NS	ns
		ns	A	$DNS4
		ns	AAAA	$DNS6
		dns	A	$DNS4
		dns	AAAA	$DNS6
		static	A	$CH4
		static	AAAA	$CH6
	EOF
	dns_core_host "$LAB_NS_DNS" dns "$DNS4" "$DNS6" || return 1
	# Knot's key section: the secret only in this 0700 directory.
	dns_knot "$d" "$LAB_NS_DNS" "$DNS4" "$DNS6" "$(printf 'key:\n  - id: %s\n    algorithm: %s\n    secret: %s' "$DNS_KEY_NAME" "$DNS_KEY_ALG" "$sec")" \
		"$(printf 'acl:\n  - id: update\n    key: %s\n    action: update' "$DNS_KEY_NAME")"
}

dns_up_forger() {
	local d=$LAB_DIR/dnsf v4=${1:-} v6=${2:-}
	if [[ -z $v4 ]]; then
		[[ " $LAB_NSES " == *" $LAB_NS_AT "* ]] || lab_attacker
		v4=$AT4 v6=$AT6
	fi
	mkdir -p "$d"
	lab_cleanup_hook dns_cleanup
	echo "$v4 $v6" >"$d/victim"
	# Every name in the zone (the wildcard) and the lab's names explicitly.
	cat >"$d/$DNS_ZONE.zone" <<-EOF
		\$ORIGIN $DNS_ZONE.
		\$TTL 5
		@	SOA	ns hostmaster 1 60 60 3600 5
		@	NS	ns
		ns	A	$DNSF4
		ns	AAAA	$DNSF6
		*	A	$v4
		*	AAAA	$v6
		mh	A	$v4
		mh	AAAA	$v6
		ch	A	$v4
		ch	AAAA	$v6
	EOF
	dns_core_host "$LAB_NS_DNSF" dnsf "$DNSF4" "$DNSF6" || return 1
	dns_knot "$d" "$LAB_NS_DNSF" "$DNSF4" "$DNSF6" "" ""
}

dns_log() { [[ ${1:-} == forger ]] && echo "$LAB_DIR/dnsf/knot.log" || echo "$LAB_DIR/dns/knot.log"; }

dns_dig() {
	ip netns exec "$LAB_NS_DNS" dig +short +time=1 +tries=1 @"${3:-$DNS4}" "$1" "$2" 2>/dev/null |
		grep -v '^;;' || true
}

dns_wait_record() {
	local name=$1 type=$2 value=$3 to=$4 server=${5:-$DNS4} t0 t end
	t0=$(date +%s.%N)
	end=$(awk -v a="$t0" -v b="$to" 'BEGIN { printf "%.6f", a + b }')
	while :; do
		if dns_dig "$name" "$type" "$server" | grep -qxF -- "$value"; then
			t=$(date +%s.%N)
			echo "$t" >"$LAB_DIR/dns/wait.at"
			awk -v a="$t" -v b="$t0" 'BEGIN { printf "%.3f\n", a - b }'
			return 0
		fi
		t=$(date +%s.%N)
		awk -v a="$t" -v b="$end" 'BEGIN { exit !(a >= b) }' && break
		sleep 0.02
	done
	echo none >"$LAB_DIR/dns/wait.at"
	return 1
}

dns_wait_exact() {
	local name=$1 type=$2 want to=$4 server=${5:-$DNS4} t0 t got end
	want=$(tr ' ' '\n' <<<"$3" | sed '/^$/d' | sort | tr '\n' ' ')
	t0=$(date +%s.%N)
	end=$(awk -v a="$t0" -v b="$to" 'BEGIN { printf "%.6f", a + b }')
	while :; do
		got=$(dns_dig "$name" "$type" "$server" | sort | tr '\n' ' ')
		if [[ $got == "$want" ]]; then
			t=$(date +%s.%N)
			echo "$t" >"$LAB_DIR/dns/wait.at"
			awk -v a="$t" -v b="$t0" 'BEGIN { printf "%.3f\n", a - b }'
			return 0
		fi
		t=$(date +%s.%N)
		awk -v a="$t" -v b="$end" 'BEGIN { exit !(a >= b) }' && break
		sleep 0.02
	done
	echo none >"$LAB_DIR/dns/wait.at"
	echo "last answer: '$got'" >&2
	return 1
}

dns_block() {
	ip netns exec "$LAB_NS_DNS" nft delete table inet dnsblock 2>/dev/null || true
	case "$1" in
	on)
		ip netns exec "$LAB_NS_DNS" nft -f - <<-EOF
			table inet dnsblock {
				chain in {
					type filter hook input priority -10; policy accept;
					iif "lo" accept
					udp dport 53 counter drop comment "blocked"
					tcp dport 53 counter drop comment "blocked"
				}
			}
		EOF
		lab_stamp "dns_block on"
		;;
	off) lab_stamp "dns_block off" ;;
	*) dns_die "dns_block on|off"; return 1 ;;
	esac
}

dns_blocked_count() {
	ip netns exec "$LAB_NS_DNS" nft list table inet dnsblock 2>/dev/null |
		awk '/comment "blocked"/ { for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

dns_update() {
	local key=$1 c
	shift
	{
		echo "server $DNS4"
		echo "zone $DNS_ZONE"
		for c; do echo "$c"; done
		echo send
		echo answer
	} | ip netns exec "$LAB_NS_DNS" nsupdate -t 3 -u 1 -r 0 -k "$key" 2>&1
}

dns_resolv() {
	local ns d
	ns=$(dns_host_ns "$1")
	lab_cleanup_hook dns_cleanup
	if [[ ! -d /etc/netns ]]; then
		mkdir /etc/netns && echo /etc/netns >>"$LAB_DIR/etc-netns-made"
	fi
	d=/etc/netns/$ns
	[[ -d $d ]] || { mkdir "$d" && echo "$d" >>"$LAB_DIR/etc-netns-made"; }
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$2" >"$d/resolv.conf"
	# /etc/hosts is the host's: bind-mount an empty-of-lab-names copy? Not
	# needed: hosts is "files dns" and the host has no *.dime.test.
}

# dns_host_ns mh|ch|NAME : the namespace's name (as dime_ns)
dns_host_ns() {
	case "$1" in
	mh) echo "$LAB_NS_MH" ;; ch) echo "$LAB_NS_CH" ;; dns) echo "$LAB_NS_DNS" ;; at) echo "$LAB_NS_AT" ;;
	*) echo "$1" ;;
	esac
}

# dns_cleanup : what lab_cleanup cannot know of (run by it, via the hook).
dns_cleanup() {
	local d
	[[ -n ${LAB_DIR:-} && -f $LAB_DIR/etc-netns-made ]] || return 0
	# Made last, removed first: /etc/netns/NS before /etc/netns.
	tac "$LAB_DIR/etc-netns-made" | while read -r d; do
		case "$d" in
		/etc/netns) rmdir /etc/netns 2>/dev/null || true ;;
		/etc/netns/dime-*) rm -f "$d/resolv.conf"; rmdir "$d" 2>/dev/null || true ;;
		esac
	done
	rm -f "$LAB_DIR/etc-netns-made"
}

# ------------------------------------------------------- CH's moves ---
ch_addr_now() {
	local at
	at=$(cat "$LAB_DIR/ch_at" 2>/dev/null || echo base)
	case "$1$at" in
	4base) echo "$CH4" ;; 6base) echo "$CH6" ;; 4alt) echo "$CH_ALT4" ;; 6alt) echo "$CH_ALT6" ;;
	*) dns_die "ch_addr_now: family '$1'" ;;
	esac
}

# ch_routes : CH's routes to MH's subnets (they go with CH's last core address)
ch_routes() {
	ip -n "$LAB_NS_CH" route replace "$SUBNET_A4" via "$R1_S4"
	ip -n "$LAB_NS_CH" route replace "$SUBNET_B4" via "$R2_S4"
	ip -n "$LAB_NS_CH" -6 route replace "$SUBNET_A6" via "$R1_S6"
	ip -n "$LAB_NS_CH" -6 route replace "$SUBNET_B6" via "$R2_S6"
}

ch_move_hard() {
	local at to o4 o6 n4 n6
	at=$(cat "$LAB_DIR/ch_at" 2>/dev/null || echo base)
	if [[ $at == base ]]; then
		to=alt o4=$CH4 o6=$CH6 n4=$CH_ALT4 n6=$CH_ALT6
	else
		to=base o4=$CH_ALT4 o6=$CH_ALT6 n4=$CH4 n6=$CH6
	fi
	lab_stamp "ch_hard_down $at"
	ip -n "$LAB_NS_CH" addr del "$o4/$PLEN4" dev "$SW_DEV" 2>/dev/null || true
	ip -n "$LAB_NS_CH" addr del "$o6/$PLEN6" dev "$SW_DEV" 2>/dev/null || true
	echo none >"$LAB_DIR/ch_at"
	sleep "${1:-0}"
	ip -n "$LAB_NS_CH" addr add "$n4/$PLEN4" dev "$SW_DEV"
	ip -n "$LAB_NS_CH" addr add "$n6/$PLEN6" dev "$SW_DEV" nodad
	ch_routes
	echo "$to" >"$LAB_DIR/ch_at"
	lab_stamp "ch_hard_up $to"
}

# ch_move_back : CH on its base address again (no stamps; between tests)
ch_move_back() {
	[[ $(cat "$LAB_DIR/ch_at" 2>/dev/null || echo base) != base ]] || return 0
	# The old ones first: deleting a primary IPv4 address takes its
	# secondaries with it (unless promote_secondaries).
	ip -n "$LAB_NS_CH" addr del "$CH_ALT4/$PLEN4" dev "$SW_DEV" 2>/dev/null || true
	ip -n "$LAB_NS_CH" addr del "$CH_ALT6/$PLEN6" dev "$SW_DEV" 2>/dev/null || true
	ip -n "$LAB_NS_CH" addr replace "$CH4/$PLEN4" dev "$SW_DEV"
	ip -n "$LAB_NS_CH" addr replace "$CH6/$PLEN6" dev "$SW_DEV" nodad
	ch_routes
	echo base >"$LAB_DIR/ch_at"
}

# move_both_hard [GAP=0.2] : MH's hard move (as move_hard: A<->B) and CH's
# (as ch_move_hard) together: both lose their addresses, GAP s, both get the
# new ones. One `ip -batch` per host and step, run one after the other from
# this shell: the two hosts' new addresses come ~10 ms apart even on a busy
# machine (two background move_hard/ch_move_hard would race for the CPU).
move_both_hard() {
	local gap=${1:-0.2} from to at cto dev gw4 gw6 o4 o6 n4 n6 tm tc skew
	from=$(lab_cur) at=$(cat "$LAB_DIR/ch_at" 2>/dev/null || echo base)
	[[ $from == A || $from == B ]] || { dns_die "move_both_hard: MH is on '$from'"; return 1; }
	to=$(lab_other "$from")
	case "$to" in
	A) dev=$MH_A_DEV gw4=$R1_A4 gw6=$R1_A6 ;;
	B) dev=$MH_B_DEV gw4=$R2_B4 gw6=$R2_B6 ;;
	esac
	if [[ $at == base ]]; then
		cto=alt o4=$CH4 o6=$CH6 n4=$CH_ALT4 n6=$CH_ALT6
	else
		cto=base o4=$CH_ALT4 o6=$CH_ALT6 n4=$CH4 n6=$CH6
	fi
	lab_stamp "both_start"
	lab_stamp "hard_down $from"
	ip -n "$LAB_NS_MH" -force -batch - 2>/dev/null <<-EOF
		route del default dev $( [[ $from == A ]] && echo "$MH_A_DEV" || echo "$MH_B_DEV")
		route del ::/0 dev $( [[ $from == A ]] && echo "$MH_A_DEV" || echo "$MH_B_DEV")
		addr del $(lab_addr 4 "$from")/$PLEN4 dev $( [[ $from == A ]] && echo "$MH_A_DEV" || echo "$MH_B_DEV")
		addr del $(lab_addr 6 "$from")/$PLEN6 dev $( [[ $from == A ]] && echo "$MH_A_DEV" || echo "$MH_B_DEV")
	EOF
	echo none >"$LAB_DIR/cur"
	lab_stamp "ch_hard_down $at"
	ip -n "$LAB_NS_CH" -force -batch - 2>/dev/null <<-EOF
		addr del $o4/$PLEN4 dev $SW_DEV
		addr del $o6/$PLEN6 dev $SW_DEV
	EOF
	echo none >"$LAB_DIR/ch_at"
	sleep "$gap"
	ip -n "$LAB_NS_MH" -batch - <<-EOF
		addr replace $(lab_addr 4 "$to")/$PLEN4 dev $dev
		addr replace $(lab_addr 6 "$to")/$PLEN6 dev $dev nodad
		route replace default via $gw4 dev $dev
		route replace ::/0 via $gw6 dev $dev
	EOF
	echo "$to" >"$LAB_DIR/cur"
	lab_stamp "hard_up $to"
	ip -n "$LAB_NS_CH" -batch - <<-EOF
		addr add $n4/$PLEN4 dev $SW_DEV
		addr add $n6/$PLEN6 dev $SW_DEV nodad
		route replace $SUBNET_A4 via $R1_S4
		route replace $SUBNET_B4 via $R2_S4
		route replace $SUBNET_A6 via $R1_S6
		route replace $SUBNET_B6 via $R2_S6
	EOF
	echo "$cto" >"$LAB_DIR/ch_at"
	lab_stamp "ch_hard_up $cto"
	tm=$(awk 'index($0, "hard_up") == 1 { t = $NF } END { print t }' "$LAB_DIR/events")
	tc=$(awk 'index($0, "ch_hard_up") == 1 { t = $NF } END { print t }' "$LAB_DIR/events")
	skew=$(awk -v a="$tm" -v b="$tc" 'BEGIN { d = a - b; if (d < 0) d = -d; printf "%.3f", d }')
	echo "mh_up=$tm ch_up=$tc skew=$skew"
	awk -v s="$skew" 'BEGIN { exit !(s <= 0.1) }'
}
