#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# dissector.sh -- tests of the Wireshark Lua dissector for IHMP
# (docs/wireshark/ihmp.lua) with tshark:
#
#   1      tshark loads the dissector: protocol "ihmp", its fields, no Lua error
#   2-10   the test vectors of docs/ihmp.md section 10 (hex read from the
#          document, wrapped in UDP/IPv4 or IPv6 by dissector_pcap.py), every
#          field against the values the document gives (10.9: OBSERVED)
#   11     the vectors as request/ACK pairs (two-pass: ihmp.ack_in/ack_to),
#          no expert info on any of them
#   12     well-formed messages the vectors lack (NAT_ENTRY, KEY_ROTATE, PAD,
#          NS/NF, ADDR_UP, ADDR_DOWN_UNREACHABLE, PATH_PROBE, an ACK with an
#          IPv6 OBSERVED before SIGNATURE) and DATA (section 8.3: the 8.6
#          vector, an IPv6 TCP segment), every field; DATA's inner packet
#          decoded by Wireshark's ip/ipv6 dissectors
#   13     malformed datagrams (truncated TLV, octets after SIGNATURE, stray
#          octet, bad family, bad Host ID, bad OBSERVED, bad DATA, ...): the
#          expected expert info, no Lua error, no dissector exception
#   14     2000 fuzzed datagrams: every one decoded as IHMP, no Lua error;
#          500 fuzzed DATA datagrams: every one decoded as DATA, no Lua error
#   15     cut-off IHMP (snap length, quoted in ICMP): decoded, not malformed
#   16-22  a REAL capture in the lab of test/lab/lab.sh: dimed on MH and CH
#          (each with a state directory, so every message is signed), tshark
#          on CH's sw0, TCP flows MH -> CH over IPv4 and IPv6 and a hard move
#          of MH from link A to link B; checked by dissector_check.py:
#          HELLO and its ACK, HANDOFF (new = MH's address on B, old = on A)
#          and its ACK (ECHO = HANDOFF, same seq), PATH_PROBE with NONCE and
#          its ACK with the same NONCE_ECHO, every message signed and counted,
#          OBSERVED in every ACK (but a HELLO challenge) = the request's
#          source address and port, both families, no "Malformed" and no Lua
#          error in `tshark -V`
#
# Output: "ok N - name" / "not ok N - name" (details as "# " lines), then
# "N passed, N failed". Exit status 0 only if nothing failed. About 40 s.
#
# Environment:
#   DIMED               dimed binary (default <repo>/build/src/dimed; built
#                       with `meson compile -C <repo>/build` if missing)
#   DIMECTL             dimectl (default: next to DIMED), to see a daemon is up
#   DISSECTOR_LUA       the dissector (default <repo>/docs/wireshark/ihmp.lua)
#   DISSECTOR_LAB       0: skip the lab capture (tests 16-22 then fail)
#   DISSECTOR_KEEP      1: keep the output directory (pcaps, tshark output)
#
# Needs root; installs tshark if missing (apt-get, no setuid dumpcap). The
# lab needs iperf3, nft and python3 (standard library only).
set -euo pipefail

DIS_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lab/dime.sh
source "$DIS_HERE/../lab/dime.sh"
DIS_ROOT=$DIME_ROOT
DIS_LUA=${DISSECTOR_LUA:-$DIS_ROOT/docs/wireshark/ihmp.lua}
DIS_DOC=$DIS_ROOT/docs/ihmp.md
DIS_PY=$LAB_PYTHON
PCAPW=("$DIS_PY" "$DIS_HERE/dissector_pcap.py")
CHECK=("$DIS_PY" "$DIS_HERE/dissector_check.py")
T_START=$SECONDS

OUT=$(mktemp -d "${TMPDIR:-/tmp}/dime-dissector.XXXXXX")
DIS_KEEP=${DISSECTOR_KEEP:-0}
dis_exit() {
	local rc=$?
	[[ $DIS_KEEP == 1 ]] || rm -rf "$OUT"
	exit "$rc"
}
trap dis_exit EXIT
# setup_fail WHAT : the run cannot go on; still ends with the summary line.
setup_fail() {
	DIS_KEEP=1
	echo "# output kept in $OUT"
	tap_bail "setup: $*"
}

# report NAME DETAILFILE : ok if DETAILFILE is empty, else not ok + its lines
report() {
	tap_result "$([[ -s $2 ]] && echo 1 || echo 0)" "$1"
	[[ ! -s $2 ]] || sed 's/^/# /' "$2"
	[[ ! -f $2.note ]] || sed 's/^/# /' "$2.note"
}

# ------------------------------------------------------------- setup ---
[[ $(id -u) == 0 ]] || setup_fail "needs root (network namespaces)"
if ! command -v tshark >/dev/null 2>&1; then
	echo "# installing tshark"
	echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y tshark >"$OUT/apt.log" 2>&1 ||
		setup_fail "apt-get install tshark: $(tail -n 3 "$OUT/apt.log" | tr '\n' ' ')"
