# shellcheck shell=bash
# SPDX-License-Identifier: MIT
#
# lab.sh -- network-namespace lab for dime end-to-end tests (the DIME paper's
# Fig. 7 testbed). Source it from a bash test, call lab_up, use the helpers;
# lab_up registers lab_cleanup on EXIT (and INT/TERM), so every namespace and
# every process the lab started is gone however the test ends.
#
#            subnet A ("Wi-Fi")         core 198.18.0.0/24, 2001:db8::/64
#            198.18.1.0/24              +---------------------------+
#            2001:db8:1::/64            |  $LAB_NS_SW  bridge br0   |
#   +------------+ wifi0      mh0 +----+ sw0              r1 |    r2 |   ch |
#   |            |----------------| R1 |-------------------+ |       |      |
#   |    MH      |  .2        .1  +----+ .1                  |       |      |
#   | $LAB_NS_MH |                                           |       |      |
#   |            |  .2        .1  +----+ .2                  |       |      |
#   |            |----------------| R2 |---------------------+       |      |
#   +------------+ lte0       mh0 +----+ sw0                         |      |
#            subnet B ("LTE")                           sw0 +----+   |      |
#            198.18.2.0/24                         .10 ----| CH |---+      |
#            2001:db8:2::/64                                +----+          |
#                                               +---------------------------+
#
#   host  link   IPv4 (/24)      IPv6 (/64, nodad)   variable names
#   MH    wifi0  198.18.1.2      2001:db8:1::2       MH_A4  MH_A6   (dev MH_A_DEV)
#   MH    lte0   198.18.2.2      2001:db8:2::2       MH_B4  MH_B6   (dev MH_B_DEV)
#   R1    mh0    198.18.1.1      2001:db8:1::1       R1_A4  R1_A6
#   R1    sw0    198.18.0.1      2001:db8::1         R1_S4  R1_S6
#   R2    mh0    198.18.2.1      2001:db8:2::1       R2_B4  R2_B6
#   R2    sw0    198.18.0.2      2001:db8::2         R2_S4  R2_S6
#   CH    sw0    198.18.0.10     2001:db8::10        CH4    CH6
#
# Routing: R1 and R2 forward; each knows the other's MH subnet via the other
# router; CH routes subnet A via R1 and subnet B via R2 (no default route);
# MH has only a default route via the router of its current link. Start state:
# MH attached to A only (lte0 up, no address). Routers do source address
# validation on their MH-facing link (BCP 38, LAB_SAV=1): a packet that leaves
# MH on link B with a source from A is dropped, as a real access network would.
#
# Variables read (set before sourcing or before lab_up):
#   LAB_ID         suffix of namespace names (default: $$ of the sourcing shell)
#   LAB_RP_FILTER  rp_filter on MH and CH: 2 = loose (default, as systemd's
#                  sysctl defaults set it on most distributions), 1, 0
#   LAB_SAV        1 (default) source address validation on R1/R2, 0 off
#   LAB_KEEP       1: keep $LAB_DIR (results, logs) after cleanup
#   LAB_LEDGER     file to which every PID started and namespace made is
#                  appended ("pid N" / "ns NAME"), for outer leak checks
#   LAB_VERBOSE    1: echo the commands the helpers run (to stderr)
#
# Helpers (FAMILY is 4 or 6; moves always act on both families):
#   lab_up / lab_cleanup / lab_run NS CMD... / lab_mh|lab_ch|lab_r1|lab_r2 CMD...
#   lab_cur                  prints A or B (MH's current link), or "none"
#   lab_addr FAMILY [A|B]    prints MH's address on that (default: current) link
#   lab_ch_addr FAMILY       prints CH's address
#   move_soft [SECS=1]       other link up + default route, SECS later old down
#   move_hard [GAP=1]        old down, GAP seconds with nothing, new up
#   move_back                back to A (hard, no gap) from wherever MH is
#   mh_offline SECS          no address at all for SECS, then current link back
#   link_rate A|B|DEV RATE   tbf on both ends of MH's link ("off" removes)
#   lab_firewall on|off [PORT...]   stateful nft firewall on MH and CH
#   lab_conntrack on         conntrack tracking in MH and CH without filtering
#   lab_nat R1|R2 on [random] [udp-timeout SECS] [v6 firewall|nat66|open]
#                            the router becomes a home NAT: masquerade MH's
#                            subnet out of sw0 (random: port-randomising),
#                            nothing unsolicited in from the core, CH loses
#                            its route to the subnet (see the NAT section)
#   lab_nat R1|R2 off        back to a plain router
#   lab_nat_rebind R1|R2     conntrack -F on it: every NAT binding forgotten
#   lab_nat_public R1|R2 FAM the router's core address (what CH sees)
#   lab_attacker             a third host on the core: $LAB_NS_AT, AT4/AT6
#   lab_bg CMD...            run CMD in background, PID recorded for cleanup
#   lab_kill_since N         stop what was recorded after the first N PIDs
#   lab_cleanup_hook FN      lab_cleanup runs FN too (before deleting the
#                            namespaces), for what lives outside them
#   tcp_transfer FAMILY SECS [NAME]   iperf3 TCP MH -> CH
#   udp_flow FAMILY SECS [RATE] [NAME] iperf3 UDP MH -> CH
#   stream_check FAMILY BYTES [NAME] [TIMEOUT]  socat TCP, sha256 both ends
#   udp_stream FAMILY SECS [NAME]      socat UDP MH -> CH, sender ignores errors
#   lab_result NAME KEY      one value of a helper's result file
#   scenario_hard_move FAMILY tcp|udp|udp-iperf [GAP] [SECS] [AT]
#   scenario_soft_move FAMILY tcp|udp|udp-iperf [OVERLAP] [SECS] [AT]
#                            flow + move, one "scenario=... survived=yes|no" line
# Each traffic helper writes $LAB_DIR/NAME.res (key=value lines), prints the
# same keys on one line to stdout, and returns 0 (survived=yes) or 1.

