// The 2.12 stream features (issue 13 §3): counters (`allow_msg_counter`,
// `Nats-Incr`, sourced totals), through nats.js on the wire.
// Runs against Fjord and any nats-server from 2.12 on (FJORD_BIN pointing
// at one); skipped on older.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { startServer, logsOnFailure, waitFor, serverVersion, versionAtLeast, isFjord, validate } from "./lib/server.mjs";
import { connectTo, checkApiReplies, api, rejectsCode, rawPub, dec } from "./lib/client.mjs";

const skip = !isFjord && !versionAtLeast(serverVersion, "2.12.0") && `nats-server ${serverVersion} predates 2.12`;

// The PubAck of one increment (schema-checked).
async function incr(nc, subject, by, extra = {}, data = "") {
  const ack = await rawPub(nc, subject, data, { "Nats-Incr": by, ...extra });
  validate("jetstream/api/v1/pub_ack_response.json", ack);
  return ack;
}

describe("counters (2.12)", { skip }, () => {
  let srv, nc, jsm;
  before(async () => {
    srv = await startServer();
    nc = checkApiReplies(await connectTo(srv));
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("config rules and texts", logsOnFailure(async () => {
    const si = await jsm.streams.add({ name: "CC1", subjects: ["cc1.>"], allow_msg_counter: true });
    assert.equal(si.config.allow_msg_counter, true);
    // Counters need API level 2.
    assert.equal(si.config.metadata["_nats.req.level"], "2");
    await rejectsCode(jsm.streams.update("CC1", { subjects: ["cc1.>"], allow_msg_counter: false }), 10052,
      /^stream configuration update can not change message counter setting$/);
    await rejectsCode(jsm.streams.add({ name: "CC2", subjects: ["cc2.>"], allow_msg_counter: true, discard: "new" }), 10052,
      /^counter stream cannot use discard new$/);
    await rejectsCode(jsm.streams.add({ name: "CC2", subjects: ["cc2.>"], allow_msg_counter: true, allow_msg_ttl: true }), 10052,
      /^counter stream cannot use message TTLs$/);
    await rejectsCode(jsm.streams.add({ name: "CC2", subjects: ["cc2.>"], allow_msg_counter: true, retention: "interest" }), 10052,
      /^counter stream can only use limits retention$/);
    await rejectsCode(jsm.streams.add({ name: "CC2", mirror: { name: "CC1" }, allow_msg_counter: true }), 10173,
      /^stream mirrors can not also calculate counters$/);
    // A plain stream does not take increments.
    await jsm.streams.add({ name: "PLAIN", subjects: ["plain.>"] });
    const r = await incr(nc, "plain.a", "1");
    assert.deepEqual(r.error, { code: 400, err_code: 10168, description: "message counters is disabled" });
  }));

  test("increments add up exactly, per subject, beyond 64 bits", logsOnFailure(async () => {
    await jsm.streams.add({ name: "CNT", subjects: ["cnt.>"], allow_msg_counter: true });
    let ack = await incr(nc, "cnt.a", "1");
    assert.deepEqual(ack, { stream: "CNT", seq: 1, val: "1" });
    ack = await incr(nc, "cnt.a", "+41");
    assert.deepEqual(ack, { stream: "CNT", seq: 2, val: "42" });
    ack = await incr(nc, "cnt.b", "-7");
    assert.deepEqual(ack, { stream: "CNT", seq: 3, val: "-7" });
    ack = await incr(nc, "cnt.a", "-0042");
    assert.equal(ack.val, "0");
    // Past int64 and back.
    ack = await incr(nc, "cnt.big", "9223372036854775807");
    ack = await incr(nc, "cnt.big", "9223372036854775807");
    assert.equal(ack.val, "18446744073709551614");
    ack = await incr(nc, "cnt.big", "123456789012345678901234567890");
    assert.equal(ack.val, "123456789030792422974944119504");
    ack = await incr(nc, "cnt.big", "-123456789030792422974944119505");
    assert.equal(ack.val, "-1");
    // The stored message is the total; the header says what was added.
    const sm = await jsm.streams.getMessage("CNT", { last_by_subj: "cnt.b" });
    assert.equal(sm.string(), '{"val":"-7"}');
    assert.equal(sm.header.get("Nats-Incr"), "-7");
    const si = await jsm.streams.info("CNT");
    assert.equal(si.state.messages, 8);
  }));

  test("refused increments: missing, with a payload, invalid, with expectations", logsOnFailure(async () => {
    await jsm.streams.add({ name: "CNE", subjects: ["cne.>"], allow_msg_counter: true });
    let r = await rawPub(nc, "cne.a", "x");
    assert.deepEqual(r.error, { code: 400, err_code: 10169, description: "message counter increment is missing" });
    r = await rawPub(nc, "cne.a", "", { "Nats-Msg-Id": "m1" });
    assert.equal(r.error?.err_code, 10169);
    r = await incr(nc, "cne.a", "1", {}, "payload");
    assert.deepEqual(r.error, { code: 400, err_code: 10170, description: "message counter has payload" });
    for (const bad of ["abc", "1.5", "1e3", "0x10", "--1", "+", "1 2"]) {
      r = await incr(nc, "cne.a", bad);
      assert.deepEqual(r.error, { code: 400, err_code: 10171, description: "message counter increment is invalid" }, bad);
    }
    for (const h of [{ "Nats-Rollup": "sub" }, { "Nats-Expected-Stream": "CNE" }, { "Nats-Expected-Last-Sequence": "0" },
      { "Nats-Expected-Last-Subject-Sequence": "0" }, { "Nats-Expected-Last-Msg-Id": "x" }]) {
      r = await incr(nc, "cne.a", "1", h);
      assert.equal(r.error?.err_code, 10171, JSON.stringify(h));
    }
    // Nothing was stored; a msg id still deduplicates an increment.
    assert.equal((await jsm.streams.info("CNE")).state.messages, 0);
    r = await incr(nc, "cne.a", "5", { "Nats-Msg-Id": "once" });
    assert.deepEqual(r, { stream: "CNE", seq: 1, val: "5" });
    r = await incr(nc, "cne.a", "5", { "Nats-Msg-Id": "once" });
    assert.deepEqual(r, { stream: "CNE", seq: 1, duplicate: true });
    r = await incr(nc, "cne.a", "0");
    assert.deepEqual(r, { stream: "CNE", seq: 2, val: "5" });
  }));

  test("a counter stream sourcing two others sums their totals", logsOnFailure(async () => {
    await jsm.streams.add({ name: "EU", subjects: ["eu.>"], allow_msg_counter: true });
    await jsm.streams.add({ name: "US", subjects: ["us.>"], allow_msg_counter: true });
    await incr(nc, "eu.orders", "3");
    await incr(nc, "eu.orders", "4");
    await incr(nc, "us.orders", "10");
    await jsm.streams.add({
      name: "ALL", allow_msg_counter: true,
      sources: [
        { name: "EU", subject_transforms: [{ src: "eu.>", dest: "all.>" }] },
        { name: "US", subject_transforms: [{ src: "us.>", dest: "all.>" }] },
      ],
    });
    const total = async () => {
      try {
        const sm = await jsm.streams.getMessage("ALL", { last_by_subj: "all.orders" });
        return JSON.parse(sm.string()).val;
      } catch {
        return undefined;
      }
    };
    await waitFor(async () => (await total()) === "17", 10000, "ALL reaches 17");
    // Each source's last total is kept; a new one adds only the change.
    await incr(nc, "us.orders", "-2");
    await incr(nc, "eu.orders", "100");
    await waitFor(async () => (await total()) === "115", 10000, "ALL reaches 115");
    const sm = await jsm.streams.getMessage("ALL", { last_by_subj: "all.orders" });
    assert.deepEqual(JSON.parse(sm.header.get("Nats-Counter-Sources")), { EU: { "eu.orders": "107" }, US: { "us.orders": "8" } });
    // The stored increment is the change the source saw.
    assert.equal(sm.header.get("Nats-Incr"), "100");
    assert.match(sm.header.get("Nats-Stream-Source"), /^EU \d+ /);
    // A plain message in a source is not a counter: skipped, the rest flows.
    await jsm.streams.add({ name: "MIX", subjects: ["mix.>"] });
    await api(nc, "STREAM.UPDATE.ALL", {
      name: "ALL", allow_msg_counter: true,
      sources: [
        { name: "EU", subject_transforms: [{ src: "eu.>", dest: "all.>" }] },
        { name: "US", subject_transforms: [{ src: "us.>", dest: "all.>" }] },
        { name: "MIX" },
      ],
    });
    await nc.request("mix.x", "not a counter");
    await incr(nc, "eu.orders", "1");
    await waitFor(async () => (await total()) === "116", 10000, "ALL reaches 116");
    assert.equal(await jsm.streams.getMessage("ALL", { last_by_subj: "mix.x" }), null);
  }));

  test("totals continue after a restart", logsOnFailure(async () => {
    await jsm.streams.add({ name: "CR", subjects: ["cr.>"], allow_msg_counter: true, storage: "file" });
    await incr(nc, "cr.a", "20");
    await nc.close();
    await srv.restart();
    nc = checkApiReplies(await connectTo(srv));
    jsm = await jetstreamManager(nc);
    const ack = await incr(nc, "cr.a", "22");
    assert.deepEqual(ack, { stream: "CR", seq: 2, val: "42" });
    assert.equal((await jsm.streams.info("CR")).config.allow_msg_counter, true);
  }));
});
