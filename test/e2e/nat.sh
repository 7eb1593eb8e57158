#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# nat.sh -- flows survive when the mobile host moves between NATs (issue 13),
# judged by real traffic, in the lab of test/lab/lab.sh with its routers
# turned into home NATs (lab_nat):
#
#                 NAT1 (R1): MH's 198.18.1.0/24 leaves as 198.18.0.1
#   MH ==wifi0== R1 --+
#     \               +-- bridge -- CH 198.18.0.10 / 2001:db8::10 (public; sshd,
#      ==lte0=== R2 --+      |                      echo and sink servers)
#                 NAT2 (R2): |      MH's 198.18.2.0/24 leaves as 198.18.0.2
#                            +-- attacker 198.18.0.66 (forged encapsulation)
#
# A NAT router masquerades MH's subnet (port-preserving, or port-randomising
# with "random"), lets nothing unsolicited in, and CH has no route to the
# subnet behind it. IPv6: a stateful firewall without translation (as home
# routers do), or NAT66 masquerade. Both hosts run dimed with zero
# configuration behind a stateful firewall (lab_firewall on 3463).
#
# Each case: fresh daemons, four flows started on MH's first network, a move
# 2.5 s later, then every flow must carry data after the move and end
# cleanly:
#   iperf3    iperf3 TCP MH -> CH (tcp_transfer; data after the move)
#   stream    a paced TCP stream (~2.4 MB over 8 s), sha256 at both ends
#   ssh       an OpenSSH session (sshd in CH's namespace, a throwaway key):
#             MH sends a counter line every 0.2 s through `cat` on CH, every
#             line comes back in order, some after the move, ssh exits 0
#   udp       numbered UDP datagrams every 50 ms to an echo server on CH,
#             echoes received after the move
#
# Cases (NAT_CASES; default all, in this order):
#   lab          the NAT helpers themselves, no dimed (MH reaches CH through
#                NAT1, CH sees R1_S4, nothing unsolicited gets in, the
#                randomising NAT changes the port, NAT66, off restores)
#   control      public -> public, hard (no NAT: today's dimed survives it;
#                proves the harness can pass)
#   pp-hard      NAT1 -> NAT2, port-preserving, hard (2 s gap)
#   pp-soft      ... soft (1 s overlap)
#   rnd-hard     NAT1 -> NAT2, port-randomising, hard
#   rnd-soft     ... soft
#   pub-nat      public (R1 plain) -> NAT2, hard; pub-nat-soft: soft
#   nat-pub      NAT1 -> public (R2 plain), hard; nat-pub-soft: soft
#   pub-nat-pub  public -> NAT2 -> public, hard twice: the flows (born on a
#                public path) leave the tunnel (N5), none is left in DATA
#   rebind       port-randomising NAT1 -> NAT2 (hard), then NAT2 forgets
#                every binding (conntrack -F: a new public port): flows go on
#   v6-fw        IPv6, routers with a stateful firewall (no translation), hard
#   v6-nat66     IPv6 through NAT66 masquerade on both routers, hard;
#                v6-nat66-soft: soft
#   forged       pp-hard, and after the move the attacker sends encapsulated
#                datagrams (right format, every plausible tag, inner packets
#                for the live stream at its current sequence numbers and a
#                marker for the UDP echo server) to CH's IHMP port: the
#                marker never reaches the server, the stream stays intact,
#                CH counts them (encap_bad_source)
#   capnet       rnd-hard with dimed as nobody holding only CAP_NET_ADMIN
#                (/dev/net/tun as Debian's udev makes it, 0666: a node of
#                our own bind-mounted in dimed's mount namespace only, since
#                a container may have it 0600)
#   restart-mh   rnd-hard, then (the flows encapsulated) MH's dimed is killed
#                with SIGKILL and started again 1 s later on its saved state:
#                every flow carries data after the restart
#   restart-ch   ... CH's dimed
#   idle         an idle TCP connection behind port-randomising NATs whose UDP
#                timeout is 10 s: an exchange before and after a NAT1 -> NAT2
#                move, 60 s of silence, then CH sends first (only a binding
#                kept alive lets it in), then MH
#
# Output: "ok N - ..." / "not ok N - ...", "# " notes (dimectl's view:
# nat_endpoint, public_endpoint, flow modes, encap counters; never
# asserted except where a check says so), the last line "N passed, N
# failed". Logs of a failed run stay in the directory printed at the end.
#
# Environment:
#   DIMED, DIMECTL  binaries (default <repo>/build/src/dimed, dimectl)
#   NAT_CASES       cases to run (default: all, in the order above)
#   NAT_KEEP        1: keep the log directory even when everything passed
#
# Needs root, iperf3, socat, nft, conntrack, sshd, ssh, ssh-keygen,
# setpriv, python3 (standard library only). About 5 minutes.
set -euo pipefail

NAT_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lab/dime.sh
source "$NAT_HERE/../lab/dime.sh"

NAT_ALL="lab control pp-hard pp-soft rnd-hard rnd-soft pub-nat pub-nat-soft nat-pub nat-pub-soft pub-nat-pub rebind v6-fw v6-nat66 v6-nat66-soft forged capnet restart-mh restart-ch idle"
NAT_CASES=${NAT_CASES:-$NAT_ALL}
IHMP_PORT=3463			# dimed's default IHMP port
SECS=8				# each flow's length (a case may say otherwise)
MOVE_AT=2.5			# s after the flows are up
STREAM_BYTES=2400000		# paced over SECS: ~300 kB/s
PY=$LAB_PYTHON

# name -> "title|R1|R2|family|move|extra|secs": R1/R2 are lab_nat options
# ("off" for a plain router), move is hard (2 s gap) or soft (1 s overlap),
# secs the flows' length (default SECS).
declare -A CASE=(
	[control]="public -> public, hard (control, no NAT)|off|off|4|hard|"
	[pp-hard]="NAT1 -> NAT2 port-preserving, hard|on|on|4|hard|"
	[pp-soft]="NAT1 -> NAT2 port-preserving, soft|on|on|4|soft|"
	[rnd-hard]="NAT1 -> NAT2 port-randomising, hard|on random|on random|4|hard|"
	[rnd-soft]="NAT1 -> NAT2 port-randomising, soft|on random|on random|4|soft|"
	[pub-nat]="public -> NAT2, hard|off|on|4|hard|"
	[pub-nat-soft]="public -> NAT2, soft|off|on|4|soft|"
	[nat-pub]="NAT1 -> public, hard|on|off|4|hard|"
	[nat-pub-soft]="NAT1 -> public, soft|on|off|4|soft|"
	[pub-nat-pub]="public -> NAT2 -> public, hard twice: flows leave the tunnel|off|on|4|hard|back|13"
	[rebind]="NAT1 -> NAT2 port-randomising, hard, then NAT2 rebinds (conntrack -F)|on random|on random|4|hard|rebind|13"
	[v6-fw]="IPv6, stateful-firewall routers, hard|on v6 firewall|on v6 firewall|6|hard|"
	[v6-nat66]="IPv6 through NAT66 (masquerade), hard|on v6 nat66|on v6 nat66|6|hard|"
	[v6-nat66-soft]="IPv6 through NAT66 (masquerade), soft|on v6 nat66|on v6 nat66|6|soft|"
	[forged]="NAT1 -> NAT2 port-preserving, hard, forged encapsulation from a third host|on|on|4|hard|forged|9"
	[capnet]="NAT1 -> NAT2 port-randomising, hard, dimed with only CAP_NET_ADMIN|on random|on random|4|hard|capnet"
	[restart-mh]="NAT1 -> NAT2 port-randomising, hard, then MH's dimed killed (SIGKILL) and started again|on random|on random|4|hard|restart-mh|13"
	[restart-ch]="NAT1 -> NAT2 port-randomising, hard, then CH's dimed killed (SIGKILL) and started again|on random|on random|4|hard|restart-ch|13"
)

