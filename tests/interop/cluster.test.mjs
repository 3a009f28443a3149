// Clustering (routes) through nats.js and raw sockets: full mesh from one
// seed by route gossip, interest propagation (plain, wildcard, queue,
// unsubscribe), request/reply and no-responders across nodes, headers over
// routes, client failover and node restart, cluster name and route
// authorization checks, mixed clusters with a reference nats-server, and
// bad input on the cluster port. Runs unchanged against nats-server (2.9 and
// 2.10+; the latter opens several route connections per peer, so routes are
// counted by distinct remote_id).
//
// Every test starts its own cluster (lib/cluster.mjs) and stops it in
// t.after, also on failure.

import { test } from "node:test";
import net from "node:net";
import assert from "node:assert/strict";
import { connect, headers } from "@nats-io/transport-node";
import { within, sleep, waitFor, rawConn, logsOnFailure } from "./lib/server.mjs";
import { connectTo, enc, dec } from "./lib/client.mjs";
import { spawn } from "node:child_process";
import { buildC } from "./lib/cprog.mjs";
import {
  startCluster, startNode, waitMesh, interestReady, waitNoResponders, waitRouteSub, gather,
  routesByPeer, peerSubCount, peerSubList, refBin, haveRefBin,
  testScope,
} from "./lib/cluster.mjs";

const scope = testScope;

const str = (m) => dec.decode(m.data);
const seq = (n) => Array.from({ length: n }, (_, i) => String(i));

// Publishes payloads 0..n-1 on `subject` then an END marker on `endSubject`
// (default: same subject). With a single publisher the order is kept end to
// end, so a subscriber that has the marker has everything before it.
async function publishSeq(nc, subject, n, { endSubject = subject, hdrs } = {}) {
  for (let i = 0; i < n; i++) {
    nc.publish(subject, String(i), hdrs ? { headers: hdrs(i) } : undefined);
    if (i % 500 === 499) await nc.flush();
  }
  nc.publish(endSubject, "END");
  await nc.flush();
}

// Waits for the END marker on a gather()ed subscription and returns the
// payloads before it.
async function untilEnd(g, ms = 10_000, what = "END marker") {
  await waitFor(() => g.msgs.some((m) => str(m) === "END"), ms, `${what} (have ${g.msgs.length})`, 20);
  const all = g.msgs.map(str);
  return all.slice(0, all.indexOf("END"));
}

// Counts, per member, the queue messages received; checks each payload was
// delivered exactly once over all members.
async function queueRound(pubNc, members, subject, n, ms = 15_000) {
  const total = () => members.reduce((a, m) => a + m.g.msgs.length, 0);
  for (let i = 0; i < n; i++) {
    pubNc.publish(subject, String(i));
    if (i % 500 === 499) await pubNc.flush();
  }
  await pubNc.flush();
  await waitFor(() => total() >= n, ms, `${n} queue messages on ${subject} (have ${total()})`, 20);
  await sleep(300); // duplicates would show up here
  const seen = new Map();
  for (const m of members) for (const x of m.g.msgs) seen.set(str(x), (seen.get(str(x)) ?? 0) + 1);
  assert.equal(total(), n, `each of ${n} messages delivered once in the group; got ${total()}`);
  assert.equal(seen.size, n, "no message lost");
  for (const [k, v] of seen) assert.equal(v, 1, `message ${k} delivered ${v} times`);
  const perNode = {};
  for (const m of members) perNode[m.node] = (perNode[m.node] ?? 0) + m.g.msgs.length;
  const counts = members.map((m) => m.g.msgs.length);
  for (const m of members) m.g.msgs.length = 0;
  return { perNode, counts };
}

function queueMembers(layout, subject, queue = "workers") {
  const out = [];
  for (const [nc, node, k] of layout) {
    for (let i = 0; i < k; i++) out.push({ node, g: gather(nc, subject, { queue }) });
  }
  return out;
}

// ---------------------------------------------------------------------------

