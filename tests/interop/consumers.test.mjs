// JetStream consumers through @nats-io/jetstream: pull (fetch/next/consume),
// acks, redelivery, push, ordered, deliver policies, filters, retention
// policies, and durability across restarts.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createInbox } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import path from "node:path";
import { serverBin, startServer, within, sleep, waitFor, versionAtLeast, serverVersion, logsOnFailure } from "./lib/server.mjs";
import { connectTo, checkApiReplies, api, collect, dec } from "./lib/client.mjs";

const MS = 1_000_000;
const SEC = 1_000_000_000;

async function rejectsCode(promise, errCode) {
  await assert.rejects(within(promise, 10000, "API call"), (e) => {
    assert.ok(e instanceof JetStreamApiError, `expected JetStreamApiError, got ${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.code, errCode, `err_code for: ${e.message}`);
    return true;
  });
}

// Drains a fetch() result into an array of messages (bounded).
async function fetchAll(consumer, opts) {
  const iter = await within(consumer.fetch(opts), 10000, "fetch");
  const out = [];
  await within((async () => { for await (const m of iter) out.push(m); })(), (opts.expires ?? 30000) + 10000, "fetch to finish");
  return out;
}

// Fills a stream with `n` messages on `subject` ("<prefix>-<i>" payloads, 1-based).
async function fill(js, subject, n, prefix = "m") {
  for (let i = 1; i <= n; i++) await js.publish(subject, `${prefix}-${i}`);
}

describe("jetstream consumers", () => {
  let srv;
  let nc;
  let jsm;
  let js;
  let version;
  before(async () => {
    srv = await startServer();
    nc = checkApiReplies(await connectTo(srv));
    version = nc.info.version;
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("durable pull consumer: fetch, next and consume with explicit ack", logsOnFailure(async () => {
    await jsm.streams.add({ name: "PULL", subjects: ["pull.>"] });
    await fill(js, "pull.a", 12);
    const ci = await jsm.consumers.add("PULL", { durable_name: "p1", ack_policy: "explicit" });
    assert.equal(ci.name, "p1");
    assert.equal(ci.config.durable_name, "p1");
    assert.equal(ci.config.ack_policy, "explicit");
    assert.equal(ci.config.deliver_policy, "all");
    assert.equal(ci.config.ack_wait, 30 * SEC);
    assert.equal(ci.config.max_deliver, -1);
    assert.equal(ci.config.max_ack_pending, 1000);
    assert.equal(ci.num_pending, 12);
    const c = await js.consumers.get("PULL", "p1");

    const batch = await fetchAll(c, { max_messages: 5, expires: 2000 });
    assert.deepEqual(batch.map((m) => m.string()), ["m-1", "m-2", "m-3", "m-4", "m-5"]);
    batch.forEach((m, i) => {
      assert.equal(m.seq, i + 1);
      assert.equal(m.info.stream, "PULL");
      assert.equal(m.info.consumer, "p1");
      assert.equal(m.info.deliveryCount, 1);
      assert.equal(m.info.pending, 12 - (i + 1));
      assert.equal(m.subject, "pull.a");
    });
    for (const m of batch) await within(m.ackAck(), 5000, "ackAck");

    const one = await within(c.next({ expires: 2000 }), 5000, "next");
    assert.equal(one.string(), "m-6");
    assert.equal(await within(one.ackAck(), 5000, "ackAck"), true);

    const got = [];
    const msgs = await c.consume({ max_messages: 4 });
    await within((async () => {
      for await (const m of msgs) {
        got.push(m.string());
        await m.ackAck();
        if (got.length === 6) break;
      }
    })(), 10000, "consume 6 messages");
    await msgs.close();
    assert.deepEqual(got, ["m-7", "m-8", "m-9", "m-10", "m-11", "m-12"]);

    const info = await jsm.consumers.info("PULL", "p1");
    assert.equal(info.num_pending, 0);
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_redelivered, 0);
    assert.equal(info.delivered.stream_seq, 12);
    assert.equal(info.ack_floor.stream_seq, 12);
    assert.equal(info.ack_floor.consumer_seq, info.delivered.consumer_seq);

    // Nothing left: a short fetch comes back empty.
    assert.equal((await fetchAll(c, { max_messages: 3, expires: 1000 })).length, 0);
    assert.equal(await within(c.next({ expires: 1000 }), 5000, "empty next"), null);
  }));

  test("ack, nak, term and working (in progress)", logsOnFailure(async () => {
    await jsm.streams.add({ name: "ACKS", subjects: ["acks"] });
    await fill(js, "acks", 3);
    await jsm.consumers.add("ACKS", { durable_name: "a", ack_policy: "explicit", ack_wait: 1500 * MS });
    const c = await js.consumers.get("ACKS", "a");
    const [m1, m2, m3] = await fetchAll(c, { max_messages: 3, expires: 2000 });
    assert.deepEqual([m1.seq, m2.seq, m3.seq], [1, 2, 3]);
    const t0 = Date.now();
    m1.nak();
    m2.term();
    // +WPI keeps m3 from being redelivered past ack_wait.
    const wip = setInterval(() => m3.working(), 400);
    try {
      const again = await within(c.next({ expires: 3000 }), 5000, "nak'd redelivery");
      assert.ok(again, "nak'd message comes back");
      assert.equal(again.seq, 1);
      assert.equal(again.info.deliveryCount, 2);
      assert.equal(again.redelivered, true);
      assert.ok(Date.now() - t0 < 1400, "nak redelivers before ack_wait");
      await again.ackAck();
      // Wait past ack_wait while m3 is in progress: nothing is redelivered.
      const none = await within(c.next({ expires: 2000 }), 5000, "no redelivery");
      assert.equal(none, null, `unexpected redelivery of seq ${none?.seq}`);
    } finally {
      clearInterval(wip);
    }
    assert.equal(await within(m3.ackAck(), 5000, "ackAck"), true);
    const info = await jsm.consumers.info("ACKS", "a");
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_pending, 0);
    // nak with a delay holds the redelivery back.
    await js.publish("acks", "m-4");
    const m4 = await within(c.next({ expires: 2000 }), 5000, "m-4");
    const t1 = Date.now();
    m4.nak(800);
    const m4b = await within(c.next({ expires: 3000 }), 5000, "delayed redelivery");
    assert.equal(m4b.seq, 4);
    assert.ok(Date.now() - t1 >= 600, `redelivered after ${Date.now() - t1} ms`);
    await m4b.ackAck();
  }));

  test("redelivery after ack_wait, then max_deliver stops it", logsOnFailure(async () => {
    await jsm.streams.add({ name: "REDEL", subjects: ["redel"] });
    await js.publish("redel", "payload");
    await jsm.consumers.add("REDEL", { durable_name: "r", ack_policy: "explicit", ack_wait: 500 * MS, max_deliver: 2 });
    const c = await js.consumers.get("REDEL", "r");
    const first = await within(c.next({ expires: 2000 }), 5000, "first delivery");
    assert.equal(first.info.deliveryCount, 1);
    const t0 = Date.now();
    const second = await within(c.next({ expires: 3000 }), 5000, "redelivery");
    assert.ok(second, "redelivered");
    assert.ok(Date.now() - t0 >= 300, "not before ack_wait");
    assert.equal(second.seq, 1);
    assert.equal(second.info.deliveryCount, 2);
    assert.equal(second.info.deliverySequence, 2);
    assert.equal(second.redelivered, true);
    let info = await jsm.consumers.info("REDEL", "r");
    assert.equal(info.num_redelivered, 1);
    assert.equal(info.num_ack_pending, 1);
    assert.equal(info.delivered.consumer_seq, 2);
    // max_deliver 2 reached: no third delivery.
    const third = await within(c.next({ expires: 1500 }), 5000, "no third delivery");
    assert.equal(third, null);
    info = await jsm.consumers.info("REDEL", "r");
    assert.equal(info.ack_floor.stream_seq, 0);
  }));

  test("push consumer delivers to deliver_subject with ack subjects", logsOnFailure(async () => {
    await jsm.streams.add({ name: "PUSH", subjects: ["push.*"] });
    await fill(js, "push.a", 5);
    const deliver = createInbox();
    const ci = await jsm.consumers.add("PUSH", { durable_name: "push1", ack_policy: "explicit", deliver_subject: deliver });
    assert.equal(ci.config.deliver_subject, deliver);
    // Raw subscriber on the deliver subject: check the ack reply format.
    const raw = nc.subscribe(deliver);
    const msgs = await collect(raw, 5);
    msgs.forEach((m, i) => {
      const re = /^\$JS\.ACK\.PUSH\.push1\.1\.(\d+)\.(\d+)\.(\d+)\.(\d+)$/;
      const r = re.exec(m.reply);
      assert.ok(r, `ack subject ${m.reply}`);
      assert.equal(Number(r[1]), i + 1, "stream seq");
      assert.equal(Number(r[2]), i + 1, "consumer seq");
      assert.equal(Number(r[4]), 4 - i, "pending");
      assert.equal(dec.decode(m.data), `m-${i + 1}`);
      m.respond(); // empty payload = ack
    });
    raw.unsubscribe();
    await waitFor(async () => (await jsm.consumers.info("PUSH", "push1")).ack_floor.stream_seq === 5, 5000, "acks");

    // The official push consumer API, on a second durable.
    const deliver2 = createInbox();
    await jsm.consumers.add("PUSH", { durable_name: "push2", ack_policy: "explicit", deliver_subject: deliver2 });
    const pc = await js.consumers.getPushConsumer("PUSH", "push2");
    const it = await pc.consume();
    const seen = [];
    await within((async () => {
      for await (const m of it) {
        seen.push(m.seq);
        m.ack();
        if (seen.length === 5) break;
      }
    })(), 10000, "push consume");
    await it.close();
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  }));

  test("ordered consumer reads everything in order", logsOnFailure(async () => {
    await jsm.streams.add({ name: "ORD", subjects: ["ord.*"] });
    for (let i = 1; i <= 30; i++) await js.publish(`ord.${i % 3}`, `o-${i}`);
    const oc = await js.consumers.get("ORD");
    const it = await oc.consume();
    const seen = [];
    await within((async () => {
      for await (const m of it) {
        seen.push(m.string());
        if (seen.length === 30) break;
      }
    })(), 10000, "ordered consume");
    await it.close();
    assert.deepEqual(seen, [...Array(30).keys()].map((i) => `o-${i + 1}`));
    // Ordered with a filter (the client needs filter_subjects, 2.10+).
    if (!versionAtLeast(version, "2.10.0")) return;
    const of = await js.consumers.get("ORD", { filter_subjects: ["ord.1"] });
    const got = await fetchAll(of, { max_messages: 10, expires: 2000 });
    assert.deepEqual(got.map((m) => m.string()), [1, 4, 7, 10, 13, 16, 19, 22, 25, 28].map((i) => `o-${i}`));
  }));

  test("deliver policies", logsOnFailure(async () => {
    await jsm.streams.add({ name: "DP", subjects: ["dp.*"] });
    await js.publish("dp.a", "a1"); // 1
    await js.publish("dp.b", "b1"); // 2
    await js.publish("dp.a", "a2"); // 3
    await sleep(50);
    const mid = new Date();
    await sleep(50);
    await js.publish("dp.b", "b2"); // 4
    await js.publish("dp.a", "a3"); // 5
    const first = async (name, cfg) => {
      const ci = await jsm.consumers.add("DP", { durable_name: name, ack_policy: "explicit", ...cfg });
      const c = await js.consumers.get("DP", name);
      const msgs = await fetchAll(c, { max_messages: 10, expires: 1000 });
      return { ci, seqs: msgs.map((m) => m.seq) };
    };
    let r = await first("all", { deliver_policy: "all" });
    assert.deepEqual(r.seqs, [1, 2, 3, 4, 5]);
    assert.equal(r.ci.num_pending, 5);
    r = await first("last", { deliver_policy: "last" });
    assert.deepEqual(r.seqs, [5]);
    assert.equal(r.ci.num_pending, 1);
    r = await first("new", { deliver_policy: "new" });
    assert.deepEqual(r.seqs, []);
    assert.equal(r.ci.num_pending, 0);
    r = await first("bseq", { deliver_policy: "by_start_sequence", opt_start_seq: 3 });
    assert.deepEqual(r.seqs, [3, 4, 5]);
    assert.equal(r.ci.config.opt_start_seq, 3);
    r = await first("btime", { deliver_policy: "by_start_time", opt_start_time: mid.toISOString() });
    assert.deepEqual(r.seqs, [4, 5]);
    r = await first("lps", { deliver_policy: "last_per_subject", filter_subject: "dp.*" });
    assert.deepEqual(r.seqs, [4, 5]);
    // A new message reaches the "new" consumer.
    await js.publish("dp.a", "a4");
    const c = await js.consumers.get("DP", "new");
    const m = await within(c.next({ expires: 2000 }), 5000, "new message");
    assert.equal(m.seq, 6);
    // by_start_sequence without opt_start_seq is invalid.
    const bad = await api(nc, "CONSUMER.CREATE.DP.bad", { stream_name: "DP", config: { name: "bad", deliver_policy: "by_start_sequence", ack_policy: "explicit" } }, "consumer_create_response");
    assert.ok(bad.error, JSON.stringify(bad));
  }));

  test("filter subjects", logsOnFailure(async () => {
    await jsm.streams.add({ name: "FIL", subjects: ["fil.>"] });
    for (const s of ["fil.a", "fil.b", "fil.a", "fil.c.x", "fil.b", "fil.c.y"]) await js.publish(s, s);
    await jsm.consumers.add("FIL", { durable_name: "fa", ack_policy: "explicit", filter_subject: "fil.a" });
    let c = await js.consumers.get("FIL", "fa");
    let got = await fetchAll(c, { max_messages: 10, expires: 1000 });
    assert.deepEqual(got.map((m) => m.seq), [1, 3]);
    await jsm.consumers.add("FIL", { durable_name: "fc", ack_policy: "explicit", filter_subject: "fil.c.*" });
    c = await js.consumers.get("FIL", "fc");
    got = await fetchAll(c, { max_messages: 10, expires: 1000 });
    assert.deepEqual(got.map((m) => m.subject), ["fil.c.x", "fil.c.y"]);
    const info = await jsm.consumers.info("FIL", "fc");
    assert.equal(info.num_pending, 0);
    assert.equal(info.num_ack_pending, 2);
    // A filter outside the stream's subjects: refused before 2.10, allowed
    // since (transforms and sources store messages under other names).
    const outside = await api(nc, "CONSUMER.CREATE.FIL.out", { stream_name: "FIL", config: { name: "out", ack_policy: "explicit", filter_subject: "zzz" } }, "consumer_create_response");
    if (versionAtLeast(serverVersion, "2.10.0")) assert.equal(outside.error, undefined, JSON.stringify(outside));
    else assert.equal(outside.error?.err_code, 10093);
    const mismatch = await api(nc, "CONSUMER.CREATE.FIL.x.fil.zzz", { stream_name: "FIL", config: { name: "x", ack_policy: "explicit", filter_subject: "fil.a" } }, "consumer_create_response");
    assert.equal(mismatch.error?.err_code, 10131);
  }));

  test("multiple filter_subjects (2.10+)", logsOnFailure(async (t) => {
    if (!versionAtLeast(version, "2.10.0")) return t.skip(`server ${version} < 2.10`);
    await jsm.streams.add({ name: "MFIL", subjects: ["mfil.>"] });
    for (const s of ["mfil.a", "mfil.b", "mfil.c", "mfil.a", "mfil.c"]) await js.publish(s, s);
    const ci = await jsm.consumers.add("MFIL", { durable_name: "ac", ack_policy: "explicit", filter_subjects: ["mfil.a", "mfil.c"] });
    assert.deepEqual(ci.config.filter_subjects, ["mfil.a", "mfil.c"]);
    assert.equal(ci.num_pending, 4);
    const c = await js.consumers.get("MFIL", "ac");
    const got = await fetchAll(c, { max_messages: 10, expires: 1000 });
    assert.deepEqual(got.map((m) => m.seq), [1, 3, 4, 5]);
    const overlap = await api(nc, "CONSUMER.CREATE.MFIL.ov", { stream_name: "MFIL", config: { name: "ov", ack_policy: "explicit", filter_subjects: ["mfil.*", "mfil.a"] } }, "consumer_create_response");
    assert.ok(overlap.error, "overlapping filters rejected");
  }));

  test("consumer metadata (2.10+) and pause/resume (2.11+)", logsOnFailure(async (t) => {
    if (!versionAtLeast(version, "2.10.0")) return t.skip(`server ${version} < 2.10`);
    await jsm.streams.add({ name: "CMETA", subjects: ["cmeta"] });
    const ci = await jsm.consumers.add("CMETA", { durable_name: "m", ack_policy: "explicit", metadata: { k: "v" } });
    assert.equal(ci.config.metadata.k, "v");
    if (!versionAtLeast(version, "2.11.0")) return;
    await js.publish("cmeta", "x");
    const until = new Date(Date.now() + 60_000);
    const p = await jsm.consumers.pause("CMETA", "m", until);
    assert.equal(p.paused, true);
    assert.ok(p.pause_remaining > 0);
    const c = await js.consumers.get("CMETA", "m");
    assert.equal(await within(c.next({ expires: 1000 }), 5000, "paused next"), null);
    const info = await jsm.consumers.info("CMETA", "m");
    assert.equal(info.paused, true);
    const r = await jsm.consumers.resume("CMETA", "m");
    assert.equal(r.paused, false);
    const m = await within(c.next({ expires: 2000 }), 5000, "resumed next");
    assert.equal(m?.seq, 1);
  }));

  test("ConsumerInfo numbers, names, list, delete", logsOnFailure(async () => {
    await jsm.streams.add({ name: "CINFO", subjects: ["cinfo"] });
    await fill(js, "cinfo", 5);
    await jsm.consumers.add("CINFO", { durable_name: "ci", ack_policy: "explicit" });
    const c = await js.consumers.get("CINFO", "ci");
    const got = await fetchAll(c, { max_messages: 3, expires: 1000 });
    let info = await jsm.consumers.info("CINFO", "ci");
    assert.equal(info.stream_name, "CINFO");
    assert.equal(info.name, "ci");
    assert.equal(info.num_pending, 2);
    assert.equal(info.num_ack_pending, 3);
    assert.equal(info.num_redelivered, 0);
    assert.equal(info.delivered.consumer_seq, 3);
    assert.equal(info.delivered.stream_seq, 3);
    assert.equal(info.ack_floor.consumer_seq, 0);
    assert.equal(info.ack_floor.stream_seq, 0);
    await got[1].ackAck();
    info = await jsm.consumers.info("CINFO", "ci");
    assert.equal(info.ack_floor.stream_seq, 0, "a gap keeps the floor");
    assert.equal(info.num_ack_pending, 2);
    await got[0].ackAck();
    info = await jsm.consumers.info("CINFO", "ci");
    assert.equal(info.ack_floor.stream_seq, 2);
    assert.equal(info.ack_floor.consumer_seq, 2);
    // A waiting pull request shows up in num_waiting.
    const pending = await c.fetch({ max_messages: 10, expires: 3000 });
    const drained = (async () => { const out = []; for await (const m of pending) out.push(m); return out; })();
    await waitFor(async () => (await jsm.consumers.info("CINFO", "ci")).num_waiting === 1, 3000, "num_waiting 1");
    const rest = await within(drained, 10000, "waiting fetch");
    assert.deepEqual(rest.map((m) => m.seq), [4, 5]);

    const raw = await api(nc, "CONSUMER.INFO.CINFO.ci", undefined, "consumer_info_response");
    assert.equal(raw.type, "io.nats.jetstream.api.v1.consumer_info_response");
    await jsm.consumers.add("CINFO", { durable_name: "ci2", ack_policy: "none" });
    const names = await api(nc, "CONSUMER.NAMES.CINFO", undefined, "consumer_names_response");
    assert.deepEqual(names.consumers, ["ci", "ci2"]);
    assert.equal(names.total, 2);
    const list = [];
    for await (const x of jsm.consumers.list("CINFO")) list.push(x.name);
    assert.deepEqual(list.sort(), ["ci", "ci2"]);
    assert.equal((await jsm.streams.info("CINFO")).state.consumer_count, 2);
    // Changing the ack policy of a durable is refused. The client sends
    // action "create", which 2.10+ answers with "consumer already exists";
    // 2.9 ignores the action and reports the update error.
    await rejectsCode(jsm.consumers.add("CINFO", { durable_name: "ci2", ack_policy: "explicit" }),
      versionAtLeast(version, "2.10.0") ? 10148 : 10012);
    const upd = await api(nc, "CONSUMER.CREATE.CINFO.ci2", { stream_name: "CINFO", config: { name: "ci2", durable_name: "ci2", ack_policy: "explicit" } }, "consumer_create_response");
    assert.deepEqual(upd.error, { code: 500, err_code: 10012, description: "ack policy can not be updated" });
    assert.equal(await jsm.consumers.delete("CINFO", "ci2"), true);
    await rejectsCode(jsm.consumers.info("CINFO", "ci2"), 10014);
    const del = await api(nc, "CONSUMER.DELETE.CINFO.ci2", undefined, "consumer_delete_response");
    assert.deepEqual(del.error, { code: 404, err_code: 10014, description: "consumer not found" });
    // Legacy ephemeral create gets a server-generated name.
    const eph = await api(nc, "CONSUMER.CREATE.CINFO", { stream_name: "CINFO", config: { ack_policy: "explicit" } }, "consumer_create_response");
    assert.equal(eph.error, undefined);
    assert.ok(eph.name.length > 0);
    const ephDurable = await api(nc, "CONSUMER.CREATE.CINFO", { stream_name: "CINFO", config: { durable_name: "d", ack_policy: "explicit" } }, "consumer_create_response");
    assert.equal(ephDurable.error?.err_code, 10020);
    const cycle = await api(nc, "CONSUMER.CREATE.CINFO.cyc", { stream_name: "CINFO", config: { name: "cyc", deliver_subject: "cinfo", ack_policy: "explicit" } }, "consumer_create_response");
    assert.equal(cycle.error?.err_code, 10081);
    const backoff = await api(nc, "CONSUMER.CREATE.CINFO.bo", { stream_name: "CINFO", config: { name: "bo", ack_policy: "explicit", backoff: [SEC, 2 * SEC], max_deliver: 1 } }, "consumer_create_response");
    assert.equal(backoff.error?.err_code, 10116);
  }));

  test("workqueue retention", logsOnFailure(async () => {
    await jsm.streams.add({ name: "WQ", subjects: ["wq.*"], retention: "workqueue" });
    await fill(js, "wq.a", 4);
    await jsm.consumers.add("WQ", { durable_name: "w", ack_policy: "explicit" });
    await rejectsCode(jsm.consumers.add("WQ", { durable_name: "w2", ack_policy: "explicit" }), 10099);
    await rejectsCode(jsm.consumers.add("WQ", { durable_name: "w3", ack_policy: "none", filter_subject: "wq.b" }), 10084);
    const c = await js.consumers.get("WQ", "w");
    const got = await fetchAll(c, { max_messages: 2, expires: 1000 });
    for (const m of got) await m.ackAck();
    await waitFor(async () => (await jsm.streams.info("WQ")).state.messages === 2, 3000, "acked work removed");
    const si = await jsm.streams.info("WQ");
    assert.equal(si.state.first_seq, 3);
  }));

  test("interest retention", logsOnFailure(async () => {
    await jsm.streams.add({ name: "INT", subjects: ["int.*"], retention: "interest" });
    const a0 = await js.publish("int.a", "no one listening");
    assert.equal(a0.seq, 1);
    let si = await jsm.streams.info("INT");
    assert.equal(si.state.messages, 0, "not stored without interest");
    await jsm.consumers.add("INT", { durable_name: "i1", ack_policy: "explicit" });
    await jsm.consumers.add("INT", { durable_name: "i2", ack_policy: "explicit" });
    await fill(js, "int.a", 2);
    si = await jsm.streams.info("INT");
    assert.equal(si.state.messages, 2);
    const c1 = await js.consumers.get("INT", "i1");
    for (const m of await fetchAll(c1, { max_messages: 2, expires: 1000 })) await m.ackAck();
    si = await jsm.streams.info("INT");
    assert.equal(si.state.messages, 2, "kept until every consumer acked");
    const c2 = await js.consumers.get("INT", "i2");
    for (const m of await fetchAll(c2, { max_messages: 2, expires: 1000 })) await m.ackAck();
    await waitFor(async () => (await jsm.streams.info("INT")).state.messages === 0, 3000, "all acked removes");
  }));

  test("every API reply seen by the clients was schema-validated", () => {
    assert.ok(nc.apiChecked > 20, `validated ${nc.apiChecked}`);
  });
});

// nats-server writes consumer ack state to disk asynchronously, so an ack it
// confirmed can be lost to kill -9 for a moment afterwards; fjord acks only
// what is durable. Against the reference the test lets the state settle.
const REFERENCE = path.basename(serverBin) === "nats-server";
const REFERENCE_SETTLE_MS = 1500;

describe("consumer durability", () => {
  test("durable consumer survives restart and kill -9; acked messages are not redelivered", logsOnFailure(async () => {
    const srv = await startServer();
    let nc;
    try {
      const open = async () => {
        nc = checkApiReplies(await connectTo(srv));
        return { jsm: await jetstreamManager(nc), js: jetstream(nc) };
      };
      let { jsm, js } = await open();
      await jsm.streams.add({ name: "DUR", subjects: ["dur"], storage: "file" });
      await fill(js, "dur", 10);
      await jsm.consumers.add("DUR", { durable_name: "d", ack_policy: "explicit", ack_wait: 30 * SEC });
      const take = async (n) => {
        const c = await js.consumers.get("DUR", "d");
        const msgs = await fetchAll(c, { max_messages: n, expires: 1500 });
        for (const m of msgs) assert.equal(await within(m.ackAck(), 5000, "ackAck"), true);
        return msgs.map((m) => m.seq);
      };
      assert.deepEqual(await take(4), [1, 2, 3, 4]);
      await nc.close();
      await srv.restart();
      ({ jsm, js } = await open());
      let info = await jsm.consumers.info("DUR", "d");
      assert.equal(info.ack_floor.stream_seq, 4);
      assert.equal(info.num_pending, 6);
      assert.deepEqual(await take(3), [5, 6, 7]);
      await nc.close();
      if (REFERENCE) await sleep(REFERENCE_SETTLE_MS);
      await srv.kill9();
      await srv.restart();
      ({ jsm, js } = await open());
      info = await jsm.consumers.info("DUR", "d");
      assert.equal(info.ack_floor.stream_seq, 7, "acks confirmed before kill -9 are kept");
      assert.deepEqual(await take(10), [8, 9, 10]);
      const si = await jsm.streams.info("DUR");
      assert.equal(si.state.messages, 10);
    } finally {
      await nc?.close().catch(() => {});
      await srv.stop();
    }
  }));
});
