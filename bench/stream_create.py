#!/usr/bin/env python3
"""How long `fjord stream add --replicas=3` takes on a fresh 3-node
cluster, for each server binary given, in one run: the time from the
request to the reply, which waits for the new stream group's first leader.

  python3 bench/stream_create.py [-n 8] [-R 3] build/bin/fjord-server /tmp/nats-server-newest/usr/sbin/nats-server

Per binary: a fresh cluster (bench/meta_failover.py), then `-n` streams
created one after another through the first server with the CLI
(build/bin/fjord). Prints each time, the median, and how many of the
streams each server leads (their leaders should spread).
"""
import argparse
import collections
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from meta_failover import running_cluster  # noqa: E402
from replicated_js import cli  # noqa: E402


def measure(binary, n, replicas):
    with running_cluster(binary, "fjord-create-", 60) as nodes:
        if nodes is None:
            print(f"{binary}: no meta leader")
            return
        port = nodes[0]["port"]
        times = []
        for i in range(n):
            t0 = time.time()
            r = cli(port, "stream", "add", f"C{i}", f"--subjects=c{i}", "--storage=file", f"--replicas={replicas}",
                    timeout="10s")
            if r.returncode != 0:
                print(f"{binary}: stream add failed: {r.stderr.strip()}")
                return
            times.append(time.time() - t0)
        leaders = collections.Counter()
        for i in range(n):
            info = json.loads(cli(port, "stream", "info", f"C{i}", "--json").stdout)
            leaders[info.get("cluster", {}).get("leader", "?")] += 1
    print(f"{binary} R{replicas}: median {statistics.median(times):.2f} s "
          f"({' '.join(f'{t:.2f}' for t in times)}); leaders {dict(sorted(leaders.items()))}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=8, help="streams per binary")
    ap.add_argument("-R", "--replicas", type=int, default=3)
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    for b in a.binaries:
        measure(b, a.n, a.replicas)


if __name__ == "__main__":
    main()