test("3-node cluster forms a full mesh from one seed; /routez, /varz and client INFO show it", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster({ name: "C" });
  const [n1, n2, n3] = c.nodes;
  const ids = await Promise.all(c.nodes.map((n) => n.id()));

  for (const [i, node] of c.nodes.entries()) {
    const rz = await node.routez();
    assert.equal(typeof rz.num_routes, "number", "/routez num_routes");
    assert.ok(rz.num_routes >= 2, `${node.serverName}: num_routes ${rz.num_routes} >= 2`);
    assert.equal(rz.num_routes, rz.routes.length, "num_routes == routes.length");
    const peers = routesByPeer(rz);
    assert.deepEqual([...peers.keys()].sort(), ids.filter((_, j) => j !== i).sort(), `${node.serverName} routes to the other two (by remote_id)`);
    for (const r of rz.routes) {
      assert.equal(r.ip, "127.0.0.1", "routes[].ip");
      assert.equal(typeof r.port, "number", "routes[].port");
      assert.equal(typeof r.did_solicit, "boolean", "routes[].did_solicit");
      assert.equal(typeof r.subscriptions, "number", "routes[].subscriptions");
    }
  }
  // n2 and n3 were configured with the seed's route URL only: they solicited it.
  for (const node of [n2, n3]) {
    const toSeed = routesByPeer(await node.routez()).get(ids[0]);
    for (const r of toSeed) {
      assert.equal(r.did_solicit, true, `${node.serverName} solicited the seed`);
      assert.equal(r.port, n1.cport, `${node.serverName}'s route to the seed is to its cluster port`);
    }
  }
  // ...and the seed did not solicit them.
  for (const r of (await n1.routez()).routes) assert.equal(r.did_solicit, false, "the seed accepted its routes");

  for (const node of c.nodes) {
    const v = await node.varz();
    assert.equal(v.cluster?.name, "C", "/varz cluster.name");
    assert.equal(v.cluster?.cluster_port, node.cport, "/varz cluster.cluster_port");
    assert.equal(v.cluster?.addr, "127.0.0.1", "/varz cluster.addr");
    for (const other of c.nodes) {
      if (other === node) continue;
      assert.ok(v.connect_urls?.includes(other.clientHostPort), `${node.serverName} /varz connect_urls ${JSON.stringify(v.connect_urls)} has ${other.clientHostPort}`);
    }
  }

  // A client on each node learns the others' client URLs from INFO.
  for (const node of c.nodes) {
    const nc = await s.conn(node);
    await waitFor(() => c.nodes.every((o) => o === node || nc.info?.connect_urls?.includes(o.clientHostPort)), 5000,
      `${node.serverName}: INFO connect_urls with the other nodes (have ${JSON.stringify(nc.info?.connect_urls)})`);
    assert.equal(nc.info.cluster, "C", "client INFO cluster");
  }
  // Raw INFO too.
  const raw = await rawConn(n3.port);
  t.after(() => raw.close());
  for (const o of [n1, n2]) assert.ok(raw.info.connect_urls?.includes(o.clientHostPort), `raw INFO connect_urls ${JSON.stringify(raw.info.connect_urls)}`);
}));

test("cluster from --cluster/--cluster_name/--routes flags forms and carries messages", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster({ name: "FLAGS", useFlags: true });
  for (const node of c.nodes) assert.equal((await node.varz()).cluster?.name, "FLAGS");
  const [a, b, cc] = await Promise.all(c.nodes.map((n) => s.conn(n)));
  const gb = gather(b, "flags.x");
  const gc = gather(cc, "flags.x");
  await interestReady(a, [b, cc]);
  await publishSeq(a, "flags.x", 100);
  assert.deepEqual(await untilEnd(gb), seq(100));
  assert.deepEqual(await untilEnd(gc), seq(100));
}));

test("no_advertise: a node's client URL is not gossiped to clients, but it routes normally", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster({ clusterExtra: (i) => (i === 2 ? "  no_advertise: true" : "") });
  const [n1, n2, n3] = c.nodes;
  await sleep(300); // INFO updates to clients are asynchronous
  for (const node of [n1, n2]) {
    const nc = await s.conn(node);
    const other = node === n1 ? n2 : n1;
    await waitFor(() => nc.info?.connect_urls?.includes(other.clientHostPort), 5000, `${node.serverName} INFO connect_urls with ${other.serverName}`);
    assert.ok(!nc.info.connect_urls.includes(n3.clientHostPort), `${node.serverName} INFO connect_urls ${JSON.stringify(nc.info.connect_urls)} must not have n3`);
    const v = await node.varz();
    assert.ok(!(v.connect_urls ?? []).includes(n3.clientHostPort), `${node.serverName} /varz connect_urls without n3`);
  }
  // The reference sends no connect_urls at all to n3's own clients.
  const on3 = await s.conn(n3);
  assert.ok(!(on3.info?.connect_urls ?? []).includes(n3.clientHostPort), "n3 does not advertise itself");
  const on1 = await s.conn(n1);
  const g = gather(on3, "noadv.x");
  await interestReady(on1, on3);
  await publishSeq(on1, "noadv.x", 50);
  assert.deepEqual(await untilEnd(g), seq(50));
}));

test("publish on one node: plain, wildcard and overlapping subscriptions on the others get every message once per subscription, in order", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster();
  const [a, b, cc] = await Promise.all(c.nodes.map((n) => s.conn(n)));
  const N = 1000;
  // B: plain + overlapping orders.* on the same connection; C: plain +
  // overlapping orders.> on the same connection, and a second connection.
  const bPlain = gather(b, "orders.new");
  const bStar = gather(b, "orders.*");
  const cPlain = gather(cc, "orders.new");
  const cGt = gather(cc, "orders.>");
  const c2 = s.track(await connectTo(c.nodes[2]));
  const c2Plain = gather(c2, "orders.new");
  // And one on the publishing node itself.
  const aPlain = gather(a, "orders.new");
  await interestReady(a, [b, cc, c2]);

  for (let i = 0; i < N; i++) {
    a.publish("orders.new", String(i));
    if (i % 100 === 99) a.publish("orders.eu.deep", `deep${i}`); // only orders.> matches
    if (i % 500 === 499) await a.flush();
  }
  a.publish("orders.new", "END");
  await a.flush();

  for (const [g, name] of [[bPlain, "B orders.new"], [bStar, "B orders.*"], [cPlain, "C orders.new"], [c2Plain, "C2 orders.new"], [aPlain, "A orders.new"]]) {
    const got = await untilEnd(g, 10_000, name);
    assert.equal(got.length, N, `${name}: ${got.length} messages`);
    assert.deepEqual(got, seq(N), `${name}: every message once, in order`);
    assert.ok(g.msgs.every((m) => m.subject === "orders.new"), `${name}: only orders.new`);
  }
  const gt = await untilEnd(cGt, 10_000, "C orders.>");
  const want = [];
  for (let i = 0; i < N; i++) {
    want.push(String(i));
    if (i % 100 === 99) want.push(`deep${i}`);
  }
  assert.deepEqual(gt, want, "C orders.>: everything, in publish order, once");
  // Nothing after the marker (a duplicate would trail it).
  await sleep(200);
  for (const g of [bPlain, bStar, cPlain, cGt, c2Plain, aPlain]) assert.equal(str(g.msgs[g.msgs.length - 1]), "END", "nothing after END");
}));