# ---------------------------------------------------------------- plan ---
LAB_ID=${LAB_ID:-$$}
LAB_NS_MH="dime-mh-$LAB_ID"
LAB_NS_CH="dime-ch-$LAB_ID"
LAB_NS_R1="dime-r1-$LAB_ID"
LAB_NS_R2="dime-r2-$LAB_ID"
LAB_NS_SW="dime-sw-$LAB_ID"
LAB_NSES="$LAB_NS_MH $LAB_NS_CH $LAB_NS_R1 $LAB_NS_R2 $LAB_NS_SW"

MH_A_DEV=wifi0 MH_B_DEV=lte0 R_MH_DEV=mh0 SW_DEV=sw0 SW_BR=br0

SUBNET_A4=198.18.1.0/24 SUBNET_B4=198.18.2.0/24 SUBNET_S4=198.18.0.0/24
SUBNET_A6=2001:db8:1::/64 SUBNET_B6=2001:db8:2::/64 SUBNET_S6=2001:db8::/64
PLEN4=24 PLEN6=64
MH_A4=198.18.1.2 R1_A4=198.18.1.1 MH_B4=198.18.2.2 R2_B4=198.18.2.1
R1_S4=198.18.0.1 R2_S4=198.18.0.2 CH4=198.18.0.10
MH_A6=2001:db8:1::2 R1_A6=2001:db8:1::1 MH_B6=2001:db8:2::2 R2_B6=2001:db8:2::1
R1_S6=2001:db8::1 R2_S6=2001:db8::2 CH6=2001:db8::10
# The attacker (lab_attacker): a third host on the core, made on request only.
LAB_NS_AT="dime-at-$LAB_ID"
AT4=198.18.0.66 AT6=2001:db8::66

LAB_RP_FILTER=${LAB_RP_FILTER:-2}
LAB_SAV=${LAB_SAV:-1}
LAB_PORT_BASE=${LAB_PORT_BASE:-5201}	# test ports: LAB_PORT_BASE .. +98
LAB_DIR=${LAB_DIR:-}
# The system interpreter starts in 30 ms; a pyenv shim takes ten times that.
if [[ -z ${LAB_PYTHON:-} ]]; then
	LAB_PYTHON=python3
	[[ -x /usr/bin/python3 ]] && LAB_PYTHON=/usr/bin/python3
fi

export LAB_ID LAB_NS_MH LAB_NS_CH LAB_NS_R1 LAB_NS_R2 LAB_NS_SW LAB_NSES
export MH_A_DEV MH_B_DEV R_MH_DEV SW_DEV SW_BR PLEN4 PLEN6
export SUBNET_A4 SUBNET_B4 SUBNET_S4 SUBNET_A6 SUBNET_B6 SUBNET_S6
export MH_A4 R1_A4 MH_B4 R2_B4 R1_S4 R2_S4 CH4
export MH_A6 R1_A6 MH_B6 R2_B6 R1_S6 R2_S6 CH6
export LAB_RP_FILTER LAB_SAV LAB_PORT_BASE
export LAB_NS_AT AT4 AT6

# ------------------------------------------------------------- basics ---
lab_log() { echo "[lab] $*" >&2; }
lab_die() { echo "[lab] error: $*" >&2; exit 1; }
lab_v() { [[ ${LAB_VERBOSE:-0} != 1 ]] || echo "[lab] + $*" >&2; "$@"; }

lab_run() { local ns=$1; shift; lab_v ip netns exec "$ns" "$@"; }
lab_mh() { lab_run "$LAB_NS_MH" "$@"; }
lab_ch() { lab_run "$LAB_NS_CH" "$@"; }
lab_r1() { lab_run "$LAB_NS_R1" "$@"; }
lab_r2() { lab_run "$LAB_NS_R2" "$@"; }
lab_sw() { lab_run "$LAB_NS_SW" "$@"; }
lab_ip() { local ns=$1; shift; lab_v ip -n "$ns" "$@"; }

lab_ledger() { [[ -z ${LAB_LEDGER:-} ]] || echo "$*" >>"$LAB_LEDGER"; }

# Record a PID for lab_cleanup (and the outer ledger).
lab_track() {
	echo "$1" >>"$LAB_DIR/pids"
	lab_ledger "pid $1"
}

# lab_bg CMD... : run CMD in the background, recorded for cleanup. PID in LAB_BG_PID.
lab_bg() {
	"$@" &
	LAB_BG_PID=$!
	lab_track "$LAB_BG_PID"
}

# lab_wait PID : wait for it (interruptible by signals); returns its status.
lab_wait() { local rc=0; wait "$1" || rc=$?; return "$rc"; }

# lab_port : a fresh test port (allowed by lab_firewall).
lab_port() {
	local p
	{
		flock 9
		p=$(cat "$LAB_DIR/port" 2>/dev/null || echo "$LAB_PORT_BASE")
		echo $((p + 1)) >"$LAB_DIR/port"
	} 9>"$LAB_DIR/port.lock"
	((p < LAB_PORT_BASE + 99)) || lab_die "out of test ports"
	echo "$p"
}

# ---------------------------------------------------------- topology ---
lab_sysctl() { local ns=$1; shift; local kv; for kv; do ip netns exec "$ns" sysctl -qw "$kv" >/dev/null; done; }

