"""view_check.py -- checks for test/e2e/view.sh (dimectl show and monitor).

  monitor H TEXT JSON NEW4     the events a hard handoff to NEW4 must give on H
  show H TEXT JSON             shapes of what varies in `dimectl show`
  norm-monitor | norm-monitor-json | norm-show | norm-show-json
                               stdin -> stdout with the variable parts replaced
  golden GOLDEN FILE           FILE equals GOLDEN (VIEW_GOLDEN_UPDATE=1: rewrite it)
"""
import json
import os
import re
import sys

FP = re.compile(r"^[A-Za-z0-9+/]{8}$")
MAX_HANDOFF_MS = 1000	# bench/ measures a few ms; the machine is shared


def fail(msg):
    print(msg)
    sys.exit(1)


def text_events(path):
    out = []
    for line in open(path):
        line = line.rstrip("\n")
        if not line:
            continue
        kind, *rest = line.split(" ")
        out.append((kind, dict(f.split("=", 1) for f in rest)))
    return out


def monitor(h, tpath, jpath, new4):
    tev = text_events(tpath)
    jev = [json.loads(l) for l in open(jpath) if l.strip()]
    if [k for k, _ in tev] != [j["event"] for j in jev]:
        fail(f"text and JSON events differ: {[k for k, _ in tev]} vs {[j['event'] for j in jev]}")
    for (k, f), j in zip(tev, jev):
        if not isinstance(j.get("time"), (int, float)):
            fail(f"JSON event without a time: {j}")
        for key, v in f.items():
            if str(j.get(key)) != v:
                fail(f"{k}: {key}={v} in text, {j.get(key)!r} in JSON")
    kinds = [k for k, _ in tev]
    for need in ("peer-up", "key-bound", "handoff-start", "handoff-done"):
        if need not in kinds:
            fail(f"{h}: no {need} event: {kinds}")
    for k, f in tev:
        if "key" in f and not FP.match(f["key"]):
            fail(f"{k}: key {f['key']!r} is not an 8-character fingerprint")
    kb = [f for k, f in tev if k == "key-bound"]
    if kb[0].get("origin") != "tofu":
        fail(f"key-bound: origin {kb[0].get('origin')}, expected tofu")
    want = "hard" if h == "mh" else "peer-moved"
    start = [i for i, (k, f) in enumerate(tev) if k == "handoff-start" and f.get("to") == new4]
    done = [i for i, (k, f) in enumerate(tev) if k == "handoff-done" and f.get("to") == new4]
    if not start or not done or done[0] < start[0]:
        fail(f"{h}: no handoff-start then handoff-done to {new4}")
    for i in start[:1] + done[:1]:
        if tev[i][1].get("kind") != want:
            fail(f"{h}: {tev[i][0]} kind {tev[i][1].get('kind')}, expected {want}")
    ms = int(tev[done[0]][1]["duration_ms"])
    if not 0 <= ms <= MAX_HANDOFF_MS:
        fail(f"{h}: handoff took {ms} ms, expected 0..{MAX_HANDOFF_MS}")
    print(f"# {h}: {want} handoff, {ms} ms from the event to the first data on {new4}")


def show(h, tpath, jpath):
    text = open(tpath).read()
    j = json.load(open(jpath))
    if re.search(r"^\s*hid:", text, re.M):
        fail("text show names internal handles")
    if re.search(r": 0$", text, re.M):
        fail("text show prints zero counters")
    for k in ("version", "rules", "datapath", "fingerprint", "listen_port", "local_addresses",
              "flows", "translated_flows", "kernel_flows", "kernel_elements", "peers"):
        if k not in j:
            fail(f"-j show: no {k}")
    if not FP.match(j["fingerprint"]):
        fail(f"our fingerprint {j['fingerprint']!r}")
    peers = [p for p in j["peers"] if p["translated_flows"]]
    if len(peers) != 1:
        fail(f"{h}: expected one peer with a translated flow: {j['peers']}")
    p = peers[0]
    for k in ("hid", "address", "fingerprint", "active", "unreachable", "local", "key", "flows",
              "bytes_in", "bytes_out", "last_handoff"):
        if k not in p:
            fail(f"-j show: peer without {k}")
    if not FP.match(p["fingerprint"]) or f"peer: {p['address']} ({p['fingerprint']})" not in text:
        fail(f"no block 'peer: {p['address']} ({p['fingerprint']})' in the text")
    # MH sends the flow's data; CH receives it. Both see ACKs the other way.
    # The kernel datapath's packets never reach dimed: it counts what it
    # rewrote itself, the packets of the handoff up to the first on the
    # new locator, in the direction that ended it.
    if j["datapath"] == "kernel":
        if p["bytes_out"] + p["bytes_in"] <= 0:
            fail(f"{h}: no bytes counted in the handoff: in {p['bytes_in']}, out {p['bytes_out']}")
    elif p["bytes_out"] <= 0 or p["bytes_in"] <= 0:
        fail(f"{h}: no bytes counted: in {p['bytes_in']}, out {p['bytes_out']}")
    elif (p["bytes_out"] > p["bytes_in"]) != (h == "mh"):
        fail(f"{h}: bytes in {p['bytes_in']}, out {p['bytes_out']}: the wrong way round")
    lh = p["last_handoff"]
    if lh["pending"] or not 0 <= lh["duration_ms"] <= MAX_HANDOFF_MS or lh["ago_s"] > 60:
        fail(f"{h}: last_handoff {lh}")
    print(f"# {h}: peer {p['address']} ({p['fingerprint']}): {p['bytes_in']} B in, "
          f"{p['bytes_out']} B out, last handoff {lh}")


