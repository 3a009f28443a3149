// Network partitions of a 3-node cluster, made with Linux network
// namespaces: nodes A, B, C each run in their own namespace, joined by veth
// pairs to a bridge in a fourth one. Cutting C's veth on the bridge side
// isolates C (its TCP connections are not closed: the servers have to notice
// by route PINGs, hence ping_interval 1s); bringing it up heals the
// partition and the routes and the interest must come back.
//
// Only addresses inside those namespaces are used (10.251.1.0/24); nothing
// is configured on the host's interfaces. Clients run inside the
// namespaces too: a small agent script (written to a temp dir, importing the
// npm client by absolute path) per namespace, driven over stdin/stdout with
// JSON lines.
//
// The same partitions with a replicated JetStream stream (three replicas):
// an isolated stream leader must not acknowledge anything, the majority
// must take over, and after healing (or a flapping link) every replica
// must hold the same messages, each acknowledged one once at the seq its
// PubAck named.
//
// Needs root and `ip netns`; skipped with a message otherwise. The
// namespaces are removed after the test, on failure too, and at process
// exit. Namespaces of earlier runs that died (fjordp-<pid>-* whose pid is
// gone) are removed first.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { serverBin, waitFor, within, sleep, seededRandom } from "./lib/server.mjs";
import { leaderClaims } from "./lib/jscluster.mjs";

const PREFIX = `fjordp-${process.pid}-`;
const NS = { a: `${PREFIX}a`, b: `${PREFIX}b`, c: `${PREFIX}c`, br: `${PREFIX}br` };
const ADDR = { a: "10.251.1.1", b: "10.251.1.2", c: "10.251.1.3" };
const NODES = ["a", "b", "c"];

function ip(...args) {
  return execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 }).toString();
}

function listNetns() {
  try {
    return ip("netns", "list").split("\n").map((l) => l.split(/\s+/)[0]).filter(Boolean);
  } catch {
    return [];
  }
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

// Kills what runs in the namespace (only our own namespaces are passed here)
// and deletes it.
function deleteNetns(name) {
  try {
    for (const p of ip("netns", "pids", name).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), "SIGKILL");
      } catch {}
    }
  } catch {}
  try {
    ip("netns", "del", name);
  } catch {}
}

const children = new Set();
let created = [];

function cleanupSync() {
  for (const ch of children) {
    try {
      ch.kill("SIGKILL");
    } catch {}
  }
  children.clear();
  for (const n of created) deleteNetns(n);
  created = [];
}
process.on("exit", cleanupSync);

// Why the test cannot run here, or null.
function cannotRun() {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "needs root for ip netns";
  const probe = `${PREFIX}probe`;
  const r = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8", timeout: 10_000 });
  if (r.error || r.status !== 0) return `ip netns add failed: ${r.error?.message ?? r.stderr.trim()}`;
  spawnSync("ip", ["netns", "del", probe], { timeout: 10_000 });
  return null;
}

function setupNetwork() {
  // Leftovers of runs that were killed before they could clean up.
  for (const n of listNetns()) {
    const m = /^fjordp-(\d+)-/.exec(n);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) deleteNetns(n);
  }
  for (const n of Object.values(NS)) {
    ip("netns", "add", n);
    created.push(n);
    ip("-n", n, "link", "set", "lo", "up");
  }
  ip("-n", NS.br, "link", "add", "br0", "type", "bridge");
  ip("-n", NS.br, "link", "set", "br0", "up");
  for (const x of NODES) {
    // Both ends are created inside namespaces: nothing appears on the host.
    ip("-n", NS.br, "link", "add", `v${x}`, "type", "veth", "peer", "name", "eth0", "netns", NS[x]);
    ip("-n", NS.br, "link", "set", `v${x}`, "master", "br0");
    ip("-n", NS.br, "link", "set", `v${x}`, "up");
    ip("-n", NS[x], "addr", "add", `${ADDR[x]}/24`, "dev", "eth0");
    ip("-n", NS[x], "link", "set", "eth0", "up");
  }
}

// With `js`, clustered JetStream: a store in `dir`, and every node lists
// every route (nats-server requires configured routes for it).
function nodeConfig(x, js) {
  let routes = x === "a" ? "" : `routes: [ "nats://${ADDR.a}:6222" ]`;
  let extra = "";
  if (js) {
    routes = `routes: [ ${NODES.map((y) => `"nats://${ADDR[y]}:6222"`).join(", ")} ]`;
    extra = `jetstream { store_dir: ${JSON.stringify(path.join(js.dir, `store-${x}`))} }\n`;
  }
  // FJORD_DEBUG=1: debug logs (Raft elections among them) in a failure's dump.
  if (process.env.FJORD_DEBUG) extra += "debug: true\n";
  return `${extra}server_name: ${x}
listen: ${ADDR[x]}:4222
http: ${ADDR[x]}:8222
# Routes notice a silent peer by PINGs only.
ping_interval: "1s"
ping_max: 2
cluster {
  name: P
  listen: ${ADDR[x]}:6222
  ${routes}
}
`;
}