lab_up() {
	local ns
	[[ $(id -u) == 0 ]] || lab_die "needs root (network namespaces)"
	[[ -n $LAB_DIR ]] || LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dime-lab-$LAB_ID.XXXXXX")
	export LAB_DIR
	: >"$LAB_DIR/pids"
	trap lab_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP

	for ns in $LAB_NSES; do
		ip netns add "$ns"
		lab_ledger "ns $ns"
		ip -n "$ns" link set lo up
		# Before any link exists, so new links inherit it: no DAD, no RA/SLAAC.
		lab_sysctl "$ns" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
			net.ipv6.conf.default.autoconf=0
	done

	# Links are created straight inside the namespaces: no names in the root ns.
	ip -n "$LAB_NS_MH" link add "$MH_A_DEV" type veth peer name "$R_MH_DEV" netns "$LAB_NS_R1"
	ip -n "$LAB_NS_MH" link add "$MH_B_DEV" type veth peer name "$R_MH_DEV" netns "$LAB_NS_R2"
	ip -n "$LAB_NS_SW" link add "$SW_BR" type bridge
	for ns in r1:"$LAB_NS_R1" r2:"$LAB_NS_R2" ch:"$LAB_NS_CH"; do
		ip -n "$LAB_NS_SW" link add "${ns%%:*}" type veth peer name "$SW_DEV" netns "${ns#*:}"
		ip -n "$LAB_NS_SW" link set "${ns%%:*}" master "$SW_BR" up
	done
	ip -n "$LAB_NS_SW" link set "$SW_BR" up

	for ns in "$LAB_NS_R1" "$LAB_NS_R2"; do
		lab_sysctl "$ns" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
		ip -n "$ns" link set "$R_MH_DEV" up
		ip -n "$ns" link set "$SW_DEV" up
	done
	for ns in "$LAB_NS_MH" "$LAB_NS_CH"; do
		lab_sysctl "$ns" net.ipv4.conf.all.rp_filter="$LAB_RP_FILTER" \
			net.ipv4.conf.default.rp_filter="$LAB_RP_FILTER"
		# Not every kernel has it per namespace before conntrack is in use.
		ip netns exec "$ns" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 >/dev/null 2>&1 || true
	done
	lab_sysctl "$LAB_NS_MH" "net.ipv4.conf.$MH_A_DEV.rp_filter=$LAB_RP_FILTER" \
		"net.ipv4.conf.$MH_B_DEV.rp_filter=$LAB_RP_FILTER"
	lab_sysctl "$LAB_NS_CH" "net.ipv4.conf.$SW_DEV.rp_filter=$LAB_RP_FILTER"

	# R1
	ip -n "$LAB_NS_R1" addr add "$R1_A4/$PLEN4" dev "$R_MH_DEV"
	ip -n "$LAB_NS_R1" addr add "$R1_A6/$PLEN6" dev "$R_MH_DEV" nodad
	ip -n "$LAB_NS_R1" addr add "$R1_S4/$PLEN4" dev "$SW_DEV"
	ip -n "$LAB_NS_R1" addr add "$R1_S6/$PLEN6" dev "$SW_DEV" nodad
	ip -n "$LAB_NS_R1" route add "$SUBNET_B4" via "$R2_S4"
	ip -n "$LAB_NS_R1" -6 route add "$SUBNET_B6" via "$R2_S6"
	# R2
	ip -n "$LAB_NS_R2" addr add "$R2_B4/$PLEN4" dev "$R_MH_DEV"
	ip -n "$LAB_NS_R2" addr add "$R2_B6/$PLEN6" dev "$R_MH_DEV" nodad
	ip -n "$LAB_NS_R2" addr add "$R2_S4/$PLEN4" dev "$SW_DEV"
	ip -n "$LAB_NS_R2" addr add "$R2_S6/$PLEN6" dev "$SW_DEV" nodad
	ip -n "$LAB_NS_R2" route add "$SUBNET_A4" via "$R1_S4"
	ip -n "$LAB_NS_R2" -6 route add "$SUBNET_A6" via "$R1_S6"
	# CH
	ip -n "$LAB_NS_CH" link set "$SW_DEV" up
	ip -n "$LAB_NS_CH" addr add "$CH4/$PLEN4" dev "$SW_DEV"
	ip -n "$LAB_NS_CH" addr add "$CH6/$PLEN6" dev "$SW_DEV" nodad
	ip -n "$LAB_NS_CH" route add "$SUBNET_A4" via "$R1_S4"
	ip -n "$LAB_NS_CH" route add "$SUBNET_B4" via "$R2_S4"
	ip -n "$LAB_NS_CH" -6 route add "$SUBNET_A6" via "$R1_S6"
	ip -n "$LAB_NS_CH" -6 route add "$SUBNET_B6" via "$R2_S6"

	[[ $LAB_SAV != 1 ]] || {
		lab_sav "$LAB_NS_R1" "$SUBNET_A4" "$SUBNET_A6"
		lab_sav "$LAB_NS_R2" "$SUBNET_B4" "$SUBNET_B6"
	}

	# MH: both links up, attached to A.
	ip -n "$LAB_NS_MH" link set "$MH_A_DEV" up
	ip -n "$LAB_NS_MH" link set "$MH_B_DEV" up
	lab_attach A
	echo A >"$LAB_DIR/cur"
}

# lab_sav NS SUBNET4 SUBNET6 : forward from MH's link only with a source in its subnet.
lab_sav() {
	ip netns exec "$1" nft -f - <<-EOF
		table inet labsav {
			chain forward {
				type filter hook forward priority -10; policy accept;
				iifname "$R_MH_DEV" meta nfproto ipv4 ip saddr != $2 counter drop
				iifname "$R_MH_DEV" meta nfproto ipv6 ip6 saddr != $3 counter drop
			}
		}
	EOF
}

lab_cleanup() {
	local rc=$? ns pid pids='' i h
	set +e
	trap - EXIT INT TERM HUP
	if [[ -n $LAB_DIR && -f $LAB_DIR/pids ]]; then
		# Everything we started, children first found through their parents.
		while read -r pid; do pids+=" $pid $(lab_descendants "$pid")"; done <"$LAB_DIR/pids"
	fi
	# Anything still running inside our own namespaces was started by this run.
	for ns in $LAB_NSES; do pids+=" $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"; done
	for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
	for i in 1 2 3 4 5 6 7 8 9 10; do
		for pid in $pids; do lab_alive "$pid" && break; pid=''; done
		[[ -n $pid ]] || break
		sleep 0.1
	done
	for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
	# Reap our own children, or they stay zombies under an init that may not.
	if [[ -n $LAB_DIR && -f $LAB_DIR/pids ]]; then
		while read -r pid; do wait "$pid" 2>/dev/null; done <"$LAB_DIR/pids"
	fi
	for h in ${LAB_CLEANUP_HOOKS:-}; do "$h"; done
	for ns in $LAB_NSES; do ip netns del "$ns" 2>/dev/null; done
	if [[ -n $LAB_DIR && ${LAB_KEEP:-0} != 1 ]]; then
		rm -rf "$LAB_DIR"
	elif [[ -n $LAB_DIR ]]; then
		lab_log "kept $LAB_DIR"
	fi
	exit "$rc"
}

