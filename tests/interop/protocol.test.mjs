// Raw client protocol over a TCP socket, byte for byte where the spec
// (shared/spec/protocol.md) captured the reference server's output.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, rawConn, logsOnFailure } from "./lib/server.mjs";

const QUIET = 'CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n';

// Asserts the connection is alive and in sync: PING must answer PONG next.
async function assertAlive(c) {
  c.send("PING\r\n");
  await c.expectExact("PONG\r\n");
}

describe("raw protocol, default server", () => {
  let srv;
  before(async () => { srv = await startServer({ jetstream: false }); });
  after(async () => { await srv?.stop(); });

  const conn = async () => rawConn(srv.port);

  test("INFO advertises the required fields", logsOnFailure(async () => {
    const c = await conn();
    const i = c.info;
    assert.equal(typeof i.server_id, "string");
    assert.ok(i.server_id.length > 0);
    assert.match(i.version, /^\d+\.\d+\.\d+/);
    assert.equal(i.proto, 1);
    assert.equal(i.headers, true);
    assert.equal(i.max_payload, 1048576);
    assert.equal(i.port, srv.port);
    assert.equal(typeof i.client_id, "number");
    assert.equal(i.auth_required, undefined);
    c.close();
  }));

  test("CONNECT {} defaults to verbose: +OK after each op", logsOnFailure(async () => {
    const c = await conn();
    c.send("CONNECT {}\r\n");
    await c.expectExact("+OK\r\n");
    c.send("PING\r\n");
    await c.expectExact("PONG\r\n");
    c.send("SUB foo 1\r\nPUB foo 5\r\nhello\r\n");
    await c.expectExact("+OK\r\n+OK\r\nMSG foo 1 5\r\nhello\r\n");
    c.send("SUB foo.* q1 2\r\nPUB foo.bar _INBOX.abc 2\r\nhi\r\n");
    await c.expectExact("+OK\r\n+OK\r\nMSG foo.bar 2 _INBOX.abc 2\r\nhi\r\n");
    c.send("UNSUB 99\r\n");
    await c.expectExact("+OK\r\n");
    c.close();
  }));

  test("pedantic: invalid publish subject is an error, connection stays open", logsOnFailure(async () => {
    const c = await conn();
    c.send('CONNECT {"verbose":false,"pedantic":true}\r\n');
    c.send("PUB foo.* 1\r\nx\r\n");
    await c.expectExact("-ERR 'Invalid Publish Subject'\r\n");
    await assertAlive(c);
    c.close();
  }));

  test("unknown operation: -ERR 'Unknown Protocol Operation' and close", logsOnFailure(async () => {
    const c = await conn();
    c.send(QUIET + "XYZ\r\n");
    await c.expectExact("-ERR 'Unknown Protocol Operation'\r\n");
    await c.expectClose();
  }));

  test("payload longer than declared: Unknown Protocol Operation and close", logsOnFailure(async () => {
    const c = await conn();
    c.send(QUIET + "PUB foo 1\r\nabc\r\n");
    await c.expectExact("-ERR 'Unknown Protocol Operation'\r\n");
    await c.expectClose();
  }));

  test("MSG sent by a client is rejected and closes", logsOnFailure(async () => {
    const c = await conn();
    c.send(QUIET + "MSG foo 1 2\r\nhi\r\n");
    await c.expectExact("-ERR 'Unknown Protocol Operation'\r\n");
    await c.expectClose();
  }));

  test("control line over 4096 bytes: maximum control line exceeded and close", logsOnFailure(async () => {
    const c = await conn();
    c.send(QUIET + "PUB " + "a".repeat(5000) + " 1\r\n");
    await c.expectExact("-ERR 'maximum control line exceeded'\r\n");
    await c.expectClose();
  }));

  test("invalid SUB subject: Invalid Subject and the connection stays open", logsOnFailure(async () => {
    const c = await conn();
    c.send(QUIET);
    for (const bad of ["foo..bar", ".foo", "foo.>.bar"]) {
      c.send(`SUB ${bad} 5\r\n`);
      await c.expectExact("-ERR 'Invalid Subject'\r\n");
    }
    // Still routes on a valid subscription afterwards.
    c.send("SUB ok 6\r\nPUB ok 1\r\nx\r\n");
    await c.expectExact("MSG ok 6 1\r\nx\r\n");
    await assertAlive(c);
    c.close();
  }));

  test("PING answers PONG, trailing text ignored", logsOnFailure(async () => {
    const c = await conn();
    c.send("PING\r\n");
    await c.expectExact("PONG\r\n");
    c.send(QUIET + "PING\r\nPING x\r\n");
    await c.expectExact("PONG\r\nPONG\r\n");
    c.close();
  }));

  test("operation names are case-insensitive", logsOnFailure(async () => {
    const c = await conn();
    c.send('connect {"verbose":false}\r\nsub low 1\r\nPub low 2\r\nhi\r\nsUb Low 2\r\npub Low 1\r\nx\r\nPiNg\r\n');
    await c.expectExact("MSG low 1 2\r\nhi\r\nMSG Low 2 1\r\nx\r\nPONG\r\n");
    c.close();
  }));

  test("tabs and repeated blanks separate arguments", logsOnFailure(async () => {
    const c = await conn();
    c.send(QUIET + "SUB\tlower\t1\r\nPUB\tlower\t\t2\r\nhi\r\nPUB  lower   rep  3\r\nabc\r\n");
    await c.expectExact("MSG lower 1 2\r\nhi\r\nMSG lower 1 rep 3\r\nabc\r\n");
    c.close();
  }));

  test("HPUB round trip is byte exact; empty header block; stripped for non-header clients", logsOnFailure(async () => {
    const c = await conn();
    const plain = await conn();
    c.send(QUIET + "SUB h.a.b 3\r\nSUB h.a 4\r\n");
    plain.send('CONNECT {"verbose":false,"headers":false}\r\nSUB h.a.b 1\r\nPING\r\n');
    await plain.expectExact("PONG\r\n");
    await assertAlive(c);
    const hdr = "NATS/1.0\r\nFoo: Bar\r\nFoo: Baz\r\nX-Multi: a b\r\n\r\n";
    assert.equal(hdr.length, 46);
    c.send(`HPUB h.a.b rep.ly 46 53\r\n${hdr}payload\r\n`);
    await c.expectExact(`HMSG h.a.b 3 rep.ly 46 53\r\n${hdr}payload\r\n`);
    await plain.expectExact("MSG h.a.b 1 rep.ly 7\r\npayload\r\n");
    c.send("HPUB h.a 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    await c.expectExact("HMSG h.a 4 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    c.close();
    plain.close();
  }));

  test("UNSUB with max removes after that many deliveries", logsOnFailure(async () => {
    const c = await conn();
    c.send(QUIET + "SUB u 4\r\nUNSUB 4 2\r\nPUB u 1\r\na\r\nPUB u 1\r\nb\r\nPUB u 1\r\nc\r\nPING\r\n");
    await c.expectExact("MSG u 4 1\r\na\r\nMSG u 4 1\r\nb\r\nPONG\r\n");
    c.close();
  }));

  test("queue group: one member per message, plain subs get all", logsOnFailure(async () => {
    const a = await conn();
    const b = await conn();
    a.send(QUIET + "SUB q.t g 1\r\nSUB q.t 2\r\nPING\r\n");
    b.send(QUIET + "SUB q.t g 1\r\nPING\r\n");
    await a.expectExact("PONG\r\n");
    await b.expectExact("PONG\r\n");
    const N = 40;
    for (let i = 0; i < N; i++) a.send("PUB q.t 1\r\nx\r\n");
    a.send("PING\r\n");
    await a.expect("PONG\r\n");
    b.send("PING\r\n");
    await b.expect("PONG\r\n");
    // Everything a and b got so far, PONGs included, was consumed; count it.
    // Re-run with counting: send again and tally from the raw streams.
    a.take();
    b.take();
    for (let i = 0; i < N; i++) a.send("PUB q.t 1\r\nx\r\n");
    a.send("PING\r\n");
    const ra = (await a.expect(/PONG\r\n/)).input;
    b.send("PING\r\n");
    const rb = (await b.expect(/PONG\r\n/)).input;
    const count = (s, re) => (s.match(re) || []).length;
    const aQueue = count(ra, /MSG q\.t 1 1\r\n/g);
    const aPlain = count(ra, /MSG q\.t 2 1\r\n/g);
    const bQueue = count(rb, /MSG q\.t 1 1\r\n/g);
    assert.equal(aPlain, N);
    assert.equal(aQueue + bQueue, N);
    assert.ok(aQueue > 0 && bQueue > 0, `both members used: ${aQueue}/${bQueue}`);
    a.close();
    b.close();
  }));

  test("no responders: 503 status to the requester's reply subscription", logsOnFailure(async () => {
    const c = await conn();
    c.send('CONNECT {"verbose":false,"headers":true,"no_responders":true,"protocol":1}\r\n');
    c.send("SUB _INBOX.abc.* 9\r\nPUB nobody.here _INBOX.abc.1 1\r\nx\r\n");
    // 2.9-2.11 send just the status line; 2.12+ add Nats-Subject.
    const m = await c.expect(/^HMSG _INBOX\.abc\.1 9 (\d+) (\d+)\r\n/);
    assert.equal(m[1], m[2]);
    const n = Number(m[1]);
    const block = await c.wait((b) => (b.length >= n + 2 ? b.subarray(0, n + 2).toString("binary") : undefined), 5000, "503 block");
    assert.match(block, /^NATS\/1\.0 503\r\n/);
    assert.ok(block.endsWith("\r\n\r\n\r\n"));
    c.close();
  }));

  test("no_responders without headers: error and close", logsOnFailure(async () => {
    const c = await conn();
    c.send('CONNECT {"verbose":false,"headers":false,"no_responders":true}\r\n');
    await c.expectExact("-ERR 'no responders requires headers support'\r\n");
    await c.expectClose();
  }));

  test("invalid client protocol version: error and close", logsOnFailure(async () => {
    const c = await conn();
    c.send('CONNECT {"verbose":false,"protocol":2}\r\n');
    await c.expectExact("-ERR 'invalid client protocol'\r\n");
    await c.expectClose();
  }));

  test("unparsable PUB arguments close the connection", logsOnFailure(async () => {
    for (const bad of ["PUB foo\r\n", "PUB foo bar\r\n", "PUB a b c d\r\n"]) {
      const c = await conn();
      c.send(QUIET + bad);
      const rest = await c.expectClose();
      // The reference closes silently; an -ERR first is acceptable.
      assert.ok(rest === "" || rest.startsWith("-ERR "), `${JSON.stringify(bad)} → ${JSON.stringify(rest)}`);
    }
  }));
});

describe("raw protocol, limits from config", () => {
  test("max_payload: exact size ok, one byte over is Maximum Payload Violation and close", logsOnFailure(async () => {
    const srv = await startServer({ jetstream: false, config: "max_payload: 100\n" });
    try {
      const c = await rawConn(srv.port);
      assert.equal(c.info.max_payload, 100);
      const body = "x".repeat(100);
      c.send(QUIET + `SUB ok.1 1\r\nPUB ok.1 100\r\n${body}\r\n`);
      await c.expectExact(`MSG ok.1 1 100\r\n${body}\r\n`);
      c.send("PUB ok.1 101\r\n");
      await c.expectExact("-ERR 'Maximum Payload Violation'\r\n");
      await c.expectClose();
      // HPUB compares headers + body against the limit.
      const h = await rawConn(srv.port);
      h.send(QUIET + "HPUB ok.2 12 101\r\n");
      await h.expectExact("-ERR 'Maximum Payload Violation'\r\n");
      await h.expectClose();
    } finally {
      await srv.stop();
    }
  }));

  test("max_connections: the extra connection gets INFO then an error and close", logsOnFailure(async () => {
    const srv = await startServer({ jetstream: false, config: "max_connections: 3\n" });
    try {
      const keep = [];
      for (let i = 0; i < 3; i++) {
        const c = await rawConn(srv.port);
        c.send(QUIET + "PING\r\n");
        await c.expectExact("PONG\r\n");
        keep.push(c);
      }
      const extra = await rawConn(srv.port);
      await extra.expectExact("-ERR 'maximum connections exceeded'\r\n");
      await extra.expectClose();
      for (const c of keep) await assertAlive(c);
      keep[0].close();
      await keep[0].closed;
      // A slot is free again once one closes.
      let ok = false;
      for (let i = 0; i < 40 && !ok; i++) {
        const c = await rawConn(srv.port);
        c.send(QUIET + "PING\r\n");
        const r = await c.expect(/PONG\r\n|-ERR '[^']*'\r\n/);
        ok = r[0] === "PONG\r\n";
        c.close();
        if (!ok) await new Promise((res) => setTimeout(res, 50));
      }
      assert.ok(ok, "a connection is accepted after one closed");
      keep.slice(1).forEach((c) => c.close());
    } finally {
      await srv.stop();
    }
  }));

  test("max_subscriptions: error, no subscription, connection stays open", logsOnFailure(async () => {
    const srv = await startServer({ jetstream: false, config: "max_subscriptions: 2\n" });
    try {
      const c = await rawConn(srv.port);
      c.send(QUIET + "SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n");
      await c.expectExact("-ERR 'maximum subscriptions exceeded'\r\n");
      c.send("PUB c 1\r\nx\r\nPUB a 1\r\ny\r\nPING\r\n");
      await c.expectExact("MSG a 1 1\r\ny\r\nPONG\r\n");
      c.close();
    } finally {
      await srv.stop();
    }
  }));

  test("Authentication Timeout when no CONNECT arrives", logsOnFailure(async () => {
    const srv = await startServer({ jetstream: false, config: 'authorization {\n  token: "t0k"\n  timeout: 1\n}\n' });
    try {
      const c = await rawConn(srv.port);
      assert.equal(c.info.auth_required, true);
      const t0 = Date.now();
      await c.expectExact("-ERR 'Authentication Timeout'\r\n", 5000);
      await c.expectClose(2000);
      const dt = Date.now() - t0;
      assert.ok(dt >= 700 && dt < 4000, `timed out after ${dt} ms`);
      // Ops before CONNECT when auth is required are violations.
      const d = await rawConn(srv.port);
      d.send("PING\r\n");
      await d.expectExact("-ERR 'Authorization Violation'\r\n");
      await d.expectClose();
      const e = await rawConn(srv.port);
      e.send('CONNECT {"verbose":false,"auth_token":"bad"}\r\n');
      await e.expectExact("-ERR 'Authorization Violation'\r\n");
      await e.expectClose();
      const f = await rawConn(srv.port);
      f.send('CONNECT {"verbose":false,"auth_token":"t0k"}\r\nPING\r\n');
      await f.expectExact("PONG\r\n");
      f.close();
    } finally {
      await srv.stop();
    }
  }));

  test("Stale Connection after ping_max unanswered PINGs", logsOnFailure(async () => {
    const srv = await startServer({ jetstream: false, config: 'ping_interval: "1s"\nping_max: 2\n' });
    try {
      const c = await rawConn(srv.port, { autoPong: false });
      const t0 = Date.now();
      c.send(QUIET);
      await c.expectExact("PING\r\n", 5000);
      await c.expectExact("PING\r\n", 5000);
      await c.expectExact("-ERR 'Stale Connection'\r\n", 5000);
      await c.expectClose(2000);
      const dt = Date.now() - t0;
      assert.ok(dt < 8000, `stale detection took ${dt} ms`);
      // A client that answers stays connected past the same period.
      const ok = await rawConn(srv.port, { autoPong: false });
      ok.send(QUIET);
      const deadline = Date.now() + 3500;
      while (Date.now() < deadline) {
        await ok.expectExact("PING\r\n", 5000);
        ok.send("PONG\r\n");
      }
      await assertAlive(ok);
      ok.close();
    } finally {
      await srv.stop();
    }
  }));
});
