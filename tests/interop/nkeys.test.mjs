// nkey users: keys made by the official @nats-io/nkeys, nats.js signing the
// INFO nonce through nkeyAuthenticator. Also the hole it closes: with only
// nkey users configured, a CONNECT without credentials must be refused.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { nkeyAuthenticator } from "@nats-io/transport-node";
import { createUser, createAccount } from "@nats-io/nkeys";
import path from "node:path";
import { startServer, rawConn, logsOnFailure, serverBin } from "./lib/server.mjs";
import { assertAuthFails, connectTo, collect, dec } from "./lib/client.mjs";

const seedOf = (kp) => kp.getSeed(); // Uint8Array, as nkeyAuthenticator wants
// 2.9.10 refuses a no_auth_user that names an nkey user; later servers (and
// Fjord) accept it.
const REFERENCE = path.basename(serverBin) === "nats-server";

describe("nkey users", () => {
  const alice = createUser();  // may publish only to orders.>
  const bob = createUser();    // no restrictions
  const stranger = createUser();
  let srv;
  before(async () => {
    srv = await startServer({
      jetstream: false,
      config: `authorization {
  users: [
    { nkey: ${alice.getPublicKey()}, permissions: { publish: "orders.>", subscribe: ["orders.>", "_INBOX.>"] } }
    { nkey: ${bob.getPublicKey()} }
  ]
}
`,
    });
  });
  after(async () => { await srv?.stop(); });

  test("INFO carries a fresh 15-character nonce for every connection", logsOnFailure(async () => {
    const a = await rawConn(srv.port);
    const b = await rawConn(srv.port);
    try {
      assert.equal(a.info.auth_required, true);
      assert.match(a.info.nonce, /^[A-Za-z0-9_-]{15}$/);
      assert.notEqual(a.info.nonce, b.info.nonce);
    } finally {
      a.close();
      b.close();
    }
  }));

  test("a user whose key signs the nonce gets in, with its permissions", logsOnFailure(async () => {
    const nc = await connectTo(srv, { authenticator: nkeyAuthenticator(seedOf(alice)) });
    try {
      const sub = nc.subscribe("orders.oslo", { max: 1 });
      nc.publish("orders.oslo", "order");
      const [m] = await collect(sub, 1);
      assert.equal(dec.decode(m.data), "order");
      const denied = new Promise((resolve) => {
        (async () => {
          for await (const s of nc.status()) {
            if (s.type === "error" || /permission/i.test(String(s.error ?? s.data ?? ""))) resolve(s);
          }
        })();
      });
      nc.publish("payments.x", "nope");
      const s = await Promise.race([denied, new Promise((r) => setTimeout(() => r(null), 5000))]);
      assert.ok(s, "a publish outside the permissions is reported");
      assert.match(String(s.error?.message ?? s.error ?? s.data), /permissions? violation/i);
    } finally {
      await nc.close();
    }
    const nc2 = await connectTo(srv, { authenticator: nkeyAuthenticator(seedOf(bob)) });
    nc2.publish("anything.goes", "x");
    await nc2.flush();
    await nc2.close();
  }));

  test("an unknown key, a wrong signature and no credentials are refused", logsOnFailure(async () => {
    await assertAuthFails(srv, { authenticator: nkeyAuthenticator(seedOf(stranger)) });
    await assertAuthFails(srv, {});
    await assertAuthFails(srv, { user: "alice", pass: "" });
    await assertAuthFails(srv, { token: "x" });
    // The right key, but a signature of something else.
    const c = await rawConn(srv.port);
    try {
      const sig = Buffer.from(alice.sign(new TextEncoder().encode("not the nonce"))).toString("base64url");
      c.send(`CONNECT ${JSON.stringify({ nkey: alice.getPublicKey(), sig, verbose: false, protocol: 1 })}\r\nPING\r\n`);
      assert.match(await c.readLine(), /^-ERR 'Authorization Violation'/);
    } finally {
      c.close();
    }
    // The nonce signed correctly but sent in the standard base64 alphabet
    // with padding (older clients): still accepted, as nats-server does.
    const d = await rawConn(srv.port);
    try {
      const sig = Buffer.from(bob.sign(new TextEncoder().encode(d.info.nonce))).toString("base64");
      d.send(`CONNECT ${JSON.stringify({ nkey: bob.getPublicKey(), sig, verbose: false, protocol: 1 })}\r\nPING\r\n`);
      assert.equal(await d.readLine(), "PONG");
    } finally {
      d.close();
    }
  }));
});

describe("nkey configuration", () => {
  test("nkey and password users side by side", logsOnFailure(async () => {
    const carol = createUser();
    const srv = await startServer({
      jetstream: false,
      config: `authorization { users: [ { nkey: ${carol.getPublicKey()} }, { user: dave, password: pw } ] }\n`,
    });
    try {
      (await connectTo(srv, { user: "dave", pass: "pw" })).close();
      (await connectTo(srv, { authenticator: nkeyAuthenticator(seedOf(carol)) })).close();
      await assertAuthFails(srv, { user: "dave", pass: "bad" });
      await assertAuthFails(srv, {});
    } finally {
      await srv.stop();
    }
  }));

  test("no_auth_user may name an nkey user", { skip: REFERENCE && "2.9.10 refuses it" }, logsOnFailure(async () => {
    const carol = createUser();
    const srv = await startServer({
      jetstream: false,
      config: `authorization { users: [ { nkey: ${carol.getPublicKey()} }, { user: dave, password: pw } ] }
no_auth_user: ${carol.getPublicKey()}
`,
    });
    try {
      (await connectTo(srv, {})).close(); // as carol
      await assertAuthFails(srv, { user: "dave", pass: "bad" });
    } finally {
      await srv.stop();
    }
  }));

  test("a key that is not a user's public nkey stops the server with a clear error", logsOnFailure(async () => {
    const good = createUser().getPublicKey();
    const bad = good.slice(0, 20) + (good[20] === "A" ? "B" : "A") + good.slice(21); // checksum fails
    for (const key of [bad, createAccount().getPublicKey(), "Ufoo"]) {
      await assert.rejects(
        startServer({ jetstream: false, config: `authorization { users: [ { nkey: ${key} } ] }\n`, startTimeout: 3000 }),
        /Not a valid public nkey for a user/,
        key,
      );
    }
  }));
});
