// The 2.11 feature level (issue 13 §3): per-message TTLs (`allow_msg_ttl`,
// the `Nats-TTL` header), subject delete markers, direct get batches and
// multi_last, priority groups, the API level and its metadata, pedantic
// requests; through nats.js's jetstream and kv clients and on the wire.
// Runs against Fjord and any nats-server from 2.11 on (FJORD_BIN pointing
// at one); skipped on older.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { startServer, logsOnFailure, waitFor, sleep, serverVersion, versionAtLeast, isFjord, validate } from "./lib/server.mjs";
import { connectTo, checkApiReplies, api, rejectsCode, rawPub, dec } from "./lib/client.mjs";

const skip = !isFjord && !versionAtLeast(serverVersion, "2.11.0") && `nats-server ${serverVersion} predates 2.11`;
const SEC = 1_000_000_000;

async function seqs(jsm, stream) {
  const si = await jsm.streams.info(stream);
  const out = [];
  for (let seq = si.state.first_seq; seq <= si.state.last_seq && si.state.messages > 0; seq++) {
    try {
      out.push(await jsm.streams.getMessage(stream, { seq }));
    } catch {}
  }
  return out;
}

describe("per-message TTLs and subject delete markers (2.11)", { skip }, () => {
  let srv, nc, jsm, js;
  before(async () => {
    srv = await startServer();
    nc = checkApiReplies(await connectTo(srv));
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("stream config: allow_msg_ttl and subject_delete_marker_ttl rules and texts", logsOnFailure(async () => {
    let si = await jsm.streams.add({ name: "TC1", subjects: ["tc1.>"], allow_msg_ttl: true });
    assert.equal(si.config.allow_msg_ttl, true);
    await rejectsCode(jsm.streams.update("TC1", { allow_msg_ttl: false }), 10052, /^message TTL status can not be disabled$/);
    await rejectsCode(jsm.streams.add({ name: "TC2", subjects: ["tc2.>"], subject_delete_marker_ttl: SEC / 2 }), 10052,
      /^subject delete marker TTL must be at least 1 second$/);
    // Markers are published with a TTL and a rollup: both are turned on.
    si = await jsm.streams.add({ name: "TC3", subjects: ["tc3.>"], subject_delete_marker_ttl: 5 * SEC, deny_purge: true });
    assert.equal(si.config.allow_msg_ttl, true);
    assert.equal(si.config.allow_rollup_hdrs, true);
    assert.equal(si.config.deny_purge, false);
    assert.equal(si.config.subject_delete_marker_ttl, 5 * SEC);
    // ...unless the request is pedantic.
    let r = await api(nc, "STREAM.CREATE.TC4", { name: "TC4", subjects: ["tc4.>"], subject_delete_marker_ttl: 5 * SEC, pedantic: true });
    assert.deepEqual(r.error, { code: 500, err_code: 10052, description: "subject delete marker cannot be set if message TTLs are disabled" });
    r = await api(nc, "STREAM.CREATE.TC4", { name: "TC4", subjects: ["tc4.>"], subject_delete_marker_ttl: 5 * SEC, allow_msg_ttl: true, pedantic: true });
    assert.deepEqual(r.error, { code: 500, err_code: 10052, description: "subject delete marker cannot be set if roll-ups are disabled" });
    r = await api(nc, "STREAM.CREATE.TC5", { name: "TC5", mirror: { name: "TC3" }, subject_delete_marker_ttl: 5 * SEC });
    assert.equal(r.error?.err_code, 10052);
    assert.match(r.error.description, /subject delete markers forbidden on mirrors/);
  }));

  test("Nats-TTL: refused where not allowed, invalid values, expiry of the message alone", logsOnFailure(async () => {
    await jsm.streams.add({ name: "NOTTL", subjects: ["nottl.>"] });
    assert.deepEqual(await rawPub(nc, "nottl.a", "x", { "Nats-TTL": "5s" }),
      { error: { code: 400, err_code: 10166, description: "per-message TTL is disabled" }, stream: "NOTTL", seq: 0 });
    await rejectsCode(js.publish("nottl.a", "x", { ttl: "5s" }), 10166);

    await jsm.streams.add({ name: "TTL", subjects: ["ttl.>"], allow_msg_ttl: true });
    for (const bad of ["abc", "500ms", "0", "-5", "-1s"]) {
      assert.deepEqual(await rawPub(nc, "ttl.bad", "x", { "Nats-TTL": bad }),
        { error: { code: 400, err_code: 10165, description: "invalid per-message TTL" }, stream: "TTL", seq: 0 }, bad);
    }
    const a = await js.publish("ttl.short", "gone soon", { ttl: "1s" });
    const b = await js.publish("ttl.int", "two seconds", { ttl: "2" });
    const c = await js.publish("ttl.keep", "no ttl");
    const d = await js.publish("ttl.never", "never", { ttl: "never" });
    assert.deepEqual([a.seq, b.seq, c.seq, d.seq], [1, 2, 3, 4]);
    const m = await jsm.streams.getMessage("TTL", { seq: 1 });
    assert.equal(m.header.get("Nats-TTL"), "1s");
    await waitFor(async () => (await jsm.streams.info("TTL")).state.messages === 3, 5000, "the 1s message to expire");
    await waitFor(async () => (await jsm.streams.info("TTL")).state.messages === 2, 5000, "the 2s message to expire");
    assert.deepEqual((await seqs(jsm, "TTL")).map((x) => x.subject), ["ttl.keep", "ttl.never"]);
  }));

  test("max_age spares a message whose TTL is never", logsOnFailure(async () => {
    await jsm.streams.add({ name: "AGE", subjects: ["age.>"], allow_msg_ttl: true, max_age: SEC, duplicate_window: SEC });
    await js.publish("age.a", "ages out");
    await js.publish("age.b", "stays", { ttl: "never" });
    await js.publish("age.c", "ages out");
    await waitFor(async () => (await jsm.streams.info("AGE")).state.messages === 1, 5000, "max_age expiry");
    await sleep(300);
    const [left] = await seqs(jsm, "AGE");
    assert.equal(left.subject, "age.b");
    assert.equal(left.seq, 2);
  }));

  test("a subject whose last message ages out keeps a MaxAge delete marker, which expires in its turn", logsOnFailure(async () => {
    await jsm.streams.add({ name: "SDM", subjects: ["sdm.>"], max_age: SEC, duplicate_window: SEC, subject_delete_marker_ttl: SEC });
    await js.publish("sdm.a", "1");
    await js.publish("sdm.a", "2");
    await js.publish("sdm.b", "3");
    // A consumer sees the markers arrive as messages.
    await jsm.consumers.add("SDM", { durable_name: "watch", ack_policy: "none", deliver_policy: "all" });
    const c = await js.consumers.get("SDM", "watch");
    await waitFor(async () => {
      const left = await seqs(jsm, "SDM");
      return left.length === 2 && left.every((x) => x.header?.get("Nats-Marker-Reason") === "MaxAge");
    }, 6000, "one marker per subject in place of the expired messages");
    const markers = await seqs(jsm, "SDM");
    assert.deepEqual(markers.map((x) => x.subject).sort(), ["sdm.a", "sdm.b"]);
    for (const x of markers) {
      assert.equal(x.header.get("Nats-TTL"), "1s");
      assert.equal(x.header.get("Nats-Rollup"), "sub");
      assert.equal(x.data.length, 0);
      assert.ok(x.seq > 3, `marker seq ${x.seq}`);
    }
    const got = [];
    const iter = await c.fetch({ max_messages: 5, expires: 2000 });
    for await (const m of iter) got.push(m);
    assert.deepEqual(got.map((m) => m.headers?.get("Nats-Marker-Reason") ?? "").filter(Boolean), ["MaxAge", "MaxAge"]);
    // Markers expire without leaving markers of their own.
    await waitFor(async () => (await jsm.streams.info("SDM")).state.messages === 0, 6000, "the markers to expire");
    await sleep(1200);
    const si = await jsm.streams.info("SDM");
    assert.equal(si.state.messages, 0);
    assert.equal(si.state.last_seq, 5);
  }));

  test("a TTL shorter than the marker TTL is raised to it, unless one message per subject", logsOnFailure(async () => {
    await jsm.streams.add({ name: "RAISE", subjects: ["raise.>"], subject_delete_marker_ttl: 3 * SEC });
    await js.publish("raise.a", "x", { ttl: "1s" });
    let m = await jsm.streams.getMessage("RAISE", { seq: 1 });
    assert.equal(m.header.get("Nats-TTL"), "3");
    await jsm.streams.add({ name: "ONE", subjects: ["one.>"], subject_delete_marker_ttl: 3 * SEC, max_msgs_per_subject: 1 });
    await js.publish("one.a", "x", { ttl: "1s" });
    m = await jsm.streams.getMessage("ONE", { seq: 1 });
    assert.equal(m.header.get("Nats-TTL"), "1s");
  }));

  test("nats.js kv: a key created with a TTL expires into a delete marker the client reads as purged", logsOnFailure(async () => {
    const kvm = new Kvm(nc);
    const kv = await kvm.create("ttlkv", { markerTTL: 2000, history: 5 });
    const status = await kv.status();
    assert.equal(status.markerTTL, 2000);
    const si = await jsm.streams.info("KV_ttlkv");
    assert.equal(si.config.allow_msg_ttl, true);
    await kv.put("plain", "stays");
    await kv.create("session", "abc", "1s");
    assert.equal((await kv.get("session")).string(), "abc");
    // The TTL was raised to the marker TTL (2 s): the key lives 2 s.
    await waitFor(async () => (await kv.get("session"))?.operation === "PURGE", 6000, "the key to expire");
    const e = await kv.get("session");
    assert.equal(e.length, 0);
    // Create on a purged key works again (the client's retry as update).
    await kv.create("session", "again");
    assert.equal((await kv.get("session")).string(), "again");
    assert.equal((await kv.get("plain")).string(), "stays");
    // A purge with a TTL: the purge marker itself goes away.
    await kv.purge("plain", { ttl: "2s" });
    await waitFor(async () => (await kv.get("plain")) === null, 6000, "the purge marker to expire");
  }));
});

describe("per-message TTLs across a restart", { skip }, () => {
  test("a file stream's pending TTLs are found again after kill -9", logsOnFailure(async () => {
    const srv = await startServer();
    let nc = await connectTo(srv);
    try {
      let jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      await jsm.streams.add({ name: "RT", subjects: ["rt.>"], allow_msg_ttl: true, storage: "file" });
      await js.publish("rt.a", "expires", { ttl: "2s" });
      await js.publish("rt.b", "stays");
      await nc.close();
      await srv.kill9();
      await srv.restart();
      nc = await connectTo(srv);
      jsm = await jetstreamManager(nc);
      assert.equal((await jsm.streams.info("RT")).state.messages, 2);
      await waitFor(async () => (await jsm.streams.info("RT")).state.messages === 1, 6000, "the TTL to expire after restart");
      const m = await jsm.streams.getMessage("RT", { seq: 2 });
      assert.equal(dec.decode(m.data), "stays");
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));
});

// Sends a direct get request and gathers the answers: one message for a
// single get, or messages up to the first status (EOB, 404, 408, 413).
async function directRaw(nc, stream, body) {
  const inbox = `_INBOX.dg.${Math.random().toString(36).slice(2)}`;
  const sub = nc.subscribe(inbox);
  const single = body !== null && typeof body === "object" && !body.batch && !body.multi_last;
  const out = [];
  const done = (async () => {
    for await (const m of sub) {
      const code = m.headers?.code ?? 0;
      out.push({
        subject: m.headers?.get("Nats-Subject"), seq: Number(m.headers?.get("Nats-Sequence") || 0),
        data: dec.decode(m.data), code, status: code ? `${code} ${m.headers.description}` : "",
        pending: m.headers?.get("Nats-Num-Pending"), last: m.headers?.get("Nats-Last-Sequence"),
        upto: m.headers?.get("Nats-UpTo-Sequence"), x: m.headers?.get("X"),
      });
      if (code || single) break;
    }
  })();
  nc.publish(`$JS.API.DIRECT.GET.${stream}`, typeof body === "string" ? body : JSON.stringify(body), { reply: inbox });
  await Promise.race([done, sleep(2000)]);
  sub.unsubscribe();
  return out;
}

describe("direct get batches and multi_last (2.11)", { skip }, () => {
  let srv, nc, jsm, js, t3;
  before(async () => {
    srv = await startServer();
    nc = checkApiReplies(await connectTo(srv));
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
    await jsm.streams.add({ name: "DG", subjects: ["dg.>"], allow_direct: true });
    await js.publish("dg.a.1", "1");
    await js.publish("dg.a.2", "2");
    await sleep(20);
    t3 = new Date().toISOString();
    const h = (await import("@nats-io/transport-node")).headers();
    h.set("X", "y");
    await js.publish("dg.b.1", "3", { headers: h });
    await js.publish("dg.a.1", "4");
    await js.publish("dg.a.2", "5");
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("a batch from a sequence: pending and previous sequence on each message, then EOB", logsOnFailure(async () => {
    const got = await directRaw(nc, "DG", { seq: 2, batch: 3 });
    assert.deepEqual(got.map((m) => [m.seq, m.data, m.pending, m.last, m.status]), [
      [2, "2", "3", "0", ""], [3, "3", "2", "2", ""], [4, "4", "1", "3", ""], [0, "", "1", "4", "204 EOB"]]);
    assert.equal(got[1].x, "y");
    assert.equal(got[1].subject, "dg.b.1");
  }));

  test("a batch by subject filter runs out before the batch size", logsOnFailure(async () => {
    const got = await directRaw(nc, "DG", { next_by_subj: "dg.a.*", batch: 10 });
    assert.deepEqual(got.map((m) => [m.seq, m.pending, m.last, m.status]), [
      [1, "3", "0", ""], [2, "2", "1", ""], [4, "1", "2", ""], [5, "0", "4", ""], [0, "0", "5", "204 EOB"]]);
  }));

  test("max_bytes ends a batch once reached; a start_time picks the first message at or after it", logsOnFailure(async () => {
    // The message that reaches max_bytes is the last one sent.
    const got = await directRaw(nc, "DG", { seq: 1, batch: 5, max_bytes: 10 });
    assert.deepEqual(got.map((m) => [m.seq, m.pending, m.status]), [[1, "4", ""], [2, "3", ""], [0, "3", "204 EOB"]]);
    assert.deepEqual((await directRaw(nc, "DG", { start_time: t3 })).map((m) => m.seq), [3]);
    assert.deepEqual((await directRaw(nc, "DG", { start_time: t3, batch: 2 })).map((m) => [m.seq, m.status]),
      [[3, ""], [4, ""], [0, "204 EOB"]]);
  }));

  test("multi_last: the last message of each subject, up to a sequence", logsOnFailure(async () => {
    let got = await directRaw(nc, "DG", { multi_last: ["dg.a.*", "dg.b.1"] });
    assert.deepEqual(got.map((m) => [m.seq, m.subject, m.pending, m.last, m.upto, m.status]), [
      [3, "dg.b.1", "2", "0", "", ""], [4, "dg.a.1", "1", "3", "", ""], [5, "dg.a.2", "0", "4", "", ""],
      [0, "", "0", "5", "5", "204 EOB"]]);
    got = await directRaw(nc, "DG", { multi_last: ["dg.>"], up_to_seq: 3 });
    assert.deepEqual(got.map((m) => [m.seq, m.data, m.upto]), [[1, "1", ""], [2, "2", ""], [3, "3", ""], [0, "", "3"]]);
    got = await directRaw(nc, "DG", { multi_last: ["dg.>"], batch: 1 });
    assert.deepEqual(got.map((m) => [m.seq, m.pending, m.status]), [[3, "2", ""], [0, "2", "204 EOB"]]);
    got = await directRaw(nc, "DG", { multi_last: ["dg.>"], seq: 4 });
    assert.deepEqual(got.map((m) => [m.seq, m.pending, m.status]), [[4, "1", ""], [5, "0", ""], [0, "0", "204 EOB"]]);
    assert.deepEqual((await directRaw(nc, "DG", { multi_last: ["none.>"] })).map((m) => m.status), ["404 No Results"]);
  }));

  test("bad requests get nats-server's statuses", logsOnFailure(async () => {
    for (const [body, want] of [
      [{}, "408 Empty Request"],
      [{ last_by_subj: "dg.a.1", batch: 2 }, "408 Bad Request"],
      [{ next_by_subj: "dg.a.1", multi_last: ["dg.>"] }, "408 Bad Request"],
      [{ seq: 1, start_time: "2020-01-01T00:00:00Z" }, "408 Bad Request"],
      [{ multi_last: ["dg.>"], up_to_seq: 2, up_to_time: "2020-01-01T00:00:00Z" }, "408 Bad Request"],
      [{ seq: "one" }, "408 Malformed Request"],
      [{ seq: 99, batch: 2 }, "404 Message Not Found"],
    ]) {
      const got = await directRaw(nc, "DG", body);
      assert.deepEqual(got.map((m) => m.status), [want], JSON.stringify(body));
    }
  }));

  test("nats.js's getBatch and getLastMessagesFor (which it gates on INFO saying 2.11)", logsOnFailure(async () => {
    assert.ok(nc.features.supports("js_batch_direct_get"), nc.info.version);
    const batch = [];
    for await (const m of await jsm.direct.getBatch("DG", { seq: 1, batch: 4 })) batch.push([m.seq, m.subject, m.string()]);
    assert.deepEqual(batch, [[1, "dg.a.1", "1"], [2, "dg.a.2", "2"], [3, "dg.b.1", "3"], [4, "dg.a.1", "4"]]);
    const lasts = [];
    for await (const m of await jsm.direct.getLastMessagesFor("DG", { multi_last: ["dg.a.*"] })) lasts.push([m.subject, m.string()]);
    assert.deepEqual(lasts, [["dg.a.1", "4"], ["dg.a.2", "5"]]);
  }));
});

// One pull request on the wire: the messages and statuses its inbox gets
// until `n` messages, a terminal status, or `ms`.
async function pullRaw(nc, stream, consumer, body, { n = 1, ms = 1500 } = {}) {
  const inbox = `_INBOX.pg.${Math.random().toString(36).slice(2)}`;
  const sub = nc.subscribe(inbox);
  const out = [];
  const done = (async () => {
    for await (const m of sub) {
      const code = m.headers?.code ?? 0;
      if (code === 100) continue;
      out.push(code ? { status: `${code} ${m.headers.description}` }
        : { data: dec.decode(m.data), pin: m.headers?.get("Nats-Pin-Id") ?? "", reply: m.reply });
      if ((code && code !== 400) || out.filter((x) => !x.status).length >= n) break;
    }
  })();
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, typeof body === "string" ? body : JSON.stringify(body), { reply: inbox });
  await Promise.race([done, sleep(ms)]);
  sub.unsubscribe();
  return out;
}

describe("priority groups (2.11)", { skip }, () => {
  // `plain` is not schema-checked: the upstream consumer_unpin_response
  // schema nests its error one level too deep (error.error), and both
  // servers answer errors as every other API does.
  let srv, nc, plain, jsm, js;
  const create = (name, config) => api(nc, `CONSUMER.CREATE.PG.${name}`, { stream_name: "PG", config: { durable_name: name, ack_policy: "explicit", ...config } });
  before(async () => {
    srv = await startServer();
    nc = checkApiReplies(await connectTo(srv));
    plain = await connectTo(srv);
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
    await jsm.streams.add({ name: "PG", subjects: ["pg.>"] });
    for (let i = 1; i <= 20; i++) await js.publish("pg.x", `${i}`);
  });
  after(async () => {
    await nc?.close();
    await plain?.close();
    await srv?.stop();
  });

  test("consumer config rules and texts; pinned_client's default timeout; info", logsOnFailure(async () => {
    assert.deepEqual((await create("c1", { priority_policy: "overflow" })).error,
      { code: 400, err_code: 10159, description: "Setting PriorityPolicy requires at least one PriorityGroup to be set" });
    assert.deepEqual((await create("c2", { priority_policy: "overflow", priority_groups: ["A"], deliver_subject: "push.c2" })).error,
      { code: 400, err_code: 10178, description: "priority groups can not be used with push consumers" });
    assert.deepEqual((await create("c3", { priority_policy: "pinned_client", priority_groups: [""] })).error,
      { code: 400, err_code: 10161, description: "Group name cannot be an empty string" });
    assert.equal((await create("c4", { priority_policy: "pinned_client", priority_groups: ["way-too-long-group-name"] })).error?.err_code, 10162);
    assert.equal((await create("c5", { priority_policy: "pinned_client", priority_groups: ["a b"] })).error?.err_code, 10162);
    const bad = await create("c6", { priority_policy: "sometimes", priority_groups: ["A"] });
    assert.equal(bad.error?.err_code, 10025);
    assert.match(bad.error.description, /unknown priority policy: "sometimes"/);
    const ok = await create("pin", { priority_policy: "pinned_client", priority_groups: ["A", "B"] });
    assert.equal(ok.error, undefined);
    assert.equal(ok.config.priority_timeout, 120 * SEC);
    assert.deepEqual(ok.config.priority_groups, ["A", "B"]);
    assert.equal(ok.config.priority_policy, "pinned_client");
    assert.deepEqual(ok.priority_groups, [{ group: "A", pinned_ts: "0001-01-01T00:00:00Z" }]);
    const none = await create("plain", {});
    assert.equal(none.config.priority_policy, undefined);
    assert.equal(none.priority_groups, undefined);
  }));

  test("pull requests: group missing or unknown, and fields for another policy", logsOnFailure(async () => {
    await create("ov", { priority_policy: "overflow", priority_groups: ["A"] });
    assert.deepEqual(await pullRaw(nc, "PG", "ov", { batch: 1 }), [{ status: "400 Bad Request - Priority Group missing" }]);
    // A plain (non-JSON) request names no group: an overflow consumer serves it.
    assert.deepEqual((await pullRaw(nc, "PG", "ov", "1")).map((x) => x.data), ["1"]);
    assert.deepEqual(await pullRaw(nc, "PG", "ov", { batch: 1, group: "Z" }), [{ status: "400 Bad Request - Invalid Priority Group" }]);
    // In 2.11 (and Fjord) a warning only: the request is still served;
    // 2.12 ends the request at the first.
    await create("plain2", {});
    const got = await pullRaw(nc, "PG", "plain2", { batch: 1, min_pending: 5, id: "x" });
    assert.deepEqual(got.map((x) => x.status ?? x.data), !isFjord && versionAtLeast(serverVersion, "2.12.0")
      ? ["400 Bad Request - Not a Overflow Priority consumer"]
      : ["400 Bad Request - Not a Overflow Priority consumer", "400 Bad Request - Not a Pinned Client Priority consumer", "1"]);
  }));

  test("overflow: a request with a minimum is served only while the backlog or unacknowledged count reaches it", logsOnFailure(async () => {
    await create("ovf", { priority_policy: "overflow", priority_groups: ["A"] });
    // 20 pending: a minimum of 50 waits and expires.
    assert.deepEqual(await pullRaw(nc, "PG", "ovf", { batch: 1, group: "A", min_pending: 50, expires: 500_000_000 }),
      [{ status: "408 Request Timeout" }]);
    let got = await pullRaw(nc, "PG", "ovf", { batch: 1, group: "A", min_pending: 20 });
    assert.equal(got[0].data, "1");
    // One delivered, unacknowledged: min_ack_pending 2 waits, 1 is served.
    assert.deepEqual(await pullRaw(nc, "PG", "ovf", { batch: 1, group: "A", min_ack_pending: 2, expires: 500_000_000 }),
      [{ status: "408 Request Timeout" }]);
    got = await pullRaw(nc, "PG", "ovf", { batch: 1, group: "A", min_ack_pending: 1 });
    assert.equal(got[0].data, "2");
    // Without a minimum it is served as usual.
    got = await pullRaw(nc, "PG", "ovf", { batch: 2, group: "A" }, { n: 2 });
    assert.deepEqual(got.map((x) => x.data), ["3", "4"]);
  }));

  test("pinned_client: one requester is served, others wait; wrong ids get 423; unpin and timeout move the pin", logsOnFailure(async () => {
    const pins = [];
    // Not schema-checked: the upstream schemas require a `server` field that
    // neither they nor nats-server's advisory structs define.
    const advSub = nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.*.PG.pc", { callback: (_e, m) => { if (/PINNED$/.test(m.subject.split(".")[4])) pins.push(m.json()); } });
    await nc.flush();
    const c = await create("pc", { priority_policy: "pinned_client", priority_groups: ["A"], priority_timeout: 2 * SEC, ack_policy: "none" });
    assert.equal(c.error, undefined);
    let got = await pullRaw(nc, "PG", "pc", { batch: 1, group: "A" });
    const pin = got[0].pin;
    assert.equal(pin.length, 22);
    assert.equal(got[0].data, "1");
    // Another requester without the id waits (and expires), messages or not.
    assert.deepEqual(await pullRaw(nc, "PG", "pc", { batch: 1, group: "A", expires: 400_000_000 }), [{ status: "408 Request Timeout" }]);
    assert.deepEqual(await pullRaw(nc, "PG", "pc", { batch: 1, group: "A", id: "not-the-pin" }), [{ status: "423 Nats-Pin-Id mismatch" }]);
    got = await pullRaw(nc, "PG", "pc", { batch: 2, group: "A", id: pin }, { n: 2 });
    assert.deepEqual(got.map((x) => [x.data, x.pin]), [["2", pin], ["3", pin]]);
    let info = await jsm.consumers.info("PG", "pc");
    assert.equal(info.priority_groups[0].pinned_client_id, pin);
    assert.notEqual(info.priority_groups[0].pinned_ts, "0001-01-01T00:00:00Z");

    // An administrator unpins: the next requester gets a new pin, the old id is refused.
    assert.deepEqual(await api(nc, "CONSUMER.UNPIN.PG.pc", { group: "A" }), { type: "io.nats.jetstream.api.v1.consumer_unpin_response" });
    got = await pullRaw(nc, "PG", "pc", { batch: 1, group: "A" });
    const pin2 = got[0].pin;
    assert.ok(pin2 && pin2 !== pin);
    assert.deepEqual(await pullRaw(nc, "PG", "pc", { batch: 1, group: "A", id: pin }), [{ status: "423 Nats-Pin-Id mismatch" }]);
    assert.equal((await api(plain, "CONSUMER.UNPIN.PG.pc", { group: "B" })).error?.err_code, 10160);
    assert.deepEqual((await api(plain, "CONSUMER.UNPIN.PG.pc", { })).error,
      { code: 400, err_code: 10025, description: "invalid JSON: consumer group not specified" });
    assert.equal((await api(plain, "CONSUMER.UNPIN.PG.nope", { group: "A" })).error?.err_code, 10014);

    // The pinned client stops asking: after priority_timeout the pin lapses,
    // announced on time though no request comes; then someone else is pinned.
    await sleep(2300);
    advSub.unsubscribe();
    assert.deepEqual(pins.map((a) => [a.type.split(".").pop(), a.group, a.pinned_id ?? a.reason]),
      [["consumer_group_pinned", "A", pin], ["consumer_group_unpinned", "A", "admin"],
        ["consumer_group_pinned", "A", pin2], ["consumer_group_unpinned", "A", "timeout"]]);
    got = await pullRaw(nc, "PG", "pc", { batch: 1, group: "A" });
    assert.ok(got[0].pin && got[0].pin !== pin2, JSON.stringify(got));
    info = await jsm.consumers.info("PG", "pc");
    assert.equal(info.priority_groups[0].pinned_client_id, got[0].pin);
  }));

  test("nats.js: a pinned consumer through fetch, and unpin (which it gates on INFO saying 2.11)", logsOnFailure(async () => {
    assert.ok(nc.features.supports("js_priority_groups"), nc.info.version);
    await jsm.consumers.add("PG", { durable_name: "js", ack_policy: "explicit", priority_policy: "pinned_client", priority_groups: ["A"] });
    const c = await js.consumers.get("PG", "js");
    const pins = new Set();
    const data = [];
    for await (const m of await c.fetch({ max_messages: 3, expires: 2000, group: "A" })) {
      pins.add(m.headers?.get("Nats-Pin-Id"));
      data.push(m.string());
      m.ack();
    }
    assert.deepEqual(data, ["1", "2", "3"]);
    assert.equal(pins.size, 1);
    const [pin] = pins;
    assert.equal((await jsm.consumers.info("PG", "js")).priority_groups[0].pinned_client_id, pin);
    await jsm.consumers.unpin("PG", "js", "A");
    assert.equal((await jsm.consumers.info("PG", "js")).priority_groups[0].pinned_client_id, undefined);
  }));
});

describe("API level, versioning metadata and pedantic requests (2.11)", { skip }, () => {
  let srv, nc, plain;
  before(async () => {
    srv = await startServer();
    nc = checkApiReplies(await connectTo(srv));
    plain = await connectTo(srv);
  });
  after(async () => {
    await nc?.close();
    await plain?.close();
    await srv?.stop();
  });

  test("account info reports the API level; configs carry _nats.req.level, replies the server's level", logsOnFailure(async () => {
    const info = await api(nc, "INFO", undefined, "account_info_response");
    assert.ok(info.api.level >= 1, JSON.stringify(info.api));
    const level = String(info.api.level);
    let r = await api(nc, "STREAM.CREATE.LV", { name: "LV", subjects: ["lv.>"], metadata: { owner: "shop", "_nats.req.level": "7", "_nats.ver": "9.9.9" } });
    assert.deepEqual(r.config.metadata, { owner: "shop", "_nats.req.level": "0", "_nats.ver": nc.info.version, "_nats.level": level });
    // The same create again is still the same stream.
    r = await api(nc, "STREAM.CREATE.LV", { name: "LV", subjects: ["lv.>"], metadata: { owner: "shop" } });
    assert.equal(r.error, undefined);
    r = await api(nc, "STREAM.UPDATE.LV", { name: "LV", subjects: ["lv.>"], metadata: { owner: "shop" }, allow_msg_ttl: true });
    assert.equal(r.config.metadata["_nats.req.level"], "1");
    r = await api(nc, "STREAM.INFO.LV");
    assert.equal(r.config.metadata["_nats.ver"], nc.info.version);
    const list = await api(nc, "STREAM.LIST");
    assert.deepEqual(list.streams.find((s) => s.config.name === "LV").config.metadata, { owner: "shop", "_nats.req.level": "1" });

    r = await api(nc, "CONSUMER.CREATE.LV.c0", { stream_name: "LV", config: { durable_name: "c0", ack_policy: "explicit" } });
    assert.deepEqual(r.config.metadata, { "_nats.req.level": "0", "_nats.ver": nc.info.version, "_nats.level": level });
    r = await api(nc, "CONSUMER.CREATE.LV.c1", { stream_name: "LV", config: { durable_name: "c1", ack_policy: "explicit", priority_policy: "overflow", priority_groups: ["A"] } });
    assert.equal(r.config.metadata["_nats.req.level"], "1");
    await api(nc, "CONSUMER.PAUSE.LV.c0", { pause_until: new Date(Date.now() + 60_000).toISOString() });
    r = await api(nc, "CONSUMER.INFO.LV.c0");
    assert.equal(r.config.metadata["_nats.req.level"], "1");
  }));

  test("pausing a consumer is announced, and so is the pause running out", logsOnFailure(async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PA", subjects: ["pa"] });
    await jsm.consumers.add("PA", { durable_name: "c", ack_policy: "explicit" });
    const got = [];
    const sub = nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.PA.c", { callback: (_e, m) => got.push(validate("jetstream/advisory/v1/consumer_pause", m.json())) });
    await nc.flush();
    const until = new Date(Date.now() + 1000);
    await jsm.consumers.pause("PA", "c", until);
    await waitFor(() => got.length === 2, 5000, "the pause and its end announced");
    sub.unsubscribe();
    assert.deepEqual(got.map((a) => [a.stream, a.consumer, a.paused]), [["PA", "c", true], ["PA", "c", false]]);
    assert.equal(Date.parse(got[0].pause_until), until.getTime());
    // Created paused: announced, and so is the end when it comes.
    const later = [];
    const sub2 = nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.PAUSE.PA.d", { callback: (_e, m) => later.push(validate("jetstream/advisory/v1/consumer_pause", m.json())) });
    await nc.flush();
    await jsm.consumers.add("PA", { durable_name: "d", ack_policy: "explicit", pause_until: new Date(Date.now() + 1000).toISOString() });
    await waitFor(() => later.length === 2, 5000, "a pause set at creation, and its end");
    await sleep(300);
    sub2.unsubscribe();
    assert.deepEqual(later.map((a) => [a.consumer, a.paused]), [["d", true], ["d", false]]);
  }));

  test("pedantic creates refuse what would otherwise be filled in (10157)", logsOnFailure(async () => {
    let r = await api(plain, "STREAM.CREATE.PD1", { name: "PD1", subjects: ["pd1"], max_age: 60 * SEC, pedantic: true });
    assert.deepEqual(r.error, { code: 400, err_code: 10157, description: "pedantic mode: duplicate window cannot be bigger than max age" });
    r = await api(plain, "STREAM.CREATE.PD1", { name: "PD1", subjects: ["pd1"], max_age: 60 * SEC });
    assert.equal(r.config.duplicate_window, 60 * SEC);
    r = await api(plain, "STREAM.CREATE.PD2", { name: "PD2", subjects: ["pd2"], republish: { dest: "rp.>" }, pedantic: true });
    assert.deepEqual(r.error, { code: 400, err_code: 10157, description: "pedantic mode: republish source can not be empty" });
    r = await api(plain, "CONSUMER.CREATE.PD1.b", { stream_name: "PD1", pedantic: true, config: { durable_name: "b", ack_policy: "explicit", backoff: [SEC, 2 * SEC], max_deliver: 5 } });
    assert.deepEqual(r.error, { code: 400, err_code: 10157, description: "pedantic mode: first backoff value has to equal batch AckWait" });
    r = await api(plain, "CONSUMER.CREATE.PD1.b", { stream_name: "PD1", pedantic: true, config: { durable_name: "b", ack_policy: "explicit", ack_wait: SEC, backoff: [SEC, 2 * SEC], max_deliver: 5 } });
    assert.equal(r.error, undefined);
    await api(plain, "STREAM.CREATE.PD3", { name: "PD3", subjects: ["pd3"], consumer_limits: { max_ack_pending: 10 } });
    r = await api(plain, "CONSUMER.CREATE.PD3.l", { stream_name: "PD3", pedantic: true, config: { durable_name: "l", ack_policy: "explicit" } });
    assert.deepEqual(r.error, { code: 400, err_code: 10157, description: "pedantic mode: max_ack_pending must be set if it's configured in stream limits" });
  }));
});