test("queue group across nodes: each message to exactly one member; members on every node share the load (no local preference)", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster();
  const [a, b, cc] = await Promise.all(c.nodes.map((n) => s.conn(n)));

  // Three members on each node. nats-server (2.9 and 2.15) picks uniformly
  // over all members of the group in the cluster (a remote node's route
  // subscription is weighted by its member count): members on the publishing
  // node are not preferred.
  const members = queueMembers([[a, "A", 3], [b, "B", 3], [cc, "C", 3]], "work.all");
  await interestReady(a, [b, cc]);
  await interestReady(b, [a, cc]);
  const r1 = await queueRound(a, members, "work.all", 3000);
  for (const [node, k] of Object.entries(r1.perNode)) {
    assert.ok(k >= 450 && k <= 1500, `node ${node} got ${k} of 3000 published on A (expected about 1000): ${JSON.stringify(r1.perNode)}`);
  }
  assert.ok(r1.counts.every((k) => k > 0), `every member got some: ${r1.counts}`);
  const r2 = await queueRound(b, members, "work.all", 600);
  for (const [node, k] of Object.entries(r2.perNode)) {
    assert.ok(k >= 60 && k <= 330, `node ${node} got ${k} of 600 published on B (expected about 200): ${JSON.stringify(r2.perNode)}`);
  }
  for (const m of members) m.g.sub.unsubscribe();

  // No member on the publishing node: spread over B and C.
  const members2 = queueMembers([[b, "B", 3], [cc, "C", 3]], "work.remote");
  await interestReady(a, [b, cc]);
  const r3 = await queueRound(a, members2, "work.remote", 3000);
  assert.deepEqual(Object.keys(r3.perNode).sort(), ["B", "C"]);
  for (const [node, k] of Object.entries(r3.perNode)) {
    assert.ok(k >= 900 && k <= 2100, `node ${node} got ${k} of 3000 (expected about 1500): ${JSON.stringify(r3.perNode)}`);
  }
  for (const m of members2) m.g.sub.unsubscribe();

  // Weighted by member count: 4 members on B, 1 on C -> about 4:1.
  const members3 = queueMembers([[b, "B", 4], [cc, "C", 1]], "work.weighted");
  await interestReady(a, [b, cc]);
  const r4 = await queueRound(a, members3, "work.weighted", 3000);
  const shareB = r4.perNode.B / 3000;
  assert.ok(shareB > 0.65 && shareB < 0.92, `B (4 members) got ${r4.perNode.B}, C (1 member) got ${r4.perNode.C} of 3000: expected about 4:1`);
}));

test("request/reply across nodes; no responders anywhere answers at once; interest goes when the responder unsubscribes", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster();
  const [a, b, cc] = await Promise.all(c.nodes.map((n) => s.conn(n)));

  const svc = cc.subscribe("svc.echo", { callback: (err, m) => { if (!err) m.respond(enc.encode(`C:${str(m)}`)); } });
  await interestReady(a, cc);
  await interestReady(b, cc);
  for (let i = 0; i < 50; i++) {
    const from = i % 2 ? a : b;
    const r = await from.request("svc.echo", String(i), { timeout: 3000 });
    assert.equal(str(r), `C:${i}`);
  }
  // Concurrent requests from A.
  const replies = await within(Promise.all(Array.from({ length: 200 }, (_, i) => a.request("svc.echo", `p${i}`, { timeout: 5000 }))), 10_000, "200 concurrent requests");
  assert.deepEqual(replies.map(str), Array.from({ length: 200 }, (_, i) => `C:p${i}`));
  svc.unsubscribe();

  // Nobody anywhere: no responders, well before the timeout.
  for (const nc of [a, b, cc]) {
    const t0 = Date.now();
    await assert.rejects(nc.request("svc.nobody", "x", { timeout: 5000 }), (e) => e.isNoResponders?.() === true);
    assert.ok(Date.now() - t0 < 1000, `no responders after ${Date.now() - t0} ms`);
  }

  // A responder on B serves A; after it unsubscribes, A gets no responders again.
  const onB = b.subscribe("svc.b", { callback: (err, m) => { if (!err) m.respond("B"); } });
  await interestReady(a, b);
  assert.equal(str(await a.request("svc.b", "", { timeout: 3000 })), "B");
  onB.unsubscribe();
  await b.flush();
  await waitNoResponders(a, "svc.b", 5000);
  await waitNoResponders(cc, "svc.b", 5000);
  const t0 = Date.now();
  await assert.rejects(a.request("svc.b", "", { timeout: 5000 }), (e) => e.isNoResponders?.() === true);
  assert.ok(Date.now() - t0 < 1000, "no responders is quick");
}));

