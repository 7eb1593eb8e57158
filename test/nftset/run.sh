#!/bin/bash
# run.sh: nftset against a real nf_tables, in a private network namespace.
# Usage: run.sh [path/to/test_nftset]   (root; touches no other namespace)
set -u

bin=${1:-$(dirname "$0")/../../build/test/test_nftset}
ns=nftset-test-$$
fail=0

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root"
	exit 77
fi
for t in ip nft; do
	command -v $t >/dev/null || { echo "1..0 # SKIP no $t"; exit 77; }
done
[ -x "$bin" ] || { echo "not ok - no test binary $bin"; exit 1; }

ip netns add "$ns" || exit 1
trap 'ip netns del "$ns"' EXIT
in_ns() { ip netns exec "$ns" "$@"; }

check() {	# check NAME CMD...: one TAP line per check
	local name=$1
	shift
	if "$@"; then
		echo "ok - $name"
	else
		echo "not ok - $name"
		fail=1
	fi
}

# The elements of a set, one a line, sorted; nothing for an empty set.
elems() {
	in_ns nft list "${KIND:-set}" inet dimed "$1" | tr -d '\n\t' |
		sed -n 's/.*elements = {\([^}]*\)}.*/\1/p' |
		sed 's/, */\n/g' | sed 's/^ *//; s/ *$//' | grep -v '^$' | sort
}

expect() {	# expect SET ELEM...: the set holds exactly these elements
	local set=$1 got want
	shift
	got=$(elems "$set")
	want=$(printf '%s\n' "$@" | grep -v '^$' | sort)
	if [ "$got" != "$want" ]; then
		echo "# $set: want:" $want
		echo "# $set: got: " $got
		return 1
	fi
}

count_is() { [ "$(elems "$1" | wc -l)" = "$2" ]; }

has() { elems "$1" | grep -qxF "$2"; }

packets() {	# packets SET: the counter of the rule matching @SET
	in_ns nft list chain inet dimed output |
		sed -n "s/.*@$1 counter packets \([0-9]*\) .*/\1/p"
}

in_ns ip link set lo up
in_ns ip addr add 198.18.0.1/32 dev lo
in_ns ip addr add 198.18.0.2/32 dev lo
in_ns ip addr add 2001:db8::1/128 dev lo nodad
in_ns ip addr add 2001:db8::2/128 dev lo nodad

in_ns nft -f - <<'EOF' || { echo "not ok - load ruleset"; exit 1; }
table inet dimed {
	set out4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service; }
	set out6 { type ipv6_addr . ipv6_addr . inet_proto . inet_service . inet_service; }
	set addr4 { type ipv4_addr; }
	set addr6 { type ipv6_addr; }
	set many4 { type ipv4_addr; }
	set bulk4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service; }
	set bulk6 { type ipv6_addr . ipv6_addr . inet_proto . inet_service . inet_service; }
	set fill6 { type ipv6_addr . ipv6_addr . inet_proto . inet_service . inet_service; }
	map m4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service : ipv4_addr; }
	map m6 { type ipv6_addr . ipv6_addr . inet_proto . inet_service . inet_service : ipv6_addr; }
	chain output {
		type filter hook output priority 0; policy accept;
		ip saddr . ip daddr . meta l4proto . th sport . th dport @out4 counter
		ip6 saddr . ip6 daddr . meta l4proto . th sport . th dport @out6 counter
	}
}
EOF

check "key layout" "$bin" keys

check "add" in_ns "$bin" add
check "add: out4" expect out4 \
	"198.18.0.1 . 198.19.0.2 . tcp . 1234 . 5201" \
	"198.18.0.3 . 198.19.0.4 . udp . 53 . 65535" \
	"198.19.255.254 . 198.18.0.0 . tcp . 1 . 80" \
	"198.18.0.5 . 198.19.0.6 . sctp . 7 . 8"
check "add: out6" expect out6 \
	"2001:db8::1 . 2001:db8::2 . tcp . 1234 . 5201" \
	"2001:db8:ffff::1 . 2001:db8::ab . udp . 443 . 40000"
check "add: addr4" expect addr4 198.18.1.1 198.18.1.2 198.19.255.255
check "add: addr6" expect addr6 2001:db8::1:1 2001:db8:1::2

# Elements written by nft itself, which the next step deletes strictly.
in_ns nft add element inet dimed out4 '{ 198.18.5.5 . 198.19.5.5 . tcp . 1111 . 2222 }'
in_ns nft add element inet dimed out6 '{ 2001:db8::5 . 2001:db8::6 . udp . 1111 . 2222 }'
in_ns nft add element inet dimed addr4 '{ 198.18.5.5 }'
in_ns nft add element inet dimed addr6 '{ 2001:db8::5 }'

check "delete, flush" in_ns "$bin" del
check "delete: out4" expect out4 \
	"198.18.0.1 . 198.19.0.2 . tcp . 1234 . 5201" \
	"198.19.255.254 . 198.18.0.0 . tcp . 1 . 80" \
	"198.18.0.5 . 198.19.0.6 . sctp . 7 . 8"
check "delete: out6" expect out6 "2001:db8::1 . 2001:db8::2 . tcp . 1234 . 5201"
check "delete: addr4" expect addr4 198.18.1.1 198.19.255.255
check "flush, then add: addr6" expect addr6 2001:db8::99

check "errors" in_ns "$bin" errors
check "errors: failed batches left addr4 alone" expect addr4 198.18.1.1 198.19.255.255 198.18.200.3
check "errors: many4 flushed" expect many4

bulk_out=$(in_ns "$bin" bulk)
rc=$?
echo "$bulk_out"
check "bulk 2x10000, one full batch" [ $rc = 0 ]
nfill=$(echo "$bulk_out" | sed -n 's/^# fill6: \([0-9]*\) elements.*/\1/p')
check "bulk: full batch of $nfill in fill6" count_is fill6 "$nfill"
check "bulk: 10000 in bulk4" count_is bulk4 10000
check "bulk: 10000 in bulk6" count_is bulk6 10000
check "bulk: last v4" has bulk4 "198.18.39.15 . 198.19.39.15 . udp . 14999 . 5201"
check "bulk: last v6" has bulk6 "2001:db8::270f . 2001:db8:100::270f . udp . 14999 . 5201"
check "bulk flush" in_ns "$bin" bulk-del
check "bulk flush: bulk4 empty" expect bulk4
check "bulk flush: bulk6 empty" expect bulk6
check "bulk flush: fill6 empty" expect fill6

# The kernel matching packets against our elements proves the layout.
check "match: no packets yet" [ "$(packets out4)/$(packets out6)" = 0/0 ]
check "match" in_ns "$bin" match
check "match: out4 counter 2" [ "$(packets out4)" = 2 ]
check "match: out6 counter 2" [ "$(packets out6)" = 2 ]

check "map" in_ns "$bin" map
KIND=map check "map: m4" expect m4 \
	"198.18.0.1 . 198.19.0.2 . tcp . 1234 . 5201 : 198.18.9.9" \
	"198.18.0.3 . 198.19.0.4 . udp . 53 . 5353 : 198.18.7.7"
KIND=map check "map: m6" expect m6 "2001:db8::1 . 2001:db8::2 . udp . 443 . 40000 : 2001:db8:9::9"

[ $fail = 0 ] && echo "# all passed" || echo "# FAILED"
exit $fail
