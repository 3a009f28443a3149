#!/usr/bin/env python3
"""Many idle clients: the server's RSS and CPU while nothing happens.

Starts each server binary given, opens N plain-TCP clients that each send
CONNECT, one SUB and PING and wait for the PONG, then samples the server's
RSS and the CPU ticks it uses over a quiet window. Prints one line per
server, Fjord and nats-server alike (same flags):

  python3 bench/idle_conns.py -n 10000 build/bin/fjord-server /usr/sbin/nats-server

Above 20,000 clients the connections come from several loopback source
addresses (one address runs out of ephemeral ports near 28,000); every
connect and handshake is bounded by CONNECT_TIMEOUT.
"""
import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_server(bin_, prefix):
    """Starts `bin_` with JetStream on a free port; returns (process, port)
    once the port accepts connections."""
    port = free_port()
    store = tempfile.mkdtemp(prefix=prefix)
    proc = subprocess.Popen([bin_, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, port


async def idle_cpu(pid, window):
    """The CPU `pid` uses over `window` seconds: "x.xx ticks/s (y.yyy core)"."""
    t0, c0 = time.time(), ticks(pid)
    await asyncio.sleep(window)
    tps = (ticks(pid) - c0) / (time.time() - t0)
    return f"{tps:.2f} ticks/s ({tps / os.sysconf('SC_CLK_TCK'):.3f} core)"


# One source address holds at most ~28,000 connections to one port (the
# ephemeral port range); above that, clients spread over 127.0.0.2, .3, ...
PER_SOURCE = 20000


async def client(port, i, ready):
    r, w = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(f"127.0.0.{2 + i // PER_SOURCE}", 0)),
        CONNECT_TIMEOUT)
    await asyncio.wait_for(handshake(r, w, i), CONNECT_TIMEOUT)
    ready.append(1)
    return r, w


CONNECT_TIMEOUT = 30  # seconds, for each client's connect and for its PONG


async def handshake(r, w, i):
    await r.readline()  # INFO
    w.write(f'CONNECT {{"verbose":false,"pedantic":false}}\r\nSUB idle.{i} 1\r\nPING\r\n'.encode())
    await w.drain()
    while True:
        line = await r.readline()
        if not line:
            raise ConnectionError("closed before PONG")
        if line.startswith(b"PONG"):
            break


async def run(bin_, n, window, batch, settle):
    proc, port = start_server(bin_, "idle-conns-")
    try:
        base_rss = rss_mib(proc.pid)
        ready, conns = [], []
        for start in range(0, n, batch):
            conns += await asyncio.gather(*(client(port, i, ready) for i in range(start, min(n, start + batch))))
        await asyncio.sleep(settle)  # past the first PING (2 s after connect) and its write deadline
        cpu = await idle_cpu(proc.pid, window)
        rss = rss_mib(proc.pid)
        name = os.path.basename(bin_)
        print(f"{name:14} clients={len(ready):6}  RSS {rss:7.1f} MiB (start {base_rss:.1f}, "
              f"{(rss - base_rss) * 1024 * 1024 / max(1, len(ready)) / 1024:.1f} KiB/conn)  "
              f"idle CPU {cpu}",
              flush=True)
        for _, w in conns:
            w.close()
    finally:
        proc.terminate()
        proc.wait(10)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10000, help="clients (default 10000)")
    ap.add_argument("-w", "--window", type=float, default=10, help="quiet window in seconds (default 10)")
    ap.add_argument("--batch", type=int, default=500, help="connects in flight at once")
    ap.add_argument("--settle", type=float, default=15, help="seconds between the last connect and the window")
    ap.add_argument("servers", nargs="+")
    a = ap.parse_args()
    # This process and the server (which inherits the limit) each hold n
    # descriptors. Raising the hard limit needs privilege; without it the
    # soft limit goes as far as the hard one allows.
    want = a.n + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            soft = hard = want
        except (ValueError, OSError):
            print(f"note: cannot raise the descriptor limit to {want} (hard limit {hard})", file=sys.stderr)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    if hard < want:
        # Fail before starting anything rather than in the middle of the
        # connects (the server would run out of descriptors as well).
        print(f"idle_conns.py: -n {a.n} needs {want} descriptors per process; the hard limit is {hard}",
              file=sys.stderr)
        return 1
    for b in a.servers:
        asyncio.run(run(b, a.n, a.window, a.batch, a.settle))


if __name__ == "__main__":
    sys.exit(main())