class NsServer {
  constructor(x, dir, { js = false } = {}) {
    this.x = x;
    this.conf = path.join(dir, `${x}.conf`);
    fs.writeFileSync(this.conf, nodeConfig(x, js ? { dir } : null));
    this.logText = "";
    this.child = spawn("ip", ["netns", "exec", NS[x], serverBin, "-c", this.conf], { stdio: ["ignore", "pipe", "pipe"] });
    children.add(this.child);
    const append = (b) => {
      this.logText += b.toString();
      if (this.logText.length > 256 * 1024) this.logText = this.logText.slice(-256 * 1024);
    };
    this.child.stdout.on("data", append);
    this.child.stderr.on("data", append);
    this.exited = new Promise((r) => this.child.once("exit", (code, signal) => {
      children.delete(this.child);
      r({ code, signal });
    }));
  }

  get alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop() {
    if (!this.alive) return;
    this.child.kill("SIGTERM");
    const r = await Promise.race([this.exited, sleep(5000).then(() => null)]);
    if (!r) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }
}

// The client agent: one per namespace; JSON commands on stdin, JSON replies
// and message events on stdout.
const AGENT = (clientUrl) => `
import { connect, headers as mkHeaders } from ${JSON.stringify(clientUrl)};
import readline from "node:readline";
const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const td = new TextDecoder();
const hdrsOf = (o) => {
  if (!o) return undefined;
  const h = mkHeaders();
  for (const [k, v] of Object.entries(o)) h.set(k, String(v));
  return h;
};
// A request: the reply's text and, when it is JSON, its value; no reply in
// time or no responders throw.
async function request(subject, data, hdrs, timeout) {
  const m = await nc.request(subject, data, { timeout, headers: hdrsOf(hdrs) });
  const text = td.decode(m.data);
  let json;
  try { json = JSON.parse(text); } catch {}
  return { data: text, json };
}
const [addr] = process.argv.slice(2);
let nc = null;
const subs = new Map();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(ms, fn) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try { const v = await fn(); if (v !== undefined) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error("timed out" + (last ? ": " + last.message : ""));
    await sleep(50);
  }
}
const ops = {
  async connect({ ms = 10000 }) {
    nc = await until(ms, () => connect({ servers: addr + ":4222", maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 2000 }));
    return { server: nc.info.server_name };
  },
  async sub({ subject, ready }) {
    const s = nc.subscribe(subject, { callback: (err, m) => {
      if (!err) out({ ev: "msg", sub: subject, subject: m.subject, data: new TextDecoder().decode(m.data), status: m.headers?.code || undefined });
    } });
    subs.set(subject, s);
    if (ready) subs.set(ready, nc.subscribe(ready, { callback: (err, m) => { if (!err) m.respond("ok"); } }));
    await nc.flush();
    return {};
  },
  async unsub({ subject }) { subs.get(subject)?.unsubscribe(); subs.delete(subject); await nc.flush(); return {}; },
  async pub({ subject, prefix = "", count = 1 }) {
    for (let i = 0; i < count; i++) nc.publish(subject, prefix + i);
    await nc.flush();
    return {};
  },
  async waitready({ subject, ms = 10000 }) {
    const t0 = Date.now();
    await until(ms, async () => { await nc.request(subject, "", { timeout: 500 }); return true; });
    return { ms: Date.now() - t0 };
  },
  async http({ path }) {
    const r = await fetch("http://" + addr + ":8222" + path, { signal: AbortSignal.timeout(2000) });
    return await r.json();
  },
  async request({ subject, data = "", headers, timeout = 2000 }) {
    return await request(subject, data, headers, timeout);
  },
  // A JetStream publish with a msg id, sent again (same id) every 100 ms
  // after a timeout or an error until a PubAck comes, for at most ms.
  async pubjs({ subject, msgid: id, data, timeout = 1000, ms = 30000 }) {
    const t0 = Date.now();
    let tries = 0, last;
    for (;;) {
      tries++;
      try {
        const r = await request(subject, data, { "Nats-Msg-Id": id }, timeout);
        if (r.json && !r.json.error && typeof r.json.seq === "number") return { ack: r.json, tries, ms: Date.now() - t0 };
        last = r.data;
      } catch (e) { last = String(e?.message ?? e); }
      if (Date.now() - t0 > ms) throw new Error("no PubAck for " + id + " in " + ms + " ms (" + tries + " tries): " + last);
      await sleep(100);
    }
  },
  // One publish with a msg id and an explicit reply subject (a reply that
  // comes however late is seen by a subscription on it).
  async pubreply({ subject, msgid: id, data, reply }) {
    nc.publish(subject, data, { reply, headers: hdrsOf({ "Nats-Msg-Id": id }) });
    await nc.flush();
    return {};
  },
  // Every sequence first..last of a stream by $JS.API.STREAM.MSG.GET
  // (answered by its leader): {seq, subject, id (Nats-Msg-Id), data}, or
  // null where there is no message.
  async readstream({ stream, first, last, timeout = 2000 }) {
    const msgs = [];
    for (let seq = first; seq <= last; seq++) {
      const r = await request("$JS.API.STREAM.MSG.GET." + stream, JSON.stringify({ seq }), undefined, timeout);
      if (r.json?.error) {
        if (r.json.error.err_code === 10037) { msgs.push(null); continue; }
        throw new Error("seq " + seq + ": " + r.data);
      }
      const m = r.json?.message;
      if (!m || m.seq !== seq) throw new Error("seq " + seq + ": " + r.data);
      const hdrs = m.hdrs ? Buffer.from(m.hdrs, "base64").toString() : "";
      const id = /^Nats-Msg-Id:\\s*(.*?)\\s*$/im.exec(hdrs)?.[1] ?? null;
      msgs.push({ seq, subject: m.subject, id, data: m.data ? Buffer.from(m.data, "base64").toString() : "" });
    }
    return msgs;
  },
};
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  let cmd;
  try { cmd = JSON.parse(line); } catch { return; }
  if (cmd.op === "exit") { try { await nc?.close(); } catch {} process.exit(0); }
  try { out({ id: cmd.id, ok: true, result: await ops[cmd.op](cmd) }); }
  catch (e) { out({ id: cmd.id, ok: false, error: String(e?.message ?? e) }); }
});
rl.on("close", () => process.exit(0));
`;

