// Clustered JetStream, the meta group: three servers elect one meta leader,
// hand leadership over on $JS.API.META.LEADER.STEPDOWN, elect a new one when
// the leader is killed, take the old one back as a follower, remove a server
// on $JS.API.SERVER.REMOVE, and report it all in /jsz `meta_cluster` and
// /healthz. Requests go through nats.js as a system account user; replies
// are validated against the JetStream API schemas. Runs unchanged against
// nats-server (FJORD_BIN=/usr/sbin/nats-server).

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { waitFor, sleep, logsOnFailure, isFjord, serverVersion, versionAtLeast, rawConn, startServer } from "./lib/server.mjs";
import { testScope, httpJson, freePorts } from "./lib/cluster.mjs";
import { SYS, APP, jsConfig, jsCluster, meta, agreedLeader, CLI, fjordCli } from "./lib/jscluster.mjs";
import { jetstreamManager, jetstream } from "@nats-io/jetstream";
import { api, connectTo } from "./lib/client.mjs";

test("meta group: three servers elect one leader and report it in /jsz and /healthz", logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope);
  const leader = await agreedLeader(c.nodes, 3);
  const m = await meta(leader);
  assert.equal(m.name, "C");
  assert.equal(typeof m.peer, "string");
  // The leader lists the two others as current replicas.
  await waitFor(async () => {
    const r = (await meta(leader)).replicas ?? [];
    return r.length === 2 && r.every((x) => x.current && !x.offline);
  }, 10_000, "two current replicas on the leader");
  const names = (await meta(leader)).replicas.map((r) => r.name).sort();
  assert.deepEqual(names, c.nodes.filter((n) => n !== leader).map((n) => n.serverName).sort());
  for (const node of c.nodes) {
    const h = await httpJson(node.mport, "/healthz");
    assert.equal(h.status, "ok", `${node.serverName}: ${JSON.stringify(h)}`);
  }
}));

test("meta group: META.LEADER.STEPDOWN moves leadership; only the system account may ask", logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope);
  const leader = await agreedLeader(c.nodes, 3);
  const other = c.nodes.find((n) => n !== leader);
  // Asked on a follower's connection: the leader answers over the routes.
  const nc = await scope.conn(other, { user: SYS.user, pass: SYS.pass });
  const r = await api(nc, "META.LEADER.STEPDOWN", "", "meta_leader_stepdown_response");
  assert.equal(r.success, true, JSON.stringify(r));
  await waitFor(async () => {
    const l = await agreedLeader(c.nodes, 3);
    return l !== leader;
  }, 15_000, "a new meta leader");

  if (isFjord || versionAtLeast(serverVersion, "2.11.0")) {
    // To a named server.
    const cur = await agreedLeader(c.nodes, 3);
    const target = c.nodes.find((n) => n !== cur);
    const r2 = await api(nc, "META.LEADER.STEPDOWN", { placement: { preferred: target.serverName } },
      "meta_leader_stepdown_response");
    assert.equal(r2.success, true, JSON.stringify(r2));
    await waitFor(async () => (await agreedLeader(c.nodes, 3)) === target, 15_000, `${target.serverName} leads`);
    // An unknown one is refused.
    const r3 = await api(nc, "META.LEADER.STEPDOWN", { placement: { preferred: "nobody" } },
      "meta_leader_stepdown_response");
    assert.equal(r3.error?.err_code, 10005, JSON.stringify(r3));
  }

  // An ordinary account gets no answer (nats-server 2.9 still obeyed it).
  if (isFjord || versionAtLeast(serverVersion, "2.10.0")) {
    const app = await scope.conn(other, { user: "app", pass: "app" });
    await assert.rejects(app.request("$JS.API.META.LEADER.STEPDOWN", "", { timeout: 1500 }));
  }
}));

