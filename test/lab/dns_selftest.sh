#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# dns_selftest.sh -- the checks of test/lab/dns.sh's helpers, without dimed:
# knotd up on both addresses, a TSIG-signed UPDATE (nsupdate -k) lands and
# dig shows it, one with the wrong key is refused (knot's answer noted), a
# blocked server does not answer, a namespace resolves through it (getent,
# socat by name), the forger answers with the victim, both hosts move within
# 100 ms, and cleanup leaves nothing (namespaces, /etc/netns). ~10 s.
# Run as root, serialized with other labs:
#   flock /tmp/dime-lab.lock bash test/lab/dns_selftest.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=dime.sh
source "$HERE/dime.sh"
# shellcheck source=dns.sh
source "$HERE/dns.sh"
preflight root knotd keymgr dig nsupdate nft socat getent

if [[ ${1:-} != inner ]]; then
	# The lab in a child, so that its cleanup can be checked from here.
	export LAB_ID="dnsst$$"
	rc=0
	bash "$0" inner || rc=$?
	left=$(ip netns list | grep -c -- "-$LAB_ID" || true)
	[[ $left == 0 ]] && echo "ok - cleanup: no namespace of the lab left" ||
		{ echo "not ok - cleanup: $left namespaces left"; rc=1; }
	[[ ! -e /etc/netns/dime-ch-$LAB_ID && ! -e /etc/netns/dime-mh-$LAB_ID ]] &&
		echo "ok - cleanup: /etc/netns/dime-*-$LAB_ID gone" ||
		{ echo "not ok - cleanup: /etc/netns/dime-*-$LAB_ID left"; rc=1; }
	exit "$rc"
fi

lab_up
dns_up || tap_bail "dns_up"
d=$LAB_DIR/dns
note "knotd pid $(cat "$d/knotd.pid"), zone $DNS_ZONE on $DNS4 and $DNS6"

check "key files: BIND form, 0600" eval "
	[[ \$(stat -c %a $d/dimekey.key) == 600 && \$(stat -c %a $d/wrongkey.key) == 600 ]]
	grep -q 'key \"dimekey\"' $d/dimekey.key && grep -q 'key \"dimekey\"' $d/wrongkey.key
	! cmp -s $d/dimekey.key $d/wrongkey.key"

check "SOA over IPv4 and IPv6" eval "[[ -n \$(dns_dig $DNS_ZONE SOA $DNS4) && -n \$(dns_dig $DNS_ZONE SOA $DNS6) ]]"

out=$(dns_update "$d/dimekey.key" "update delete mh.$DNS_ZONE A" "update delete mh.$DNS_ZONE AAAA" \
	"update add mh.$DNS_ZONE 5 A $MH_A4" "update add mh.$DNS_ZONE 5 AAAA $MH_A6")
note "nsupdate -k dimekey.key: $(grep -o 'status: [A-Z]*' <<<"$out" | head -n1)"
check "a signed update with dimekey lands (dig)" eval "
	dns_dig mh.$DNS_ZONE A | grep -qx $MH_A4 && dns_dig mh.$DNS_ZONE AAAA | grep -qx $MH_A6"

t=$(date +%s.%N)
dns_update "$d/dimekey.key" "update delete mh.$DNS_ZONE A" "update add mh.$DNS_ZONE 5 A $MH_B4" >/dev/null
check "dns_wait_record sees the next one" dns_wait_record "mh.$DNS_ZONE" A "$MH_B4" 2
note "update sent to dig answers: $(awk -v a="$(cat "$d/wait.at")" -v b="$t" 'BEGIN { printf "%.3f", a - b }') s (nsupdate's own run included)"
check "dns_wait_exact: only B's address" dns_wait_exact "mh.$DNS_ZONE" A "$MH_B4" 1