class Agent {
  constructor(x, script) {
    this.x = x;
    this.seq = 0;
    this.pending = new Map();
    this.msgs = [];
    this.stderr = "";
    this.child = spawn("ip", ["netns", "exec", NS[x], process.execPath, script, ADDR[x]], { stdio: ["pipe", "pipe", "pipe"] });
    children.add(this.child);
    this.child.once("exit", () => {
      children.delete(this.child);
      for (const [, p] of this.pending) p.reject(new Error(`agent ${x} exited: ${this.stderr}`));
      this.pending.clear();
    });
    this.child.stderr.on("data", (d) => { this.stderr += d.toString(); });
    readline.createInterface({ input: this.child.stdout }).on("line", (line) => {
      let o;
      try {
        o = JSON.parse(line);
      } catch {
        return;
      }
      if (o.ev === "msg") this.msgs.push(o);
      else if (this.pending.has(o.id)) {
        const p = this.pending.get(o.id);
        this.pending.delete(o.id);
        if (o.ok) p.resolve(o.result);
        else p.reject(new Error(`agent ${x} ${p.op}: ${o.error}`));
      }
    });
  }

  call(op, args = {}, ms = 15_000) {
    const id = ++this.seq;
    const p = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, op }));
    // id and op last: an argument of the same name must not hide them.
    this.child.stdin.write(JSON.stringify({ ...args, id, op }) + "\n");
    return within(p, ms, `agent ${this.x} ${op} ${JSON.stringify(args)}`);
  }

  got(sub) {
    return this.msgs.filter((m) => m.sub === sub).map((m) => m.data);
  }

  async waitMsgs(sub, n, ms = 10_000) {
    await waitFor(() => this.got(sub).length >= n, ms, `${n} messages on ${sub} at ${this.x} (have ${this.got(sub).length})`, 20);
    return this.got(sub);
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      this.child.stdin.write(JSON.stringify({ op: "exit" }) + "\n");
    } catch {}
    const done = new Promise((r) => this.child.once("exit", r));
    if (!(await Promise.race([done.then(() => true), sleep(3000).then(() => false)]))) this.child.kill("SIGKILL");
  }
}

// Distinct route peers (by remote_id) of a node, through its agent.
async function peers(agent) {
  const rz = await agent.call("http", { path: "/routez" });
  return new Set((rz.routes ?? []).map((r) => r.remote_id));
}

const skip = cannotRun();