test("meta group: no client can forge the servers' Raft traffic, not even a system account user", { skip: isFjord ? false : "Fjord's own subjects" }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope);
  const leader = await agreedLeader(c.nodes, 3);
  const follower = c.nodes.find((n) => n !== leader);
  const conn = await rawConn(follower.port);
  t.after(() => conn.sock.destroy());
  conn.send('CONNECT {"verbose":false,"user":"sys","pass":"sys"}\r\nPING\r\n');
  await conn.expect("PONG");
  // A forged vote request from the follower's side, in the meta group's format.
  conn.send("PUB $FJR.RQ.1.meta 3\r\nabc\r\nPING\r\n");
  await conn.expect('-ERR \'Permissions Violation for Publish to "$FJR.RQ.1.meta"\'');
  await conn.expect("PONG");
  // Nor may a service be made to answer into it.
  conn.send("PUB $SYS.REQ.SERVER.PING $FJR.RS.1.1 2\r\n{}\r\nPING\r\n");
  await conn.expect('-ERR \'Permissions Violation for Publish with Reply of "$FJR.RS.1.1"\'');
  await conn.expect("PONG");
  assert.equal(await agreedLeader(c.nodes, 3), leader, "the group did not notice");
}));

test("meta group: its Raft traffic does not cross to a leaf node bound to the system account", { skip: isFjord ? false : "Fjord's own subjects" }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const [leafPort] = await freePorts(1);
  const c = await jsCluster(t, scope, 3, (i) => (i === 0 ? `leafnodes { listen: "127.0.0.1:${leafPort}" }` : ""));
  await agreedLeader(c.nodes, 3);
  // Another system (a leaf node) shares the system account with the cluster.
  const leaf = await startServer({
    config: `
leafnodes { remotes: [ { url: "nats-leaf://sys:sys@127.0.0.1:${leafPort}", account: SYS } ] }
accounts { SYS: { users: [{ user: sys, password: sys }] } }
system_account: SYS
`,
    jetstream: false,
  });
  t.after(() => leaf.stop());
  await waitFor(async () => (await httpJson(c.nodes[0].mport, "/leafz")).leafnodes >= 1, 10_000, "the leaf node connected");
  const nc = await connectTo(leaf, { user: "sys", pass: "sys" });
  t.after(() => nc.close());
  const seen = [];
  nc.subscribe("$FJR.>", { callback: (_, m) => seen.push(m.subject) });
  // The system account's other traffic does cross: a server ping is answered.
  await waitFor(async () => {
    const r = await nc.request("$SYS.REQ.SERVER.PING", "", { timeout: 500 }).catch(() => undefined);
    return r !== undefined;
  }, 10_000, "a server ping through the leaf node");
  // Heartbeats flow several times a second; none may reach the leaf.
  await sleep(1500);
  assert.deepEqual(seen, []);
}));

