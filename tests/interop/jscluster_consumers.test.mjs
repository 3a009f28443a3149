// Clustered JetStream, consumers of a replicated stream (num_replicas 3)
// through nats.js: the story's InvoiceProcessor on an R3 ORDERS. Confirmed
// acks (ackAck) survive kill -9 of the stream's leader: the new leader
// resumes after the last confirmed ack, so nothing acknowledged is
// delivered again; a pull waiting when the leader hands over ends with
// `409 Leadership Change`; a replica that was away catches up on the consumer too
// (by snapshot, once the log before it was compacted) and can lead it.
// Replies are validated against the JetStream API schemas. Runs against
// nats-server too (FJORD_BIN=/usr/sbin/nats-server).

import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager, jetstream, AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { waitFor, within, logsOnFailure, isFjord } from "./lib/server.mjs";
import { testScope } from "./lib/cluster.mjs";
import { checkApiReplies, rejectsCode } from "./lib/client.mjs";
import { APP, agreedLeader, jsClusterClients, retry, publishWithId } from "./lib/jscluster.mjs";

// Fetches up to `n` messages of the durable and acks each with a confirmed
// ack; returns the orders seen. Messages not confirmed stay unacknowledged.
async function processBatch(js, n) {
  const c = await js.consumers.get("ORDERS", "InvoiceProcessor");
  const seen = [];
  const iter = await c.fetch({ max_messages: n, expires: 3000 });
  for await (const m of iter) {
    seen.push(JSON.parse(m.string()).order);
    await m.ackAck({ timeout: 3000 });
  }
  return seen;
}

async function streamLeader(jsm) {
  return retry(async () => (await jsm.streams.info("ORDERS")).cluster.leader, "a stream leader");
}

