// Operator mode (JWT auth) through nats.js: an operator, a system account
// and an application account made with the official @nats-io/jwt and
// @nats-io/nkeys, users connecting with creds files, user permissions and
// expiry, account limits and JetStream from the account JWT, and account
// JWT pushes on $SYS.REQ.CLAIMS.UPDATE that change a limit and revoke a
// user without a restart. Runs unchanged against nats-server.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import path from "node:path";
import { credsAuthenticator } from "@nats-io/transport-node";
import { jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import { encodeOperator, encodeAccount, encodeUser, encodeGeneric, fmtCreds } from "@nats-io/jwt";
import { createOperator, createAccount, createUser } from "@nats-io/nkeys";
import { startServer, sleep, within, waitFor, logsOnFailure, serverBin } from "./lib/server.mjs";
import { assertAuthFails, connectTo, collect, waitStatus, dec } from "./lib/client.mjs";

const execFileAsync = promisify(execFile);
const now = () => Math.floor(Date.now() / 1000);
const REFERENCE = path.basename(serverBin) === "nats-server";

describe("operator mode", () => {
  const op = createOperator();
  const sysAcc = createAccount();
  const app = createAccount();
  const stranger = createAccount();  // signed by the operator, never given to the server
  const sysUser = createUser();
  const alice = createUser();
  const bob = createUser();
  const appLimits = { conn: 2, subs: -1, payload: -1, data: -1, mem_storage: -1, disk_storage: -1, streams: 1, consumer: -1 };
  let srv, sysNc, aliceCreds, bobCreds, sysCreds;
  const conns = [];

  const appJwt = (extra = {}) => encodeAccount("APP", app, { limits: { ...appLimits, ...(extra.limits ?? {}) }, ...extra.claims }, { signer: op });
  const creds = async (name, kp, acc, perms = {}, opts = {}) =>
    fmtCreds(await encodeUser(name, kp, acc, perms, opts), kp);
  const as = async (c) => {
    const nc = await connectTo(srv, { authenticator: credsAuthenticator(c) });
    conns.push(nc);
    return nc;
  };
  const push = async (jwt) => JSON.parse(dec.decode((await sysNc.request("$SYS.REQ.CLAIMS.UPDATE", jwt, { timeout: 5000 })).data));

  before(async () => {
    const opJwt = await encodeOperator("OP", op, { system_account: sysAcc.getPublicKey() });
    // Limits left out of an account JWT are 0 (no connections): say -1.
    const sysJwt = await encodeAccount("SYS", sysAcc, { limits: { conn: -1, subs: -1, payload: -1, data: -1 } }, { signer: op });
    aliceCreds = await creds("alice", alice, app, { pub: { allow: ["orders.>", "$JS.API.>", "_INBOX.>"] }, sub: { allow: ["orders.>", "_INBOX.>"] } });
    bobCreds = await creds("bob", bob, app);
    sysCreds = await creds("sys", sysUser, sysAcc);
    const initialApp = await appJwt();
    srv = await startServer({
      jetstream: false,
      config: ({ storeDir, tmp }) => {
        fs.writeFileSync(path.join(tmp, "op.jwt"), opJwt);
        return `operator: "${path.join(tmp, "op.jwt")}"
system_account: ${sysAcc.getPublicKey()}
resolver: { type: full, dir: "${path.join(tmp, "jwt")}", allow_delete: true }
resolver_preload: {
  ${sysAcc.getPublicKey()}: "${sysJwt}"
  ${app.getPublicKey()}: "${initialApp}"
}
jetstream { store_dir: "${storeDir}" }
`;
      },
    });
    sysNc = await connectTo(srv, { authenticator: credsAuthenticator(sysCreds) });
  });
  after(async () => {
    for (const nc of conns) await nc.close().catch(() => {});
    await sysNc?.close();
    await srv?.stop();
  });

  test("a user connects with a creds file, within its JWT's permissions", logsOnFailure(async () => {
    const nc = await as(aliceCreds);
    const sub = nc.subscribe("orders.>");
    nc.publish("orders.oslo.created", "o-1");
    const [m] = await collect(sub, 1);
    assert.equal(dec.decode(m.data), "o-1");
    const violation = waitStatus(nc, /Permissions Violation for Publish to "secret"/i);
    nc.publish("secret", "x");
    await violation;
    await nc.close();
  }));

  test("a wrong key, an expired user and an unknown account are refused", logsOnFailure(async () => {
    const otherKey = createUser();
    const forged = fmtCreds(await encodeUser("alice", alice, app), otherKey);
    await assertAuthFails(srv, { authenticator: credsAuthenticator(forged) });
    const expired = await creds("old", createUser(), app, {}, { exp: now() - 60 });
    await assertAuthFails(srv, { authenticator: credsAuthenticator(expired) });
    const lost = await creds("lost", createUser(), stranger);
    await assertAuthFails(srv, { authenticator: credsAuthenticator(lost) });
  }));

  test("a user signed by one of the account's signing keys gets in once the account lists the key", logsOnFailure(async () => {
    const sk = createAccount();
    const scoped = await creds("scoped", createUser(), app, {}, { signer: sk });
    await assertAuthFails(srv, { authenticator: credsAuthenticator(scoped) });
    const r = await push(await appJwt({ claims: { signing_keys: [sk.getPublicKey()] } }));
    assert.equal(r.data?.code, 200, JSON.stringify(r));
    const nc = await as(scoped);
    await nc.flush();
    await nc.close();
  }));

  test("the account JWT's JetStream limits apply", logsOnFailure(async () => {
    const nc = await as(bobCreds);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    await assert.rejects(jsm.streams.add({ name: "MORE", subjects: ["more.>"] }), (e) => {
      assert.ok(e instanceof JetStreamApiError, String(e));
      assert.equal(e.code, 10027);
      return true;
    });
    const info = await jsm.getAccountInfo();
    assert.equal(info.limits.max_streams, 1);
    await nc.close();
  }));

  test("a pushed account JWT changes a limit without a restart", logsOnFailure(async () => {
    for (const nc of conns.splice(0)) await nc.close().catch(() => {});
    await sleep(200);
    await as(bobCreds);
    await as(bobCreds);
    // conn: 2 is reached.
    await assert.rejects(connectTo(srv, { authenticator: credsAuthenticator(bobCreds), timeout: 2000 }));
    const r = await push(await appJwt({ limits: { conn: 3, streams: 2 } }));
    assert.equal(r.data?.code, 200, JSON.stringify(r));
    assert.equal(r.data.account, app.getPublicKey());
    const third = await as(bobCreds);
    // The JetStream limit moved too: a second stream fits now.
    const jsm = await jetstreamManager(third);
    await jsm.streams.add({ name: "MORE", subjects: ["more.>"] });
    assert.equal((await jsm.getAccountInfo()).limits.max_streams, 2);
    // Lowered below what is open: the newest connections go, as with
    // nats-server; the oldest stays.
    const [oldest] = conns;
    const low = await push(await appJwt({ limits: { conn: 1, streams: 2 } }));
    assert.equal(low.data?.code, 200, JSON.stringify(low));
    const open = async () => {
      const r = JSON.parse(dec.decode((await sysNc.request("$SYS.REQ.SERVER.PING.CONNZ",
        JSON.stringify({ acc: app.getPublicKey() }), { timeout: 5000 })).data));
      return r.data.connections.map((c) => c.cid);
    };
    await waitFor(async () => (await open()).length === 1, 5000, "the newest connections to close");
    assert.equal(oldest.isClosed(), false);
    await oldest.flush();
    // A JWT the operator did not sign is refused. nats-server (2.9.10 and
    // 2.15.1) answers "jwt updated" to it.
    const rogue = await encodeAccount("APP", app, { limits: { ...appLimits, conn: 100 } }, { signer: createOperator() });
    const bad = await push(rogue);
    if (!REFERENCE) assert.equal(bad.error?.code, 400, JSON.stringify(bad));
  }));

  test("revoking a user in a pushed JWT disconnects it", logsOnFailure(async () => {
    for (const nc of conns.splice(0)) await nc.close().catch(() => {});
    const nc = await as(aliceCreds);
    const closed = nc.closed();
    await sleep(1100);  // revocations cover JWTs issued up to that second
    const r = await push(await appJwt({ limits: { conn: 3 }, claims: { revocations: { [alice.getPublicKey()]: now() } } }));
    assert.equal(r.data?.code, 200, JSON.stringify(r));
    await within(closed, 5000, "the revoked user's connection to close");
    await assertAuthFails(srv, { authenticator: credsAuthenticator(aliceCreds) });
    // Others in the account stay.
    await as(bobCreds);
  }));

  test("a connection ends when its user JWT expires", logsOnFailure(async () => {
    const short = await creds("short", createUser(), app, {}, { exp: now() + 3 });
    const nc = await as(short);
    await within(nc.closed(), 8000, "the expired user's connection to close");
  }));

  test("the fjord CLI connects with --creds and lists servers", { skip: !process.env.FJORD_CLI }, logsOnFailure(async () => {
    const dir = fs.mkdtempSync(path.join(srv.tmp, "creds-"));
    const file = (name, c) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, c);
      return p;
    };
    const cli = (...args) => execFileAsync(process.env.FJORD_CLI, ["--server", `127.0.0.1:${srv.port}`, ...args]);
    const nc = await as(bobCreds);
    const sub = nc.subscribe("cli.x");
    await nc.flush();
    await cli("--creds", file("bob.creds", bobCreds), "pub", "cli.x", "from the CLI");
    assert.equal(dec.decode((await collect(sub, 1))[0].data), "from the CLI");
    const { stdout } = await cli("--creds", file("sys.creds", sysCreds), "server", "list", "1", "--json");
    const servers = JSON.parse(stdout);
    assert.equal(servers.length, 1);
    assert.ok(servers[0].statsz.connections >= 2);
    await assert.rejects(cli("--creds", file("alice.creds", aliceCreds), "pub", "cli.x", "revoked"));
  }));

  test("the resolver keeps pushed JWTs across kill -9", logsOnFailure(async () => {
    const dir = path.join(srv.tmp, "jwt");
    assert.ok(fs.existsSync(path.join(dir, `${app.getPublicKey()}.jwt`)));
    for (const nc of conns.splice(0)) await nc.close().catch(() => {});
    await sysNc.close();
    // Every push was answered "jwt updated" only once stored: killing the
    // server at once loses none of them.
    await srv.kill9();
    await srv.launch();
    sysNc = await connectTo(srv, { authenticator: credsAuthenticator(sysCreds) });
    // The revocation pushed before the restart still holds.
    await assertAuthFails(srv, { authenticator: credsAuthenticator(aliceCreds) });
    await as(bobCreds);
  }));

  test("deleting an account (allow_delete) disconnects its users and refuses new ones", logsOnFailure(async () => {
    const nc = await as(bobCreds);
    const closed = nc.closed();
    const req = async (jwt) => JSON.parse(dec.decode((await sysNc.request("$SYS.REQ.CLAIMS.DELETE", jwt, { timeout: 5000 })).data));
    // Only the operator, signing for itself, may delete.
    const notSelf = await req(await encodeGeneric("delete", app, "generic", { accounts: [app.getPublicKey()] }));
    assert.ok(notSelf.error, JSON.stringify(notSelf));
    const sysDel = await req(await encodeGeneric("delete", op, "generic", { accounts: [sysAcc.getPublicKey()] }));
    assert.match(sysDel.error?.description ?? "", /not allowed to delete system account/);
    const r = await req(await encodeGeneric("delete", op, "generic", { accounts: [app.getPublicKey()] }));
    assert.equal(r.data?.code, 200, JSON.stringify(r));
    assert.match(r.data.message, /deleted 1 accounts/);
    await within(closed, 5000, "the deleted account's connection to close");
    await assertAuthFails(srv, { authenticator: credsAuthenticator(bobCreds) });
    assert.ok(fs.existsSync(path.join(srv.tmp, "jwt", `${app.getPublicKey()}.jwt.deleted`)));
  }));
});
