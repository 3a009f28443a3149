// `fjord object ...` against a live server, including the on-the-wire layout
// other clients rely on (OBJ_<bucket>, $O.<bucket>.C/M subjects, digests).
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { json, ok, run, suiteServer } from "./helpers.mjs";

// Go's base64.URLEncoding: URL alphabet, with padding.
const b64url = (buf) => Buffer.from(buf).toString("base64").replaceAll("+", "-").replaceAll("/", "_");

describe("fjord object", () => {
  const srv = suiteServer();
  let dir;
  const blob = randomBytes(300 * 1024 + 17);
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fjord-cli-obj-"));
    writeFileSync(join(dir, "blob.bin"), blob);
  });
  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("add creates the OBJ_ stream", async () => {
    const created = await json(["object", "add", "FILES", "--description", "files", "--json", srv.flag]);
    assert.equal(created.type, "io.nats.jetstream.api.v1.stream_create_response");
    assert.equal(created.config.name, "OBJ_FILES");
    assert.deepEqual(created.config.subjects, ["$O.FILES.C.>", "$O.FILES.M.>"]);
    assert.equal(created.config.allow_rollup_hdrs, true);
    assert.equal(created.config.discard, "new");
  });

  test("put stores chunks and metadata in the standard layout", async () => {
    const info = await json(["object", "put", "FILES", join(dir, "blob.bin"), "--name", "data/blob.bin", "--json", srv.flag]);
    assert.equal(info.name, "data/blob.bin");
    assert.equal(info.bucket, "FILES");
    assert.equal(info.size, blob.length);
    assert.equal(info.chunks, 3);
    assert.equal(info.digest, `SHA-256=${b64url(createHash("sha256").update(blob).digest())}`);
    assert.match(info.nuid, /^[0-9A-Za-z]{22}$/);
    const meta = `$O.FILES.M.${b64url("data/blob.bin")}`;
    const raw = await json(["stream", "get", "OBJ_FILES", "--last-for", meta, "--json", srv.flag]);
    const stored = JSON.parse(Buffer.from(raw.message.data, "base64").toString());
    assert.equal(stored.nuid, info.nuid);
    assert.match(Buffer.from(raw.message.hdrs, "base64").toString(), /Nats-Rollup: sub/);
  });

  test("get returns the same bytes", async () => {
    const r = await run(["object", "get", "FILES", "data/blob.bin", "-O", "-", srv.flag], { binary: true });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Buffer.compare(r.stdout, blob) === 0);
    const out = join(dir, "copy.bin");
    await ok(["object", "get", "FILES", "data/blob.bin", "-O", out, srv.flag]);
    assert.ok(Buffer.compare(readFileSync(out), blob) === 0);
    const exists = await run(["object", "get", "FILES", "data/blob.bin", "-O", out, srv.flag]);
    assert.notEqual(exists.code, 0);
    assert.match(exists.stderr, /exists, use --force/);
  });

  test("a second put replaces the object and drops the old chunks", async () => {
    await ok(["object", "put", "FILES", "--name", "data/blob.bin", srv.flag], { input: "small now" });
    const info = await json(["stream", "info", "OBJ_FILES", "--json", srv.flag]);
    assert.equal(info.state.messages, 2); // one chunk + one metadata message
    const r = await run(["object", "get", "FILES", "data/blob.bin", "-O", "-", srv.flag]);
    assert.equal(r.stdout, "small now");
  });

  test("ls and info show objects and buckets", async () => {
    await ok(["object", "put", "FILES", join(dir, "blob.bin"), "--name", "second", srv.flag]);
    const list = await json(["object", "ls", "FILES", "--json", srv.flag]);
    assert.deepEqual(list.map((o) => o.name).sort(), ["data/blob.bin", "second"]);
    assert.match(await ok(["object", "ls", "FILES", srv.flag]), /Bucket Contents/);
    assert.deepEqual((await ok(["object", "ls", "--names", srv.flag])).trim().split("\n"), ["FILES"]);
    const info = await json(["object", "info", "FILES", "second", "--json", srv.flag]);
    assert.equal(info.size, blob.length);
    assert.match(await ok(["object", "info", "FILES", srv.flag]), /Information for Object Store Bucket FILES/);
  });

  test("rm marks the object deleted and purges its chunks", async () => {
    const refused = await run(["object", "rm", "FILES", "second", srv.flag]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /--force is required/);
    await ok(["object", "rm", "FILES", "second", "-f", srv.flag]);
    const r = await run(["object", "get", "FILES", "second", "-O", "-", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fjord: error: object second not found/m);
    const list = await json(["object", "ls", "FILES", "--json", srv.flag]);
    assert.deepEqual(list.map((o) => o.name), ["data/blob.bin"]);
  });

  test("unknown buckets are errors; rm without a name removes the bucket", async () => {
    const r = await run(["object", "ls", "NOPE", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bucket NOPE not found/);
    const put = await run(["object", "put", "NOPE", join(dir, "blob.bin"), srv.flag]);
    assert.notEqual(put.code, 0);
    await ok(["object", "rm", "FILES", "-f", srv.flag]);
    const gone = await run(["object", "info", "FILES", srv.flag]);
    assert.notEqual(gone.code, 0);
  });
});
