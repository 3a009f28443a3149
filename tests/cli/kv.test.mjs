// `fjord kv ...` against a live server.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { background, json, ok, run, suiteServer } from "./helpers.mjs";

describe("fjord kv", () => {
  const srv = suiteServer();

  test("add creates the KV_ stream with the bucket settings", async () => {
    const out = await ok(["kv", "add", "CFG", "--history", "5", "--ttl", "1h", "--description", "config", srv.flag]);
    assert.match(out, /Information for Key-Value Store Bucket CFG/);
    assert.match(out, /History Kept: 5/);
    const info = await json(["kv", "info", "CFG", "--json", srv.flag]);
    assert.equal(info.type, "io.nats.jetstream.api.v1.stream_info_response");
    assert.equal(info.config.name, "KV_CFG");
    assert.deepEqual(info.config.subjects, ["$KV.CFG.>"]);
    assert.equal(info.config.max_msgs_per_subject, 5);
    assert.equal(info.config.max_age, 3600e9);
    assert.equal(info.config.allow_rollup_hdrs, true);
    assert.equal(info.config.deny_delete, true);
  });

  test("put and get values", async () => {
    assert.equal(await ok(["kv", "put", "CFG", "db.host", "localhost", srv.flag]), "localhost\n");
    await ok(["kv", "put", "CFG", "db.host", "db1", srv.flag]);
    await ok(["kv", "put", "CFG", "db.port", srv.flag], { input: "5432" });
    assert.equal(await ok(["kv", "get", "CFG", "db.host", "--raw", srv.flag]), "db1");
    assert.equal(await ok(["kv", "get", "CFG", "db.port", "--raw", srv.flag]), "5432");
    const human = await ok(["kv", "get", "CFG", "db.host", srv.flag]);
    assert.match(human, /CFG > db\.host revision: 2 created @ /);
    assert.equal(await ok(["kv", "get", "CFG", "db.host", "--revision", "1", "--raw", srv.flag]), "localhost");
  });

  test("missing keys and buckets are errors", async () => {
    const key = await run(["kv", "get", "CFG", "nope", srv.flag]);
    assert.notEqual(key.code, 0);
    assert.match(key.stderr, /^fjord: error: key nope not found/m);
    const bucket = await run(["kv", "get", "NOBUCKET", "k", srv.flag]);
    assert.notEqual(bucket.code, 0);
    assert.match(bucket.stderr, /^fjord: error: bucket NOBUCKET not found/m);
  });

  test("ls lists buckets and keys", async () => {
    await ok(["kv", "add", "OTHER", srv.flag]);
    const names = (await ok(["kv", "ls", "--names", srv.flag])).trim().split("\n").sort();
    assert.deepEqual(names, ["CFG", "OTHER"]);
    assert.match(await ok(["kv", "ls", srv.flag]), /Key-Value Buckets/);
    const keys = await json(["kv", "ls", "CFG", "--json", srv.flag]);
    assert.deepEqual(keys.sort(), ["db.host", "db.port"]);
    const empty = await run(["kv", "ls", "OTHER", srv.flag]);
    assert.equal(empty.code, 0);
    assert.match(empty.stderr, /No keys found/);
  });

  test("history shows every revision", async () => {
    const hist = await json(["kv", "history", "CFG", "db.host", "--json", srv.flag]);
    assert.deepEqual(hist.map((h) => [h.revision, h.operation, h.value]), [[1, "PUT", "localhost"], [2, "PUT", "db1"]]);
    assert.match(await ok(["kv", "history", "CFG", "db.host", srv.flag]), /History for CFG > db\.host/);
  });

  test("watch prints current values and updates", async () => {
    const w = background(["kv", "watch", "CFG", "db.*", "--count", "3", srv.flag]);
    await w.waitFor(/PUT CFG > db\.port: 5432/);
    await ok(["kv", "put", "CFG", "db.user", "admin", srv.flag]);
    const r = await w.done;
    assert.equal(r.code, 0);
    assert.match(r.stdout, /PUT CFG > db\.host: db1/);
    assert.match(r.stdout, /PUT CFG > db\.user: admin/);
  });

  test("del removes a key, with --force outside a terminal", async () => {
    const refused = await run(["kv", "del", "CFG", "db.user", srv.flag]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /--force is required/);
    await ok(["kv", "del", "CFG", "db.user", "-f", srv.flag]);
    const gone = await run(["kv", "get", "CFG", "db.user", srv.flag]);
    assert.notEqual(gone.code, 0);
    const keys = await json(["kv", "ls", "CFG", "--json", srv.flag]);
    assert.ok(!keys.includes("db.user"));
  });

  test("create and update are conditional; purge drops the history", async () => {
    await ok(["kv", "create", "CFG", "fresh", "v1", srv.flag]);
    const again = await run(["kv", "create", "CFG", "fresh", "v2", srv.flag]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /^fjord: error: could not create fresh: key exists/m);
    const [first] = await json(["kv", "history", "CFG", "fresh", "--json", srv.flag]);
    const stale = await run(["kv", "update", "CFG", "fresh", "v2", String(first.revision + 100), srv.flag]);
    assert.notEqual(stale.code, 0);
    assert.match(stale.stderr, /wrong last sequence/);
    await ok(["kv", "update", "CFG", "fresh", "v2", String(first.revision), srv.flag]);
    assert.equal(await ok(["kv", "get", "CFG", "fresh", "--raw", srv.flag]), "v2");
    await ok(["kv", "purge", "CFG", "fresh", "-f", srv.flag]);
    const hist = await json(["kv", "history", "CFG", "fresh", "--json", srv.flag]);
    assert.deepEqual(hist.map((h) => h.operation), ["PURGE"]);
  });

  test("rm removes a bucket", async () => {
    const refused = await run(["kv", "rm", "OTHER", srv.flag]);
    assert.notEqual(refused.code, 0);
    await ok(["kv", "rm", "OTHER", "-f", srv.flag]);
    const names = (await ok(["kv", "ls", "--names", srv.flag])).trim().split("\n");
    assert.deepEqual(names, ["CFG"]);
    const again = await run(["kv", "rm", "OTHER", "-f", srv.flag]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /bucket OTHER not found/);
  });
});
