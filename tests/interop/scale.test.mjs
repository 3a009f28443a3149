// What many idle connections cost the server (issue 15): each holds a few
// KiB, not a 64 KiB read buffer. The figure is RSS growth, read from /proc,
// which is deterministic enough to bound; CPU is measured, not asserted
// (bench/idle_conns.py).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { startServer, logsOnFailure, serverBin, within } from "./lib/server.mjs";

const REFERENCE = path.basename(serverBin) === "nats-server";

function rssKiB(pid) {
  const line = fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
  return parseInt(line.split(/\s+/)[1], 10);
}

// A client that sends CONNECT, one SUB and PING, and resolves at the PONG.
function idleClient(port, i) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let buf = "";
    s.setEncoding("utf8");
    s.on("error", reject);
    s.on("data", (d) => {
      buf += d;
      if (buf.startsWith("INFO ") && buf.includes("\r\n") && !s.sent) {
        s.sent = true;
        s.write(`CONNECT {"verbose":false,"pedantic":false}\r\nSUB idle.${i} 1\r\nPING\r\n`);
      }
      if (buf.includes("PONG\r\n")) {
        s.removeAllListeners("data");
        resolve(s);
      }
    });
  });
}

describe("many idle connections", () => {
  // 800 stays under the default limit of 1024 open files.
  test("800 idle clients cost under 16 KiB of server memory each",
    { skip: REFERENCE && "nats-server's own figure is about 19 KiB" }, logsOnFailure(async () => {
      const srv = await startServer({ jetstream: false });
      const pid = srv.child.pid;
      const socks = [];
      try {
        // Warm up allocator arenas and the server's own structures first.
        socks.push(...await within(Promise.all(Array.from({ length: 50 }, (_, i) => idleClient(srv.port, i))), 20_000, "warm-up"));
        const before = rssKiB(pid);
        const n = 800;
        for (let start = 0; start < n; start += 100) {
          socks.push(...await within(Promise.all(Array.from({ length: 100 }, (_, i) => idleClient(srv.port, 1000 + start + i))),
            20_000, "connects"));
        }
        const perConn = (rssKiB(pid) - before) / n;
        assert.ok(perConn < 16, `${perConn.toFixed(1)} KiB per idle connection`);
      } finally {
        for (const s of socks) s.destroy();
        await srv.stop();
      }
    }));
});
