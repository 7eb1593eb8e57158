#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# dualstack.sh -- one host, one HID: a dual-stack peer whose IPv4 and IPv6
# flows start before its first HELLO lands gets a HID per address from the
# datapath; once both have proved the same key, IHMP folds them (docs/ihmp.md
# §7.3). In the lab of test/lab/lab.sh (Fig. 7), firewall on, zero config:
#
#   1. IHMP to CH is dropped while MH starts a TCP flow per family, so CH
#      learns both flows as two HIDs (checked: the split really happened);
#   2. the drop is lifted before MH's HELLOs give up (4 tries in 3.75 s);
#   3. within 5 s CH and MH each hold ONE HID for the other, with both
#      families' addresses, both flows and a TOFU key; hids_folded counted;
#   4. a hard handoff (move_hard 1) keeps both flows, and CH's one HID holds
#      MH's new v4 and v6 addresses.
#
# Output "ok N - ..." / "not ok N - ...", last line "N passed, N failed".
# Environment: DIMED, DIMECTL. Needs root, iperf3, nft, python3.
set -euo pipefail

# shellcheck source=../lab/dime.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lab/dime.sh"
PY=$LAB_PYTHON
PORT=3463

# peer_hids HOST ADDR4 ADDR6: "N FLOWS KEY" -- how many HIDs hold either
# address, and for a single one, its flow count and key origin
peer_hids() {
	dime_ctl "$1" -j show hids | "$PY" -c '
import json, sys
a = set(sys.argv[1:])
hs = [h for h in json.load(sys.stdin)["hids"] if a & set(h["active"] + h["unreachable"])]
both = len(hs) == 1 and a <= set(hs[0]["active"] + hs[0]["unreachable"])
print(len(hs), hs[0]["flows"] if both else -1, hs[0]["key"] if both else "-")' "$2" "$3"
}
holds() { dime_ctl "$1" -j show hids | "$PY" -c '
import json, sys
hs = [h for h in json.load(sys.stdin)["hids"] if sys.argv[1] in h["active"] + h["unreachable"]]
sys.exit(0 if len(hs) == 1 and set(sys.argv[1:]) <= set(hs[0]["active"] + hs[0]["unreachable"]) else 1)' "${@:2}"; }
flow_bytes() {
	lab_ch ss -Htin state established "( sport = :$1 )" 2>/dev/null |
		grep -o 'bytes_received:[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }'
}

echo "# one host, one HID: $DIMED"
preflight root dimed iperf3 nft
lab_up
lab_firewall on $PORT
dime_start mh -l debug
dime_start ch -l debug
P4=$(lab_port) P6=$(lab_port)
for p in "$P4" "$P6"; do lab_bg lab_ch iperf3 -s -p "$p" >"$LAB_DIR/iperf-s-$p.log" 2>&1; done
for p in "$P4" "$P6"; do lab_wait_listen "$LAB_NS_CH" tcp "$p"; done

# 1. IHMP to CH dropped while both flows start
lab_ch nft -f - <<EOF
table inet dsblock {
	chain in {
		type filter hook input priority -10; policy accept;
		udp dport $PORT counter drop
	}
}
EOF
lab_bg lab_mh iperf3 -c "$CH4" -p "$P4" -t 120 -b 4M -i 0 >"$LAB_DIR/iperf-c4.log" 2>&1
I4=$LAB_BG_PID
lab_bg lab_mh iperf3 -c "$CH6" -p "$P6" -t 120 -b 4M -i 0 >"$LAB_DIR/iperf-c6.log" 2>&1
I6=$LAB_BG_PID
split=''
for ((i = 0; i < 16; i++)); do
	read -r n _ _ < <(peer_hids ch "$MH_A4" "$MH_A6")
	[[ $n == 2 ]] && { split=1; break; }
	sleep 0.05
done
early=$(dime_stat ch ihmp.received.HELLO 2>/dev/null || echo '?')
note "CH before the fold: $(dime_ctl ch -j show hids | tr -d '\n' | cut -c1-400)"
# 2. lifted before the HELLOs' last try
lab_ch nft delete table inet dsblock
check "the flows of both families made two HIDs for MH at CH (IHMP held back)" test -n "$split"

# 3. folded at both ends
t0=$(date +%s.%N) ch_one='' mh_one=''
for ((i = 0; i < 100; i++)); do
	[[ -z $ch_one ]] && read -r n f k < <(peer_hids ch "$MH_A4" "$MH_A6") && [[ $n == 1 && $f -ge 4 && $k == tofu ]] &&
		ch_one=$(lab_since "$t0")
	[[ -z $mh_one ]] && read -r n f k < <(peer_hids mh "$CH4" "$CH6") && [[ $n == 1 && $f -ge 4 && $k == tofu ]] &&
		mh_one=$(lab_since "$t0")
	[[ -n $ch_one && -n $mh_one ]] && break
	sleep 0.05
done
note "HELLOs CH took in while IHMP was dropped: $early; one HID at CH after ${ch_one:-never} s, at MH after ${mh_one:-never} s"
note "CH: $(peer_hids ch "$MH_A4" "$MH_A6") (HIDs flows key); MH: $(peer_hids mh "$CH4" "$CH6")"
note "hids_folded: CH $(dime_stat ch ihmp.hids_folded), MH $(dime_stat mh ihmp.hids_folded)"
check "CH holds one HID for MH: both families' addresses, all 4 flows (iperf3: 2 each), TOFU key" test -n "$ch_one"
check "MH holds one HID for CH: both families' addresses, all 4 flows (iperf3: 2 each), TOFU key" test -n "$mh_one"
bad=0
(($(dime_stat ch ihmp.hids_folded) >= 1)) || { note "CH counted no fold"; bad=1; }
grep -q 'same host as HID' "$LAB_DIR/ch.log" || { note "CH logged no fold"; bad=1; }
tap_result "$bad" "the fold is counted (stats hids_folded) and logged"

# 4. one hard handoff moves both families through the one HID
b0=$(flow_bytes "$P4"):$(flow_bytes "$P6")
move_hard 1
sleep 3
c1=$(flow_bytes "$P4") c2=$(flow_bytes "$P6")
sleep 2
bad=0
(($(flow_bytes "$P4") > c1)) || { note "IPv4 flow stalled after the move"; bad=1; }
(($(flow_bytes "$P6") > c2)) || { note "IPv6 flow stalled after the move"; bad=1; }
kill -0 "$I4" 2>/dev/null || { note "iperf3 v4 exited: $(tail -2 "$LAB_DIR/iperf-c4.log" | tr '\n' ' ')"; bad=1; }
kill -0 "$I6" 2>/dev/null || { note "iperf3 v6 exited: $(tail -2 "$LAB_DIR/iperf-c6.log" | tr '\n' ' ')"; bad=1; }
holds ch "$MH_B4" "$MH_B6" "$MH_A4" "$MH_A6" || { note "CH's HID for MH lacks the new addresses: $(dime_ctl ch -j show hids | tr -d '\n' | cut -c1-400)"; bad=1; }
note "bytes at CH before the move $b0, 5 s after $(flow_bytes "$P4"):$(flow_bytes "$P6")"
tap_result "$bad" "a hard handoff keeps both flows, and CH's one HID holds MH's new v4 and v6 addresses"

bad=0
for h in mh ch; do dime_alive $h || { note "dimed on $h died"; bad=1; }; done
tap_result "$bad" "both daemons still running"
kill "$I4" "$I6" 2>/dev/null || true
tap_summary