# ============================================================ tools ===
# The programs the flows run (standard library only), written to LAB_DIR.
write_tool() {
	cat >"$1" <<-'EOF'
		import ctypes, hashlib, os, queue, random, select, socket, struct, subprocess, sys, threading, time

		def family(f): return socket.AF_INET if f == "4" else socket.AF_INET6
		def put(path, text):
		    with open(path + ".tmp", "w") as f: f.write(text)
		    os.replace(path + ".tmp", path)

		def peer_of(fam, addr, port, out, secs="5"):
		    """Accept one TCP connection; write the peer's address and port as seen here."""
		    s = socket.socket(family(fam), socket.SOCK_STREAM)
		    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		    s.bind((addr, int(port))); s.listen(1); s.settimeout(float(secs))
		    try:
		        c, peer = s.accept()
		        put(out, "%s %d\n" % (peer[0], peer[1])); c.close()
		    except OSError as e:
		        put(out, "none %s\n" % type(e).__name__)

		def connect(fam, src, sport, dst, port, secs):
		    """One TCP connection from src:sport; status 0 if it opened."""
		    s = socket.socket(family(fam), socket.SOCK_STREAM)
		    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		    s.bind((src, int(sport))); s.settimeout(float(secs))
		    try: s.connect((dst, int(port)))
		    except OSError as e: print("connect: %s" % e); sys.exit(1)
		    s.close()

		def udp_echo_server(fam, addr, port, secs, out):
		    """Echo every datagram for secs (or until out.stop appears); count them, and
		    those with the forger's marker."""
		    s = socket.socket(family(fam), socket.SOCK_DGRAM)
		    s.bind((addr, int(port))); s.settimeout(0.2)
		    n = marker = 0; peers = set(); end = time.time() + float(secs)
		    while time.time() < end and not os.path.exists(out + ".stop"):
		        try: d, peer = s.recvfrom(4096)
		        except socket.timeout: continue
		        n += 1; peers.add("%s:%d" % peer[:2])
		        if b"FORGED" in d: marker += 1; continue
		        try: s.sendto(d, peer)
		        except OSError: pass
		    put(out, "received=%d\nmarker=%d\npeers=%s\n" % (n, marker, ",".join(sorted(peers))))

		def udp_echo_client(fam, src, dst, port, secs, out):
		    """A numbered datagram every 50 ms from a connected socket (send errors ignored,
		    as a media app would); every echo's arrival time."""
		    s = socket.socket(family(fam), socket.SOCK_DGRAM)
		    s.bind((src, 0)); s.connect((dst, int(port)))
		    put(out + ".port", "%d\n" % s.getsockname()[1])
		    echoes = []; stop = threading.Event()
		    def rx():
		        s.settimeout(0.2)
		        while not stop.is_set():
		            try: d = s.recv(4096)
		            except socket.timeout: continue
		            except OSError: time.sleep(0.05); continue
		            echoes.append((time.time(), d.split()[0].decode()))
		            if len(echoes) == 1: put(out + ".ready", "")
		    t = threading.Thread(target=rx, daemon=True); t.start()
		    sent = errors = 0; end = time.time() + float(secs)
		    while time.time() < end:
		        try: s.send(b"%d %.6f" % (sent, time.time())); sent += 1
		        except OSError: errors += 1
		        time.sleep(0.05)
		    time.sleep(1.5); stop.set(); t.join()
		    put(out, "sent=%d\nerrors=%d\n" % (sent, errors) + "".join("e %.6f %s\n" % e for e in echoes))

		def stream_rx(fam, addr, port, out, idle):
		    """Receive one TCP stream to its end; sha256, and (time, bytes) samples."""
		    s = socket.socket(family(fam), socket.SOCK_STREAM)
		    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		    s.bind((addr, int(port))); s.listen(1); s.settimeout(30)
		    h = hashlib.sha256(); n = 0; samples = []; rc = 0; err = ""
		    try:
		        c, _ = s.accept(); c.settimeout(float(idle))
		        while True:
		            d = c.recv(65536)
		            if not d: break
		            h.update(d); n += len(d); samples.append((time.time(), n))
		        c.close()
		    except OSError as e:
		        rc, err = 1, type(e).__name__
		    put(out, "rc=%d\nerror=%s\nbytes=%d\nsha=%s\n" % (rc, err, n, h.hexdigest()) +
		        "".join("s %.6f %d\n" % x for x in samples))

		def stream_tx(fam, src, dst, port, nbytes, secs, out, grace):
		    """nbytes of random data, paced evenly over secs, then FIN and wait for the
		    receiver to close. Gives up grace s after the pace's end."""
		    data = os.urandom(int(nbytes)); sha = hashlib.sha256(data).hexdigest()
		    s = socket.socket(family(fam), socket.SOCK_STREAM)
		    s.bind((src, 0)); s.settimeout(3)
		    rc = 0; err = ""; off = 0; t0 = time.time(); deadline = t0 + float(secs) + float(grace)
		    try:
		        s.connect((dst, int(port)))
		        put(out + ".ready", "%d\n" % s.getsockname()[1])
		        step = 8192; rate = len(data) / float(secs)
		        while off < len(data):
		            wait = t0 + off / rate - time.time()
		            if wait > 0: time.sleep(wait)
		            s.settimeout(max(0.1, deadline - time.time()))
		            s.sendall(data[off:off + step]); off += step
		        s.shutdown(socket.SHUT_WR)
		        s.settimeout(max(0.1, deadline - time.time()))
		        while s.recv(4096): pass
		    except OSError as e:
		        rc, err = 1, type(e).__name__ + ":" + str(e).replace(" ", "_")
		    put(out, "rc=%d\nerror=%s\nbytes=%d\nsent=%d\nsha=%s\n" % (rc, err, len(data), min(off, len(data)), sha))

		def ssh_session(out, n, interval, wait, *cmd):
		    """Run ssh (its remote command echoes stdin); a counter line every interval,
		    every line that comes back time-stamped; ssh's status."""
		    err = open(out + ".err", "w")
		    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
		    lines = []
		    def rx():
		        for l in p.stdout:
		            lines.append((time.time(), l.decode(errors="replace").strip()))
		            if len(lines) == 1: put(out + ".ready", "")
		    t = threading.Thread(target=rx, daemon=True); t.start()
		    sent = 0
		    for i in range(1, int(n) + 1):
		        try: p.stdin.write(b"%d\n" % i); p.stdin.flush(); sent = i
		        except OSError: break
		        time.sleep(float(interval))
		    try: p.stdin.close()
		    except OSError: pass
		    try: rc = p.wait(timeout=float(wait))
		    except subprocess.TimeoutExpired:
		        p.kill(); p.wait(); rc = "timeout"
		    t.join(2)
		    put(out, "rc=%s\nsent=%d\n" % (rc, sent) + "".join("l %.6f %s\n" % x for x in lines))

		def idle_peer(role, fam, a, b, port, d, mine):
		    """One TCP connection (ch: listen on a:port; mh: from a to b:port). For each
		    round in mine (comma list), when d/idle.go.ROUND appears: send 64 KiB, the
		    peer echoes them, compare; result in d/idle.ROUND.res. Always echoes the
		    peer's rounds. Ends when d/idle.done appears."""
		    s = socket.socket(family(fam), socket.SOCK_STREAM)
		    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		    if role == "ch":
		        s.bind((a, int(port))); s.listen(1); s.settimeout(20); c, _ = s.accept()
		    else:
		        s.bind((a, 0)); s.settimeout(5); s.connect((b, int(port))); c = s
		    c.settimeout(None)
		    lock = threading.Lock(); replies = queue.Queue(); dead = []
		    def recvn(k):
		        buf = b""
		        while len(buf) < k:
		            x = c.recv(k - len(buf))
		            if not x: raise EOFError("closed")
		            buf += x
		        return buf
		    def rx():
		        try:
		            while True:
		                kind, k = struct.unpack("!cI", recvn(5)); data = recvn(k)
		                if kind == b"Q":
		                    with lock: c.sendall(b"R" + struct.pack("!I", k) + data)
		                else: replies.put(data)
		        except (OSError, EOFError) as e:
		            dead.append(type(e).__name__)
		    threading.Thread(target=rx, daemon=True).start()
		    for r in filter(None, mine.split(",")):
		        go = os.path.join(d, "idle.go." + r)
		        while not os.path.exists(go) and not os.path.exists(os.path.join(d, "idle.done")):
		            time.sleep(0.05)
		        if not os.path.exists(go): break
		        data = os.urandom(65536); t0 = time.time()
		        try:
		            with lock: c.settimeout(15); c.sendall(b"Q" + struct.pack("!I", len(data)) + data); c.settimeout(None)
		            back = replies.get(timeout=15)
		            res = "ok bytes=%d took=%.3f" % (len(back), time.time() - t0) if back == data else \
		                "fail echo differs (%d bytes back)" % len(back)
		        except queue.Empty:
		            res = "fail no echo within 15 s%s" % (" (connection: %s)" % dead[0] if dead else "")
		        except OSError as e:
		            res = "fail send: %s" % e
		        put(os.path.join(d, "idle.%s.res" % r), res + "\n")
		    while not os.path.exists(os.path.join(d, "idle.done")): time.sleep(0.1)

		# --- forged encapsulation ---------------------------------------------
		def csum(b):
		    if len(b) % 2: b += b"\0"
		    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
		    while s >> 16: s = (s & 0xffff) + (s >> 16)
		    return ~s & 0xffff

		def ip4(src, dst, proto, l4):
		    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), random.getrandbits(16), 0x4000, 64, proto, 0,
		                    socket.inet_aton(src), socket.inet_aton(dst))
		    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + l4

		def l4sum(src, dst, proto, seg):
		    return csum(socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, len(seg)) + seg)

		def tcp4(src, sport, dst, dport, seq, ack, opts, payload):
		    opts += b"\x01" * (-len(opts) % 4)
		    seg = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff, ack & 0xffffffff,
		                      (20 + len(opts)) // 4 << 4, 0x18, 512, 0, 0) + opts + payload
		    c = l4sum(src, dst, 6, seg)
		    return ip4(src, dst, 6, seg[:16] + struct.pack("!H", c) + seg[18:])

		def udp4(src, sport, dst, dport, payload):
		    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
		    c = l4sum(src, dst, 17, seg) or 0xffff
		    return ip4(src, dst, 17, seg[:6] + struct.pack("!H", c) + seg[8:])

		def parse4(p, ihmp, skip):
		    """(proto, src, sport, dst, dport, seq, ack, tcp options, payload length, tag or
		    None) of an IPv4 TCP/UDP packet, or of the packet inside an encapsulation
		    datagram (UDP to or from ihmp, first octet 0x80) not sent by skip."""
		    if len(p) < 20 or p[0] >> 4 != 4: return None
		    ihl = (p[0] & 15) * 4; proto = p[9]; src = socket.inet_ntoa(p[12:16]); dst = socket.inet_ntoa(p[16:20])
		    l4 = p[ihl:struct.unpack("!H", p[2:4])[0]]
		    if proto == 17 and len(l4) >= 16:
		        sport, dport = struct.unpack("!HH", l4[:4])
		        if ihmp in (sport, dport) and l4[8] == 0x80:
		            if src == skip: return None
		            r = parse4(l4[16:], ihmp, skip)
		            return r and r[:9] + (struct.unpack("!I", l4[12:16])[0],)
		        return ("udp", src, sport, dst, dport, 0, 0, b"", len(l4) - 8, None)
		    if proto == 6 and len(l4) >= 20:
		        sport, dport, seq, ack, off = struct.unpack("!HHIIB", l4[:13])
		        doff = (off >> 4) * 4
		        return ("tcp", src, sport, dst, dport, seq, ack, l4[20:doff], len(l4) - doff, None)
		    return None

		def forge(mode, at_ns, at_addr, ch, ihmp, secs, sport_tcp, uport, usport, srcs, out):
		    """Run in CH's namespace: sniff the live stream to CH's port sport_tcp (plain,
		    through dimed's TUN, or encapsulated) for its current sequence numbers and any
		    flow tag, then from the attacker's namespace send encapsulation datagrams to
		    ch:ihmp carrying TCP segments at CH's next expected sequence number (each
		    inner source in srcs, the port CH's socket sees) and UDP datagrams with the
		    marker to the echo server's port uport, under every tag seen and a spread of
		    others, for secs. mode "raw": the same inner packets, sent as they are
		    (spoofed sources): the control that shows they would hurt if delivered."""
		    ihmp, sport_tcp, uport, usport = int(ihmp), int(sport_tcp), int(uport), int(usport)
		    sn = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3)); sn.setblocking(False)
		    libc = ctypes.CDLL(None, use_errno=True)
		    fd = os.open("/run/netns/" + at_ns, os.O_RDONLY)
		    if libc.setns(fd, 0x40000000) != 0: raise OSError(ctypes.get_errno(), "setns")
		    tx = []
		    if mode == "raw":
		        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
		    else:
		        for p in (ihmp, 0):
		            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((at_addr, p)); tx.append(u)
		    st = {}; tags = set(); sent = 0; rounds = 0; known = 0
		    fixed = [0, 1, 2, 3, 0xffffffff] + [random.getrandbits(32) for _ in range(3)]
		    end = time.time() + float(secs)
		    while time.time() < end:
		        while True:
		            try: p = sn.recv(70000)
		            except BlockingIOError: break
		            r = parse4(p, ihmp, at_addr)
		            if not r: continue
		            proto, s, sp, d, dp, seq, ack, opts, ln, tag = r
		            if tag is not None and (dp in (sport_tcp, uport) or sp in (sport_tcp, uport)): tags.add(tag)
		            if proto != "tcp": continue
		            if dp == sport_tcp:	# MH -> CH: the tuple, options, CH's sequence
		                st.update(peer=(s, sp), opts=opts, ack=ack, nxt=seq + ln)
		            elif sp == sport_tcp:	# CH's ACKs: exactly what it expects next
		                st.update(nxt=ack, ack=seq)
		        pay = (b"FORGED-1234 " * 100)[:1000]
		        inner = []
		        if "peer" in st:
		            known += 1
		            for src in srcs.split(","):
		                for k in range(2):
		                    inner.append(tcp4(src, st["peer"][1], ch, sport_tcp, st["nxt"] + k * len(pay), st["ack"], st["opts"], pay))
		        else:
		            for src in srcs.split(","):
		                inner.append(tcp4(src, 40000, ch, sport_tcp, random.getrandbits(32), random.getrandbits(32), b"", pay))
		        for src in srcs.split(","):
		            inner.append(udp4(src, usport, ch, uport, b"FORGED-1234"))
		        if mode == "raw":
		            for i in inner:
		                try: raw.sendto(i, (ch, 0)); sent += 1
		                except OSError: pass
		        for tag in list(tags) + fixed if mode != "raw" else []:
		            for i in inner:
		                for u in tx:
		                    try: u.sendto(struct.pack("!BBHI", 0x80, 0, 0, tag) + i, (ch, ihmp)); sent += 1
		                    except OSError: pass
		        rounds += 1
		        time.sleep(0.03)
		    put(out, "sent=%d rounds=%d rounds_with_live_seq=%d tags_seen=%s peer=%s\n" % (
		        sent, rounds, known, ",".join("%08x" % t for t in sorted(tags)) or "none",
		        "%s:%d" % st["peer"] if "peer" in st else "unknown"))

		if __name__ == "__main__":
		    globals()[sys.argv[1].replace("-", "_")](*sys.argv[2:])
	EOF
}
tool() { "$PY" "$NAT_TOOL" "$@"; }

