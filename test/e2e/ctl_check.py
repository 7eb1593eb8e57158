#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ctl_check.py -- helpers for test/e2e/ctl.sh (standard library only).

  keys JSONFILE PATH...     every PATH exists: "a.b", "hids[].hid" (each element)
  get JSONFILE PATH         print one value (lists space-separated, bools true/false)
  same TEXTFILE JSONFILE    the text output is the JSON rendered the way out.c
                            renders text; numbers may only have grown between the
                            text call and the JSON call (counters), nothing else
                            may differ
  hid JSONFILE ADDR         `show hids -j`: the HID whose active set has ADDR
  flows JSONFILE            `show flows -j`: one canonical line per flow
  conn SOCK N [REQUEST]     N clients connect at once, then all send REQUEST, then
                            all read: prints the first line of each answer
  idle SOCK N               open N connections that send nothing; print "ready",
                            hold them until stdin closes
"""
import json
import socket
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def walk(doc, path):
    """Values at PATH; "x[]" fans out over a list."""
    cur = [doc]
    for part in path.split("."):
        fan = part.endswith("[]")
        key = part[:-2] if fan else part
        nxt = []
        for c in cur:
            if not isinstance(c, dict) or key not in c:
                raise KeyError(path)
            v = c[key]
            if fan:
                if not isinstance(v, list):
                    raise KeyError(path + " (not a list)")
                nxt.extend(v)
            else:
                nxt.append(v)
        cur = nxt
    return cur


def fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def render(obj, depth=1, lines=None):
    """out.c's text mode: "key: value", scalar arrays on one line, "-" items."""
    if lines is None:
        lines = []
    ind = "  " * (depth - 1)
    for k, v in obj.items():
        if isinstance(v, dict):
            lines.append(f"{ind}{k}:")
            render(v, depth + 1, lines)
        elif isinstance(v, list):
            if v and all(isinstance(x, dict) for x in v):
                lines.append(f"{ind}{k}:")
                for x in v:
                    lines.append(f"{ind}  -")
                    render(x, depth + 2, lines)
            else:
                lines.append(f"{ind}{k}:" + "".join(" " + fmt(x) for x in v))
        else:
            lines.append(f"{ind}{k}: {fmt(v)}")
    return lines


def same(textfile, jsonfile):
    with open(textfile) as f:
        text = f.read().splitlines()
    want = render(load(jsonfile))
    bad = []
    if len(text) != len(want):
        bad.append(f"{len(text)} text lines, JSON renders as {len(want)}")
    for i, (t, w) in enumerate(zip(text, want)):
        if t == w:
            continue
        tt, ww = t.split(" "), w.split(" ")
        okline = len(tt) == len(ww)
        for a, b in zip(tt, ww):
            if a == b:
                continue
            if a.isdigit() and b.isdigit() and int(b) >= int(a):
                continue
            okline = False
        if not okline:
            bad.append(f"line {i + 1}: text {t!r} vs JSON {w!r}")
    for b in bad[:10]:
        print(b)
    return 1 if bad else 0


def conn(sock, n, request):
    cs = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)  # blocking: waits while the listen backlog is full
        s.settimeout(10)
        cs.append(s)
    for s in cs:
        try:
            s.sendall(request.encode() + b"\n")
        except OSError as e:
            print(f"send: {e}", file=sys.stderr)
    for s in cs:
        data = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        except OSError as e:
            data += f"<{e}>".encode()
        print(data.decode(errors="replace").split("\n", 1)[0] or "<nothing>")
        s.close()
    return 0


def idle(sock, n):
    cs = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        cs.append(s)
    print("ready", flush=True)
    sys.stdin.read()
    return 0


def main(argv):
    cmd = argv[1]
    if cmd == "keys":
        doc = load(argv[2])
        missing = []
        for p in argv[3:]:
            try:
                walk(doc, p)
            except KeyError:
                missing.append(p)
        if missing:
            print("missing keys: " + " ".join(missing))
            return 1
        return 0
    if cmd == "get":
        vals = walk(load(argv[2]), argv[3])
        out = []
        for v in vals:
            out.extend(v if isinstance(v, list) else [v])
        print(" ".join(fmt(v) for v in out))
        return 0
    if cmd == "same":
        return same(argv[2], argv[3])
    if cmd == "flows":
        for f in load(argv[2])["flows"]:
            print(" ".join(f"{k}={fmt(f[k])}" for k in sorted(f)))
        return 0
    if cmd == "hid":
        found = [h for h in load(argv[2])["hids"] if argv[3] in h["active"]]
        print(json.dumps(found, sort_keys=True))
        return 0 if found else 1
    if cmd == "conn":
        return conn(argv[2], int(argv[3]), argv[4] if len(argv) > 4 else "dime/1 version")
    if cmd == "idle":
        return idle(argv[2], int(argv[3]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
