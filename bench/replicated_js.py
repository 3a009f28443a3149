#!/usr/bin/env python3
"""JetStream publishes to a replicated stream (R3 by default) on a 3-node
cluster, for each server binary given, in one run, with one client: the
`fjord bench` CLI (libnats), which makes the stream with --replicas.

  python3 bench/replicated_js.py -r 3 build/bin/fjord-server /usr/sbin/nats-server

Each round starts a fresh 3-node cluster per binary (file stores, every
node routing to every other; bench/meta_failover.py), waits for a meta
leader, then runs each scenario through each node in turn, every run on a
stream of its own (so the stream's leader is sometimes the node the client
is connected to, sometimes another): js-pub-async (100 publishes
outstanding), js-pub-sync (one at a time) and js-fetch (a durable pull
consumer with explicit acks reading the 50,000 messages just published,
100 per fetch). Prints msgs/s per run, then the median per binary and
scenario.

With --failover, each round instead makes an R3 stream, publishes to it,
kill -9s its leader and times, from the kill, the first publish that
another server acknowledges (one try every 50 ms or so, each waiting at
most 250 ms for its acknowledgment).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_js import print_medians  # noqa: E402
from meta_failover import running_cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("FJORD_CLI", os.path.join(HERE, "..", "build", "bin", "fjord"))
# name: (extra `fjord bench` flags, messages, the phase whose rate counts)
SCENARIOS = {
    "js-pub-async": (["--pubbatch", "100"], 50000, "js pub"),
    "js-pub-sync": (["--syncpub"], 5000, "js pub"),
    # A durable pull consumer with explicit acks reads what was published.
    "js-fetch": (["--pubbatch", "100", "--sub", "1", "--pull", "--fetch-batch", "100"], 50000, "js sub"),
}


def run(port, scenario, stream, replicas, n, storage="file"):
    extra, default_n, phase = SCENARIOS[scenario]
    args = [CLI, "bench", f"{stream.lower()}.x", "--js", "--stream", stream, "--replicas", str(replicas),
            "--storage", storage, "--pub", "1", "--msgs", str(n or default_n), "--size", "128", "--json",
            "--no-progress", f"--server=nats://127.0.0.1:{port}", *extra]
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=180)
        j = json.loads(r.stdout)
        return j["results"][phase]["msgs_per_sec"] or None
    except (ValueError, KeyError, IndexError, subprocess.TimeoutExpired):
        return None


def cli(port, *args, timeout="2s"):
    return subprocess.run([CLI, *args, f"--server=nats://127.0.0.1:{port}", f"--timeout={timeout}"],
                          capture_output=True, text=True, timeout=30)


def failover(nodes, replicas):
    """Seconds from kill -9 of the stream's leader to the first publish
    acknowledged through another server; None if none within 30 s."""
    port = nodes[0]["port"]
    if cli(port, "stream", "add", "FO", "--subjects=fo", "--storage=file", f"--replicas={replicas}",
           timeout="10s").returncode != 0:
        return None
    if cli(port, "pub", "-J", "-q", "fo", "first", timeout="5s").returncode != 0:
        return None
    info = json.loads(cli(port, "stream", "info", "FO", "--json").stdout)
    leader = next(n for n in nodes if n["name"] == info["cluster"]["leader"])
    others = [n for n in nodes if n is not leader]
    t0 = time.time()
    leader["proc"].send_signal(signal.SIGKILL)
    leader["proc"].wait()
    i = 0
    while time.time() - t0 < 30:
        if cli(others[i % 2]["port"], "pub", "-J", "-q", "fo", "after", timeout="250ms").returncode == 0:
            return time.time() - t0
        i += 1
        time.sleep(0.05)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("-s", "--scenarios", default="js-pub-async,js-pub-sync,js-fetch")
    ap.add_argument("-R", "--replicas", type=int, default=3)
    ap.add_argument("-n", type=int, default=0, help="messages per run (default: per scenario)")
    ap.add_argument("--failover", action="store_true", help="time failovers instead of publishes")
    ap.add_argument("--storage", default="file", choices=["file", "memory"], help="the streams' storage")
    ap.add_argument("--lazy", action="store_true",
                    help="Fjord in lazy mode (sync_interval: 2m, nats-server's default): acknowledged once a "
                         "quorum has it, as nats-server does, instead of once a quorum has fsynced it")
    ap.add_argument("--sync-always", action="store_true",
                    help="nats-server with sync_interval: always (2.10 and newer), so it, too, fsyncs before it "
                         "acknowledges, as Fjord does by default")
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    if a.failover:
        times = {b: [] for b in a.binaries}
        for r in range(a.rounds):
            for b in a.binaries:
                with running_cluster(b, "fjord-replfo-", 60) as nodes:
                    fo = failover(nodes, a.replicas) if nodes else None
                    if fo is not None:
                        times[b].append(fo)
                    print(f"round {r + 1} {os.path.basename(b)} R{a.replicas}: failover "
                          f"{'failed' if fo is None else f'{fo:.3f} s'}", flush=True)
        print()
        for b, v in times.items():
            print(f"{b:<45} failover median {statistics.median(v):.3f} s, max {max(v):.3f} s, {len(v)} runs"
                  if v else f"{b:<45} failover: no run succeeded")
        return
    scenarios = a.scenarios.split(",")
    results = {(b, s): [] for b in a.binaries for s in scenarios}
    for r in range(a.rounds):
        for b in a.binaries:
            nats = "nats-server" in os.path.basename(b)
            lazy = ('sync_interval: "2m"' if a.lazy and not nats else
                    "sync_interval: always" if a.sync_always and nats else "")
            with running_cluster(b, "fjord-replicated-", 60, lazy) as nodes:
                if nodes is None:
                    print(f"round {r + 1} {b}: no meta leader", flush=True)
                    continue
                time.sleep(1)  # every server admitted
                for s in scenarios:
                    for i, node in enumerate(nodes):
                        stream = f"B{s.replace('-', '')}{i}".upper()
                        v = run(node["port"], s, stream, a.replicas, a.n, a.storage)
                        if v is not None:
                            results[(b, s)].append(v)
                        print(f"round {r + 1} {os.path.basename(b)} R{a.replicas} {s} via {node['name']}: "
                              f"{'failed' if v is None else f'{v:,.0f} msgs/s'}", flush=True)
    print_medians(results, a.binaries, scenarios)


if __name__ == "__main__":
    main()
