// Buckets written by `fjord` must be readable by the official nats.js KV and
// object store clients and the other way round. Uses the npm packages that
// tests/interop installs; skipped when they are not installed. Also checks
// terminal behaviour (prompts, progress bar) through `script`, when present.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { CLI, json, ok, run, suiteServer, within } from "./helpers.mjs";

const modules = fileURLToPath(new URL("../interop/node_modules/@nats-io/", import.meta.url));
const haveClients = existsSync(join(modules, "obj")) && existsSync(join(modules, "transport-node"));
const load = (pkg, file) => import(new URL(`../interop/node_modules/@nats-io/${pkg}/lib/${file}`, import.meta.url));

describe("fjord and the official nats.js clients share buckets", { skip: !haveClients && "run npm ci in tests/interop" }, () => {
  let nc;
  let dir;
  // Registered ahead of the server's hooks, so the client closes first.
  after(async () => {
    await nc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const srv = suiteServer();
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fjord-cli-interop-"));
    const { connect } = await load("transport-node", "mod.js");
    nc = await within(connect({ servers: srv.url, maxReconnectAttempts: 0 }), 10000, "connect");
  });

  test("object store in both directions", async () => {
    const { Objm } = await load("obj", "mod.js");
    const data = randomBytes(200 * 1024 + 3);
    writeFileSync(join(dir, "a.bin"), data);
    await ok(["object", "add", "SHARED", srv.flag]);
    await ok(["object", "put", "SHARED", join(dir, "a.bin"), "--name", "from/fjord", srv.flag]);
    const os = await within(new Objm(nc).open("SHARED"), 10000, "open bucket");
    const got = await within(os.getBlob("from/fjord"), 10000, "getBlob");
    assert.ok(Buffer.compare(Buffer.from(got), data) === 0);
    const info = await os.info("from/fjord");
    assert.equal(info.size, data.length);

    const js = randomBytes(150 * 1024);
    await within(os.putBlob({ name: "from-js" }, js), 10000, "putBlob");
    const r = await run(["object", "get", "SHARED", "from-js", "-O", "-", srv.flag], { binary: true });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Buffer.compare(r.stdout, js) === 0);
    const names = (await json(["object", "ls", "SHARED", "--json", srv.flag])).map((o) => o.name).sort();
    assert.deepEqual(names, ["from-js", "from/fjord"]);

    await ok(["object", "rm", "SHARED", "from/fjord", "-f", srv.flag]);
    const deleted = await os.info("from/fjord");
    assert.ok(deleted === null || deleted.deleted === true);
    assert.equal(await os.get("from/fjord"), null);
  });

  test("key-value in both directions", async () => {
    const { Kvm } = await load("kv", "mod.js");
    await ok(["kv", "add", "SHAREDKV", "--history", "3", srv.flag]);
    await ok(["kv", "put", "SHAREDKV", "a.b", "from fjord", srv.flag]);
    const kv = await within(new Kvm(nc).open("SHAREDKV"), 10000, "open kv");
    const e = await kv.get("a.b");
    assert.equal(e.string(), "from fjord");
    await kv.put("c", "from js");
    assert.equal(await ok(["kv", "get", "SHAREDKV", "c", "--raw", srv.flag]), "from js");
    await ok(["kv", "del", "SHAREDKV", "a.b", "-f", srv.flag]);
    assert.equal((await kv.get("a.b")).operation, "DEL");
  });
});

const haveScript = spawnSync("script", ["--version"]).status === 0;

// Runs `fjord args` on a pseudo-terminal via script(1), feeding `input`.
function onTerminal(args, input = "") {
  const cmd = [CLI, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { input, timeout: 20000, encoding: "utf8" });
  return { code: r.status, out: r.stdout };
}

describe("on a terminal", { skip: !haveScript && "script(1) is not installed" }, () => {
  const srv = suiteServer();

  test("rm asks for confirmation instead of requiring --force", async () => {
    await ok(["stream", "add", "TTY", "--subjects", "tty", srv.flag]);
    const no = onTerminal(["stream", "rm", "TTY", srv.flag], "n\n");
    assert.notEqual(no.code, 0);
    assert.match(no.out, /Really delete stream TTY \[y\/N\]/);
    const yes = onTerminal(["stream", "rm", "TTY", srv.flag], "y\n");
    assert.equal(yes.code, 0, yes.out);
    assert.match(yes.out, /Stream TTY was deleted/);
  });

  test("missing input is prompted for", async () => {
    const r = onTerminal(["stream", "add", "PROMPTED", srv.flag], "p.one\n");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\? Subjects \(PROMPTED\)/);
    const info = await json(["stream", "info", "PROMPTED", "--json", srv.flag]);
    assert.deepEqual(info.config.subjects, ["p.one"]);
  });

  test("bench draws a progress bar only on a terminal", async () => {
    const r = onTerminal(["bench", "tty.bench", "--msgs", "20000", srv.flag]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\r\s*pub \[=+\] 100%/);
    const quiet = onTerminal(["bench", "tty.bench", "--msgs", "2000", "--no-progress", srv.flag]);
    assert.doesNotMatch(quiet.out, /\[=+/);
  });
});
