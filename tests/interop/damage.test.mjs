// A damaged message record (a bit flip in a block file, found when the
// message is read): never taken for the end of the stream, and never
// reported gone while another copy exists.
// - One replica (a single server): consumers skip that message alone and
//   get every later one (they used to take the damage for the end of the
//   stream and skip everything after it).
// - Three replicas: the replica whose copy is damaged, made leader, hands
//   over to one that can read it, so the durable consumer gets all 20
//   orders intact and in order; as a follower it then writes the record
//   again from the leader's copy, and serves it once it leads again.
// - Damage to the last record after kill -9, where a crash would leave a
//   torn write: Fjord knows how far each block was fsynced (the `synced`
//   mark), so a record it had acknowledged is not cut as torn. One replica
//   reports it and does not use its sequence again; a replica of three
//   does not vote until the group has sent it again, so it cannot help
//   elect a replica that never had it (the Jepsen bit-flip case).
// - The background scrub (`jetstream { scrub_interval }`) reads every
//   stored message back: damage nobody reads is found too, reported on a
//   single server and repaired on a follower of three replicas.
// Fjord only: it edits Fjord's block files.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, jetstream, AckPolicy } from "@nats-io/jetstream";
import { startServer, waitFor, logsOnFailure, isFjord, freePort } from "./lib/server.mjs";
import { testScope } from "./lib/cluster.mjs";
import { APP, jsClusterClients, caughtUp, retry, publishWithId } from "./lib/jscluster.mjs";
import { sleep } from "./lib/cluster.mjs";

const skip = isFjord ? false : "edits Fjord's block files";

// Flips a byte inside the payload of `order` in the stream's block files
// under `root` (the only record holding that text).
function damageOrder(root, stream, order) {
  const text = Buffer.from(`{"order":${order}}`);
  const blocks = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".blk") && p.includes(`${path.sep}${stream}${path.sep}`)) blocks.push(p);
    }
  };
  walk(root);
  for (const file of blocks) {
    const bytes = fs.readFileSync(file);
    const at = bytes.indexOf(text);
    if (at < 0) continue;
    bytes[at + text.length - 2] ^= 0x01; // a digit of the order number
    fs.writeFileSync(file, bytes);
    return file;
  }
  throw new Error(`no block of ${stream} under ${root} holds order ${order}`);
}

// Reads `n` distinct orders with the durable, each acked with a confirmed
// ack; returns them in the order first seen. An order seen again is
// allowed only if its ack was not confirmed (at-least-once).
async function readOrders(js, stream, durable, n, ms = 30_000) {
  const seen = [];
  const confirmed = new Set();
  const deadline = Date.now() + ms;
  while (seen.length < n && Date.now() < deadline) {
    try {
      const c = await js.consumers.get(stream, durable);
      const iter = await c.fetch({ max_messages: n - seen.length, expires: 1000 });
      for await (const m of iter) {
        const order = JSON.parse(m.string()).order;
        assert.ok(!confirmed.has(order), `order ${order} delivered again after its ack was confirmed`);
        if (!seen.includes(order)) seen.push(order);
        if (await m.ackAck({ timeout: 3000 }).catch(() => false)) confirmed.add(order);
      }
    } catch (e) {
      // A pull the leader ends as it hands over (409), or one sent while
      // there is none: pull again.
      if (!/leadership change|timeout|no responders|not found/i.test(e.message)) throw e;
    }
  }
  return seen;
}

// ORDERS with InvoiceProcessor on one server, and orders 1..20 in it.
async function twentyOrders(srv) {
  const nc = await connect({ port: srv.port });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
  await jsm.consumers.add("ORDERS", { durable_name: "InvoiceProcessor", ack_policy: AckPolicy.Explicit });
  for (let i = 1; i <= 20; i++) await publishWithId(jetstream(nc), i);
  await nc.close();
}

// Steps ORDERS' leader down (preferring `name`) until `name` leads it.
const leadOrders = (nc, jsm, name) => retry(async () => {
  const now = (await jsm.streams.info("ORDERS")).cluster.leader;
  if (now === name) return true;
  await nc.request("$JS.API.STREAM.LEADER.STEPDOWN.ORDERS",
    JSON.stringify({ placement: { preferred: name } }), { timeout: 5000 }).catch(() => {});
  return undefined;
}, `${name} leading ORDERS`, 30_000);

