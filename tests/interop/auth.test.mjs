// Authentication, authorization and config-file loading through the JS client.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { errors } from "@nats-io/transport-node";
import { startServer, within, logsOnFailure } from "./lib/server.mjs";
import { assertAuthFails, connectTo, collect, api, waitStatus, dec } from "./lib/client.mjs";

async function assertWorks(nc) {
  const sub = nc.subscribe("auth.ok", { max: 1 });
  nc.publish("auth.ok", "x");
  const [m] = await collect(sub, 1);
  assert.equal(dec.decode(m.data), "x");
  await nc.close();
}

describe("token auth (--auth)", () => {
  let srv;
  before(async () => { srv = await startServer({ jetstream: false, args: ["--auth", "tok3n-xyz"] }); });
  after(async () => { await srv?.stop(); });

  test("right token connects", logsOnFailure(async () => {
    const nc = await connectTo(srv, { token: "tok3n-xyz" });
    assert.equal(nc.info.auth_required, true);
    await assertWorks(nc);
  }));
  test("wrong token fails with Authorization Violation", logsOnFailure(async () => {
    await assertAuthFails(srv, { token: "nope" });
  }));
  test("missing token fails with Authorization Violation", logsOnFailure(async () => {
    await assertAuthFails(srv, {});
  }));
});

describe("user/password auth", () => {
  test("plain --user/--pass", logsOnFailure(async () => {
    const srv = await startServer({ jetstream: false, args: ["--user", "alice", "--pass", "s3cret"] });
    try {
      await assertWorks(await connectTo(srv, { user: "alice", pass: "s3cret" }));
      await assertAuthFails(srv, { user: "alice", pass: "wrong" });
      await assertAuthFails(srv, { user: "bob", pass: "s3cret" });
      await assertAuthFails(srv, {});
    } finally {
      await srv.stop();
    }
  }));

  test("bcrypt password in config", logsOnFailure(async () => {
    // bcrypt("bcrypt-pass", cost 10), fixed so the test needs no bcrypt tool.
    const hash = "$2a$10$6zPLnFOrfPRSWEK1bg14n.LQAwp9qJM/ylmWT/yHgIwnMGYo1FEaC";
    const srv = await startServer({
      jetstream: false,
      config: `authorization {\n  users: [\n    {user: "carol", password: "${hash}"}\n    {user: plain, password: "plainpw"}\n  ]\n}\n`,
    });
    try {
      await assertWorks(await connectTo(srv, { user: "carol", pass: "bcrypt-pass" }));
      await assertWorks(await connectTo(srv, { user: "plain", pass: "plainpw" }));
      await assertAuthFails(srv, { user: "carol", pass: "bcrypt-wrong" });
      // The hash itself is not a password.
      await assertAuthFails(srv, { user: "carol", pass: hash });
    } finally {
      await srv.stop();
    }
  }));
});

describe("permissions", () => {
  let srv;
  before(async () => {
    srv = await startServer({
      jetstream: false,
      config: `authorization {
  users: [
    { user: limited, password: pw, permissions: {
        publish: { allow: ["ok.>", "_INBOX.>"], deny: ["ok.secret"] }
        subscribe: { deny: ["hidden.>"] }
    } }
    { user: admin, password: pw }
  ]
}
`,
    });
  });
  after(async () => { await srv?.stop(); });

  test("publish deny gives Permissions Violation and the connection stays usable", logsOnFailure(async () => {
    const nc = await connectTo(srv, { user: "limited", pass: "pw" });
    const admin = await connectTo(srv, { user: "admin", pass: "pw" });
    const watch = admin.subscribe("ok.>");
    await admin.flush();
    const status = waitStatus(nc, /permissions violation for publish to "ok\.secret"/i);
    nc.publish("ok.secret", "x");
    const s = await status;
    assert.ok(s.error instanceof errors.PermissionViolationError);
    assert.equal(s.error.operation, "publish");
    // Denied by not being in the allow list as well.
    const status2 = waitStatus(nc, /permissions violation for publish to "other\.subject"/i);
    nc.publish("other.subject", "x");
    await status2;
    // Still connected and allowed subjects work; denied ones were dropped.
    nc.publish("ok.public", "fine");
    await within(nc.flush(), 5000, "flush");
    const [m] = await collect(watch, 1);
    assert.equal(m.subject, "ok.public");
    assert.equal(nc.isClosed(), false);
    await nc.close();
    await admin.close();
  }));

  test("subscribe deny closes that subscription with a Permissions Violation", logsOnFailure(async () => {
    const nc = await connectTo(srv, { user: "limited", pass: "pw" });
    const admin = await connectTo(srv, { user: "admin", pass: "pw" });
    const status = waitStatus(nc, /permissions violation for subscription to "hidden\.x"/i);
    const sub = nc.subscribe("hidden.x");
    await status;
    const closed = await within(sub.closed, 5000, "denied subscription to close");
    assert.ok(closed instanceof errors.PermissionViolationError, `closed with ${closed}`);
    // Nothing is delivered on the denied subject; allowed subs still work.
    const okSub = nc.subscribe("visible.x", { max: 1 });
    await nc.flush();
    admin.publish("hidden.x", "secret");
    admin.publish("visible.x", "public");
    await admin.flush();
    const [m] = await collect(okSub, 1);
    assert.equal(dec.decode(m.data), "public");
    assert.equal(nc.isClosed(), false);
    await nc.close();
    await admin.close();
  }));
});

describe("config file from the deployment example", () => {
  // The exact example from the task, with store_dir pointed at a temp dir and
  // the listen address at a free loopback port.
  const example = ({ port, storeDir }) => `server_name: "norway-broker-01"
listen: 127.0.0.1:${port}
jetstream {
    store_dir: "${storeDir}"
    max_mem: 1G
    max_file: 10G
}
authorization {
    token: "s3cr3t_token_for_internal_services"
}
`;
  let srv;
  before(async () => { srv = await startServer({ config: example, jetstream: false, listenArgs: false }); });
  after(async () => { await srv?.stop(); });

  test("server_name, auth and JetStream come from the file", logsOnFailure(async () => {
    const nc = await connectTo(srv, { token: "s3cr3t_token_for_internal_services" });
    assert.equal(nc.info.server_name, "norway-broker-01");
    assert.equal(nc.info.auth_required, true);
    assert.equal(nc.info.jetstream, true);
    const info = await api(nc, "INFO", undefined, "account_info_response");
    assert.equal(info.error, undefined);
    const created = await api(nc, "STREAM.CREATE.CFG", { name: "CFG", subjects: ["cfg.>"] }, "stream_create_response");
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    const ack = JSON.parse(dec.decode((await nc.request("cfg.x", "hi", { timeout: 5000 })).data));
    assert.deepEqual(ack, { stream: "CFG", seq: 1 });
    await nc.close();
  }));

  test("wrong and missing token are rejected", logsOnFailure(async () => {
    await assertAuthFails(srv, { token: "s3cr3t" });
    await assertAuthFails(srv, {});
  }));
});
