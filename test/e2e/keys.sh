#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# keys.sh -- IHMP keys end to end (docs/ihmp.md §7.3 keys, §7.5 rotation):
# pinning and rotation.
#
#   1. pinned: CH's dimed.conf pins MH's public key for MH's prefixes; MH's
#      HELLO binds it as "pinned" and a hard handoff keeps a TCP flow.
#   2. wrong pin: CH pins another key; MH's signed messages are refused
#      (pinned_key_mismatch), CH never switches, while the pinned case worked.
#   3. rotation: after the HELLO exchange MH runs `dimectl set-local-key
#      generate`; CH's binding follows (KEY_ROTATE, origin kept) and a hard
#      handoff signed with the new key keeps the flow.
#   3b. a rotation CH misses (its IHMP port closed meanwhile): MH keeps the
#      old key for CH, announces again a minute later, the flow survives a
#      later hard handoff (docs/ihmp.md T7).
#   4. key-pin / key-remove through dimectl change the binding as shown.
# Output: ok/not ok lines, last line "N passed, N failed"; exit 1 on failure.
set -euo pipefail

# shellcheck source=../lab/dime.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lab/dime.sh"
PY=$LAB_PYTHON

# peer_field FIELD: FIELD of CH's key entry for MH's current address.
peer_field() { dime_ctl ch -j show keys | $PY -c 'import json,sys
d=json.load(sys.stdin)
m=[p for p in d["peers"] if p["address"] in sys.argv[2:]]
print(m[0].get(sys.argv[1], "none") if m else "none")' "$1" "$(lab_addr 4)" "$(lab_addr 6)"; }

# The public key of a state dir's host.key (libsodium layout: seed || pk).
pubkey_of() { $PY -c 'import base64,sys; print(base64.b64encode(open(sys.argv[1],"rb").read()[32:]).decode())' "$1"; }

# rotate_mh: MH takes a new key; prints it.
rotate_mh() { dime_ctl mh set-local-key generate >/dev/null; dime_ctl mh -j show keys | dime_json local.public_key; }
# wait_key KEY SECS: until CH holds KEY for MH, SECS at most.
wait_key() {
	local end=$((SECONDS + $2))
	while ((SECONDS < end)); do
		[[ $(peer_field key) == "$1" ]] && return 0
		sleep 0.1
	done
}
# A flow across a hard move: prints survived=yes|no.
flow_across_move() {
	local fam=$1 name=$2
	[[ $(lab_cur) == A ]] || move_back
	lab_bg lab_delayed 2 move_hard 1
	local mp=$LAB_BG_PID
	LAB_SND_TIMEOUT_MS=8000 tcp_transfer "$fam" 6 "$name" >/dev/null 2>&1 || true
	wait "$mp" 2>/dev/null || true
	lab_result "$name" survived
}

preflight root dimed iperf3 socat nft
lab_up
lab_firewall on 3463
link_rate A 200mbit
link_rate B 200mbit

# MH's key, made by one start of its daemon.
dime_start mh
dime_stop mh
MH_PK=$(pubkey_of "$LAB_DIR/mh-state/host.key")
OTHER_PK=$($PY -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')

# --- 1. pinned key ------------------------------------------------------
printf 'pin-key = %s %s\npin-key = %s %s\n' "$SUBNET_A4" "$MH_PK" "$SUBNET_A6" "$MH_PK" >"$LAB_DIR/ch-pin.conf"
printf 'pin-key = %s %s\npin-key = %s %s\n' "$SUBNET_B4" "$MH_PK" "$SUBNET_B6" "$MH_PK" >>"$LAB_DIR/ch-pin.conf"
dime_start ch -c "$LAB_DIR/ch-pin.conf"
dime_start mh
res=$(flow_across_move 4 pinned4)
check "pinned: hard handoff between pinned peers keeps the TCP flow" test "$res" = yes
keys=$(dime_ctl ch -j show keys)
check "pinned: CH shows MH's key with origin pinned" \
	test "$(dime_json peers.0.origin <<<"$keys")/$(dime_json peers.0.key <<<"$keys")" = "pinned/$MH_PK"
dime_stop mh
dime_stop ch

# --- 2. wrong pin -------------------------------------------------------
printf 'pin-key = %s %s\npin-key = %s %s\npin-key = %s %s\npin-key = %s %s\n' \
	"$SUBNET_A4" "$OTHER_PK" "$SUBNET_A6" "$OTHER_PK" "$SUBNET_B4" "$OTHER_PK" "$SUBNET_B6" "$OTHER_PK" \
	>"$LAB_DIR/ch-wrong.conf"
dime_start ch -c "$LAB_DIR/ch-wrong.conf"
dime_start mh
res=$(flow_across_move 4 wrong4)
mism=$(dime_ctl ch -j stats | dime_json ihmp.rejected.pinned_key_mismatch)
check "wrong pin: MH's messages refused (pinned_key_mismatch=$mism)" test "$mism" -gt 0
act=$(dime_ctl ch -j show hids | dime_json hids.0.active.0)
check "wrong pin: CH never switched to MH's new address (primary $act)" test "$act" = "$MH_A4"
check "wrong pin: the flow does not survive (no signalling was trusted)" test "$res" = no
dime_stop mh
dime_stop ch

# --- 3. rotation --------------------------------------------------------
[[ $(lab_cur) == A ]] || move_back
dime_start ch
dime_start mh
# A flow makes MH greet CH; wait for the binding.
lab_bg ip netns exec "$LAB_NS_CH" timeout 5 socat -u TCP-LISTEN:5290,bind="$CH4" OPEN:/dev/null
sleep 0.2
echo hi | ip netns exec "$LAB_NS_MH" timeout 3 socat -u - TCP:"$CH4":5290 || true
for _ in $(seq 50); do
	[[ $(peer_field origin) == tofu ]] && break
	sleep 0.1
done
before=$(peer_field key)
check "rotation: CH bound MH's first key on first use" test "$before" = "$MH_PK"
new_pk=$(rotate_mh)
wait_key "$new_pk" 5
check "rotation: CH follows MH's new key (KEY_ROTATE), origin kept" \
	test "$(peer_field key)/$(peer_field origin)" = "$new_pk/tofu"
check "rotation: the new key differs from the old" test "$new_pk" != "$MH_PK"
res=$(flow_across_move 6 rot6)
check "rotation: a handoff signed with the new key keeps the TCP flow (IPv6)" test "$res" = yes
bad=$(dime_ctl ch -j stats | dime_json ihmp.rejected.bad_signature)
check "rotation: no message was refused for its signature" test "$bad" -eq 0

# --- 3b. a rotation CH misses (docs/ihmp.md T7) -------------------------
# CH hears nothing from MH while MH rotates again: MH keeps signing for CH
# with the key CH holds, asks again a minute later, and CH's flows with MH
# survive a hard handoff after all that.
[[ $(lab_cur) == A ]] || move_back
held=$(peer_field key)
lab_bg tcp_transfer 4 100 missed
XFER=$LAB_BG_PID
sleep 2
lab_ch nft -f - <<-EOF
	table inet deaf {
		chain in {
			type filter hook input priority -10; policy accept;
			udp dport 3463 counter drop comment "deaf"
		}
	}
EOF
newer=$(rotate_mh)
sleep 6
check "missed rotation: CH, deaf, still holds MH's previous key" test "$(peer_field key)" = "$held"
lab_ch nft delete table inet deaf
wait_key "$newer" 80
check "missed rotation: CH follows MH's new key once it hears again (within 80 s)" \
	test "$(peer_field key)" = "$newer"
move_hard 1
lab_wait "$XFER" || true
check "missed rotation: the TCP flow that lived through it survives a hard handoff" \
	test "$(lab_result missed survived)" = yes
move_back

# --- 4. key-pin / key-remove -------------------------------------------
dime_ctl ch key-pin "$(lab_addr 6)" "$OTHER_PK"
check "key-pin: binding replaced and shown as pinned" \
	test "$(peer_field origin)/$(peer_field key)" = "pinned/$OTHER_PK"
dime_ctl ch key-remove "$(lab_addr 6)"
check "key-remove: binding gone" test "$(peer_field origin)" = none
if dime_ctl ch key-pin "$(lab_addr 6)" "not-a-key" 2>/dev/null; then r=0; else r=1; fi
check "key-pin with a bad key is refused" test $r = 1

tap_summary