# lab_cleanup_hook FUNCTION : lab_cleanup calls it (once) after the processes
# are gone and before the namespaces are, for what a helper made outside
# $LAB_DIR and the namespaces (dns.sh's /etc/netns files).
lab_cleanup_hook() { [[ " ${LAB_CLEANUP_HOOKS:-} " == *" $1 "* ]] || LAB_CLEANUP_HOOKS+=" $1"; }

# lab_alive PID : running (a zombie waiting for its reaper does not count).
lab_alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z ]]
}

lab_descendants() {
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do echo "$c"; lab_descendants "$c"; done
}

# lab_kill_since N : SIGTERM to every process recorded after the first N
# lines of $LAB_DIR/pids (and to their descendants), then reap them: what
# one test case started, leaving the lab itself running.
lab_kill_since() {
	local pid pids p
	pids=$(tail -n +"$(($1 + 1))" "$LAB_DIR/pids")
	for pid in $pids; do
		lab_alive "$pid" || continue
		for p in $(lab_descendants "$pid") "$pid"; do kill -TERM "$p" 2>/dev/null || true; done
	done
	for pid in $pids; do wait "$pid" 2>/dev/null || true; done
}

# -------------------------------------------------------------- moves ---
lab_cur() { cat "$LAB_DIR/cur"; }

# lab_addr FAMILY [A|B] : MH's address on that link (default: the current one).
lab_addr() {
	local l=${2:-$(lab_cur)}
	case "$1$l" in
	4A) echo "$MH_A4" ;; 4B) echo "$MH_B4" ;; 6A) echo "$MH_A6" ;; 6B) echo "$MH_B6" ;;
	*) lab_die "lab_addr: no address for family '$1' link '$l'" ;;
	esac
}
lab_ch_addr() { case "$1" in 4) echo "$CH4" ;; 6) echo "$CH6" ;; *) lab_die "family '$1'" ;; esac; }
lab_bracket() { case "$1" in *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }

# lab_attach A|B : add MH's addresses on that link and make it the default route.
lab_attach() {
	local dev gw4 gw6
	case "$1" in
	A) dev=$MH_A_DEV gw4=$R1_A4 gw6=$R1_A6 ;;
	B) dev=$MH_B_DEV gw4=$R2_B4 gw6=$R2_B6 ;;
	*) lab_die "lab_attach: link '$1'" ;;
	esac
	lab_ip "$LAB_NS_MH" addr replace "$(lab_addr 4 "$1")/$PLEN4" dev "$dev"
	lab_ip "$LAB_NS_MH" addr replace "$(lab_addr 6 "$1")/$PLEN6" dev "$dev" nodad
	lab_ip "$LAB_NS_MH" route replace default via "$gw4" dev "$dev"
	lab_ip "$LAB_NS_MH" -6 route replace default via "$gw6" dev "$dev"
}

# lab_detach A|B : remove MH's addresses on that link (and a default route through it).
lab_detach() {
	local dev
	case "$1" in A) dev=$MH_A_DEV ;; B) dev=$MH_B_DEV ;; *) lab_die "lab_detach: link '$1'" ;; esac
	ip -n "$LAB_NS_MH" route del default dev "$dev" 2>/dev/null || true
	ip -n "$LAB_NS_MH" -6 route del default dev "$dev" 2>/dev/null || true
	lab_ip "$LAB_NS_MH" addr del "$(lab_addr 4 "$1")/$PLEN4" dev "$dev" 2>/dev/null || true
	lab_ip "$LAB_NS_MH" addr del "$(lab_addr 6 "$1")/$PLEN6" dev "$dev" 2>/dev/null || true
}

lab_other() { case "$1" in A) echo B ;; *) echo A ;; esac; }
lab_stamp() { echo "$1 $(date +%s.%N)" >>"$LAB_DIR/events"; }

# move_soft [SECS] : new link's addresses + default route up, SECS later old addresses gone.
move_soft() {
	local from to
	from=$(lab_cur) to=$(lab_other "$from")
	lab_stamp "soft_up $to"
	lab_attach "$to"
	echo "$to" >"$LAB_DIR/cur"
	sleep "${1:-1}"
	lab_detach "$from"
	lab_stamp "soft_down $from"
}

# move_hard [GAP] : old addresses + route gone, GAP seconds with none, new ones up.
move_hard() {
	local from to
	from=$(lab_cur) to=$(lab_other "$from")
	lab_stamp "hard_down $from"
	lab_detach "$from"
	echo none >"$LAB_DIR/cur"
	sleep "${1:-1}"
	lab_attach "$to"
	echo "$to" >"$LAB_DIR/cur"
	lab_stamp "hard_up $to"
}

# lab_renumber_a OLD4 OLD6 NEW4 NEW6 : a hard handoff on link A without
# leaving it: the old addresses go, the new ones come, the default routes again.
lab_renumber_a() {
	lab_mh ip addr del "$1/$PLEN4" dev "$MH_A_DEV"
	lab_mh ip addr del "$2/$PLEN6" dev "$MH_A_DEV"
	lab_mh ip addr add "$3/$PLEN4" dev "$MH_A_DEV"
	lab_mh ip addr add "$4/$PLEN6" dev "$MH_A_DEV" nodad
	lab_mh ip route replace default via "$R1_A4" dev "$MH_A_DEV"
	lab_mh ip -6 route replace default via "$R1_A6" dev "$MH_A_DEV"
}

# move_back : MH on A only again (from B, or from an offline state).
move_back() {
	lab_detach B
	lab_attach A
	echo A >"$LAB_DIR/cur"
	lab_stamp "back A"
}

# mh_offline SECS : no address at all for SECS, then the current link's back.
mh_offline() {
	local cur
	cur=$(lab_cur)
	[[ $cur != none ]] || lab_die "mh_offline: MH is already offline"
	lab_stamp "offline $cur"
	lab_detach A
	lab_detach B
	echo none >"$LAB_DIR/cur"
	sleep "$1"
	lab_attach "$cur"
	echo "$cur" >"$LAB_DIR/cur"
	lab_stamp "online $cur"
}