fi
if [[ ! -x $DIMED && $DIMED == "$DIS_ROOT/build/src/dimed" ]]; then
	echo "# building dimed"
	meson compile -C "$DIS_ROOT/build" >"$OUT/build.log" 2>&1 ||
		setup_fail "meson compile: $(tail -n 3 "$OUT/build.log" | tr '\n' ' ')"
fi

# tshark with only our dissector: a private HOME, so no personal plugins
# (a copy of ihmp.lua there would register the protocol twice) and no
# personal preferences; the "running as root" warning filtered from stderr.
mkdir -p "$OUT/home"
# (-G must come first: "ts -G fields" puts it there.) Synchronous, so that
# a caller's 2>FILE is complete when ts returns.
ts() {
	local g=() rc=0
	[[ ${1:-} != -G ]] || { g=("$1" "$2"); shift 2; }
	HOME=$OUT/home XDG_CONFIG_HOME=$OUT/home/.config \
		tshark "${g[@]}" -X "lua_script:$DIS_LUA" "$@" 2>"$OUT/ts.stderr" || rc=$?
	grep -v 'This could be dangerous' "$OUT/ts.stderr" >&2 || true
	return "$rc"
}
echo "# $(tshark --version 2>/dev/null | head -n1)"

# ------------------------------------------------------- 1: loading ---
d=$OUT/t1
: >"$d"
ts -G fields >"$OUT/fields.txt" 2>"$OUT/fields.err" || echo "tshark -G fields failed" >>"$d"
grep -qi 'lua' "$OUT/fields.err" && sed 's/^/tshark: /' "$OUT/fields.err" >>"$d"
grep -qP '^P\tInternet Host Mobility Protocol\tihmp$' "$OUT/fields.txt" || echo "protocol ihmp not registered" >>"$d"
for fld in ihmp.version ihmp.type ihmp.flags ihmp.flags.ou ihmp.flags.ns ihmp.flags.nd ihmp.flags.nf \
	ihmp.seq ihmp.hid.family ihmp.host_id ihmp.addrs ihmp.new_addr ihmp.old_addr ihmp.echo \
	ihmp.nat.proto ihmp.counter ihmp.pubkey ihmp.key_rotate.key ihmp.nonce ihmp.nonce_echo \
	ihmp.signature ihmp.pad ihmp.tlv.type ihmp.observed ihmp.observed.ipv4 ihmp.observed.ipv6 \
	ihmp.observed.port ihmp.data.type ihmp.data.reserved ihmp.data.tag; do
	grep -qP "^F\t[^\t]*\t\Q$fld\E\t" "$OUT/fields.txt" || echo "field $fld missing" >>"$d"
done
report "tshark $(tshark --version 2>/dev/null | head -n1 | awk '{print $3}') loads ihmp.lua: protocol and fields registered, no Lua error" "$d"

# -------------------------------------------------- 2-10: test vectors ---
"${PCAPW[@]}" vectors "$DIS_DOC" "$OUT/vectors.pcap" >"$OUT/vectors.lst" 2>"$OUT/vectors.lst.err" ||
	setup_fail "test vectors from $DIS_DOC: $(cat "$OUT/vectors.lst.err")"
FIELDS=(frame.number ihmp.version ihmp.type ihmp.flags ihmp.flags.ou ihmp.flags.ns ihmp.flags.nd
	ihmp.flags.nf ihmp.seq ihmp.hid.family ihmp.host_id ihmp.addrs ihmp.addrs.count ihmp.new_addr
	ihmp.old_addr ihmp.echo ihmp.nat.proto ihmp.nat.int_port ihmp.nat.ext_port ihmp.nat.int_addr
	ihmp.nat.ext_addr ihmp.counter ihmp.pubkey ihmp.key_rotate.key ihmp.key_rotate.proof ihmp.nonce
	ihmp.nonce_echo ihmp.observed ihmp.observed.port ihmp.pad ihmp.signed_len ihmp.signature
	ihmp.data.type ihmp.data.reserved ihmp.data.tag _ws.expert.message _ws.col.Info)
fargs() { local x; for x in "${FIELDS[@]}"; do printf -- '-e\n%s\n' "$x"; done; }
mapfile -t FARGS < <(fargs)
ts -r "$OUT/vectors.pcap" -T fields -E separator='|' -E occurrence=a -E aggregator=, "${FARGS[@]}" \
	>"$OUT/vectors.tsv" 2>"$OUT/vectors.err" || true

