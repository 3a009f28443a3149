#!/usr/bin/env python3
"""JetStream meta group failover: from kill -9 of the meta leader to the
moment the two other servers name one new leader in /jsz, for 3-node
clusters of each server binary given, in one run.

  python3 bench/meta_failover.py -r 5 build/bin/fjord-server /usr/sbin/nats-server

Each round starts a fresh 3-node cluster (every node lists every route, a
file store each), waits until all three agree on a leader, kills it with
SIGKILL and polls the others' /jsz every 20 ms. Prints each round's time,
and the median and worst per binary. Also: the time from start until the
three first agreed (cluster formation).
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idle_conns import free_port  # noqa: E402


def meta(mport):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{mport}/jsz", timeout=1) as r:
            return json.load(r).get("meta_cluster") or {}
    except (OSError, ValueError):
        return {}


def agreed(nodes, deadline):
    """The leader every node of `nodes` names, once they agree (or None)."""
    while time.time() < deadline:
        views = [meta(n["mport"]) for n in nodes]
        names = {n["name"] for n in nodes}
        lead = views[0].get("leader")
        if lead in names and all(v.get("leader") == lead for v in views):
            return lead
        time.sleep(0.02)
    return None


def start_cluster(binary, tmp, js_extra=""):
    nodes = []
    for i in range(3):
        nodes.append({"name": f"n{i + 1}", "port": free_port(), "cport": free_port(), "mport": free_port()})
    routes = ", ".join(f'"nats://127.0.0.1:{n["cport"]}"' for n in nodes)
    for n in nodes:
        conf = os.path.join(tmp, f'{n["name"]}.conf')
        with open(conf, "w") as f:
            f.write(f"""server_name: {n["name"]}
listen: 127.0.0.1:{n["port"]}
http: 127.0.0.1:{n["mport"]}
jetstream {{ store_dir: "{os.path.join(tmp, n["name"])}"{", " + js_extra if js_extra else ""} }}
cluster {{ name: B, listen: 127.0.0.1:{n["cport"]}, routes: [{routes}] }}
""")
        n["proc"] = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return nodes


@contextlib.contextmanager
def running_cluster(binary, prefix, timeout, js_extra=""):
    """A started 3-node cluster of `binary` once its servers agree on a meta
    leader (None if they do not within `timeout` seconds); stopped and its
    stores removed afterwards. `js_extra`: more settings in each server's
    jetstream block."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    nodes = start_cluster(binary, tmp, js_extra)
    try:
        yield nodes if agreed(nodes, time.time() + timeout) else None
    finally:
        stop(nodes)
        shutil.rmtree(tmp, ignore_errors=True)


def stop(nodes):
    for n in nodes:
        if n["proc"].poll() is None:
            n["proc"].kill()
            n["proc"].wait()


def round_(binary, timeout):
    tmp = tempfile.mkdtemp(prefix="fjord-metafo-")
    nodes = start_cluster(binary, tmp)
    try:
        t0 = time.time()
        lead = agreed(nodes, t0 + timeout)
        if lead is None:
            return None, None
        formed = time.time() - t0
        victim = next(n for n in nodes if n["name"] == lead)
        rest = [n for n in nodes if n is not victim]
        t1 = time.time()
        victim["proc"].send_signal(signal.SIGKILL)
        victim["proc"].wait()
        nxt = agreed(rest, t1 + timeout)
        if nxt is None or nxt == lead:
            return formed, None
        return formed, time.time() - t1
    finally:
        stop(nodes)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-r", "--rounds", type=int, default=5)
    ap.add_argument("-t", "--timeout", type=float, default=60.0, help="seconds to wait for a leader")
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    results = {b: [] for b in a.binaries}
    formation = {b: [] for b in a.binaries}
    for r in range(a.rounds):
        for b in a.binaries:
            formed, fo = round_(b, a.timeout)
            if formed is not None:
                formation[b].append(formed)
            if fo is not None:
                results[b].append(fo)
            print(f"round {r + 1} {b}: formed {formed if formed is None else round(formed, 2)} s, "
                  f"failover {fo if fo is None else round(fo, 3)} s", flush=True)
    print()
    print(f"{'server':<50} {'failover median':>16} {'worst':>8} {'formation median':>17}  rounds ok")
    for b in a.binaries:
        fo, fm = results[b], formation[b]
        med = f"{statistics.median(fo):.3f} s" if fo else "-"
        worst = f"{max(fo):.3f} s" if fo else "-"
        fmed = f"{statistics.median(fm):.2f} s" if fm else "-"
        print(f"{b:<50} {med:>16} {worst:>8} {fmed:>17}  {len(fo)}/{a.rounds}")


if __name__ == "__main__":
    main()