# ======================================================= lab checks ===
# peer_seen FAM SRC SPORT : MH connects from SRC:SPORT to CH; what CH saw ("ADDR PORT")
peer_seen() {
	local fam=$1 port ch pid
	port=$(lab_port) ch=$(lab_ch_addr "$fam")
	lab_bg lab_ch timeout 6 "$PY" "$NAT_TOOL" peer_of "$fam" "$ch" "$port" "$LAB_DIR/peer.$port" 4
	pid=$LAB_BG_PID
	lab_wait_listen "$LAB_NS_CH" tcp "$port" 10 || return 1
	lab_mh timeout 5 "$PY" "$NAT_TOOL" connect "$fam" "$2" "$3" "$ch" "$port" 3 >/dev/null || true
	lab_wait "$pid" || true
	cat "$LAB_DIR/peer.$port"
}

# from_core FAM ADDR : the attacker (a host on the core with routes to MH's
# subnets through R1/R2) connects to a listener on MH at ADDR: "open",
# "blocked", or "error" (no listener).
from_core() {
	local fam=$1 port pid at=$AT4
	[[ $fam == 4 ]] || at=$AT6
	port=$(lab_port)
	lab_bg lab_mh timeout 5 "$PY" "$NAT_TOOL" peer_of "$fam" "$2" "$port" "$LAB_DIR/peer.$port" 3
	pid=$LAB_BG_PID
	lab_wait_listen "$LAB_NS_MH" tcp "$port" 10 || { echo error; return 0; }
	if lab_at timeout 4 "$PY" "$NAT_TOOL" connect "$fam" "$at" 0 "$2" "$port" 2 >/dev/null 2>&1; then
		echo open
	else
		echo blocked
	fi
	lab_wait "$pid" || true
}