test("unsubscribe propagates: the subscription leaves the other nodes' /routez and messages stop crossing", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster();
  const [A, B] = c.nodes;
  const [a, b] = await Promise.all([s.conn(A), s.conn(B)]);
  const bId = await B.id();

  const base = peerSubCount(await A.routez(), bId);
  const sub = b.subscribe("unsub.t5");
  const q = b.subscribe("unsubq.t5", { queue: "qq" });
  const marker = gather(b, "unsub.marker");
  await b.flush();
  await waitRouteSub(A, bId, "unsub.t5", true);
  await waitRouteSub(A, bId, "unsubq.t5", true);
  await waitRouteSub(A, bId, "unsub.marker", true);
  // nats-server (2.9 and 2.15) lists subjects only in subscriptions_list,
  // also for queue subscriptions (no queue name).
  const listed = peerSubList(await A.routez(true), bId).filter((e) => !e.startsWith("$SYS"));
  assert.ok(listed.includes("unsub.t5") && listed.includes("unsubq.t5") && listed.every((e) => !e.includes(" ")),
    `routes[].subscriptions_list entries are plain subjects: ${JSON.stringify(listed)}`);
  await waitFor(async () => peerSubCount(await A.routez(), bId) === base + 3, 5000,
    `routes[].subscriptions for B on A to grow by the three subscriptions, from ${base}`);

  // Out messages on A's routes to B, summed over the peer's connections.
  const outToB = async () => (routesByPeer(await A.routez()).get(bId) ?? []).reduce((k, r) => k + Number(r.out_msgs ?? 0), 0);
  let before = await outToB();
  for (let i = 0; i < 100; i++) a.publish("unsub.t5", "x");
  a.publish("unsub.marker", "m1");
  await a.flush();
  await marker.waitCount(1);
  assert.ok((await outToB()) - before >= 100, "with interest, 100 messages crossed to B");

  sub.unsubscribe();
  q.unsubscribe();
  await b.flush();
  await waitRouteSub(A, bId, "unsub.t5", false);
  await waitRouteSub(A, bId, "unsubq.t5", false);
  await waitFor(async () => peerSubCount(await A.routez(), bId) === base + 1, 5000, "subscriptions count back to base + marker");

  before = await outToB();
  for (let i = 0; i < 100; i++) a.publish("unsub.t5", "x");
  a.publish("unsub.marker", "m2");
  await a.flush();
  await marker.waitCount(2);
  const crossed = (await outToB()) - before;
  assert.ok(crossed < 50, `after unsubscribe ${crossed} messages still crossed to B (expected only the marker, plus any system traffic)`);
}));

test("headers cross routes (HMSG), also on requests and replies and with an empty payload", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster();
  const [a, b, cc] = await Promise.all(c.nodes.map((n) => s.conn(n)));
  const g = gather(b, "hdr.>");
  const svc = cc.subscribe("hdr.svc", {
    callback: (err, m) => {
      if (err) return;
      const h = headers();
      h.set("X-Replied-By", "C");
      h.set("X-Echo", m.headers?.get("X-Trace") ?? "none");
      m.respond(enc.encode("reply"), { headers: h });
    },
  });
  await interestReady(a, [b, cc]);

  const h = headers();
  h.set("X-Trace", "abc-123");
  h.append("X-Multi", "one");
  h.append("X-Multi", "two");
  a.publish("hdr.one", enc.encode("body"), { headers: h });
  const h2 = headers();
  h2.set("Only", "headers");
  a.publish("hdr.two", undefined, { headers: h2 });
  a.publish("hdr.three", "plain");
  await a.flush();
  await g.waitCount(3);
  const [m1, m2, m3] = g.msgs;
  assert.equal(m1.subject, "hdr.one");
  assert.equal(str(m1), "body");
  assert.equal(m1.headers?.get("X-Trace"), "abc-123");
  assert.deepEqual(m1.headers?.values("X-Multi"), ["one", "two"]);
  assert.equal(m2.subject, "hdr.two");
  assert.equal(m2.data.length, 0);
  assert.equal(m2.headers?.get("Only"), "headers");
  assert.equal(m3.subject, "hdr.three");
  assert.equal(str(m3), "plain");
  assert.equal(m3.headers, undefined, "a message without headers arrives without");

  const rh = headers();
  rh.set("X-Trace", "req-7");
  const r = await a.request("hdr.svc", "q", { timeout: 3000, headers: rh });
  assert.equal(str(r), "reply");
  assert.equal(r.headers?.get("X-Replied-By"), "C");
  assert.equal(r.headers?.get("X-Echo"), "req-7");
  svc.unsubscribe();
}));

