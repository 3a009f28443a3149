#!/usr/bin/env python3
"""Ordered consumers and KV watchers on replicated streams (R3), for each
server binary given, in one run: a fresh 3-node cluster per binary and
round (bench/meta_failover.py), then the nats.js client of
bench/replicated_watchers.mjs connected to its first node:

  python3 bench/replicated_watchers.py -r 3 build/bin/fjord-server /usr/sbin/nats-server

- ordered: msgs/s of an ordered consumer (nats.js `consumers.get(stream)`,
  ephemeral, R1, memory, no acks) reading 20,000 messages of 128 bytes
  just published to an R3 stream;
- kv-puts: puts/s, one at a time, to an R3 bucket with --watchers
  watchers (KV watch: ordered push consumers), and the seconds until every
  watcher saw every put (kv-seen).

Prints each round, then the median per binary.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from meta_failover import running_cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("-w", "--watchers", type=int, default=20)
    ap.add_argument("-n", "--msgs", type=int, default=20000)
    ap.add_argument("-p", "--puts", type=int, default=2000)
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    results = {b: {"ordered": [], "kv_puts": [], "kv_seen": []} for b in a.binaries}
    for r in range(a.rounds):
        for b in a.binaries:
            with running_cluster(b, "fjord-watchers-", 60) as nodes:
                if nodes is None:
                    print(f"round {r + 1} {b}: no meta leader", flush=True)
                    continue
                time.sleep(1)
                try:
                    out = subprocess.run(
                        ["node", os.path.join(HERE, "replicated_watchers.mjs"), str(nodes[0]["port"]),
                         str(a.watchers), str(a.msgs), str(a.puts)],
                        capture_output=True, text=True, timeout=300).stdout
                    j = json.loads(out.strip().splitlines()[-1])
                except (subprocess.TimeoutExpired, ValueError, IndexError):
                    print(f"round {r + 1} {b}: failed", flush=True)
                    continue
                for k in results[b]:
                    if j.get(k) is not None:
                        results[b][k].append(j[k])
                print(f"round {r + 1} {b}: {j}", flush=True)
    print()
    print(f"{'server':<45} {'ordered msgs/s':>15} {'kv puts/s':>10} {'kv all seen':>12}  (--watchers {a.watchers})")
    for b in a.binaries:
        m = {k: (statistics.median(v) if v else None) for k, v in results[b].items()}
        fmt = lambda v, f: "-" if v is None else f.format(v)  # noqa: E731
        print(f"{b:<45} {fmt(m['ordered'], '{:,.0f}'):>15} {fmt(m['kv_puts'], '{:,.0f}'):>10} "
              f"{fmt(m['kv_seen'], '{:.2f} s'):>12}")


if __name__ == "__main__":
    main()
