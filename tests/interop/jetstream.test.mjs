// JetStream streams through @nats-io/jetstream (jsm + js clients). Every API
// reply the clients receive is validated against its JSON Schema
// (checkApiReplies); raw requests are used where exact err_codes matter.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { headers } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import { startServer, within, sleep, waitFor, versionAtLeast, logsOnFailure } from "./lib/server.mjs";
import { connectTo, checkApiReplies, api, enc, dec, rejectsCode, rawPub } from "./lib/client.mjs";

const SEC = 1_000_000_000;

describe("jetstream streams", () => {
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

  test("account info", logsOnFailure(async () => {
    const ai = await jsm.getAccountInfo();
    assert.equal(typeof ai.memory, "number");
    assert.equal(typeof ai.storage, "number");
    assert.equal(typeof ai.streams, "number");
    assert.equal(ai.limits.max_streams, -1);
    const raw = await api(nc, "INFO", undefined, "account_info_response");
    assert.equal(raw.type, "io.nats.jetstream.api.v1.account_info_response");
    assert.equal(raw.error, undefined);
    assert.ok(raw.api.total >= 1);
  }));

  test("stream create, info, update, list, names, delete", logsOnFailure(async () => {
    const si = await jsm.streams.add({ name: "CRUD", subjects: ["crud.>"] });
    assert.equal(si.config.name, "CRUD");
    assert.deepEqual(si.config.subjects, ["crud.>"]);
    // Defaults the server must fill in.
    assert.equal(si.config.retention, "limits");
    assert.equal(si.config.storage, "file");
    assert.equal(si.config.discard, "old");
    assert.equal(si.config.max_msgs, -1);
    assert.equal(si.config.max_bytes, -1);
    assert.equal(si.config.max_msg_size, -1);
    assert.equal(si.config.max_consumers, -1);
    assert.equal(si.config.max_msgs_per_subject, -1);
    assert.equal(si.config.num_replicas, 1);
    assert.equal(si.config.duplicate_window, 120 * SEC);
    assert.equal(si.state.messages, 0);
    assert.ok(Date.parse(si.created) > 0);

    // Same config again is fine; a different one is 10058.
    await jsm.streams.add({ name: "CRUD", subjects: ["crud.>"] });
    await rejectsCode(jsm.streams.add({ name: "CRUD", subjects: ["crud.>"], max_msgs: 5 }), 10058);

    await js.publish("crud.a", "1");
    const info = await jsm.streams.info("CRUD");
    assert.equal(info.state.messages, 1);
    assert.equal(info.state.first_seq, 1);
    assert.equal(info.state.last_seq, 1);

    const up = await jsm.streams.update("CRUD", { subjects: ["crud.>", "crud2.*"], max_msgs: 1000, description: "updated" });
    assert.deepEqual(up.config.subjects, ["crud.>", "crud2.*"]);
    assert.equal(up.config.max_msgs, 1000);
    assert.equal(up.config.description, "updated");
    assert.equal(up.state.messages, 1);
    await rejectsCode(jsm.streams.update("CRUD", { storage: "memory" }), 10052, /storage/);
    await rejectsCode(jsm.streams.update("NOPE_NOT_THERE", { subjects: ["nope"] }), 10059);

    await jsm.streams.add({ name: "CRUD_B", subjects: ["crudb"] });
    const names = [];
    for await (const n of jsm.streams.names()) names.push(n);
    assert.ok(names.includes("CRUD") && names.includes("CRUD_B"), names.join(","));
    const filtered = [];
    for await (const n of jsm.streams.names("crud2.x")) filtered.push(n);
    assert.deepEqual(filtered, ["CRUD"]);
    const listed = [];
    for await (const s of jsm.streams.list()) listed.push(s);
    const crud = listed.find((s) => s.config.name === "CRUD");
    assert.equal(crud.state.messages, 1);
    assert.equal(await jsm.streams.find("crudb"), "CRUD_B");

    const rawNames = await api(nc, "STREAM.NAMES", { subject: "nothing.here" }, "stream_names_response");
    assert.equal(rawNames.total, 0);
    assert.ok(rawNames.streams === null || rawNames.streams.length === 0);

    assert.equal(await jsm.streams.delete("CRUD_B"), true);
    await rejectsCode(jsm.streams.info("CRUD_B"), 10059);
    const raw = await api(nc, "STREAM.INFO.CRUD_B", undefined, "stream_info_response");
    assert.deepEqual(raw.error, { code: 404, err_code: 10059, description: "stream not found" });
    const rawDel = await api(nc, "STREAM.DELETE.CRUD_B", undefined, "stream_delete_response");
    assert.equal(rawDel.error.err_code, 10059);
  }));

  test("every StreamConfig field round-trips", logsOnFailure(async () => {
    const cfg = {
      name: "FULL",
      description: "all the fields",
      subjects: ["full.a.*", "full.b.>"],
      retention: "limits",
      max_consumers: 10,
      max_msgs: 1000,
      max_bytes: 1 << 20,
      max_age: 3600 * SEC,
      max_msgs_per_subject: 5,
      max_msg_size: 2048,
      discard: "new",
      storage: "memory",
      num_replicas: 1,
      duplicate_window: 60 * SEC,
      deny_delete: true,
      deny_purge: true,
      allow_rollup_hdrs: false,
      allow_direct: true,
    };
    const si = await jsm.streams.add(cfg);
    for (const [k, v] of Object.entries(cfg)) assert.deepEqual(si.config[k], v, `field ${k}`);
    const again = await jsm.streams.info("FULL");
    for (const [k, v] of Object.entries(cfg)) assert.deepEqual(again.config[k], v, `field ${k} in info`);

    const rollup = await jsm.streams.add({ name: "FULL_R", subjects: ["fullr.>"], allow_rollup_hdrs: true, discard: "old" });
    assert.equal(rollup.config.allow_rollup_hdrs, true);
    // Rollups need purge permission.
    await rejectsCode(jsm.streams.add({ name: "FULL_RX", subjects: ["fullrx"], allow_rollup_hdrs: true, deny_purge: true }), 10052);

    for (const retention of ["interest", "workqueue"]) {
      const r = await jsm.streams.add({ name: `RET_${retention}`, subjects: [`ret.${retention}`], retention });
      assert.equal(r.config.retention, retention);
    }
    // deny_delete / deny_purge cannot be cleared.
    await rejectsCode(jsm.streams.update("FULL", { ...cfg, deny_delete: false }), 10052);
  }));

  test("2.10+ StreamConfig fields: metadata, compression, first_seq, subject_transform", logsOnFailure(async (t) => {
    if (!versionAtLeast(version, "2.10.0")) return t.skip(`server ${version} < 2.10`);
    const si = await jsm.streams.add({
      name: "META",
      subjects: ["meta.>"],
      metadata: { owner: "fjord", team: "core" },
      compression: "s2",
      first_seq: 100,
      subject_transform: { src: "meta.>", dest: "metax.>" },
    });
    assert.equal(si.config.metadata.owner, "fjord");
    assert.equal(si.config.metadata.team, "core");
    assert.equal(si.config.compression, "s2");
    assert.equal(si.config.first_seq, 100);
    assert.deepEqual(si.config.subject_transform, { src: "meta.>", dest: "metax.>" });
    const ack = await js.publish("meta.x", "1");
    assert.equal(ack.seq, 100);
    const m = await jsm.streams.getMessage("META", { seq: 100 });
    assert.equal(m.subject, "metax.x");
  }));

  test("overlapping subjects are rejected", logsOnFailure(async () => {
    await jsm.streams.add({ name: "OV1", subjects: ["ov.>"] });
    await rejectsCode(jsm.streams.add({ name: "OV2", subjects: ["ov.a"] }), 10065);
    await rejectsCode(jsm.streams.add({ name: "OV3", subjects: ["ov.*", "x.y"] }), 10065);
    // Overlap inside one stream's own list.
    await rejectsCode(jsm.streams.add({ name: "OV4", subjects: ["ov4.*", "ov4.a"] }), 10052);
    const raw = await api(nc, "STREAM.CREATE.OV5", { name: "OV5", subjects: ["ov.b.c"] }, "stream_create_response");
    assert.deepEqual(raw.error, { code: 400, err_code: 10065, description: "subjects overlap with an existing stream" });
    const mismatch = await api(nc, "STREAM.CREATE.OV6", { name: "OTHER", subjects: ["ov6"] }, "stream_create_response");
    assert.equal(mismatch.error.err_code, 10056);
  }));

  test("publish, PubAck and msg-id dedupe", logsOnFailure(async () => {
    await jsm.streams.add({ name: "PUB", subjects: ["pub.>"] });
    const a1 = await js.publish("pub.a", "one");
    assert.equal(a1.stream, "PUB");
    assert.equal(a1.seq, 1);
    assert.equal(a1.duplicate, false);
    const a2 = await js.publish("pub.b", "two", { msgID: "id-1" });
    assert.equal(a2.seq, 2);
    const a3 = await js.publish("pub.b", "two again", { msgID: "id-1" });
    assert.equal(a3.seq, 2);
    assert.equal(a3.duplicate, true);
    const raw = await rawPub(nc, "pub.c", "x", { "Nats-Msg-Id": "id-1" });
    assert.deepEqual(raw, { stream: "PUB", seq: 2, duplicate: true });
    const a4 = await js.publish("pub.c", "three", { msgID: "id-2" });
    assert.equal(a4.seq, 3);
    const si = await jsm.streams.info("PUB");
    assert.equal(si.state.messages, 3);
    assert.equal(si.state.last_seq, 3);
    // Plain publish without a reply is stored too.
    nc.publish("pub.d", "fire and forget");
    await waitFor(async () => (await jsm.streams.info("PUB")).state.messages === 4, 5000, "4 messages");
  }));

  test("expected-stream / last-seq / last-subject-seq / last-msg-id errors", logsOnFailure(async () => {
    await jsm.streams.add({ name: "EXP", subjects: ["exp.>"] });
    await js.publish("exp.a", "1", { msgID: "m1" });
    await js.publish("exp.b", "2", { msgID: "m2" });
    await rejectsCode(js.publish("exp.a", "x", { expect: { streamName: "OTHER" } }), 10060);
    assert.deepEqual(await rawPub(nc, "exp.a", "x", { "Nats-Expected-Stream": "OTHER" }),
      { error: { code: 400, err_code: 10060, description: "expected stream does not match" }, stream: "EXP", seq: 0 });
    await rejectsCode(js.publish("exp.a", "x", { expect: { lastSequence: 1 } }), 10071);
    assert.deepEqual(await rawPub(nc, "exp.a", "x", { "Nats-Expected-Last-Sequence": "1" }),
      { error: { code: 400, err_code: 10071, description: "wrong last sequence: 2" }, stream: "EXP", seq: 0 });
    await rejectsCode(js.publish("exp.a", "x", { expect: { lastSubjectSequence: 2 } }), 10071);
    assert.deepEqual(await rawPub(nc, "exp.a", "x", { "Nats-Expected-Last-Subject-Sequence": "0" }),
      { error: { code: 400, err_code: 10071, description: "wrong last sequence: 1" }, stream: "EXP", seq: 0 });
    await rejectsCode(js.publish("exp.a", "x", { expect: { lastMsgID: "m1" } }), 10070);
    assert.deepEqual(await rawPub(nc, "exp.a", "x", { "Nats-Expected-Last-Msg-Id": "nope" }),
      { error: { code: 400, err_code: 10070, description: "wrong last msg ID: m2" }, stream: "EXP", seq: 0 });
    // The matching expectations succeed.
    const ok = await js.publish("exp.a", "3", {
      expect: { streamName: "EXP", lastSequence: 2, lastSubjectSequence: 1, lastMsgID: "m2" },
    });
    assert.equal(ok.seq, 3);
    const first = await js.publish("exp.new", "4", { expect: { lastSubjectSequence: 0 } });
    assert.equal(first.seq, 4);
    assert.equal((await jsm.streams.info("EXP")).state.messages, 4);
  }));

  test("rollup by subject and of the whole stream", logsOnFailure(async () => {
    await jsm.streams.add({ name: "ROLL", subjects: ["roll.>"], allow_rollup_hdrs: true });
    for (let i = 0; i < 3; i++) await js.publish("roll.a", `a${i}`);
    for (let i = 0; i < 2; i++) await js.publish("roll.b", `b${i}`);
    const h = headers();
    h.set("Nats-Rollup", "sub");
    await js.publish("roll.a", "a-rolled", { headers: h });
    let si = await jsm.streams.info("ROLL", { subjects_filter: ">" });
    assert.equal(si.state.messages, 3);
    assert.deepEqual(si.state.subjects, { "roll.a": 1, "roll.b": 2 });
    const h2 = headers();
    h2.set("Nats-Rollup", "all");
    const ack = await js.publish("roll.c", "everything", { headers: h2 });
    si = await jsm.streams.info("ROLL");
    assert.equal(si.state.messages, 1);
    assert.equal(si.state.first_seq, ack.seq);

    await jsm.streams.add({ name: "NOROLL", subjects: ["noroll"] });
    assert.deepEqual(await rawPub(nc, "noroll", "x", { "Nats-Rollup": "sub" }),
      { error: { code: 500, err_code: 10111, description: "rollup not permitted" }, stream: "NOROLL", seq: 0 });
  }));

  test("max_msgs with discard old and discard new, max_msg_size, max_bytes, per-subject", logsOnFailure(async () => {
    await jsm.streams.add({ name: "OLD", subjects: ["old"], max_msgs: 3, discard: "old" });
    for (let i = 1; i <= 5; i++) await js.publish("old", `${i}`);
    let si = await jsm.streams.info("OLD");
    assert.equal(si.state.messages, 3);
    assert.equal(si.state.first_seq, 3);
    assert.equal(si.state.last_seq, 5);

    await jsm.streams.add({ name: "NEW", subjects: ["new"], max_msgs: 2, discard: "new" });
    await js.publish("new", "1");
    await js.publish("new", "2");
    assert.deepEqual(await rawPub(nc, "new", "3"),
      { error: { code: 503, err_code: 10077, description: "maximum messages exceeded" }, stream: "NEW", seq: 0 });
    await rejectsCode(js.publish("new", "3"), 10077);
    si = await jsm.streams.info("NEW");
    assert.equal(si.state.messages, 2);
    assert.equal(si.state.last_seq, 2);

    await jsm.streams.add({ name: "SIZE", subjects: ["size"], max_msg_size: 10 });
    await js.publish("size", "0123456789");
    assert.deepEqual(await rawPub(nc, "size", "0123456789a"),
      { error: { code: 400, err_code: 10054, description: "message size exceeds maximum allowed" }, stream: "SIZE", seq: 0 });

    await jsm.streams.add({ name: "BYTES", subjects: ["bytes"], max_bytes: 100, discard: "new" });
    await js.publish("bytes", "x".repeat(40));
    const over = await rawPub(nc, "bytes", "x".repeat(80));
    assert.equal(over.error?.err_code, 10077);
    assert.equal(over.error?.description, "maximum bytes exceeded");

    await jsm.streams.add({ name: "PERSUBJ", subjects: ["ps.*"], max_msgs_per_subject: 2 });
    for (let i = 0; i < 4; i++) await js.publish("ps.a", `${i}`);
    await js.publish("ps.b", "b");
    si = await jsm.streams.info("PERSUBJ", { subjects_filter: ">" });
    assert.deepEqual(si.state.subjects, { "ps.a": 2, "ps.b": 1 });
    assert.equal(si.state.messages, 3);
  }));

  test("max_age expires messages", logsOnFailure(async () => {
    await jsm.streams.add({ name: "AGE", subjects: ["age"], max_age: SEC, duplicate_window: SEC / 2 });
    await js.publish("age", "short-lived");
    assert.equal((await jsm.streams.info("AGE")).state.messages, 1);
    await waitFor(async () => (await jsm.streams.info("AGE")).state.messages === 0, 6000, "expiry");
  }));

  test("sealed stream: update-only, forces deny flags, rejects publishes", logsOnFailure(async () => {
    const raw = await api(nc, "STREAM.CREATE.SEAL", { name: "SEAL", subjects: ["seal"], sealed: true }, "stream_create_response");
    assert.equal(raw.error?.err_code, 10052);
    const cfg = (await jsm.streams.add({ name: "SEAL", subjects: ["seal"] })).config;
    await js.publish("seal", "1");
    const si = await jsm.streams.update("SEAL", { ...cfg, sealed: true });
    assert.equal(si.config.sealed, true);
    assert.equal(si.config.deny_delete, true);
    assert.equal(si.config.deny_purge, true);
    assert.deepEqual(await rawPub(nc, "seal", "2"),
      { error: { code: 400, err_code: 10109, description: "invalid operation on sealed stream" }, stream: "SEAL", seq: 0 });
    await rejectsCode(jsm.streams.update("SEAL", { ...si.config, sealed: false }), 10052);
    await rejectsCode(jsm.streams.purge("SEAL"), 10109);
    assert.equal((await jsm.streams.info("SEAL")).state.messages, 1);
  }));

  test("purge: all, by subject, up to seq, keep", logsOnFailure(async () => {
    await jsm.streams.add({ name: "PRG", subjects: ["prg.*"] });
    const fill = async () => {
      for (let i = 0; i < 3; i++) await js.publish("prg.a", `a${i}`);
      for (let i = 0; i < 3; i++) await js.publish("prg.b", `b${i}`);
    };
    await fill();
    let r = await jsm.streams.purge("PRG", { filter: "prg.a" });
    assert.equal(r.success, true);
    assert.equal(r.purged, 3);
    r = await jsm.streams.purge("PRG", { filter: "prg.b", keep: 1 });
    assert.equal(r.purged, 2);
    let si = await jsm.streams.info("PRG");
    assert.equal(si.state.messages, 1);
    assert.equal(si.state.last_seq, 6);
    await fill(); // seqs 7..12
    r = await jsm.streams.purge("PRG", { seq: 10 }); // removes < 10
    assert.equal(r.purged, 4);
    si = await jsm.streams.info("PRG");
    assert.equal(si.state.first_seq, 10);
    assert.equal(si.state.messages, 3);
    r = await jsm.streams.purge("PRG", { keep: 1 });
    assert.equal(r.purged, 2);
    const rawBad = await api(nc, "STREAM.PURGE.PRG", { seq: 5, keep: 1 }, "stream_purge_response");
    assert.equal(rawBad.error?.err_code, 10003);
    const all = await api(nc, "STREAM.PURGE.PRG", undefined, "stream_purge_response");
    assert.deepEqual(all, { type: "io.nats.jetstream.api.v1.stream_purge_response", success: true, purged: 1 });
    si = await jsm.streams.info("PRG");
    assert.equal(si.state.messages, 0);
    assert.equal(si.state.last_seq, 12);
    assert.equal(si.state.first_seq, 13);
    const next = await js.publish("prg.a", "after");
    assert.equal(next.seq, 13);
    await jsm.streams.add({ name: "NOPRG", subjects: ["noprg"], deny_purge: true });
    await rejectsCode(jsm.streams.purge("NOPRG"), 10110);
  }));

  test("msg get by seq, last by subject, next by subject; msg delete", logsOnFailure(async () => {
    await jsm.streams.add({ name: "GET", subjects: ["get.*"] });
    await js.publish("get.a", "a1");
    const h = headers();
    h.set("H1", "v1");
    await js.publish("get.b", "b1", { headers: h });
    await js.publish("get.a", "a2");
    await js.publish("get.b", "b2");

    const m1 = await jsm.streams.getMessage("GET", { seq: 2 });
    assert.equal(m1.subject, "get.b");
    assert.equal(m1.seq, 2);
    assert.equal(m1.string(), "b1");
    assert.equal(m1.header.get("H1"), "v1");
    assert.ok(m1.time instanceof Date && !isNaN(m1.time));
    const last = await jsm.streams.getMessage("GET", { last_by_subj: "get.a" });
    assert.equal(last.seq, 3);
    assert.equal(last.string(), "a2");
    const next = await jsm.streams.getMessage("GET", { next_by_subj: "get.b", seq: 3 });
    assert.equal(next.seq, 4);

    const raw = await api(nc, "STREAM.MSG.GET.GET", { seq: 1 }, "stream_msg_get_response");
    assert.equal(raw.message.subject, "get.a");
    assert.equal(raw.message.seq, 1);
    assert.equal(Buffer.from(raw.message.data, "base64").toString(), "a1");
    const rawH = await api(nc, "STREAM.MSG.GET.GET", { seq: 2 }, "stream_msg_get_response");
    assert.equal(Buffer.from(rawH.message.hdrs, "base64").toString(), "NATS/1.0\r\nH1: v1\r\n\r\n");
    const missing = await api(nc, "STREAM.MSG.GET.GET", { seq: 99 }, "stream_msg_get_response");
    assert.deepEqual(missing.error, { code: 404, err_code: 10037, description: "no message found" });
    const bad = await api(nc, "STREAM.MSG.GET.GET", {}, "stream_msg_get_response");
    assert.equal(bad.error?.err_code, 10003);
    assert.equal(await jsm.streams.getMessage("GET", { seq: 99 }), null);

    assert.equal(await jsm.streams.deleteMessage("GET", 2), true);
    assert.equal(await jsm.streams.deleteMessage("GET", 3, false), true);
    const del = await api(nc, "STREAM.MSG.DELETE.GET", { seq: 2 }, "stream_msg_delete_response");
    assert.deepEqual(del.error, { code: 400, err_code: 10043, description: "sequence 2 not found" });
    const si = await jsm.streams.info("GET");
    assert.equal(si.state.messages, 2);
    assert.equal(si.state.num_deleted, 2);
    assert.equal(await jsm.streams.getMessage("GET", { seq: 2 }), null);

    await jsm.streams.add({ name: "NODEL", subjects: ["nodel"], deny_delete: true });
    await js.publish("nodel", "x");
    await rejectsCode(jsm.streams.deleteMessage("NODEL", 1), 10057);
  }));

  test("direct get", logsOnFailure(async () => {
    await jsm.streams.add({ name: "DIR", subjects: ["dir.*"], allow_direct: true });
    await js.publish("dir.a", "a1");
    const h = headers();
    h.set("H1", "v1");
    await js.publish("dir.b", "b1", { headers: h });
    await js.publish("dir.a", "a2");
    const m = await jsm.direct.getMessage("DIR", { seq: 2 });
    assert.equal(m.subject, "dir.b");
    assert.equal(m.seq, 2);
    assert.equal(m.string(), "b1");
    assert.equal(m.header.get("H1"), "v1");
    assert.equal(m.stream, "DIR");
    const last = await jsm.direct.getMessage("DIR", { last_by_subj: "dir.a" });
    assert.equal(last.seq, 3);
    assert.equal(last.string(), "a2");
    // Raw reply: the stored message with Nats-* headers appended.
    const r = await nc.request("$JS.API.DIRECT.GET.DIR", JSON.stringify({ seq: 1 }), { timeout: 5000 });
    assert.equal(dec.decode(r.data), "a1");
    assert.equal(r.headers.get("Nats-Stream"), "DIR");
    assert.equal(r.headers.get("Nats-Subject"), "dir.a");
    assert.equal(r.headers.get("Nats-Sequence"), "1");
    assert.match(r.headers.get("Nats-Time-Stamp"), /^\d{4}-\d\d-\d\dT/);
    const bySubj = await nc.request("$JS.API.DIRECT.GET.DIR.dir.b", "", { timeout: 5000 });
    assert.equal(dec.decode(bySubj.data), "b1");
    assert.equal(bySubj.headers.get("Nats-Sequence"), "2");
    const nf = await nc.request("$JS.API.DIRECT.GET.DIR", JSON.stringify({ seq: 99 }), { timeout: 5000 });
    assert.equal(nf.headers.code, 404);
    assert.equal(nf.data.length, 0);
    assert.equal(await jsm.direct.getMessage("DIR", { seq: 99 }), null);
  }));

  test("file stream survives a restart", logsOnFailure(async () => {
    await jsm.streams.add({ name: "PERSIST", subjects: ["persist.>"], storage: "file", max_msgs_per_subject: 10, description: "kept" });
    const payloads = [];
    for (let i = 0; i < 50; i++) {
      const h = headers();
      h.set("Idx", String(i));
      const p = `payload-${i}-${"x".repeat(i)}`;
      payloads.push(p);
      await js.publish(`persist.${i % 5}`, p, { headers: h, msgID: `p-${i}` });
    }
    await jsm.streams.deleteMessage("PERSIST", 7);
    const before = await jsm.streams.info("PERSIST");
    await nc.close();
    await srv.restart();
    nc = checkApiReplies(await connectTo(srv));
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
    const after = await waitFor(async () => jsm.streams.info("PERSIST"), 10000, "stream after restart");
    assert.equal(after.config.description, "kept");
    assert.equal(after.config.max_msgs_per_subject, 10);
    for (const k of ["messages", "bytes", "first_seq", "last_seq", "num_deleted"]) {
      assert.equal(after.state[k], before.state[k], `state.${k}`);
    }
    assert.equal(after.state.first_ts, before.state.first_ts);
    assert.equal(after.state.last_ts, before.state.last_ts);
    for (const seq of [1, 6, 8, 50]) {
      const m = await jsm.streams.getMessage("PERSIST", { seq });
      assert.equal(m.string(), payloads[seq - 1]);
      assert.equal(m.header.get("Idx"), String(seq - 1));
    }
    assert.equal(await jsm.streams.getMessage("PERSIST", { seq: 7 }), null);
    // Dedupe state survives too, and sequences continue.
    const dup = await js.publish("persist.0", "again", { msgID: "p-49" });
    assert.equal(dup.duplicate, true);
    assert.equal(dup.seq, 50);
    const nxt = await js.publish("persist.0", "next");
    assert.equal(nxt.seq, 51);
  }));

  test("every API reply seen by the clients was schema-validated", () => {
    assert.ok(nc.apiChecked > 5, `validated ${nc.apiChecked}`);
  });
});

describe("jetstream disabled", () => {
  test("clients report JetStream not enabled; $JS.API has no responders", logsOnFailure(async () => {
    const srv = await startServer({ jetstream: false });
    const nc = await connectTo(srv);
    try {
      assert.ok(!nc.info.jetstream, "INFO does not advertise jetstream");
      await assert.rejects(within(jetstreamManager(nc), 10000, "jetstreamManager"), /jetstream.*not enabled|no responders|503/i);
      await assert.rejects(nc.request("$JS.API.INFO", "", { timeout: 3000 }), (e) => e.isNoResponders?.() === true);
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));
});