PK_A=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a
PK_B=3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c
NONCE=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
# Per section: the values docs/ihmp.md gives (fields not named must be empty,
# except frame.number; signature/signed_len are derived from the octets).
declare -A VEC=(
	[10.1]="type=1 flags=0x0000 flags.ou=0 flags.nd=0 seq=4660 hid.family=1 host_id=198.18.1.10
		addrs=198.18.1.10,2001:db8:1::10 addrs.count=2
		info=HELLO seq 4660 addrs 198.18.1.10,2001:db8:1::10"
	[10.2]="type=9 flags=0x0000 flags.ou=0 flags.nd=0 seq=4660 hid.family=1 host_id=198.19.0.2
		addrs=198.19.0.2 addrs.count=1 echo=1
		info=ACK of HELLO seq 4660 addrs 198.19.0.2"
	[10.3]="type=7 flags=0x0001 flags.ou=1 flags.nd=0 seq=4661 hid.family=1 host_id=198.18.1.10
		new_addr=198.18.2.10 old_addr=198.18.1.10
		info=HANDOFF seq 4661 new 198.18.2.10 old 198.18.1.10 [OU]"
	[10.4]="type=9 flags=0x0000 flags.ou=0 flags.nd=0 seq=4661 hid.family=1 host_id=198.19.0.2 echo=7
		info=ACK of HANDOFF seq 4661"
	[10.5]="type=1 flags=0x0000 flags.ou=0 flags.nd=0 seq=48879 hid.family=2 host_id=2001:db8:1::10
		addrs=2001:db8:1::10,198.18.1.10 addrs.count=2 counter=0x6700000000000001 pubkey=$PK_A nonce=$NONCE
		info=HELLO seq 48879 addrs 2001:db8:1::10,198.18.1.10 signed"
	[10.6]="type=9 flags=0x0004 flags.ou=0 flags.nd=1 seq=48879 hid.family=2 host_id=2001:db8:2::2
		addrs=2001:db8:2::2 addrs.count=1 echo=1 counter=0x6800000000000007 pubkey=$PK_B nonce_echo=$NONCE
		info=ACK of HELLO seq 48879 addrs 2001:db8:2::2 [ND] signed"
	[10.7]="type=7 flags=0x0000 flags.ou=0 flags.nd=0 seq=48880 hid.family=2 host_id=2001:db8:1::10
		new_addr=2001:db8:3::10 old_addr=2001:db8:1::10 counter=0x6700000000000002
		info=HANDOFF seq 48880 new 2001:db8:3::10 old 2001:db8:1::10 signed"
	[10.8]="type=9 flags=0x0000 flags.ou=0 flags.nd=0 seq=48880 hid.family=2 host_id=2001:db8:2::2 echo=7
		counter=0x6800000000000008 info=ACK of HANDOFF seq 48880 signed"
	[10.9]="type=9 flags=0x0004 flags.ou=0 flags.nd=1 seq=4661 hid.family=1 host_id=198.19.0.2 echo=7
		observed=198.19.0.99 observed.port=40000
		info=ACK of HANDOFF seq 4661 observed 198.19.0.99:40000 [ND]"
)
# SIGNED_LEN per section, from the document ("over ... the first N octets").
declare -A VEC_SIGNED=([10.5]=110 [10.6]=108 [10.7]=72 [10.8]=37)

