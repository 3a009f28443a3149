// TLS on the client port and HTTPS monitoring, through nats.js (Node's
// TLS) and raw sockets: server-only TLS, mutual TLS, verify_and_map users,
// pinned certificates, handshake_first, allow_non_tls, certificate reload
// on SIGHUP, and the bad inputs (plaintext to a TLS port, a wrong CA, an
// expired certificate, a hostname mismatch, a stalled handshake), each of
// which closes only its own connection. Certificates are made fresh by
// tests/tls/make_certs.sh.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tlsNode from "node:tls";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  startServer, rawConn, logsOnFailure, serverBin, repoRoot, waitFor, within, sleep, versionAtLeast,
} from "./lib/server.mjs";
import { assertAuthFails, connectTo, collect, dec } from "./lib/client.mjs";

const REFERENCE = path.basename(serverBin) === "nats-server";
// Known before any server starts, so that tests can be skipped by it.
const refVersion = REFERENCE
  ? (execFileSync(serverBin, ["--version"]).toString().match(/v?(\d+\.\d+\.\d+)/)?.[1] ?? "0.0.0")
  : "99.0.0";

const certDir = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-tls-certs-"));
process.on("exit", () => fs.rmSync(certDir, { recursive: true, force: true }));
const C = (name) => path.join(certDir, name);
const fingerprint = (name) => new crypto.X509Certificate(fs.readFileSync(C(`${name}-cert.pem`))).fingerprint256;

function tlsBlock(extra = "", cert = "server") {
  return `tls {
  cert_file: "${C(`${cert}-cert.pem`)}"
  key_file: "${C(`${cert}-key.pem`)}"
  ca_file: "${C("ca.pem")}"
  timeout: 2
${extra}
}
`;
}

const clientTls = (name, ca = "ca.pem") => ({
  caFile: C(ca),
  ...(name ? { certFile: C(`${name}-cert.pem`), keyFile: C(`${name}-key.pem`) } : {}),
});

// The connect must succeed and the connection carry a round trip.
async function assertConnects(srv, opts) {
  const nc = await connectTo(srv, opts);
  await nc.flush();
  await nc.close();
}

// Rejects: the connect must fail (a TLS error, or the server closing).
async function assertConnectFails(srv, opts, what) {
  // A refused client certificate (TLS 1.3: checked after the client's side
  // of the handshake is done) leaves the client waiting for its connect
  // timeout; an accepted one connects in milliseconds here.
  await assert.rejects(connectTo(srv, { timeout: 1500, ...opts }), (e) => {
    assert.ok(e instanceof Error, `${what}: expected an error`);
    return true;
  }, what);
}

// Plain TCP, INFO in plaintext, then the TLS upgrade as a client does;
// resolves with the TLS socket (for its peer certificate) and INFO.
function upgrade(port, { ca = C("ca.pem"), servername = "localhost", cert, key } = {}) {
  return within(new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    let buf = "";
    sock.on("error", reject);
    sock.on("data", function onData(d) {
      buf += d.toString();
      const nl = buf.indexOf("\r\n");
      if (nl < 0) return;
      sock.off("data", onData);
      const info = JSON.parse(buf.slice(5, nl));
      const t = tlsNode.connect({ socket: sock, ca: fs.readFileSync(ca), servername, cert, key });
      t.once("secureConnect", () => resolve({ t, info }));
      t.once("error", reject);
    });
  }), 5000, "a TLS upgrade");
}

before(() => {
  execFileSync("bash", [path.join(repoRoot, "tests/tls/make_certs.sh"), certDir]);
});

