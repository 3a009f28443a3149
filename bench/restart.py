#!/usr/bin/env python3
"""A long file stream: disk bytes, and RSS and time to the first answered
StreamInfo after a clean restart and after kill -9.

Fills one file stream per server with `fjord bench --js` (libnats), then
restarts the server twice on the same store:

  python3 bench/restart.py -n 1000000 -s 128 build/bin/fjord-server /usr/sbin/nats-server
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idle_conns import free_port, rss_mib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("FJORD_CLI", os.path.join(HERE, "..", "build", "bin", "fjord"))


def launch(bin_, port, store):
    return subprocess.Popen([bin_, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stream_info(port, deadline):
    """Polls until $JS.API.STREAM.INFO answers with a state; returns it."""
    while time.time() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            time.sleep(0.002)
            continue
        try:
            f = s.makefile("rb")
            f.readline()
            s.sendall(b'CONNECT {"verbose":false,"headers":true}\r\nSUB _R 1\r\n'
                      b"PUB $JS.API.STREAM.INFO.benchstream _R 0\r\n\r\n")
            s.settimeout(deadline - time.time())
            while True:
                line = f.readline()
                if not line:
                    break
                if line.startswith(b"PING"):
                    s.sendall(b"PONG\r\n")
                elif line.startswith(b"MSG"):
                    body = f.read(int(line.split()[-1]) + 2)
                    r = json.loads(body[:-2])
                    if "state" in r:
                        return r["state"]
                    break  # 503 or not ready yet
        except (OSError, ValueError):
            pass
        finally:
            s.close()
        time.sleep(0.002)
    raise TimeoutError("no StreamInfo")


def restart(bin_, port, store, proc, how):
    if how == "kill -9":
        proc.send_signal(signal.SIGKILL)
    else:
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    t0 = time.time()
    proc = launch(bin_, port, store)
    st = stream_info(port, t0 + 120)
    took = time.time() - t0
    time.sleep(0.2)
    return proc, took, rss_mib(proc.pid), st["messages"]


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def run(bin_, n, size):
    port = free_port()
    store = tempfile.mkdtemp(prefix="restart-")
    proc = launch(bin_, port, store)
    try:
        stream_info_ready = time.time() + 10
        while time.time() < stream_info_ready:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        subprocess.run([CLI, "bench", "--js", "--storage", "file", "--msgs", str(n), "--size", str(size),
                        "--pubbatch", "500", "--no-progress", "--server", f"nats://127.0.0.1:{port}",
                        "bench.restart"], check=True, stdout=subprocess.DEVNULL)
        disk = du(store)
        rows = []
        for how in ("clean stop", "kill -9"):
            proc, took, rss, msgs = restart(bin_, port, store, proc, how)
            rows.append((how, took, rss, msgs))
        return disk, rows
    finally:
        proc.kill()
        proc.wait()
        subprocess.run(["rm", "-rf", store])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000000, help="messages")
    ap.add_argument("-s", type=int, default=128, help="payload bytes")
    ap.add_argument("servers", nargs="+")
    a = ap.parse_args()
    print(f"{a.n} messages of {a.s} B in one file stream")
    print("| server | bytes on disk | restart | to StreamInfo | RSS then | messages |")
    print("|---|---:|---|---:|---:|---:|")
    for bin_ in a.servers:
        disk, rows = run(bin_, a.n, a.s)
        for how, took, rss, msgs in rows:
            print(f"| {bin_} | {disk / 1e6:.1f} MB | {how} | {took:.3f} s | {rss:.1f} MiB | {msgs} |", flush=True)


if __name__ == "__main__":
    main()
