// Leaf nodes, hub and spoke: a Fjord leaf on a Fjord hub, a Fjord leaf on
// the reference nats-server 2.9.10 hub, and a reference leaf on a Fjord hub.
// Official clients on both sides: interest both ways, request/reply,
// headers, queue groups, a hub restart the leaf recovers from, JetStream
// reached through the other side's domain (and `$JS.API` kept apart),
// /leafz, a loop, and bad input on the leafnode port.
// Runs unchanged with FJORD_BIN=nats-server (then every server is the
// reference).

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { credsAuthenticator } from "@nats-io/transport-node";
import { encodeOperator, encodeAccount, encodeUser, fmtCreds } from "@nats-io/jwt";
import { createOperator, createAccount, createUser } from "@nats-io/nkeys";
import { jetstream, jetstreamManager, AckPolicy } from "@nats-io/jetstream";
import { startServer, logsOnFailure, freePort, waitFor, within, sleep, serverBin, repoRoot } from "./lib/server.mjs";
import { connectTo, collect } from "./lib/client.mjs";
import { refBin, haveRefBin } from "./lib/cluster.mjs";
import { canConnect } from "../lib/ports.mjs";
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import { execFileSync } from "node:child_process";

const REFERENCE = path.basename(serverBin) === "nats-server";
const refSkip = haveRefBin() ? false : `reference server ${refBin} not found (set NATS_SERVER_REF)`;

// A hub listening for leaf nodes on its own free port.
async function hub({ bin, domain = "hub", extra = "", leafBlock = "" } = {}) {
  const leafPort = await freePort();
  const srv = await startServer({
    bin,
    config: ({ storeDir }) => `server_name: hub-${leafPort}
leafnodes {
  listen: "127.0.0.1:${leafPort}"
  ${leafBlock}
}
jetstream { store_dir: "${storeDir}", domain: ${domain} }
${extra}
`,
    jetstream: false,
  });
  srv.leafPort = leafPort;
  await waitFor(() => canConnect(leafPort), 5000, "leafnode listener");
  return srv;
}

