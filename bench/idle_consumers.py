#!/usr/bin/env python3
"""Many idle JetStream consumers: the server's RSS and CPU while nothing happens.

Starts each server binary given, makes one file stream with a few messages
and N durable consumers on it (half pull, half push with a deliver subject
nobody listens on, all explicit ack), then samples the server's RSS and the
CPU ticks it uses over a quiet window:

  python3 bench/idle_consumers.py -n 10000 build/bin/fjord-server /usr/sbin/nats-server

With --cluster, each binary runs as a 3-node cluster (every node lists
every route, a file store each, as bench/meta_failover.py starts them): the
stream (one replica, or -R of them) and its consumers are made through the
first node once a meta leader is agreed, and RSS and CPU are the three
servers' together:

  python3 bench/idle_consumers.py --cluster -R 3 -n 10000 build/bin/fjord-server /usr/sbin/nats-server
"""
import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idle_conns import idle_cpu, rss_mib, start_server, ticks  # noqa: E402
from meta_failover import running_cluster  # noqa: E402


class Conn:
    """A bare NATS connection that makes requests one window at a time."""

    def __init__(self, r, w):
        self.r, self.w, self.sid = r, w, 0

    @classmethod
    async def open(cls, port):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await r.readline()
        w.write(b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\nSUB _R.* 1\r\nPING\r\n')
        await w.drain()
        while not (await r.readline()).startswith(b"PONG"):
            pass
        return cls(r, w)

    async def requests(self, reqs, window=200):
        """reqs: list of (subject, body); returns the replies' bodies in order."""
        out = [None] * len(reqs)
        for start in range(0, len(reqs), window):
            chunk = reqs[start:start + window]
            for i, (subj, body) in enumerate(chunk):
                data = json.dumps(body).encode()
                self.w.write(f"PUB {subj} _R.{start + i} {len(data)}\r\n".encode() + data + b"\r\n")
            await self.w.drain()
            got = 0
            while got < len(chunk):
                line = await self.r.readline()
                if line.startswith(b"PING"):
                    self.w.write(b"PONG\r\n")
                    continue
                if not line.startswith(b"MSG"):
                    continue
                parts = line.split()
                n = int(parts[-1])
                payload = await self.r.readexactly(n + 2)
                out[int(parts[1].split(b".")[1])] = json.loads(payload[:-2])
                got += 1
        return out


async def run(bin_, n, window, settle, cluster=False, replicas=1):
    if cluster:
        return await run_cluster(bin_, n, window, settle, replicas)
    proc, port = start_server(bin_, "idle-consumers-")
    try:
        c = await Conn.open(port)
        base_rss = rss_mib(proc.pid)
        made = await make(c, n)
        await asyncio.sleep(settle)
        cpu = await idle_cpu(proc.pid, window)
        rss = rss_mib(proc.pid)
        print(f"{os.path.basename(bin_):14} consumers={n:6}  created in {made:5.1f} s  RSS {rss:7.1f} MiB "
              f"({(rss - base_rss) * 1024 / max(1, n):.1f} KiB/consumer)  idle CPU {cpu}", flush=True)
        c.w.close()
    finally:
        proc.terminate()
        proc.wait(30)


async def run_cluster(bin_, n, window, settle, replicas):
    with running_cluster(bin_, "idle-consumers-cluster-", 30) as nodes:
        if nodes is None:
            print(f"{os.path.basename(bin_):14} no meta leader within 30 s", flush=True)
            return
        pids = [nd["proc"].pid for nd in nodes]
        c = await Conn.open(nodes[0]["port"])
        base_rss = sum(rss_mib(p) for p in pids)
        made = await make(c, n, replicas)
        await asyncio.sleep(settle)
        t0, c0 = time.time(), sum(ticks(p) for p in pids)
        await asyncio.sleep(window)
        tps = (sum(ticks(p) for p in pids) - c0) / (time.time() - t0)
        rss = [rss_mib(p) for p in pids]
        print(f"{os.path.basename(bin_):14} 3 nodes, R{replicas}, consumers={n:6}  created in {made:5.1f} s  "
              f"RSS {sum(rss):7.1f} MiB ({' + '.join(f'{r:.0f}' for r in rss)}; "
              f"{(sum(rss) - base_rss) * 1024 / max(1, n):.1f} KiB/consumer)  "
              f"idle CPU {tps:.2f} ticks/s ({tps / os.sysconf('SC_CLK_TCK'):.3f} core)", flush=True)
        c.w.close()


async def make(c, n, replicas=1):
    """One stream with 10 messages and n durable consumers; returns the
    seconds the consumers took to create."""
    [r] = await c.requests([("$JS.API.STREAM.CREATE.IDLE",
                             {"name": "IDLE", "subjects": ["idle.>"], "num_replicas": replicas})])
    assert "error" not in r, r
    await c.requests([("idle.x", {"n": i}) for i in range(10)])
    reqs = []
    for i in range(n):
        cfg = {"durable_name": f"c{i}", "ack_policy": "explicit"}
        if i % 2:
            cfg["deliver_subject"] = f"nobody.{i}"
        reqs.append((f"$JS.API.CONSUMER.DURABLE.CREATE.IDLE.c{i}", {"stream_name": "IDLE", "config": cfg}))
    t = time.time()
    replies = await c.requests(reqs)
    bad = [x for x in replies if "error" in x]
    if bad:
        first = next(i for i, x in enumerate(replies) if "error" in x)
        print(f"  {len(bad)} of {n} consumers refused, the first (c{first}): {bad[0]['error']}", flush=True)
    return time.time() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10000, help="consumers (default 10000)")
    ap.add_argument("-w", "--window", type=float, default=10, help="quiet window in seconds (default 10)")
    ap.add_argument("--settle", type=float, default=5, help="seconds between the last create and the window")
    ap.add_argument("--cluster", action="store_true", help="3-node clusters instead of single servers")
    ap.add_argument("-R", "--replicas", type=int, default=1, help="the stream's replicas (with --cluster)")
    ap.add_argument("servers", nargs="+")
    a = ap.parse_args()
    for b in a.servers:
        asyncio.run(run(b, a.n, a.window, a.settle, a.cluster, a.replicas))


if __name__ == "__main__":
    sys.exit(main())
