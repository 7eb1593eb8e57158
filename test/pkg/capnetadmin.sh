#!/bin/bash
# dimed without root: on both lab hosts (MH and CH, test/lab/lab.sh) it runs
# as nobody:nogroup holding only CAP_NET_ADMIN (bounding, permitted, effective,
# inheritable and ambient sets: the same as the systemd unit gives it), and a
# TCP flow must survive a hard handoff (manual mappings, as in the lab tests).
#
#   MH (dimed as nobody) --R1/R2-- switch -- CH (dimed as nobody)
#
# Checks: the daemon's credentials, its rules (nft table + xtables fallback on
# kernels without nft queue) installed and removed again on SIGTERM, the
# control socket (root and the daemon's own user may change state), an iperf3
# transfer across move_hard. A kill -9 of MH's dimed and `dimed --cleanup`
# (the unit's ExecStopPost=). Then what happens without the ambient capability
# (nft(8), run by dimed, gets none): dimed must refuse to start with a clear line.
#
# Root (namespaces). DIMED / DIMECTL select binaries; else builds build-pkg/.
# Prints ok / not ok lines, the last "N passed, N failed"; exits non-zero on
# any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
FAM=${FAM:-4}

if [[ -z ${DIMED:-} || -z ${DIMECTL:-} ]]; then
	[[ -f build-pkg/build.ninja ]] || meson setup build-pkg >/dev/null
	meson compile -C build-pkg >/dev/null
	DIMED=$PWD/build-pkg/src/dimed DIMECTL=$PWD/build-pkg/src/dimectl
fi
source test/lab/dime.sh
preflight root setpriv

lab_up
lab_firewall on

# As the unit runs it (test/lab/dime.sh): nobody:nogroup, CAP_NET_ADMIN
# only, in the bounding, inheritable and ambient sets; /dev/net/tun 0666 as
# Debian's udev makes it (this machine may have it 0600) in dimed's mount
# namespace only.
dime_unprivileged

if dime_start mh -l debug && dime_start ch -l debug; then
	tap_result 0 "dimed started as nobody with only CAP_NET_ADMIN on MH and CH"
else
	sed 's/^/# mh: /' "$LAB_DIR/mh.log"; sed 's/^/# ch: /' "$LAB_DIR/ch.log" 2>/dev/null
	tap_bail "dimed started as nobody with only CAP_NET_ADMIN on MH and CH"
fi
mh_pid=$(dime_pid mh)
check "the tunnel device (NAT traversal) is up as nobody: dime0 and its policy rule" \
	sh -c "ip -n $LAB_NS_MH link show dime0 | grep -q UP && ip -n $LAB_NS_MH rule | grep -q 'lookup 3463'"

# --- credentials: uid 65534, CapEff/CapBnd/CapAmb = CAP_NET_ADMIN (bit 12) only.
st=/proc/$mh_pid/status
check "daemon runs as uid 65534" grep -Eq '^Uid:\s+65534\s+65534\s+65534\s+65534' "$st"
for set in CapEff CapPrm CapBnd CapAmb; do
	check "daemon $set is CAP_NET_ADMIN only" grep -Eq "^$set:\s+0000000000001000$" "$st"
done

# --- its rules, installed through nft(8) (and iptables/ip6tables) by a non-root process.
mode=$(dime_ctl mh -j show | sed -n 's/.*"rules": *"\([^"]*\)".*/\1/p')
check "MH rules installed (mode '$mode')" test -n "$mode" -a "$mode" != none
check "MH has table inet dimed" lab_mh nft list table inet dimed >/dev/null
if [[ $mode == nft+xtables ]]; then
	check "MH has 3 xtables NFQUEUE rules per family" \
		test "$(lab_mh iptables-save | grep -c 'dimed.*NFQUEUE')" = 3 -a \
		"$(lab_mh ip6tables-save | grep -c 'dimed.*NFQUEUE')" = 3
fi

# --- control socket: root, and the daemon's own user, may change state.
check "dimectl as nobody may read (show)" \
	lab_mh setpriv --reuid=nobody --regid=nogroup --clear-groups "$DIMECTL" -s "$(dime_sock mh)" show >/dev/null

# --- a TCP flow across a hard handoff.
A_OLD=$(lab_addr "$FAM" A) A_NEW=$(lab_addr "$FAM" B) C=$(lab_ch_addr "$FAM")
tcp_transfer "$FAM" 8 capnet >"$LAB_DIR/capnet.out" 2>&1 &
tp=$!
sleep 2.5
move_hard 1
sleep 0.3
check "CH: map $A_OLD $A_NEW (root client)" dime_ctl ch map "$A_OLD" "$A_NEW"
check "MH: map-local $C $A_NEW (client as the daemon's user)" \
	lab_mh setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$DIMECTL" -s "$(dime_sock mh)" map-local "$C" "$A_NEW"
rc=0
wait "$tp" || rc=$?
tap_result "$rc" "TCP flow survived the hard handoff: $(tr '\n' ' ' <"$LAB_DIR/capnet.out")"
((rc == 0)) || sed 's/^/# mh: /' "$LAB_DIR/mh.log" | tail -30
check "MH identifier $A_OLD held on lo (rtnetlink as non-root)" \
	bash -c "ip -n $LAB_NS_MH addr show dev lo | grep -q ' ${A_OLD}/'"
check "no permission errors in the logs" \
	bash -c "! grep -Eih 'permission denied|operation not permitted|EPERM' $LAB_DIR/mh.log $LAB_DIR/ch.log"