// One test's temp dir, servers and agents, all released in t.after (the
// namespaces too); dumpLogs prints the servers' output and agents' errors.
function partitionRun(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-partition-"));
  const servers = {};
  const agents = {};
  t.after(async () => {
    await Promise.all(Object.values(agents).map((a) => a.stop().catch(() => {})));
    await Promise.all(Object.values(servers).map((s) => s.stop().catch(() => {})));
    cleanupSync();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const dumpLogs = () => {
    for (const s of Object.values(servers)) {
      process.stderr.write(`--- ${serverBin} in ${NS[s.x]} (exit ${s.child.exitCode ?? s.child.signalCode ?? "running"}) ---\n${s.logText.slice(-12000)}\n`);
      // Debug logs are longer: the last 256 KiB of each go to a file.
      if (process.env.FJORD_DEBUG) {
        const file = path.join(os.tmpdir(), `fjord-partition-${s.x}.log`);
        fs.writeFileSync(file, s.logText);
        process.stderr.write(`(the last 256 KiB of ${s.x}'s log: ${file})\n`);
      }
    }
    for (const a of Object.values(agents)) if (a.stderr) process.stderr.write(`--- agent ${a.x} stderr ---\n${a.stderr}\n`);
  };
  return { dir, servers, agents, dumpLogs };
}

test("partition: an isolated node keeps serving locally, the majority keeps working, and after healing routes and interest come back", { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const { dir, servers, agents, dumpLogs } = partitionRun(t);

  try {
    setupNetwork();
    const script = path.join(dir, "agent.mjs");
    fs.writeFileSync(script, AGENT(import.meta.resolve("@nats-io/transport-node")));

    servers.a = new NsServer("a", dir);
    for (const x of NODES) agents[x] = new Agent(x, script);
    await agents.a.call("connect");
    servers.b = new NsServer("b", dir);
    servers.c = new NsServer("c", dir);
    await Promise.all([agents.b.call("connect"), agents.c.call("connect")]);

    const ids = {};
    for (const x of NODES) ids[x] = (await agents[x].call("http", { path: "/varz" })).server_id;
    const meshOk = async (xs) => {
      for (const x of xs) {
        const p = await peers(agents[x]);
        const want = xs.filter((y) => y !== x).map((y) => ids[y]);
        if (p.size !== want.length || !want.every((id) => p.has(id))) return false;
      }
      return true;
    };
    await waitFor(() => meshOk(NODES), 15_000, "the cluster to form across namespaces", 100);

    // Baseline: A -> B and A -> C.
    await agents.b.call("sub", { subject: "part.b", ready: "ready.b.1" });
    await agents.c.call("sub", { subject: "part.c", ready: "ready.c.1" });
    await agents.a.call("waitready", { subject: "ready.b.1" });
    await agents.a.call("waitready", { subject: "ready.c.1" });
    await agents.a.call("pub", { subject: "part.b", prefix: "pre", count: 10 });
    await agents.a.call("pub", { subject: "part.c", prefix: "pre", count: 10 });
    await agents.b.waitMsgs("part.b", 10);
    await agents.c.waitMsgs("part.c", 10);

    // Cut C off: its veth on the bridge goes down. No FIN, no RST.
    ip("-n", NS.br, "link", "set", "vc", "down");
    const tCut = Date.now();

    // Right away (before anyone notices): A -> B still flows, C serves locally.
    await agents.a.call("pub", { subject: "part.b", prefix: "cut", count: 10 });
    await agents.b.waitMsgs("part.b", 20);
    await agents.c.call("sub", { subject: "local.c", ready: "ready.c.local" });
    await agents.c.call("pub", { subject: "local.c", prefix: "loc", count: 10 });
    await agents.c.waitMsgs("local.c", 10);

    // The routes to C go (route PINGs unanswered); A and B keep theirs.
    await waitFor(async () => !(await peers(agents.a)).has(ids.c) && !(await peers(agents.b)).has(ids.c) && (await peers(agents.c)).size === 0,
      20_000, "A and B to drop C, and C to drop both", 200);
    const tNoticed = Date.now();
    t.diagnostic(`partition noticed after ${tNoticed - tCut} ms`);
    assert.ok(await meshOk(["a", "b"]), "A and B still routed to each other");

    // Majority: new interest and messages between A and B.
    await agents.b.call("sub", { subject: "part.b2", ready: "ready.b.2" });
    await agents.a.call("waitready", { subject: "ready.b.2" });
    await agents.a.call("pub", { subject: "part.b2", prefix: "maj", count: 10 });
    assert.deepEqual(await agents.b.waitMsgs("part.b2", 10), Array.from({ length: 10 }, (_, i) => `maj${i}`));
    // Minority: C still serves its own clients.
    await agents.c.call("pub", { subject: "local.c", prefix: "loc2-", count: 10 });
    await agents.c.waitMsgs("local.c", 20);
    // And C has no way to the others: a request for B's responder gets no responders.
    await assert.rejects(agents.c.call("waitready", { subject: "ready.b.2", ms: 1000 }), /timed out|no responders/i);

    // A subscription made on C during the partition must reach A after healing.
    await agents.c.call("sub", { subject: "part.c2", ready: "ready.c.2" });

    // Heal.
    ip("-n", NS.br, "link", "set", "vc", "up");
    const tHeal = Date.now();
    await waitFor(() => meshOk(NODES), 30_000, "routes to come back after healing", 200);
    const tMesh = Date.now();
    await agents.a.call("waitready", { subject: "ready.c.1", ms: 30_000 }, 35_000);
    await agents.a.call("waitready", { subject: "ready.c.2", ms: 30_000 }, 35_000);
    await agents.c.call("waitready", { subject: "ready.b.2", ms: 30_000 }, 35_000);
    t.diagnostic(`mesh back ${tMesh - tHeal} ms after healing, interest ${Date.now() - tHeal} ms`);

    const beforeC = agents.c.got("part.c").length;
    await agents.a.call("pub", { subject: "part.c", prefix: "post", count: 10 });
    await agents.a.call("pub", { subject: "part.c2", prefix: "post2-", count: 10 });
    const gotC = await agents.c.waitMsgs("part.c", beforeC + 10);
    assert.deepEqual(gotC.slice(beforeC), Array.from({ length: 10 }, (_, i) => `post${i}`));
    assert.deepEqual(await agents.c.waitMsgs("part.c2", 10), Array.from({ length: 10 }, (_, i) => `post2-${i}`));
    // And from C to B.
    await agents.c.call("pub", { subject: "part.b2", prefix: "fromc", count: 10 });
    const gotB = await agents.b.waitMsgs("part.b2", 20);
    assert.deepEqual(gotB.slice(10), Array.from({ length: 10 }, (_, i) => `fromc${i}`));

    for (const x of NODES) assert.ok(servers[x].alive, `server ${x} still running`);
  } catch (e) {
    dumpLogs();
    throw e;
  }
});

// The JetStream meta group across a partition: isolating the meta leader
// makes the other two elect a new one, and the isolated server stops
// leading by itself (leadership expiry): there is never a moment after that
// when two servers claim the lead. After healing, all three follow the new
// leader.
// /jsz's meta_cluster as node x sees it (through its agent), and the leader
// every node of `xs` names once they agree on one of `xs`.
function metaViews(agents) {
  const metaOf = async (x) => (await agents[x].call("http", { path: "/jsz" })).meta_cluster ?? {};
  const agreed = async (xs, size, ms) => {
    let views;
    await waitFor(async () => {
      views = await Promise.all(xs.map((x) => metaOf(x).catch(() => ({}))));
      const l = views[0].leader;
      return xs.includes(l) && views.every((v) => v.leader === l && v.cluster_size === size);
    }, ms, `one meta leader among ${xs.join(",")}`, 100).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(views)}`);
    });
    return views[0].leader;
  };
  return { metaOf, agreed };
}

async function startJetStreamCluster(dir, servers, agents) {
  setupNetwork();
  const script = path.join(dir, "agent.mjs");
  fs.writeFileSync(script, AGENT(import.meta.resolve("@nats-io/transport-node")));
  for (const x of NODES) servers[x] = new NsServer(x, dir, { js: true });
  for (const x of NODES) agents[x] = new Agent(x, script);
  await Promise.all(NODES.map((x) => agents[x].call("connect")));
}

test("partition: the isolated meta leader steps down, the majority elects another, and all agree after healing", { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const { dir, servers, agents, dumpLogs } = partitionRun(t);
  const { metaOf, agreed } = metaViews(agents);

  try {
    await startJetStreamCluster(dir, servers, agents);
    const leader = await agreed(NODES, 3, 30_000);
    const rest = NODES.filter((x) => x !== leader);

    ip("-n", NS.br, "link", "set", `v${leader}`, "down");
    const tCut = Date.now();
    // Watch both sides at once: when the isolated one stops claiming the
    // lead (it cannot reach a quorum), and when the majority first names a
    // new leader. The first must come before the second.
    let tStop = null, tElect = null, next = null;
    await waitFor(async () => {
      const [iso, ...views] = await Promise.all([leader, ...rest].map((x) => metaOf(x).catch(() => ({}))));
      const now = Date.now();
      if (tStop === null && iso.leader !== leader) tStop = now;
      const l = views[0].leader;
      if (tElect === null && l && l !== leader && views.every((v) => v.leader === l)) {
        tElect = now;
        next = l;
      }
      return tStop !== null && tElect !== null;
    }, 20_000, "the isolated leader to step down and the majority to elect another", 20);
    t.diagnostic(`isolated ${leader} stopped leading ${tStop - tCut} ms after the cut; ` +
      `${next} elected after ${tElect - tCut} ms`);
    assert.ok(tStop <= tElect, `${leader} still led when ${next} was elected`);
    await agreed(rest, 3, 10_000);

    ip("-n", NS.br, "link", "set", `v${leader}`, "up");
    const tHeal = Date.now();
    const healed = await agreed(NODES, 3, 30_000);
    t.diagnostic(`all three follow ${healed} ${Date.now() - tHeal} ms after healing`);
    for (const x of NODES) assert.ok(servers[x].alive, `server ${x} still running`);
  } catch (e) {
    dumpLogs();
    throw e;
  }
});

// A flapping link: the meta leader's link goes down and up at random
// (seeded, printed) for about ten seconds. Afterwards all three follow one
// leader, every server still runs, and no Raft term had two leaders (from
// the servers' "leader now (term N)" lines).
test("partition: the meta leader's link flaps; afterwards one leader, and never two in a term", { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const seed = Number(process.env.FJORD_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (FJORD_FAULT_SEED)`);
  const rand = seededRandom(seed);
  const { dir, servers, agents, dumpLogs } = partitionRun(t);
  const { agreed } = metaViews(agents);
  try {
    await startJetStreamCluster(dir, servers, agents);
    const leader = await agreed(NODES, 3, 30_000);
    for (let i = 0; i < 8; i++) {
      ip("-n", NS.br, "link", "set", `v${leader}`, "down");
      await sleep(200 + Math.floor(rand() * 1000));
      ip("-n", NS.br, "link", "set", `v${leader}`, "up");
      await sleep(200 + Math.floor(rand() * 1000));
    }
    const tHeal = Date.now();
    const healed = await agreed(NODES, 3, 30_000);
    t.diagnostic(`all three follow ${healed} ${Date.now() - tHeal} ms after the last flap (first leader ${leader})`);
    for (const x of NODES) assert.ok(servers[x].alive, `server ${x} still running`);
    const claims = leaderClaims(NODES.map((x) => [x, servers[x].logText]));
    assert.ok(claims.size > 0, "leadership log lines found");
    for (const [key, who] of claims) assert.equal(who.size, 1, `${key}: ${[...who].join(", ")}`);
  } catch (e) {
    dumpLogs();
    throw e;
  }
});

