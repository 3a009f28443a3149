// Clustered JetStream, streams (one replica): a stream created through any
// server is placed on one by the meta leader (by placement tags, else the
// least loaded), and every server serves it: publishes, durable consumers,
// acks, info, lists, KV and deletion work from clients of any server, and
// the stream is back on its server after the cluster restarts. Errors as
// nats-server's. Replies are validated against the JetStream API schemas.
// Runs unchanged against nats-server (FJORD_BIN=/usr/sbin/nats-server).

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { jetstreamManager, jetstream, AckPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { waitFor, logsOnFailure, isFjord, startServer } from "./lib/server.mjs";
import { testScope, httpJson } from "./lib/cluster.mjs";
import { checkApiReplies, rejectsCode, connectTo } from "./lib/client.mjs";
import { APP, jsConfig, jsCluster, agreedLeader, CLI, fjordCli } from "./lib/jscluster.mjs";

const tagged = (i) => `server_tags: ["az:${i + 1}"]`;

test("clustered streams: placed by tags, served to clients of every server, kept across restarts", logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope, 3, tagged);
  await agreedLeader(c.nodes, 3);
  const [n1, n2, n3] = c.nodes;
  const nc1 = checkApiReplies(await scope.conn(n1, APP));
  const nc3 = checkApiReplies(await scope.conn(n3, APP));
  const jsm1 = await jetstreamManager(nc1);
  const jsm3 = await jetstreamManager(nc3);

  // Created through n1, placed on n2 by its tag.
  const si = await jsm1.streams.add({
    name: "ORDERS", subjects: ["orders.>"], storage: "file", num_replicas: 1, max_msgs: 100000,
    discard: "old", placement: { tags: ["az:2"] },
  });
  assert.equal(si.cluster?.leader, n2.serverName, JSON.stringify(si.cluster));
  assert.equal(si.cluster?.name, "C");

  // Published through n3: each PubAck comes from n2's stream.
  const js3 = jetstream(nc3);
  for (let i = 1; i <= 20; i++) {
    const ack = await js3.publish("orders.oslo.created", JSON.stringify({ order: i }));
    assert.equal(ack.stream, "ORDERS");
    assert.equal(ack.seq, i);
  }
  for (const jsm of [jsm1, jsm3]) {
    const info = await jsm.streams.info("ORDERS");
    assert.equal(info.state.messages, 20);
    assert.equal(info.cluster.leader, n2.serverName);
  }

  // A durable consumer made through n1, consumed and acked through n3.
  const ci = await jsm1.consumers.add("ORDERS", { durable_name: "InvoiceProcessor", ack_policy: AckPolicy.Explicit });
  assert.equal(ci.cluster?.leader, n2.serverName);
  const consumer = await js3.consumers.get("ORDERS", "InvoiceProcessor");
  const got = [];
  const batch = await consumer.fetch({ max_messages: 20, expires: 5000 });
  for await (const m of batch) {
    got.push(m.json().order);
    await m.ackAck();
  }
  assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i + 1));
  const after = await jsm1.consumers.info("ORDERS", "InvoiceProcessor");
  assert.equal(after.ack_floor.stream_seq, 20);
  assert.equal(after.num_ack_pending, 0);
  if (isFjord) {
    // Acks cross a route only towards the stream's server: n2 announces
    // its stream's ack subject, nobody announces them all.
    const announced = async (node) => (await httpJson(node.mport, "/routez?subs=1")).routes
      .map((r) => ({ from: r.remote_name, subs: r.subscriptions_list }));
    for (const r of await announced(n1)) {
      assert.ok(!r.subs.includes("$JS.ACK.>"), JSON.stringify(r));
      assert.equal(r.subs.includes("$JS.ACK.ORDERS.>"), r.from === n2.serverName, JSON.stringify(r));
    }
  }

  // Names, lists and account info, from the meta leader, through any server.
  assert.deepEqual(await jsm3.streams.names().next(), ["ORDERS"]);
  const listed = await jsm3.streams.list().next();
  assert.equal(listed.length, 1);
  assert.equal(listed[0].state.messages, 20);
  const ai = await jsm3.getAccountInfo();
  assert.equal(ai.streams, 1);
  assert.equal(ai.consumers, 1);
  assert.ok(ai.storage > 0, JSON.stringify(ai));

  // Errors, as nats-server's.
  await rejectsCode(jsm3.streams.add({ name: "ORDERS", subjects: ["other.>"] }), 10058);
  await rejectsCode(jsm3.streams.add({ name: "OVERLAP", subjects: ["orders.oslo.*"] }), 10065);
  await rejectsCode(jsm3.streams.add({ name: "NOWHERE", subjects: ["nowhere"], placement: { tags: ["az:9"] } }), 10005);
  await rejectsCode(jsm3.streams.info("MISSING"), 10059);
  if (isFjord) {
    // Not replicated yet: refused, never silently kept on one server.
    await rejectsCode(jsm3.streams.add({ name: "R4", subjects: ["r4"], num_replicas: 4 }), 10005, /replicas could be placed/);
  }

  // Leader stepdowns of a one-replica stream and its consumer: accepted,
  // and the leader stays (nats-server answers the same).
  const ask = async (subject, body = "") => JSON.parse((await nc1.request(subject, body, { timeout: 5000 })).string());
  assert.equal((await ask("$JS.API.STREAM.LEADER.STEPDOWN.ORDERS")).success, true);
  assert.equal((await ask("$JS.API.CONSUMER.LEADER.STEPDOWN.ORDERS.InvoiceProcessor")).success, true);
  assert.equal((await ask("$JS.API.STREAM.LEADER.STEPDOWN.MISSING")).error?.err_code, 10059);
  assert.equal((await ask("$JS.API.CONSUMER.LEADER.STEPDOWN.ORDERS.nobody")).error?.err_code, 10014);
  assert.equal((await jsm1.streams.info("ORDERS")).cluster.leader, n2.serverName);
  if (isFjord) {
    // Removing its only server would empty it (nats-server moves it, empty).
    const pr = await ask("$JS.API.STREAM.PEER.REMOVE.ORDERS", JSON.stringify({ peer: n2.serverName }));
    assert.equal(pr.error?.err_code, 10005, JSON.stringify(pr));
    const pr2 = await ask("$JS.API.STREAM.PEER.REMOVE.ORDERS", JSON.stringify({ peer: "n1" }));
    assert.equal(pr2.error?.err_code, 10040, JSON.stringify(pr2));
  }

  // KV through different servers; the bucket goes to the least loaded one.
  const kv1 = await new Kvm(nc1).create("profiles");
  const kv3 = await new Kvm(nc3).open("profiles");
  if (isFjord) {
    await kv3.put("alice", "oslo");
  } else {
    // nats-server answers the create before n3 has the bucket's subjects.
    await waitFor(() => kv3.put("alice", "oslo").then(() => true, () => false), 5_000, "a put through n3");
  }
  assert.equal((await kv1.get("alice"))?.string(), "oslo");
  const kvInfo = await jsm1.streams.info("KV_profiles");
  assert.notEqual(kvInfo.cluster.leader, n2.serverName, "placed away from the server that has ORDERS");

  // Updated through n3.
  const updated = await jsm3.streams.update("ORDERS", { ...si.config, max_msgs: 50000 });
  assert.equal(updated.config.max_msgs, 50000);
  assert.ok(nc1.apiChecked + nc3.apiChecked > 10, "replies validated");
  if (CLI) {
    // The operator's view, as `nats stream info` shows it.
    const r = await fjordCli(n1, ["stream", "info", "ORDERS"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Cluster Information:\s+Name: C\s+Leader: n2\s/);
    const rc = await fjordCli(n3, ["consumer", "info", "ORDERS", "InvoiceProcessor"]);
    assert.equal(rc.code, 0, rc.stderr);
    assert.match(rc.stdout, /Cluster Information:\s+Name: C\s+Leader: n2\s/);
  }

  // The whole cluster restarts: the meta state and the streams come back.
  await Promise.all([nc1.close(), nc3.close()]);
  for (const n of c.nodes) await n.restart();
  await agreedLeader(c.nodes, 3);
  const nc2 = checkApiReplies(await scope.conn(n2, APP));
  const nc1b = checkApiReplies(await scope.conn(n1, APP));
  const jsm2 = await jetstreamManager(nc2);
  const jsm1b = await jetstreamManager(nc1b);
  let info;
  await waitFor(async () => {
    info = await jsm1b.streams.info("ORDERS").catch(() => undefined);
    return info?.state?.messages === 20;
  }, 15_000, "ORDERS served again after the restart");
  assert.equal(info.config.max_msgs, 50000);
  assert.equal(info.cluster.leader, n2.serverName);
  const c2 = await jsm2.consumers.info("ORDERS", "InvoiceProcessor");
  assert.equal(c2.ack_floor.stream_seq, 20, "the acks survived");

  // Deleted through n1; gone for everyone.
  assert.equal(await jsm1b.streams.delete("ORDERS"), true);
  await rejectsCode(jsm2.streams.info("ORDERS"), 10059);
  assert.deepEqual(await jsm2.streams.names().next(), ["KV_profiles"]);
}));

