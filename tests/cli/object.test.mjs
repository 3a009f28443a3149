// `fjord object ...` against a live server, including the on-the-wire layout
// other clients rely on (OBJ_<bucket>, $O.<bucket>.C/M subjects, digests).
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { json, ok, run, startServer } from "./helpers.mjs";

// Go's base64.URLEncoding: URL alphabet, with padding.
const b64url = (buf) => Buffer.from(buf).toString("base64").replaceAll("+", "-").replaceAll("/", "_");

describe("fjord object", () => {
  let srv;
  let s;
  let dir;
  const blob = randomBytes(300 * 1024 + 17);
  before(async () => {
    srv = await startServer();
    s = `--server=${srv.url}`;
    dir = mkdtempSync(join(tmpdir(), "fjord-cli-obj-"));
    writeFileSync(join(dir, "blob.bin"), blob);
  });
  after(async () => {
    await srv?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("add creates the OBJ_ stream", async () => {
    const created = await json(["object", "add", "FILES", "--description", "files", "--json", s]);
    assert.equal(created.type, "io.nats.jetstream.api.v1.stream_create_response");
    assert.equal(created.config.name, "OBJ_FILES");
    assert.deepEqual(created.config.subjects, ["$O.FILES.C.>", "$O.FILES.M.>"]);
    assert.equal(created.config.allow_rollup_hdrs, true);
    assert.equal(created.config.discard, "new");
  });

  test("put stores chunks and metadata in the standard layout", async () => {
    const info = await json(["object", "put", "FILES", join(dir, "blob.bin"), "--name", "data/blob.bin", "--json", s]);
    assert.equal(info.name, "data/blob.bin");
    assert.equal(info.bucket, "FILES");
    assert.equal(info.size, blob.length);
    assert.equal(info.chunks, 3);
    assert.equal(info.digest, `SHA-256=${b64url(createHash("sha256").update(blob).digest())}`);
    assert.match(info.nuid, /^[0-9A-Za-z]{22}$/);
    const meta = `$O.FILES.M.${b64url("data/blob.bin")}`;
    const raw = await json(["stream", "get", "OBJ_FILES", "--last-for", meta, "--json", s]);
    const stored = JSON.parse(Buffer.from(raw.message.data, "base64").toString());
    assert.equal(stored.nuid, info.nuid);
    assert.match(Buffer.from(raw.message.hdrs, "base64").toString(), /Nats-Rollup: sub/);
  });

  test("get returns the same bytes", async () => {
    const r = await run(["object", "get", "FILES", "data/blob.bin", "-O", "-", s], { binary: true });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Buffer.compare(r.stdout, blob) === 0);
    const out = join(dir, "copy.bin");
    await ok(["object", "get", "FILES", "data/blob.bin", "-O", out, s]);
    assert.ok(Buffer.compare(readFileSync(out), blob) === 0);
    const exists = await run(["object", "get", "FILES", "data/blob.bin", "-O", out, s]);
    assert.notEqual(exists.code, 0);
    assert.match(exists.stderr, /exists, use --force/);
  });

  test("a second put replaces the object and drops the old chunks", async () => {
    await ok(["object", "put", "FILES", "--name", "data/blob.bin", s], { input: "small now" });
    const info = await json(["stream", "info", "OBJ_FILES", "--json", s]);
    assert.equal(info.state.messages, 2); // one chunk + one metadata message
    const r = await run(["object", "get", "FILES", "data/blob.bin", "-O", "-", s]);
    assert.equal(r.stdout, "small now");
  });

  test("ls and info show objects and buckets", async () => {
    await ok(["object", "put", "FILES", join(dir, "blob.bin"), "--name", "second", s]);
    const list = await json(["object", "ls", "FILES", "--json", s]);
    assert.deepEqual(list.map((o) => o.name).sort(), ["data/blob.bin", "second"]);
    assert.match(await ok(["object", "ls", "FILES", s]), /Bucket Contents/);
    assert.deepEqual((await ok(["object", "ls", "--names", s])).trim().split("\n"), ["FILES"]);
    const info = await json(["object", "info", "FILES", "second", "--json", s]);
    assert.equal(info.size, blob.length);
    assert.match(await ok(["object", "info", "FILES", s]), /Information for Object Store Bucket FILES/);
  });

  test("rm marks the object deleted and purges its chunks", async () => {
    const refused = await run(["object", "rm", "FILES", "second", s]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /--force is required/);
    await ok(["object", "rm", "FILES", "second", "-f", s]);
    const r = await run(["object", "get", "FILES", "second", "-O", "-", s]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fjord: error: object second not found/m);
    const list = await json(["object", "ls", "FILES", "--json", s]);
    assert.deepEqual(list.map((o) => o.name), ["data/blob.bin"]);
  });

  test("unknown buckets are errors; rm without a name removes the bucket", async () => {
    const r = await run(["object", "ls", "NOPE", s]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bucket NOPE not found/);
    const put = await run(["object", "put", "NOPE", join(dir, "blob.bin"), s]);
    assert.notEqual(put.code, 0);
    await ok(["object", "rm", "FILES", "-f", s]);
    const gone = await run(["object", "info", "FILES", s]);
    assert.notEqual(gone.code, 0);
  });
});