unsolicited_drops() {	# R1|R2 : packets R's NAT firewall dropped from the core
	ip netns exec "$(dime_ns "${1,,}")" nft list table inet labnat 2>/dev/null |
		sed -n 's/.*counter packets \([0-9]*\) .*comment "unsolicited".*/\1/p'
}

case_lab() {
	local got n0
	lab_nat R1 on
	got=$(peer_seen 4 "$MH_A4" 40001)
	check "lab: behind NAT1 MH reaches CH, which sees $R1_S4:40001 (port kept) [$got]" test "$got" = "$R1_S4 40001"
	check "lab: CH has no route to MH's subnet behind NAT1" bash -c "! ip -n $LAB_NS_CH route get $MH_A4 >/dev/null 2>&1"
	n0=$(unsolicited_drops R1)
	got=$(from_core 4 "$MH_A4")
	check "lab: a core host with a route to MH's subnet cannot connect through NAT1 [$got]" test "$got" = blocked
	check "lab: ... NAT1's firewall dropped it" test "$(unsolicited_drops R1)" -gt "$n0"
	got=$(peer_seen 6 "$MH_A6" 40002)
	check "lab: IPv6 through NAT1's stateful firewall untranslated (CH sees $MH_A6) [$got]" test "${got% *}" = "$MH_A6"
	got=$(from_core 6 "$MH_A6")
	check "lab: ... and nothing unsolicited gets in over IPv6 [$got]" test "$got" = blocked
	lab_nat R1 on random udp-timeout 10 v6 nat66
	got=$(peer_seen 4 "$MH_A4" 40003)
	check "lab: port-randomising NAT1 changes the source port (40003 -> ${got#* }) [$got]" \
		bash -c "[[ '${got% *}' == $R1_S4 && '${got#* }' =~ ^[0-9]+\$ && '${got#* }' != 40003 ]]"
	check "lab: udp-timeout 10 in R1's namespace" test "$(lab_r1 sysctl -n net.netfilter.nf_conntrack_udp_timeout)/$(lab_r1 sysctl -n net.netfilter.nf_conntrack_udp_timeout_stream)" = 10/10
	got=$(peer_seen 6 "$MH_A6" 40004)
	check "lab: NAT66: CH sees $R1_S6 and has no IPv6 route to MH's subnet [$got]" \
		bash -c "[[ '${got% *}' == $R1_S6 ]] && ! ip -n $LAB_NS_CH -6 route get $MH_A6 >/dev/null 2>&1"
	move_hard 0
	lab_nat R2 on
	got=$(peer_seen 4 "$MH_B4" 40005)
	check "lab: behind NAT2 CH sees $R2_S4:40005 [$got]" test "$got" = "$R2_S4 40005"
	move_back
	lab_nat R2 off
	lab_nat R1 off
	got=$(peer_seen 4 "$MH_A4" 40006)
	check "lab: NAT off: CH sees $MH_A4:40006 again, UDP timeouts restored [$got]" \
		bash -c "[[ '$got' == '$MH_A4 40006' && $(lab_r1 sysctl -n net.netfilter.nf_conntrack_udp_timeout) != 10 ]]"
	got=$(from_core 4 "$MH_A4")
	check "lab: NAT off: the core host can connect to MH (the control) [$got]" test "$got" = open
	forger_control
}

