// TLS on routes: `cluster { tls { cert_file, key_file, ca_file, ... } }`.
// As nats-server does it: TLS is handshaked first on a route connection
// (before INFO/CONNECT), verification is forced both ways whatever `verify`
// says (the acceptor demands a certificate signed by ca_file, the dialler
// checks the acceptor's against the same ca_file and its host name), each
// server presenting its one certificate in both roles; `insecure: true`
// skips the dialler's check only.
//
// Through nats.js clients on the plain client ports and raw TLS sockets on
// the cluster port: a TLS mesh carrying pub/sub and request/reply, route
// INFO after the handshake, servers that must not join (another CA, no
// certificate, no TLS, a server-only certificate, a dialler that does not
// trust the acceptor), a stalled handshake, `insecure`, and mixed clusters
// with a reference nats-server. Certificates are made fresh by
// tests/tls/make_certs.sh (route-cert.pem: serverAuth and clientAuth, for
// localhost and 127.0.0.1, signed by ca.pem; other-route-cert.pem: the same
// signed by other-ca.pem). Runs unchanged against nats-server 2.9.10.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tlsNode from "node:tls";
import { within, sleep, waitFor, logsOnFailure, repoRoot, serverBin } from "./lib/server.mjs";
import { connectTo, enc, dec } from "./lib/client.mjs";
import {
  startCluster, startNode, waitMesh, interestReady, gather, routesByPeer, refBin, haveRefBin,
  testScope,
} from "./lib/cluster.mjs";

const REFERENCE = path.basename(serverBin) === "nats-server";

const certDir = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-route-tls-certs-"));
process.on("exit", () => fs.rmSync(certDir, { recursive: true, force: true }));
const C = (name) => path.join(certDir, name);

before(() => {
  execFileSync("bash", [path.join(repoRoot, "tests/tls/make_certs.sh"), certDir]);
});

// The text of a `tls { }` block inside `cluster { }`.
function routeTls({ cert = "route", ca = "ca.pem", extra = "" } = {}) {
  return `  tls {
    cert_file: "${C(`${cert}-cert.pem`)}"
    key_file: "${C(`${cert}-key.pem`)}"
    ca_file: "${C(ca)}"
    timeout: 2
${extra}
  }`;
}

const scope = testScope;

const str = (m) => dec.decode(m.data);

// Every node publishes to every other: plain messages (one big enough to
// span many TLS records) and requests, answered across the route.
async function assertCarries(nodes, ncs, tag) {
  const name = (i) => `${nodes[i].serverName}(${nodes[i].kind})`;
  const big = new Uint8Array(300 * 1024).fill(66);
  for (let p = 0; p < nodes.length; p++) {
    const others = [...nodes.keys()].filter((i) => i !== p);
    const gs = others.map((i) => [i, gather(ncs[i], `${tag}.${p}.>`)]);
    const svcs = others.map((i) =>
      ncs[i].subscribe(`${tag}.svc.${i}`, { callback: (err, m) => { if (!err) m.respond(enc.encode(`${i}:${str(m)}`)); } }));
    await interestReady(ncs[p], others.map((i) => ncs[i]));
    for (let k = 0; k < 50; k++) ncs[p].publish(`${tag}.${p}.m`, String(k));
    ncs[p].publish(`${tag}.${p}.big`, big);
    ncs[p].publish(`${tag}.${p}.m`, "END");
    await ncs[p].flush();
    for (const [i, g] of gs) {
      await g.waitCount(52, 10_000, `${name(p)} -> ${name(i)}: 52 messages`);
      const got = g.msgs.map((m) => (m.subject.endsWith(".big") ? `big:${m.data.length}` : str(m)));
      assert.deepEqual(got, [...Array.from({ length: 50 }, (_, k) => String(k)), `big:${big.length}`, "END"],
        `${name(p)} -> ${name(i)}`);
      assert.ok(g.msgs[50].data.every((b) => b === 66), `${name(p)} -> ${name(i)}: big payload intact`);
      g.sub.unsubscribe();
    }
    for (const i of others) {
      for (let k = 0; k < 5; k++) {
        const r = await ncs[p].request(`${tag}.svc.${i}`, String(k), { timeout: 3000 });
        assert.equal(str(r), `${i}:${k}`, `${name(p)} -> ${name(i)} request`);
      }
    }
    for (const s of svcs) s.unsubscribe();
    await Promise.all(others.map((i) => ncs[i].flush()));
  }
}