test("failover: kill -9 the node a client is on, it reconnects elsewhere and keeps working; the node restarts and rejoins", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster();
  const [n1, n2, n3] = c.nodes;
  // The client is on the seed, n1 (no route of its own in its config; the
  // others route to it and must reconnect after its restart).
  const mobile = s.track(await within(connect({
    servers: [n1.url, n2.url, n3.url],
    noRandomize: true,
    reconnectTimeWait: 100,
    maxReconnectAttempts: -1,
    timeout: 3000,
    pingInterval: 1000,
  }), 10_000, "connect mobile client"));
  assert.equal(mobile.info.server_name, "n1");
  const sub3 = s.track(await connectTo(n3));
  const onN3 = gather(sub3, "fo.to3");
  const onMobile = gather(mobile, "fo.toMobile");
  await interestReady(mobile, sub3);
  await interestReady(sub3, mobile);
  mobile.publish("fo.to3", "before");
  await onN3.waitCount(1);

  let reconnected = false;
  (async () => {
    for await (const st of mobile.status()) if (st.type === "reconnect") reconnected = true;
  })().catch(() => {});
  await n1.kill9();
  await waitFor(() => reconnected && mobile.info?.server_name !== "n1", 10_000, "the client to reconnect to another node");
  const tKilled = Date.now();
  // n2 and n3 keep their route to each other.
  await waitMesh([n2, n3], 10_000);

  // The client resubscribed on its new node; pub/sub both ways with n3.
  await interestReady(mobile, sub3);
  await interestReady(sub3, mobile);
  for (let i = 0; i < 100; i++) mobile.publish("fo.to3", `after${i}`);
  await mobile.flush();
  await onN3.waitCount(101);
  assert.deepEqual(onN3.msgs.slice(1).map(str), Array.from({ length: 100 }, (_, i) => `after${i}`));
  for (let i = 0; i < 10; i++) sub3.publish("fo.toMobile", `m${i}`);
  await onMobile.waitCount(10);

  // Restart n1 on the same ports: n2 and n3 (configured with its route URL)
  // reconnect, the mesh is whole again.
  await n1.restart();
  const t0 = Date.now();
  await waitMesh(c.nodes, 20_000);
  t.diagnostic(`mesh whole ${Date.now() - t0} ms after restarting the seed (down ${t0 - tKilled} ms)`);
  const on1 = s.track(await connectTo(n1));
  const g1 = gather(on1, "fo.to1");
  await interestReady(mobile, on1);
  await interestReady(sub3, on1);
  await publishSeq(mobile, "fo.to1", 50);
  assert.deepEqual(await untilEnd(g1), seq(50));
  sub3.publish("fo.to1", "from3");
  await g1.waitCount(52);
  assert.equal(str(g1.msgs[51]), "from3");
}));

test("failover with libnats: the publisher's node is killed -9, libnats reconnects to another node and every message from then on crosses the routes", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster();
  const [n1, n2, n3] = c.nodes;
  const bin = await buildC("cluster_failover");
  // Publisher on n1 (all three URLs, in order), subscriber on n3.
  const child = spawn(bin, [[n1.url, n2.url, n3.url].join(","), [n3.url, n2.url].join(","), "lf.x", "4000"]);
  t.after(() => child.kill("SIGKILL"));
  let out = "";
  let killed = false;
  child.stdout.on("data", (d) => {
    out += d;
    if (!killed && out.includes("PUB ")) {
      killed = true;
      setTimeout(() => n1.kill9().catch(() => {}), 800);
    }
  });
  const code = await within(new Promise((resolve) => child.on("exit", resolve)), 30_000, "cluster_failover to finish");
  assert.equal(code, 0, out);
  assert.match(out, new RegExp(`PUB ${n1.url}`), out);
  const r = JSON.parse(out.trim().split("\n").pop());
  t.diagnostic(JSON.stringify(r));
  assert.ok(r.reconnected_at > 0, out);
  assert.notEqual(r.pub_url_after, n1.url);
  assert.ok(r.expected_after > 300, out);
  assert.equal(r.received_after, r.expected_after, out);
  assert.equal(r.duplicates, 0, out);
}));

const ACCOUNTS = `
accounts {
  SHOP: {
    users: [
      { user: shop, password: pw }
      { user: reader, password: pw, permissions: { subscribe: { deny: "orders.secret.>" } } }
    ]
    exports: [ { stream: "events.>" }, { service: "price.get" } ]
  }
  OTHER: {
    users: [ { user: other, password: pw } ]
    imports: [
      { stream: { account: SHOP, subject: "events.>" }, prefix: "shop" }
      { service: { account: SHOP, subject: "price.get" } }
    ]
  }
}
`;

// Publishes `probe` on `subject` until `g` has one (interest crossed the
// routes), then forgets the probes.
async function probeUntil(pub, subject, g, what) {
  await waitFor(async () => {
    pub.publish(subject, "probe");
    await pub.flush();
    await sleep(30);
    return g.msgs.some((m) => str(m) === "probe");
  }, 10_000, what);
  await sleep(100);
  g.msgs.length = 0;
}