// Fjord answers a stream create or update only once every other server has
// taken the stream's subjects (a PING/PONG round trip on each route after
// them), so a publish through any server right after the answer is stored.
// nats-server answers at once: such a publish may find no responders (503).
// A delete is answered (as by nats-server) by the stream's server once it
// has removed it.
test("clustered streams: publishes through any server right after a create or an update are stored; a delete's answer comes once it is gone", { skip: isFjord ? false : "a Fjord guarantee" }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope, 3, tagged);
  await agreedLeader(c.nodes, 3);
  const conns = await Promise.all(c.nodes.map(async (n) => checkApiReplies(await scope.conn(n, APP))));
  for (let i = 0; i < 12; i++) {
    // Created through the server it is placed on: the answer is local, the
    // others hear of the subjects over their routes.
    const host = i % 3;
    const others = [0, 1, 2].filter((k) => k !== host);
    const jsm = await jetstreamManager(conns[host]);
    const si = await jsm.streams.add({ name: `R${i}`, subjects: [`r.${i}`], placement: { tags: [`az:${host + 1}`] } });
    assert.equal(si.cluster.leader, c.nodes[host].serverName);
    const acks = await Promise.all(others.map((k) => jetstream(conns[k]).publish(`r.${i}`, "x")));
    assert.deepEqual(acks.map((a) => a.stream), [`R${i}`, `R${i}`]);
    await jsm.streams.update(`R${i}`, { ...si.config, subjects: [`r.${i}`, `s.${i}`] });
    const more = await Promise.all(others.map((k) => jetstream(conns[k]).publish(`s.${i}`, "y")));
    assert.deepEqual(more.map((a) => a.seq).sort(), [3, 4]);
    // Deleted through another server: the answer comes once the stream's
    // server has removed it, so it is gone there at once.
    assert.equal(await (await jetstreamManager(conns[others[i % 2]])).streams.delete(`R${i}`), true);
    await rejectsCode(jsm.streams.info(`R${i}`), 10059);
  }
}));

