#!/usr/bin/python3
"""
The DNS vectors of test/unit/test_dns.c, made with dnspython, an
implementation independent of src/dns.c.

Needs python3-dnspython (Debian 12: 2.3.0); it is not run in CI, and the
tests do not need it: its output is pasted into test_dns.c, between the
"dns_vectors.py output" markers, by hand:

    /usr/bin/python3 test/unit/dns_vectors.py > /tmp/v.c

Everything is fixed (keys, IDs, the clock), so the output is the same on
every run (dnspython shuffles the records of an RRset unless told not to:
want_shuffle=False). What it makes:

  upd256     the UPDATE of zone dime.test that makes 198.18.0.1, 198.18.0.2
             and 2001:db8::1 the addresses of mh.dime.test (TTL 60, ID
             0x1234), TSIG-signed with key256 at T_SIGN: dnspython's own
             rendering, which src/dns.c must reproduce byte for byte;
  upd256_mac its MAC, for the answers;
  ans256     the answer dnspython, as the server, signs at T_SIGN + 1 with
             key256 (it verified upd256 first: from_wire with a keyring);
  badtime256 a signed BADTIME answer (rcode NOTAUTH, TSIG error 18, the
             server's time T_SIGN + 1000 in other data);
  badkey256  an unsigned BADKEY answer (TSIG error 17, no MAC), as a server
             that does not know the key sends it (RFC 8945 5.2.2; dnspython
             has no call for it, so its TSIG record is put together here);
  upd512, upd512_mac, ans512: the same with key512 (HMAC-SHA512);
  query      dnspython's make_query for www.dime.test A, ID 0x4321;
  cname_a    an answer to it: www CNAME a, a CNAME b, b A x2, b AAAA, and
             an A record of another name (compressed by dnspython);
  cname_aaaa the same for the AAAA question.

The knot_* vectors of test_dns.c are not from here: they are Knot DNS
3.2.6's answers to requests src/dns.c built and signed, captured once by
hand. knotd ran in a private network namespace (ip netns add dnstest-PID,
198.18.250.1/32 on its lo) serving zone dime.test with keys ddns-key
(hmac-sha256, SECRET256) and ddns-key512 (hmac-sha512, SECRET512), ACL
action update; a throwaway driver linked with src/dns.c sent the UPDATE
or query over UDP and printed the request MAC, the time and the answer.
"""
import base64
import struct
import time
from unittest import mock

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import dns.update

T_SIGN = 1767225600  # 2026-01-01 00:00:00 UTC
SECRET256 = base64.b64encode(bytes(range(1, 33))).decode()
SECRET512 = base64.b64encode(bytes(range(101, 165))).decode()
KEYNAME = dns.name.from_text("ddns-key.")


def at(t):
    """dnspython takes the time signed from time.time()."""
    return mock.patch.object(time, "time", return_value=float(t))


def update(secret, alg):
    ring = dns.tsigkeyring.from_text({"ddns-key.": (alg, secret)})
    u = dns.update.UpdateMessage("dime.test.", id=0x1234)
    u.delete("mh", "A")
    u.delete("mh", "AAAA")
    u.add("mh", 60, "A", "198.18.0.1")
    u.add("mh", 60, "A", "198.18.0.2")
    u.add("mh", 60, "AAAA", "2001:db8::1")
    u.use_tsig(ring, KEYNAME, algorithm=alg)
    with at(T_SIGN):
        wire = u.to_wire(want_shuffle=False)
        req = dns.message.from_wire(wire, keyring=ring)  # verifies it
    return ring, wire, req


def answer(req, **tsig):
    resp = dns.message.make_response(req)
    if tsig:
        resp.use_tsig(req.keyring, req.keyname, algorithm=req.keyalgorithm, **tsig)
        resp.set_rcode(dns.rcode.NOTAUTH)
    with at(T_SIGN + 1):
        return resp.to_wire(want_shuffle=False)


def badkey(req):
    """An answer with a TSIG record of error BADKEY and no MAC."""
    resp = dns.message.make_response(req)
    resp.set_rcode(dns.rcode.NOTAUTH)
    resp.keyring = None
    resp.tsig = None
    wire = bytearray(resp.to_wire(want_shuffle=False))
    wire[10:12] = struct.pack("!H", 1)
    alg = dns.name.from_text(req.keyalgorithm).to_wire() if isinstance(req.keyalgorithm, str) \
        else req.keyalgorithm.to_wire()
    rdata = alg + struct.pack("!HIHH", 0, T_SIGN, 300, 0) + struct.pack("!HHH", req.id, 17, 0)
    wire += KEYNAME.to_wire() + struct.pack("!HHIH", dns.rdatatype.TSIG, dns.rdataclass.ANY, 0, len(rdata))
    return bytes(wire + rdata)


def cname_answer(rdtype):
    q = dns.message.make_query("www.dime.test.", rdtype, id=0x4321)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA | dns.flags.RA
    add = r.answer.append
    add(dns.rrset.from_text("www.dime.test.", 300, "IN", "CNAME", "a.dime.test."))
    add(dns.rrset.from_text("a.dime.test.", 200, "IN", "CNAME", "b.dime.test."))
    add(dns.rrset.from_text("b.dime.test.", 60, "IN", "A", "198.18.0.10", "198.18.0.11"))
    add(dns.rrset.from_text("b.dime.test.", 30, "IN", "AAAA", "2001:db8::10"))
    add(dns.rrset.from_text("other.dime.test.", 10, "IN", "A", "198.18.0.99"))
    return q.to_wire(), r.to_wire(want_shuffle=False)


def emit(name, b):
    print(f"/* {len(b)} octets */")
    print(f"static const char {name}_hex[] =")
    for i in range(0, len(b), 32):
        print(f'\t"{b[i:i + 32].hex()}"')
    print("\t;")


def main():
    print("/* BEGIN dns_vectors.py output */")
    print(f"#define T_SIGN {T_SIGN}ULL")
    print(f'#define SECRET256 "{SECRET256}"')
    print(f'#define SECRET512 "{SECRET512}"')
    ring, wire, req = update(SECRET256, dns.tsig.HMAC_SHA256)
    emit("upd256", wire)
    emit("upd256_mac", req.mac)
    emit("ans256", answer(req))
    emit("badtime256", answer(req, tsig_error=dns.rcode.BADTIME,
                              other_data=struct.pack("!HI", 0, T_SIGN + 1000)))
    emit("badkey256", badkey(req))
    ring, wire, req = update(SECRET512, dns.tsig.HMAC_SHA512)
    emit("upd512", wire)
    emit("upd512_mac", req.mac)
    emit("ans512", answer(req))
    q, a = cname_answer("A")
    emit("query", q)
    emit("cname_a", a)
    q, a = cname_answer("AAAA")
    emit("cname_aaaa", a)
    print("/* END dns_vectors.py output */")


if __name__ == "__main__":
    main()
