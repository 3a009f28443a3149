// Runs the libnats (C client) program in c/ against a started server. It is
// compiled into <repo>/build-interop/ when missing or older than its source.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { repoRoot, startServer, logsOnFailure } from "./lib/server.mjs";

const run = promisify(execFile);
const src = path.join(repoRoot, "tests/interop/c/libnats_interop.c");
const buildDir = path.join(repoRoot, "build-interop");
const bin = path.join(buildDir, "libnats_interop");

async function build() {
  if (fs.existsSync(bin) && fs.statSync(bin).mtimeMs >= fs.statSync(src).mtimeMs) return;
  fs.mkdirSync(buildDir, { recursive: true });
  const { stdout } = await run("pkg-config", ["--cflags", "--libs", "libnats"], { timeout: 10000 });
  const flags = stdout.trim().split(/\s+/).filter(Boolean);
  await run("cc", ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-o", bin, src, ...flags], { timeout: 120000 });
}

test("libnats: pub/sub, request/reply, headers, queue groups, JetStream pull", logsOnFailure(async () => {
  await build();
  const srv = await startServer();
  try {
    const res = await run(bin, [srv.url], { timeout: 60000 }).catch((e) => e);
    assert.equal(res.code ?? 0, 0, `libnats_interop failed (${res.signal ?? res.code}):\n${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /all checks passed/);
  } finally {
    await srv.stop();
  }
}));