# A peer is named by its primary address, which of its families that is
# depends on which family's handoff came first: the host is what is fixed.
HOSTS = {"198.18.1.2": "<mh>", "198.18.1.150": "<mh>", "2001:db8:1::2": "<mh>",
         "2001:db8:1::150": "<mh>", "198.18.0.10": "<ch>", "2001:db8::10": "<ch>"}


def same_kind_sorted(lines, kind):
    """The two families' events of one kind come in either order."""
    out, run = [], []
    for k, line in lines + [(None, None)]:
        if run and k != run[0][0]:
            out.extend(sorted(l for _, l in run))
            run = []
        if k is not None:
            run.append((k, line))
    return out


def norm_monitor():
    lines = []
    for line in sys.stdin:
        # (not \b: a fingerprint may end in + or /, which \b does not follow)
        line = re.sub(r"\bkey=[A-Za-z0-9+/]{8}(?=\s|$)", "key=<fp>", line)
        line = re.sub(r"\bduration_ms=\d+", "duration_ms=<ms>", line)
        line = re.sub(r"\bmore=\d+", "more=<n>", line)
        line = re.sub(r"\bpeer=(\S+)", lambda m: "peer=" + HOSTS.get(m.group(1), m.group(1)), line)
        lines.append((line.split(" ")[0], line))
    sys.stdout.writelines(same_kind_sorted(lines, None))


def norm_monitor_json():
    lines = []
    for line in sys.stdin:
        if not line.strip():
            continue
        e = json.loads(line)
        e["time"] = "<time>"
        for k, v in (("key", "<fp>"), ("duration_ms", "<ms>"), ("more", "<n>")):
            if k in e:
                e[k] = v
        if "peer" in e:
            e["peer"] = HOSTS.get(e["peer"], e["peer"])
        lines.append((e["event"], json.dumps(e, sort_keys=True) + "\n"))
    sys.stdout.writelines(same_kind_sorted(lines, None))


def norm_show():
    for line in sys.stdin:
        line = re.sub(r"^peer: (\S+) \([A-Za-z0-9+/]{8}\)", lambda m: f"peer: {HOSTS.get(m.group(1), m.group(1))} (<fp>)", line)
        # the order of a set's two families is the order they moved in
        line = re.sub(r"^(  (?:active|unreachable|local):) (.*)", lambda m: m.group(1) + " " + " ".join(sorted(m.group(2).split())), line)
        line = re.sub(r"^(\s*fingerprint:) [A-Za-z0-9+/]{8}$", r"\1 <fp>", line)
        line = re.sub(r"^(version:) .*", r"\1 <version>", line)
        line = re.sub(r"^(rules:) nft(\+xtables)?$", r"\1 <nft>", line)  # the kernel's choice
        # One golden for both datapaths (the suite runs this test on each).
        line = re.sub(r"^(datapath:) (kernel|queue)$", r"\1 <datapath>", line)
        if re.match(r"^kernel_(flows|elements): \d+$", line):
            continue
        line = re.sub(r"^(flow_table_bytes:) \d+", r"\1 <n>", line)
        line = re.sub(r"^(\s*transfer:) [\d.]+ \S+ received, [\d.]+ \S+ sent", r"\1 <n> received, <n> sent", line)
        line = re.sub(r"\b\d+ s ago", "<n> s ago", line)
        line = re.sub(r"\b\d+ ms to first data", "<ms> ms to first data", line)
        sys.stdout.write(line)


def norm_show_json():
    j = json.load(sys.stdin)
    j["version"] = "<version>"
    if j["rules"] in ("nft", "nft+xtables"):
        j["rules"] = "<nft>"
    j["fingerprint"] = "<fp>"
    j["flow_table_bytes"] = "<n>"
    j["datapath"] = "<datapath>"
    j["kernel_flows"] = "<n>"
    j["kernel_elements"] = "<n>"
    for p in j["peers"]:
        p["hid"] = "<hid>"
        p["address"] = HOSTS.get(p["address"], p["address"])
        for k in ("active", "unreachable", "local"):
            p[k] = sorted(p[k])
        if p["fingerprint"]:
            p["fingerprint"] = "<fp>"
        for k in ("bytes_in", "bytes_out"):
            p[k] = "<n>"  # checked above; which are 0 depends on the datapath
        lh = p["last_handoff"]
        lh["ago_s"] = "<n>"
        if lh["kind"] != "none" and not lh["pending"]:
            lh["duration_ms"] = "<ms>"
    print(json.dumps(j, sort_keys=True, indent=1))


def golden(gpath, path):
    got = open(path).read()
    if os.environ.get("VIEW_GOLDEN_UPDATE") == "1":
        with open(gpath, "w") as f:
            f.write(got)
        return
    want = open(gpath).read() if os.path.exists(gpath) else ""
    if got != want:
        import difflib
        sys.stdout.writelines(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                                   gpath, "this run"))
        fail(f"differs from {os.path.basename(gpath)}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"monitor": monitor, "show": show, "norm-monitor": norm_monitor, "norm-monitor-json": norm_monitor_json,
     "norm-show": norm_show, "norm-show-json": norm_show_json, "golden": golden}[cmd](*args)