test("accounts across routes: isolation, subscribe permissions, stream and service imports between nodes", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster({ extraConfig: ACCOUNTS });
  const [n1, n2, n3] = c.nodes;
  const shopPub = await s.conn(n1, { user: "shop", pass: "pw" });
  const shopSub = await s.conn(n2, { user: "shop", pass: "pw" });
  const reader = await s.conn(n2, { user: "reader", pass: "pw" });
  const other = await s.conn(n3, { user: "other", pass: "pw" });

  // Same subject in two accounts: only the publisher's account gets it.
  const gShop = gather(shopSub, "orders.>");
  const gOther = gather(other, "orders.>");
  const gReader = gather(reader, "orders.>");
  await probeUntil(shopPub, "orders.probe", gShop, "SHOP interest on n1");
  await probeUntil(shopPub, "orders.probe", gReader, "reader interest on n1");
  gShop.msgs.length = 0;
  gOther.msgs.length = 0;
  for (let i = 0; i < 10; i++) shopPub.publish("orders.public", String(i));
  shopPub.publish("orders.secret.card", "no");
  shopPub.publish("orders.public", "END");
  await shopPub.flush();
  assert.deepEqual(await untilEnd(gShop), [...seq(10), "no"]);
  // The reader's deny holds on the node it is on, whatever node published.
  assert.deepEqual(await untilEnd(gReader), seq(10));
  await sleep(200);
  assert.equal(gOther.msgs.length, 0, "OTHER never sees SHOP's messages");

  // Stream import: SHOP's events published on n1 reach OTHER's subscriber on
  // n3 under the prefix, once.
  const gEvents = gather(other, "shop.events.>");
  await probeUntil(shopPub, "events.probe", gEvents, "import interest on n1");
  await publishSeq(shopPub, "events.sold", 20);
  assert.deepEqual(await untilEnd(gEvents), seq(20));
  await sleep(200);
  assert.equal(gEvents.msgs.filter((m) => str(m) === "END").length, 1, "each event once");

  // Service import: OTHER on n3 asks, SHOP's responder on n2 answers.
  const svc = shopSub.subscribe("price.get", {
    callback: (err, m) => {
      if (!err) m.respond(enc.encode(`price for ${str(m)}`));
    },
  });
  await waitFor(async () => {
    try {
      const r = await other.request("price.get", "probe", { timeout: 500 });
      return str(r) === "price for probe";
    } catch {
      return false;
    }
  }, 10_000, "the service import to answer across nodes");
  const r = await other.request("price.get", "lamp", { timeout: 2000 });
  assert.equal(str(r), "price for lamp");
  svc.unsubscribe();
}));

test("lame duck mode: clients of the node hear it (INFO ldm), the other nodes stop offering its URL", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster({ n: 2, extraConfig: "lame_duck_grace_period: \"20s\"\n" });
  const [n1, n2] = c.nodes;
  const on1 = await s.conn(n1);
  const on2 = await s.conn(n2);
  await waitFor(() => on2.info?.connect_urls?.includes(n1.clientHostPort), 5000, "n2's INFO to offer n1");
  let ldm = false;
  (async () => {
    for await (const st of on1.status()) if (st.type === "ldm") ldm = true;
  })().catch(() => {});
  process.kill(n1.srv.child.pid, "SIGUSR2");
  await waitFor(() => ldm, 5000, "the ldm status on n1's client");
  await waitFor(async () => !(await n2.varz()).connect_urls?.includes(n1.clientHostPort), 5000,
    "n2's /varz to stop offering n1");
  await waitFor(() => !on2.info?.connect_urls?.includes(n1.clientHostPort), 5000,
    "n2's clients to get INFO without n1");
  // Until it goes, n1 still serves its clients, across the route too.
  const g = gather(on2, "ldm.x");
  await interestReady(on1, on2);
  on1.publish("ldm.x", "still here");
  await g.waitCount(1);
}));

test("a node with another cluster name never gets a route; the cluster keeps serving", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster({ name: "C" });
  const [n1, n2, n3] = c.nodes;
  const stranger = await s.node({ serverName: "stranger", clusterName: "OTHER", routes: [n1.routeUrl(), n2.routeUrl()] });
  await sleep(2000);
  const rz = await stranger.routez();
  assert.equal(rz.num_routes, 0, `stranger num_routes ${rz.num_routes}`);
  await waitMesh(c.nodes, 5000);
  const strangerId = await stranger.id();
  for (const node of c.nodes) {
    assert.ok(!(await node.peers()).includes(strangerId), `${node.serverName} has no route to the stranger`);
    assert.equal((await node.peers()).length, 2);
  }
  // The cluster still serves.
  const [a, cc] = await Promise.all([s.conn(n1), s.conn(n3)]);
  const g = gather(cc, "name.x");
  await interestReady(a, cc);
  await publishSeq(a, "name.x", 50);
  assert.deepEqual(await untilEnd(g), seq(50));
  // The stranger serves its own clients, but sees nothing of the cluster.
  const st = await s.conn(stranger);
  const gs = gather(st, "name.x");
  await st.flush();
  await publishSeq(a, "name.x", 5);
  await untilEnd(g);
  await sleep(200);
  assert.equal(gs.msgs.length, 0, "nothing crosses to the stranger");
  await assert.rejects(st.request("name.svc", "", { timeout: 2000 }), (e) => e.isNoResponders?.() === true);
}));