describe("TLS on the client port", () => {
  let srv;
  before(async () => {
    srv = await startServer({ config: tlsBlock() });
  });
  after(async () => { await srv?.stop(); });

  test("INFO says tls_required; a TLS client publishes, subscribes and uses JetStream", logsOnFailure(async () => {
    const raw = await rawConn(srv.port);
    try {
      assert.equal(raw.info.tls_required, true);
      assert.equal(raw.info.tls_verify, undefined);
    } finally {
      raw.close();
    }
    const nc = await connectTo(srv, { tls: clientTls() });
    try {
      const sub = nc.subscribe("orders.>", { max: 3 });
      // Sizes that span many TLS records both ways.
      const big = new Uint8Array(900 * 1024).fill(65);
      nc.publish("orders.oslo.created", "small");
      nc.publish("orders.oslo.big", big);
      nc.publish("orders.oslo.created", "after");
      const got = await collect(sub, 3);
      assert.equal(dec.decode(got[0].data), "small");
      assert.equal(got[1].data.length, big.length);
      assert.ok(got[1].data.every((b) => b === 65));
      assert.equal(dec.decode(got[2].data), "after");

      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
      const js = jetstream(nc);
      const ack = await js.publish("orders.oslo.created", "durable");
      assert.equal(ack.seq, 1);
      const info = await jsm.streams.info("ORDERS");
      assert.equal(info.state.messages, 1);
    } finally {
      await nc.close();
    }
  }));

  test("plaintext CONNECT to the TLS port closes that connection only", logsOnFailure(async () => {
    const good = await connectTo(srv, { tls: clientTls() });
    try {
      const raw = await rawConn(srv.port);
      raw.sock.write("CONNECT {\"verbose\":false}\r\nPING\r\n");
      await within(raw.closed, 5000, "the server to close the plaintext connection");
      await good.flush();
      if (!REFERENCE) assert.match(srv.log(), /TLS handshake error/);
    } finally {
      await good.close();
    }
  }));

  test("a client that trusts another CA, or a server whose certificate names another host, fails", logsOnFailure(async () => {
    await assertConnectFails(srv, { tls: clientTls(null, "other-ca.pem") }, "wrong CA");
    const wrong = await startServer({ config: tlsBlock("", "wrong"), jetstream: false });
    try {
      await assertConnectFails(wrong, { tls: clientTls() }, "hostname mismatch");
    } finally {
      await wrong.stop();
    }
    await assertConnects(srv, { tls: clientTls() });
  }));

  test("a handshake that stalls past the timeout is closed", logsOnFailure(async () => {
    const slow = await startServer({ config: tlsBlock().replace("timeout: 2", "timeout: 0.5"), jetstream: false });
    try {
      const raw = await rawConn(slow.port);  // reads INFO, then sends nothing
      await within(raw.closed, 5000, "the stalled handshake to be closed");
      if (!REFERENCE) assert.match(slow.log(), /TLS handshake timeout/);
      await assertConnects(slow, { tls: clientTls() });
    } finally {
      await slow.stop();
    }
  }));
});

describe("mutual TLS", () => {
  test("verify demands a client certificate from the CA; expired and foreign ones are refused", logsOnFailure(async () => {
    const srv = await startServer({ config: tlsBlock("  verify: true"), jetstream: false });
    try {
      const raw = await rawConn(srv.port);
      assert.equal(raw.info.tls_verify, true);
      raw.close();
      await assertConnectFails(srv, { tls: clientTls() }, "no client certificate");
      await assertConnectFails(srv, { tls: clientTls("mallory") }, "certificate of another CA");
      await assertConnectFails(srv, { tls: clientTls("expired") }, "expired certificate");
      if (!REFERENCE) assert.match(srv.log(), /TLS handshake error: .*certificate/);
      await assertConnects(srv, { tls: clientTls("bob") });
    } finally {
      await srv.stop();
    }
  }));

  test("verify_and_map logs in as the user the certificate names, with its permissions", logsOnFailure(async () => {
    const srv = await startServer({
      jetstream: false,
      config: tlsBlock("  verify_and_map: true") + `authorization {
  users: [
    { user: "alice@shop.example", permissions: { publish: "orders.>", subscribe: ["orders.>", "_INBOX.>"] } }
    { user: "CN=bob" }
  ]
}
`,
    });
    try {
      // alice maps by her e-mail SAN, bob by his subject.
      const alice = await connectTo(srv, { tls: clientTls("alice") });
      const bob = await connectTo(srv, { tls: clientTls("bob") });
      try {
        const sub = alice.subscribe("orders.oslo", { max: 1 });
        await alice.flush();
        bob.publish("orders.oslo", "from bob");
        const [m] = await collect(sub, 1);
        assert.equal(dec.decode(m.data), "from bob");
        // alice may not publish outside orders.>.
        const errored = (async () => {
          for await (const s of alice.status()) {
            if (/permission/i.test(JSON.stringify(s))) return s;
          }
        })();
        alice.publish("payments.x", "no");
        await within(errored, 5000, "a permissions violation for alice");
      } finally {
        await alice.close();
        await bob.close();
      }
    } finally {
      await srv.stop();
    }
    // A valid certificate naming nobody configured is refused.
    const only = await startServer({
      jetstream: false,
      config: tlsBlock("  verify_and_map: true") + `authorization { users: [ { user: "CN=bob" } ] }\n`,
    });
    try {
      await assertAuthFails(only, { tls: clientTls("alice") });
    } finally {
      await only.stop();
    }
  }));

  test("pinned_certs lets in only the listed keys", logsOnFailure(async () => {
    const pin = execFileSync("sh", ["-c",
      `openssl x509 -in ${C("alice-cert.pem")} -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`])
      .toString().slice(0, 64);
    const srv = await startServer({ jetstream: false, config: tlsBlock(`  verify: true\n  pinned_certs: ["${pin}"]`) });
    try {
      await assertConnects(srv, { tls: clientTls("alice") });
      await assertConnectFails(srv, { tls: clientTls("bob") }, "a certificate that is not pinned");
    } finally {
      await srv.stop();
    }
  }));
});