// For `ms`, polls that `node` has no route at all and that each of `good`
// has routes to exactly the others of `good`.
async function assertStaysOut(bad, good, ms = 3000) {
  const goodIds = await Promise.all(good.map((n) => n.id()));
  const deadline = Date.now() + ms;
  do {
    for (const b of bad) {
      const rz = await b.routez();
      assert.equal(rz.num_routes, 0, `${b.serverName} must not have routes: ${JSON.stringify(rz.routes)}`);
    }
    for (let i = 0; i < good.length; i++) {
      const peers = [...routesByPeer(await good[i].routez()).keys()].sort();
      assert.deepEqual(peers, goodIds.filter((_, j) => j !== i).sort(), `${good[i].serverName}'s peers`);
    }
    await sleep(200);
  } while (Date.now() < deadline);
}

// A raw TLS client on a cluster port. Resolves {info, closed}: the INFO
// line if one came after the handshake, and whether the server closed.
function tlsProbe(s, cport, { cert, ca = "ca.pem", ms = 4000 } = {}) {
  return new Promise((resolve) => {
    const sock = s.sock(tlsNode.connect({
      host: "127.0.0.1",
      port: cport,
      ca: fs.readFileSync(C(ca)),
      ...(cert ? { cert: fs.readFileSync(C(`${cert}-cert.pem`)), key: fs.readFileSync(C(`${cert}-key.pem`)) } : {}),
    }));
    let buf = "";
    let info = null;
    let timer;
    const done = (closed) => {
      clearTimeout(timer);
      resolve({ info, closed });
    };
    sock.on("data", (d) => {
      buf += d.toString();
      const nl = buf.indexOf("\r\n");
      if (nl >= 0 && !info && buf.startsWith("INFO ")) {
        info = JSON.parse(buf.slice(5, nl));
        // Seen it; a well-behaved route would now send CONNECT.
        done(false);
      }
    });
    sock.on("error", () => {});
    sock.on("close", () => done(true));
    timer = setTimeout(() => done(false), ms);
  });
}

test("a 3-node cluster with route TLS forms a full mesh by gossip and carries pub/sub and request/reply", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster({ clusterExtra: routeTls() });
  const ncs = await Promise.all(c.nodes.map((n) => s.conn(n)));
  // Clients connect in plaintext: the cluster's tls block is not the
  // client port's.
  for (const nc of ncs) assert.ok(!nc.info.tls_required, "client port stays plaintext");
  await assertCarries(c.nodes, ncs, "tls");

  // A killed node comes back on the same ports and rejoins through TLS.
  await c.node(1).kill9();
  await c.node(1).restart();
  await c.waitMesh();
  const back = await s.conn(c.node(1));
  await assertCarries(c.nodes, [ncs[0], back, ncs[2]], "again");
}));

test("the cluster port handshakes TLS first, then sends INFO with tls_required and tls_verify", logsOnFailure(async (t) => {
  const s = scope(t);
  const n = await s.node({ serverName: "solo", clusterExtra: routeTls() });

  const ok = await tlsProbe(s, n.cport, { cert: "route" });
  assert.ok(ok.info, "INFO after the TLS handshake");
  assert.equal(ok.info.tls_required, true);
  assert.equal(ok.info.tls_verify, true);
  assert.equal(typeof ok.info.server_id, "string");

  // No client certificate, or one from another CA: closed without INFO.
  for (const cert of [undefined, "other-route"]) {
    const r = await tlsProbe(s, n.cport, { cert });
    assert.equal(r.info, null, `${cert ?? "no certificate"}: no INFO`);
    assert.equal(r.closed, true, `${cert ?? "no certificate"}: closed`);
  }

  // Plaintext: nothing but TLS is spoken, not even INFO.
  const raw = s.sock(net.connect({ port: n.cport, host: "127.0.0.1" }));
  let plain = "";
  raw.on("data", (d) => { plain += d.toString("latin1"); });
  raw.on("error", () => {});
  const closed = new Promise((r) => raw.once("close", r));
  raw.write("CONNECT {\"verbose\":false}\r\nPING\r\n");
  await within(closed, 5000, "the server to close a plaintext route connection");
  assert.ok(!plain.includes("INFO"), `no INFO in plaintext: ${JSON.stringify(plain)}`);

  // A connection that never starts the handshake is closed after the TLS
  // timeout (2s here), not kept.
  const idle = s.sock(net.connect({ port: n.cport, host: "127.0.0.1" }));
  idle.on("error", () => {});
  const t0 = Date.now();
  await within(new Promise((r) => idle.once("close", r)), 6000, "a stalled handshake to be closed");
  assert.ok(Date.now() - t0 >= 1000, "not closed before the timeout");
}));