test("route authorization: wrong or missing credentials do not join, the right ones do", logsOnFailure(async (t) => {
  const s = scope(t);
  const auth = { user: "ruser", password: "rpass" };
  const c = await s.cluster({ auth });
  const [n1] = c.nodes;
  const bad = await s.node({ serverName: "bad", routes: [n1.routeUrl({ user: "ruser", password: "wrong" })], auth });
  const anon = await s.node({ serverName: "anon", routes: [n1.routeUrl()] });
  await sleep(2000);
  for (const x of [bad, anon]) {
    assert.equal((await x.routez()).num_routes, 0, `${x.serverName} has no routes`);
  }
  const badIds = [await bad.id(), await anon.id()];
  for (const node of c.nodes) {
    const peers = await node.peers();
    assert.equal(peers.length, 2, `${node.serverName} still has two peers`);
    assert.ok(!peers.some((p) => badIds.includes(p)));
  }
  // With the right credentials (and the same cluster authorization, which the
  // others' gossip-made routes to it use) it joins the mesh.
  const good = await s.node({ serverName: "good", routes: [n1.routeUrl(auth)], auth });
  await waitMesh([...c.nodes, good], 15_000);
  const [a, g] = await Promise.all([s.conn(c.nodes[1]), s.conn(good)]);
  const got = gather(g, "auth.x");
  await interestReady(a, g);
  await publishSeq(a, "auth.x", 20);
  assert.deepEqual(await untilEnd(got), seq(20));
}));

// Mixed clusters: n1, n2 run FJORD_BIN, n3 the reference nats-server.
const mixedSkip = haveRefBin() ? false : `reference server ${refBin} not found (set NATS_SERVER_REF)`;

for (const [label, seedIndex] of [["the reference node seeds (fjord nodes solicit it)", 2], ["a fjord node seeds (the reference node solicits it)", 0]]) {
  test(`mixed cluster, ${label}: fan-out, queue groups, request/reply across each pair of kinds`, { skip: mixedSkip }, logsOnFailure(async (t) => {
    const s = scope(t);
    const c = await s.cluster({ bins: [undefined, undefined, refBin], seedIndex });
    const ncs = await Promise.all(c.nodes.map((n) => s.conn(n)));
    const kind = (i) => `${c.nodes[i].serverName}(${c.nodes[i].kind})`;

    for (let p = 0; p < 3; p++) {
      const others = [0, 1, 2].filter((i) => i !== p);
      // Fan-out with plain and wildcard subscribers, some messages with headers.
      const gs = others.flatMap((i) => [[i, "plain", gather(ncs[i], `mx.${p}.data`)], [i, "wild", gather(ncs[i], `mx.${p}.*`)]]);
      await interestReady(ncs[p], others.map((i) => ncs[i]));
      await publishSeq(ncs[p], `mx.${p}.data`, 300, {
        hdrs: (i) => {
          if (i % 3) return undefined;
          const h = headers();
          h.set("X-Seq", String(i));
          return h;
        },
      });
      for (const [i, what, g] of gs) {
        assert.deepEqual(await untilEnd(g), seq(300), `${kind(p)} -> ${kind(i)} ${what}`);
        const withH = g.msgs.filter((m) => m.headers);
        assert.equal(withH.length, 100, `${kind(p)} -> ${kind(i)}: headers kept`);
        assert.ok(withH.every((m) => m.headers.get("X-Seq") === str(m)));
        g.sub.unsubscribe();
      }

      // Queue group with members only on the other two nodes.
      const members = queueMembers(others.map((i) => [ncs[i], kind(i), 2]), `mx.${p}.q`);
      await interestReady(ncs[p], others.map((i) => ncs[i]));
      const r = await queueRound(ncs[p], members, `mx.${p}.q`, 1000);
      for (const i of others) {
        const k = r.perNode[kind(i)];
        assert.ok(k >= 250 && k <= 750, `${kind(p)} -> queue: ${JSON.stringify(r.perNode)}`);
      }
      for (const m of members) m.g.sub.unsubscribe();

      // Request/reply to each other node, then no responders once it leaves.
      for (const i of others) {
        const svc = ncs[i].subscribe(`mx.svc.${i}`, { callback: (err, m) => { if (!err) m.respond(enc.encode(`${i}:${str(m)}`)); } });
        await interestReady(ncs[p], ncs[i]);
        for (let k = 0; k < 20; k++) {
          assert.equal(str(await ncs[p].request(`mx.svc.${i}`, String(k), { timeout: 3000 })), `${i}:${k}`, `${kind(p)} -> ${kind(i)} request`);
        }
        svc.unsubscribe();
        await ncs[i].flush();
        await waitNoResponders(ncs[p], `mx.svc.${i}`, 5000);
      }
      const t0 = Date.now();
      await assert.rejects(ncs[p].request("mx.nobody", "", { timeout: 5000 }), (e) => e.isNoResponders?.() === true);
      assert.ok(Date.now() - t0 < 1000, `${kind(p)}: no responders is quick`);
    }
  }));
}