# check_vector SECTION FRAME HEX DETAILFILE [TSV]
#   fields of FRAME in TSV (default: the vectors') against ${VEC[SECTION]}
check_vector() {
	local sec=$1 fr=$2 hex=$3 d=$4 tsv=${5:-$OUT/vectors.tsv} line key val i want got
	local -A exp=() have=()
	line=$(awk -F'|' -v f="$fr" '$1 == f' "$tsv")
	[[ -n $line ]] || { echo "frame $fr not in tshark's output" >>"$d"; return; }
	IFS='|' read -r -a vals <<<"$line"
	for ((i = 0; i < ${#FIELDS[@]}; i++)); do
		key=${FIELDS[$i]#ihmp.} key=${key#_ws.col.} key=${key,,}
		val=${vals[$i]:-}
		case "$val" in True) val=1 ;; False) val=0 ;; esac
		have[$key]=$val
	done
	# the expectation: key=value words; info= takes the rest of the line
	local spec=${VEC[$sec]}
	spec=$(echo "$spec" | tr -s ' \t\n' ' ')
	local info=${spec#*info=}
	info=${info% }
	spec=${spec%%info=*}
	# an IHMP message has a version and flags; DATA (data.tag=) has neither
	if [[ " $spec" != *" data.tag="* ]]; then
		exp[version]=1
		for key in flags.ou flags.ns flags.nd flags.nf; do exp[$key]=0; done
	fi
	for kv in $spec; do exp[${kv%%=*}]=${kv#*=}; done
	exp[info]=$info
	exp[version]=${exp[version]:-}
	exp[expert.message]=''
	if [[ -n ${VEC_SIGNED[$sec]:-} ]]; then
		exp[signed_len]=${VEC_SIGNED[$sec]}
		exp[signature]=${hex: -128}
		# the SIGNATURE TLV header sits right at the signed length
		[[ ${hex:$((2 * VEC_SIGNED[$sec])):4} == 0b40 ]] ||
			echo "document: no 0b40 at octet ${VEC_SIGNED[$sec]} of the vector" >>"$d"
	fi
	for key in "${!have[@]}"; do
		[[ $key == frame.number ]] && continue
		want=${exp[$key]:-} got=${have[$key]}
		[[ $got == "$want" ]] || echo "$key: got '$got', want '$want'" >>"$d"
	done
}

while read -r fr sec len hex; do
	d=$OUT/vec$sec
	: >"$d"
	[[ -n ${VEC[$sec]:-} ]] || echo "no expectation in this test for section $sec" >>"$d"
	[[ ! -s $OUT/vectors.err ]] || sed 's/^/tshark: /' "$OUT/vectors.err" >>"$d"
	[[ ! -s $d ]] && check_vector "$sec" "$fr" "$hex" "$d"
	report "test vector $sec ($len octets): $(awk -F'|' -v f="$fr" '$1 == f { print $NF }' "$OUT/vectors.tsv")" "$d"
done <"$OUT/vectors.lst"

# ---------------------------------------- 11: vectors as request/ACK pairs ---
d=$OUT/t10
: >"$d"
ts -2 -r "$OUT/vectors.pcap" -T fields -E separator='|' -e frame.number -e ihmp.ack_in -e ihmp.ack_to \
	-e _ws.expert.message >"$OUT/pairs.tsv" 2>"$OUT/pairs.err" || true
# (10.9 is a second ACK of 10.3's HANDOFF, which 10.4 acknowledged first)
want=$'1|2||\n2||1|\n3|4||\n4||3|\n5|6||\n6||5|\n7|8||\n8||7|\n9||3|'
[[ ! -s $OUT/pairs.err ]] || sed 's/^/tshark: /' "$OUT/pairs.err" >>"$d"
[[ $(cat "$OUT/pairs.tsv") == "$want" ]] ||
	{ echo "frame|ack_in|ack_to|expert:"; cat "$OUT/pairs.tsv"; } >>"$d"
report "test vectors pair up (two-pass: each request's ACK frame, each ACK's request), no expert info" "$d"

# ------------------------------------ 12: other well-formed messages ---
# What the vectors do not cover: NAT_ENTRY/NAT_MAP, KEY_ROTATE, PAD, NS/NF,
# ADDR_UP, ADDR_DOWN_UNREACHABLE, PATH_PROBE, an IPv6 OBSERVED in a signed
# ACK (values from section 4/5), and DATA (section 8.3): the header and
# inner packet of docs/ihmp.md 8.6, and an IPv6 TCP segment ("dime") of the
# flow whose SYN had sequence number 0x6b8b4567, its tag (8.6).
K32=$(printf '11%.0s' {1..32}) P64=$(printf '22%.0s' {1..64})
Z64=$(printf '00%.0s' {1..64})
DATA_H=$(grep -o 'The DATA header for tag 0x5954fa93: `[0-9a-f ]*`' "$DIS_DOC" | cut -d'`' -f2 | tr -d ' ')
DATA_I=$(awk '/as B delivers it after the rewrite:/ { f = 1 }
	f && /^[0-9a-f][0-9a-f]( [0-9a-f][0-9a-f])+$/ { gsub(/ /, ""); print; exit }' "$DIS_DOC")
[[ $DATA_H == 800000005954fa93 && ${#DATA_I} == 64 ]] ||
	setup_fail "DATA vector of $DIS_DOC section 8.6: header '$DATA_H', inner packet '$DATA_I'"
TCP6=600000000018064020010db800010000000000000000001020010db80002000000000000000000029c41
TCP6+=14516b8b456812345679501801f6b649000064696d65
OBS6=010900000009021020010db8000200000000000000000002040102060868000000000000090a10$NONCE
OBS6+=0c130220010db80001000000000000000000100d870b40$Z64
VEC[nat]="type=10 flags=0x0002 flags.ns=1 seq=1 hid.family=1 host_id=198.18.0.1 nat.proto=6
	nat.int_port=8080 nat.ext_port=50000 nat.int_addr=198.18.1.10 nat.ext_addr=198.19.0.5
	info=NAT_ENTRY seq 1 TCP 198.18.1.10:8080 -> 198.19.0.5:50000 [NS]"
VEC[rotate]="type=1 flags=0x0008 flags.nf=1 seq=5 hid.family=1 host_id=198.18.1.10 addrs=198.18.1.10
	addrs.count=1 key_rotate.key=$K32 key_rotate.proof=$P64 pad=000000
	info=HELLO seq 5 addrs 198.18.1.10 [NF]"
VEC[addrup]="type=3 flags=0x0000 seq=6 hid.family=1 host_id=198.18.1.10 new_addr=2001:db8:2::2
	info=ADDR_UP seq 6 new 2001:db8:2::2"
VEC[down]="type=6 flags=0x0000 seq=7 hid.family=2 host_id=2001:db8:2::2 old_addr=198.18.1.10
	info=ADDR_DOWN_UNREACHABLE seq 7 old 198.18.1.10"
VEC[probe]="type=2 flags=0x0000 seq=65535 hid.family=1 host_id=198.19.0.2 nonce=$NONCE pad=
	info=PATH_PROBE seq 65535"
VEC[obs6]="type=9 flags=0x0000 seq=9 hid.family=2 host_id=2001:db8:2::2 echo=2 counter=0x6800000000000009
	nonce_echo=$NONCE observed=2001:db8:1::10 observed.port=3463
	info=ACK of PATH_PROBE seq 9 observed [2001:db8:1::10]:3463 signed"
VEC_SIGNED[obs6]=76
VEC[data4]="data.type=0x80 data.reserved=0x000000 data.tag=0x5954fa93
	info=DATA tag 0x5954fa93: UDP 40000 → 5201 Len=4"
VEC[data6]="data.type=0x80 data.reserved=0x000000 data.tag=0x6b8b4567
	info=DATA tag 0x6b8b4567: TCP 40001 → 5201 [PSH, ACK] Seq=1 Ack=1 Win=502 Len=4"
OTHER=(
	"nat=010a000200010104c6120001050f061f90c35001c612010a01c6130005"
	"rotate=0101000800050104c612010a010501c612010a0860${K32}${P64}8003000000"
	"addrup=0103000000060104c612010a02110220010db8000200000000000000000002"
	"down=010600000007021020010db8000200000000000000000002030501c612010a"
	"probe=01020000ffff0104c61300020910$NONCE"
	"obs6=$OBS6"
	"data4=$DATA_H$DATA_I"
	"data6=800000006b8b4567$TCP6"
)
d=$OUT/t11
: >"$d"
"${PCAPW[@]}" raw "$OUT/other.pcap" "${OTHER[@]}" >"$OUT/other.lst" || setup_fail "dissector_pcap.py raw"
ts -r "$OUT/other.pcap" -T fields -E separator='|' -E occurrence=a -E aggregator=, "${FARGS[@]}" \
	>"$OUT/other.tsv" 2>"$OUT/other.err" || true
[[ ! -s $OUT/other.err ]] || sed 's/^/tshark: /' "$OUT/other.err" >>"$d"
declare -A OTHER_HEX=()
for x in "${OTHER[@]}"; do OTHER_HEX[${x%%=*}]=${x#*=}; done
while read -r fr name len; do
	check_vector "$name" "$fr" "${OTHER_HEX[$name]}" "$d.$name" "$OUT/other.tsv"
	[[ ! -s $d.$name ]] || sed "s/^/$name: /" "$d.$name" >>"$d"
done <"$OUT/other.lst"
# DATA: the inner packet goes to Wireshark's own IPv4/IPv6 dissectors (the
# outer IP/UDP is dissector_pcap.py's, 198.18.1.10 -> 198.19.0.2 port 3463).
ts -r "$OUT/other.pcap" -Y ihmp.data.tag -T fields -E separator='|' -E occurrence=a -E aggregator=, \
	-e frame.protocols -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst -e udp.srcport -e udp.dstport \
	-e tcp.seq_raw >"$OUT/other_data.tsv" 2>>"$OUT/other.err" || true
want="raw:ip:udp:ihmp:ip:udp:data|198.18.1.10,198.18.1.10|198.19.0.2,198.19.0.2|||3463,40000|3463,5201|
raw:ip:udp:ihmp:ipv6:tcp:data|198.18.1.10|198.19.0.2|2001:db8:1::10|2001:db8:2::2|3463|3463|1804289384"
[[ $(cat "$OUT/other_data.tsv") == "$want" ]] ||
	{ echo "DATA inner packets (protocols|ip.src|ip.dst|ipv6.src|ipv6.dst|udp ports|tcp.seq_raw):"
	  sed 's/^/  got  /' "$OUT/other_data.tsv"; echo "$want" | sed 's/^/  want /'; } >>"$d"
report "NAT_ENTRY (NAT_MAP), HELLO with KEY_ROTATE + PAD + NF, ADDR_UP, ADDR_DOWN_UNREACHABLE, PATH_PROBE, ACK with IPv6 OBSERVED, DATA over IPv4/IPv6 (inner packet decoded): every field" "$d"

# ------------------------------------------------- 13: malformed input ---
V1=010100001234 V1+=0104c612010a0116 V1+=01c612010a0220010db8000100000000000000000010
V3=0107000112350104c612010a020501c612020a030501c612010a
V4=0109000012350104c6130002040107
V8=$(awk '$2 == "10.8" { print $4 }' "$OUT/vectors.lst")
OBS=0c0701c61300639c40
I4=$DATA_I
NINE=$(printf '01c612010a%.0s' {1..9})
PAD5=$(for i in 1 2 3 4 5; do printf '80ff'; printf 'ee%.0s' {1..255}; done)
# NAME|HEX|expected expert message (substring)
MALFORMED=(
	"truncated TLV|${V3::-2}|OLD_ADDR TLV length 5, only 4 octet(s) left"
	"octets after SIGNATURE|${V8}8000|2 octet(s) after the SIGNATURE TLV"
	"stray octet|${V4}00|Stray octet after the last TLV"
	"bad address family|${V3:0:28}03${V3:30}|Bad address family 3"
	"bad Host ID family/length|01070001123501100000|Host ID family 1 with length 16"
	"truncated header|010700|ends inside the header"
	"truncated Host ID|0107000112350104c612|ends inside the Host ID"
	"wrong TLV length|0109000012350104c613000204020700|ECHO needs 1 octets, has 2"
	"bad ECHO|0109000012350104c6130002040109|Bad ECHO type"
	"duplicate TLV|${V4}040107|Second ECHO TLV"
	"TLV not allowed|${V3}040107|ECHO is not allowed in HANDOFF"
	"required TLV missing|0101000012340104c612010a|HELLO without ADDRS"
	"more than 8 addresses|0101000012340104c612010a012d$NINE|More than 8 addresses"
	"address shorter than its TLV|0102000012340104c612010a021101c612020a$(printf '00%.0s' {1..12})|Octets after the address"
	"SIGNATURE without COUNTER|${V4}0b40$Z64|SIGNATURE without COUNTER"
	"unknown critical TLV|${V4}0d00|Unknown critical TLV type 13"
	"OBSERVED wrong length|${V4}0c0501c6130063|OBSERVED needs 7 or 19 octets, has 5"
	"OBSERVED bad family|${V4}0c0703c61300639c40|Bad address family 3"
	"OBSERVED IPv6 in 7 octets|${V4}0c0702c61300639c40|IPv6 address needs 16 octets, only 4 left"
	"OBSERVED IPv4 in 19 octets|${V4}0c1301c6130063$(printf '00%.0s' {1..12})9c40|Octets between the address and the port"
	"OBSERVED not allowed|${V3}$OBS|OBSERVED is not allowed in HANDOFF"
	"duplicate OBSERVED|${V4}$OBS$OBS|Second OBSERVED TLV"
	"DATA truncated header|800000005954fa|DATA of 7 octets ends inside its 8-octet header"
	"DATA reserved not zero|80000100${DATA_H:8}$I4|DATA with non-zero reserved octets"
	"DATA tag 0|8000000000000000$I4|DATA with tag 0"
	"DATA inner too short|$DATA_H${I4::38}|Inner packet of 19 octets, shorter than an IPv4 header"
	"DATA inner not IP|${DATA_H}5${I4:1}|Inner packet of IP version 5"
	"DATA inner longer than its IP header says|$DATA_H${I4}00|Inner IPv4 packet of 32 octets by its header, 33 in the datagram"
	"unknown skippable TLV|${V4}c802aabb|Unknown skippable TLV type 200"
	"unknown message type|010b000000010104c612010a|Unknown message type 11"
	"IHMP version 2|0201000012340104c612010a|IHMP version 2"
	"oversize (1321 octets)|${V1}$PAD5|more than 1232"
)
args=()
for m in "${MALFORMED[@]}"; do
	IFS='|' read -r name hex _ <<<"$m"
	args+=("$name=$hex")
done
"${PCAPW[@]}" raw "$OUT/malformed.pcap" "${args[@]}" >/dev/null || setup_fail "dissector_pcap.py raw"
d=$OUT/t12
: >"$d"
ts -r "$OUT/malformed.pcap" -T fields -E separator='|' -e frame.number -e _ws.expert.message -e _ws.col.Info \
	>"$OUT/malformed.tsv" 2>"$OUT/malformed.err" || echo "tshark failed" >>"$d"
ts -r "$OUT/malformed.pcap" -V >"$OUT/malformed.txt" 2>>"$OUT/malformed.err" || echo "tshark -V failed" >>"$d"
[[ ! -s $OUT/malformed.err ]] || sed 's/^/tshark: /' "$OUT/malformed.err" >>"$d"
grep -n 'Lua Error\|Malformed Packet\|Dissector bug' "$OUT/malformed.txt" | head -n 5 >>"$d" || true
i=0
for m in "${MALFORMED[@]}"; do
	i=$((i + 1))
	IFS='|' read -r name hex want <<<"$m"
	got=$(awk -F'|' -v f="$i" '$1 == f { print $2 }' "$OUT/malformed.tsv")
	[[ $got == *"$want"* ]] || echo "$name: expert info '$got', want '$want'" >>"$d"
done
report "${#MALFORMED[@]} malformed datagrams: expected expert info each, no Lua error or exception" "$d"

# ------------------------------------------------------------ 14: fuzz ---
d=$OUT/t13
: >"$d"
"${PCAPW[@]}" fuzz "$OUT/fuzz.pcap" 2000 3463 >/dev/null || setup_fail "dissector_pcap.py fuzz"
ts -r "$OUT/fuzz.pcap" -V >"$OUT/fuzz.txt" 2>"$OUT/fuzz.err" || echo "tshark -V failed" >>"$d"
[[ ! -s $OUT/fuzz.err ]] || sed 's/^/tshark: /' "$OUT/fuzz.err" | head -n 5 >>"$d"
grep -n 'Lua Error\|Malformed Packet\|Dissector bug' "$OUT/fuzz.txt" | head -n 5 >>"$d" || true
n=$(grep -c '^Internet Host Mobility Protocol' "$OUT/fuzz.txt" || true)
[[ $n == 2000 ]] || echo "IHMP decoded in $n of 2000 frames" >>"$d"
echo "expert infos: $(grep -c 'Expert Info' "$OUT/fuzz.txt" || true)" >"$d.note"
# DATA: an exception in the inner packet's dissectors is theirs to show
# ("Malformed Packet: TCP"); a Lua error or a dissector bug is ours.
"${PCAPW[@]}" datafuzz "$OUT/datafuzz.pcap" 500 3463 >/dev/null || setup_fail "dissector_pcap.py datafuzz"
ts -r "$OUT/datafuzz.pcap" -V >"$OUT/datafuzz.txt" 2>"$OUT/datafuzz.err" || echo "tshark -V (DATA) failed" >>"$d"
[[ ! -s $OUT/datafuzz.err ]] || sed 's/^/tshark: /' "$OUT/datafuzz.err" | head -n 5 >>"$d"
grep -n 'Lua Error\|Dissector bug' "$OUT/datafuzz.txt" | head -n 5 >>"$d" || true
n=$(grep -c '^IHMP DATA' "$OUT/datafuzz.txt" || true)
[[ $n == 500 ]] || echo "IHMP DATA decoded in $n of 500 frames" >>"$d"
echo "DATA: expert infos $(grep -c 'Expert Info' "$OUT/datafuzz.txt" || true)," \
	"inner packets malformed $(grep -c '^\[Malformed Packet' "$OUT/datafuzz.txt" || true)" >>"$d.note"
report "2000 fuzzed datagrams: all decoded as IHMP; 500 fuzzed DATA: all decoded as DATA; no Lua error or exception" "$d"

# ---------------------------------------------------- 15: cut-off IHMP ---
d=$OUT/t14
: >"$d"
"${PCAPW[@]}" cutoff "$DIS_DOC" "$OUT/cutoff.pcap" || setup_fail "dissector_pcap.py cutoff"
ts -r "$OUT/cutoff.pcap" -V >"$OUT/cutoff.txt" 2>"$OUT/cutoff.err" || echo "tshark -V failed" >>"$d"
[[ ! -s $OUT/cutoff.err ]] || sed 's/^/tshark: /' "$OUT/cutoff.err" >>"$d"
grep -n 'Lua Error\|Malformed\|Dissector bug' "$OUT/cutoff.txt" | head -n 5 >>"$d" || true
n=$(grep -c '^Internet Host Mobility Protocol, HANDOFF' "$OUT/cutoff.txt" || true)
[[ $n == 2 ]] || echo "IHMP HANDOFF decoded in $n of 2 frames" >>"$d"
grep -q 'Captured 30 of 138 octets' "$OUT/cutoff.txt" || echo "no note on the snapped frame" >>"$d"
report "cut-off IHMP (snap length; quoted in ICMP): decoded as far as captured, not called malformed" "$d"

# ------------------------------------------------- 16-22: lab capture ---
# In a subshell: lab_up's EXIT trap tears the lab down when it ends.
lab_capture() {
	export LAB_ID=dis$$
	# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
	source "$DIS_ROOT/test/lab/lab.sh"
	lab_up
	lab_firewall on 3463
	local h i cap
	# A state directory each (dime_start), so every message is signed.
	for h in mh ch; do
		DIME_LOG=$OUT/dimed. dime_start $h -l debug || return 1
	done
	ip netns exec "$LAB_NS_CH" tshark -i "$SW_DEV" -f "udp port 3463" -w "$LAB_DIR/ihmp.pcapng" \
		>"$OUT/capture.log" 2>&1 &
	cap=$!
	lab_track "$cap"
	for ((i = 0; i < 200; i++)); do
		grep -q "Capturing on" "$OUT/capture.log" && break
		kill -0 "$cap" 2>/dev/null || break
		sleep 0.05
	done
	grep -q "Capturing on" "$OUT/capture.log" ||
		{ echo "tshark capture did not start: $(tail -n 3 "$OUT/capture.log" | tr '\n' ' ')"; return 1; }
	# TCP MH -> CH in both families; 1.5 s in, a hard move A -> B (1 s gap).
	local p4 p6
	tcp_transfer 4 5 flow4 >"$OUT/flow4.res" 2>&1 &
	p4=$!
	tcp_transfer 6 5 flow6 >"$OUT/flow6.res" 2>&1 &
	p6=$!
	sleep 1.5
	move_hard 1
	lab_wait "$p4" || true
	lab_wait "$p6" || true
	sleep 1		# the last ACKs and probes
	kill -INT "$cap" 2>/dev/null || true
	lab_wait "$cap" || true
	cp "$LAB_DIR/ihmp.pcapng" "$OUT/ihmp.pcapng"
	printf '%s\n' "mh_a4=$MH_A4" "mh_b4=$MH_B4" "mh_a6=$MH_A6" "mh_b6=$MH_B6" "ch4=$CH4" "ch6=$CH6" \
		>"$OUT/lab.addrs"
	cp "$LAB_DIR/events" "$OUT/events" 2>/dev/null || true
}

d=$OUT/lab
: >"$d"
if [[ ${DISSECTOR_LAB:-1} == 1 ]]; then
	(lab_capture) >"$OUT/lab.log" 2>&1 || { echo "lab capture failed:"; tail -n 5 "$OUT/lab.log"; } >>"$d"
else
	echo "lab capture skipped (DISSECTOR_LAB=0)" >>"$d"
fi
if [[ -s $OUT/ihmp.pcapng ]]; then
	LFIELDS=(frame.number udp.length ip.src ipv6.src ip.dst ipv6.dst udp.srcport udp.dstport ihmp.type ihmp.seq
		ihmp.flags ihmp.host_id ihmp.addrs ihmp.new_addr ihmp.old_addr ihmp.echo ihmp.counter ihmp.pubkey
		ihmp.nonce ihmp.nonce_echo ihmp.observed ihmp.observed.port ihmp.signature ihmp.signed_len
		frame.protocols _ws.col.Info)
	la=()
	for x in "${LFIELDS[@]}"; do la+=(-e "$x"); done
	ts -r "$OUT/ihmp.pcapng" -T fields -E separator='|' -E occurrence=a -E aggregator=, -E header=y "${la[@]}" \
		>"$OUT/lab.tsv" 2>"$OUT/lab.err" || echo "tshark -T fields failed" >>"$d"
	ts -r "$OUT/ihmp.pcapng" -V >"$OUT/lab.txt" 2>>"$OUT/lab.err" || echo "tshark -V failed" >>"$d"
	ts -r "$OUT/ihmp.pcapng" >"$OUT/lab.summary" 2>>"$OUT/lab.err" || true
fi
for i in 1 2 3 4 5 6 7; do cp "$d" "$OUT/lab$i"; done
if [[ ! -s $d ]]; then
	mapfile -t addrs <"$OUT/lab.addrs"
	if "${CHECK[@]}" "$OUT/lab.tsv" "$OUT/lab.txt" "$OUT/lab.err" "${addrs[@]}" "out=$OUT/lab" \
		>"$OUT/check.log" 2>&1; then
		cp "$OUT/check.log" "$OUT/lab1.note"
	else
		for i in 1 2 3 4 5 6 7; do cat "$OUT/check.log" >>"$OUT/lab$i"; done
	fi
fi
report "lab capture on CH: IHMP over IPv4 and IPv6, every frame decoded, no Malformed and no Lua error in tshark -V" "$OUT/lab1"
report "lab: HELLO from MH (ADDRS with its address on A, PUBKEY) and CH's ACK (ECHO = HELLO, same seq)" "$OUT/lab2"
report "lab: HANDOFF from MH, both families: new = MH's address on B, old = on A" "$OUT/lab3"
report "lab: ACK of each HANDOFF from CH to MH's new address: ECHO = HANDOFF, same seq" "$OUT/lab4"
report "lab: PATH_PROBE from CH to MH's new address with a NONCE, MH's ACK echoes it (NONCE_ECHO)" "$OUT/lab5"
report "lab: every message signed (SIGNATURE last, COUNTER present, counters unique per sender)" "$OUT/lab6"
report "lab: OBSERVED in every ACK but a HELLO challenge: its request's source address and port" "$OUT/lab7"
[[ ! -s $OUT/lab.summary ]] || { echo "# IHMP in the capture:"; sed 's/^/#   /' "$OUT/lab.summary"; }

echo "# runtime $((SECONDS - T_START)) s"
((TAP_FAIL == 0)) || DIS_KEEP=1
[[ $DIS_KEEP != 1 ]] || echo "# output kept in $OUT"
tap_summary