// A bit flip in the middle of a server's meta log (a record failing its
// checksum with valid ones after it) is damage, not a torn tail: the log is
// not cut and used. Its meta state is set aside and kept, and the server
// rejoins; the leader sends it the assignments again and its streams are
// served as before.
test("meta group: a damaged meta log is set aside and the server rejoins; its streams are served as before", { skip: isFjord ? false : "Fjord's store layout" }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope);
  const leader = await agreedLeader(c.nodes, 3);
  const victim = c.nodes.find((n) => n !== leader);
  const nc = await scope.conn(leader, APP);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  for (const name of ["A", "B", "C", "D"]) {
    await jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`] });
    for (let i = 0; i < 5; i++) await js.publish(`${name.toLowerCase()}.x`, "m");
  }
  const held = (await jsm.streams.info("A")).cluster.leader;
  await victim.stop();
  const metaDir = path.join(c.storeOf(victim), "jetstream", "$SYS", "_js_", "_meta_");
  const log = path.join(metaDir, "raft.log");
  const bytes = fs.readFileSync(log);
  assert.ok(bytes.length > 200, `a meta log with several entries (${bytes.length} bytes)`);
  // Inside the first record's body (after the 16-byte file header and the
  // 12-byte record head): its checksum fails, the records after it are good.
  bytes[16 + 12 + 4] ^= 0x40;
  fs.writeFileSync(log, bytes);
  await victim.restart();
  await waitFor(() => /the meta log is damaged/.test(victim.log()), 10_000, "the damage reported");
  await agreedLeader(c.nodes, 3, 20_000);
  const parent = path.dirname(metaDir);
  assert.ok(fs.readdirSync(parent).some((d) => d.startsWith("_meta_.damaged-")), "the damaged state kept");
  for (const name of ["A", "B", "C", "D"]) {
    const vnc = await scope.conn(victim, APP);
    const info = await waitFor(async () => (await jetstreamManager(vnc)).streams.info(name).catch(() => undefined),
      10_000, `${name} served through ${victim.serverName}`);
    assert.equal(info.state.messages, 5, name);
  }
  assert.equal((await jsm.streams.info("A")).cluster.leader, held);
}));

// A server whose meta state was wiped (or set aside) does not vote until it
// has caught up: otherwise, with the server that has the newest entries
// down, its empty log lets a stale server win, and entries the group had
// committed are overwritten. Here ORDERS2 is committed by the leader and
// n-wiped alone; the third server missed it. With the leader down and the
// other's state wiped, no leader may be elected; once the leader is back,
// ORDERS2 is still assigned.
test("meta group: a server that lost its meta state does not vote until it has caught up (no committed entry lost)", { skip: isFjord ? false : "nats-server would elect the stale server" }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope);
  const leader = await agreedLeader(c.nodes, 3);
  const [stale, wiped] = c.nodes.filter((n) => n !== leader);
  const nc = await scope.conn(leader, APP);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "ORDERS1", subjects: ["o1.>"] });
  await stale.stop();
  await jsm.streams.add({ name: "ORDERS2", subjects: ["o2.>"] });  // on the leader and `wiped` only
  await nc.close();
  await leader.stop();
  await wiped.stop();
  fs.rmSync(path.join(c.storeOf(wiped), "jetstream", "$SYS", "_js_", "_meta_"), { recursive: true, force: true });
  await stale.restart();
  await wiped.restart();
  // The stale server cannot win without the wiped one's vote.
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    const views = await Promise.all([stale, wiped].map((n) => meta(n).catch(() => ({}))));
    for (const v of views) assert.ok(!v.leader || v.leader === leader.serverName, `no leader without the newest log: ${JSON.stringify(views)}`);
    await sleep(200);
  }
  await leader.restart();
  await agreedLeader(c.nodes, 3, 20_000);
  const nc2 = await scope.conn(stale, APP);
  const names = await (await jetstreamManager(nc2)).streams.names().next();
  assert.deepEqual([...names].sort(), ["ORDERS1", "ORDERS2"]);
  await waitFor(() => /caught up with the meta group .*voting again/.test(wiped.log()), 10_000, "the wiped server votes again");
}));

test("meta group: a killed leader is replaced, and comes back as a follower", logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope);
  const leader = await agreedLeader(c.nodes, 3);
  const rest = c.nodes.filter((n) => n !== leader);
  const t0 = Date.now();
  await leader.kill9();
  const next = await agreedLeader(rest, 3, 15_000);
  const failover = Date.now() - t0;
  t.diagnostic(`meta failover after kill -9 of the leader: ${failover} ms`);
  assert.notEqual(next, leader);
  await leader.restart();
  const again = await agreedLeader(c.nodes, 3);
  assert.equal(again, next, "the restarted server follows the leader elected without it");
  await waitFor(async () => (await httpJson(leader.mport, "/healthz")).status === "ok", 10_000, "healthz ok");
}));

test("meta group: all three restart (clean, then kill -9) and keep one group; a server whose store was wiped rejoins it", logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope);
  await agreedLeader(c.nodes, 3);
  for (const n of c.nodes) await n.stop();
  for (const n of c.nodes) await n.restart();
  await agreedLeader(c.nodes, 3);
  for (const n of c.nodes) await n.kill9();
  for (const n of c.nodes) await n.restart();
  const leader = await agreedLeader(c.nodes, 3);
  // n1 would start a group of its own on a first start (lowest name). With
  // its store gone it must rejoin instead, never leading a second group.
  const n1 = c.nodes[0];
  if (leader === n1) {
    await n1.kill9();
    await agreedLeader(c.nodes.slice(1), 3);
  } else {
    await n1.stop();
  }
  fs.rmSync(c.storeOf(n1), { recursive: true, force: true });
  await n1.restart();
  const seen = new Set();
  const deadline = Date.now() + 4000;
  while (Date.now() < deadline) {
    const m = await meta(n1).catch(() => ({}));
    if (m?.leader) seen.add(m.leader);
    await sleep(50);
  }
  assert.ok(!seen.has(n1.serverName), `the wiped server led a group: ${[...seen]}`);
  const after = await agreedLeader(c.nodes, 3);
  assert.notEqual(after, n1);
}));

test("meta group: SERVER.REMOVE takes a stopped server out of the group", logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope);
  const leader = await agreedLeader(c.nodes, 3);
  const gone = c.nodes.find((n) => n !== leader);
  await gone.stop();
  const nc = await scope.conn(leader, { user: SYS.user, pass: SYS.pass });
  const bad = await api(nc, "SERVER.REMOVE", { peer: "nobody" }, "meta_server_remove_response");
  assert.equal(bad.error?.err_code, 10044, JSON.stringify(bad));
  const r = await api(nc, "SERVER.REMOVE", { peer: gone.serverName }, "meta_server_remove_response");
  assert.equal(r.success, true, JSON.stringify(r));
  const left = c.nodes.filter((n) => n !== gone);
  await agreedLeader(left, 2);
}));

test("meta group: /healthz says unavailable while no meta leader is known", logsOnFailure(async (t) => {
  const scope = testScope(t);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-jscluster-"));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  // Its configured route leads nowhere: it cannot form or join a group.
  const node = await scope.node({
    serverName: "lonely",
    routes: ["nats://127.0.0.1:1"],
    extraConfig: jsConfig(root)(0),
  });
  await sleep(1500);
  const res = await fetch(`http://127.0.0.1:${node.mport}/healthz`);
  assert.equal(res.status, 503);
  const h = await res.json();
  assert.equal(h.status, "unavailable");
  // nats-server 2.10 and newer say "JetStream is still recovering meta layer" first.
  assert.match(h.error, /meta leader|meta layer/);
}));

