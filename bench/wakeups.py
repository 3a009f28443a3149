#!/usr/bin/env python3
"""Context switches and CPU time per published message on a 3-node
cluster, per thread name, for each server binary given: where a
replicated publish's thread hand-offs are (each one a wake-up, costly on
this VM), which throughput alone does not show.

  python3 bench/wakeups.py [--lazy] [-s js-pub-sync] [-R 3] build/bin/fjord-server ...

For each binary: a fresh cluster (bench/meta_failover.py), one warm-up
run of the scenario (bench/replicated_js.py) on a stream it then reuses,
then `perf stat --per-thread` over the three servers while the scenario
runs `--runs` times, counting context switches, CPU time and
fsync/fdatasync calls. Counts are summed over the servers' threads of one
name (an fdatasync is a context switch too: the thread sleeps on the
disk). Needs `perf` (Debian: linux-perf) and root.
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from meta_failover import running_cluster  # noqa: E402
from replicated_js import run  # noqa: E402


def measure(binary, scenario, replicas, n, runs, lazy):
    nats = "nats-server" in os.path.basename(binary)
    extra = 'sync_interval: "2m"' if lazy and not nats else ""
    with running_cluster(binary, "fjord-wakeups-", 60, extra) as nodes:
        if nodes is None:
            print(f"{binary}: no meta leader")
            return
        port = nodes[0]["port"]
        run(port, scenario, "W", replicas, 500)
        pids = ",".join(str(x["proc"].pid) for x in nodes)
        with tempfile.NamedTemporaryFile("r", suffix=".perf") as out:
            perf = subprocess.Popen(["perf", "stat", "--per-thread", "-x,", "-e",
                                     "context-switches,task-clock,syscalls:sys_enter_fdatasync,"
                                     "syscalls:sys_enter_fsync",
                                     "-o", out.name, "-p", pids], stdout=subprocess.DEVNULL)
            time.sleep(1.5)  # perf attaches
            rates = [run(port, scenario, "W", replicas, n) for _ in range(runs)]
            perf.send_signal(2)
            perf.wait()
            switches, cpu_ms, syncs = collections.Counter(), collections.Counter(), collections.Counter()
            for line in out:
                f = line.strip().split(",")
                if len(f) < 4 or not f[1].replace(".", "").isdigit():
                    continue
                name = f[0].rsplit("-", 1)[0]
                if f[3] == "context-switches":
                    switches[name] += float(f[1])
                elif f[3].startswith("task-clock"):
                    cpu_ms[name] += float(f[1])
                elif "sync" in f[3]:
                    syncs[name] += float(f[1])
    msgs = n * runs
    rates = [f"{r:,.0f}" if r else "failed" for r in rates]
    print(f"{binary} R{replicas} {scenario}{' lazy' if lazy else ''}: msgs/s {', '.join(rates)}; "
          f"per message {sum(switches.values()) / msgs:.1f} context switches, "
          f"{sum(cpu_ms.values()) / msgs:.3f} CPU ms (the idle wait included), "
          f"{sum(syncs.values()) / msgs:.2f} fsyncs")
    for name, v in switches.most_common():
        print(f"  {name:<18} {v / msgs:6.2f} switches  {cpu_ms[name] / msgs:.3f} ms  {syncs[name] / msgs:.2f} fsyncs")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-s", "--scenario", default="js-pub-sync")
    ap.add_argument("-R", "--replicas", type=int, default=3)
    ap.add_argument("-n", type=int, default=2000, help="messages per run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lazy", action="store_true", help="Fjord in lazy mode (sync_interval: 2m)")
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    for b in a.binaries:
        measure(b, a.scenario, a.replicas, a.n, a.runs, a.lazy)


if __name__ == "__main__":
    main()