// ---------------------------------------------------------------------------
// A replicated stream (ORDERS, three replicas, file storage) across a
// partition. Every client request goes through an agent in a namespace:
// publishes are requests with a Nats-Msg-Id, sent again with the same id
// until a PubAck comes (pubjs); the stream is read by $JS.API.STREAM.MSG.GET.
// Only the stream's leader answers, so reading one replica means making it
// the leader first (a stepdown with a preferred server).

const STREAM = "ORDERS";
const payload = (id) => JSON.stringify({ id });

// A $JS.API request through an agent: the reply's JSON (API errors are
// returned as they are; no reply throws).
async function jsApi(agent, subject, body = "", timeout = 2000) {
  const data = typeof body === "string" ? body : JSON.stringify(body);
  const r = await agent.call("request", { subject, data, timeout }, timeout + 5000);
  if (!r.json) throw new Error(`${subject} through ${agent.x}: not JSON: ${r.data}`);
  return r.json;
}

async function streamInfo(agent, timeout = 2000) {
  const si = await jsApi(agent, `$JS.API.STREAM.INFO.${STREAM}`, "", timeout);
  if (si.error) throw new Error(`stream info through ${agent.x}: ${JSON.stringify(si.error)}`);
  return si;
}

async function createStream(agent) {
  const config = { name: STREAM, subjects: ["orders.>"], storage: "file", num_replicas: 3, duplicate_window: 300e9 };
  let last;
  await waitFor(async () => {
    last = await jsApi(agent, `$JS.API.STREAM.CREATE.${STREAM}`, config, 5000);
    // A retry of a create that went through finds the stream in place.
    return !last.error || last.error.err_code === 10058;
  }, 30_000, "the stream created", 500).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(last)}`);
  });
}

// Waits (at most ms) until the stream has a leader and its leader counts
// both other replicas current, none lagging nor offline; returns the info.
async function replicasCurrent(agent, ms) {
  let last;
  await waitFor(async () => {
    last = await streamInfo(agent);
    const c = last.cluster ?? {};
    const reps = c.replicas ?? [];
    return NODES.includes(c.leader) && reps.length === NODES.length - 1 &&
      reps.every((r) => r.current && !r.lag && !r.offline);
  }, ms, "every replica of the stream current", 200).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(last?.cluster)}`);
  });
  return last;
}