describe("TLS modes", () => {
  test("handshake_first: TLS before INFO, for tlsHandshakeFirst clients", { skip: REFERENCE && !versionAtLeast(refVersion, "2.10.0") }, logsOnFailure(async () => {
    const srv = await startServer({ jetstream: false, config: tlsBlock("  handshake_first: true") });
    try {
      const nc = await connectTo(srv, { tls: { ...clientTls(), handshakeFirst: true } });
      const sub = nc.subscribe("x", { max: 1 });
      nc.publish("x", "first");
      const [m] = await collect(sub, 1);
      assert.equal(dec.decode(m.data), "first");
      await nc.close();
      // Nothing arrives in plaintext: the server waits for a ClientHello.
      const sock = net.connect({ port: srv.port, host: "127.0.0.1" });
      let got = "";
      sock.on("data", (d) => (got += d.toString()));
      sock.on("error", () => {});
      await sleep(300);
      assert.equal(got, "");
      sock.destroy();
    } finally {
      await srv.stop();
    }
  }));

  test("allow_non_tls: INFO offers TLS, plaintext and TLS clients both get in", { skip: REFERENCE && !versionAtLeast(refVersion, "2.11.0") }, logsOnFailure(async () => {
    const srv = await startServer({ jetstream: false, config: tlsBlock() + "allow_non_tls: true\n" });
    try {
      const raw = await rawConn(srv.port);
      assert.equal(raw.info.tls_available, true);
      assert.equal(raw.info.tls_required, undefined);
      raw.close();
      // nats.js upgrades when TLS is available unless told `tls: null`.
      const plain = await connectTo(srv, { tls: null });
      const secure = await connectTo(srv, { tls: clientTls() });
      const sub = plain.subscribe("mixed", { max: 1 });
      await plain.flush();
      secure.publish("mixed", "across");
      const [m] = await collect(sub, 1);
      assert.equal(dec.decode(m.data), "across");
      await plain.close();
      await secure.close();
    } finally {
      await srv.stop();
    }
  }));

  test("--tls, --tlscert and --tlskey flags", logsOnFailure(async () => {
    const srv = await startServer({
      jetstream: false,
      args: ["--tls", "--tlscert", C("server-cert.pem"), "--tlskey", C("server-key.pem")],
    });
    try {
      await assertConnects(srv, { tls: clientTls() });
    } finally {
      await srv.stop();
    }
  }));

  test("the fjord CLI speaks TLS (--tlsca, --tlscert, --tlskey, tls:// URLs)", { skip: !process.env.FJORD_CLI }, logsOnFailure(async () => {
    const srv = await startServer({ jetstream: false, config: tlsBlock("  verify: true") });
    try {
      const nc = await connectTo(srv, { tls: clientTls("bob") });
      const sub = nc.subscribe("cli.tls", { max: 1 });
      await nc.flush();
      execFileSync(process.env.FJORD_CLI, ["--server", `tls://127.0.0.1:${srv.port}`, "--tlsca", C("ca.pem"),
        "--tlscert", C("alice-cert.pem"), "--tlskey", C("alice-key.pem"), "pub", "cli.tls", "over tls"]);
      const [m] = await collect(sub, 1);
      assert.equal(dec.decode(m.data), "over tls");
      await nc.close();
      // Without a client certificate the server refuses the handshake.
      assert.throws(() => execFileSync(process.env.FJORD_CLI, ["--server", `127.0.0.1:${srv.port}`,
        "--tlsca", C("ca.pem"), "pub", "cli.tls", "no"], { stdio: "pipe" }));
    } finally {
      await srv.stop();
    }
  }));

  test("SIGHUP reloads the certificate; open connections stay; a bad new one is refused", logsOnFailure(async () => {
    const srv = await startServer({
      jetstream: false, listenArgs: false,
      config: ({ port }) => `listen: 127.0.0.1:${port}\n` + tlsBlock(),
    });
    try {
      const open = await connectTo(srv, { tls: clientTls() });
      let { t } = await upgrade(srv.port);
      assert.equal(t.getPeerX509Certificate().fingerprint256, fingerprint("server"));
      t.destroy();

      fs.writeFileSync(srv.configFile, `listen: 127.0.0.1:${srv.port}\n` + tlsBlock("", "server2"));
      srv.child.kill("SIGHUP");
      await waitFor(async () => {
        const u = await upgrade(srv.port);
        const served = u.t.getPeerX509Certificate().fingerprint256;
        u.t.destroy();
        return served === fingerprint("server2");
      }, 5000, "the new certificate to be served");
      await open.flush();  // the connection from before the reload still works

      // A key that does not match: the reload is refused, server2 stays.
      fs.writeFileSync(srv.configFile, `listen: 127.0.0.1:${srv.port}\n` +
        tlsBlock("", "server2").replace(C("server2-key.pem"), C("server-key.pem")));
      srv.child.kill("SIGHUP");
      if (!REFERENCE) await waitFor(() => /Failed to reload server configuration: TLS/.test(srv.log()), 5000, "the refusal");
      else await sleep(500);
      ({ t } = await upgrade(srv.port));
      assert.equal(t.getPeerX509Certificate().fingerprint256, fingerprint("server2"));
      t.destroy();
      await open.flush();
      await open.close();
    } finally {
      await srv.stop();
    }
  }));

  test("HTTPS monitoring on https_port with the same certificate, reloaded on SIGHUP", logsOnFailure(async () => {
    const srv = await startServer({
      jetstream: false, listenArgs: false, args: ["--https_port", "-1"],
      config: ({ port }) => `listen: 127.0.0.1:${port}\n` + tlsBlock(),
    });
    try {
      const port = await waitFor(() => {
        const m = /Starting https monitor on [^\s]*:(\d+)/.exec(srv.log());
        return m && Number(m[1]);
      }, 5000, "the https monitor port in the log");
      const get = () => within(new Promise((resolve, reject) => {
        https.get({ host: "127.0.0.1", port, path: "/varz", ca: fs.readFileSync(C("ca.pem")), agent: false }, (res) => {
          let b = "";
          const fingerprint = res.socket.getPeerX509Certificate()?.fingerprint256;
          res.on("data", (d) => (b += d));
          res.on("end", () => resolve({ status: res.statusCode, b, fingerprint }));
        }).on("error", reject);
      }), 5000, "GET /varz over https");
        const body = await get();
      assert.equal(body.status, 200);
      assert.equal(body.fingerprint, fingerprint("server"));
      const varz = JSON.parse(body.b);
      assert.equal(varz.tls_required, true);
      fs.writeFileSync(srv.configFile, `listen: 127.0.0.1:${srv.port}\n` + tlsBlock("", "server2"));
      srv.child.kill("SIGHUP");
      if (REFERENCE) {
        // nats-server (2.9.10 and 2.15.1) keeps the monitor's certificate
        // until a restart; Fjord's monitor takes the reloaded one.
        await sleep(1000);
        assert.equal((await get()).fingerprint, fingerprint("server"));
      } else {
        await waitFor(async () => (await get()).fingerprint === fingerprint("server2"), 5000, "HTTPS to serve the new certificate");
      }
    } finally {
      await srv.stop();
    }
  }));
});
