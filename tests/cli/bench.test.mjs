// `fjord bench` against a live server, with small message counts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { json, ok, run, suiteServer } from "./helpers.mjs";

describe("fjord bench", () => {
  const srv = suiteServer();

  test("core pub/sub --json reports every message", async () => {
    const r = await json(["bench", "bench.core", "--pub", "2", "--sub", "2", "--msgs", "4000", "--size", "64",
      "--json", srv.flag], { timeout: 60000 });
    assert.equal(r.kind, "core");
    assert.equal(r.results.pub.msgs, 4000);
    assert.equal(r.results.pub.clients.length, 2);
    assert.equal(r.results.sub.msgs, 8000);
    assert.equal(r.results.sub.bytes, 8000 * 64);
    assert.ok(r.results.pub.msgs_per_sec > 0);
  });

  test("the table has no progress bar when stdout is not a terminal", async () => {
    const r = await run(["bench", "bench.table", "--msgs", "1000", "--sub", "1", srv.flag], { timeout: 60000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Benchmark Results/);
    assert.match(r.stdout, /│ pub +│ total/);
    assert.match(r.stdout, /│ sub +│ total/);
    assert.doesNotMatch(r.stdout, /\r/);
    assert.match(r.stderr, /Starting Core NATS pub\/sub benchmark/);
  });

  test("request/reply measures latency", async () => {
    const r = await json(["bench", "bench.rr", "--request", "--pub", "2", "--sub", "2", "--msgs", "300", "--json", srv.flag],
      { timeout: 60000 });
    assert.equal(r.kind, "request");
    assert.equal(r.results.request.msgs, 300);
    assert.equal(r.latency.count, 300);
    assert.ok(r.latency.p50_ns > 0 && r.latency.p50_ns <= r.latency.max_ns);
  });

  test("JetStream publish then pull consume", async () => {
    const r = await json(["bench", "bench.js", "--js", "--stream", "BENCH", "--pub", "1", "--sub", "2",
      "--msgs", "3000", "--purge", "--json", srv.flag], { timeout: 60000 });
    assert.equal(r.kind, "jetstream");
    assert.equal(r.results["js pub"].msgs, 3000);
    assert.equal(r.results["js sub"].msgs, 3000);
    const info = await json(["stream", "info", "BENCH", "--json", srv.flag]);
    assert.equal(info.state.messages, 3000);
    assert.equal(info.state.consumer_count, 0, "the bench consumer is removed");
    const sync = await json(["bench", "bench.js", "--js", "--stream", "BENCH", "--syncpub", "--msgs", "200",
      "--purge", "--json", srv.flag], { timeout: 60000 });
    assert.equal(sync.results["js pub"].msgs, 200);
  });

  test("bad combinations are rejected", async () => {
    const r = await run(["bench", "x", "--js", "--request", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot be combined/);
    const none = await run(["bench", "x", "--pub", "0", srv.flag]);
    assert.notEqual(none.code, 0);
    assert.match(await ok(["bench", "--help"]), /--msgs/);
  });
});