// Makes server x the stream's leader (a stepdown preferring x, again every
// 2 s until the info names x).
async function makeStreamLeader(agent, x, ms = 30_000) {
  let asked = 0, last;
  await waitFor(async () => {
    const si = await streamInfo(agent).catch(() => null);
    if (si?.cluster?.leader === x) return true;
    if (Date.now() - asked > 2000) {
      asked = Date.now();
      last = await jsApi(agent, `$JS.API.STREAM.LEADER.STEPDOWN.${STREAM}`, { placement: { preferred: x } }).catch((e) => e.message);
    }
    return false;
  }, ms, `${x} leading the stream`, 200).catch((e) => {
    throw new Error(`${e.message}: last stepdown reply ${JSON.stringify(last)}`);
  });
}

// The publishers' record: every msg id sent (`tried`, the only ones that
// may be stored) and the seq each acknowledged one's PubAck named.
function pubRecord() {
  return { tried: new Set(), acked: new Map(), duplicates: 0, violations: [] };
}

// Publishes msg id `id` through `agent` until acknowledged (at most ms) and
// records its PubAck; returns pubjs's answer ({ack, tries, ms}). Each try
// waits `timeout` ms for the PubAck.
async function publishAcked(rec, agent, id, ms = 30_000, timeout = 1000) {
  rec.tried.add(id);
  const r = await agent.call("pubjs", { subject: `orders.${agent.x}`, msgid: id, data: payload(id), timeout, ms }, ms + 10_000);
  if (r.ack.stream !== STREAM) rec.violations.push(`${id}: PubAck names stream ${r.ack.stream}`);
  if (rec.acked.has(id) && rec.acked.get(id) !== r.ack.seq) rec.violations.push(`${id}: acknowledged as seq ${rec.acked.get(id)} and as ${r.ack.seq}`);
  rec.acked.set(id, r.ack.seq);
  // A try after one that was stored: the msg id's first seq again.
  if (r.ack.duplicate) rec.duplicates++;
  return r;
}

// The checker: once every replica is current, reads the whole stream from
// each replica in turn (made the leader) and checks that
// - all three hold the same state and the same messages (subject, msg id,
//   data) at the same sequences;
// - every acknowledged msg id is stored exactly once, at the seq its PubAck
//   named; no msg id is stored twice; nothing is stored that was never
//   sent, and every message's data is what was sent with its id.
// Violations go to rec.violations; returns the msg ids stored (id -> seq).
async function checkReplicas(t, agents, rec) {
  const via = agents.a;
  const t0 = Date.now();
  await replicasCurrent(via, 30_000);
  const views = {};
  for (const x of NODES) {
    await waitFor(async () => {
      await makeStreamLeader(via, x);
      const si = await streamInfo(agents[x]);
      if (si.cluster.leader !== x) return false;
      const msgs = await agents[x].call("readstream", { stream: STREAM, first: si.state.first_seq, last: si.state.last_seq },
        120_000);
      // The lead moved while reading: read again.
      if ((await streamInfo(agents[x])).cluster.leader !== x) return false;
      views[x] = { state: si.state, msgs };
      return true;
    }, 60_000, `the stream read from ${x}`, 200);
  }
  const [first, ...others] = NODES;
  const base = views[first];
  const stateOf = (v) => ({ messages: v.state.messages, first_seq: v.state.first_seq, last_seq: v.state.last_seq });
  for (const x of others) {
    if (JSON.stringify(stateOf(views[x])) !== JSON.stringify(stateOf(base))) {
      rec.violations.push(`replica ${x}'s state ${JSON.stringify(stateOf(views[x]))} differs from ${first}'s ${JSON.stringify(stateOf(base))}`);
    }
    const n = Math.max(views[x].msgs.length, base.msgs.length);
    for (let i = 0; i < n; i++) {
      const m = views[x].msgs[i], b = base.msgs[i];
      if (JSON.stringify(m) !== JSON.stringify(b)) {
        rec.violations.push(`replica ${x} differs from ${first} at seq ${base.state.first_seq + i}: ${JSON.stringify(m)} vs ${JSON.stringify(b)}`);
        break;
      }
    }
  }
  const stored = new Map();
  for (const m of base.msgs) {
    if (!m) continue;
    if (stored.has(m.id)) rec.violations.push(`${m.id} stored twice: seq ${stored.get(m.id)} and ${m.seq}`);
    else stored.set(m.id, m.seq);
    if (!rec.tried.has(m.id)) rec.violations.push(`seq ${m.seq}: msg id ${m.id} was never sent`);
    else if (m.data !== payload(m.id)) rec.violations.push(`seq ${m.seq} (${m.id}): data ${m.data}`);
  }
  const present = base.msgs.filter(Boolean).length;
  if (present !== base.state.messages) rec.violations.push(`${present} messages read, the state says ${base.state.messages}`);
  for (const [id, seq] of rec.acked) {
    if (!stored.has(id)) rec.violations.push(`${id} acknowledged as seq ${seq}, not stored`);
    else if (stored.get(id) !== seq) rec.violations.push(`${id} acknowledged as seq ${seq}, stored at ${stored.get(id)}`);
  }
  t.diagnostic(`checked ${present} messages (seq ${base.state.first_seq}..${base.state.last_seq}) on ${NODES.join(", ")} ` +
    `in ${Date.now() - t0} ms; ${rec.acked.size} acknowledged, ${stored.size - [...stored.keys()].filter((id) => rec.acked.has(id)).length} stored unacknowledged`);
  return stored;
}

