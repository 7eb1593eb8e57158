#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summarise one iperf3 run of lab.sh as key=value lines.

usage: iperf_res.py CLIENT.json SERVER.json [key=value ...]

The key=value arguments (proto, client_rc, server_rc, t0, ...) are echoed
first. The events file next to CLIENT.json (one "what unix-time" per line,
written by the lab's move helpers) gives the end of the last move during the
run; receiver bytes after it are the evidence that a flow survived.

Keys printed (bytes are iperf3's own counts):
  client_error / server_error  iperf3's "error" text, spaces as '_' (empty: none)
  bytes_sent      what the client sent (its end summary, else its intervals)
  bytes_recv      what the server received (likewise)
                  (with reverse=1, for iperf3 -R, server and client swap
                  roles here and in the keys below)
  move_at         seconds after t0 at which the last move ended ('' = none)
  rx_after_move   bytes the server received in intervals starting after move_at
  tx_after_move   bytes the client sent in intervals starting after move_at
  packets / lost_packets   UDP only, server's view
  rx_intervals / tx_intervals   bytes per 0.5 s interval, comma-separated
  survived        yes: client exited 0 without error, server too, data arrived,
                  and data arrived after the move (if there was one)
"""
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def intervals(doc):
    """(start, bytes) per interval, first occurrence of each start only
    (iperf3 repeats the last interval when it stops on an error)."""
    out, seen = [], set()
    for iv in doc.get("intervals", []):
        s = iv.get("sum", {})
        start = round(float(s.get("start", 0)), 3)
        if start in seen:
            continue
        seen.add(start)
        out.append((start, int(s.get("bytes", 0))))
    return out


def end_bytes(doc, keys):
    end = doc.get("end") or {}
    for k in keys:
        if k in end and "bytes" in end[k]:
            return int(end[k]["bytes"])
    return None


def main():
    cli, srv = load(sys.argv[1]), load(sys.argv[2])
    kv = dict(a.split("=", 1) for a in sys.argv[3:])
    lines = list(sys.argv[3:])
    udp = kv.get("proto") == "udp"

    # reverse=1 (iperf3 -R): the server sends, the client receives
    snd, rcv = (srv, cli) if kv.get("reverse") == "1" else (cli, srv)
    civ, siv = intervals(snd), intervals(rcv)
    sent = end_bytes(snd, ["sum_sent", "sum"])
    if sent is None:
        sent = sum(b for _, b in civ)
    recv = end_bytes(rcv, ["sum_received", "sum"])
    if recv is None:
        recv = sum(b for _, b in siv)

    t0 = float(kv.get("t0", "0"))
    move_at = None
    events = os.path.join(os.path.dirname(sys.argv[1]), "events")
    if t0 and os.path.exists(events):
        with open(events) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and float(parts[-1]) > t0:
                    move_at = float(parts[-1]) - t0
    rx_after = tx_after = None
    if move_at is not None:
        rx_after = sum(b for s, b in siv if s >= move_at)
        tx_after = sum(b for s, b in civ if s >= move_at)

    cerr = str(cli.get("error", "")) if cli else "no_json_output"
    serr = str(srv.get("error", "")) if srv else "no_json_output"
    lines.append("client_error=" + cerr.replace(" ", "_"))
    lines.append("server_error=" + serr.replace(" ", "_"))
    lines.append("bytes_sent=%d" % sent)
    lines.append("bytes_recv=%d" % recv)
    lines.append("move_at=" + ("" if move_at is None else "%.3f" % move_at))
    lines.append("rx_after_move=" + ("" if rx_after is None else str(rx_after)))
    lines.append("tx_after_move=" + ("" if tx_after is None else str(tx_after)))
    if udp:
        end = srv.get("end") or {}
        s = end.get("sum_received") or end.get("sum") or {}
        pk = s.get("packets", sum(i.get("sum", {}).get("packets", 0) for i in srv.get("intervals", [])))
        lines.append("packets=%s" % pk)
        lines.append("lost_packets=%s" % s.get("lost_packets", ""))
    lines.append("rx_intervals=" + ",".join(str(b) for _, b in siv))
    lines.append("tx_intervals=" + ",".join(str(b) for _, b in civ))
    ok = (kv.get("client_rc") == "0" and kv.get("server_rc") == "0"
          and not cerr and not serr and recv > 0
          and (rx_after is None or rx_after > 0))
    lines.append("survived=" + ("yes" if ok else "no"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
