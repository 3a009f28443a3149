// Key-value (@nats-io/kv) and object store (@nats-io/obj) on JetStream.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { startServer, within, logsOnFailure } from "./lib/server.mjs";
import { connectTo, checkApiReplies, collect, dec } from "./lib/client.mjs";

describe("key-value store", () => {
  let srv;
  let nc;
  let kvm;
  let jsm;
  before(async () => {
    srv = await startServer();
    nc = checkApiReplies(await connectTo(srv));
    kvm = new Kvm(nc);
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("bucket create maps onto a KV_ stream", logsOnFailure(async () => {
    const kv = await kvm.create("cfg", { history: 5 });
    const st = await kv.status();
    assert.equal(st.bucket, "cfg");
    assert.equal(st.history, 5);
    assert.equal(st.values, 0);
    const si = await jsm.streams.info("KV_cfg");
    assert.deepEqual(si.config.subjects, ["$KV.cfg.>"]);
    assert.equal(si.config.max_msgs_per_subject, 5);
    assert.equal(si.config.allow_rollup_hdrs, true);
    assert.equal(si.config.allow_direct, true);
    assert.equal(si.config.discard, "new");
    // Opening it again finds the same bucket.
    const again = await kvm.open("cfg");
    assert.equal((await again.status()).history, 5);
  }));

  test("put, get, create, update with revision", logsOnFailure(async () => {
    const kv = await kvm.create("rev", { history: 10 });
    const r1 = await kv.put("a.b", "one");
    assert.equal(r1, 1);
    const e = await kv.get("a.b");
    assert.equal(e.string(), "one");
    assert.equal(e.revision, 1);
    assert.equal(e.operation, "PUT");
    assert.equal(e.key, "a.b");
    assert.equal(e.bucket, "rev");
    assert.ok(e.created instanceof Date);
    const r2 = await kv.put("a.b", "two");
    assert.equal(r2, 2);
    assert.equal((await kv.get("a.b")).string(), "two");
    assert.equal((await kv.get("a.b", { revision: 1 })).string(), "one");
    assert.equal(await kv.get("missing"), null);

    const c1 = await kv.create("new.key", "v");
    assert.equal(c1, 3);
    await assert.rejects(within(kv.create("new.key", "again"), 5000, "create"), /wrong last sequence|exists/i);
    const u1 = await kv.update("new.key", "v2", c1);
    assert.equal(u1, 4);
    await assert.rejects(within(kv.update("new.key", "v3", c1), 5000, "update"), /wrong last sequence/i);
    assert.equal((await kv.get("new.key")).string(), "v2");
    // put with previousSeq is an update too.
    const p = await kv.put("new.key", "v3", { previousSeq: u1 });
    assert.equal(p, 5);
    // Binary values survive.
    const bin = new Uint8Array(256).map((_, i) => i);
    await kv.put("bin", bin);
    assert.deepEqual(Buffer.from((await kv.get("bin")).value), Buffer.from(bin));
  }));

  test("delete, purge, keys, history", logsOnFailure(async () => {
    const kv = await kvm.create("del", { history: 10 });
    await kv.put("k1", "a");
    await kv.put("k1", "b");
    await kv.put("k2", "c");
    await kv.put("k3", "d");
    await kv.delete("k2");
    let e = await kv.get("k2");
    assert.ok(e === null || e.operation === "DEL", `deleted entry: ${e?.operation}`);
    // A deleted key can be created again.
    assert.ok((await kv.create("k2", "again")) > 0);
    await kv.purge("k3");
    e = await kv.get("k3");
    assert.ok(e === null || e.operation === "PURGE");
    const keys = await collect(await kv.keys(), 2);
    assert.deepEqual(keys.sort(), ["k1", "k2"]);

    const hist = await collect(await kv.history({ key: "k1" }), 2);
    assert.deepEqual(hist.map((h) => dec.decode(h.value)), ["a", "b"]);
    assert.deepEqual(hist.map((h) => h.operation), ["PUT", "PUT"]);
    const h2 = await collect(await kv.history({ key: "k2" }), 3);
    assert.deepEqual(h2.map((h) => h.operation), ["PUT", "DEL", "PUT"]);
    // Purge keeps only the purge marker.
    const h3 = await collect(await kv.history({ key: "k3" }), 1);
    assert.equal(h3[0].operation, "PURGE");
    const st = await kv.status();
    assert.equal(st.bucket, "del");
  }));

  test("watch sees existing values then live updates and deletes", logsOnFailure(async () => {
    const kv = await kvm.create("watch", { history: 3 });
    await kv.put("w.one", "1");
    await kv.put("w.two", "2");
    const w = await kv.watch({ key: "w.>" });
    const initial = await collect(w, 2);
    assert.deepEqual(initial.map((e) => [e.key, e.string()]), [["w.one", "1"], ["w.two", "2"]]);
    await kv.put("w.three", "3");
    await kv.delete("w.one");
    await kv.put("other", "not watched");
    await kv.put("w.two", "22");
    const live = await collect(w, 3);
    assert.deepEqual(live.map((e) => [e.key, e.operation]), [["w.three", "PUT"], ["w.one", "DEL"], ["w.two", "PUT"]]);
    assert.equal(live[2].string(), "22");
    w.stop();
  }));

  test("bucket list and destroy", logsOnFailure(async () => {
    await kvm.create("gone");
    const names = [];
    for await (const s of kvm.list()) names.push(s.bucket);
    assert.ok(names.includes("gone"), names.join(","));
    const kv = await kvm.open("gone");
    assert.equal(await kv.destroy(), true);
    const after = [];
    for await (const n of jsm.streams.names()) after.push(n);
    assert.ok(!after.includes("KV_gone"));
  }));
});

describe("object store", () => {
  let srv;
  let nc;
  let objm;
  before(async () => {
    srv = await startServer();
    nc = checkApiReplies(await connectTo(srv));
    objm = new Objm(nc);
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("put and get a 5 MiB object; info, list, delete", logsOnFailure(async () => {
    const os = await objm.create("files");
    const size = 5 * 1024 * 1024;
    const data = crypto.randomBytes(size);
    const digest = crypto.createHash("sha256").update(data).digest("base64url");
    const info = await within(os.putBlob({ name: "big.bin", description: "five MiB" }, new Uint8Array(data)), 60000, "put 5 MiB");
    assert.equal(info.size, size);
    assert.equal(info.name, "big.bin");
    assert.ok(info.chunks > 1);
    assert.match(info.digest, new RegExp(`^SHA-256=${digest}=*$`));
    const back = await within(os.getBlob("big.bin"), 60000, "get 5 MiB");
    assert.equal(back.length, size);
    assert.ok(Buffer.from(back).equals(data), "content round trips");

    await os.putBlob({ name: "small.txt" }, new TextEncoder().encode("hello"));
    const si = await os.info("small.txt");
    assert.equal(si.size, 5);
    const list = await os.list();
    assert.deepEqual(list.map((o) => o.name).sort(), ["big.bin", "small.txt"]);
    const st = await os.status();
    assert.equal(st.bucket, "files");
    assert.ok(st.size >= size);

    const del = await os.delete("big.bin");
    assert.equal(del.success, true);
    assert.equal(await os.get("big.bin"), null);
    const deleted = await os.info("big.bin");
    assert.ok(deleted === null || deleted.deleted === true);
    assert.deepEqual((await os.list()).map((o) => o.name), ["small.txt"]);
  }));

  test("watch reports puts and deletes", logsOnFailure(async () => {
    const os = await objm.create("watched");
    await os.putBlob({ name: "a" }, new TextEncoder().encode("1"));
    const w = await os.watch({ includeHistory: true });
    const [first] = await collect(w, 1);
    assert.equal(first.name, "a");
    await os.putBlob({ name: "b" }, new TextEncoder().encode("22"));
    await os.delete("a");
    const ev = await collect(w, 2);
    assert.deepEqual(ev.map((e) => [e.name, !!e.deleted]), [["b", false], ["a", true]]);
    assert.equal(ev[0].size, 2);
    w.stop();
  }));
});
