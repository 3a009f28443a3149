// Helpers for the clustering (routes) tests: start an n-node cluster of
// FJORD_BIN (optionally mixed with a reference nats-server), read its HTTP
// monitoring (/routez, /varz), and wait, always bounded, until routes and
// interest have propagated.
//
// Every node gets its own client, cluster and monitoring port on 127.0.0.1
// and a config file like
//
//   server_name: n1
//   listen: 127.0.0.1:<port>
//   http: 127.0.0.1:<mport>
//   cluster {
//     name: C
//     listen: 127.0.0.1:<cport>
//     routes: [nats://127.0.0.1:<seed cport>]
//   }
//
// The seed node has no routes; every other node routes only to the seed, so
// a full mesh needs the route gossip (INFO with the other servers' cluster
// URLs) to work.
//
// Route counts: nats-server 2.10+ opens a pool of route connections per peer
// (pool_size, default 3) plus a pinned one for the system account, and
// /routez lists each connection (num_routes 8 in a 3-node cluster of 2.15).
// 2.9 opens one per peer. So "peers" here means distinct routes[].remote_id.

import fs from "node:fs";
import { createInbox } from "@nats-io/transport-node";
import { startServer, freePort, waitFor, sleep, within, DEFAULT_TIMEOUT } from "./server.mjs";
import { connectTo } from "./client.mjs";

// The reference server used for mixed clusters.
export const refBin = process.env.NATS_SERVER_REF || "/usr/sbin/nats-server";