// Asks the consumer's leader to hand over to `preferred`; waits until
// `jsm`'s server names it. (Fjord's consumers are led by their stream's
// leader, so the stream moves too; nats-server moves the consumer alone.)
async function consumerStepDown(nc, jsm, name, preferred) {
  const sd = JSON.parse((await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.ORDERS.${name}`,
    JSON.stringify({ placement: { preferred } }), { timeout: 5000 })).string());
  assert.equal(sd.success, true, JSON.stringify(sd));
  return retry(async () => {
    const i = await jsm.consumers.info("ORDERS", name);
    return i.cluster?.leader === preferred ? i : undefined;
  }, `${preferred} leading ${name}`);
}

test("replicated stream: a durable consumer's confirmed acks survive kill -9 of the leader; nothing processed twice", { timeout: 240_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const { c, conns, jsms, byName } = await jsClusterClients(t, scope, 3);

  await jsms[0].streams.add({
    name: "ORDERS", subjects: ["orders.>"], storage: "file", num_replicas: 3, max_msgs: 100000, discard: "old",
  });
  const ci = await jsms[1].consumers.add("ORDERS", {
    durable_name: "InvoiceProcessor", ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All,
    ack_wait: 30_000_000_000,
  });
  assert.equal(ci.name, "InvoiceProcessor");
  const leaderName = ci.cluster?.leader;
  assert.ok(byName(leaderName), JSON.stringify(ci.cluster));
  if (isFjord) assert.equal(await streamLeader(jsms[0]), leaderName);

  for (let i = 1; i <= 50; i++) assert.equal((await publishWithId(jetstream(conns[i % 3]), i)).seq, i);
  // Processed through a server that does not lead: requests and acks reach
  // the leader wherever the client is connected.
  const viaFollower = conns[c.nodes.indexOf(c.nodes.find((n) => n.serverName !== leaderName))];
  const first = [];
  while (first.length < 20) first.push(...await processBatch(jetstream(viaFollower), 20 - first.length));
  assert.deepEqual(first, Array.from({ length: 20 }, (_, i) => i + 1));
  const before = await jsms[2].consumers.info("ORDERS", "InvoiceProcessor");
  assert.equal(before.ack_floor.stream_seq, 20);
  assert.equal(before.num_pending, 30);
  assert.equal(before.num_ack_pending, 0);
  assert.equal(before.cluster.leader, leaderName);
  assert.equal((before.cluster.replicas ?? []).length, 2, JSON.stringify(before.cluster));

  // kill -9 of the consumer's leader mid-stream: another replica leads it,
  // from the last confirmed ack.
  const leader = byName(leaderName);
  const other = c.nodes.find((n) => n !== leader);
  const otherNc = conns[c.nodes.indexOf(other)];
  const otherJsm = jsms[c.nodes.indexOf(other)];
  await leader.kill9();
  const newLeader = await retry(async () => {
    const info = await otherJsm.consumers.info("ORDERS", "InvoiceProcessor");
    return info.cluster?.leader && info.cluster.leader !== leaderName ? info : undefined;
  }, "the consumer on a new leader");
  assert.equal(newLeader.ack_floor.stream_seq, 20, JSON.stringify(newLeader));
  assert.equal(newLeader.delivered.stream_seq, 20);
  assert.equal(newLeader.num_pending, 30);
  // Orders keep coming while the old leader is down; invoicing resumes at
  // 21 and sees each order exactly once.
  const js = jetstream(otherNc);
  for (let i = 51; i <= 60; i++) assert.equal((await retry(() => publishWithId(js, i), `publish ${i}`)).seq, i);
  const rest = [];
  await waitFor(async () => {
    rest.push(...await processBatch(js, 40 - rest.length));
    return rest.length >= 40;
  }, 30_000, "orders 21-60");
  assert.deepEqual(rest, Array.from({ length: 40 }, (_, i) => i + 21));

  // The killed server comes back, catches up, and leads the consumer with
  // the same state when asked to.
  await leader.restart();
  await agreedLeader(c.nodes, 3);
  await waitFor(async () => {
    const i = await otherJsm.consumers.info("ORDERS", "InvoiceProcessor");
    const r = (i.cluster.replicas ?? []).find((x) => x.name === leaderName);
    return r?.current && !r.lag;
  }, 20_000, `${leaderName} current again`);
  const back = checkApiReplies(await scope.conn(leader, APP));
  const backJsm = await jetstreamManager(back);
  // A pull waiting on the consumer's leader as it hands over ends with
  // `409 Leadership Change` (nats.js's fetch throws it) rather than at its
  // expiry: the client pulls again, from the new leader.
  const waiting = (async () => {
    const cons = await jetstream(otherNc).consumers.get("ORDERS", "InvoiceProcessor");
    for await (const m of await cons.fetch({ max_messages: 1, expires: 30_000 })) return `got ${m.seq}`;
    return "ended without a message";
  })().catch((e) => e);
  await waitFor(async () => (await otherJsm.consumers.info("ORDERS", "InvoiceProcessor")).num_waiting === 1,
    10_000, "the pull waiting on the leader");
  const onBack = await consumerStepDown(otherNc, backJsm, "InvoiceProcessor", leaderName);
  const ended = await within(waiting, 10_000, "the waiting pull to end");
  assert.ok(ended instanceof Error && /leadership change/i.test(ended.message), String(ended));
  assert.equal(onBack.ack_floor.stream_seq, 60, JSON.stringify(onBack));
  assert.equal(onBack.num_pending, 0);
  assert.equal((await publishWithId(jetstream(back), 61)).seq, 61);
  assert.deepEqual(await processBatch(jetstream(back), 1), [61]);

  // Listed by the leader; an update and a delete committed by the group.
  const names = [];
  for await (const n of backJsm.consumers.list("ORDERS")) names.push(n.name);
  assert.deepEqual(names, ["InvoiceProcessor"]);
  const upd = await backJsm.consumers.update("ORDERS", "InvoiceProcessor", { description: "invoices" });
  assert.equal(upd.config.description, "invoices");
  await rejectsCode(backJsm.consumers.add("ORDERS", { durable_name: "R5", ack_policy: AckPolicy.Explicit, num_replicas: 5 }),
    10126);
  assert.equal(await backJsm.consumers.delete("ORDERS", "InvoiceProcessor"), true);
  // Gone on every replica: another one leading the stream has none.
  const sd2 = JSON.parse((await back.request("$JS.API.STREAM.LEADER.STEPDOWN.ORDERS",
    JSON.stringify({ placement: { preferred: other.serverName } }), { timeout: 5000 })).string());
  if (sd2.error) assert.match(sd2.error.description, /is already leader/, JSON.stringify(sd2));
  await retry(async () => (await otherJsm.streams.info("ORDERS")).cluster.leader === other.serverName || undefined,
    `${other.serverName} leading`);
  await rejectsCode(otherJsm.consumers.info("ORDERS", "InvoiceProcessor"), 10014);
}));

test("replicated stream: a replica that was away catches up on consumers by snapshot and leads them", { timeout: 240_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const { c, conns: [nc], jsms: [jsm] } = await jsClusterClients(t, scope, 3);
  await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], storage: "file", num_replicas: 3 });
  await jsm.consumers.add("ORDERS", { durable_name: "InvoiceProcessor", ack_policy: AckPolicy.Explicit });
  await jsm.consumers.add("ORDERS", { durable_name: "Shipping", ack_policy: AckPolicy.Explicit });
  const leaderName = await streamLeader(jsm);
  // Away: a server that leads neither the stream nor InvoiceProcessor.
  const consumerLeader = (await jsm.consumers.info("ORDERS", "InvoiceProcessor")).cluster.leader;
  const away = c.nodes.find((n) => n.serverName !== leaderName && n.serverName !== consumerLeader && n !== c.nodes[0]) ??
    c.nodes.find((n) => n.serverName !== leaderName && n.serverName !== consumerLeader);
  await away.stop();

  // While it is away the consumers change (acks up to 3000, one deleted,
  // one created), then more entries follow than a snapshot's distance
  // (4096): the log up to past those changes is compacted, so the replica
  // can only learn them from the snapshot.
  const viaLeader = checkApiReplies(await scope.conn(c.nodes.find((n) => n.serverName === leaderName), APP));
  const js = jetstream(viaLeader);
  const publish = async (from, to) => {
    for (let base = from; base <= to; base += 500) {
      await Promise.all(Array.from({ length: Math.min(500, to - base + 1) },
        (_, k) => js.publish("orders.oslo.created", `${base + k}`, { timeout: 10_000 })));
    }
  };
  await publish(1, 3000);
  const inv = await js.consumers.get("ORDERS", "InvoiceProcessor");
  let acked = 0;
  while (acked < 3000) {
    const iter = await inv.fetch({ max_messages: 500, expires: 3000 });
    for await (const m of iter) {
      acked++;
      if (acked === 3000) await m.ackAck({ timeout: 3000 });
      else m.ack();
      if (acked === 3000) break;
    }
  }
  await jsm.consumers.delete("ORDERS", "Shipping");
  await jsm.consumers.add("ORDERS", { durable_name: "Analytics", ack_policy: AckPolicy.Explicit });
  const N = 9000;
  await publish(3001, N);

  await away.restart();
  await waitFor(async () => {
    const i = await jsm.consumers.info("ORDERS", "InvoiceProcessor");
    const r = (i.cluster.replicas ?? []).find((x) => x.name === away.serverName);
    return r?.current && !r.lag;
  }, 30_000, `${away.serverName} current again`);
  // The caught-up replica leads: it has every consumer as the group
  // committed it (Shipping gone, Analytics there, InvoiceProcessor at 3000).
  const awayJsm = await jetstreamManager(checkApiReplies(await scope.conn(away, APP)));
  const info = await consumerStepDown(nc, awayJsm, "InvoiceProcessor", away.serverName);
  assert.equal(info.ack_floor.stream_seq, 3000, JSON.stringify(info));
  assert.equal(info.num_pending, N - 3000);
  const names = [];
  for await (const n of awayJsm.consumers.list("ORDERS")) names.push(n.name);
  assert.deepEqual(names.sort(), ["Analytics", "InvoiceProcessor"]);
  t.diagnostic(`stream leader ${leaderName}, consumer leader ${consumerLeader}; ${away.serverName} was away`);
}));