// No Raft term of any group (meta and the stream's) had two leaders, and
// the stream's group left its lines.
function checkLeaderClaims(servers, rec) {
  const claims = leaderClaims(NODES.map((x) => [x, servers[x].logText]));
  if (![...claims.keys()].some((k) => k.startsWith("S-"))) rec.violations.push("no stream group leadership log lines found");
  for (const [key, who] of claims) {
    if (who.size > 1) rec.violations.push(`${key} had ${who.size} leaders: ${[...who].join(", ")}`);
  }
  return claims;
}

test("partition: an R3 stream's isolated leader stops taking writes, the majority elects another and goes on; after healing every replica holds the same acknowledged messages", { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const { dir, servers, agents, dumpLogs } = partitionRun(t);
  const { agreed } = metaViews(agents);
  const rec = pubRecord();
  try {
    await startJetStreamCluster(dir, servers, agents);
    const meta = await agreed(NODES, 3, 30_000);
    await createStream(agents.a);
    await replicasCurrent(agents.a, 30_000);
    for (let i = 0; i < 50; i++) await publishAcked(rec, agents[NODES[i % 3]], `pre-${i}`);
    const leader = (await streamInfo(agents.a)).cluster.leader;
    const rest = NODES.filter((x) => x !== leader);
    t.diagnostic(`stream leader ${leader}, meta leader ${meta}`);
    // Every reply to the isolated side's publishes, however late.
    await agents[leader].call("sub", { subject: "isoack.>" });

    ip("-n", NS.br, "link", "set", `v${leader}`, "down");
    const tCut = Date.now();
    let partitioned = true;

    // The isolated side publishes (each once, with its own reply subject)
    // for six seconds, starting while its server still leads.
    const isolated = (async () => {
      for (let k = 0; k < 24; k++) {
        const id = `iso-${k}`;
        rec.tried.add(id);
        await agents[leader].call("pubreply", { subject: `orders.${leader}`, msgid: id, data: payload(id), reply: `isoack.${id}` });
        await sleep(250);
      }
    })();
    // When the isolated server last answered as the stream's leader.
    let lastClaim = null;
    const watchIsolated = (async () => {
      while (partitioned && Date.now() - tCut < 10_000) {
        const sent = Date.now();
        const si = await streamInfo(agents[leader], 300).catch(() => null);
        if (si?.cluster?.leader === leader) lastClaim = sent;
        await sleep(50);
      }
    })();
    // The majority elects a new stream leader...
    let tElect = null, next = null;
    const elect = waitFor(async () => {
      const si = await streamInfo(agents[rest[0]], 500);
      if (!rest.includes(si.cluster?.leader)) return false;
      tElect = Date.now();
      next = si.cluster.leader;
      return true;
    }, 20_000, "the majority to elect a stream leader", 50);
    // ... and takes publishes: the first one tried from the cut on (each
    // try waiting half a second).
    const first = publishAcked(rec, agents[rest[0]], "maj-0", 30_000, 500);
    await Promise.all([elect, first]);
    const tFirst = Date.now();
    const { tries } = await first;
    t.diagnostic(`stream leader ${next} elected ${tElect - tCut} ms after the cut; first majority PubAck ` +
      `${tFirst - tCut} ms after the cut (${tries} tries); isolated ${leader} last answered as leader ` +
      `${lastClaim === null ? "never" : `${lastClaim - tCut} ms`} after the cut`);
    for (let i = 1; i < 30; i++) await publishAcked(rec, agents[rest[i % 2]], `maj-${i}`, 10_000);
    await isolated;
    // Leadership expiry: the isolated server stops answering as the leader
    // before the majority has another (a request sent after the majority
    // named its leader must not be answered by the old one as leader).
    if (lastClaim !== null && lastClaim > tElect) {
      rec.violations.push(`isolated ${leader} still answered as the stream leader ${lastClaim - tElect} ms after ${next} was elected`);
    }
    // Past the routes' PING timeout, so nothing the isolated side sent can
    // still arrive through a route that survived.
    await sleep(Math.max(0, tCut + 8000 - Date.now()));
    // A reply is a PubAck when it is JSON with a seq and no error (a 503
    // status, no responders, has no body).
    const isoAcks = () => agents[leader].msgs.filter((m) => m.sub === "isoack.>").map((m) => {
      let j = {};
      try { j = JSON.parse(m.data); } catch {}
      const what = m.status ? `status ${m.status}` : j.error ? `error ${j.error.err_code ?? j.error.code}: ${j.error.description}` : m.data;
      return { id: m.subject.slice("isoack.".length), acked: !j.error && typeof j.seq === "number", what };
    });
    const during = isoAcks();
    for (const a of during) {
      if (a.acked) rec.violations.push(`${a.id}, published on the isolated side, acknowledged during the partition: ${a.what}`);
    }

    partitioned = false;
    await watchIsolated;
    ip("-n", NS.br, "link", "set", `v${leader}`, "up");
    const tHeal = Date.now();
    await replicasCurrent(agents[rest[0]], 30_000);
    const kinds = {};
    for (const a of during) kinds[a.what] = (kinds[a.what] ?? 0) + 1;
    t.diagnostic(`every replica current ${Date.now() - tHeal} ms after healing; the isolated side's 24 publishes got ` +
      `${during.length} replies: ${JSON.stringify(kinds)}`);
    // The formerly isolated side publishes again.
    for (let i = 0; i < 10; i++) await publishAcked(rec, agents[leader], `post-${i}`, 20_000);

    const stored = await checkReplicas(t, agents, rec);
    // Never acknowledged, even late (they were sent where no quorum was).
    for (const a of isoAcks().slice(during.length)) {
      if (a.acked) rec.violations.push(`${a.id}, published on the isolated side, acknowledged after healing: ${a.what}`);
    }
    const isoStored = [...stored.keys()].filter((id) => id.startsWith("iso-"));
    if (isoStored.length) t.diagnostic(`stored from the isolated side (never acknowledged): ${isoStored.join(", ")}`);
    checkLeaderClaims(servers, rec);
    for (const x of NODES) assert.ok(servers[x].alive, `server ${x} still running`);
    assert.deepEqual(rec.violations, []);
  } catch (e) {
    dumpLogs();
    throw e;
  }
});