const orders = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("one replica: a damaged message is skipped alone; every later one is delivered", { skip, timeout: 60_000 }, logsOnFailure(async (t) => {
  const srv = await startServer();
  t.after(() => srv.stop());
  await twentyOrders(srv);
  await srv.stop();
  damageOrder(srv.storeDir, "ORDERS", 10);
  await srv.restart();
  const nc = await connect({ port: srv.port });
  t.after(() => nc.close());
  const seen = await readOrders(jetstream(nc), "ORDERS", "InvoiceProcessor", 19, 15_000);
  assert.deepEqual(seen, [...orders(1, 9), ...orders(11, 20)]);
  await waitFor(() => /message 10 cannot be read .*consumers skip it/.test(srv.log()), 5000, "the damage logged");
  // The stream still counts it: nothing is reported gone.
  assert.equal((await jetstreamManager(nc).then((m) => m.streams.info("ORDERS"))).state.messages, 20);
}));

test("three replicas: the damaged replica hands over, the consumer gets every order intact, the record is repaired from the leader's copy", { skip, timeout: 120_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const { c, conns, jsms, byName } = await jsClusterClients(t, scope, 3);
  await jsms[0].streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
  await jsms[0].consumers.add("ORDERS", { durable_name: "InvoiceProcessor", ack_policy: AckPolicy.Explicit });
  for (let i = 1; i <= 20; i++) await publishWithId(jetstream(conns[0]), i);
  await caughtUp(c.nodes);

  const leader = (await jsms[0].streams.info("ORDERS")).cluster.leader;
  const victim = c.nodes.find((n) => n.serverName !== leader);
  const home = c.nodes.indexOf(byName(leader)); // the client's server stays up
  await victim.stop();
  damageOrder(c.storeOf(victim), "ORDERS", 10);
  await victim.restart();
  await caughtUp(c.nodes);

  const lead = (name) => leadOrders(conns[home], jsms[home], name);
  await lead(victim.serverName);

  const seen = await readOrders(jetstream(conns[home]), "ORDERS", "InvoiceProcessor", 20);
  assert.deepEqual(seen, orders(1, 20));
  assert.match(victim.log(), /message 10 cannot be read here/);
  await waitFor(() => /message 10 repaired from the leader's copy/.test(victim.log()), 20_000, "the repair");

  // Led by the repaired replica, the stream serves the message itself.
  await lead(victim.serverName);
  const m = await jsms[home].streams.getMessage("ORDERS", { seq: 10 });
  assert.deepEqual(m.json(), { order: 10 });
  assert.equal((await jsms[home].streams.info("ORDERS")).cluster.leader, victim.serverName);
}));

test("the scrub: on one server a damaged message nobody reads is reported; on a follower of three replicas it is repaired from the leader's copy", { skip, timeout: 120_000 }, logsOnFailure(async (t) => {
  const scrub = 'scrub_interval: "1s"';
  const mport = await freePort();
  const srv = await startServer({ config: `jetstream { ${scrub} }\nhttp: 127.0.0.1:${mport}\n` });
  t.after(() => srv.stop());
  await twentyOrders(srv);
  await srv.stop();
  damageOrder(srv.storeDir, "ORDERS", 10);
  await srv.restart();
  await waitFor(() => /message 10 cannot be read .*consumers skip it/.test(srv.log()), 15_000, "the scrub reporting it");
  const metrics = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
  assert.match(metrics, /^fjord_stream_damaged_messages\{[^}]*stream_name="ORDERS"[^}]*\} 1$/m);
  const nc = await connect({ port: srv.port });
  t.after(() => nc.close());
  assert.equal((await (await jetstreamManager(nc)).streams.info("ORDERS")).state.messages, 20, "nothing reported gone");

  const scope = testScope(t);
  const { c, conns, jsms, byName } = await jsClusterClients(t, scope, 3, scrub);
  await jsms[0].streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
  for (let i = 1; i <= 20; i++) await publishWithId(jetstream(conns[0]), i);
  await caughtUp(c.nodes);
  const leader = (await jsms[0].streams.info("ORDERS")).cluster.leader;
  const victim = c.nodes.find((n) => n.serverName !== leader);
  const home = c.nodes.indexOf(byName(leader));
  await victim.stop();
  damageOrder(c.storeOf(victim), "ORDERS", 10);
  await victim.restart();
  // No consumer and no read: only the scrub can find it.
  await waitFor(() => /message 10 cannot be read here/.test(victim.log()), 20_000, "the scrub finding it");
  await waitFor(() => /message 10 repaired from the leader's copy/.test(victim.log()), 20_000, "the repair");
  await leadOrders(conns[home], jsms[home], victim.serverName);
  const m = await jsms[home].streams.getMessage("ORDERS", { seq: 10 });
  assert.deepEqual(m.json(), { order: 10 });
  assert.equal((await jsms[home].streams.info("ORDERS")).cluster.leader, victim.serverName);
}));