# forger_control : the forged case's inner packets, sent raw (spoofed
# source, no dimed) at a live paced stream and a UDP echo server: they must
# corrupt the stream and reach the server, or the forged case proves nothing.
forger_control() {
	local p u mark
	mark=$(wc -l <"$D/pids")
	rm -f "$D"/fc.*
	p=$(lab_port) u=$(lab_port)
	lab_bg lab_ch timeout 20 "$PY" "$NAT_TOOL" stream_rx 4 "$CH4" "$p" "$D/fc.srx" 8
	lab_bg lab_ch timeout 20 "$PY" "$NAT_TOOL" udp_echo_server 4 "$CH4" "$u" 8 "$D/fc.userv"
	local srv=$LAB_BG_PID
	lab_wait_listen "$LAB_NS_CH" tcp "$p" 10
	lab_wait_listen "$LAB_NS_CH" udp "$u" 10
	lab_bg lab_mh timeout 20 "$PY" "$NAT_TOOL" stream_tx 4 "$MH_A4" "$CH4" "$p" 1200000 4 "$D/fc.stx" 6
	local tx=$LAB_BG_PID
	sleep 1
	lab_ch "$PY" "$NAT_TOOL" forge raw "$LAB_NS_AT" "$AT4" "$CH4" "$IHMP_PORT" 1.5 "$p" "$u" 40000 "$MH_A4" "$D/fc.forge" ||
		echo "forger failed: status $?" >"$D/fc.forge"
	lab_wait "$tx" || true
	touch "$D/fc.userv.stop"
	lab_wait "$srv" || true
	lab_kill_since "$mark"
	note "forger control: $(cat "$D/fc.forge"); stream: $(judge_stream fc 0 2>&1 | head -n1)"
	check "lab: the forged case's TCP segments, delivered, corrupt a live stream" \
		bash -c "[[ -s $D/fc.srx && \$(sed -n 's/^sha=//p' $D/fc.srx) != \$(sed -n 's/^sha=//p' $D/fc.stx) ]]"
	check "lab: ... and its UDP marker, delivered, reaches the server" test "$(kv "$D/fc.userv" marker)" -gt 0
}

# ========================================================== daemons ===
# dimeds_start CASE : fresh daemons on MH and CH, zero configuration (capnet:
# as nobody:nogroup holding only CAP_NET_ADMIN, as test/pkg/capnetadmin.sh
# and the systemd unit run it: dime_unprivileged in test/lab/dime.sh)
# shellcheck disable=SC2034 # dime.sh reads them
dimeds_start() {
	local rc=0 dimed=$DIMED dimectl=$DIMECTL
	DIME_LOG=$NAT_OUT/$1.
	DIME_DIR=$LAB_DIR
	[[ $1 != capnet ]] || dime_unprivileged
	{ dime_start mh -l debug && dime_start ch -l debug; } || rc=$?
	DIMED=$dimed DIMECTL=$dimectl DIME_WRAP=()
	return "$rc"
}

# dimeds_stop : SIGTERM; 0 if both exited cleanly (no sanitizer report)
dimeds_stop() { dime_stop mh ch; }

stat_of() {	# HOST KEY : KEY's value anywhere in `dimectl -j stats` (dotted path or name), or "missing"
	dime_ctl "$1" -j stats 2>/dev/null | "$PY" -c '
import json, sys
def find(v, k):
    if isinstance(v, dict):
        if k in v and not isinstance(v[k], (dict, list)): return v[k]
        for x in v.values():
            r = find(x, k)
            if r is not None: return r
    return None
try: v = json.load(sys.stdin)
except ValueError: print("missing"); sys.exit()
k = sys.argv[1]
if "." in k:
    try:
        for p in k.split("."): v = v[p]
        r = v
    except (KeyError, TypeError): r = None
else: r = find(v, k)
print("missing" if r is None else r)' "$2"
}

flow_modes() {	# HOST : its flows counted by protocol and mode (tcp/encap=2 ...)
	dime_ctl "$1" -j show flows 2>/dev/null | "$PY" -c '
import collections, json, sys
try: fl = json.load(sys.stdin)["flows"]
except (ValueError, KeyError): print("?"); sys.exit()
c = collections.Counter("%s/%s" % (f.get("proto"), f.get("mode", "no-mode-key")) for f in fl)
print(" ".join("%s=%d" % kv for kv in sorted(c.items())) or "none")'
}

# what dimectl says (notes, never asserted): per HID its active addresses,
# nat_endpoint and public_endpoint; flows by mode; encapsulation counters.
dime_view() {
	local h
	for h in mh ch; do
		note "  $h: hids $(dime_ctl "$h" -j show hids 2>/dev/null | "$PY" -c '
import json, sys
try: hs = json.load(sys.stdin)["hids"]
except (ValueError, KeyError): print("?"); sys.exit()
print("; ".join("active=%s nat_endpoint=%s public_endpoint=%s" % (",".join(h.get("active", [])),
      h.get("nat_endpoint", "-"), h.get("public_endpoint", "-")) for h in hs) or "none")')"
		note "  $h: flows by mode $(flow_modes "$h"); stats encap_out=$(stat_of "$h" encap_out) encap_in=$(stat_of "$h" encap_in) encap_bad_source=$(stat_of "$h" encap_bad_source) encap_unknown_flow=$(stat_of "$h" encap_unknown_flow) nat_keepalives=$(stat_of "$h" nat_keepalives)"
	done
}

