# SPDX-License-Identifier: MIT
"""labnet.py -- what the lab's Python helpers share (standard library only):
many TCP connections and their echoes, times from `ip -ts monitor`, and
the command dispatch of a helper tool.
Imported by test/e2e/ihmp_tool.py and bench/sig_tool.py."""
import datetime
import errno
import resource
import selectors
import socket
import sys
import time


def raise_nofile():
    """As many descriptors as the hard limit allows, up to 200,000."""
    for n in (200000, 65536):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            return
        except (ValueError, OSError):
            pass


def echo_server(af, bind, port, secs):
    """Echo every TCP connection's bytes back for SECS seconds."""
    raise_nofile()
    ls = socket.socket(af, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((bind, int(port)))
    ls.listen(65535)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    end = time.monotonic() + float(secs)
    while time.monotonic() < end:
        for key, _ in sel.select(0.2):
            if key.fileobj is ls:
                while True:
                    try:
                        c, _ = ls.accept()
                    except OSError:     # nothing more to accept (or a failed one)
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ)
                continue
            c = key.fileobj
            try:
                b = c.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                b = b""
            if b:
                try:
                    c.send(b)
                except OSError:
                    pass
            else:
                sel.unregister(c)
                c.close()


def open_conns(af, src, dst, port, n, batch=500):
    """N non-blocking TCP connections SRC -> DST:PORT, BATCH at a time;
    (connected sockets, how many failed)."""
    socks, failed = [], 0
    for start in range(0, n, batch):
        sel = selectors.DefaultSelector()
        pending = 0
        for _ in range(start, min(n, start + batch)):
            s = socket.socket(af, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                if af == socket.AF_INET:
                    s.setsockopt(socket.SOL_IP, 24, 1)     # IP_BIND_ADDRESS_NO_PORT
                s.bind((src, 0))
                err = s.connect_ex((dst, port))
            except OSError as e:
                err = e.errno
            if err not in (0, errno.EINPROGRESS):
                failed += 1
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE)
            pending += 1
        end = time.monotonic() + 15
        while pending and time.monotonic() < end:
            for key, _ in sel.select(0.5):
                s = key.fileobj
                sel.unregister(s)
                pending -= 1
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    socks.append(s)
                else:
                    failed += 1
                    s.close()
        for key in list(sel.get_map().values()):
            failed += 1
            key.fileobj.close()
        sel.close()
    return socks, failed


def echo_all(socks, tag, timeout, batch=0):
    """One byte through every socket, BATCH sockets at a time (0: all at
    once), within TIMEOUT seconds in all; (ok, errors, no reply)."""
    ok = errors = left = 0
    batch = batch or len(socks) or 1
    end = time.monotonic() + timeout
    for start in range(0, len(socks), batch):
        o, e, l = _echo_some(socks[start:start + batch], tag, end)
        ok, errors, left = ok + o, errors + e, left + l
    return ok, errors, left


def _echo_some(socks, tag, end):
    sel = selectors.DefaultSelector()
    want = errors = ok = 0
    for s in socks:
        try:
            s.send(tag)
            sel.register(s, selectors.EVENT_READ)
            want += 1
        except OSError:
            errors += 1
    while want and time.monotonic() < end:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            try:
                b = s.recv(16)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                b = b""
            sel.unregister(s)
            want -= 1
            if b == tag:
                ok += 1
            else:
                errors += 1
    sel.close()
    return ok, errors, want


def mon_time(monfile, words, deleted=False):
    """Wall time ("%.6f", or "none") of the first line of `ip -ts monitor`
    output holding every word (whole words, or an address before its /len);
    deletions only if DELETED, else only additions."""
    for line in open(monfile):
        if not line.startswith("[") or ("Deleted" in line) != deleted:
            continue
        f = line[line.index("]") + 1:].split()
        f += [x.split("/")[0] for x in f]
        if all(w in f for w in words):
            ts = line[1:line.index("]")]
            return "%.6f" % datetime.datetime.fromisoformat(ts).timestamp()
    return "none"


def run(doc, commands):
    """A helper tool's main: argv[1] names one of COMMANDS, the rest are its
    arguments; DOC (the usage) for anything else. Returns the exit status."""
    fn = commands.get(sys.argv[1]) if len(sys.argv) > 1 else None
    if fn is None:
        print(doc, file=sys.stderr)
        return 2
    return fn(*sys.argv[2:]) or 0
