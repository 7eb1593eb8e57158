#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ctl_notify.py -- check dimed's sd_notify messages, for test/e2e/ctl.sh.

  ctl_notify.py NOTIFYSOCK CTLSOCK DIMED [ARGS...]

Binds NOTIFYSOCK (AF_UNIX, SOCK_DGRAM), starts DIMED ARGS with NOTIFY_SOCKET
set, waits for READY=1 (noting whether CTLSOCK existed when it came), sends
SIGTERM, waits for STOPPING=1 and for the exit. Prints key=value lines:
ready, ready_ctl_exists, status, stopping, exit, messages (repr).
"""
import os
import signal
import socket
import subprocess
import sys
import time


def main():
    nsock, ctl, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    if os.path.exists(nsock):
        os.unlink(nsock)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(nsock)
    env = dict(os.environ, NOTIFY_SOCKET=nsock)
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
    msgs, res = [], {"ready": "no", "ready_ctl_exists": "no", "status": "", "stopping": "no", "exit": "none"}

    def take(deadline, want):
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                m = s.recv(4096).decode(errors="replace")
            except socket.timeout:
                break
            msgs.append(m)
            fields = m.split("\n")
            if "READY=1" in fields:
                res["ready"] = "yes"
                res["ready_ctl_exists"] = "yes" if os.path.exists(ctl) else "no"
            if "STOPPING=1" in fields:
                res["stopping"] = "yes"
            for f in fields:
                if f.startswith("STATUS=") and not res["status"]:
                    res["status"] = f[7:]
            if res[want] == "yes":
                return True
        return False

    try:
        take(time.monotonic() + 10, "ready")
        p.send_signal(signal.SIGTERM)
        take(time.monotonic() + 10, "stopping")
        try:
            res["exit"] = str(p.wait(timeout=10))
        except subprocess.TimeoutExpired:
            p.kill()
            res["exit"] = "hung"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.unlink(nsock)
    for k, v in res.items():
        print(f"{k}={v}")
    print(f"messages={msgs!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