# ============================================================ flows ===
D=''	# LAB_DIR, once the lab is up
ssh_cmd() {	# FAM SRC : ssh to CH's sshd, remote command cat
	echo ssh -F /dev/null -i "$SSH_DIR/client" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=5 \
		-b "$2" -p "$SSH_PORT" -T "root@$(lab_ch_addr "$1")" cat
}

# flows_start TAG FAM SECS : the four flows from MH's current address, in the background
flows_start() {
	local tag=$1 fam=$2 SECS=$3 src dst p
	src=$(lab_addr "$fam") dst=$(lab_ch_addr "$fam")
	FL_PIDS=()
	tcp_transfer "$fam" "$SECS" "$tag-iperf" >/dev/null 2>&1 &
	FL_PIDS+=($!)
	p=$(lab_port)
	echo "$p" >"$D/$tag.stream-port"
	lab_bg lab_ch timeout -k 2 $((SECS + 40)) "$PY" "$NAT_TOOL" stream_rx "$fam" "$dst" "$p" "$D/$tag.srx" 8
	FL_PIDS+=("$LAB_BG_PID")
	lab_wait_listen "$LAB_NS_CH" tcp "$p" 10
	lab_bg lab_mh timeout -k 2 $((SECS + 30)) "$PY" "$NAT_TOOL" stream_tx "$fam" "$src" "$dst" "$p" \
		$((STREAM_BYTES * SECS / 8)) "$SECS" "$D/$tag.stx" 6
	FL_PIDS+=("$LAB_BG_PID")
	# shellcheck disable=SC2046
	lab_bg lab_mh timeout -k 2 $((SECS + 30)) "$PY" "$NAT_TOOL" ssh_session "$D/$tag.ssh" $((SECS * 5)) 0.2 6 \
		$(ssh_cmd "$fam" "$src")
	FL_PIDS+=("$LAB_BG_PID")
	p=$(lab_port)
	echo "$p" >"$D/$tag.udp-port"
	lab_bg lab_ch timeout -k 2 $((SECS + 30)) "$PY" "$NAT_TOOL" udp_echo_server "$fam" "$dst" "$p" $((SECS + 20)) "$D/$tag.userv"
	FL_SERVER=$LAB_BG_PID FL_STOP=$D/$tag.userv.stop
	lab_wait_listen "$LAB_NS_CH" udp "$p" 10
	lab_bg lab_mh timeout -k 2 $((SECS + 30)) "$PY" "$NAT_TOOL" udp_echo_client "$fam" "$src" "$dst" "$p" "$SECS" "$D/$tag.ucli"
	FL_PIDS+=("$LAB_BG_PID")
}

# flows_ready TAG : until each flow exchanged its first data (15 s at most)
flows_ready() {
	local i f missing
	for ((i = 0; i < 300; i++)); do
		missing=''
		for f in "$1-iperf.t0" "$1.stx.ready" "$1.ssh.ready" "$1.ucli.ready"; do
			[[ -e $D/$f ]] || missing+=" ${f#"$1".}"
		done
		[[ -z $missing ]] && return 0
		sleep 0.05
	done
	note "  flows not all up before the move after 15 s:$missing"
}

flows_wait() {	# the flows' ends, then the echo server's
	local p
	for p in "${FL_PIDS[@]}"; do lab_wait "$p" || true; done
	touch "$FL_STOP"
	lab_wait "$FL_SERVER" || true
	FL_PIDS=()
}

move_end() { awk 'END { print $NF }' "$D/events"; }
kv() { sed -n "s/^$2=//p" "$1" 2>/dev/null | head -n1; }
after() { awk -v m="$1" -v k="$2" '$1 == k && $2 > m { n++ } END { print n + 0 }' "$3"; }

judge_iperf() {	# TAG
	local r=$1-iperf
	[[ -f $D/$r.res ]] || { echo "no result (the helper died)"; return 1; }
	echo "bytes_recv=$(lab_result "$r" bytes_recv) rx_after_move=$(lab_result "$r" rx_after_move) client_rc=$(lab_result "$r" client_rc) client_error=$(lab_result "$r" client_error)"
	[[ $(lab_result "$r" survived) == yes && $(lab_result "$r" rx_after_move) -gt 0 ]]
}

judge_stream() {	# TAG MOVE_END
	local tx=$D/$1.stx rx=$D/$1.srx n
	[[ -f $tx && -f $rx ]] || { echo "no result (sender: $([[ -f $tx ]] && echo yes || echo none), receiver: $([[ -f $rx ]] && echo yes || echo none))"; return 1; }
	n=$(awk -v m="$2" '$1 == "s" && $2 <= m { b = $3 } END { print b + 0 }' "$rx")
	echo "bytes $(kv "$rx" bytes)/$(kv "$tx" bytes), after the move $(($(kv "$rx" bytes) - n)), sha256 $([[ $(kv "$rx" sha) == "$(kv "$tx" sha)" ]] && echo match || echo DIFFERS), sender rc=$(kv "$tx" rc) $(kv "$tx" error) receiver rc=$(kv "$rx" rc) $(kv "$rx" error)"
	[[ $(kv "$tx" rc) == 0 && $(kv "$rx" rc) == 0 && $(kv "$rx" sha) == "$(kv "$tx" sha)" &&
		$(kv "$rx" bytes) == "$(kv "$tx" bytes)" && $(($(kv "$rx" bytes) - n)) -gt 0 ]]
}

judge_ssh() {	# TAG MOVE_END
	local f=$D/$1.ssh inorder late
	[[ -f $f ]] || { echo "no result"; return 1; }
	inorder=$(awk '$1 == "l" { n++; if ($3 != n) bad = 1 } END { print bad ? "no" : "yes" }' "$f")
	late=$(after "$2" l "$f")
	echo "ssh rc=$(kv "$f" rc), lines sent $(kv "$f" sent), back $(grep -c '^l ' "$f") (in order: $inorder), after the move $late$([[ -s $f.err ]] && echo ", stderr: $(head -c 200 "$f.err" | tr '\n' ' ')")"
	[[ $(kv "$f" rc) == 0 && $(grep -c '^l ' "$f") == "$(kv "$f" sent)" && $inorder == yes && $late -gt 0 ]]
}