# --- `nft flush ruleset` (what nftables.service does on reload/stop) removes
# every table; dimed (non-root) notices and puts its own back.
lab_mh nft flush ruleset
restored=no
for ((i = 0; i < 30; i++)); do
	if lab_mh nft list table inet dimed >/dev/null 2>&1 &&
	   { [[ $mode != nft+xtables ]] || (($(lab_mh iptables-save | grep -c 'dimed.*NFQUEUE') == 3)); }; then
		restored=yes
		break
	fi
	sleep 0.1
done
check "table (and xtables fallback) restored after nft flush ruleset (${i}00 ms)" test $restored = yes
# (queued at first, in the kernel's maps once dimed resynced: either)
check "  ... and the translation set elements with it" \
	bash -c "{ ip netns exec $LAB_NS_MH nft list set inet dimed out$FAM
		  for m in only_src only_dst dst; do ip netns exec $LAB_NS_MH nft list map inet dimed fast_out${FAM}_\$m 2>/dev/null; done; } | grep -q '$A_OLD'"
check "  ... not a 'cannot watch' warning" bash -c "! grep -q 'cannot watch' $LAB_DIR/mh.log"

# --- kill -9 of MH's dimed: what it set up stays (traffic passes: the queue
# is bypassed); `dimed --cleanup`, the unit's ExecStopPost=, run as the
# daemon's user, removes all of it. While a dimed runs it refuses.
cleanup_mh() { lab_mh "${DIME_WRAP[@]}" "$DIMED" --cleanup --ctl "$(dime_sock mh)"; }
rc=0
out=$(cleanup_mh 2>&1) || rc=$?
check "dimed --cleanup refuses while MH's dimed runs (exit $rc: $out)" test "$rc" = 1
check "  ... and leaves its table alone" lab_mh nft list table inet dimed >/dev/null
kill -KILL "$mh_pid"
wait "$mh_pid" 2>/dev/null || true
rm -f "$(dime_dir)/mh.pid"
check "after kill -9 MH's table, identifier on lo and tunnel rule are still there" \
	bash -c "ip netns exec $LAB_NS_MH nft list table inet dimed >/dev/null && ip -n $LAB_NS_MH addr show dev lo | grep -q ' ${A_OLD}/' && ip -n $LAB_NS_MH rule | grep -q 'lookup 3463'"
# As the unit's ExecStopPost= after a crash: left for the restart.
rc=0
out=$(SERVICE_RESULT=signal cleanup_mh 2>&1) || rc=$?
check "dimed --cleanup after a crash (SERVICE_RESULT=signal) exits 0 ($out)" test "$rc" = 0
check "  ... and leaves the table and the identifier on lo to the restart" \
	bash -c "ip netns exec $LAB_NS_MH nft list table inet dimed >/dev/null && ip -n $LAB_NS_MH addr show dev lo | grep -q ' ${A_OLD}/'"
rc=0
out=$(SERVICE_RESULT=success cleanup_mh 2>&1) || rc=$?
check "dimed --cleanup as nobody with CAP_NET_ADMIN exits 0 ($out)" test "$rc" = 0
check "  ... MH has no table inet dimed" bash -c "! ip netns exec $LAB_NS_MH nft list table inet dimed >/dev/null 2>&1"
check "  ... no xtables rule" \
	bash -c "! ip netns exec $LAB_NS_MH iptables-save | grep -q dimed && ! ip netns exec $LAB_NS_MH ip6tables-save | grep -q dimed"
check "  ... no identifier on lo" bash -c "! ip -n $LAB_NS_MH addr show dev lo | grep -q ' ${A_OLD}/'"
check "  ... no policy rule into the tunnel's table (IPv4, IPv6)" \
	bash -c "! ip -n $LAB_NS_MH -4 rule | grep -q 'lookup 3463' && ! ip -n $LAB_NS_MH -6 rule | grep -q 'lookup 3463'"

# --- a clean exit (CH) removes the rules itself (nft and iptables again as non-root).
rc=0
dime_stop ch || rc=$?
check "dimed exits 0 on SIGTERM (CH)${DIME_ERR:+: $DIME_ERR}" test "$rc" = 0
check "CH table inet dimed removed" bash -c "! ip netns exec $LAB_NS_CH nft list table inet dimed >/dev/null 2>&1"
check "CH xtables rules removed" \
	bash -c "! ip netns exec $LAB_NS_CH iptables-save | grep -q dimed && ! ip netns exec $LAB_NS_CH ip6tables-save | grep -q dimed"
check "CH has no policy rule into the tunnel's table" bash -c "! ip -n $LAB_NS_CH rule | grep -q 'lookup 3463'"

# --- without the ambient capability its nft(8) child has no privilege: a
# clear refusal, not a half-installed ruleset.
rm -f "$(dime_sock mh)"*
out=$(lab_mh setpriv --reuid=nobody --regid=nogroup --clear-groups --bounding-set=-all,+net_admin \
	--inh-caps=-all,+net_admin "$DIMED" -f --ctl "$(dime_sock mh)" 2>&1) && rc=0 || rc=$?
check "without ambient caps dimed refuses to start (exit $rc)" test "$rc" != 0
echo "$out" | sed 's/^/# no ambient caps: /'
check "  ... and leaves no table behind" bash -c "! ip netns exec $LAB_NS_MH nft list table inet dimed >/dev/null 2>&1"

tap_summary
