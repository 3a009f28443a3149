// The system account through nats.js: the `$SYS.REQ.SERVER.PING*` requests
// `nats server list|report` send, account-scoped requests, the CONNECT and
// DISCONNECT events, and /accountz and /accstatz. Runs unchanged against
// nats-server.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, freePort, within, logsOnFailure } from "./lib/server.mjs";
import { connectTo, collect, dec } from "./lib/client.mjs";

describe("system account", () => {
  let srv, http, sys, app;
  before(async () => {
    http = await freePort();
    srv = await startServer({
      jetstream: false,
      args: ["-m", String(http)],
      config: ({ storeDir }) => `server_name: sys-test
jetstream { store_dir: "${storeDir}" }
accounts {
  SYS: { users: [{user: sys, password: sys}] }
  APP: { users: [{user: app, password: app}], jetstream: enabled }
  OTHER: { users: [{user: other, password: other}] }
}
system_account: SYS
`,
    });
    sys = await connectTo(srv, { user: "sys", pass: "sys" });
    app = await connectTo(srv, { user: "app", pass: "app", name: "app-conn" });
  });
  after(async () => {
    await sys?.close();
    await app?.close();
    await srv?.stop();
  });

  const req = async (subject, body = "") => JSON.parse(dec.decode((await sys.request(subject, body, { timeout: 5000 })).data));

  test("PING answers with the server and its statistics", logsOnFailure(async () => {
    const r = await req("$SYS.REQ.SERVER.PING");
    assert.equal(r.server.name, "sys-test");
    assert.match(r.server.id, /^N[A-Z0-9]{55}$/);
    assert.equal(r.server.ver, app.info.version);
    assert.equal(r.server.jetstream, true);
    assert.ok(r.statsz.connections >= 2);
    assert.ok(r.statsz.active_accounts >= 2);
    assert.equal(typeof r.statsz.sent.msgs, "number");
    assert.ok(r.statsz.jetstream.config);
    // The same per server id, and narrowed by a filter that names another.
    const byId = await req(`$SYS.REQ.SERVER.${r.server.id}.STATSZ`);
    assert.equal(byId.server.id, r.server.id);
    await assert.rejects(sys.request("$SYS.REQ.SERVER.PING", JSON.stringify({ server_name: "elsewhere" }), { timeout: 500 }));
  }));

  test("PING.VARZ, CONNZ, JSZ, HEALTHZ and ACCOUNTZ carry the monitoring data", logsOnFailure(async () => {
    const varz = await req("$SYS.REQ.SERVER.PING.VARZ");
    assert.equal(varz.data.server_name, "sys-test");
    assert.equal(varz.data.system_account, "SYS");
    const connz = await req("$SYS.REQ.SERVER.PING.CONNZ", JSON.stringify({ subscriptions: true, auth: true }));
    const mine = connz.data.connections.find((c) => c.name === "app-conn");
    assert.ok(mine, JSON.stringify(connz.data.connections));
    assert.equal(mine.account, "APP");
    const jsz = await req("$SYS.REQ.SERVER.PING.JSZ", JSON.stringify({ accounts: true }));
    assert.deepEqual(jsz.data.account_details.map((a) => a.name), ["APP"]);
    const health = await req("$SYS.REQ.SERVER.PING.HEALTHZ");
    assert.equal(health.data.status, "ok");
    const accz = await req("$SYS.REQ.SERVER.PING.ACCOUNTZ");
    assert.deepEqual([...accz.data.accounts].sort(), ["$G", "APP", "OTHER", "SYS"]);
    assert.equal(accz.data.system_account, "SYS");
  }));

  test("account-scoped CONNZ shows that account's connections only", logsOnFailure(async () => {
    const other = await connectTo(srv, { user: "other", pass: "other" });
    try {
      const r = await req("$SYS.REQ.ACCOUNT.APP.CONNZ", "{}");
      assert.deepEqual(r.data.connections.map((c) => c.name), ["app-conn"]);
    } finally {
      await other.close();
    }
  }));

  test("other accounts cannot reach the system account's services", logsOnFailure(async () => {
    await assert.rejects(app.request("$SYS.REQ.SERVER.PING", "", { timeout: 1000 }));
  }));

  test("CONNECT and DISCONNECT events name the account, user and client", logsOnFailure(async () => {
    const events = sys.subscribe("$SYS.ACCOUNT.APP.>");
    await sys.flush();
    const c = await connectTo(srv, { user: "app", pass: "app", name: "short-lived" });
    c.publish("x", "1");
    await c.flush();
    await c.close();
    // CONNECT, SERVER.CONNS, DISCONNECT, SERVER.CONNS.
    const got = await collect(events, 4, 5000);
    const byType = (t) => got.map((m) => JSON.parse(dec.decode(m.data))).filter((e) => e.type === t);
    const [conn] = byType("io.nats.server.advisory.v1.client_connect");
    const [disc] = byType("io.nats.server.advisory.v1.client_disconnect");
    assert.equal(conn.client.acc, "APP");
    assert.equal(conn.client.user, "app");
    assert.equal(conn.client.name, "short-lived");
    assert.equal(disc.client.name, "short-lived");
    // Counted from the client's side: it sent one message.
    assert.equal(disc.sent.msgs, 1);
    assert.ok(disc.reason);
    const counts = byType("io.nats.server.advisory.v1.account_connections");
    assert.ok(counts.length >= 2);
    assert.equal(counts[0].acc, "APP");
  }));

  test("/accountz and /accstatz on the monitoring port", logsOnFailure(async () => {
    const get = async (p) => within(fetch(`http://127.0.0.1:${http}${p}`).then((r) => r.json()), 5000, p);
    const list = await get("/accountz");
    assert.ok(list.accounts.includes("APP"));
    const one = await get("/accountz?acc=APP");
    assert.equal(one.account_detail.account_name, "APP");
    assert.equal(one.account_detail.jetstream_enabled, true);
    const st = await get("/accstatz");
    const appStat = st.account_statz.find((a) => a.acc === "APP");
    assert.ok(appStat && appStat.conns >= 1, JSON.stringify(st));
  }));
});
