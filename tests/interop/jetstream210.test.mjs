// The 2.10 feature level (issue 13 §2), through nats.js: stream and source
// subject transforms with the mapping functions, core mappings with them,
// consumer_limits, metadata, first_seq, compression, the 2.10 consumer
// rules. Runs against Fjord and any nats-server from 2.10 on; skipped on
// older references.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { jetstreamManager, jetstream, AckPolicy, DiscardPolicy, StoreCompression } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { startServer, logsOnFailure, waitFor, serverVersion, versionAtLeast } from "./lib/server.mjs";
import { connectTo, checkApiReplies, collect, api } from "./lib/client.mjs";

const HAS_210 = versionAtLeast(serverVersion, "2.10.0");
const skip = !HAS_210 && `nats-server ${serverVersion} predates 2.10`;
const SEC = 1_000_000_000;

// nats-server's partition function: FNV-1a 32 of the named tokens, mod n.
function partition(n, ...tokens) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(tokens.join(""))) {
    h ^= b;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return String(h % n);
}

async function subjectsOf(jsm, stream) {
  const si = await jsm.streams.info(stream);
  const out = [];
  for (let seq = si.state.first_seq; seq <= si.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    out.push(m.subject);
  }
  return out;
}

describe("the 2.10 feature level", { skip }, () => {
  let srv, nc, jsm, js;
  before(async () => {
    srv = await startServer({
      config: `mappings {
  "shard.*": "shard.{{partition(3,1)}}.{{wildcard(1)}}"
  "split.*": "split.{{splitfromleft(1,2)}}"
}
`,
    });
    nc = checkApiReplies(await connectTo(srv));
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("INFO advertises a 2.10 server, so nats.js turns its 2.10 features on", () => {
    assert.ok(versionAtLeast(nc.info.version, "2.10.0"), nc.info.version);
    for (const f of ["js_stream_subject_transform", "js_stream_first_seq", "js_stream_compression",
      "js_default_consumer_limits", "js_multiple_consumer_filter", "js_stream_consumer_metadata"]) {
      assert.ok(nc.features.supports(f), f);
    }
  });

  test("a stream's subject transform renames messages as they are stored", logsOnFailure(async () => {
    await jsm.streams.add({
      name: "TR", subjects: ["in.>"],
      subject_transform: { src: "in.*.*", dest: "orders.{{wildcard(2)}}.{{partition(4,1)}}.{{wildcard(1)}}" },
    });
    const cities = ["oslo", "bergen", "tromso", "bodo", "alta"];
    for (const c of cities) {
      const ack = await js.publish(`in.${c}.created`, c);
      assert.equal(ack.stream, "TR");
    }
    // A subject the transform's source does not match is stored unchanged.
    await js.publish("in.x", "kept");
    assert.deepEqual(await subjectsOf(jsm, "TR"),
      [...cities.map((c) => `orders.created.${partition(4, c)}.${c}`), "in.x"]);
    const si = await jsm.streams.info("TR");
    assert.deepEqual(si.config.subject_transform, { src: "in.*.*", dest: "orders.{{wildcard(2)}}.{{partition(4,1)}}.{{wildcard(1)}}" });
    // Consumers filter on the stored names (outside the stream's subjects,
    // which 2.10 allows).
    await jsm.consumers.add("TR", { durable_name: "oslo", ack_policy: AckPolicy.Explicit, filter_subject: "orders.*.*.oslo" });
    const c = await js.consumers.get("TR", "oslo");
    const m = await c.next({ expires: 3000 });
    assert.equal(m?.subject, `orders.created.${partition(4, "oslo")}.oslo`);
    m.ack();
    // Updating the transform applies to later messages.
    await jsm.streams.update("TR", { subject_transform: { src: "in.>", dest: "v2.>" } });
    await js.publish("in.oslo.created", "v2");
    const last = await jsm.streams.getMessage("TR", { last_by_subj: "v2.>" });
    assert.equal(last.subject, "v2.oslo.created");
  }));

  test("a bad subject transform is refused", logsOnFailure(async () => {
    const bad = await api(nc, "STREAM.CREATE.BADTR",
      { name: "BADTR", subjects: ["b.>"], subject_transform: { src: "b.*", dest: "x.{{nosuch(1)}}" } },
      "stream_create_response");
    assert.ok(bad.error, JSON.stringify(bad));
    assert.match(bad.error.description, /unknown function/);
    const out = await api(nc, "STREAM.CREATE.BADTR2",
      { name: "BADTR2", subjects: ["b2.>"], subject_transform: { src: "b2.*", dest: "x.$2" } },
      "stream_create_response");
    assert.ok(out.error, JSON.stringify(out));
  }));

  test("sources take several filters, each with its own rename, and one stream can be sourced twice", logsOnFailure(async () => {
    await jsm.streams.add({ name: "ORIGIN", subjects: ["o.>"] });
    for (const s of ["o.a.1", "o.b.x", "o.c.1", "o.a.2", "o.b.y"]) await js.publish(s, s);
    await jsm.streams.add({
      name: "COPY", subjects: ["copy.local"],
      sources: [
        { name: "ORIGIN", subject_transforms: [{ src: "o.a.>", dest: "copy.a.>" }, { src: "o.b.*", dest: "copy.{{wildcard(1)}}" }] },
        { name: "ORIGIN", filter_subject: "o.c.>" },
      ],
    });
    await waitFor(async () => (await jsm.streams.info("COPY")).state.messages === 5, 10_000, "5 sourced messages");
    const subjects = await subjectsOf(jsm, "COPY");
    assert.deepEqual([...subjects].sort(), ["copy.a.1", "copy.a.2", "copy.x", "copy.y", "o.c.1"]);
    const si = await jsm.streams.info("COPY");
    assert.equal(si.sources.length, 2);
    const withTr = si.sources.find((s) => s.subject_transforms);
    assert.deepEqual(withTr.subject_transforms, [{ src: "o.a.>", dest: "copy.a.>" }, { src: "o.b.*", dest: "copy.{{wildcard(1)}}" }]);
    for (const s of si.sources) assert.equal(s.lag, 0);
    // Each source's messages carry its own position.
    const m = await jsm.streams.getMessage("COPY", { last_by_subj: "o.c.1" });
    // 2.10's form (2.11+ append the original subject and more).
    assert.equal(m.header.get("Nats-Stream-Source").split(" ").slice(0, 4).join(" "), "ORIGIN 3 o.c.> >");
  }));

  test("source and mirror transform rules (10144, 10147, 10150, 10152)", logsOnFailure(async () => {
    const create = (name, body) => api(nc, `STREAM.CREATE.${name}`, { name, ...body }, "stream_create_response");
    let r = await create("R1", { sources: [{ name: "ORIGIN", filter_subject: "o.a.>", subject_transforms: [{ src: "o.b.>", dest: "" }] }] });
    assert.equal(r.error?.err_code, 10144, JSON.stringify(r));
    r = await create("R2", { sources: [{ name: "ORIGIN", subject_transforms: [{ src: "o.>", dest: "" }, { src: "o.a", dest: "" }] }] });
    assert.equal(r.error?.err_code, 10147, JSON.stringify(r));
    r = await create("R3", { mirror: { name: "ORIGIN", filter_subject: "o.a.>", subject_transforms: [{ src: "o.b.>", dest: "" }] } });
    assert.equal(r.error?.err_code, 10150, JSON.stringify(r));
    r = await create("R4", { mirror: { name: "ORIGIN", subject_transforms: [{ src: "o.>", dest: "" }, { src: "o.a.*", dest: "" }] } });
    assert.equal(r.error?.err_code, 10152, JSON.stringify(r));
    r = await create("R5", { sources: [{ name: "ORIGIN" }, { name: "ORIGIN" }] });
    assert.equal(r.error?.err_code, 10140, JSON.stringify(r));
  }));

  test("a mirror with subject transforms keeps the origin's sequences", logsOnFailure(async () => {
    await jsm.streams.add({ name: "MO", subjects: ["mo.>"] });
    for (const s of ["mo.a.1", "mo.b.x", "mo.c.1", "mo.a.2", "mo.b.y"]) await js.publish(s, s);
    await jsm.streams.add({ name: "MIR", mirror: { name: "MO", subject_transforms: [{ src: "mo.a.*", dest: "m.{{wildcard(1)}}" }] } });
    await waitFor(async () => (await jsm.streams.info("MIR")).state.messages === 2, 10_000, "2 mirrored");
    console.log(JSON.stringify((await jsm.streams.info("MIR")).state));
    assert.equal((await jsm.streams.getMessage("MIR", { seq: 1 })).subject, "m.1");
    assert.equal((await jsm.streams.getMessage("MIR", { seq: 4 })).subject, "m.2");
  }));

  test("core mappings take the mapping functions", logsOnFailure(async () => {
    const sub = nc.subscribe("shard.*.*");
    const split = nc.subscribe("split.>");
    await nc.flush();
    const keys = ["oslo", "bergen", "k1", "k2", "k3", "k4"];
    for (const k of keys) nc.publish(`shard.${k}`, k);
    nc.publish("split.abcdef", "");
    const got = await collect(sub, keys.length);
    assert.deepEqual(got.map((m) => m.subject), keys.map((k) => `shard.${partition(3, k)}.${k}`));
    const [s] = await collect(split, 1);
    assert.equal(s.subject, "split.ab.cdef");
  }));

  test("consumer_limits fill a consumer's defaults and cap its settings (10121, 10153)", logsOnFailure(async () => {
    await jsm.streams.add({ name: "LIM", subjects: ["lim"], consumer_limits: { max_ack_pending: 50, inactive_threshold: 30 * SEC } });
    const si = await jsm.streams.info("LIM");
    assert.deepEqual(si.config.consumer_limits, { max_ack_pending: 50, inactive_threshold: 30 * SEC });
    const ci = await jsm.consumers.add("LIM", { durable_name: "d", ack_policy: AckPolicy.Explicit });
    assert.equal(ci.config.max_ack_pending, 50);
    assert.equal(ci.config.inactive_threshold, 30 * SEC);
    let r = await api(nc, "CONSUMER.CREATE.LIM.big", { stream_name: "LIM", config: { name: "big", ack_policy: "explicit", max_ack_pending: 100 } }, "consumer_create_response");
    assert.equal(r.error?.err_code, 10121, JSON.stringify(r));
    r = await api(nc, "CONSUMER.CREATE.LIM.idle", { stream_name: "LIM", config: { name: "idle", ack_policy: "explicit", inactive_threshold: 60 * SEC } }, "consumer_create_response");
    assert.equal(r.error?.err_code, 10153, JSON.stringify(r));
  }));

  test("metadata, first_seq, compression and discard new per subject round-trip and act", logsOnFailure(async () => {
    const si = await jsm.streams.add({
      name: "F", subjects: ["f.>"], first_seq: 100, compression: StoreCompression.S2,
      metadata: { owner: "shop" }, discard: DiscardPolicy.New, discard_new_per_subject: true, max_msgs_per_subject: 1,
    });
    assert.equal(si.config.compression, "s2");
    assert.equal(si.config.metadata.owner, "shop");
    assert.equal(si.config.first_seq, 100);
    assert.ok(Date.parse(si.ts) > 0, "StreamInfo.ts");
    const a = await js.publish("f.a", "1");
    assert.equal(a.seq, 100);
    await assert.rejects(js.publish("f.a", "2"), /maximum messages per subject exceeded/);
    assert.equal((await js.publish("f.b", "1")).seq, 101);
    const ci = await jsm.consumers.add("F", { durable_name: "m", ack_policy: AckPolicy.Explicit, metadata: { team: "invoicing" } });
    assert.equal(ci.config.metadata.team, "invoicing");
    assert.ok(Date.parse(ci.ts) > 0, "ConsumerInfo.ts");
  }));

  test("a key-value bucket with compression", logsOnFailure(async () => {
    const kvm = new Kvm(nc);
    const kv = await kvm.create("CK", { compression: true });
    await kv.put("order.1", "created");
    assert.equal((await kv.get("order.1")).string(), "created");
    const st = await kv.status();
    assert.equal(st.compression, true);
  }));

  test("backoff with an unlimited or equal max_deliver is accepted, fewer deliveries than steps are not (2.10.23+)", logsOnFailure(async () => {
    await jsm.streams.add({ name: "BO", subjects: ["bo"] });
    const create = (name, extra) => api(nc, `CONSUMER.CREATE.BO.${name}`,
      { stream_name: "BO", config: { name, ack_policy: "explicit", backoff: [SEC, 2 * SEC], ...extra } }, "consumer_create_response");
    if (versionAtLeast(serverVersion, "2.10.23")) {
      assert.equal((await create("unlimited", {})).error, undefined);
      assert.equal((await create("equal", { max_deliver: 2 })).error, undefined);
    }
    assert.equal((await create("fewer", { max_deliver: 1 })).error?.err_code, 10116);
  }));
});

// Compression through nats.js, judged from outside: the same orders take
// far less disk in a stream with `compression: s2` than in one without,
// and read back whole after a restart. (Blocks are compressed as they are
// sealed, so enough is published to seal a few.)
describe("stream compression on disk", { skip }, () => {
  test("the story's orders: less than half the disk, the same messages after a restart", logsOnFailure(async () => {
    const srv = await startServer();
    let nc;
    try {
      nc = await connectTo(srv);
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      const N = 100_000;
      const order = (i) => JSON.stringify({
        order_id: `ord-${100000 + i}`, city: "oslo", customer: `c-${(i * 7919) % 5000}`,
        items: [{ sku: `sku-${i % 97}`, qty: 1 + (i % 4), price: 100 + (i % 900) }], total: 100 + (i % 900),
        created: `2026-12-05T10:${String(i % 60).padStart(2, "0")}:00Z`,
      });
      for (const [name, compression] of [["RAW", StoreCompression.None], ["ZIP", StoreCompression.S2]]) {
        await jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`], compression });
        for (let i = 0; i < N; i += 1000) {
          const acks = [];
          for (let j = i; j < i + 1000; j++) acks.push(js.publish(`${name.toLowerCase()}.orders.oslo.created`, order(j)));
          await Promise.all(acks);
        }
      }
      const disk = (name) => {
        const dir = path.join(srv.storeDir, "jetstream", "$G", "streams", name);
        let n = 0;
        for (const f of fs.readdirSync(dir, { recursive: true })) {
          const st = fs.statSync(path.join(dir, f));
          if (st.isFile()) n += st.size;
        }
        return n;
      };
      const raw = disk("RAW"), zip = disk("ZIP");
      assert.ok(raw > 10 * 1024 * 1024, `raw ${raw}`);
      assert.ok(zip < raw / 2, `compressed ${zip} bytes against ${raw}`);
      // StreamInfo counts the messages' own bytes in both, as nats-server does.
      const [ri, zi] = [await jsm.streams.info("RAW"), await jsm.streams.info("ZIP")];
      assert.equal(zi.state.messages, N);
      assert.equal(zi.state.bytes, ri.state.bytes);
      await nc.close();
      await srv.restart();
      nc = await connectTo(srv);
      const jsm2 = await jetstreamManager(nc);
      assert.equal((await jsm2.streams.info("ZIP")).state.messages, N);
      for (let seq = 1; seq <= N; seq += 997) {
        const m = await jsm2.streams.getMessage("ZIP", { seq });
        assert.equal(m.string(), order(seq - 1), `seq ${seq}`);
      }
      // And in order, through a consumer, every one of them.
      const c = await jetstream(nc).consumers.get("ZIP");
      const it = await c.consume({ max_messages: 5000 });
      let want = 0;
      for await (const m of it) {
        assert.equal(m.string(), order(want), `seq ${m.seq}`);
        if (++want === N) break;
      }
      assert.equal(want, N);
    } finally {
      await nc?.close();
      await srv.stop();
    }
  }));
});