judge_udp() {	# TAG MOVE_END
	local f=$D/$1.ucli late
	[[ -f $f ]] || { echo "no result"; return 1; }
	late=$(after "$2" e "$f")
	echo "sent $(kv "$f" sent) (send errors $(kv "$f" errors)), echoes $(grep -c '^e ' "$f"), after the move $late; server: $(tr '\n' ' ' <"$D/$1.userv" 2>/dev/null)"
	((late >= 5))
}

judge_back() {	# flows that began on a public path left the NAT: off the tunnel (N5)
	dime_ctl mh -j show flows | "$PY" -c '
import json, sys
fl = [f for f in json.load(sys.stdin)["flows"] if f.get("proto") == "tcp"]
modes = sorted(f.get("mode", "?") for f in fl)
print("MH TCP flows by mode:", " ".join(modes) or "none")
sys.exit(0 if modes and "encap" not in modes else 1)'
}

said() { [[ -z $1 ]] || echo "$1"; shift; "$@"; }	# TEXT CMD... : say TEXT, then CMD's status
grown() { [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ ]] && (($2 > $1)); }	# BEFORE AFTER : numbers, and it grew
res_ok() { echo "$1"; [[ $1 == ok* ]]; }

verdict() {	# NAME CMD... : a tap line from CMD's status, its output as notes
	local name=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	tap_result "$rc" "$name"
	[[ -z $out ]] || sed 's/^/#   /' <<<"$out"
}

# ============================================================ cases ===
# forged TAG : the attacker's encapsulated datagrams at CH during the flows
forged_attack() {
	local tag=$1 usport srcs
	usport=$(cat "$D/$tag.ucli.port" 2>/dev/null || echo 40000)
	srcs="$MH_A4,$R1_S4"
	FORGE_BAD0=$(stat_of ch encap_bad_source)
	lab_ch "$PY" "$NAT_TOOL" forge encap "$LAB_NS_AT" "$AT4" "$CH4" "$IHMP_PORT" 2 \
		"$(cat "$D/$tag.stream-port")" "$(cat "$D/$tag.udp-port")" "$usport" "$srcs" "$D/$tag.forge" ||
		echo "forger failed: status $?" >"$D/$tag.forge"
	note "  attacker: $(cat "$D/$tag.forge")"
}

forged_verdicts() {
	local tag=$1 b1 m
	m=$(kv "$D/$tag.userv" marker)
	verdict "forged: CH's UDP server never received the forged marker" \
		said "datagrams with the marker at the server: ${m:-no result}" test "$m" = 0
	verdict "forged: the live TCP stream stayed intact (sha256)" judge_stream "$tag" "$(move_end)"
	b1=$(stat_of ch encap_bad_source)
	verdict "forged: CH counted them (encap_bad_source $FORGE_BAD0 -> $b1)" \
		said "" grown "$FORGE_BAD0" "$b1"
}

nat_set() {	# R1|R2 OPTIONS : lab_nat R on OPTIONS, or off
	# shellcheck disable=SC2086
	if [[ $2 == off ]]; then lab_nat "$1" off; else lab_nat "$1" $2; fi
}

run_case() {	# NAME
	local name=$1 title r1 r2 fam move extra secs mark rc=0 m f t0=$SECONDS
	IFS='|' read -r title r1 r2 fam move extra secs <<<"${CASE[$name]}"
	mark=$(wc -l <"$D/pids")
	[[ $(lab_cur) == A ]] || move_back
	nat_set R1 "$r1"
	nat_set R2 "$r2"
	note "$name: $title (R1: $r1, R2: $r2, IPv$fam)"
	if ! dimeds_start "$name" 2>/dev/null; then
		tap_result 1 "$name: dimed started on MH and CH: $DIME_ERR"
		case_end "$mark"
		return 0
	fi
	if [[ $name == capnet ]]; then
		check "$name: dimed runs as uid 65534 with CAP_NET_ADMIN only (MH and CH)" bash -c \
			"for p in $(dime_pid mh) $(dime_pid ch); do grep -Eq '^Uid:\s+65534\s' /proc/\$p/status &&
			 grep -Eq '^CapEff:\s+0000000000001000$' /proc/\$p/status || exit 1; done"
	fi
	rm -f "$D/$name".* "$D/$name"-*
	flows_start "$name" "$fam" "${secs:-$SECS}"
	flows_ready "$name"
	sleep "$MOVE_AT"
	case "$move" in
	hard) move_hard 2 ;;
	soft) move_soft 1 ;;
	esac
	case "$extra" in
	rebind)
		sleep 2
		note "  NAT2's binding for MH:3463 -> CH:3463 before: $(nat_binding R2)"
		lab_nat_rebind R2
		sleep 1
		note "  ... 1 s after conntrack -F: $(nat_binding R2)"
		;;
	forged)
		sleep 0.5
		forged_attack "$name"
		;;
	restart-mh | restart-ch)	# the flows encapsulated, then a crash and a restart
		sleep 1.5
		nat_restart "${extra#restart-}" "$name"
		;;
	back)	# and back to the public link A: no NAT on the path any more
		sleep 2.5
		move_hard 2
		;;
	esac
	flows_wait
	m=$(move_end)
	f="$name: $title:"
	verdict "$f iperf3 TCP" judge_iperf "$name"
	verdict "$f paced TCP stream, sha256" judge_stream "$name" "$m"
	verdict "$f OpenSSH session" judge_ssh "$name" "$m"
	verdict "$f UDP echo" judge_udp "$name" "$m"
	[[ $extra != forged ]] || forged_verdicts "$name"
	[[ $extra != back ]] || verdict "$f the TCP flows left the tunnel (back on their own address: native)" judge_back
	dime_view
	dimeds_stop 2>/dev/null || rc=1
	tap_result "$rc" "$name: dimed on MH and CH exit cleanly${DIME_ERR:+: $DIME_ERR}"
	DIME_ERR=''
	case_end "$mark"
	note "  $name: $((SECONDS - t0)) s"
}

# nat_restart HOST CASE : SIGKILL HOST's dimed (as a crash), start it again
# 1 s later on its saved state (docs/datapath.md "Restarts").
nat_restart() {
	local h=$1 p
	note "  $h's flows before the kill: $(flow_modes "$h")"
	p=$(dime_pid "$h")
	kill -KILL "$p"
	wait "$p" 2>/dev/null || true
	rm -f "$(dime_dir)/$h.pid"
	lab_stamp "kill9 $h"
	sleep 1
	if DIME_LOG=$NAT_OUT/$2. DIME_KEEP_STATE=1 dime_start "$h" -l debug 2>/dev/null; then
		note "  $h: $(grep -m1 'restored\|refused' "$NAT_OUT/$2.$h.log" | sed 's/^<[0-9]>//')"
	else
		note "  $h's dimed did not start again: $DIME_ERR"
	fi
	lab_stamp "restart $h"
}