// The operator's way: `fjord server raft step-down` / `peer-remove` (libnats),
// as `nats server raft` does it. Runs when the CLI is built (FJORD_CLI).
const cli = (node, args) => fjordCli(node, args, SYS);

test("meta group: fjord server raft step-down and peer-remove", { skip: CLI ? false : "FJORD_CLI not set" }, logsOnFailure(async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope);
  const leader = await agreedLeader(c.nodes, 3);
  const other = c.nodes.find((n) => n !== leader);
  const r = await cli(other, ["server", "raft", "step-down"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`New leader elected "n\\d" \\(was "${leader.serverName}"\\)`));
  const next = await agreedLeader(c.nodes, 3);
  assert.notEqual(next, leader);
  const target = c.nodes.find((n) => n !== next);
  const r2 = await cli(other, ["server", "raft", "step-down", `--preferred=${target.serverName}`]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, new RegExp(`New leader elected "${target.serverName}"`));
  // Not on a terminal: removing needs --force.
  const gone = c.nodes.find((n) => n !== target);
  await gone.stop();
  const r3 = await cli(target, ["server", "raft", "peer-remove", gone.serverName]);
  assert.notEqual(r3.code, 0);
  assert.match(r3.stderr, /--force/);
  const r4 = await cli(target, ["server", "raft", "peer-remove", gone.serverName, "-f"]);
  assert.equal(r4.code, 0, r4.stderr);
  await agreedLeader(c.nodes.filter((n) => n !== gone), 2);
  const r5 = await cli(target, ["server", "raft", "peer-remove", "nobody", "-f"]);
  assert.notEqual(r5.code, 0);
  assert.match(r5.stderr, /not a member.*10044/);
}));