test("servers that cannot verify or be verified do not join; the cluster keeps working", logsOnFailure(async (t) => {
  const s = scope(t);
  const c = await s.cluster({ n: 2, clusterExtra: routeTls() });
  const seed = c.node(0).routeUrl();
  const bad = await Promise.all([
    // Its certificate is signed by a CA the cluster does not trust.
    s.node({ serverName: "other-ca", routes: [seed], clusterExtra: routeTls({ cert: "other-route" }) }),
    // A certificate for serverAuth only is no client certificate.
    s.node({ serverName: "server-only", routes: [seed], clusterExtra: routeTls({ cert: "server" }) }),
    // It does not trust the cluster's CA (its own certificate would pass).
    s.node({ serverName: "distrust", routes: [seed], clusterExtra: routeTls({ ca: "other-ca.pem" }) }),
    // No TLS at all.
    s.node({ serverName: "plain", routes: [seed] }),
  ]);
  await assertStaysOut(bad, c.nodes);
  assert.match(c.node(0).log(), /TLS route handshake error/);

  const ncs = await Promise.all(c.nodes.map((n) => s.conn(n)));
  await assertCarries(c.nodes, ncs, "still");
}));

test("insecure: a dialler that does not trust the acceptor's CA joins anyway; without it, it does not", logsOnFailure(async (t) => {
  const s = scope(t);
  // The acceptor's certificate is signed by other-ca; it trusts ca (so it
  // accepts the dialler's certificate). The diallers trust ca only.
  const acceptor = await s.node({ serverName: "acc", clusterExtra: routeTls({ cert: "other-route" }) });
  const strict = await s.node({ serverName: "strict", routes: [acceptor.routeUrl()], clusterExtra: routeTls() });
  await assertStaysOut([strict, acceptor], [], 2500);

  const loose = await s.node({
    serverName: "loose", routes: [acceptor.routeUrl()], clusterExtra: routeTls({ extra: "    insecure: true" }),
  });
  await waitMesh([acceptor, loose], 10_000);
  const ncs = [await s.conn(acceptor), await s.conn(loose)];
  await assertCarries([acceptor, loose], ncs, "insecure");
  if (!REFERENCE) assert.match(loose.log(), /will not be verified/);
  // The strict dialler is still out.
  assert.equal((await strict.routez()).num_routes, 0);
}));

// Mixed: n1, n2 run FJORD_BIN, n3 the reference nats-server, all with route TLS.
const mixedSkip = haveRefBin() ? false : `reference server ${refBin} not found (set NATS_SERVER_REF)`;

for (const [label, seedIndex] of [["the reference node seeds", 2], ["a fjord node seeds", 0]]) {
  test(`mixed cluster with route TLS, ${label}: mesh, messages both ways`, { skip: mixedSkip }, logsOnFailure(async (t) => {
    const s = scope(t);
    const c = await s.cluster({ bins: [undefined, undefined, refBin], seedIndex, clusterExtra: routeTls() });
    const ncs = await Promise.all(c.nodes.map((n) => s.conn(n)));
    await assertCarries(c.nodes, ncs, "mixed");
  }));
}

test("mixed, insecure both ways: a reference dialler into a fjord acceptor and the reverse", { skip: mixedSkip }, logsOnFailure(async (t) => {
  const s = scope(t);
  for (const [accBin, dialBin] of [[undefined, refBin], [refBin, undefined]]) {
    const acceptor = await s.node({ serverName: "acc", bin: accBin, clusterExtra: routeTls({ cert: "other-route" }) });
    const loose = await s.node({
      serverName: "loose", bin: dialBin, routes: [acceptor.routeUrl()], clusterExtra: routeTls({ extra: "    insecure: true" }),
    });
    await waitMesh([acceptor, loose], 10_000);
    const ncs = [await s.conn(acceptor), await s.conn(loose)];
    await assertCarries([acceptor, loose], ncs, `ins${accBin ? "r" : "f"}`);
    for (const nc of ncs) await nc.close();
    await loose.stop();
    await acceptor.stop();
  }
}));