test("one replica, killed: damage to the last acknowledged message is reported, not cut, and its sequence is not used again", { skip, timeout: 60_000 }, logsOnFailure(async (t) => {
  const srv = await startServer();
  t.after(() => srv.stop());
  await twentyOrders(srv);
  await srv.kill9();
  damageOrder(srv.storeDir, "ORDERS", 20);
  await srv.restart();
  assert.match(srv.log(), /messages 20\.\.20 it had stored were found damaged on disk/);
  const nc = await connect({ port: srv.port });
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const state = (await jsm.streams.info("ORDERS")).state;
  assert.equal(state.last_seq, 20);
  assert.equal(state.messages, 19);
  const ack = await publishWithId(jetstream(nc), 21);
  assert.equal(ack.seq, 21);
  const seen = await readOrders(jetstream(nc), "ORDERS", "InvoiceProcessor", 20, 15_000);
  assert.deepEqual(seen, [...orders(1, 19), 21]);
}));

test("three replicas, the Jepsen bit-flip case: a replica whose acknowledged last message is damaged does not vote until it has it again, so the one replica that never had it cannot lead", { skip, timeout: 180_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const { c, jsms, conns } = await jsClusterClients(t, scope, 3);
  await jsms[0].streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
  for (let i = 1; i <= 20; i++) await publishWithId(jetstream(conns[0]), i);
  await caughtUp(c.nodes);

  // B leads, A follows and gets order 21, C is down and never gets it.
  const leader = (await jsms[0].streams.info("ORDERS")).cluster.leader;
  const B = c.nodes.find((n) => n.serverName === leader);
  const [A, C] = c.nodes.filter((n) => n !== B);
  const nb = await scope.conn(B, APP);
  await C.kill9();
  const ack = await retry(() => publishWithId(jetstream(nb), 21), "order 21 acknowledged by B and A", 30_000);
  assert.equal(ack.seq, 21);
  await A.kill9();
  await B.kill9();
  damageOrder(c.storeOf(A), "ORDERS", 21);

  await Promise.all([A.restart(), C.restart()]);
  await waitFor(() => /lost messages it had stored \(damaged on disk\): not voting until caught up/.test(A.log()), 10_000,
    "A rejoining");
  // A and C are a majority, but only A could vote for C: no leader.
  const nc = await scope.conn(C, APP);
  const jsm = await retry(() => jetstreamManager(nc), "the meta group answering", 30_000);
  for (const end = Date.now() + 6000; Date.now() < end; await sleep(500)) {
    const info = await jsm.streams.info("ORDERS").catch(() => null);
    assert.ok(!info?.cluster?.leader, `ORDERS led by ${info?.cluster?.leader} without the replica that had order 21`);
  }

  await B.restart();
  await caughtUp(c.nodes, 60_000);
  await waitFor(() => /caught up with its group .*voting again/.test(A.log()), 20_000, "A voting again");
  const info = await retry(async () => {
    const i = await jsm.streams.info("ORDERS");
    return i.cluster?.leader ? i : undefined;
  }, "ORDERS led again", 30_000);
  assert.equal(info.state.last_seq, 21);
  assert.deepEqual((await jsm.streams.getMessage("ORDERS", { seq: 21 })).json(), { order: 21 });
  // Every replica has it intact: A's copy is what the group sent again.
  for (const n of [A, B, C]) {
    await leadOrders(nc, jsm, n.serverName);
    assert.deepEqual((await jsm.streams.getMessage("ORDERS", { seq: 21 })).json(), { order: 21 }, n.serverName);
  }
}));
