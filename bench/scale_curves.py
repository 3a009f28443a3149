#!/usr/bin/env python3
"""Many streams, many subjects: what they cost a server, as curves.

  streams:  N file streams (one subject each, 1 message each)
  subjects: one file stream, N messages on N distinct subjects

For each size and each server binary: the time to make them, the server's
RSS after, its idle CPU over a quiet window, and, after a clean restart,
the time until STREAM.INFO (of the last stream) answers and the RSS then.

  python3 bench/scale_curves.py streams 100 1000 --servers build/bin/fjord-server /usr/sbin/nats-server
  python3 bench/scale_curves.py subjects 100000 1000000 --servers build/bin/fjord-server /usr/sbin/nats-server
"""
import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idle_conns import free_port, idle_cpu, rss_mib  # noqa: E402
from idle_consumers import Conn  # noqa: E402


def launch(bin_, port, store):
    proc = subprocess.Popen([bin_, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


async def connect(port, deadline_s=60):
    t = time.time()
    while True:
        try:
            return await Conn.open(port)
        except OSError:
            if time.time() - t > deadline_s:
                raise
            await asyncio.sleep(0.005)


async def info_answers(c, stream):
    """Waits until STREAM.INFO of `stream` answers without an error."""
    while True:
        [r] = await c.requests([(f"$JS.API.STREAM.INFO.{stream}", {})])
        if "error" not in r:
            return r
        await asyncio.sleep(0.005)


async def fill(c, kind, n):
    if kind == "streams":
        await_reqs = [(f"$JS.API.STREAM.CREATE.S{i}", {"name": f"S{i}", "subjects": [f"s{i}.>"], "storage": "file"})
                      for i in range(n)]
        replies = await c.requests(await_reqs)
        bad = [x for x in replies if "error" in x]
        assert not bad, bad[:3]
        replies = await c.requests([(f"s{i}.order", {"id": i}) for i in range(n)])
        return f"S{n - 1}"
    [r] = await c.requests([("$JS.API.STREAM.CREATE.SUBJ", {"name": "SUBJ", "subjects": ["subj.>"], "storage": "file"})])
    assert "error" not in r, r
    step = 50_000
    for start in range(0, n, step):
        replies = await c.requests([(f"subj.{i}", {"id": i}) for i in range(start, min(n, start + step))], window=500)
        bad = [x for x in replies if "error" in x]
        assert not bad, bad[:3]
    return "SUBJ"


async def run(bin_, kind, n, window):
    store = tempfile.mkdtemp(prefix="scale-curves-")
    port = free_port()
    proc = launch(bin_, port, store)
    try:
        c = await connect(port)
        base = rss_mib(proc.pid)
        t = time.time()
        last = await fill(c, kind, n)
        made = time.time() - t
        await asyncio.sleep(2)
        rss = rss_mib(proc.pid)
        cpu = await idle_cpu(proc.pid, window)
        c.w.close()
        proc.terminate()
        proc.wait(60)
        t = time.time()
        proc = launch(bin_, port, store)
        c = await connect(port)
        info = await info_answers(c, last)
        up = time.time() - t
        rss2 = rss_mib(proc.pid)
        msgs = info["state"]["messages"]
        c.w.close()
        print(f"{os.path.basename(bin_):14} {kind}={n:8}  made in {made:6.1f} s  RSS {rss:7.1f} MiB "
              f"(+{(rss - base) * 1024 / max(1, n):.2f} KiB each)  idle CPU {cpu}  "
              f"restart: StreamInfo in {up:5.2f} s, RSS {rss2:7.1f} MiB, {msgs} msgs in {last}", flush=True)
    finally:
        proc.terminate()
        proc.wait(60)
        shutil.rmtree(store, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["streams", "subjects"])
    ap.add_argument("sizes", nargs="+", type=int)
    ap.add_argument("-w", "--window", type=float, default=5, help="quiet window in seconds (default 5)")
    ap.add_argument("--servers", nargs="+", required=True)
    a = ap.parse_args()
    for n in a.sizes:
        for b in a.servers:
            asyncio.run(run(b, a.kind, n, a.window))


if __name__ == "__main__":
    sys.exit(main())