# link_rate A|B|wifi0|lte0 RATE|off : tbf both ways on that MH link (RATE as tc: 20mbit).
link_rate() {
	local dev ns bps burst
	case "$1" in
	A | "$MH_A_DEV") dev=$MH_A_DEV ns=$LAB_NS_R1 ;;
	B | "$MH_B_DEV") dev=$MH_B_DEV ns=$LAB_NS_R2 ;;
	*) lab_die "link_rate: unknown link '$1'" ;;
	esac
	if [[ $2 == off ]]; then
		tc -n "$LAB_NS_MH" qdisc del dev "$dev" root 2>/dev/null || true
		tc -n "$ns" qdisc del dev "$R_MH_DEV" root 2>/dev/null || true
		return 0
	fi
	bps=$(lab_rate_bps "$2")
	# ~5 ms of data per burst, at least a few full-size packets.
	burst=$((bps / 8 / 200))
	((burst >= 16384)) || burst=16384
	lab_v tc -n "$LAB_NS_MH" qdisc replace dev "$dev" root tbf rate "$2" burst "$burst" latency 50ms
	lab_v tc -n "$ns" qdisc replace dev "$R_MH_DEV" root tbf rate "$2" burst "$burst" latency 50ms
}

lab_rate_bps() {
	local n u
	[[ $1 =~ ^([0-9]+)([kmgKMG]?)(bit)?$ ]] || lab_die "rate '$1': use e.g. 500kbit, 20mbit, 1gbit"
	n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2],,}
	case "$u" in k) n=$((n * 1000)) ;; m) n=$((n * 1000000)) ;; g) n=$((n * 1000000000)) ;; esac
	echo "$n"
}

# ----------------------------------------------------------- netfilter ---
# lab_firewall on|off [PORT...] : stateful firewall on MH and CH (table inet labfw).
# New connections are allowed only to the lab's test ports and the PORTs given
# (e.g. dimed's IHMP port); ICMP(v6) is allowed so ND and PMTU work.
lab_firewall() {
	local ns ports extra=''
	ports="$LAB_PORT_BASE-$((LAB_PORT_BASE + 98))"
	shift_ports() { shift; for p; do extra+=", $p"; done; }
	shift_ports "$@"
	for ns in "$LAB_NS_MH" "$LAB_NS_CH"; do
		ip netns exec "$ns" nft delete table inet labfw 2>/dev/null || true
		[[ $1 == on ]] || continue
		ip netns exec "$ns" nft -f - <<-EOF
			table inet labfw {
				chain input {
					type filter hook input priority 0; policy drop;
					ct state established,related counter accept
					ct state invalid counter drop
					iif lo accept
					meta l4proto { icmp, ipv6-icmp } accept
					tcp dport { $ports$extra } counter accept
					udp dport { $ports$extra } counter accept
					counter drop
				}
			}
		EOF
		ip netns exec "$ns" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 >/dev/null 2>&1 || true
	done
	unset -f shift_ports
}

# lab_conntrack on|off : conntrack active in MH and CH without any filtering.
lab_conntrack() {
	local ns
	for ns in "$LAB_NS_MH" "$LAB_NS_CH"; do
		ip netns exec "$ns" nft delete table inet labct 2>/dev/null || true
		[[ $1 == on ]] || continue
		ip netns exec "$ns" nft -f - <<-EOF
			table inet labct {
				chain pre { type filter hook prerouting priority 0; ct state new counter; }
				chain out { type filter hook output priority 0; ct state new counter; }
			}
		EOF
		ip netns exec "$ns" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 >/dev/null 2>&1 || true
	done
}

# ---------------------------------------------------------------- NAT ---
# lab_nat R1|R2 on [random] [udp-timeout SECS] [v6 firewall|nat66|open]
# lab_nat R1|R2 off
#
# On: the router behaves like a home router (table inet labnat in its
# namespace):
#   - IPv4: everything from MH's subnet that leaves on its core link (sw0) is
#     masqueraded to the router's core address (R1_S4 / R2_S4), keeping the
#     source port where it can (Linux's default) or, with "random", choosing a
#     random one (nft "masquerade random");
#   - its forward chain lets in from the core only what belongs to a
#     connection MH opened (ct state established,related): nothing
#     unsolicited reaches MH's subnet;
#   - CH loses its route to MH's subnet: the only way in is through the
#     NAT's public address;
#   - IPv6, "v6 MODE": firewall (default: no translation, the same
#     established/related-only forward chain, CH keeps its route, as home
#     routers do), nat66 (masquerade to R1_S6 / R2_S6 as well, CH loses its
#     IPv6 route: the NPTv6-like case), open (IPv6 forwarded untouched);
#   - "udp-timeout SECS": nf_conntrack_udp_timeout and _stream in its
#     namespace (a NAT that forgets idle UDP bindings early), restored by off.
# On and off flush the router's conntrack table: a binding made before the
# change would keep its old (non-)translation.
lab_nat() {
	local r=${1:-} what=${2:-} ns sub4 sub6 pub4 pub6 random='' uto='' v6=firewall f
	case "$r" in
	R1 | r1) r=R1 ns=$LAB_NS_R1 sub4=$SUBNET_A4 sub6=$SUBNET_A6 pub4=$R1_S4 pub6=$R1_S6 ;;
	R2 | r2) r=R2 ns=$LAB_NS_R2 sub4=$SUBNET_B4 sub6=$SUBNET_B6 pub4=$R2_S4 pub6=$R2_S6 ;;
	*) lab_die "lab_nat: router '$r' (R1 or R2)" ;;
	esac
	shift 2 || lab_die "lab_nat R1|R2 on|off [random] [udp-timeout SECS] [v6 firewall|nat66|open]"
	while (($#)); do
		case "$1" in
		random) random=' random' ;;
		udp-timeout)
			[[ ${2:-} =~ ^[0-9]+$ ]] || lab_die "lab_nat: udp-timeout '${2:-}' (seconds)"
			uto=$2
			shift
			;;
		v6)
			[[ ${2:-} =~ ^(firewall|nat66|open)$ ]] || lab_die "lab_nat: v6 '${2:-}' (firewall, nat66 or open)"
			v6=$2
			shift
			;;
		*) lab_die "lab_nat: option '$1'" ;;
		esac
		shift
	done
	ip netns exec "$ns" nft delete table inet labnat 2>/dev/null || true
	f=$LAB_DIR/nat.$r.udp-timeout
	if [[ -f $f ]]; then	# what it was before lab_nat changed it
		local saved
		read -r -a saved <"$f"
		lab_sysctl "$ns" "${saved[@]}"
		rm -f "$f"
	fi
	case "$what" in
	on)
		local fw6='' nat6=''
		case "$v6" in
		firewall) ;;
		nat66) nat6="oifname \"$SW_DEV\" ip6 saddr $sub6 counter masquerade$random" ;;
		open) fw6='meta nfproto ipv4' ;;
		esac
		ip netns exec "$ns" nft -f - <<-EOF
			table inet labnat {
				chain postrouting {
					type nat hook postrouting priority srcnat; policy accept;
					oifname "$SW_DEV" ip saddr $sub4 counter masquerade$random
					$nat6
				}
				chain forward {
					type filter hook forward priority filter; policy accept;
					ct state established,related counter accept
					iifname "$SW_DEV" $fw6 counter drop comment "unsolicited"
				}
			}
		EOF
		lab_ip "$LAB_NS_CH" route del "$sub4" 2>/dev/null || true
		if [[ $v6 == nat66 ]]; then
			lab_ip "$LAB_NS_CH" -6 route del "$sub6" 2>/dev/null || true
		else
			lab_ip "$LAB_NS_CH" -6 route replace "$sub6" via "$pub6"
		fi
		if [[ -n $uto ]]; then
			echo "net.netfilter.nf_conntrack_udp_timeout=$(ip netns exec "$ns" sysctl -n net.netfilter.nf_conntrack_udp_timeout)" \
				"net.netfilter.nf_conntrack_udp_timeout_stream=$(ip netns exec "$ns" sysctl -n net.netfilter.nf_conntrack_udp_timeout_stream)" >"$f"
			lab_sysctl "$ns" "net.netfilter.nf_conntrack_udp_timeout=$uto" \
				"net.netfilter.nf_conntrack_udp_timeout_stream=$uto"
		fi
		echo "on${random} v6=$v6${uto:+ udp-timeout=$uto}" >"$LAB_DIR/nat.$r"
		;;
	off)
		lab_ip "$LAB_NS_CH" route replace "$sub4" via "$pub4"
		lab_ip "$LAB_NS_CH" -6 route replace "$sub6" via "$pub6"
		rm -f "$LAB_DIR/nat.$r"
		;;
	*) lab_die "lab_nat: '$what' (on or off)" ;;
	esac
	lab_nat_flush "$ns"
}

