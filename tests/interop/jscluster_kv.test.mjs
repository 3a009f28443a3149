// Clustered JetStream: what builds on a replicated stream (num_replicas 3)
// through the official clients — a key-value bucket (@nats-io/kv: roll-ups,
// per-subject history, purge with keep), an object store (@nats-io/obj), a
// work queue, interest retention and message TTLs, mirrors and sources,
// 2.12's message schedules and atomic batches.
// Each removes or copies messages (roll-ups, acks, expiry, copies from an
// origin), and every replica must do the same: after kill -9 of the leader
// the new one serves the same contents, and the checker reads the stream
// from each replica in turn (each made leader).
// Replies are validated against the JetStream API schemas. Runs against
// nats-server too (FJORD_BIN=/usr/sbin/nats-server, or the newest).

import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { headers } from "@nats-io/transport-node";
import { jetstreamManager, jetstream, AckPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { waitFor, logsOnFailure, isFjord } from "./lib/server.mjs";
import { testScope } from "./lib/cluster.mjs";
import { checkApiReplies, collect, rawPub } from "./lib/client.mjs";
import { APP, agreedLeader, jsCluster, jsClusterClients, retry } from "./lib/jscluster.mjs";

const info = (jsm, stream) => retry(() => jsm.streams.info(stream), `info of ${stream}`);

// Makes each replica of `stream` lead in turn and runs `fn(name)` there,
// so that what is checked is read from that replica's own store.
async function onEachReplica(nc, jsm, stream, fn) {
  const si = await info(jsm, stream);
  const names = [si.cluster.leader, ...(si.cluster.replicas ?? []).map((r) => r.name)];
  assert.equal(names.length, 3, JSON.stringify(si.cluster));
  // Each must be current first, or it could not be made leader.
  await waitFor(async () => {
    const i = await jsm.streams.info(stream).catch(() => undefined);
    return i?.cluster?.replicas?.length === 2 && i.cluster.replicas.every((r) => r.current && !r.offline);
  }, 30_000, `every replica of ${stream} current`, 200);
  for (const name of names) {
    await retry(async () => {
      const now = (await jsm.streams.info(stream)).cluster.leader;
      if (now === name) return true;
      const r = JSON.parse((await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`,
        JSON.stringify({ placement: { preferred: name } }), { timeout: 5000 })).string());
      if (r.error && !/already leader/.test(r.error.description)) throw new Error(JSON.stringify(r.error));
      return undefined;
    }, `${name} leading ${stream}`, 30_000);
    await fn(name);
  }
}

// kill -9 of the server leading `stream`; the client connection and
// manager of another server (nc2, jsm2) go on without it.
async function killLeader(c, conns, jsms, byName, stream) {
  const leaderName = (await info(jsms[0], stream)).cluster.leader;
  const leader = byName(leaderName);
  const other = c.nodes.indexOf(c.nodes.find((n) => n !== leader));
  await leader.kill9();
  return { leader, leaderName, nc2: conns[other], jsm2: jsms[other] };
}

// Every stored message of `stream` (sequence, subject, data), read through
// the leader.
async function contents(jsm, stream) {
  const si = await jsm.streams.info(stream);
  const out = [];
  for (let seq = si.state.first_seq; si.state.messages && seq <= si.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }); // null: none at seq
    if (m) out.push(`${m.seq} ${m.subject} ${m.string()}`);
  }
  assert.equal(out.length, si.state.messages, `${stream}: ${JSON.stringify(si.state)}`);
  return out;
}

test("replicated KV bucket: history, delete, purge and purgeDeletes; the same on every replica after kill -9 of the leader", { timeout: 240_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const { c, conns, jsms, byName } = await jsClusterClients(t, scope, 3);

  const kv = await new Kvm(conns[0]).create("cfg", { history: 3, replicas: 3 });
  const si = await info(jsms[1], "KV_cfg");
  assert.equal(si.config.num_replicas, 3);
  assert.equal(si.config.allow_rollup_hdrs, true);
  assert.equal((si.cluster.replicas ?? []).length, 2, JSON.stringify(si.cluster));

  for (let i = 1; i <= 5; i++) await kv.put("k1", `v${i}`);
  await kv.put("k2", "two");
  await kv.put("k3", "a");
  await kv.put("k3", "b");
  await kv.delete("k2");
  await kv.purge("k3"); // a roll-up: the earlier k3 values go
  assert.deepEqual((await collect(await kv.history({ key: "k1" }), 3)).map((e) => e.string()), ["v3", "v4", "v5"]);
  const h3 = await collect(await kv.history({ key: "k3" }), 1);
  assert.deepEqual(h3.map((e) => e.operation), ["PURGE"]);

  // kill -9 of the leader: another replica serves the same bucket.
  const { leader, nc2, jsm2 } = await killLeader(c, conns, jsms, byName, "KV_cfg");
  const kv2 = await retry(() => new Kvm(nc2).open("cfg"), "the bucket through another server");
  assert.equal((await retry(() => kv2.get("k1"), "k1 from the new leader")).string(), "v5");
  await retry(() => kv2.put("k1", "v6"), "a put on the new leader");
  await kv2.put("k4", "x");
  await kv2.put("k4", "y");
  assert.equal((await kv2.get("k2"))?.operation, "DEL");
  // purgeDeletes purges with keep: 1 (markers older than the threshold go
  // entirely, here none is).
  const pd = await kv2.purgeDeletes(60_000);
  assert.equal(pd.success, true);
  await leader.restart();
  await agreedLeader(c.nodes, 3);

  const back = checkApiReplies(await scope.conn(leader, APP));
  let expected;
  await onEachReplica(nc2, jsm2, "KV_cfg", async (name) => {
    const kvx = await new Kvm(back).open("cfg");
    assert.deepEqual((await collect(await kvx.history({ key: "k1" }), 3)).map((e) => e.string()), ["v4", "v5", "v6"], name);
    assert.deepEqual((await collect(await kvx.history({ key: "k3" }), 1)).map((e) => e.operation), ["PURGE"], name);
    assert.deepEqual((await collect(await kvx.history({ key: "k2" }), 1)).map((e) => e.operation), ["DEL"], name);
    const got = await contents(jsm2, "KV_cfg");
    if (expected === undefined) expected = got;
    assert.deepEqual(got, expected, `the stream as ${name} holds it`);
  });
  // k1: 3, k2: its delete marker, k3: its purge marker, k4: 2.
  assert.equal(expected.length, 7, expected.join("\n"));
}));

test("replicated KV watchers and ordered consumers run on the stream's leader alone (no replicas in their info) and go on through a stepdown and kill -9 of the leader: every update seen once, in order", { timeout: 240_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const { c, conns, jsms, byName } = await jsClusterClients(t, scope, 3);
  await new Kvm(conns[0]).create("w", { replicas: 3 });
  const first = (await info(jsms[0], "KV_w")).cluster.leader;
  // The clients stay on the first leader's server, which is never killed;
  // the leader moves to another (stepdown), which is then killed.
  const home = c.nodes.indexOf(byName(first));
  const nc = conns[home];
  const js = jetstream(nc);
  const kv = await new Kvm(nc).open("w");

  const revisions = [];
  const watch = await kv.watch({ key: ">" });
  (async () => { for await (const e of watch) revisions.push(e.revision); })();
  const seqs = [];
  const ordered = await js.consumers.get("KV_w");
  // Short pulls: one a leader hands over ends with 409, and the client
  // pulls again after two missed heartbeats (half the expiry each).
  const consume = await ordered.consume({ expires: 5000 });
  (async () => { for await (const m of consume) seqs.push(m.seq); })();

  // A put retried after a lost reply may be stored twice: the stream's
  // last sequence says what there is to see.
  let n = 0;
  const putSome = async (k) => {
    // Keys of their own: a later value would remove an earlier one (history
    // 1) before a consumer that waits for its next pull could see it.
    for (let i = 0; i < k; i++) await retry(() => kv.put(`k${n + i}`, `v${i}`), "a put");
    n = (await retry(() => jsms[home].streams.info("KV_w"), "KV_w's info")).state.last_seq;
  };
  const seenAll = (what) => waitFor(() => revisions.length >= n && seqs.length >= n, 45_000, what, 100)
    .catch((e) => {
      throw new Error(`${e.message}; the watcher saw ${revisions}, the ordered consumer ${seqs}`);
    });
  const once = () => {
    const want = Array.from({ length: n }, (_, i) => i + 1);
    assert.deepEqual(revisions, want, "the watcher's revisions");
    assert.deepEqual(seqs, want, "the ordered consumer's sequences");
  };
  await putSome(10);
  await seenAll("10 updates seen");
  once();

  // Neither keeps its deliveries in the group: the info shows the leader
  // alone, where a durable's shows both other replicas.
  const oi = await ordered.info(true);
  assert.equal(oi.cluster.leader, first, JSON.stringify(oi.cluster));
  assert.equal((oi.cluster.replicas ?? []).length, 0, JSON.stringify(oi.cluster));
  const di = await jsms[home].consumers.add("KV_w", { durable_name: "D", ack_policy: AckPolicy.Explicit });
  assert.equal((di.cluster.replicas ?? []).length, 2, JSON.stringify(di.cluster));

  const next = c.nodes.find((node) => node.serverName !== first).serverName;
  const sd = JSON.parse((await nc.request("$JS.API.STREAM.LEADER.STEPDOWN.KV_w",
    JSON.stringify({ placement: { preferred: next } }), { timeout: 5000 })).string());
  assert.equal(sd.success, true, JSON.stringify(sd));
  await retry(async () => ((await jsms[home].streams.info("KV_w")).cluster.leader === next) || undefined, `${next} leading`);
  await putSome(10);
  await seenAll("20 updates seen after the stepdown");
  once();

  await byName(next).kill9();
  await putSome(10);
  await seenAll("30 updates seen after kill -9 of the leader");
  once();
  watch.stop();
  consume.stop();
}));

test("replicated object store: a 1 MiB object put, read back after kill -9 of the leader, deleted on every replica", { timeout: 240_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const { c, conns, jsms, byName } = await jsClusterClients(t, scope, 3);
  const os = await new Objm(conns[0]).create("files", { replicas: 3 });
  const data = crypto.randomBytes(1024 * 1024);
  const put = await os.putBlob({ name: "invoice.pdf" }, data);
  assert.equal(put.size, data.length);
  await os.putBlob({ name: "old.txt" }, Buffer.from("first"));
  await os.putBlob({ name: "old.txt" }, Buffer.from("second")); // the first version's meta rolled up

  const { leader, nc2, jsm2 } = await killLeader(c, conns, jsms, byName, "OBJ_files");
  // Opening asks for account info, which waits for a meta leader (on
  // nats-server the killed server may have been it).
  const os2 = await retry(() => new Objm(nc2).open("files"), "the object store through another server");
  const got = await retry(() => os2.getBlob("invoice.pdf"), "the object from the new leader");
  assert.ok(Buffer.from(got).equals(data), "the object reads back whole");
  assert.equal(Buffer.from(await os2.getBlob("old.txt")).toString(), "second");
  await os2.delete("old.txt");
  await leader.restart();
  await agreedLeader(c.nodes, 3);

  let expected;
  await onEachReplica(nc2, jsm2, "OBJ_files", async (name) => {
    const list = (await os2.list()).map((o) => o.name).sort();
    assert.deepEqual(list, ["invoice.pdf"], name);
    assert.ok(Buffer.from(await os2.getBlob("invoice.pdf")).equals(data), name);
    // Consumers aside: the client's ordered ones come and go.
    const got = await contents(jsm2, "OBJ_files");
    if (expected === undefined) expected = got;
    assert.deepEqual(got, expected, `the stream as ${name} holds it`);
  });
}));

test("replicated work queue: acknowledged messages leave every replica; a new leader after kill -9 goes on where the acks stopped", { timeout: 240_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const { c, conns, jsms, byName } = await jsClusterClients(t, scope, 3);
  await jsms[0].streams.add({ name: "JOBS", subjects: ["jobs.>"], retention: "workqueue", num_replicas: 3 });
  await jsms[0].consumers.add("JOBS", { durable_name: "worker", ack_policy: AckPolicy.Explicit });
  const js = jetstream(conns[1]);
  for (let i = 1; i <= 30; i++) await js.publish("jobs.pack", `job ${i}`);
  const worker = await jetstream(conns[2]).consumers.get("JOBS", "worker");
  const done = [];
  while (done.length < 20) {
    for await (const m of await worker.fetch({ max_messages: 20 - done.length, expires: 2000 })) {
      done.push(m.seq);
      await m.ackAck();
    }
  }
  await waitFor(async () => (await jsms[0].streams.info("JOBS")).state.messages === 10, 10_000, "10 jobs left");

  const { leader, leaderName, nc2, jsm2 } = await killLeader(c, conns, jsms, byName, "JOBS");
  const si = await retry(async () => {
    const i = await jsm2.streams.info("JOBS");
    return i.cluster.leader && i.cluster.leader !== leaderName ? i : undefined;
  }, "a new leader of JOBS");
  assert.equal(si.state.messages, 10, JSON.stringify(si.state));
  assert.equal(si.state.first_seq, 21);
  const w2 = await jetstream(nc2).consumers.get("JOBS", "worker");
  const rest = [];
  await waitFor(async () => {
    for await (const m of await w2.fetch({ max_messages: 10 - rest.length, expires: 2000 })) {
      rest.push(m.seq);
      await m.ackAck();
    }
    return rest.length >= 10;
  }, 30_000, "jobs 21-30");
  assert.deepEqual(rest, Array.from({ length: 10 }, (_, i) => i + 21));
  await leader.restart();
  await agreedLeader(c.nodes, 3);
  await onEachReplica(nc2, jsm2, "JOBS", async (name) => {
    await waitFor(async () => (await jsm2.streams.info("JOBS")).state.messages === 0, 10_000, `JOBS empty on ${name}`);
    const st = (await jsm2.streams.info("JOBS")).state;
    assert.equal(st.last_seq, 30, name);
  });
}));

test("replicated interest retention: a message leaves every replica once both consumers acked it", { timeout: 240_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const { conns, jsms } = await jsClusterClients(t, scope, 3);
  await jsms[0].streams.add({ name: "EVENTS", subjects: ["events.>"], retention: "interest", num_replicas: 3 });
  const js = jetstream(conns[0]);
  await js.publish("events.a", "before any consumer"); // no interest: not kept
  for (const d of ["shipping", "invoicing"]) await jsms[0].consumers.add("EVENTS", { durable_name: d, ack_policy: AckPolicy.Explicit });
  for (let i = 1; i <= 10; i++) await js.publish("events.a", `e${i}`);
  const ack = async (name, n) => {
    const cons = await jetstream(conns[1]).consumers.get("EVENTS", name);
    let got = 0;
    while (got < n) {
      for await (const m of await cons.fetch({ max_messages: n - got, expires: 2000 })) {
        await m.ackAck();
        got++;
      }
    }
  };
  await ack("shipping", 10);
  await ack("invoicing", 4);
  await onEachReplica(conns[2], jsms[2], "EVENTS", async (name) => {
    await waitFor(async () => (await jsms[2].streams.info("EVENTS")).state.messages === 6, 10_000, `6 left on ${name}`);
    assert.equal((await jsms[2].streams.info("EVENTS")).state.first_seq, 6, name);
  });
}));

test("replicated message TTLs: an expired message and its subject's delete marker, the same on every replica", { timeout: 240_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const { conns, jsms } = await jsClusterClients(t, scope, 3);
  await jsms[0].streams.add({
    // One message per subject: the TTL is not raised to the marker's.
    name: "SESSIONS", subjects: ["sessions.>"], num_replicas: 3, allow_msg_ttl: true, max_msgs_per_subject: 1,
    subject_delete_marker_ttl: 60_000_000_000,
  });
  const js = jetstream(conns[1]);
  const h = headers();
  h.set("Nats-TTL", "1s");
  await js.publish("sessions.s1", "short", { headers: h });
  await js.publish("sessions.s2", "kept");
  let expected;
  await waitFor(async () => (await jsms[0].streams.info("SESSIONS")).state.last_seq === 3, 15_000,
    "the delete marker for sessions.s1");
  await onEachReplica(conns[2], jsms[2], "SESSIONS", async (name) => {
    const got = await contents(jsms[2], "SESSIONS");
    if (expected === undefined) expected = got;
    assert.deepEqual(got, expected, name);
  });
  assert.deepEqual(expected.map((l) => l.split(" ").slice(0, 2).join(" ")), ["2 sessions.s2", "3 sessions.s1"]);
  const marker = await jsms[2].streams.getMessage("SESSIONS", { seq: 3 });
  assert.equal(marker.header.get("Nats-Marker-Reason"), "MaxAge");
}));

test("replicated mirror and sources: R3 copies of R3 streams and an R1 mirror, kill -9 of the copies' leader mid-stream; copies of streams on other servers, kill -9 of the copy's and the origin's server; nothing lost or copied twice, every replica the same", { timeout: 240_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  // Tags az:0..2, for the placement checks at the end.
  const c = await jsCluster(t, scope, 3, (i) => `server_tags: ["az:${i}"]`);
  await agreedLeader(c.nodes, 3);
  const conns = [];
  for (const node of c.nodes) conns.push(checkApiReplies(await scope.conn(node, APP)));
  const jsms = await Promise.all(conns.map((nc) => jetstreamManager(nc)));
  const byName = (name) => c.nodes.find((node) => node.serverName === name);
  const jsm = jsms[0];
  await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
  await jsm.streams.add({ name: "RETURNS", subjects: ["returns.>"], num_replicas: 3 });
  await jsm.streams.add({ name: "BACKUP", mirror: { name: "ORDERS" }, num_replicas: 3 });
  await jsm.streams.add({
    name: "OSLO", num_replicas: 3,
    sources: [{ name: "ORDERS", filter_subject: "orders.oslo.>" }, { name: "RETURNS" }],
  });
  await jsm.streams.add({ name: "AUDIT", mirror: { name: "ORDERS" }, num_replicas: 1 });
  assert.equal((await info(jsm, "BACKUP")).cluster.replicas?.length, 2);

  // Orders alternate between Oslo and Bergen; every fifth is returned.
  const publish = async (js, from, to) => {
    for (let i = from; i <= to; i++) {
      const city = i % 2 ? "oslo" : "bergen";
      await retry(() => js.publish(`orders.${city}.created`, `order ${i}`, { msgID: `o-${i}` }), `order ${i}`);
      if (i % 5 === 0) await retry(() => js.publish(`returns.${city}`, `return ${i}`, { msgID: `r-${i}` }), `return ${i}`);
    }
  };
  const counts = async (jsmx, want) => waitFor(async () => {
    for (const [name, n] of Object.entries(want)) {
      const i = await jsmx.streams.info(name).catch(() => undefined);
      if (i?.state.messages !== n) return false;
    }
    return true;
  }, 30_000, `copies hold ${JSON.stringify(want)}`, 200);
  await publish(jetstream(conns[0]), 1, 40);
  // 40 orders, 20 of them from Oslo, 8 returns.
  await counts(jsm, { BACKUP: 40, AUDIT: 40, OSLO: 28 });

  // kill -9 of the mirror's leader; orders go on through another server.
  const { leader, nc2, jsm2 } = await killLeader(c, conns, jsms, byName, "BACKUP");
  await publish(jetstream(nc2), 41, 80);
  await counts(jsm2, { BACKUP: 80, OSLO: 56 });
  await leader.restart();
  await agreedLeader(c.nodes, 3);
  await counts(jsm2, { BACKUP: 80, AUDIT: 80, OSLO: 56 });

  // The mirror keeps the origin's sequences; the sources hold each copied
  // message once.
  const orders = await contents(jsm2, "ORDERS");
  let sourced;
  await onEachReplica(nc2, jsm2, "BACKUP", async (name) => {
    assert.deepEqual(await contents(jsm2, "BACKUP"), orders, `the mirror as ${name} holds it`);
  });
  await onEachReplica(nc2, jsm2, "OSLO", async (name) => {
    const got = await contents(jsm2, "OSLO");
    if (sourced === undefined) sourced = got;
    assert.deepEqual(got, sourced, `the sources as ${name} holds them`);
  });
  const bodies = sourced.map((line) => line.split(" ").slice(2).join(" ")).sort();
  const want = [];
  for (let i = 1; i <= 80; i++) {
    if (i % 2) want.push(`order ${i}`);
    if (i % 5 === 0) want.push(`return ${i}`);
  }
  assert.deepEqual(bodies, want.sort());
  const mi = (await info(jsm2, "BACKUP")).mirror;
  assert.equal(mi.name, "ORDERS");
  assert.equal(mi.lag, 0);


  // Copies of streams held on other servers (read through a consumer on
  // the origin, as nats-server does): EU on az:0, US on az:1, WORLD
  // sourcing both on az:2, EU3 mirroring EU on all three. kill -9 of
  // WORLD's server, then of US's, while orders go on: each copy holds
  // every message once.
  const [eu0, us1, world2] = c.nodes;
  const ncEu = checkApiReplies(await scope.conn(eu0, APP));
  const jsmEu = await jetstreamManager(ncEu);
  const jsEu = jetstream(ncEu);
  await retry(() => jsmEu.streams.add({ name: "EU", subjects: ["eu.>"], placement: { tags: ["az:0"] } }), "EU");
  await retry(() => jsmEu.streams.add({ name: "US", subjects: ["us.>"], placement: { tags: ["az:1"] } }), "US");
  const world = { name: "WORLD", sources: [{ name: "EU" }, { name: "US" }], placement: { tags: ["az:2"] } };
  assert.equal((await retry(() => jsmEu.streams.add(world), "WORLD")).cluster.leader, world2.serverName);
  await retry(() => jsmEu.streams.add({ name: "EU3", mirror: { name: "EU" }, num_replicas: 3 }), "EU3");
  // US's orders carry no msg id: a copy made twice would not be dropped
  // as a duplicate.
  const region = async (r, from, to) => {
    for (let i = from; i <= to; i++)
      await retry(() => jsEu.publish(`${r}.order`, `${r} ${i}`, r === "eu" ? { msgID: `${r}-${i}` } : {}), `${r} ${i}`);
  };
  await region("eu", 1, 10);
  await region("us", 1, 10);
  await counts(jsmEu, { WORLD: 20, EU3: 10 });
  await world2.kill9();
  await region("eu", 11, 20);
  await region("us", 11, 20);
  await world2.restart();
  await counts(jsmEu, { WORLD: 40, EU3: 20 });
  await us1.kill9();
  await region("eu", 21, 30);
  await us1.restart();
  await region("us", 21, 30);
  await counts(jsmEu, { EU: 30, US: 30, WORLD: 60, EU3: 30 });
  const worldBodies = (await contents(jsmEu, "WORLD")).map((line) => line.split(" ").slice(2).join(" ")).sort();
  const wantWorld = [];
  for (let i = 1; i <= 30; i++) wantWorld.push(`eu ${i}`, `us ${i}`);
  assert.deepEqual(worldBodies, wantWorld.sort());
  const eu = await contents(jsmEu, "EU");
  await onEachReplica(ncEu, jsmEu, "EU3", async (name) => {
    assert.deepEqual(await contents(jsmEu, "EU3"), eu, `the mirror as ${name} holds it`);
  });
  if (isFjord) {
    // Where a server holds the origin, the copy goes there and reads it
    // from its store.
    const eu1 = await jsmEu.streams.add({ name: "EU1", mirror: { name: "EU" } });
    assert.equal(eu1.cluster.leader, eu0.serverName);
  }
}));

test("replicated message schedules and atomic batches: a schedule fires on the leader after kill -9 of the one that took it, a batch commits whole; the same on every replica", { timeout: 240_000 }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const { c, conns, jsms, byName } = await jsClusterClients(t, scope, 3);
  await jsms[0].streams.add({
    name: "SCH", subjects: ["sch.>"], num_replicas: 3, allow_msg_schedules: true, allow_atomic: true, allow_msg_ttl: true,
  });
  const at = (ms) => "@at " + new Date(Date.now() + ms).toISOString().replace(/\.\d+Z$/, "Z");
  const last = (jsmx, subject) => jsmx.streams.getMessage("SCH", { last_by_subj: subject });
  let r = await rawPub(conns[0], "sch.reminder.1", "pay invoice 42",
    { "Nats-Schedule": at(3000), "Nats-Schedule-Target": "sch.due", "Nats-Schedule-TTL": "5m" });
  assert.equal(r.seq, 1, JSON.stringify(r));
  r = await rawPub(conns[0], "sch.reminder.2", "next year", { "Nats-Schedule": at(3_600_000), "Nats-Schedule-Target": "sch.due" });
  assert.equal(r.seq, 2, JSON.stringify(r));

  // The leader that took the schedules dies before the first is due: the
  // next one fires it, once.
  const { leader, nc2, jsm2 } = await killLeader(c, conns, jsms, byName, "SCH");
  const due = await retry(async () => (await last(jsm2, "sch.due")) ?? undefined, "the scheduled message", 30_000);
  assert.equal(due.string(), "pay invoice 42");
  assert.equal(due.header.get("Nats-Scheduler"), "sch.reminder.1");
  assert.equal(due.header.get("Nats-TTL"), "5m");

  // An atomic batch through the new leader: stored whole at its commit.
  const js2 = jetstream(nc2, { timeout: 5000 });
  const b = await retry(() => js2.startBatch("sch.order.1", "line 1"), "a batch on the new leader");
  b.add("sch.order.1", "line 2");
  const ack = await b.commit("sch.order.1", "line 3");
  assert.equal(ack.count, 3);
  assert.equal(ack.seq, due.seq + 3);
  await leader.restart();
  await agreedLeader(c.nodes, 3);

  let expected;
  await onEachReplica(nc2, jsm2, "SCH", async (name) => {
    assert.equal(await last(jsm2, "sch.reminder.1"), null, `the fired schedule is gone on ${name}`);
    assert.equal((await last(jsm2, "sch.reminder.2")).string(), "next year", name);
    const got = await contents(jsm2, "SCH");
    if (expected === undefined) expected = got;
    assert.deepEqual(got, expected, `the stream as ${name} holds it`);
    const commit = await jsm2.streams.getMessage("SCH", { seq: ack.seq });
    assert.equal(commit.header.get("Nats-Batch-Commit"), "1", name);
  });
  // reminder.2, the scheduled copy, the batch's three.
  assert.equal(expected.length, 5, expected.join("\n"));
  assert.equal(expected.filter((line) => line.includes(" sch.due ")).length, 1, expected.join("\n"));
}));
