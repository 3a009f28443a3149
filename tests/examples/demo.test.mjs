// Runs the order-processor demo (examples/order-processor/demo.sh) end to
// end: broker, stream, order service, three consumers, a consumer outage and
// a broker kill -9, with the demo's own exactly-once check; once on one
// broker, once on a 3-server cluster (DEMO_NODES=3), where the clients get
// every server's URL and the server holding ORDERS is the one killed, and
// once there with ORDERS on three replicas (DEMO_REPLICAS=3: the story's
// `--replicas=3`), where its leader is killed and another takes over.
//
// Environment: FJORD_BIN (broker, default build/bin/fjord-server), FJORD_CLI
// (default build/bin/fjord), EXAMPLES_BIN (order-service, shipping, invoicing,
// analytics; default the directory of FJORD_CLI, i.e. build/bin).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const demo = path.join(root, "examples/order-processor/demo.sh");

// The demo bounds itself to under 60 s; this is the backstop if it hangs.
const LIMIT_MS = 90_000;

for (const [nodes, replicas] of [[1, 1], [3, 1], [3, 3]]) {
  const where = nodes === 1 ? "one broker"
    : replicas === 1 ? `a cluster of ${nodes} (the server holding ORDERS killed)`
      : `a cluster of ${nodes}, ORDERS with ${replicas} replicas (its leader killed)`;
  test(`order-processor demo on ${where}: no acknowledged order lost or processed twice`, { timeout: LIMIT_MS + 5_000 }, () => runDemo(nodes, replicas));
}

async function runDemo(nodes, replicas) {
  const env = { ...process.env, DEMO_NODES: String(nodes), DEMO_REPLICAS: String(replicas) };
  const child = spawn("bash", [demo], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const killer = setTimeout(() => child.kill("SIGTERM"), LIMIT_MS);
  // The demo's EXIT trap stops whatever it started, also on SIGTERM.
  const stopOnExit = () => child.kill("SIGTERM");
  process.once("exit", stopOnExit);
  const [code, signal] = await new Promise((resolve) => child.on("close", (c, s) => resolve([c, s])));
  clearTimeout(killer);
  process.removeListener("exit", stopOnExit);
  assert.equal(code, 0, `demo.sh exited with ${code ?? signal}:\n${output}`);
  assert.match(output, /== PASS/);
}