export function haveRefBin() {
  try {
    fs.accessSync(refBin, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// `k` distinct ports that were free a moment ago.
export async function freePorts(k, avoid = new Set()) {
  const out = [];
  const seen = new Set(avoid);
  for (let tries = 0; out.length < k; tries++) {
    if (tries > 50 * k) throw new Error(`could not find ${k} distinct free ports`);
    const p = await freePort();
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(p);
  }
  return out;
}

// GET http://127.0.0.1:<mport><path> and parse JSON; bounded.
export async function httpJson(mport, path, ms = 3000) {
  const res = await fetch(`http://127.0.0.1:${mport}${path}`, { signal: AbortSignal.timeout(ms) });
  if (!res.ok) throw new Error(`GET ${path} on monitor port ${mport}: HTTP ${res.status}`);
  return res.json();
}

// Groups /routez routes by remote_id: Map remote_id -> [route, ...].
export function routesByPeer(rz) {
  const m = new Map();
  for (const r of rz?.routes ?? []) {
    if (!r.remote_id) continue;
    if (!m.has(r.remote_id)) m.set(r.remote_id, []);
    m.get(r.remote_id).push(r);
  }
  return m;
}

// Sum of the subscriptions a peer has told this node about (over all route
// connections to that peer), from /routez.
export function peerSubCount(rz, remoteId) {
  let n = 0;
  for (const r of routesByPeer(rz).get(remoteId) ?? []) n += Number(r.subscriptions ?? r.num_subscriptions ?? 0);
  return n;
}

// The subjects a peer has told this node about (needs /routez?subs=1).
// Entries are strings ("foo.bar", and in some versions "foo.bar q") or
// objects ({subject, qgroup}) depending on the server; normalised here to
// "subject" or "subject queue".
export function peerSubList(rz, remoteId) {
  const out = [];
  for (const r of routesByPeer(rz).get(remoteId) ?? []) {
    for (const s of r.subscriptions_list ?? []) {
      out.push(typeof s === "string" ? s : [s.subject, s.qgroup].filter(Boolean).join(" "));
    }
    for (const s of r.subscriptions_list_detail ?? []) {
      out.push([s.subject, s.qgroup].filter(Boolean).join(" "));
    }
  }
  return out;
}

let nodeSeq = 0;

// One cluster member. Ports are fixed for its lifetime (restart keeps them).
export class ClusterNode {
  constructor(spec) {
    Object.assign(this, spec);
    this.srv = null;
    this.serverId = null;
  }

  get url() {
    return `nats://127.0.0.1:${this.port}`;
  }

  get clientHostPort() {
    return `127.0.0.1:${this.port}`;
  }

  // The route URL other nodes use for this node, with credentials if given.
  routeUrl(auth) {
    const cred = auth ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}@` : "";
    return `nats://${cred}127.0.0.1:${this.cport}`;
  }

  // Started with the reference binary (mixed clusters).
  get isRef() {
    return this.bin !== undefined && this.bin === refBin;
  }

  get kind() {
    return this.isRef ? "ref" : "fjord";
  }

  configText() {
    const lines = [
      `server_name: ${this.serverName}`,
      `listen: 127.0.0.1:${this.port}`,
      `http: 127.0.0.1:${this.mport}`,
    ];
    if (!this.useFlags) {
      const c = [`  name: ${this.clusterName}`, `  listen: 127.0.0.1:${this.cport}`];
      if (this.routes.length) c.push(`  routes: [\n${this.routes.map((r) => `    ${JSON.stringify(r)}`).join("\n")}\n  ]`);
      if (this.auth) {
        c.push(`  authorization {\n    user: ${JSON.stringify(this.auth.user)}\n    password: ${JSON.stringify(this.auth.password)}\n    timeout: ${this.auth.timeout ?? 2}\n  }`);
      }
      if (this.clusterExtra) c.push(this.clusterExtra);
      lines.push(`cluster {\n${c.join("\n")}\n}`);
    }
    if (this.extraConfig) lines.push(this.extraConfig);
    return lines.join("\n") + "\n";
  }

  args() {
    if (!this.useFlags) return [];
    const a = ["--cluster", `nats://127.0.0.1:${this.cport}`, "--cluster_name", this.clusterName];
    if (this.routes.length) a.push("--routes", this.routes.join(","));
    return a;
  }

  async start() {
    this.srv = await startServer({
      config: () => this.configText(),
      args: this.args(),
      listenArgs: false,
      jetstream: false,
      bin: this.bin,
      port: this.port,
      env: this.env,
    });
    this.serverId = null;
    return this;
  }

  async routez(subs = false) {
    return httpJson(this.mport, subs ? "/routez?subs=1" : "/routez");
  }

  async varz() {
    return httpJson(this.mport, "/varz");
  }

  async id() {
    if (!this.serverId) this.serverId = (await this.varz()).server_id;
    return this.serverId;
  }

  // Distinct peers (remote_id) this node has routes to.
  async peers() {
    return [...routesByPeer(await this.routez()).keys()];
  }

  async stop() {
    await this.srv?.stop();
  }

  async kill9() {
    await this.srv?.kill9();
  }

  async powerLoss() {
    await this.srv?.powerLoss();
  }

  diskFull(on) {
    this.srv?.diskFull(on);
  }

  // Same ports, same config; the server id changes.
  async restart() {
    await this.srv.restart();
    this.serverId = null;
    return this;
  }

  log() {
    return this.srv?.log() ?? "";
  }

  get alive() {
    return !!this.srv?.child && this.srv.child.exitCode === null && this.srv.child.signalCode === null;
  }
}

// Builds (does not start) a node. spec:
//   serverName, clusterName, routes (array of route URLs), auth ({user,
//   password, timeout}: the node's cluster authorization block), bin,
//   extraConfig, clusterExtra (text inside cluster {}), useFlags (cluster,
//   cluster_name and routes as --cluster/--cluster_name/--routes flags).
export async function makeNode(spec = {}) {
  const [port, cport, mport] = await freePorts(3);
  const n = ++nodeSeq;
  return new ClusterNode({
    serverName: spec.serverName ?? `x${n}`,
    clusterName: spec.clusterName ?? "C",
    routes: spec.routes ?? [],
    auth: spec.auth,
    bin: spec.bin,
    extraConfig: spec.extraConfig,
    clusterExtra: spec.clusterExtra,
    useFlags: !!spec.useFlags,
    port,
    cport,
    mport,
  });
}

export async function startNode(spec) {
  return (await makeNode(spec)).start();
}

export class Cluster {
  constructor(nodes, name) {
    this.nodes = nodes;
    this.name = name;
  }

  get urls() {
    return this.nodes.map((n) => n.url);
  }

  node(i) {
    return this.nodes[i];
  }

  async stop() {
    await Promise.all(this.nodes.map((n) => n.stop().catch(() => {})));
  }

  // Waits until every (running) node in `nodes` has routes to exactly the
  // other running nodes of the list (by server id).
  async waitMesh(nodes = this.nodes, ms = 15_000) {
    return waitMesh(nodes, ms);
  }
}

// Waits until each node has routes to every other node of `nodes` (and to no
// one else): distinct remote_id set == the other nodes' server ids.
export async function waitMesh(nodes, ms = 15_000) {
  let ids;
  await waitFor(async () => {
    ids = await Promise.all(nodes.map((n) => n.id()));
    for (let i = 0; i < nodes.length; i++) {
      const peers = new Set(await nodes[i].peers());
      const want = ids.filter((_, j) => j !== i);
      if (peers.size !== want.length || !want.every((id) => peers.has(id))) {
        return false;
      }
    }
    return true;
  }, ms, `full route mesh among ${nodes.map((n) => n.serverName).join(",")}`, 100).catch(async (e) => {
    const detail = await Promise.all(nodes.map(async (n) => {
      try {
        const rz = await n.routez();
        return `${n.serverName} (${await n.id()}): num_routes=${rz.num_routes} peers=${[...routesByPeer(rz).keys()].join(",")}`;
      } catch (err) {
        return `${n.serverName}: ${err.message}`;
      }
    }));
    throw new Error(`${e.message}\n${detail.join("\n")}`);
  });
  return ids;
}

// Starts an n-node cluster; see the top of this file.
//   n, name:      node count, cluster name
//   bins:         per-node binary override (undefined: FJORD_BIN)
//   auth:         {user, password[, timeout]}: cluster authorization on every
//                 node, and the seed route URLs carry these credentials
//   extraConfig:  text (or (i) => text) appended to each node's config
//   clusterExtra: text (or (i) => text) inside each node's cluster block
//   seedIndex:    the node every other node routes to
//   fullRoutes:   every node lists every node's route, its own included (as a
//                 clustered JetStream config does: nats-server requires
//                 configured routes on each server)
//   useFlags:     cluster settings as command-line flags instead of config
//   wait:         wait for the full mesh (default true)
//   env:          environment variables added to each server's
export async function startCluster({
  n = 3, name = "C", bins = [], auth, extraConfig, clusterExtra, seedIndex = 0, useFlags = false, wait = true,
  fullRoutes = false, env,
} = {}) {
  const nodes = [];
  const used = new Set();
  for (let i = 0; i < n; i++) {
    const [port, cport, mport] = await freePorts(3, used);
    used.add(port).add(cport).add(mport);
    nodes.push(new ClusterNode({
      serverName: `n${i + 1}`,
      clusterName: name,
      routes: [],
      auth,
      bin: bins[i],
      extraConfig: typeof extraConfig === "function" ? extraConfig(i) : extraConfig,
      clusterExtra: typeof clusterExtra === "function" ? clusterExtra(i) : clusterExtra,
      useFlags,
      port,
      cport,
      mport,
      env,
    }));
  }
  const seed = nodes[seedIndex];
  for (const node of nodes) {
    if (fullRoutes) node.routes = nodes.map((n) => n.routeUrl(auth));
    else if (node !== seed) node.routes = [seed.routeUrl(auth)];
  }
  const cluster = new Cluster(nodes, name);
  try {
    // Seed first, so the others' first route attempt finds it.
    await seed.start();
    for (const node of nodes) if (node !== seed) await node.start();
    if (wait) await cluster.waitMesh();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

// kill -9 a node / restart it on the same ports with the same config.
export const kill9 = (node) => node.kill9();
export const restart = (node) => node.restart();

// ---------------------------------------------------------------------------
// Interest propagation.
//
// Subscriptions made on one connection reach the other servers in order
// (one route connection per account per peer), so once a publisher's server
// knows about a subscription made *after* the ones under test, it knows
// about those too. interestReady makes that last subscription a responder
// on a fresh inbox on each subscriber connection and sends requests to it
// from the publisher's connection until one is answered (while the
// interest has not arrived the publisher's server answers no-responders at
// once, so the loop is quick). Call it after the subscriptions under test
// (and after subNc.flush()).
export async function interestReady(pubNc, subNcs, ms = DEFAULT_TIMEOUT) {
  for (const subNc of Array.isArray(subNcs) ? subNcs : [subNcs]) {
    const subject = createInbox("_FJ_READY");
    const sub = subNc.subscribe(subject, { callback: (err, m) => { if (!err) m.respond("ok"); } });
    try {
      await subNc.flush();
      await waitFor(async () => {
        try {
          await pubNc.request(subject, "", { timeout: 500 });
          return true;
        } catch {
          return false;
        }
      }, ms, `interest from ${subNc.info?.server_name ?? "?"} to reach ${pubNc.info?.server_name ?? "?"}`, 20);
    } finally {
      sub.unsubscribe();
    }
  }
}

// Waits until a request on `subject` from `nc` fails with no responders
// (the interest has gone everywhere in the cluster). Each probe may deliver
// a message to a subscriber that is still there; use a subject the test no
// longer reads.
export async function waitNoResponders(nc, subject, ms = DEFAULT_TIMEOUT) {
  await waitFor(async () => {
    try {
      await nc.request(subject, "", { timeout: 300 });
      return false;
    } catch (e) {
      return e?.isNoResponders?.() === true;
    }
  }, ms, `no responders for ${subject} on ${nc.info?.server_name ?? "?"}`, 30);
}

// Waits until node's /routez?subs=1 lists `subject` among the peer's
// subscriptions (present = true), or no longer lists it. Entries match by
// subject (a queue name after it is ignored).
export async function waitRouteSub(node, remoteId, subject, present = true, ms = DEFAULT_TIMEOUT) {
  let last;
  await waitFor(async () => {
    last = peerSubList(await node.routez(true), remoteId);
    return last.some((e) => e.split(" ")[0] === subject) === present;
  }, ms, `${subject} ${present ? "in" : "gone from"} ${node.serverName}'s /routez for peer ${remoteId}`, 50)
    .catch((e) => { throw new Error(`${e.message}; list: ${JSON.stringify(last)}`); });
}

// Collects messages with a callback subscription into an array; returns
// {sub, msgs, waitCount(n, ms)}.
export function gather(nc, subject, opts = {}) {
  const msgs = [];
  const waiters = [];
  const sub = nc.subscribe(subject, {
    ...opts,
    callback: (err, m) => {
      if (err) return;
      msgs.push(m);
      for (const w of [...waiters]) w();
    },
  });
  const waitCount = (n, ms = DEFAULT_TIMEOUT, what = `${n} messages on ${subject}`) => {
    let check;
    return within(new Promise((resolve) => {
      check = () => {
        if (msgs.length >= n) resolve(msgs);
      };
      waiters.push(check);
      check();
    }), ms, what)
      .catch((e) => { throw new Error(`${e.message}; received ${msgs.length}`); })
      .finally(() => waiters.splice(waiters.indexOf(check), 1));
  };
  return { sub, msgs, waitCount };
}

export { sleep };

// Resources of one test, released in t.after: raw sockets, then
// connections, then nodes and clusters.
export function testScope(t) {
  const conns = [];
  const clusters = [];
  const nodes = [];
  const socks = [];
  t.after(async () => {
    for (const s of socks) s.destroy();
    await Promise.all(conns.map((nc) => within(nc.close(), 5000, "close").catch(() => {})));
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
    await Promise.all(clusters.map((c) => c.stop().catch(() => {})));
  });
  return {
    async cluster(opts) {
      const c = await startCluster(opts);
      clusters.push(c);
      return c;
    },
    async node(spec) {
      const n = await startNode(spec);
      nodes.push(n);
      return n;
    },
    async conn(node, opts) {
      const nc = await connectTo(node, opts);
      conns.push(nc);
      return nc;
    },
    track(nc) {
      conns.push(nc);
      return nc;
    },
    sock(s) {
      socks.push(s);
      return s;
    },
  };
}
