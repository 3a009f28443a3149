// A clustered JetStream for tests: n servers with full routes, a system
// account (SYS, user sys/sys) and an account APP (user app/app) with
// JetStream, each storing under its own directory of one temporary root.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { headers } from "@nats-io/transport-node";
import { waitFor } from "./server.mjs";
import { httpJson } from "./cluster.mjs";

export const SYS = { user: "sys", pass: "sys" };
export const APP = { user: "app", pass: "app" };

// `jsExtra`: more settings inside every node's jetstream block.
export function jsConfig(root, extra, jsExtra = "") {
  return (i) => {
    const dir = path.join(root, `n${i + 1}`);
    return `
jetstream { store_dir: ${JSON.stringify(dir)}
${jsExtra} }
accounts {
  SYS: { users: [{ user: sys, password: sys }] }
  APP: { jetstream: enabled, users: [{ user: app, password: app }] }
}
system_account: SYS
${extra ? extra(i) : ""}
`;
  };
}

// `extra(i)`: more config for node i (server_tags, for instance); `root`:
// the stores' directory (node i stores in <root>/n<i+1>), made and removed
// here when not given; `env`: environment variables added to each server's.
export async function jsCluster(t, scope, n = 3, extra, root, env, jsExtra) {
  if (!root) {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-jscluster-"));
    t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  }
  const c = await scope.cluster({ n, extraConfig: jsConfig(root, extra, jsExtra), fullRoutes: true, env });
  c.storeOf = (node) => path.join(root, node.serverName);
  return c;
}

export const meta = async (node) => (await httpJson(node.mport, "/jsz")).meta_cluster;

// Whether `node`'s /healthz (with `query`) says ok; false when it does not
// answer.
const healthy = (node, query = "") =>
  fetch(`http://127.0.0.1:${node.mport}/healthz${query}`).then((r) => r.ok, () => false);

// Waits until every node of `nodes` names the same meta leader, one of
// `nodes`, with a cluster of `size`, and is current with it (/healthz with
// js-server-only: a member added or rejoining votes only once caught up,
// so until then stopping another server could leave the group without a
// quorum); returns the leader's node.
export async function agreedLeader(nodes, size, ms = 20_000) {
  let views = [];
  await waitFor(async () => {
    views = await Promise.all(nodes.map((n) => meta(n).catch(() => undefined)));
    const l = views[0]?.leader;
    if (!(l && nodes.some((n) => n.serverName === l) &&
      views.every((v) => v?.leader === l && v?.cluster_size === size))) return false;
    return (await Promise.all(nodes.map((n) => healthy(n, "?js-server-only=true")))).every(Boolean);
  }, ms, "one meta leader named by every node, each current with it", 100).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(views)}`);
  });
  return nodes.find((n) => n.serverName === views[0].leader);
}

// The `fjord` CLI when it is built (FJORD_CLI), run against `node` as
// `user`; resolves with its exit code and output.
export const CLI = process.env.FJORD_CLI;
export function fjordCli(node, args, user = APP) {
  return new Promise((resolve) => {
    execFile(CLI, [...args, `--server=nats://127.0.0.1:${node.port}`, `--user=${user.user}`, `--password=${user.pass}`],
      { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal ?? 1) : 0, stdout, stderr }));
  });
}

// Who claimed leadership of each Raft group in each term, from the servers'
// "raft <group>: this server is the leader now (term N)" log lines:
// `logs` is [server name, log text] pairs; returns "<group> term <N>" ->
// Set of server names. One term with two names is two leaders.
export function leaderClaims(logs) {
  const claims = new Map();
  for (const [name, text] of logs) {
    for (const m of text.matchAll(/raft (\S+): this server is the leader now \(term (\d+)\)/g)) {
      const key = `${m[1]} term ${m[2]}`;
      if (!claims.has(key)) claims.set(key, new Set());
      claims.get(key).add(name);
    }
  }
  return claims;
}

// A request that may time out while the servers elect: asked again (every
// 200 ms, for up to `ms`); the last error is in the failure's message.
export async function retry(fn, what, ms = 20_000) {
  let last;
  return waitFor(async () => {
    try {
      return await fn();
    } catch (e) {
      last = e;
      return undefined;
    }
  }, ms, what, 200).catch((e) => {
    throw new Error(`${e.message}: ${last?.message}`);
  });
}

// The story's order `i`, published with its msg id (order-<i>).
export const publishWithId = (js, i) => {
  const h = headers();
  h.set("Nats-Msg-Id", `order-${i}`);
  return js.publish("orders.oslo.created", JSON.stringify({ order: i }), { headers: h, timeout: 3000 });
};

// A JetStream cluster of `n` with an agreed meta leader, and a schema-checked
// APP connection and JetStream manager per node (conns[i], jsms[i] for
// c.nodes[i]); byName finds a node by server name.
// `jsExtra`: as jsCluster's.
export async function jsClusterClients(t, scope, n = 3, jsExtra) {
  const { checkApiReplies } = await import("./client.mjs");
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const c = await jsCluster(t, scope, n, undefined, undefined, undefined, jsExtra);
  await agreedLeader(c.nodes, n);
  const conns = [];
  for (const node of c.nodes) conns.push(checkApiReplies(await scope.conn(node, APP)));
  const jsms = await Promise.all(conns.map((nc) => jetstreamManager(nc)));
  return { c, conns, jsms, byName: (name) => c.nodes.find((node) => node.serverName === name) };
}

// Waits until every server's /healthz is ok: each replica it holds has
// caught up with its group. (StreamInfo calls a replica current while the
// leader hears from it; a new replica votes only once caught up, so until
// then a group that loses its leader may not elect another.)
export const caughtUp = (nodes, ms = 30_000) => waitFor(async () => {
  for (const n of nodes) if (!(await healthy(n))) return false;
  return true;
}, ms, "every replica caught up (/healthz)", 200);
