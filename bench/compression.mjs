// Stream compression: bytes on disk, publish rate and read rate of the
// story's orders (JSON of about 200 bytes) in a stream without and with
// `compression: s2`, against one server binary:
//
//   node bench/compression.mjs build/bin/fjord-server [messages]
//   node bench/compression.mjs /tmp/nats-server-newest/usr/sbin/nats-server
//
// Uses nats.js from tests/interop/node_modules (`./dev deps` installs it).
import { createRequire } from "node:module";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";

const require = createRequire(new URL("../tests/interop/package.json", import.meta.url));
const { connect } = require("@nats-io/transport-node");
const { jetstreamManager, jetstream, StoreCompression } = require("@nats-io/jetstream");

const bin = process.argv[2];
const N = Number(process.argv[3] ?? 200_000);
if (!bin) {
  console.error("usage: node bench/compression.mjs <server binary> [messages]");
  process.exit(2);
}

const order = (i) => JSON.stringify({
  order_id: `ord-${100000 + i}`, city: "oslo", customer: `c-${(i * 7919) % 5000}`,
  items: [{ sku: `sku-${i % 97}`, qty: 1 + (i % 4), price: 100 + (i % 900) }], total: 100 + (i % 900),
  created: `2026-12-05T10:${String(i % 60).padStart(2, "0")}:${String(i % 59).padStart(2, "0")}Z`,
});

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function diskBytes(dir) {
  let n = 0;
  for (const f of fs.readdirSync(dir, { recursive: true })) {
    const st = fs.statSync(path.join(dir, f));
    if (st.isFile()) n += st.size;
  }
  return n;
}

const port = await freePort();
const store = fs.mkdtempSync(path.join(os.tmpdir(), "compression-"));
const srv = spawn(bin, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store], { stdio: "ignore" });
try {
  let nc;
  for (let i = 0; i < 100 && !nc; i++) {
    try { nc = await connect({ servers: `127.0.0.1:${port}` }); } catch { await new Promise((r) => setTimeout(r, 50)); }
  }
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const payloads = Array.from({ length: N }, (_, i) => order(i));
  const avg = payloads.reduce((a, p) => a + p.length, 0) / N;
  console.log(`| server | stream | messages (avg ${avg.toFixed(0)} B) | bytes on disk | publish msgs/s | read msgs/s |`);
  console.log("|---|---|---:|---:|---:|---:|");
  for (const [name, compression] of [["RAW", StoreCompression.None], ["ZIP", StoreCompression.S2]]) {
    await jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`], compression });
    const subj = `${name.toLowerCase()}.orders.oslo.created`;
    let t0 = performance.now();
    for (let i = 0; i < N; i += 500) {
      const acks = [];
      for (let j = i; j < Math.min(N, i + 500); j++) acks.push(js.publish(subj, payloads[j]));
      await Promise.all(acks);
    }
    const pubRate = N / ((performance.now() - t0) / 1000);
    const c = await (async () => {
      await jsm.consumers.add(name, { durable_name: "r", ack_policy: "none" });
      return js.consumers.get(name, "r");
    })();
    t0 = performance.now();
    let got = 0;
    const it = await c.consume({ max_messages: 10_000 });
    for await (const m of it) {
      if (m.data.length === 0) throw new Error("empty");
      if (++got === N) break;
    }
    const readRate = N / ((performance.now() - t0) / 1000);
    const disk = diskBytes(path.join(store, "jetstream", "$G", "streams", name));
    console.log(`| ${path.basename(bin)} | ${compression} | ${N} | ${(disk / 1e6).toFixed(1)} MB | ${pubRate.toFixed(0)} | ${readRate.toFixed(0)} |`);
  }
  await nc.close();
} finally {
  srv.kill("SIGTERM");
  await new Promise((r) => srv.on("exit", r));
  fs.rmSync(store, { recursive: true, force: true });
}