lab_nat_flush() {
	ip netns exec "$1" conntrack -F >/dev/null 2>&1 || true
	ip netns exec "$1" conntrack -F -f ipv6 >/dev/null 2>&1 || true
}

# lab_nat_rebind R1|R2 : the NAT forgets every binding (conntrack -F), as
# after a reboot or an idle timeout; the next packet out gets a new one (a
# new public port, when it randomises). Stamped "nat_rebind R1|R2" in events.
lab_nat_rebind() {
	case "$1" in
	R1 | r1) lab_nat_flush "$LAB_NS_R1" ;;
	R2 | r2) lab_nat_flush "$LAB_NS_R2" ;;
	*) lab_die "lab_nat_rebind: router '$1'" ;;
	esac
	lab_stamp "nat_rebind ${1^^}"
}

# lab_nat_public R1|R2 FAMILY : the router's core address, MH's public one behind it.
lab_nat_public() {
	case "${1^^}$2" in
	R14) echo "$R1_S4" ;; R16) echo "$R1_S6" ;; R24) echo "$R2_S4" ;; R26) echo "$R2_S6" ;;
	*) lab_die "lab_nat_public: '$1' '$2'" ;;
	esac
}

# lab_attacker : a third host on the core bridge ($LAB_NS_AT, AT4/AT6, dev
# sw0), with routes to MH's subnets through R1 and R2 (so it can try to reach
# MH past a NAT). Call it from the shell that ran lab_up: its namespace joins
# LAB_NSES, and so lab_cleanup.
lab_attacker() {
	ip netns add "$LAB_NS_AT"
	lab_ledger "ns $LAB_NS_AT"
	LAB_NSES+=" $LAB_NS_AT"
	ip -n "$LAB_NS_AT" link set lo up
	lab_sysctl "$LAB_NS_AT" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.default.autoconf=0
	ip -n "$LAB_NS_SW" link add at type veth peer name "$SW_DEV" netns "$LAB_NS_AT"
	ip -n "$LAB_NS_SW" link set at master "$SW_BR" up
	ip -n "$LAB_NS_AT" link set "$SW_DEV" up
	ip -n "$LAB_NS_AT" addr add "$AT4/$PLEN4" dev "$SW_DEV"
	ip -n "$LAB_NS_AT" addr add "$AT6/$PLEN6" dev "$SW_DEV" nodad
	ip -n "$LAB_NS_AT" route add "$SUBNET_A4" via "$R1_S4"
	ip -n "$LAB_NS_AT" route add "$SUBNET_B4" via "$R2_S4"
	ip -n "$LAB_NS_AT" -6 route add "$SUBNET_A6" via "$R1_S6"
	ip -n "$LAB_NS_AT" -6 route add "$SUBNET_B6" via "$R2_S6"
}
lab_at() { lab_run "$LAB_NS_AT" "$@"; }

# ------------------------------------------------------------ traffic ---
# lab_wait_listen NS PROTO PORT [SECS=3] : until something listens there.
lab_wait_listen() {
	local i opt=-Hltn
	[[ $2 == udp ]] && opt=-Hlun
	for ((i = 0; i < ${4:-3} * 20; i++)); do
		[[ -n $(ip netns exec "$1" ss "$opt" "sport = :$3" 2>/dev/null) ]] && return 0
		sleep 0.05
	done
	lab_log "nothing listens on $2 port $3 in $1 after ${4:-3} s"
	return 1
}

lab_name() { local n=${1:-$2-$(lab_port)}; echo "$n"; }