test("garbage on the cluster port closes that connection; clients and routes are unaffected", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster();
  const [A, B] = c.nodes;
  const raw = await rawConn(A.cport);
  t.after(() => raw.close());
  // The cluster port greets with a route INFO.
  assert.equal(typeof raw.info.server_id, "string", "route INFO server_id");
  assert.equal(raw.info.cluster, "C", "route INFO cluster");
  raw.send("GARBAGE that is no protocol\r\n\x00\x01\x02\r\n");
  // The reference answers -ERR ('Unknown Protocol Operation' in 2.9,
  // 'Authorization Violation' in 2.15) and closes at once.
  await raw.expectClose(2000);

  // A second one sends a client's CONNECT and PUB: no route, closed too
  // (or at least never delivered).
  const raw2 = await rawConn(A.cport);
  t.after(() => raw2.close());
  const [a, b] = await Promise.all([s.conn(A), s.conn(B)]);
  const gA = gather(a, "gb.x");
  const gB = gather(b, "gb.x");
  await interestReady(a, b);
  raw2.send("CONNECT {\"verbose\":false}\r\nPUB gb.x 5\r\nEVIL!\r\nPING\r\n");
  await sleep(300);

  await waitMesh(c.nodes, 5000);
  await publishSeq(a, "gb.x", 50);
  assert.deepEqual(await untilEnd(gA), seq(50), "local subscriber on A");
  assert.deepEqual(await untilEnd(gB), seq(50), "remote subscriber on B");
  assert.ok(![...gA.msgs, ...gB.msgs].some((m) => str(m) === "EVIL!"), "nothing from the bad connection was delivered");
}));

// A hand-made route: speaks the 2.9 route protocol (CONNECT + INFO, RS+/RS-,
// RMSG) to one node, then stops reading while that node is flooded for it.
test("raw route: RS+/RMSG both ways with a hand-made route; one that stops reading does not stall the node", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster({ extraConfig: "write_deadline: \"1s\"" });
  const [A, B] = c.nodes;
  const a = await s.conn(A);
  const b = await s.conn(B);
  const pre = gather(a, "fake.existing");
  await a.flush();

  // The node gossips the hand-made route's host:port to the others, which
  // then try to connect there: give them a listener that hangs up.
  const dummy = net.createServer((sock) => sock.destroy());
  await new Promise((resolve) => dummy.listen(0, "127.0.0.1", resolve));
  t.after(() => dummy.close());
  const raw = await rawConn(A.cport);
  t.after(() => raw.close());
  const fakeId = "NFAKEROUTE0000000000000000000000000000000000000000000001";
  raw.send(`CONNECT ${JSON.stringify({ echo: false, verbose: false, pedantic: false, tls_required: false, name: fakeId, cluster: "C", dynamic: false, lnoc: true, headers: true })}\r\n`);
  raw.send(`INFO ${JSON.stringify({ server_id: fakeId, name: "fake", version: "2.9.10", proto: 1, host: "127.0.0.1", port: dummy.address().port, headers: true, cluster: "C", max_payload: 1048576, lnoc: true })}\r\n`);
  raw.send("PING\r\n");
  // Before the PONG, the node sends its local subscriptions as
  // RS+ <account> <subject> (2.9 and 2.15 also send their $SYS ones).
  const hello = await raw.expect(/^([\s\S]*?)PONG\r\n/, 5000);
  assert.match(hello[1], /(^|\n)RS\+ \$G fake\.existing\r\n/, "RS+ for the existing subscription");

  // Our RS+ creates interest on A: a publish there arrives as RMSG.
  raw.send("RS+ $G fake.in\r\nPING\r\n");
  await raw.expect("PONG\r\n", 5000);
  a.publish("fake.in", "hello");
  await a.flush();
  const m = await raw.expect(/RMSG \$G fake\.in(?: \+ \S+| \| \S+)?[ ]+5\r\nhello\r\n/, 5000);
  assert.ok(m, "RMSG to the hand-made route");
  // Our RMSG reaches A's local subscriber (and is not forwarded to other routes).
  raw.send("RMSG $G fake.existing 2\r\nhi\r\n");
  await pre.waitCount(1);
  assert.equal(str(pre.msgs[0]), "hi");
  // Our RS- removes the interest: the next publish is not sent to us.
  raw.send("RS- $G fake.in\r\nPING\r\n");
  await raw.expect("PONG\r\n", 5000);
  raw.take();
  a.publish("fake.in", "gone");
  a.publish("fake.existing", "local");
  await a.flush();
  await pre.waitCount(2);
  await sleep(200);
  assert.ok(!raw.take().includes("gone"), "no RMSG after RS-");

  // Stop reading and flood: the node must drop us (slow consumer / write
  // deadline) rather than block; other clients keep working meanwhile.
  raw.send("RS+ $G fake.flood\r\nPING\r\n");
  await raw.expect("PONG\r\n", 5000);
  raw.sock.pause();
  const big = new Uint8Array(64 * 1024);
  const gLocal = gather(b, "fake.alive");
  await b.flush();
  const flood = (async () => {
    for (let i = 0; i < 1000 && !raw.isClosed; i++) {
      a.publish("fake.flood", big);
      if (i % 50 === 49) await a.flush();
    }
  })();
  // While (and after) flooding, A's clients still reach B.
  await interestReady(a, b);
  for (let i = 0; i < 20; i++) a.publish("fake.alive", String(i));
  await a.flush();
  await gLocal.waitCount(20, 10_000);
  await within(flood, 30_000, "flood");
  const tFlood = Date.now();
  await waitFor(async () => !(await A.peers()).includes(fakeId), 15_000, "the node to drop the route that does not read");
  t.diagnostic(`hand-made route dropped ${Date.now() - tFlood} ms after the flood; log: ${A.log().split("\n").filter((l) => /slow|deadline|closed/i.test(l)).slice(-3).join(" / ")}`);
  await waitMesh(c.nodes, 5000);
}));