// With its only server down, a stream's delete is answered by the meta
// leader: it is decided once committed. The server, back, no longer serves
// it. nats-server deletes it too, but leaves that request unanswered (a
// retry finds the stream gone).
test("clustered streams: a stream whose server is down is deleted; back, the server no longer serves it", { skip: isFjord ? false : "nats-server leaves the delete unanswered" }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope, 3, tagged);
  await agreedLeader(c.nodes, 3);
  const [n1, , n3] = c.nodes;
  const jsm1 = await jetstreamManager(checkApiReplies(await scope.conn(n1, APP)));
  const si = await jsm1.streams.add({ name: "GONE", subjects: ["gone.>"], placement: { tags: ["az:3"] } });
  assert.equal(si.cluster.leader, n3.serverName);
  await n3.kill9();
  await waitFor(async () => (await jsm1.streams.delete("GONE").catch(() => false)) === true, 20_000,
    "the delete answered while GONE's server is down");
  await n3.restart();
  await agreedLeader(c.nodes, 3);
  const jsm3 = await jetstreamManager(await scope.conn(n3, APP));
  await waitFor(async () => (await jsm3.streams.info("GONE").then(() => "found", (e) => e?.code)) === 10059,
    20_000, "GONE not served by its server once back");
  assert.deepEqual(await jsm1.streams.names().next(), []);
}));