# lab_iperf FAMILY SECS NAME PROTO [RATE] : one iperf3 run MH -> CH, results in NAME.res
# The client gives up after LAB_SND_TIMEOUT_MS of unacknowledged TCP data (and
# after SECS+12 s in any case). The server is not given --rcv-timeout (iperf3
# 3.12 crashes on it); once the client is done it has LAB_GRACE s to finish its
# report, then gets SIGTERM, on which iperf3 still writes its JSON.
# LAB_IPERF_REVERSE=1: the data goes CH -> MH (iperf3 -R).
lab_iperf() {
	local fam=$1 secs=$2 name=$3 proto=$4 rate=${5:-} port src dst spid cpid crc=0 src_rc=0 i
	local d=$LAB_DIR args=()
	port=$(lab_port)
	src=$(lab_addr "$fam") dst=$(lab_ch_addr "$fam")
	[[ $proto == udp ]] && args=(-u -b "${rate:-10M}" -l 1200)
	[[ ${LAB_IPERF_REVERSE:-0} == 1 ]] && args+=(-R)	# CH sends
	lab_bg ip netns exec "$LAB_NS_CH" timeout -k 2 $((secs + 20)) \
		iperf3 -s -1 -B "$dst" -p "$port" -i 0.5 -J --logfile "$d/$name.server.json"
	spid=$LAB_BG_PID
	lab_wait_listen "$LAB_NS_CH" tcp "$port" || { kill "$spid" 2>/dev/null; return 1; }
	date +%s.%N >"$d/$name.t0"
	lab_bg ip netns exec "$LAB_NS_MH" timeout -k 2 $((secs + 12)) \
		iperf3 -c "$dst" -B "$src" -p "$port" -t "$secs" -i 0.5 -J "${args[@]}" \
		--connect-timeout 3000 --snd-timeout "${LAB_SND_TIMEOUT_MS:-4000}" \
		--logfile "$d/$name.client.json"
	cpid=$LAB_BG_PID
	lab_wait "$cpid" || crc=$?
	for ((i = 0; i < ${LAB_GRACE:-2} * 20; i++)); do
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.05
	done
	kill -TERM "$spid" 2>/dev/null || true
	lab_wait "$spid" || src_rc=$?
	"$LAB_PYTHON" "$LAB_HERE/iperf_res.py" "$d/$name.client.json" "$d/$name.server.json" \
		"proto=$proto" "family=$fam" "src=$src" "dst=$dst" "port=$port" \
		"client_rc=$crc" "server_rc=$src_rc" "t0=$(cat "$d/$name.t0")" "reverse=${LAB_IPERF_REVERSE:-0}" >"$d/$name.res"
	lab_res_out "$name"
}

lab_res_out() {
	tr '\n' ' ' <"$LAB_DIR/$1.res" | sed 's/ $//'
	echo
	[[ $(lab_result "$1" survived) == yes ]]
}

# lab_result NAME KEY : one value from NAME.res
lab_result() { sed -n "s/^$2=//p" "$LAB_DIR/$1.res" | head -n1; }

tcp_transfer() { lab_iperf "$1" "$2" "$(lab_name "${3:-}" tcp)" tcp; }
udp_flow() { lab_iperf "$1" "$2" "$(lab_name "${4:-}" udp)" udp "${3:-10M}"; }

# stream_check FAMILY BYTES [NAME] [TIMEOUT=20] : BYTES of random data MH -> CH
# through socat; sha256 on both ends. The receiver gives up after
# LAB_STREAM_IDLE (default 5) s without data.
stream_check() {
	local fam=$1 bytes=$2 name to=${4:-20} port src dst rpid spid rrc=0 src_rc=0 d=$LAB_DIR
	local sha_tx sha_rx got match survived=no
	name=$(lab_name "${3:-}" stream)
	port=$(lab_port)
	src=$(lab_addr "$fam") dst=$(lab_ch_addr "$fam")
	head -c "$bytes" /dev/urandom >"$d/$name.tx"
	sha_tx=$(sha256sum <"$d/$name.tx" | cut -d' ' -f1)
	lab_bg ip netns exec "$LAB_NS_CH" timeout -k 2 "$to" \
		socat -u -T "${LAB_STREAM_IDLE:-5}" "TCP$fam-LISTEN:$port,bind=$(lab_bracket "$dst"),reuseaddr" "CREATE:$d/$name.rx"
	rpid=$LAB_BG_PID
	lab_wait_listen "$LAB_NS_CH" tcp "$port" || { kill "$rpid" 2>/dev/null; return 1; }
	date +%s.%N >"$d/$name.t0"
	lab_bg ip netns exec "$LAB_NS_MH" timeout -k 2 "$to" \
		socat -u "OPEN:$d/$name.tx,rdonly" \
		"TCP$fam:$(lab_bracket "$dst"):$port,bind=$(lab_bracket "$src"),connect-timeout=3"
	spid=$LAB_BG_PID
	lab_wait "$spid" || src_rc=$?
	lab_wait "$rpid" || rrc=$?
	got=$(stat -c %s "$d/$name.rx" 2>/dev/null || echo 0)
	sha_rx=$(sha256sum <"$d/$name.rx" 2>/dev/null | cut -d' ' -f1)
	match=no
	[[ $sha_tx == "$sha_rx" ]] && match=yes
	[[ $match == yes && $src_rc == 0 && $rrc == 0 ]] && survived=yes
	rm -f "$d/$name.tx" "$d/$name.rx"
	cat >"$d/$name.res" <<-EOF
		proto=stream
		family=$fam
		src=$src
		dst=$dst
		port=$port
		sender_rc=$src_rc
		receiver_rc=$rrc
		bytes_sent=$bytes
		bytes_recv=$got
		sha_match=$match
		survived=$survived
	EOF
	lab_res_out "$name"
}

