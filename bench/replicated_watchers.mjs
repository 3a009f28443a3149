// The client half of bench/replicated_watchers.py: against the server at
// 127.0.0.1:<port> (one node of a 3-node cluster), an R3 stream read by an
// ordered consumer, then an R3 KV bucket written while <watchers> watch it.
// Prints one JSON line: {"ordered": msgs/s, "kv_puts": puts/s, "kv_seen": s}.
//
//   node bench/replicated_watchers.mjs <port> <watchers> [messages] [puts]
import { createRequire } from "node:module";

const require = createRequire(new URL("../tests/interop/package.json", import.meta.url));
const { connect } = require("@nats-io/transport-node");
const { jetstream, jetstreamManager } = require("@nats-io/jetstream");
const { Kvm } = require("@nats-io/kv");

const [port, watchers = "20", msgs = "20000", puts = "2000"] = process.argv.slice(2);
const W = Number(watchers), N = Number(msgs), P = Number(puts);
const nc = await connect({ servers: `127.0.0.1:${port}` });
const js = jetstream(nc);
await (await jetstreamManager(nc)).streams.add({ name: "OC", subjects: ["oc.>"], num_replicas: 3, storage: "file" });
const data = new Uint8Array(128);
let inflight = [];
for (let i = 0; i < N; i++) {
  inflight.push(js.publish("oc.x", data));
  if (inflight.length >= 100) { await Promise.all(inflight); inflight = []; }
}
await Promise.all(inflight);

// An ordered consumer (what `nats stream view`, KV history and object
// gets use) reading the whole stream.
const t0 = performance.now();
const iter = await (await js.consumers.get("OC")).consume();
let got = 0;
for await (const m of iter) if (++got >= N) break;
const ordered = N / ((performance.now() - t0) / 1000);

// Puts, one at a time, while W watchers (ordered push consumers) see each.
const kv = await new Kvm(nc).create("W", { replicas: 3 });
let seen = 0, all;
const done = new Promise((r) => { all = r; });
for (let w = 0; w < W; w++) {
  const it = await kv.watch({ include: "updates" });
  (async () => { for await (const e of it) if (++seen >= W * P) all(); })();
}
const t1 = performance.now();
for (let i = 0; i < P; i++) await kv.put(`k${i % 50}`, data);
const kvPuts = P / ((performance.now() - t1) / 1000);
if (W > 0) await Promise.race([done, new Promise((r) => setTimeout(r, 60_000))]);
const kvSeen = seen >= W * P ? (performance.now() - t1) / 1000 : null;
console.log(JSON.stringify({ ordered: Math.round(ordered), kv_puts: Math.round(kvPuts), kv_seen: kvSeen }));
await nc.close();
process.exit(0);
