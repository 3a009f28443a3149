#!/usr/bin/env python3
"""Many idle JetStream consumers: the server's RSS and CPU while nothing happens.

Starts each server binary given, makes one file stream with a few messages
and N durable consumers on it (half pull, half push with a deliver subject
nobody listens on, all explicit ack), then samples the server's RSS and the
CPU ticks it uses over a quiet window:

  python3 bench/idle_consumers.py -n 10000 build/bin/fjord-server /usr/sbin/nats-server
"""
import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idle_conns import idle_cpu, rss_mib, start_server  # noqa: E402


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


async def run(bin_, n, window, settle):
    proc, port = start_server(bin_, "idle-consumers-")
    try:
        c = await Conn.open(port)
        base_rss = rss_mib(proc.pid)
        [r] = await c.requests([("$JS.API.STREAM.CREATE.IDLE", {"name": "IDLE", "subjects": ["idle.>"]})])
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
        assert not bad, bad[:3]
        made = time.time() - t
        await asyncio.sleep(settle)
        cpu = await idle_cpu(proc.pid, window)
        rss = rss_mib(proc.pid)
        print(f"{os.path.basename(bin_):14} consumers={n:6}  created in {made:5.1f} s  RSS {rss:7.1f} MiB "
              f"({(rss - base_rss) * 1024 / max(1, n):.1f} KiB/consumer)  idle CPU {cpu}", flush=True)
        c.w.close()
    finally:
        proc.terminate()
        proc.wait(30)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10000, help="consumers (default 10000)")
    ap.add_argument("-w", "--window", type=float, default=10, help="quiet window in seconds (default 10)")
    ap.add_argument("--settle", type=float, default=5, help="seconds between the last create and the window")
    ap.add_argument("servers", nargs="+")
    a = ap.parse_args()
    for b in a.servers:
        asyncio.run(run(b, a.n, a.window, a.settle))


if __name__ == "__main__":
    sys.exit(main())