case_end() {	# MARK : what the case started stopped, MH on A, plain routers
	lab_kill_since "$1"
	move_back
	lab_nat R1 off
	lab_nat R2 off
	# The next case's daemons would learn this one's dead connections from
	# conntrack (and the hosts' firewalls keep them as established).
	lab_nat_flush "$LAB_NS_MH"
	lab_nat_flush "$LAB_NS_CH"
}

nat_binding() {	# R1|R2 : the NAT's public port(s) for UDP to CH:3463
	ip netns exec "$(dime_ns "${1,,}")" conntrack -L -p udp --orig-dst "$CH4" --orig-port-dst "$IHMP_PORT" 2>/dev/null |
		awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^dport=/) d = $i; print d }' | sed 's/dport=/public port /' | tr '\n' ' '
	echo
}

# idle: one TCP connection, exchanges before and after a NAT1 -> NAT2 move,
# 60 s of silence behind NATs that forget UDP after 10 s, then CH first.
case_idle() {
	local port t0=$SECONDS mark r res dead=''
	mark=$(wc -l <"$D/pids")
	[[ $(lab_cur) == A ]] || move_back
	lab_nat R1 on random udp-timeout 10
	lab_nat R2 on random udp-timeout 10
	note "idle: port-randomising NAT1 -> NAT2 (hard), both with a 10 s UDP timeout, 60 s idle"
	if ! dimeds_start idle 2>/dev/null; then
		tap_result 1 "idle: dimed started on MH and CH: $DIME_ERR"
		case_end "$mark"
		return 0
	fi
	rm -f "$D"/idle.*
	port=$(lab_port)
	lab_bg lab_ch timeout -k 2 200 "$PY" "$NAT_TOOL" idle_peer ch 4 "$CH4" - "$port" "$D" late1
	lab_wait_listen "$LAB_NS_CH" tcp "$port" 10
	lab_bg lab_mh timeout -k 2 200 "$PY" "$NAT_TOOL" idle_peer mh 4 "$MH_A4" "$CH4" "$port" "$D" pre,post,late2
	round() {	# NAME : go, and wait for its result (20 s)
		local i
		touch "$D/idle.go.$1"
		for ((i = 0; i < 400; i++)); do [[ -f $D/idle.$1.res ]] && break; sleep 0.05; done
		cat "$D/idle.$1.res" 2>/dev/null || echo "fail no result after 20 s"
	}
	res=$(round pre)
	verdict "idle: 64 KiB MH -> CH and back before the move" res_ok "$res"
	move_hard 2
	res=$(round post)
	verdict "idle: 64 KiB MH -> CH and back after NAT1 -> NAT2" res_ok "$res"
	[[ $res == ok* ]] || dead="the connection did not survive the move, so no idle period was tried"
	dime_view
	if [[ -z $dead ]]; then
		note "  idle 60 s (NAT2 forgets a UDP binding after 10 s; NAT2's binding to CH:3463 now: $(nat_binding R2))"
		sleep 60
		note "  after 60 s: NAT2's bindings to CH:3463: $(nat_binding R2)"
		res=$(round late1)
	else
		res="fail: $dead"
	fi
	verdict "idle: after 60 s idle, CH sends first: 64 KiB CH -> MH and back" res_ok "$res"
	[[ -n $dead ]] || res=$(round late2)
	verdict "idle: ... then 64 KiB MH -> CH and back" res_ok "$res"
	local k1 k2
	k1=$(stat_of mh nat_keepalives) k2=$(stat_of ch nat_keepalives)
	verdict "idle: keepalives were sent (nat_keepalives MH $k1, CH $k2)" \
		grown 0 "$(( ${k1//[^0-9]/0} + ${k2//[^0-9]/0} ))"
	dime_view
	touch "$D/idle.done"
	local rc=0
	dimeds_stop 2>/dev/null || rc=1
	tap_result "$rc" "idle: dimed on MH and CH exit cleanly${DIME_ERR:+: $DIME_ERR}"
	DIME_ERR=''
	case_end "$mark"
	unset -f round
	note "  idle: $((SECONDS - t0)) s"
}

# ============================================================= main ===
ssh_setup() {	# sshd in CH's namespace on a test port, throwaway keys
	SSH_DIR=$D/ssh
	SSH_PORT=$(lab_port)
	mkdir -p "$SSH_DIR" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -C dime-lab-host -f "$SSH_DIR/host"
	ssh-keygen -q -t ed25519 -N '' -C dime-lab-client -f "$SSH_DIR/client"
	cp "$SSH_DIR/client.pub" "$SSH_DIR/authorized_keys"
	cat >"$SSH_DIR/sshd_config" <<-EOF
		Port $SSH_PORT
		ListenAddress $CH4
		ListenAddress $CH6
		HostKey $SSH_DIR/host
		AuthorizedKeysFile $SSH_DIR/authorized_keys
		PidFile none
		StrictModes no
		UsePAM no
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UseDNS no
		PrintMotd no
		LogLevel ERROR
	EOF
	lab_bg lab_ch "$(command -v sshd)" -D -e -f "$SSH_DIR/sshd_config" 2>>"$NAT_OUT/sshd.log"
	lab_wait_listen "$LAB_NS_CH" tcp "$SSH_PORT" 10
}

main() {
	local c start=$SECONDS
	preflight root dimed ip nft conntrack iperf3 socat sshd ssh ssh-keygen setpriv mknod timeout python3
	for c in $NAT_CASES; do
		[[ $c == lab || $c == idle || -n ${CASE[$c]:-} ]] || tap_bail "unknown case '$c' (cases: $NAT_ALL)"
	done
	NAT_OUT=$(mktemp -d "${TMPDIR:-/tmp}/dime-nat.XXXXXX")
	# A private copy: a rebuild while the test runs cannot swap the binaries.
	dime_copy_bins "$NAT_OUT/bin"
	export LAB_GRACE=1 LAB_SND_TIMEOUT_MS=8000
	lab_up
	D=$LAB_DIR
	lab_attacker
	lab_firewall on "$IHMP_PORT"
	# Four flows and two daemons (sanitizer builds) share two cores.
	link_rate A 100mbit
	link_rate B 100mbit
	NAT_TOOL=$D/nat_tool.py
	write_tool "$NAT_TOOL"
	ssh_setup
	note "/dev/net/tun: $(stat -c '%A %U' /dev/net/tun 2>/dev/null || echo absent)"
	for c in $NAT_CASES; do
		case "$c" in
		lab) case_lab ;;
		idle) case_idle ;;
		*) run_case "$c" ;;
		esac
	done
	note "runtime $((SECONDS - start)) s; logs in $NAT_OUT"
	if ((TAP_FAIL == 0)) && [[ ${NAT_KEEP:-0} != 1 ]]; then rm -rf "$NAT_OUT"; fi
	tap_summary
}

main "$@"