// A leaf whose one remote is `hubSrv`.
async function leaf(hubSrv, { bin, domain = "leaf", remote = "", url } = {}) {
  const srv = await startServer({
    bin,
    config: ({ storeDir, port }) => `server_name: leaf-${port}
leafnodes {
  remotes: [ { url: "${url || `nats-leaf://127.0.0.1:${hubSrv.leafPort}`}"${remote ? `, ${remote}` : ""} } ]
}
jetstream { store_dir: "${storeDir}", domain: ${domain} }
`,
    jetstream: false,
  });
  return srv;
}

// Waits until a message published on `pubNc` reaches `sub` (interest has
// crossed): publishes probes on `subject` until one arrives.
async function crossed(pubNc, subNc, subject, ms = 10_000) {
  const sub = subNc.subscribe(subject);
  await subNc.flush();
  const got = (async () => {
    for await (const m of sub) return m;
  })();
  const deadline = Date.now() + ms;
  let m;
  while (!m && Date.now() < deadline) {
    pubNc.publish(subject, "probe");
    m = await Promise.race([got, sleep(100).then(() => undefined)]);
  }
  sub.unsubscribe();
  assert.ok(m, `no message on ${subject} crossed within ${ms} ms`);
}

async function leafz(srv) {
  const r = await fetch(`http://127.0.0.1:${srv.monPort}/leafz?subs=1`);
  return r.json();
}

// The whole exchange a leaf pair must carry, from either side.
async function exercise(hubSrv, leafSrv) {
  const hc = await connectTo(hubSrv);
  const lc = await connectTo(leafSrv);
  try {
    // Interest announced by the hub reaches the leaf, and the other way.
    await crossed(lc, hc, "leaf.to.hub");
    await crossed(hc, lc, "hub.to.leaf");

    // Plain messages with headers and payload, in order.
    const msgs = [];
    const sub = hc.subscribe("orders.oslo.>", { callback: (_e, m) => msgs.push(m) });
    await hc.flush();
    await crossed(lc, hc, "orders.oslo.probe");
    await sleep(200);
    msgs.length = 0;
    const want = 50;
    for (let i = 0; i < want; i++) {
      const h = natsHeaders();
      h.set("Order", String(i));
      lc.publish(`orders.oslo.${i}`, `order ${i}`, { headers: h });
    }
    await waitFor(() => msgs.length >= want, 10_000, "orders on the hub");
    msgs.forEach((m, i) => {
      assert.equal(m.subject, `orders.oslo.${i}`);
      assert.equal(m.string(), `order ${i}`);
      assert.equal(m.headers.get("Order"), String(i));
    });
    sub.unsubscribe();

    // Request/reply both ways (the reply inbox's interest crosses too).
    const svcHub = hc.subscribe("svc.hub", { callback: (_e, m) => m.respond(`hub:${m.string()}`) });
    const svcLeaf = lc.subscribe("svc.leaf", { callback: (_e, m) => m.respond(`leaf:${m.string()}`) });
    await hc.flush();
    await lc.flush();
    await crossed(lc, hc, "svc.probe1");
    await crossed(hc, lc, "svc.probe2");
    await waitFor(async () => {
      try {
        return (await lc.request("svc.hub", "ping", { timeout: 500 })).string() === "hub:ping";
      } catch {
        return false;
      }
    }, 10_000, "request from the leaf answered by the hub");
    assert.equal((await hc.request("svc.leaf", "pong", { timeout: 5000 })).string(), "leaf:pong");
    svcHub.unsubscribe();
    svcLeaf.unsubscribe();
  } finally {
    await hc.close();
    await lc.close();
  }
}

// A queue group with members only on the hub: every message published on
// the leaf reaches exactly one of them; with members on both sides, still
// exactly one in all.
async function queues(hubSrv, leafSrv) {
  const hc = await connectTo(hubSrv);
  const lc = await connectTo(leafSrv);
  try {
    const counts = { h1: 0, h2: 0, l1: 0 };
    const mk = (nc, name) => nc.subscribe("work.q", { queue: "workers", callback: () => counts[name]++ });
    const h1 = mk(hc, "h1");
    const h2 = mk(hc, "h2");
    await hc.flush();
    await crossed(lc, hc, "work.probe");
    await waitFor(async () => {
      const before = counts.h1 + counts.h2;
      lc.publish("work.q", "probe");
      await lc.flush();
      await sleep(50);
      return counts.h1 + counts.h2 > before;
    }, 10_000, "queue interest on the leaf");
    await sleep(200);
    counts.h1 = counts.h2 = 0;
    const n = 200;
    for (let i = 0; i < n; i++) lc.publish("work.q", String(i));
    await lc.flush();
    await waitFor(() => counts.h1 + counts.h2 >= n, 10_000, `${n} queue messages`);
    await sleep(300);
    assert.equal(counts.h1 + counts.h2, n, `each message once: ${JSON.stringify(counts)}`);
    assert.ok(counts.h1 > 0 && counts.h2 > 0, `both hub members used: ${JSON.stringify(counts)}`);

    // A member on the leaf joins: messages published on the leaf still go
    // to exactly one member in all.
    const l1 = mk(lc, "l1");
    await lc.flush();
    await sleep(300);
    counts.h1 = counts.h2 = counts.l1 = 0;
    for (let i = 0; i < n; i++) lc.publish("work.q", String(i));
    await lc.flush();
    await waitFor(() => counts.h1 + counts.h2 + counts.l1 >= n, 10_000, `${n} queue messages`);
    await sleep(300);
    assert.equal(counts.h1 + counts.h2 + counts.l1, n, `each message once: ${JSON.stringify(counts)}`);
    // ... and so do messages published on the hub.
    counts.h1 = counts.h2 = counts.l1 = 0;
    for (let i = 0; i < n; i++) hc.publish("work.q", String(i));
    await hc.flush();
    await waitFor(() => counts.h1 + counts.h2 + counts.l1 >= n, 10_000, `${n} queue messages`);
    await sleep(300);
    assert.equal(counts.h1 + counts.h2 + counts.l1, n, `each message once: ${JSON.stringify(counts)}`);
    h1.unsubscribe();
    h2.unsubscribe();
    l1.unsubscribe();
  } finally {
    await hc.close();
    await lc.close();
  }
}

// A client of the hub uses the leaf's JetStream through its domain: makes
// a stream there, publishes into it, and pulls and acks with a durable
// consumer (the deliveries come back over the leaf connection). The hub's
// own JetStream answers `$JS.API` and does not see the stream.
async function domainJs(hubSrv, stream) {
  const hc = await connectTo(hubSrv);
  try {
    let jsm;
    await waitFor(async () => {
      try {
        jsm = await jetstreamManager(hc, { domain: "leaf", timeout: 1000 });
        return true;
      } catch {
        return false;
      }
    }, 10_000, "the leaf's JetStream through its domain");
    const subject = stream.toLowerCase();
    const info = await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
    assert.equal(info.config.name, stream);
    const own = await jetstreamManager(hc);
    const names = [];
    for await (const s of own.streams.names()) names.push(s);
    assert.ok(!names.includes(stream), `hub streams: ${names}`);
    assert.equal((await own.getAccountInfo()).domain, "hub");
    const js = jetstream(hc, { domain: "leaf" });
    for (let i = 1; i <= 5; i++) {
      const ack = await js.publish(`${subject}.${i}`, `e${i}`);
      assert.equal(ack.stream, stream);
      assert.equal(ack.seq, i);
      assert.equal(ack.domain, "leaf");
    }
    await jsm.consumers.add(stream, { durable_name: "hubreader", ack_policy: AckPolicy.Explicit });
    const c = await js.consumers.get(stream, "hubreader");
    const batch = await c.fetch({ max_messages: 5, expires: 5000 });
    const got = [];
    for await (const m of batch) {
      got.push(`${m.subject}=${m.string()}`);
      m.ack();
    }
    assert.deepEqual(got, [1, 2, 3, 4, 5].map((i) => `${subject}.${i}=e${i}`));
    await waitFor(async () => (await jsm.consumers.info(stream, "hubreader")).num_ack_pending === 0, 5000,
      "acks through the leaf");
  } finally {
    await hc.close();
  }
}

describe("fjord leaf → fjord hub", () => {
  let h, l;
  before(async () => {
    h = await hub({ extra: "http: \"127.0.0.1:-1\"" });
    l = await leaf(h);
    const m = h.log().match(/Starting http monitor on [^\s]*:(\d+)|Listening for monitoring clients on [^\s]*:(\d+)/);
    h.monPort = m ? Number(m[1] || m[2]) : undefined;
  });
  after(async () => {
    await l?.stop();
    await h?.stop();
  });

  test("interest both ways, headers, request/reply", logsOnFailure(async () => {
    await exercise(h, l);
  }));

  test("queue groups across the leaf connection: each message to exactly one member", logsOnFailure(async () => {
    await queues(h, l);
  }));

  test("/leafz and /varz show the connection", logsOnFailure(async () => {
    assert.ok(h.monPort, h.log());
    const z = await leafz(h);
    assert.equal(z.leafnodes, 1, JSON.stringify(z));
    const [e] = z.leafs;
    assert.equal(e.account, "$G");
    assert.ok(!e.is_spoke, "the leaf is not our spoke's hub"); // 2.9.10 omits a false is_spoke
    if (!REFERENCE) assert.match(e.name, /^leaf-/); // 2.9.10 has no name (2.10 added it)
    assert.ok(e.subscriptions >= 1, JSON.stringify(e));
    assert.ok(e.subscriptions_list.some((s) => s.startsWith("$LDS.")), JSON.stringify(e));
    const varz = await (await fetch(`http://127.0.0.1:${h.monPort}/varz`)).json();
    assert.equal(varz.leafnodes, 1);
    assert.equal(varz.leaf.port, h.leafPort);
  }));

  test("JetStream through the leaf's domain; $JS.API stays on each side", logsOnFailure(async () => {
    await domainJs(h, "EDGE");
  }));

  test("the hub restarts: the leaf reconnects and interest is announced again", logsOnFailure(async () => {
    await h.restart();
    await waitFor(() => canConnect(h.leafPort), 5000, "leafnode listener again");
    const hc = await connectTo(h);
    const lc = await connectTo(l);
    try {
      await crossed(lc, hc, "after.restart.up", 15_000);
      await crossed(hc, lc, "after.restart.down", 15_000);
    } finally {
      await hc.close();
      await lc.close();
    }
  }));
});

describe("mixed with the reference nats-server", { skip: refSkip || REFERENCE }, () => {
  test("fjord leaf → nats-server 2.9.10 hub", logsOnFailure(async () => {
    const h = await hub({ bin: refBin });
    let l;
    try {
      l = await leaf(h);
      await exercise(h, l);
      await queues(h, l);
      await domainJs(h, "REFHUB");
    } finally {
      await l?.stop();
      await h.stop();
    }
  }));

  test("nats-server 2.9.10 leaf → fjord hub", logsOnFailure(async () => {
    const h = await hub();
    let l;
    try {
      l = await leaf(h, { bin: refBin });
      await exercise(h, l);
      await queues(h, l);
      // The reference leaf's JetStream, through its domain, from a client of
      // the Fjord hub: the deliveries cross in nats-server's encoding.
      await domainJs(h, "REFLEAF");
    } finally {
      await l?.stop();
      await h.stop();
    }
  }));
});

describe("leafnode port: authorization and bad input", () => {
  test("leaf authorization: the right user binds its account, a wrong one is refused", logsOnFailure(async () => {
    const h = await hub({
      extra: `accounts { ORDERS { users: [{user: app, password: apppw}] } }`,
      leafBlock: `authorization { users: [ { user: edge, password: edgepw, account: ORDERS } ] }`,
    });
    let bad, good;
    try {
      bad = await leaf(h, { url: `nats-leaf://edge:wrong@127.0.0.1:${h.leafPort}` });
      good = await leaf(h, { url: `nats-leaf://edge:edgepw@127.0.0.1:${h.leafPort}`, domain: "leaf2" });
      await waitFor(() => /Authorization Violation|authorization/i.test(bad.log()), 10_000, "the bad leaf to be refused");
      // The good leaf's clients ($G there) reach the hub's ORDERS account.
      const hc = await connectTo(h, { user: "app", pass: "apppw" });
      const lc = await connectTo(good);
      try {
        await crossed(lc, hc, "orders.from.edge");
      } finally {
        await hc.close();
        await lc.close();
      }
    } finally {
      await bad?.stop();
      await good?.stop();
      await h.stop();
    }
  }));

  for (const [label, bin] of [["a fjord hub", undefined], ["a nats-server 2.9.10 hub", "ref"]]) {
    test(`the leaf user's permissions hold both ways (fjord leaf on ${label})`,
      { skip: bin === "ref" && (refSkip || REFERENCE) }, logsOnFailure(async () => {
        const h = await hub({
          bin: bin === "ref" ? refBin : undefined,
          extra: `authorization { users: [
  { user: edge, password: edgepw, permissions: { publish: ["up.>"], subscribe: ["down.>", "_INBOX.>"] } }
  { user: app, password: apppw }
] }`,
        });
        let l;
        try {
          l = await leaf(h, { url: `nats-leaf://edge:edgepw@127.0.0.1:${h.leafPort}` });
          const hc = await connectTo(h, { user: "app", pass: "apppw" });
          const lc = await connectTo(l);
          try {
            await crossed(lc, hc, "up.orders");
            await crossed(hc, lc, "down.prices");
            // Not the user's to send or to receive: nothing crosses.
            const leaked = [];
            const s1 = hc.subscribe("other.>", { callback: (_e, m) => leaked.push(`hub got ${m.subject}`) });
            const s2 = lc.subscribe("secret.>", { callback: (_e, m) => leaked.push(`leaf got ${m.subject}`) });
            await hc.flush();
            await lc.flush();
            for (let i = 0; i < 10; i++) {
              lc.publish("other.x", "no");
              hc.publish("secret.x", "no");
              await sleep(50);
            }
            // ... while what is allowed still does, over the same connection.
            await crossed(lc, hc, "up.after");
            await crossed(hc, lc, "down.after");
            assert.deepEqual(leaked, []);
            s1.unsubscribe();
            s2.unsubscribe();
          } finally {
            await hc.close();
            await lc.close();
          }
          if (!REFERENCE) {
            assert.equal((l.log().match(/Leafnode connection registered/g) ?? []).length, 1,
              `the leaf stayed connected:\n${l.log()}`);
          }
        } finally {
          await l?.stop();
          await h.stop();
        }
      }));
  }

  test("a client on the leafnode port and garbage get -ERR; the hub serves on", logsOnFailure(async () => {
    const h = await hub();
    try {
      const talk = (lines) => new Promise((resolve) => {
        const s = net.connect(h.leafPort, "127.0.0.1");
        let text = "";
        s.on("data", (d) => {
          text += d;
          if (/-ERR/.test(text)) s.end();
        });
        s.on("connect", () => s.write(lines));
        s.on("close", () => resolve(text));
        s.on("error", () => resolve(text));
        setTimeout(() => s.destroy(), 5000);
      });
      const info = await talk('CONNECT {"lang":"node","verbose":false}\r\n');
      assert.match(info, /^INFO \{.*"leafnode_urls"/);
      assert.match(info, /attempted to connect to leaf node port/);
      assert.match(await talk("PUB foo 1\r\nx\r\n"), /-ERR/);
      // A queue weight of 0 (nats-server 2.9.10 takes it; Fjord refuses it).
      if (!REFERENCE) assert.match(await talk('CONNECT {"name":"x"}\r\nLS+ foo bar 0\r\n'), /-ERR/);
      const nc = await connectTo(h);
      await nc.flush();
      await nc.close();
    } finally {
      await h.stop();
    }
  }));

  test("a loop (a server that is its own leaf) is detected and refused", { skip: REFERENCE }, logsOnFailure(async () => {
    const leafPort = await freePort();
    const s = await startServer({
      config: `leafnodes {
  listen: "127.0.0.1:${leafPort}"
  remotes: [ { url: "nats-leaf://127.0.0.1:${leafPort}" } ]
}
`,
      jetstream: false,
    });
    try {
      await waitFor(() => /Loop detected/.test(s.log()), 10_000, "the loop to be detected");
      const nc = await connectTo(s);
      await nc.flush();
      await nc.close();
    } finally {
      await s.stop();
    }
  }));
});

describe("leaf connections over TLS", () => {
  // Certificates from tests/tls/make_certs.sh: route-cert.pem serves
  // 127.0.0.1 and localhost, signed by ca.pem; other-ca.pem signs nothing
  // here, so a leaf that trusts only it must not connect.
  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-leaf-tls-certs-"));
  const C = (name) => path.join(certDir, name);
  before(() => execFileSync("bash", [path.join(repoRoot, "tests/tls/make_certs.sh"), certDir]));
  after(() => fs.rmSync(certDir, { recursive: true, force: true }));
  const hubTls = () => `tls { cert_file: "${C("route-cert.pem")}", key_file: "${C("route-key.pem")}", timeout: 2 }`;

  for (const [label, bin] of [["fjord hub", undefined], ["nats-server 2.9.10 hub", "ref"]]) {
    test(`a fjord leaf that trusts the CA reaches a TLS ${label}; one that does not is refused`,
      { skip: bin === "ref" && (refSkip || REFERENCE) }, logsOnFailure(async () => {
        const h = await hub({ bin: bin === "ref" ? refBin : undefined, leafBlock: hubTls() });
        let good, bad;
        try {
          good = await leaf(h, { remote: `tls { ca_file: "${C("ca.pem")}" }` });
          bad = await leaf(h, { remote: `tls { ca_file: "${C("other-ca.pem")}" }`, domain: "leaf2" });
          const hc = await connectTo(h);
          const lc = await connectTo(good);
          try {
            await crossed(lc, hc, "tls.up");
            await crossed(hc, lc, "tls.down");
          } finally {
            await hc.close();
            await lc.close();
          }
          await waitFor(() => /TLS|certificate/i.test(bad.log()), 10_000, "the untrusting leaf to fail its handshake");
          assert.doesNotMatch(bad.log(), /Leafnode connection registered/);
        } finally {
          await good?.stop();
          await bad?.stop();
          await h.stop();
        }
      }));
  }
});

describe("a leaf with a creds file on an operator-mode hub", () => {
  // The hub trusts an operator; the leaf's remote names a creds file of a
  // user of account APP, whose seed signs the hub's nonce. The leaf's
  // clients ($G there) then share subjects with APP's users on the hub.
  for (const [label, bin] of [["fjord hub", undefined], ["nats-server 2.9.10 hub", "ref"]]) {
    test(`fjord leaf → ${label}`, { skip: bin === "ref" && (refSkip || REFERENCE) }, logsOnFailure(async () => {
      const op = createOperator();
      const sysAcc = createAccount();
      const app = createAccount();
      const leafUser = createUser();
      const appUser = createUser();
      const opJwt = await encodeOperator("OP", op, { system_account: sysAcc.getPublicKey() });
      const lim = { conn: -1, subs: -1, payload: -1, data: -1, leaf: -1 };
      const sysJwt = await encodeAccount("SYS", sysAcc, { limits: lim }, { signer: op });
      const appJwt = await encodeAccount("APP", app, { limits: lim }, { signer: op });
      const leafCreds = fmtCreds(await encodeUser("edge", leafUser, app), leafUser);
      const appCreds = fmtCreds(await encodeUser("app", appUser, app), appUser);
      const leafPort = await freePort();
      const h = await startServer({
        bin: bin === "ref" ? refBin : undefined,
        jetstream: false,
        config: ({ tmp }) => {
          fs.writeFileSync(path.join(tmp, "op.jwt"), opJwt);
          return `operator: "${path.join(tmp, "op.jwt")}"
system_account: ${sysAcc.getPublicKey()}
resolver: MEMORY
resolver_preload: {
  ${sysAcc.getPublicKey()}: "${sysJwt}"
  ${app.getPublicKey()}: "${appJwt}"
}
leafnodes { listen: "127.0.0.1:${leafPort}" }
`;
        },
      });
      let l;
      try {
        await waitFor(() => canConnect(leafPort), 5000, "leafnode listener");
        l = await startServer({
          jetstream: false,
          config: ({ tmp }) => {
            fs.writeFileSync(path.join(tmp, "edge.creds"), leafCreds);
            return `leafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:${leafPort}", credentials: "${path.join(tmp, "edge.creds")}" } ] }\n`;
          },
        });
        const hc = await connectTo(h, { authenticator: credsAuthenticator(appCreds) });
        const lc = await connectTo(l);
        try {
          await crossed(lc, hc, "edge.orders");
          await crossed(hc, lc, "edge.replies");
        } finally {
          await hc.close();
          await lc.close();
        }
      } finally {
        await l?.stop();
        await h.stop();
      }
    }));
  }
});
