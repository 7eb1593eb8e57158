#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dissector_check.py -- checks on the lab capture of test/e2e/dissector.sh.

  dissector_check.py FIELDS.tsv VERBOSE.txt STDERR.txt KEY=VALUE...

FIELDS.tsv is `tshark -T fields -E header=y -E separator='|' -E occurrence=a
-E aggregator=,` of the capture (with the IHMP dissector), VERBOSE.txt its
`tshark -V`, STDERR.txt what tshark wrote to stderr. Keys: mh_a4 mh_b4 mh_a6
mh_b6 ch4 ch6 (the lab's addresses), out=PREFIX. Check N appends one line per
problem to PREFIX<N> (empty file: check passed):

  1 capture: IHMP in both families, every frame decoded, no Malformed/Lua error
  2 HELLO from MH and CH's ACK of it
  3 HANDOFF per family: new = MH's address on B, old = on A
  4 ACK of each HANDOFF (ECHO = HANDOFF, same seq, back to the new address)
  5 PATH_PROBE from CH to MH's new address with NONCE, ACK with NONCE_ECHO
  6 every message signed (SIGNATURE last, COUNTER), counters unique per sender
  7 OBSERVED in every ACK but a HELLO challenge (docs/ihmp.md 5.6, 8.1 N1):
    the address and port the ACK goes to, and its request's source

Prints a short account of what it found. Standard library only.
"""
import sys

HELLO, PATH_PROBE, HANDOFF, ACK = 1, 2, 7, 9


def main(argv):
    tsv, verbose, stderr = argv[1:4]
    kv = dict(a.split("=", 1) for a in argv[4:])
    out = kv["out"]
    probs = {i: [] for i in range(1, 8)}

    rows = []
    with open(tsv, encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("|")
        for line in f:
            vals = line.rstrip("\n").split("|")
            r = dict(zip(head, vals + [""] * (len(head) - len(vals))))
            r["src"] = r["ip.src"] or r["ipv6.src"]
            r["dst"] = r["ip.dst"] or r["ipv6.dst"]
            r["fam"] = 4 if r["ip.src"] else 6
            r["type"] = int(r["ihmp.type"]) if r["ihmp.type"] else None
            rows.append(r)

    mh = {kv["mh_a4"], kv["mh_b4"], kv["mh_a6"], kv["mh_b6"]}
    ch = {kv["ch4"], kv["ch6"]}
    a = {4: kv["mh_a4"], 6: kv["mh_a6"]}
    b = {4: kv["mh_b4"], 6: kv["mh_b6"]}
    chf = {4: kv["ch4"], 6: kv["ch6"]}

    def fr(r):
        return "frame %s (%s)" % (r["frame.number"], r["_ws.col.Info"])

    # 1 -- capture, decoding
    p = probs[1]
    if not rows:
        p.append("no frames in the capture")
    for r in rows:
        if "ihmp" not in r["frame.protocols"].split(":"):
            p.append("frame %s not decoded as IHMP: %s" % (r["frame.number"], r["frame.protocols"]))
    for fam in (4, 6):
        if not any(r["fam"] == fam and r["type"] for r in rows):
            p.append("no IHMP over IPv%d" % fam)
    text = open(verbose, encoding="utf-8", errors="replace").read()
    for bad in ("Malformed", "Lua Error", "Dissector bug"):
        n = text.count(bad)
        if n:
            p.append("tshark -V shows %r %d times" % (bad, n))
    err = open(stderr, encoding="utf-8", errors="replace").read().strip()
    if err:
        p.append("tshark stderr: " + err.replace("\n", " / ")[:300])

    ihmp = [r for r in rows if r["type"]]

    def acks_of(req, echo):
        """ACKs of req after its first transmission (a retransmission has
        the same type, seq and addresses, and may follow the ACK)."""
        first = min(int(r["frame.number"]) for r in ihmp
                    if r["type"] == req["type"] and r["ihmp.seq"] == req["ihmp.seq"]
                    and r["src"] == req["src"] and r["dst"] == req["dst"])
        return [r for r in ihmp if r["type"] == ACK and r["ihmp.echo"] == str(echo)
                and r["ihmp.seq"] == req["ihmp.seq"] and r["src"] == req["dst"]
                and r["dst"] == req["src"] and int(r["frame.number"]) > first]

    # 2 -- HELLO and its ACK
    p = probs[2]
    hellos = [r for r in ihmp if r["type"] == HELLO and r["src"] in mh and r["dst"] in ch]
    if not hellos:
        p.append("no HELLO from MH to CH")
    for h in hellos:
        addrs = h["ihmp.addrs"].split(",") if h["ihmp.addrs"] else []
        if h["src"] not in addrs:
            p.append("%s: ADDRS %s without the source %s" % (fr(h), addrs, h["src"]))
        if not set(addrs) <= {a[4], a[6]}:
            p.append("%s: ADDRS %s not MH's addresses on A" % (fr(h), addrs))
        if h["ihmp.host_id"] != h["src"]:
            p.append("%s: Host ID %s, source %s" % (fr(h), h["ihmp.host_id"], h["src"]))
        if len(h["ihmp.pubkey"]) != 64:
            p.append("%s: no 32-octet PUBKEY" % fr(h))
        acks = acks_of(h, HELLO)
        if not acks:
            p.append("%s: no ACK (ECHO = HELLO, seq %s) from %s" % (fr(h), h["ihmp.seq"], h["dst"]))
        for k in acks:
            if k["ihmp.nonce"]:
                # CH's challenge (docs/ihmp.md 5.1): a cookie, MH's nonce
                # echoed, no addresses; MH's next HELLO echoes the cookie.
                if len(k["ihmp.nonce"]) != 32 or k["ihmp.addrs"]:
                    p.append("%s: a challenge with NONCE %r and ADDRS %r" % (fr(k), k["ihmp.nonce"], k["ihmp.addrs"]))
                if k["ihmp.nonce_echo"] != h["ihmp.nonce"]:
                    p.append("%s: challenge echoes %r, the HELLO's NONCE was %r"
                             % (fr(k), k["ihmp.nonce_echo"], h["ihmp.nonce"]))
                if not any(r["ihmp.nonce_echo"] == k["ihmp.nonce"] for r in hellos):
                    p.append("%s: no HELLO answers the challenge" % fr(k))
                continue
            kaddrs = k["ihmp.addrs"].split(",") if k["ihmp.addrs"] else []
            if k["src"] not in kaddrs or not set(kaddrs) <= ch:
                p.append("%s: ADDRS %s, want CH's addresses incl. %s" % (fr(k), kaddrs, k["src"]))
            if len(k["ihmp.pubkey"]) != 64 or k["ihmp.pubkey"] == h["ihmp.pubkey"]:
                p.append("%s: PUBKEY %r, want CH's own key" % (fr(k), k["ihmp.pubkey"]))

    # 3, 4 -- HANDOFF per family and its ACK
    for fam in (4, 6):
        hos = [r for r in ihmp if r["type"] == HANDOFF and r["fam"] == fam]
        if not hos:
            probs[3].append("no HANDOFF over IPv%d" % fam)
        for h in hos:
            want = (b[fam], b[fam], a[fam], chf[fam])
            got = (h["src"], h["ihmp.new_addr"], h["ihmp.old_addr"], h["dst"])
            if got != want:
                probs[3].append("%s: src/new/old/dst %s, want %s" % (fr(h), got, want))
            if h["ihmp.host_id"] not in mh:
                probs[3].append("%s: Host ID %s not an MH address" % (fr(h), h["ihmp.host_id"]))
            if not acks_of(h, HANDOFF):
                probs[4].append("%s: no ACK with ECHO = HANDOFF, seq %s, from %s to %s"
                                % (fr(h), h["ihmp.seq"], h["dst"], h["src"]))
        if not hos:
            probs[4].append("no HANDOFF over IPv%d to acknowledge" % fam)

    # 5 -- return routability: PATH_PROBE to the new address, NONCE_ECHO
    for fam in (4, 6):
        prs = [r for r in ihmp if r["type"] == PATH_PROBE and r["src"] == chf[fam] and r["dst"] == b[fam]]
        if not prs:
            probs[5].append("no PATH_PROBE over IPv%d from %s to %s" % (fam, chf[fam], b[fam]))
        for pr in prs:
            if len(pr["ihmp.nonce"]) != 32:
                probs[5].append("%s: no 16-octet NONCE" % fr(pr))
            ks = acks_of(pr, PATH_PROBE)
            if not ks:
                probs[5].append("%s: no ACK with ECHO = PATH_PROBE" % fr(pr))
            for k in ks:
                if k["ihmp.nonce_echo"] != pr["ihmp.nonce"]:
                    probs[5].append("%s: NONCE_ECHO %r, NONCE was %r"
                                    % (fr(k), k["ihmp.nonce_echo"], pr["ihmp.nonce"]))

    # 6 -- signatures and counters
    seen = {}
    for r in ihmp:
        if len(r["ihmp.signature"]) != 128:
            probs[6].append("%s: no 64-octet SIGNATURE" % fr(r))
            continue
        try:
            payload = int(r["udp.length"]) - 8
            slen = int(r["ihmp.signed_len"])
        except ValueError:
            probs[6].append("%s: no UDP length or signed length" % fr(r))
            continue
        if slen + 66 != payload:
            probs[6].append("%s: SIGNATURE TLV at %d of %d octets: not last" % (fr(r), slen, payload))
        if not r["ihmp.counter"].startswith("0x") or int(r["ihmp.counter"], 16) == 0:
            probs[6].append("%s: COUNTER %r" % (fr(r), r["ihmp.counter"]))
            continue
        side = "MH" if r["src"] in mh else "CH" if r["src"] in ch else r["src"]
        c = int(r["ihmp.counter"], 16)
        if (side, c) in seen:
            probs[6].append("%s: COUNTER 0x%x repeats frame %s" % (fr(r), c, seen[(side, c)]))
        seen[(side, c)] = r["frame.number"]

    # 7 -- OBSERVED: where the request came from, so where the ACK goes
    p = probs[7]
    acks = [r for r in ihmp if r["type"] == ACK]
    if not acks:
        p.append("no ACK in the capture")
    nobs = nchal = 0
    for k in acks:
        if k["ihmp.echo"] == str(HELLO) and k["ihmp.nonce"]:
            nchal += 1          # a challenge (5.1): nothing proven, no OBSERVED owed
            continue
        if not k["ihmp.observed"]:
            p.append("%s: no OBSERVED" % fr(k))
            continue
        nobs += 1
        obs = (k["ihmp.observed"], k["ihmp.observed.port"])
        if obs != (k["dst"], k["udp.dstport"]):
            p.append("%s: OBSERVED %s port %s, the ACK goes to %s port %s"
                     % (fr(k), obs[0], obs[1], k["dst"], k["udp.dstport"]))
        reqs = [r for r in ihmp if r["type"] != ACK and str(r["type"]) == k["ihmp.echo"]
                and r["ihmp.seq"] == k["ihmp.seq"] and r["src"] == k["dst"] and r["dst"] == k["src"]
                and int(r["frame.number"]) < int(k["frame.number"])]
        if not reqs:
            p.append("%s: its request is not in the capture" % fr(k))
        for q in reqs:
            if (q["src"], q["udp.srcport"]) != obs:
                p.append("%s: OBSERVED %s port %s, the request %s came from %s port %s"
                         % (fr(k), obs[0], obs[1], fr(q), q["src"], q["udp.srcport"]))

    for i, lines in probs.items():
        with open(out + str(i), "a", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
    counts = {}
    for r in ihmp:
        counts[(r["type"], r["fam"])] = counts.get((r["type"], r["fam"]), 0) + 1
    names = {1: "HELLO", 2: "PATH_PROBE", 7: "HANDOFF", 9: "ACK"}
    print("frames %d, IHMP %d: %s" % (len(rows), len(ihmp), ", ".join(
        "%s/v%d %d" % (names.get(t, t), fam, n) for (t, fam), n in sorted(counts.items()))))
    print("ACKs with OBSERVED %d, HELLO challenges %d" % (nobs, nchal))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