test("clustered streams: the stream's server killed and back, then every server: nothing acknowledged is lost", logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope, 3);
  await agreedLeader(c.nodes, 3);
  const nc = await scope.conn(c.nodes[0], APP);
  const jsm = await jetstreamManager(nc);
  const si = await jsm.streams.add({ name: "EVENTS", subjects: ["events.>"], storage: "file" });
  const host = c.nodes.find((n) => n.serverName === si.cluster.leader);
  const other = c.nodes.find((n) => n !== host);
  const ncOther = await scope.conn(other, APP);
  const js = jetstream(ncOther);
  for (let i = 0; i < 50; i++) await js.publish("events.x", `${i}`);
  await host.kill9();
  // While it is down its stream is not served, but the meta group (with a
  // new leader if it led) still knows it: the name stays taken.
  await agreedLeader(c.nodes.filter((n) => n !== host), 3);
  const jsmOther = await jetstreamManager(ncOther);
  await rejectsCode(jsmOther.streams.add({ name: "EVENTS", subjects: ["other"] }), 10058);
  await host.restart();
  await agreedLeader(c.nodes, 3);
  let info = await waitFor(() => jsmOther.streams.info("EVENTS").catch(() => undefined), 15_000,
    "EVENTS served again");
  assert.equal(info.state.messages, 50);
  assert.equal(info.cluster.leader, host.serverName);

  // All three killed with -9: the assignment (in the meta log) and the
  // messages come back.
  await ncOther.close();
  for (const n of c.nodes) await n.kill9();
  for (const n of c.nodes) await n.restart();
  await agreedLeader(c.nodes, 3);
  const jsm3 = await jetstreamManager(await scope.conn(other, APP));
  info = await waitFor(() => jsm3.streams.info("EVENTS").catch(() => undefined), 15_000,
    "EVENTS served after kill -9 of every server");
  assert.equal(info.state.messages, 50);
  assert.equal(info.cluster.leader, host.serverName);
  await rejectsCode(jsm3.streams.add({ name: "EVENTS", subjects: ["other"] }), 10058);
}));

test("clustered streams: a stream the cluster does not know is set aside, its files kept", { skip: isFjord ? false : "nats-server deletes such streams" }, logsOnFailure(async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-jscluster-"));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  // n1's store first served a single server, which made a stream.
  const single = await startServer({ config: jsConfig(root)(0), jetstream: false });
  t.after(() => single.stop());
  const nc = await connectTo(single, APP);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "OLD", subjects: ["old.>"] });
  const js = jetstream(nc);
  for (let i = 0; i < 5; i++) await js.publish("old.x", `${i}`);
  await nc.close();
  await single.stop();

  const scope = testScope(t);
  const c = await jsCluster(t, scope, 3, undefined, root);
  await agreedLeader(c.nodes, 3);
  const apps = path.join(root, "n1", "jetstream", "APP");
  await waitFor(() => fs.existsSync(path.join(apps, "orphaned")) &&
    fs.readdirSync(path.join(apps, "orphaned")).some((d) => d.startsWith("OLD-")), 15_000, "OLD set aside");
  assert.equal(fs.existsSync(path.join(apps, "streams", "OLD")), false);
  const aside = fs.readdirSync(path.join(apps, "orphaned")).find((d) => d.startsWith("OLD-"));
  assert.ok(fs.readdirSync(path.join(apps, "orphaned", aside)).length > 0, "its files are kept");
  // Not served, and its name is free for the cluster.
  const jsm2 = await jetstreamManager(await scope.conn(c.nodes[1], APP));
  assert.deepEqual(await jsm2.streams.names().next(), []);
  const si = await jsm2.streams.add({ name: "OLD", subjects: ["old.>"] });
  assert.equal(si.state.messages, 0);
}));
