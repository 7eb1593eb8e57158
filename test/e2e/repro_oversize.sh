#!/bin/bash
# SPDX-License-Identifier: MIT
# Smallest reproduction of "datagrams longer than the NFQUEUE copy range pass
# untranslated": a translated UDP flow MH -> CH after a hard move, then R2
# sends CH one datagram of the flow (from MH's locator) reassembled to
# KINDS=oversize (65535 bytes IPv4 / 65575 IPv6) or KINDS=large (65000, fine).
# Prints CH's dimed stats before/after and what CH's socket received
# ("PEER LEN MARK"); the bug shows as "198.18.2.2 65507 OVERSIZE" (the
# locator, not the identifier 198.18.1.2) and malformed +1, truncated_copy 0.
# usage: FAM=4|6 KINDS="oversize large" test/e2e/repro_oversize.sh
set -euo pipefail
E2E_SOURCE_ONLY=1 source "$(dirname "$0")/datapath.sh"
FAM=${FAM:-4} LAB_ID=rp$$ E2E_OUT=$(mktemp /tmp/dime-repro.XXXXXX) E2E_SLOW=1
DIME_LOG=$E2E_OUT.
source "$E2E_ROOT/test/lab/lab.sh"
lab_up
lab_firewall on
start_daemons
c=$(lab_ch_addr "$FAM") a=$(lab_addr "$FAM" A)
port=$(lab_port)
lab_bg ip netns exec "$LAB_NS_CH" $E2E_PKT udp-recv "$FAM" "$c" "$port" 60 "$LAB_DIR/udp.rx"
lab_wait_listen "$LAB_NS_CH" udp "$port"
lab_bg ip netns exec "$LAB_NS_MH" $E2E_PKT udp-send "$FAM" "$a" "$c" "$port" 60
wait_flow "$FAM" udp
move_hard 0.2
manual_map "$FAM"
sleep 1
dime_ctl ch -j stats; echo
inject_at ch udp ${KINDS:-oversize large}
sleep 0.5
dime_ctl ch -j stats; echo
grep -v tick "$LAB_DIR/udp.rx" || true
rm -f "$E2E_OUT"*
