-- SPDX-License-Identifier: MIT
--
-- ihmp.lua -- Wireshark/tshark dissector for IHMP version 1, the signalling
-- protocol of dime (docs/ihmp.md: header section 3.1, TLVs 3.2-3.3,
-- registries 4, per-type TLV rules 4.4, signatures 7.1), and of the DATA
-- datagrams that share its port (section 8.3: first octet 0x80, a tag, then
-- a whole IPv4 or IPv6 packet, handed to Wireshark's "ip"/"ipv6" dissector).
--
--   tshark -X lua_script:docs/wireshark/ihmp.lua -r capture.pcapng -Y ihmp
--   (or copy this file to ~/.local/lib/wireshark/plugins/)
--
-- Registers on UDP port 3463 (preference "ihmp.port", and "Decode As... IHMP"
-- for a dimed started with --port N). Every field is under "ihmp.*"; see
-- docs/wireshark/README.md for the list. Malformed input never raises a Lua
-- error: every problem the codec (src/ihmp_wire.c, ihmp_decode) would drop a
-- message for is shown as expert info on the offending octets, and the rest
-- of the datagram is shown as far as it can be parsed.
--
-- The dissector does not verify Ed25519 signatures (Lua in Wireshark has no
-- Ed25519); it shows the signature and how many octets it covers.

local IHMP_PORT = 3463
local DATA_TYPE = 0x80      -- first octet of DATA (never an IHMP version)
local DATA_HDR = 8          -- DATA header before the inner packet
local MIN_INNER = 20        -- an IPv4 header
local MAX_MSG = 1232        -- IHMP_MAX_MSG
local MAX_ADDRS = 8         -- IHMP_MAX_ADDRS
local HDR_LEN = 8           -- fixed header before the Host ID

local ihmp = Proto("ihmp", "Internet Host Mobility Protocol")

-- ------------------------------------------------------------ registries ---
local msg_names = {
	[0] = "reserved",
	[1] = "HELLO",
	[2] = "PATH_PROBE",
	[3] = "ADDR_UP",
	[4] = "ADDR_UP_UNREACHABLE",
	[5] = "ADDR_DOWN",
	[6] = "ADDR_DOWN_UNREACHABLE",
	[7] = "HANDOFF",
	[8] = "HANDOFF_UNREACHABLE",
	[9] = "ACK",
	[10] = "NAT_ENTRY",
	[255] = "reserved",
}
local T_HELLO, T_PATH_PROBE, T_ADDR_UP, T_ADDR_UP_UNR = 1, 2, 3, 4
local T_ADDR_DOWN, T_ADDR_DOWN_UNR, T_HANDOFF, T_HANDOFF_UNR = 5, 6, 7, 8
local T_ACK, T_NAT_ENTRY = 9, 10

local function msg_name(t)
	if msg_names[t] and t >= 1 and t <= 10 then return msg_names[t] end
	if t >= 224 and t <= 254 then return string.format("experimental type %d", t) end
	return string.format("type %d", t)
end

local tlv_names = {
	[0] = "reserved",
	[1] = "ADDRS",
	[2] = "NEW_ADDR",
	[3] = "OLD_ADDR",
	[4] = "ECHO",
	[5] = "NAT_MAP",
	[6] = "COUNTER",
	[7] = "PUBKEY",
	[8] = "KEY_ROTATE",
	[9] = "NONCE",
	[10] = "NONCE_ECHO",
	[11] = "SIGNATURE",
	[12] = "OBSERVED",
	[128] = "PAD",
	[129] = "NAME",
	[255] = "reserved",
}
local X_ADDRS, X_NEW_ADDR, X_OLD_ADDR, X_ECHO, X_NAT_MAP = 1, 2, 3, 4, 5
local X_COUNTER, X_PUBKEY, X_KEY_ROTATE, X_NONCE, X_NONCE_ECHO = 6, 7, 8, 9, 10
local X_SIGNATURE, X_OBSERVED, X_PAD, X_NAME = 11, 12, 128, 129
local SKIPPABLE = 128

local function tlv_name(t)
	if tlv_names[t] and t ~= 0 and t ~= 255 then return tlv_names[t] end
	local kind = t < SKIPPABLE and "critical" or "skippable"
	if (t >= 96 and t <= 127) or (t >= 224 and t <= 254) then
		return string.format("experimental %s TLV %d", kind, t)
	end
	return string.format("unknown %s TLV %d", kind, t)
end

local families = { [1] = "IPv4", [2] = "IPv6" }
local ip_protos = { [1] = "ICMP", [6] = "TCP", [17] = "UDP", [58] = "ICMPv6", [132] = "SCTP" }

-- Section 4.4 (as src/ihmp_wire.c enforces it): required and optional TLVs.
local COMMON = { [X_COUNTER] = true, [X_NONCE] = true, [X_SIGNATURE] = true }
local function set(base, extra)
	local s = {}
	for k in pairs(base) do s[k] = true end
	for _, k in ipairs(extra) do s[k] = true end
	return s
end
local rules = {
	-- NONCE_ECHO in a HELLO answers a challenge; NONCE in the ACK of a
	-- HELLO is one (docs/ihmp.md 5.1).
	[T_HELLO] = { req = { X_ADDRS }, opt = set(COMMON, { X_PUBKEY, X_KEY_ROTATE, X_NONCE_ECHO }) },
	[T_PATH_PROBE] = { req = {}, opt = COMMON },
	[T_ADDR_UP] = { req = { X_NEW_ADDR }, opt = COMMON },
	[T_ADDR_UP_UNR] = { req = { X_NEW_ADDR }, opt = COMMON },
	[T_ADDR_DOWN] = { req = { X_OLD_ADDR }, opt = COMMON },
	[T_ADDR_DOWN_UNR] = { req = { X_OLD_ADDR }, opt = COMMON },
	[T_HANDOFF] = { req = { X_NEW_ADDR, X_OLD_ADDR }, opt = COMMON },
	[T_HANDOFF_UNR] = { req = { X_NEW_ADDR, X_OLD_ADDR }, opt = COMMON },
	[T_ACK] = { req = { X_ECHO },
		opt = set({}, { X_ADDRS, X_PUBKEY, X_COUNTER, X_NONCE, X_NONCE_ECHO, X_SIGNATURE, X_OBSERVED }) },
	[T_NAT_ENTRY] = { req = { X_NAT_MAP }, opt = COMMON },
}
for _, r in pairs(rules) do
	r.allowed = set(r.opt, r.req)
end

-- Fixed Value lengths of the known TLVs (section 4.3); nil: checked by parsing.
local fixed_len = {
	[X_ECHO] = 1, [X_COUNTER] = 8, [X_PUBKEY] = 32, [X_KEY_ROTATE] = 96,
	[X_NONCE] = 16, [X_NONCE_ECHO] = 16, [X_SIGNATURE] = 64,
}

-- ---------------------------------------------------------------- fields ---
local f = ihmp.fields
f.version = ProtoField.uint8("ihmp.version", "Version", base.DEC)
f.type = ProtoField.uint8("ihmp.type", "Type", base.DEC, msg_names)
f.flags = ProtoField.uint16("ihmp.flags", "Flags", base.HEX)
f.flags_ou = ProtoField.bool("ihmp.flags.ou", "OU (old address unreachable)", 16,
	{ "Set", "Not set" }, 0x0001)
f.flags_ns = ProtoField.bool("ihmp.flags.ns", "NS (NAT supported)", 16,
	{ "Set", "Not set" }, 0x0002)
f.flags_nd = ProtoField.bool("ihmp.flags.nd", "ND (NAT detected)", 16,
	{ "Set", "Not set" }, 0x0004)
f.flags_nf = ProtoField.bool("ihmp.flags.nf", "NF (NAT forced)", 16,
	{ "Set", "Not set" }, 0x0008)
f.flags_unassigned = ProtoField.uint16("ihmp.flags.unassigned", "Unassigned", base.HEX, nil, 0x0ff0)
f.flags_experimental = ProtoField.uint16("ihmp.flags.experimental", "Experimental", base.HEX, nil, 0xf000)
f.seq = ProtoField.uint16("ihmp.seq", "Sequence number", base.DEC)
f.hid_family = ProtoField.uint8("ihmp.hid.family", "Host ID family", base.DEC, families)
f.hid_length = ProtoField.uint8("ihmp.hid.length", "Host ID length", base.DEC)
f.host_id = ProtoField.string("ihmp.host_id", "Host ID")
f.host_id_ipv4 = ProtoField.ipv4("ihmp.host_id.ipv4", "Host ID (IPv4)")
f.host_id_ipv6 = ProtoField.ipv6("ihmp.host_id.ipv6", "Host ID (IPv6)")
f.host_id_raw = ProtoField.bytes("ihmp.host_id.raw", "Host ID (unknown family)")

f.tlv = ProtoField.none("ihmp.tlv", "TLV")
f.tlv_type = ProtoField.uint8("ihmp.tlv.type", "TLV type", base.DEC, tlv_names)
f.tlv_length = ProtoField.uint8("ihmp.tlv.length", "TLV length", base.DEC)
f.tlv_value = ProtoField.bytes("ihmp.tlv.value", "Value")
f.tlv_critical = ProtoField.bool("ihmp.tlv.critical", "Critical (type < 128)")
f.family = ProtoField.uint8("ihmp.family", "Address family", base.DEC, families)

-- Family-tagged addresses: one string field per role (IPv4 or IPv6 in text,
-- "ihmp.new_addr == \"198.18.2.2\""), plus typed fields per family
-- ("ihmp.new_addr.ipv4 == 198.18.2.2", "ihmp.new_addr.ipv6 in 2001:db8::/32").
local function addr_fields(key, abbr, label)
	f[key] = ProtoField.string("ihmp." .. abbr, label)
	f[key .. "_ipv4"] = ProtoField.ipv4("ihmp." .. abbr .. ".ipv4", label .. " (IPv4)")
	f[key .. "_ipv6"] = ProtoField.ipv6("ihmp." .. abbr .. ".ipv6", label .. " (IPv6)")
	return { str = f[key], v4 = f[key .. "_ipv4"], v6 = f[key .. "_ipv6"] }
end
local R_ADDRS = addr_fields("addrs", "addrs", "Address")
local R_NEW = addr_fields("new_addr", "new_addr", "New address")
local R_OLD = addr_fields("old_addr", "old_addr", "Old address")
local R_NAT_INT = addr_fields("nat_int_addr", "nat.int_addr", "Internal address")
local R_NAT_EXT = addr_fields("nat_ext_addr", "nat.ext_addr", "External address")
local R_OBSERVED = addr_fields("observed", "observed", "Observed address")
f.addrs_count = ProtoField.uint8("ihmp.addrs.count", "Number of addresses", base.DEC)

f.echo = ProtoField.uint8("ihmp.echo", "Acknowledged type (ECHO)", base.DEC, msg_names)
f.nat_proto = ProtoField.uint8("ihmp.nat.proto", "Protocol", base.DEC, ip_protos)
f.nat_int_port = ProtoField.uint16("ihmp.nat.int_port", "Internal port", base.DEC)
f.nat_ext_port = ProtoField.uint16("ihmp.nat.ext_port", "External port", base.DEC)
f.observed_port = ProtoField.uint16("ihmp.observed.port", "Observed port", base.DEC)
f.name = ProtoField.string("ihmp.name", "Name (NAME)")
f.counter = ProtoField.uint64("ihmp.counter", "Counter", base.HEX)
f.pubkey = ProtoField.bytes("ihmp.pubkey", "Public key (Ed25519)")
f.key_rotate_key = ProtoField.bytes("ihmp.key_rotate.key", "New public key (Ed25519)")
f.key_rotate_proof = ProtoField.bytes("ihmp.key_rotate.proof", "Proof (signature by the new key)")
f.nonce = ProtoField.bytes("ihmp.nonce", "Nonce")
f.nonce_echo = ProtoField.bytes("ihmp.nonce_echo", "Nonce echo")
f.signature = ProtoField.bytes("ihmp.signature", "Signature (Ed25519)")
f.signed_len = ProtoField.uint16("ihmp.signed_len", "Signed octets (before the SIGNATURE TLV)", base.DEC)
f.pad = ProtoField.bytes("ihmp.pad", "Padding")
f.trailing = ProtoField.bytes("ihmp.trailing", "Trailing octets")
f.undecoded = ProtoField.bytes("ihmp.undecoded", "Undecoded octets")
f.ack_in = ProtoField.framenum("ihmp.ack_in", "Acknowledged in", base.NONE, frametype.RESPONSE)
f.ack_to = ProtoField.framenum("ihmp.ack_to", "Acknowledges frame", base.NONE, frametype.REQUEST)

-- DATA (section 8.3)
f.data_type = ProtoField.uint8("ihmp.data.type", "Type (DATA)", base.HEX)
f.data_reserved = ProtoField.uint24("ihmp.data.reserved", "Reserved", base.HEX)
f.data_tag = ProtoField.uint32("ihmp.data.tag", "Tag", base.HEX)

-- ----------------------------------------------------------- expert info ---
local e = {}
local function ex(key, text, group, sev)
	e[key] = ProtoExpert.new("ihmp.expert." .. key, text, group, sev)
end
local G, S = expert.group, expert.severity
ex("empty", "Empty datagram", G.MALFORMED, S.ERROR)
ex("oversize", "Message longer than 1232 octets (receivers drop it)", G.PROTOCOL, S.WARN)
ex("bad_version", "Unsupported IHMP version (not decoded)", G.PROTOCOL, S.WARN)
ex("short_header", "Datagram shorter than the IHMP header or Host ID", G.MALFORMED, S.ERROR)
ex("bad_hid", "Bad Host ID family/length", G.MALFORMED, S.ERROR)
ex("unknown_type", "Unknown message type (receivers drop it as unsupported)", G.PROTOCOL, S.WARN)
ex("truncated_tlv", "TLV runs past the end of the datagram", G.MALFORMED, S.ERROR)
ex("stray_octet", "Stray octet after the last TLV", G.MALFORMED, S.ERROR)
ex("after_signature", "Octets after the SIGNATURE TLV", G.MALFORMED, S.ERROR)
ex("bad_length", "Wrong TLV length for its type", G.MALFORMED, S.ERROR)
ex("bad_family", "Bad address family", G.MALFORMED, S.ERROR)
ex("bad_addr_len", "Address does not fit the TLV exactly", G.MALFORMED, S.ERROR)
ex("too_many_addrs", "More than 8 addresses in ADDRS", G.MALFORMED, S.ERROR)
ex("bad_echo", "Bad ECHO type (must be 1-8 or 10)", G.MALFORMED, S.ERROR)
ex("duplicate", "Duplicate TLV", G.MALFORMED, S.ERROR)
ex("not_allowed", "TLV not allowed in this message type", G.MALFORMED, S.ERROR)
ex("unknown_critical", "Unknown critical TLV (receivers drop the message as unsupported)", G.PROTOCOL, S.WARN)
ex("unknown_skippable", "Unknown skippable TLV (skipped)", G.UNDECODED, S.NOTE)
ex("missing", "Required TLV missing (receivers drop the message as incomplete)", G.PROTOCOL, S.WARN)
ex("sig_no_counter", "SIGNATURE without COUNTER (incomplete)", G.PROTOCOL, S.WARN)
ex("mapped_v4", "IPv4-mapped IPv6 address (must be sent as family 1)", G.PROTOCOL, S.WARN)
ex("retransmission", "Retransmission of an earlier request", G.SEQUENCE, S.NOTE)
ex("unmatched_ack", "ACK without a matching request in this capture", G.SEQUENCE, S.NOTE)
ex("snapped", "Captured datagram is shorter than on the wire (snap length, or quoted in ICMP)", G.UNDECODED, S.NOTE)
ex("data_short", "DATA too short (receivers drop it)", G.MALFORMED, S.ERROR)
ex("data_reserved", "DATA with non-zero reserved octets (receivers drop it)", G.MALFORMED, S.ERROR)
ex("data_tag", "DATA with tag 0 (receivers drop it)", G.MALFORMED, S.ERROR)
ex("data_inner", "DATA whose inner packet is not one whole IPv4 or IPv6 packet (receivers drop it)", G.MALFORMED, S.ERROR)
do
	local list = {}
	for _, v in pairs(e) do list[#list + 1] = v end
	ihmp.experts = list
end

-- ----------------------------------------------------------- preferences ---
ihmp.prefs.port = Pref.uint("UDP port", IHMP_PORT, "UDP port of IHMP (dimed --port, default 3463)")

local udp_table = DissectorTable.get("udp.port")
local cur_port = IHMP_PORT

function ihmp.prefs_changed()
	if ihmp.prefs.port ~= cur_port then
		if cur_port ~= 0 then udp_table:remove(cur_port, ihmp) end
		cur_port = ihmp.prefs.port
		if cur_port ~= 0 then udp_table:add(cur_port, ihmp) end
	end
end

-- ------------------------------------------------- request/ACK matching ---
-- Filled on the first pass: request key -> frames; frame -> matched frame.
local requests, ack_of, acked_in, retrans_of = {}, {}, {}, {}

function ihmp.init()
	requests, ack_of, acked_in, retrans_of = {}, {}, {}, {}
end

local function req_key(t, seq, src, sport, dst, dport)
	return table.concat({ t, seq, tostring(src), sport, tostring(dst), dport }, "|")
end

-- ---------------------------------------------------------------- helpers ---
local function hasbit(v, m) return math.floor(v / m) % 2 == 1 end

local function flag_names(v)
	local n = {}
	if hasbit(v, 0x0001) then n[#n + 1] = "OU" end
	if hasbit(v, 0x0002) then n[#n + 1] = "NS" end
	if hasbit(v, 0x0004) then n[#n + 1] = "ND" end
	if hasbit(v, 0x0008) then n[#n + 1] = "NF" end
	if v >= 0x0010 then n[#n + 1] = string.format("0x%04x", v - v % 0x10) end
	return table.concat(n, ",")
end

local function is_mapped_v4(r)
	-- ::ffff:0:0/96
	for i = 0, 9 do if r(i, 1):uint() ~= 0 then return false end end
	return r(10, 1):uint() == 0xff and r(11, 1):uint() == 0xff
end

-- One family-tagged address at [off, stop): adds it under tree with the
-- role's fields; returns the next offset and its text, or nil on error (with
-- expert info on the bad octets).
local function parse_addr(tvb, tree, off, stop, role)
	if off >= stop then
		tree:add_proto_expert_info(e.bad_addr_len, "Address missing")
		return nil
	end
	local fam = tvb(off, 1):uint()
	local l = (fam == 1 and 4) or (fam == 2 and 16) or nil
	if not l then
		local it = tree:add(f.family, tvb(off, 1))
		it:add_proto_expert_info(e.bad_family,
			string.format("Bad address family %d (1 = IPv4, 2 = IPv6)", fam))
		return nil
	end
	if stop - off - 1 < l then
		local it = tree:add(f.family, tvb(off, 1))
		it:add_proto_expert_info(e.bad_addr_len, string.format(
			"%s address needs %d octets, only %d left in the TLV", families[fam], l, stop - off - 1))
		return nil
	end
	local r = tvb(off + 1, l)
	local a = (l == 4) and r:ipv4() or r:ipv6()
	local s = tostring(a)
	local it = tree:add(role.str, tvb(off, 1 + l), s)
	it:add(f.family, tvb(off, 1))
	it:add(l == 4 and role.v4 or role.v6, r)
	if l == 16 and is_mapped_v4(r) then
		it:add_proto_expert_info(e.mapped_v4)
	end
	return off + 1 + l, s
end

-- ---------------------------------------------------------- TLV decoders ---
-- Each gets (tvb, tlv tree, value offset, value length, ctx); fixed lengths
-- are checked before. ctx collects what the Info column shows.
local decode = {}

decode[X_ADDRS] = function(tvb, t, off, n, ctx)
	local p, stop, cnt, list = off, off + n, 0, {}
	while p < stop do
		if cnt == MAX_ADDRS then
			t:add_proto_expert_info(e.too_many_addrs)
			t:add(f.undecoded, tvb(p, stop - p))
			break
		end
		local nx, s = parse_addr(tvb, t, p, stop, R_ADDRS)
		if not nx then
			t:add(f.undecoded, tvb(p, stop - p))
			ctx.malformed = true
			break
		end
		cnt, p = cnt + 1, nx
		list[#list + 1] = s
	end
	if cnt > MAX_ADDRS then ctx.malformed = true end
	t:add(f.addrs_count, cnt):set_generated()
	t:append_text(": " .. (#list > 0 and table.concat(list, ", ") or "(none)"))
	ctx.addrs = list
end

local function one_addr(role, key)
	return function(tvb, t, off, n, ctx)
		local nx, s = parse_addr(tvb, t, off, off + n, role)
		if not nx then
			ctx.malformed = true
			return
		end
		if nx ~= off + n then
			t:add(f.trailing, tvb(nx, off + n - nx))
				:add_proto_expert_info(e.bad_addr_len, "Octets after the address in the TLV")
			ctx.malformed = true
		end
		t:append_text(": " .. s)
		ctx[key] = s
	end
end
decode[X_NEW_ADDR] = one_addr(R_NEW, "new")
decode[X_OLD_ADDR] = one_addr(R_OLD, "old")

decode[X_ECHO] = function(tvb, t, off, n, ctx)
	local v = tvb(off, 1):uint()
	local it = t:add(f.echo, tvb(off, 1))
	t:append_text(": " .. msg_name(v))
	ctx.echo = v
	if v < 1 or v > 10 or v == T_ACK then
		it:add_proto_expert_info(e.bad_echo)
		ctx.malformed = true
	end
end

decode[X_NAT_MAP] = function(tvb, t, off, n, ctx)
	if n < 5 then
		t:add(f.tlv_value, tvb(off, n))
			:add_proto_expert_info(e.bad_length, "NAT_MAP needs 15, 27 or 39 octets")
		ctx.malformed = true
		return
	end
	t:add(f.nat_proto, tvb(off, 1))
	t:add(f.nat_int_port, tvb(off + 1, 2))
	t:add(f.nat_ext_port, tvb(off + 3, 2))
	local stop = off + n
	local p, si = parse_addr(tvb, t, off + 5, stop, R_NAT_INT)
	local se
	if p then p, se = parse_addr(tvb, t, p, stop, R_NAT_EXT) end
	if not p then
		ctx.malformed = true
		return
	end
	if p ~= stop then
		t:add(f.trailing, tvb(p, stop - p))
			:add_proto_expert_info(e.bad_addr_len, "Octets after the external address")
		ctx.malformed = true
	end
	local proto = tvb(off, 1):uint()
	ctx.nat = string.format("%s %s:%d -> %s:%d", ip_protos[proto] or ("proto " .. proto),
		si, tvb(off + 1, 2):uint(), se, tvb(off + 3, 2):uint())
	t:append_text(": " .. ctx.nat)
end

decode[X_COUNTER] = function(tvb, t, off, n, ctx)
	t:add(f.counter, tvb(off, 8))
	t:append_text(": 0x" .. tvb(off, 8):uint64():tohex())
end

local function bytes_tlv(field)
	return function(tvb, t, off, n, ctx)
		t:add(field, tvb(off, n))
	end
end
decode[X_PUBKEY] = bytes_tlv(f.pubkey)
decode[X_NONCE] = bytes_tlv(f.nonce)
decode[X_NONCE_ECHO] = bytes_tlv(f.nonce_echo)

decode[X_KEY_ROTATE] = function(tvb, t, off, n, ctx)
	t:add(f.key_rotate_key, tvb(off, 32))
	t:add(f.key_rotate_proof, tvb(off + 32, 64))
end

decode[X_SIGNATURE] = function(tvb, t, off, n, ctx)
	t:add(f.signature, tvb(off, 64))
	t:add(f.signed_len, off - 2):set_generated()
	ctx.signed = true
end

-- OBSERVED: a family-tagged address, then a port (length 7 or 19, checked
-- before).
decode[X_OBSERVED] = function(tvb, t, off, n, ctx)
	local stop = off + n - 2
	local nx, s = parse_addr(tvb, t, off, stop, R_OBSERVED)
	if not nx then
		ctx.malformed = true
		return
	end
	if nx ~= stop then
		t:add(f.trailing, tvb(nx, stop - nx))
			:add_proto_expert_info(e.bad_addr_len, "Octets between the address and the port")
		ctx.malformed = true
	end
	t:add(f.observed_port, tvb(stop, 2))
	local port = tvb(stop, 2):uint()
	if tvb(off, 1):uint() == 2 then
		ctx.observed = string.format("[%s]:%d", s, port)
	else
		ctx.observed = string.format("%s:%d", s, port)
	end
	t:append_text(": " .. ctx.observed)
end

-- NAME (section 11): the sender's DNS name, ASCII; skippable, so a bad one
-- is the receiver's business (dimed drops the message).
decode[X_NAME] = function(tvb, t, off, n, ctx)
	if n == 0 then
		t:append_text(": (empty)")
		return
	end
	t:add(f.name, tvb(off, n))
	t:append_text(": " .. tvb(off, n):string())
end

decode[X_PAD] = function(tvb, t, off, n, ctx)
	if n > 0 then t:add(f.pad, tvb(off, n)) end
	t:append_text(string.format(": %d octets", n))
end

-- ------------------------------------------------------------------ DATA ---
-- Section 8.3: 0x80, three reserved (zero) octets, a non-zero tag, then one
-- whole IPv4 or IPv6 packet, which Wireshark's own dissectors decode. The
-- receiver drops (encap_malformed) non-zero reserved octets, tag 0, an inner
-- packet shorter than an IPv4 header or whose IP length is not the rest of
-- the datagram.
local ip_dissectors = {}
local function ip_dissector(v)
	if ip_dissectors[v] == nil then
		local ok, d = pcall(Dissector.get, v == 4 and "ip" or "ipv6")
		ip_dissectors[v] = ok and d or false
	end
	return ip_dissectors[v]
end

local function dissect_data(tvb, pinfo, tree, snapped)
	local len, rlen = tvb:len(), tvb:reported_len()
	pinfo.cols.protocol = "IHMP"
	local root = tree:add(ihmp, tvb(0, math.min(len, DATA_HDR)))
	root:set_text("IHMP DATA")
	root:add(f.data_type, tvb(0, 1))
	local malformed = false
	if len < DATA_HDR then
		if snapped then
			pinfo.cols.info = string.format("DATA (%d of %d octets captured)", len, rlen)
			return len
		end
		if len > 1 then root:add(f.undecoded, tvb(1, len - 1)) end
		root:add_proto_expert_info(e.data_short,
			string.format("DATA of %d octets ends inside its 8-octet header", len))
		pinfo.cols.info = "DATA truncated header [Malformed]"
		return len
	end
	local ri = root:add(f.data_reserved, tvb(1, 3))
	if tvb(1, 3):uint() ~= 0 then
		ri:add_proto_expert_info(e.data_reserved)
		malformed = true
	end
	local tag = tvb(4, 4):uint()
	local tgi = root:add(f.data_tag, tvb(4, 4))
	if tag == 0 then
		tgi:add_proto_expert_info(e.data_tag)
		malformed = true
	end
	root:append_text(string.format(", tag 0x%08x", tag))

	-- The inner packet: its version, and its length by its own header.
	local n, rn = len - DATA_HDR, rlen - DATA_HDR
	local v = n > 0 and math.floor(tvb(DATA_HDR, 1):uint() / 16) or nil
	local dis
	if rlen > len then
		root:add_proto_expert_info(e.snapped, string.format("Captured %d of %d octets", len, rlen))
	end
	if rn < MIN_INNER then
		if not snapped then
			root:add_proto_expert_info(e.data_short, string.format(
				"Inner packet of %d octets, shorter than an IPv4 header (20)", rn))
			malformed = true
		end
	elseif v == nil then
		-- nothing of the inner packet captured
	elseif v ~= 4 and v ~= 6 then
		root:add_proto_expert_info(e.data_inner,
			string.format("Inner packet of IP version %d, not 4 or 6", v))
		malformed = true
	else
		local want	-- the length the inner header claims (when captured)
		if v == 4 and n >= 4 then
			want = tvb(DATA_HDR + 2, 2):uint()
		elseif v == 6 and n >= 6 then
			want = 40 + tvb(DATA_HDR + 4, 2):uint()
		end
		if want and want ~= rn and not snapped then
			root:add_proto_expert_info(e.data_inner, string.format(
				"Inner IPv%d packet of %d octets by its header, %d in the datagram", v, want, rn))
			malformed = true
		end
		-- A Lua sub-tvb is as long as its captured octets: the inner
		-- dissectors would call a cut-off packet too short. In an ICMP
		-- error they know better.
		if not snapped or pinfo.in_error_pkt then dis = ip_dissector(v) end
	end
	root:append_text(string.format(", %d octets of %s", rn,
		(v == 4 or v == 6) and ("IPv" .. v) or "unknown"))

	local info = string.format("DATA tag 0x%08x", tag)
	if dis then
		-- The inner dissectors take over the columns. A broken inner
		-- packet (an exception in them, shown by them as "Malformed
		-- Packet") must not become a Lua error; receivers drop it.
		local ok = pcall(function() dis:call(tvb(DATA_HDR):tvb(), pinfo, tree) end)
		local inner = tostring(pinfo.cols.info)
		local proto = tostring(pinfo.cols.protocol)
		if not ok then
			malformed = true
		elseif inner ~= "" then
			info = info .. ": " .. proto .. " " .. inner
		end
	elseif n > 0 then
		root:add(f.undecoded, tvb(DATA_HDR, n))
	end
	if malformed then info = info .. " [Malformed]" end
	-- (TCP's analysis fences what it prepends: ours replaces all of it.)
	pinfo.cols.protocol:clear_fence()
	pinfo.cols.info:clear_fence()
	pinfo.cols.protocol = "IHMP"
	pinfo.cols.info = info
	return len
end

-- ------------------------------------------------------------- dissector ---
function ihmp.dissector(tvb, pinfo, tree)
	local len = tvb:len()
	if len > 0 and tvb(0, 1):uint() == DATA_TYPE then
		return dissect_data(tvb, pinfo, tree, tvb:reported_len() > len or pinfo.in_error_pkt)
	end
	pinfo.cols.protocol = "IHMP"
	pinfo.cols.info = "IHMP"
	local root = len > 0 and tree:add(ihmp, tvb:range(0, len)) or tree:add(ihmp)
	-- A cut-off capture, or a datagram quoted in an ICMP error: what is
	-- missing is not the sender's fault, so it is not called malformed.
	local snapped = tvb:reported_len() > len or pinfo.in_error_pkt

	if len == 0 then
		root:add_proto_expert_info(e.empty)
		pinfo.cols.info = "IHMP empty datagram [Malformed]"
		return 0
	end
	if tvb:reported_len() > len then
		root:add_proto_expert_info(e.snapped,
			string.format("Captured %d of %d octets", len, tvb:reported_len()))
	end
	if tvb:reported_len() > MAX_MSG then
		root:add_proto_expert_info(e.oversize,
			string.format("Message of %d octets, more than 1232", tvb:reported_len()))
	end

	local version = tvb(0, 1):uint()
	local vi = root:add(f.version, tvb(0, 1))
	if version ~= 1 then
		vi:add_proto_expert_info(e.bad_version, string.format("IHMP version %d, not 1: not decoded", version))
		if len > 1 then root:add(f.undecoded, tvb(1, len - 1)) end
		pinfo.cols.info = string.format("IHMP version %d (not decoded)", version)
		return len
	end

	local name, seq
	local function short(what)
		if snapped then	-- not malformed: the capture has not all of it
			pinfo.cols.info = string.format("IHMP (%d of %d octets captured)", len, tvb:reported_len())
			return len
		end
		root:add_proto_expert_info(e.short_header,
			string.format("Datagram of %d octets ends inside the %s", len, what))
		local info = "IHMP"
		if name then info = name end
		if seq then info = info .. string.format(" seq %d", seq) end
		pinfo.cols.info = info .. " truncated " .. what .. " [Malformed]"
		return len
	end

	if len < 2 then return short("header") end
	local mtype = tvb(1, 1):uint()
	local ti = root:add(f.type, tvb(1, 1))
	name = msg_name(mtype)
	if not rules[mtype] then
		ti:add_proto_expert_info(e.unknown_type, string.format("Unknown message type %d", mtype))
	end
	root:append_text(", " .. name)

	if len < 4 then return short("header") end
	local flags = tvb(2, 2):uint()
	local fi = root:add(f.flags, tvb(2, 2))
	local fl = flag_names(flags)
	if fl ~= "" then fi:append_text(" (" .. fl .. ")") end
	fi:add(f.flags_ou, tvb(2, 2))
	fi:add(f.flags_ns, tvb(2, 2))
	fi:add(f.flags_nd, tvb(2, 2))
	fi:add(f.flags_nf, tvb(2, 2))
	fi:add(f.flags_unassigned, tvb(2, 2))
	fi:add(f.flags_experimental, tvb(2, 2))

	if len < 6 then return short("header") end
	seq = tvb(4, 2):uint()
	root:add(f.seq, tvb(4, 2)):append_text(string.format(" (0x%04x)", seq))
	root:append_text(string.format(", seq %d", seq))

	if len < 8 then return short("header") end
	local hfam, hlen = tvb(6, 1):uint(), tvb(7, 1):uint()
	root:add(f.hid_family, tvb(6, 1))
	local hli = root:add(f.hid_length, tvb(7, 1))
	local ctx = { malformed = false }

	local ok_hid = (hfam == 1 and hlen == 4) or (hfam == 2 and hlen == 16)
	if not ok_hid then
		hli:add_proto_expert_info(e.bad_hid, string.format(
			"Host ID family %d with length %d (must be 1/4 or 2/16)", hfam, hlen))
		ctx.malformed = true
		-- Go on only if the length still tells where the TLVs start.
		if hlen ~= 4 and hlen ~= 16 then
			if len > HDR_LEN then root:add(f.undecoded, tvb(HDR_LEN, len - HDR_LEN)) end
			pinfo.cols.info = string.format("%s seq %d bad Host ID [Malformed]", name, seq)
			return len
		end
	end
	if len < HDR_LEN + hlen then
		if len > HDR_LEN then root:add(f.undecoded, tvb(HDR_LEN, len - HDR_LEN)) end
		return short("Host ID")
	end
	local hr = tvb(HDR_LEN, hlen)
	local hid_text
	if ok_hid then
		hid_text = tostring(hlen == 4 and hr:ipv4() or hr:ipv6())
		local hi = root:add(f.host_id, hr, hid_text)
		hi:add(hlen == 4 and f.host_id_ipv4 or f.host_id_ipv6, hr)
		if hlen == 16 and is_mapped_v4(hr) then hi:add_proto_expert_info(e.mapped_v4) end
	else
		root:add(f.host_id_raw, hr)
	end

	-- TLVs
	local rule = rules[mtype]
	local seen = {}
	local p = HDR_LEN + hlen
	local after_sig = false
	while p < len do
		if after_sig then
			root:add(f.trailing, tvb(p, len - p)):add_proto_expert_info(e.after_signature,
				string.format("%d octet(s) after the SIGNATURE TLV, which must end the message", len - p))
			ctx.malformed = true
			break
		end
		if len - p < 2 and snapped then
			root:add(f.undecoded, tvb(p, len - p))
			break
		end
		if len - p < 2 then
			root:add(f.trailing, tvb(p, 1)):add_proto_expert_info(e.stray_octet)
			ctx.malformed = true
			break
		end
		local t, n = tvb(p, 1):uint(), tvb(p + 1, 1):uint()
		local tname = tlv_name(t)
		if len - p - 2 < n and snapped then
			root:add(f.undecoded, tvb(p, len - p))
			break
		end
		if len - p - 2 < n then
			local tt = root:add(f.tlv, tvb(p, len - p))
			tt:set_text(string.format("TLV %s (truncated)", tname))
			tt:add(f.tlv_type, tvb(p, 1))
			tt:add(f.tlv_length, tvb(p + 1, 1)):add_proto_expert_info(e.truncated_tlv, string.format(
				"%s TLV length %d, only %d octet(s) left in the datagram", tname, n, len - p - 2))
			if len - p > 2 then tt:add(f.undecoded, tvb(p + 2, len - p - 2)) end
			ctx.malformed = true
			break
		end
		local tt = root:add(f.tlv, tvb(p, 2 + n))
		tt:set_text(tname)
		tt:add(f.tlv_type, tvb(p, 1))
		local li = tt:add(f.tlv_length, tvb(p + 1, 1))
		local off = p + 2
		local known = decode[t] ~= nil
		if t >= 1 and t <= X_OBSERVED then
			if seen[t] then
				tt:add_proto_expert_info(e.duplicate, string.format("Second %s TLV", tname))
				ctx.malformed = true
			end
			if rule and not rule.allowed[t] then
				tt:add_proto_expert_info(e.not_allowed,
					string.format("%s is not allowed in %s", tname, name))
				ctx.malformed = true
			end
			seen[t] = true
		end
		if known then
			local want = fixed_len[t]
			if want and n ~= want then
				li:add_proto_expert_info(e.bad_length,
					string.format("%s needs %d octets, has %d", tname, want, n))
				if n > 0 then tt:add(f.tlv_value, tvb(off, n)) end
				ctx.malformed = true
			elseif (t == X_NEW_ADDR or t == X_OLD_ADDR) and n ~= 5 and n ~= 17 then
				li:add_proto_expert_info(e.bad_length,
					string.format("%s needs 5 or 17 octets, has %d", tname, n))
				if n > 0 then tt:add(f.tlv_value, tvb(off, n)) end
				ctx.malformed = true
			elseif t == X_OBSERVED and n ~= 7 and n ~= 19 then
				li:add_proto_expert_info(e.bad_length,
					string.format("%s needs 7 or 19 octets, has %d", tname, n))
				if n > 0 then tt:add(f.tlv_value, tvb(off, n)) end
				ctx.malformed = true
			else
				decode[t](tvb, tt, off, n, ctx)
			end
		else
			tt:add(f.tlv_critical, t < SKIPPABLE):set_generated()
			if n > 0 then tt:add(f.tlv_value, tvb(off, n)) end
			if t < SKIPPABLE then
				tt:add_proto_expert_info(e.unknown_critical, string.format("Unknown critical TLV type %d", t))
				ctx.unsupported = true
			else
				tt:add_proto_expert_info(e.unknown_skippable, string.format("Unknown skippable TLV type %d", t))
			end
		end
		if t == X_SIGNATURE then after_sig = true end
		p = p + 2 + n
	end

	if rule and not snapped then
		local miss = {}
		for _, r in ipairs(rule.req) do
			if not seen[r] then miss[#miss + 1] = tlv_names[r] end
		end
		if #miss > 0 then
			root:add_proto_expert_info(e.missing,
				string.format("%s without %s", name, table.concat(miss, ", ")))
		end
	end
	if seen[X_SIGNATURE] and not seen[X_COUNTER] and not snapped then
		root:add_proto_expert_info(e.sig_no_counter)
	end

	-- Request/ACK matching (first pass fills the tables).
	local src, dst = tostring(pinfo.src), tostring(pinfo.dst)
	if not pinfo.visited and rule and not ctx.malformed and not snapped then
		if mtype == T_ACK then
			if ctx.echo then
				local k = req_key(ctx.echo, seq, dst, pinfo.dst_port, src, pinfo.src_port)
				local r = requests[k]
				if r then
					ack_of[pinfo.number] = r
					if not acked_in[r] then acked_in[r] = pinfo.number end
				end
			end
		else
			local k = req_key(mtype, seq, src, pinfo.src_port, dst, pinfo.dst_port)
			local r = requests[k]
			if r and r ~= pinfo.number then retrans_of[pinfo.number] = r end
			requests[k] = pinfo.number
		end
	end
	if mtype == T_ACK then
		if ack_of[pinfo.number] then
			root:add(f.ack_to, ack_of[pinfo.number]):set_generated()
		elseif pinfo.visited and rule and not ctx.malformed and not snapped then
			root:add_proto_expert_info(e.unmatched_ack)
		end
	else
		if acked_in[pinfo.number] then
			root:add(f.ack_in, acked_in[pinfo.number]):set_generated()
		end
		if retrans_of[pinfo.number] then
			root:add_proto_expert_info(e.retransmission,
				string.format("Retransmission of frame %d", retrans_of[pinfo.number]))
		end
	end

	-- Info column
	local info
	if mtype == T_ACK then
		info = string.format("ACK of %s seq %d", ctx.echo and msg_name(ctx.echo) or "?", seq)
	else
		info = string.format("%s seq %d", name, seq)
	end
	if ctx.addrs then info = info .. " addrs " .. table.concat(ctx.addrs, ",") end
	if ctx.new then info = info .. " new " .. ctx.new end
	if ctx.old then info = info .. " old " .. ctx.old end
	if ctx.nat then info = info .. " " .. ctx.nat end
	if ctx.observed then info = info .. " observed " .. ctx.observed end
	if fl ~= "" then info = info .. " [" .. fl .. "]" end
	if ctx.signed then info = info .. " signed" end
	if retrans_of[pinfo.number] then info = info .. " (retransmission)" end
	if ctx.unsupported then info = info .. " [unknown critical TLV]" end
	if ctx.malformed then info = info .. " [Malformed]" end
	pinfo.cols.info = info
	if hid_text then root:append_text(", Host ID " .. hid_text) end
	return len
end

udp_table:add(IHMP_PORT, ihmp)
udp_table:add_for_decode_as(ihmp)
