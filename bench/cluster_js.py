#!/usr/bin/env python3
"""JetStream on a 3-node cluster, one replica: the referee's client
(../shared/bench/natsbench) connected to each node in turn, for 3-node
clusters of each server binary given, in one run.

  python3 bench/cluster_js.py -r 3 build/bin/fjord-server /usr/sbin/nats-server

Each round starts a fresh cluster per binary (every node lists every route,
a file store each), waits for a meta leader, then runs each scenario once
through each node: natsbench makes its own R1 stream, which the meta leader
places on one server, so some runs publish to a stream on the node they are
connected to and the others over a route. Prints msgs/s per run, then the
median per binary and scenario.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from meta_failover import running_cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NATSBENCH_SRC = os.path.join(HERE, "..", "..", "shared", "bench", "natsbench.c")


def natsbench():
    if os.environ.get("NATSBENCH"):
        return os.environ["NATSBENCH"]
    out = os.path.join(tempfile.gettempdir(), f"natsbench-cluster-{os.getuid()}")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(NATSBENCH_SRC):
        subprocess.run(["cc", "-O2", "-o", out, NATSBENCH_SRC, "-lnats", "-lpthread", "-lm"], check=True)
    return out


def run(bench, port, scenario, n):
    r = subprocess.run([bench, "-s", f"nats://127.0.0.1:{port}", "-n", str(n), "-t", "60", scenario],
                       capture_output=True, text=True, timeout=120)
    try:
        j = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return j.get("msgs_per_s") if j.get("ok") else None


def print_medians(results, binaries, scenarios):
    """The table after the runs: median, min and max msgs/s of each
    (binary, scenario) in `results`."""
    print()
    print(f"{'server':<45} {'scenario':<14} {'median msgs/s':>14} {'min':>10} {'max':>10} runs")
    for b in binaries:
        for s in scenarios:
            v = results[(b, s)]
            if not v:
                print(f"{b:<45} {s:<14} {'-':>14}")
                continue
            print(f"{b:<45} {s:<14} {statistics.median(v):>14,.0f} {min(v):>10,.0f} {max(v):>10,.0f} {len(v)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("-s", "--scenarios", default="js-pub-async,js-pub-sync,js-fetch")
    ap.add_argument("-n", type=int, default=0, help="messages per run (default: natsbench's per scenario)")
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    bench = natsbench()
    scenarios = a.scenarios.split(",")
    results = {(b, s): [] for b in a.binaries for s in scenarios}
    for r in range(a.rounds):
        for b in a.binaries:
            with running_cluster(b, "fjord-clusterjs-", 60) as nodes:
                if nodes is None:
                    print(f"round {r + 1} {b}: no meta leader", flush=True)
                    continue
                time.sleep(1)  # every server admitted
                for s in scenarios:
                    for node in nodes:
                        v = run(bench, node["port"], s, a.n or {"js-pub-sync": 10000}.get(s, 100000))
                        if v is not None:
                            results[(b, s)].append(v)
                        print(f"round {r + 1} {os.path.basename(b)} {s} via {node['name']}: "
                              f"{'failed' if v is None else f'{v:,.0f} msgs/s'}", flush=True)
    print_medians(results, a.binaries, scenarios)


if __name__ == "__main__":
    main()