# udp_stream FAMILY SECS [NAME] : UDP MH -> CH for SECS, 1200-byte datagrams
# every 5 ms from a connected socket bound to MH's address; socat receives on
# CH. Unlike iperf3 -u (and socat), the sender keeps going after send errors,
# as a media app would, so the flow can outlive a hard handoff's gap, during
# which every send fails with ENETUNREACH. The receiver's byte count is
# sampled every 0.2 s (NAME.samples: "seconds-after-t0 bytes").
udp_stream() {
	local fam=$1 secs=$2 name port src dst rpid spid src_rc=0 rrc=0 d=$LAB_DIR t0 i
	name=$(lab_name "${3:-}" udps)
	port=$(lab_port)
	src=$(lab_addr "$fam") dst=$(lab_ch_addr "$fam")
	lab_bg ip netns exec "$LAB_NS_CH" timeout -k 2 $((secs + 10)) \
		socat -u -b 2048 "UDP$fam-RECV:$port,bind=$(lab_bracket "$dst")" "CREATE:$d/$name.rx"
	rpid=$LAB_BG_PID
	lab_wait_listen "$LAB_NS_CH" udp "$port" || { kill "$rpid" 2>/dev/null; return 1; }
	t0=$(date +%s.%N)
	echo "$t0" >"$d/$name.t0"
	lab_bg ip netns exec "$LAB_NS_MH" timeout -k 2 $((secs + 5)) "$LAB_PYTHON" -c '
import socket, sys, time
fam, src, dst, port, secs, out = sys.argv[1:]
s = socket.socket(socket.AF_INET if fam == "4" else socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((src, 0))
s.connect((dst, int(port)))
sent = errors = 0
buf = b"x" * 1200
end = time.monotonic() + float(secs)
while time.monotonic() < end:
    try:
        sent += s.send(buf)
    except OSError:
        errors += 1
    time.sleep(0.005)
with open(out, "w") as f:
    f.write("bytes_sent=%d\nsend_errors=%d\n" % (sent, errors))
' "$fam" "$src" "$dst" "$port" "$secs" "$d/$name.sender"
	spid=$LAB_BG_PID
	: >"$d/$name.samples"
	while kill -0 "$spid" 2>/dev/null; do
		echo "$(lab_since "$t0") $(stat -c %s "$d/$name.rx" 2>/dev/null || echo 0)" >>"$d/$name.samples"
		sleep 0.2
	done
	lab_wait "$spid" || src_rc=$?
	sleep 0.3
	kill -TERM "$rpid" 2>/dev/null || true
	lab_wait "$rpid" || rrc=$?
	echo "$(lab_since "$t0") $(stat -c %s "$d/$name.rx" 2>/dev/null || echo 0)" >>"$d/$name.samples"
	rm -f "$d/$name.rx"
	"$LAB_PYTHON" - "$d" "$name" "$t0" "$src_rc" "$rrc" "$fam" "$src" "$dst" "$port" >"$d/$name.res" <<-'EOF'
		import os, sys
		d, name, t0, src_rc, rrc, fam, src, dst, port = sys.argv[1:]
		t0 = float(t0)
		samples = [tuple(map(float, l.split())) for l in open(os.path.join(d, name + ".samples")) if l.strip()]
		move_at = None
		ev = os.path.join(d, "events")
		if os.path.exists(ev):
		    for l in open(ev):
		        t = float(l.split()[-1])
		        if t > t0:
		            move_at = t - t0
		recv = int(samples[-1][1]) if samples else 0
		after = None
		if move_at is not None:
		    base = [b for t, b in samples if t <= move_at]
		    after = recv - int(base[-1] if base else 0)
		snd = {}
		if os.path.exists(os.path.join(d, name + ".sender")):
		    snd = dict(l.strip().split("=", 1) for l in open(os.path.join(d, name + ".sender")) if "=" in l)
		ok = src_rc == "0" and recv > 0 and (after is None or after > 0)
		print("\n".join([
		    "proto=udp-stream", "family=" + fam, "src=" + src, "dst=" + dst, "port=" + port,
		    "sender_rc=" + src_rc, "receiver_rc=" + rrc,
		    "bytes_sent=" + snd.get("bytes_sent", "0"), "send_errors=" + snd.get("send_errors", ""),
		    "bytes_recv=%d" % recv,
		    "move_at=" + ("" if move_at is None else "%.3f" % move_at),
		    "rx_after_move=" + ("" if after is None else str(after)),
		    "survived=" + ("yes" if ok else "no")]))
	EOF
	lab_res_out "$name"
}

lab_since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.3f\n", a - b }'; }

# ---------------------------------------------------------- scenarios ---
# Each prints one "scenario=... survived=yes|no ..." line (plus the helper's
# own line) and returns 0 if the flow survived. Run with or without dimed:
# the baseline asserts survived=no, an end-to-end test with dimed asserts yes.
# MH starts and ends on A (the scenario moves it back).

lab_delayed() { sleep "$1"; shift; "$@"; }

# scenario_hard_move FAMILY tcp|udp|udp-iperf [GAP=1] [SECS=5] [AT=1.5]
#   flow from MH's A address to CH; at AT s MH loses A; GAP s later it gets B.
scenario_hard_move() { lab_scenario hard "$@"; }
# scenario_soft_move FAMILY tcp|udp|udp-iperf [OVERLAP=1] [SECS=5] [AT=1.5]
scenario_soft_move() { lab_scenario soft "$@"; }

lab_scenario() {
	local kind=$1 fam=$2 proto=$3 gap=${4:-1} secs=${5:-5} at=${6:-1.5} name mpid rc=0
	[[ $(lab_cur) == A ]] || move_back
	name="$kind-$proto-$fam-$(lab_port)"
	lab_bg lab_delayed "$at" "move_$kind" "$gap"
	mpid=$LAB_BG_PID
	case "$proto" in
	tcp) tcp_transfer "$fam" "$secs" "$name" >/dev/null || rc=$? ;;
	udp) udp_stream "$fam" "$secs" "$name" >/dev/null || rc=$? ;;
	udp-iperf) udp_flow "$fam" "$secs" 10M "$name" >/dev/null || rc=$? ;;
	*) lab_die "scenario: protocol '$proto'" ;;
	esac
	lab_wait "$mpid" || true
	move_back
	echo "scenario=${kind}_move gap=$gap at=$at secs=$secs $(grep -v _intervals= "$LAB_DIR/$name.res" |
		tr '\n' ' ' | sed 's/ $//')"
	return "$rc"
}

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LAB_HERE
