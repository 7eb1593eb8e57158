#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ctl_flow.py -- one long-lived TCP flow for test/e2e/ctl.sh.

  recv ADDR PORT COUNTFILE   accept one connection, keep COUNTFILE holding the
                             number of bytes received (rewritten every 0.1 s)
  send ADDR PORT [KBPS=800]  connect and send paced data until killed
"""
import os
import socket
import sys
import time


def recv(addr, port, countfile):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    c, _ = ls.accept()
    c.settimeout(0.1)
    total, last = 0, 0.0

    def dump():
        tmp = countfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{total}\n")
        os.replace(tmp, countfile)

    dump()
    while True:
        try:
            b = c.recv(65536)
            if not b:
                break
            total += len(b)
        except socket.timeout:
            pass
        now = time.monotonic()
        if now - last >= 0.1:
            dump()
            last = now
    dump()


def send(addr, port, kbps):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.connect((addr, port))
    chunk = b"x" * 8192
    interval = len(chunk) / (kbps * 1000.0)
    nxt = time.monotonic()
    while True:
        s.sendall(chunk)
        nxt += interval
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 800)