out=$(dns_update "$d/wrongkey.key" "update delete mh.$DNS_ZONE A" "update add mh.$DNS_ZONE 5 A 198.18.9.9" || true)
note "nsupdate -k wrongkey.key says: $(grep -v '^$' <<<"$out" | tr '\n' ' ' | cut -c1-300)"
check "the wrong key is refused (dig unchanged)" eval "dns_wait_exact mh.$DNS_ZONE A $MH_B4 0.5"
note "knot logs: $(grep -i 'dimekey\|TSIG\|BADSIG\|denied\|update' "$d/knot.log" | tail -n 3 | tr '\n' ' ' | cut -c1-400)"
out=$(printf 'server %s\nzone %s\nupdate add mh.%s 5 A 198.18.9.9\nsend\nanswer\n' "$DNS4" "$DNS_ZONE" "$DNS_ZONE" |
	ip netns exec "$LAB_NS_DNS" nsupdate -t 3 -u 1 -r 0 2>&1 || true)
note "unsigned update: $(grep -v '^$' <<<"$out" | tr '\n' ' ' | cut -c1-200)"
check "an unsigned update is refused" eval "dns_wait_exact mh.$DNS_ZONE A $MH_B4 0.5"

dns_block on
check "dns_block on: no answer from CH" eval "! ip netns exec $LAB_NS_CH dig +short +time=1 +tries=1 @$DNS4 $DNS_ZONE SOA | grep -q ns"
check "dns_block on: dns_dig (local) still answers" eval "[[ -n \$(dns_dig $DNS_ZONE SOA) ]]"
note "dropped: $(dns_blocked_count) packets"
dns_block off
check "dns_block off: CH gets answers again" eval "ip netns exec $LAB_NS_CH dig +short +time=1 +tries=1 @$DNS6 $DNS_ZONE SOA | grep -q ns"

dns_resolv ch "$DNS4"
check "dns_resolv: getent hosts in CH's namespace" eval "ip netns exec $LAB_NS_CH getent ahostsv4 mh.$DNS_ZONE | grep -q $MH_B4"
check "dns_resolv: the host's own resolv.conf untouched" eval "! grep -q $DNS4 /etc/resolv.conf"
lab_attach B
port=$(lab_port)
lab_bg ip netns exec "$LAB_NS_MH" timeout 10 socat "TCP4-LISTEN:$port,reuseaddr" SYSTEM:'echo local=$SOCAT_SOCKADDR; cat'
lab_wait_listen "$LAB_NS_MH" tcp "$port"
out=$(echo hello | ip netns exec "$LAB_NS_CH" timeout 5 socat -t 1 - "TCP4:mh.$DNS_ZONE:$port" 2>&1 || true)
note "socat by name from CH: $(tr '\n' ' ' <<<"$out")"
check "dns_resolv: socat TCP:mh.$DNS_ZONE:PORT from CH reaches MH's B" eval "grep -qx 'local=$MH_B4' <<<'$out' && grep -qx hello <<<'$out'"

dns_up_forger || tap_bail "dns_up_forger"
check "the forger answers with the victim" eval "
	dns_dig mh.$DNS_ZONE A $DNSF4 | grep -qx $AT4 && dns_dig anything.$DNS_ZONE AAAA $DNSF6 | grep -qx $AT6"

echo base >"$LAB_DIR/ch_at"
lab_detach B
echo A >"$LAB_DIR/cur"
out=$(move_both_hard 0.2) && rc=0 || rc=$?
note "move_both_hard: $out"
tap_result "$rc" "move_both_hard: both up within 100 ms"
check "after: MH on B, CH on .11/::11, CH reaches MH" eval "
	[[ \$(lab_cur) == B && \$(ch_addr_now 4) == $CH_ALT4 ]]
	ip netns exec $LAB_NS_CH ping -c1 -W1 -I $CH_ALT4 $MH_B4 >/dev/null
	ip netns exec $LAB_NS_CH ping -c1 -W1 -I $CH_ALT6 $MH_B6 >/dev/null"
note "events: $(tr '\n' ';' <"$LAB_DIR/events")"
tap_summary
