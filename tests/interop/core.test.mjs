// Core NATS semantics through the official JS client (@nats-io/transport-node).

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { headers, errors, createInbox } from "@nats-io/transport-node";
import { startServer, within, sleep, logsOnFailure } from "./lib/server.mjs";
import { connectTo, collect, enc, dec } from "./lib/client.mjs";

describe("core", () => {
  let srv;
  let nc;
  before(async () => {
    srv = await startServer({ jetstream: false });
    nc = await connectTo(srv);
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("binary payload with all 256 byte values round trips", logsOnFailure(async () => {
    const payload = new Uint8Array(512);
    for (let i = 0; i < 512; i++) payload[i] = i % 256;
    // CR/LF sequences inside the payload must not confuse the framing.
    payload.set(enc.encode("\r\nMSG x 1 2\r\n"), 300);
    const sub = nc.subscribe("bin.data", { max: 1 });
    nc.publish("bin.data", payload);
    const [m] = await collect(sub, 1);
    assert.deepEqual(Buffer.from(m.data), Buffer.from(payload));
    // An empty payload is a valid message too.
    const sub2 = nc.subscribe("bin.empty", { max: 1 });
    nc.publish("bin.empty");
    const [e] = await collect(sub2, 1);
    assert.equal(e.data.length, 0);
  }));

  test("wildcards * and >", logsOnFailure(async () => {
    const star = nc.subscribe("wc.*.end");
    const gt = nc.subscribe("wc.>");
    const lit = nc.subscribe("wc.a.end");
    await nc.flush();
    for (const s of ["wc.a.end", "wc.b.end", "wc.a.b.end", "wc.x", "wcx.a.end", "wc"]) nc.publish(s, s);
    await nc.flush();
    const gotStar = (await collect(star, 2)).map((m) => m.subject);
    const gotGt = (await collect(gt, 4)).map((m) => m.subject);
    const gotLit = (await collect(lit, 1)).map((m) => m.subject);
    assert.deepEqual(gotStar, ["wc.a.end", "wc.b.end"]);
    assert.deepEqual(gotGt, ["wc.a.end", "wc.b.end", "wc.a.b.end", "wc.x"]);
    assert.deepEqual(gotLit, ["wc.a.end"]);
    // Nothing else arrives: a marker published last is the next message.
    nc.publish("wc.marker.end", "m");
    assert.equal((await collect(star, 1))[0].subject, "wc.marker.end");
    star.unsubscribe();
    gt.unsubscribe();
    lit.unsubscribe();
  }));

  test("queue group delivers each message to exactly one member, using all members", logsOnFailure(async () => {
    const nc2 = await connectTo(srv);
    const seen = [];
    const counts = [0, 0, 0];
    const mk = (conn, idx) => conn.subscribe("q.work", {
      queue: "workers",
      callback: (err, m) => {
        if (err) return;
        seen.push(dec.decode(m.data));
        counts[idx]++;
      },
    });
    const subs = [mk(nc, 0), mk(nc2, 1), mk(nc2, 2)];
    // A plain subscriber on the same subject gets every message.
    const plain = nc2.subscribe("q.work");
    await nc.flush();
    await nc2.flush();
    const N = 300;
    for (let i = 0; i < N; i++) nc.publish("q.work", String(i));
    await nc.flush();
    const all = await collect(plain, N);
    assert.equal(all.length, N);
    await nc2.flush();
    await within((async () => { while (seen.length < N) await sleep(10); })(), 5000, "queue deliveries");
    await sleep(100);
    assert.equal(seen.length, N, "each message exactly once across the group");
    assert.deepEqual([...seen].map(Number).sort((a, b) => a - b), [...Array(N).keys()]);
    for (const c of counts) assert.ok(c > 0, `every member used: ${counts}`);
    subs.forEach((s) => s.unsubscribe());
    await nc2.close();
  }));

  test("request/reply over the muxed inbox", logsOnFailure(async () => {
    const nc2 = await connectTo(srv);
    const svc = nc2.subscribe("svc.echo", {
      callback: (err, m) => m.respond(enc.encode(`echo:${dec.decode(m.data)}`)),
    });
    await nc2.flush();
    const replies = await within(Promise.all(
      [...Array(20).keys()].map((i) => nc.request("svc.echo", String(i), { timeout: 5000 })),
    ), 10000, "20 concurrent requests");
    replies.forEach((r, i) => assert.equal(dec.decode(r.data), `echo:${i}`));
    // Old-style request with an explicit inbox.
    const r = await nc.request("svc.echo", "old", { timeout: 5000, noMux: true });
    assert.equal(dec.decode(r.data), "echo:old");
    svc.unsubscribe();
    await nc2.close();
  }));

  test("headers round trip, multi-valued and case preserved", logsOnFailure(async () => {
    const sub = nc.subscribe("hdr.test", { max: 1 });
    const h = headers();
    h.append("X-Multi", "one");
    h.append("X-Multi", "two");
    h.append("X-Multi", "three with spaces");
    h.set("Single", "v");
    nc.publish("hdr.test", "body", { headers: h });
    const [m] = await collect(sub, 1);
    assert.ok(m.headers);
    assert.deepEqual(m.headers.values("X-Multi"), ["one", "two", "three with spaces"]);
    assert.equal(m.headers.get("Single"), "v");
    assert.equal(dec.decode(m.data), "body");
    // Headers with an empty body.
    const sub2 = nc.subscribe("hdr.empty", { max: 1 });
    const h2 = headers();
    h2.set("K", "v");
    nc.publish("hdr.empty", undefined, { headers: h2 });
    const [m2] = await collect(sub2, 1);
    assert.equal(m2.headers.get("K"), "v");
    assert.equal(m2.data.length, 0);
  }));

  test("no responders: request to a subject nobody listens on fails fast", logsOnFailure(async () => {
    const t0 = Date.now();
    await assert.rejects(nc.request("nobody.home", "x", { timeout: 5000 }), (e) => {
      assert.ok(e instanceof errors.RequestError, `got ${e}`);
      assert.ok(e.isNoResponders(), `expected no responders, got ${e.message}`);
      return true;
    });
    assert.ok(Date.now() - t0 < 4000, "503 arrives well before the timeout");
  }));

  test("auto-unsubscribe after max messages", logsOnFailure(async () => {
    const sub = nc.subscribe("auto.unsub", { max: 3 });
    const all = nc.subscribe("auto.unsub");
    await nc.flush();
    for (let i = 0; i < 6; i++) nc.publish("auto.unsub", String(i));
    await nc.flush();
    const got = await collect(sub, 3);
    assert.deepEqual(got.map((m) => dec.decode(m.data)), ["0", "1", "2"]);
    await collect(all, 6);
    assert.equal(sub.getReceived(), 3);
    // The server also forgets it: the same subject has only the other sub.
    all.unsubscribe();
    await nc.flush();
    await assert.rejects(nc.request("auto.unsub", "x", { timeout: 2000 }), (e) => e.isNoResponders?.() === true);
  }));

  test("noEcho suppresses own messages but not others'", logsOnFailure(async () => {
    const quiet = await connectTo(srv, { noEcho: true });
    const other = await connectTo(srv);
    const qs = quiet.subscribe("echo.t");
    const os = other.subscribe("echo.t");
    await quiet.flush();
    await other.flush();
    quiet.publish("echo.t", "from-quiet");
    await quiet.flush();
    other.publish("echo.t", "from-other");
    await other.flush();
    const q = await collect(qs, 1);
    assert.equal(dec.decode(q[0].data), "from-other");
    const o = await collect(os, 2);
    assert.deepEqual(o.map((m) => dec.decode(m.data)), ["from-quiet", "from-other"]);
    await quiet.close();
    await other.close();
  }));

  test("payload of exactly max_payload works, one byte more is rejected", logsOnFailure(async () => {
    const max = nc.info.max_payload;
    assert.equal(typeof max, "number");
    const sub = nc.subscribe("big.one", { max: 1 });
    const data = new Uint8Array(max);
    for (let i = 0; i < max; i++) data[i] = (i * 7) & 0xff;
    nc.publish("big.one", data);
    const [m] = await collect(sub, 1, 15000);
    assert.equal(m.data.length, max);
    assert.deepEqual(Buffer.from(m.data), Buffer.from(data));
    // One byte over: the client refuses before sending (it read max_payload
    // from INFO); the server would close the connection otherwise.
    assert.throws(() => nc.publish("big.one", new Uint8Array(max + 1)), /payload|max/i);
    await within(nc.flush(), 5000, "flush after oversized publish");
  }));

  test("200 concurrent connections each publish and receive", logsOnFailure(async () => {
    const N = 200;
    const conns = await within(Promise.all([...Array(N).keys()].map(() => connectTo(srv))), 30000, "200 connections");
    try {
      const subs = conns.map((c, i) => c.subscribe(`many.${i}`, { max: 1 }));
      const fan = conns.map((c) => c.subscribe("many.all", { max: 1 }));
      await within(Promise.all(conns.map((c) => c.flush())), 15000, "flush all");
      conns.forEach((c, i) => c.publish(`many.${(i + 1) % N}`, `from ${i}`));
      await within(Promise.all(conns.map((c) => c.flush())), 15000, "flush all");
      const got = await within(Promise.all(subs.map((s) => collect(s, 1, 15000))), 20000, "one message per connection");
      got.forEach(([m], i) => assert.equal(dec.decode(m.data), `from ${(i + N - 1) % N}`));
      conns[0].publish("many.all", "broadcast");
      const bc = await within(Promise.all(fan.map((s) => collect(s, 1, 15000))), 20000, "broadcast to all");
      assert.equal(bc.length, N);
    } finally {
      await within(Promise.all(conns.map((c) => c.close())), 15000, "close 200 connections");
    }
  }));

  test("inbox subjects and reply subjects are delivered verbatim", logsOnFailure(async () => {
    const inbox = createInbox();
    const sub = nc.subscribe("reply.check", { max: 1 });
    nc.publish("reply.check", "x", { reply: inbox });
    const [m] = await collect(sub, 1);
    assert.equal(m.reply, inbox);
    assert.equal(m.subject, "reply.check");
  }));
});
