// Runs the libnats (C client) program c/libnats_interop.c against a started
// server (built by lib/cprog.mjs).

import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, logsOnFailure } from "./lib/server.mjs";
import { buildC, run } from "./lib/cprog.mjs";

test("libnats: pub/sub, request/reply, headers, queue groups, JetStream pull", logsOnFailure(async () => {
  const bin = await buildC("libnats_interop");
  const srv = await startServer();
  try {
    const res = await run(bin, [srv.url], { timeout: 60000 }).catch((e) => e);
    assert.equal(res.code ?? 0, 0, `libnats_interop failed (${res.signal ?? res.code}):\n${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /all checks passed/);
  } finally {
    await srv.stop();
  }
}));