test("partition: a flapping link on an R3 stream's leader while a publisher retries with msg ids; afterwards every acknowledged message once, on every replica", { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const seed = Number(process.env.FJORD_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (FJORD_FAULT_SEED)`);
  const rand = seededRandom(seed);
  const { dir, servers, agents, dumpLogs } = partitionRun(t);
  const { agreed } = metaViews(agents);
  const rec = pubRecord();
  let stop = false;
  t.after(() => { stop = true; });
  try {
    await startJetStreamCluster(dir, servers, agents);
    const meta = await agreed(NODES, 3, 30_000);
    await createStream(agents.a);
    const leader = (await replicasCurrent(agents.a, 30_000)).cluster.leader;
    t.diagnostic(`stream leader ${leader}, meta leader ${meta}`);

    // Each agent in turn publishes the next msg id until it is acknowledged
    // (at most 30 s each); the flapping node's agent too.
    let slowest = 0, retried = 0;
    const publisher = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          const r = await publishAcked(rec, agents[NODES[i % NODES.length]], `f-${i}`, 30_000);
          slowest = Math.max(slowest, r.ms);
          if (r.tries > 1) retried++;
        } catch (e) {
          rec.violations.push(e.message);
        }
        await sleep(5);
      }
    })();
    await waitFor(() => rec.acked.size >= 20, 20_000, "the publisher going");

    // Each flap cuts the link of the stream's leader as an agent names it
    // then (asked anew each time, half a second at most; else the last one
    // cut), for a seeded random 200-1200 ms, then up for 200-1200 ms.
    const t0 = Date.now();
    let flaps = 0, downMs = 0, target = leader;
    const cut = [];
    try {
      while (Date.now() - t0 < 10_000) {
        const si = await streamInfo(agents[NODES[flaps % NODES.length]], 500).catch(() => null);
        if (NODES.includes(si?.cluster?.leader)) target = si.cluster.leader;
        cut.push(target);
        ip("-n", NS.br, "link", "set", `v${target}`, "down");
        const d = 200 + Math.floor(rand() * 1000);
        await sleep(d);
        downMs += d;
        ip("-n", NS.br, "link", "set", `v${target}`, "up");
        flaps++;
        await sleep(200 + Math.floor(rand() * 1000));
      }
    } finally {
      for (const x of NODES) ip("-n", NS.br, "link", "set", `v${x}`, "up");
    }
    const duringFlaps = rec.acked.size;
    const tHeal = Date.now();
    stop = true;
    await publisher;
    const si = await replicasCurrent(agents.a, 30_000);
    t.diagnostic(`${flaps} flaps, the links cut in turn: ${cut.join("")} (down ${downMs} ms in all); ${duringFlaps} acknowledged by then, ` +
      `${retried} needed more than one try (${rec.duplicates} PubAcks said duplicate), slowest ${slowest} ms; every replica current ${Date.now() - tHeal} ms ` +
      `after the last flap, stream leader ${si.cluster.leader}`);
    for (const x of NODES) await publishAcked(rec, agents[x], `post-${x}`, 20_000);

    await checkReplicas(t, agents, rec);
    checkLeaderClaims(servers, rec);
    for (const x of NODES) assert.ok(servers[x].alive, `server ${x} still running`);
    assert.deepEqual(rec.violations, [], `seed ${seed}`);
  } catch (e) {
    dumpLogs();
    throw e;
  }
});
