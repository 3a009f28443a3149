// Reports for operators: `consumer report` (lag per consumer), `server
// report jetstream` (usage) and `top` (busiest connections, from the
// monitoring port), checked against the JetStream API's own numbers.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { CLI, freePort, json, ok, run, suiteServer } from "./helpers.mjs";

const mport = await freePort();

describe("operator reports", () => {
  const srv = suiteServer({ extra: ["-m", String(mport)] });

  test("consumer report shows each consumer's lag as ConsumerInfo does", async () => {
    await ok(["stream", "add", "ORDERS", "--subjects=orders.>", "--storage=file", "--defaults", srv.flag]);
    await ok(["consumer", "add", "ORDERS", "InvoiceProcessor", "--pull", "--ack=explicit", "--defaults", srv.flag]);
    await ok(["consumer", "add", "ORDERS", "Shipping", "--pull", "--ack=explicit", "--defaults", srv.flag]);
    await ok(["pub", "orders.oslo.created", "order {{Count}}", "--count=40", srv.flag]);
    // InvoiceProcessor takes (and acks) 15 orders: 25 still to do.
    await ok(["consumer", "next", "ORDERS", "InvoiceProcessor", "--count=15", "--ack", srv.flag]);
    const rows = await json(["consumer", "report", "ORDERS", "--json", srv.flag]);
    const byName = Object.fromEntries(rows.map((r) => [r.consumer, r]));
    for (const name of ["InvoiceProcessor", "Shipping"]) {
      const info = await json(["consumer", "info", "ORDERS", name, "--json", srv.flag]);
      assert.equal(byName[name].unprocessed, info.num_pending, name);
      assert.equal(byName[name].ack_pending, info.num_ack_pending, name);
      assert.equal(byName[name].ack_floor, info.ack_floor.stream_seq, name);
      assert.equal(byName[name].mode, "Pull");
      assert.equal(byName[name].ack_policy, "explicit");
    }
    assert.equal(byName.InvoiceProcessor.unprocessed, 25);
    assert.equal(byName.InvoiceProcessor.ack_floor, 15);
    assert.equal(byName.Shipping.unprocessed, 40);
    const table = await ok(["consumer", "report", "ORDERS", srv.flag]);
    assert.match(table, /Consumer report for ORDERS with 2 consumers, 40 messages/);
    assert.match(table, /InvoiceProcessor .*│ 25 \/ 62%/); // 25 of 40, rounded half to even
    const missing = await run(["consumer", "report", "NOPE", srv.flag]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /stream not found/);
  });

  test("server report jetstream sums the account's usage", async () => {
    const [row] = await json(["server", "report", "jetstream", "--json", srv.flag]);
    assert.equal(row.streams, 1);
    assert.equal(row.consumers, 2);
    assert.equal(row.messages, 40);
    assert.ok(row.file > 0 && row.bytes > 0 && row.file >= row.bytes, JSON.stringify(row));
    assert.ok(row.api_requests > 0);
    assert.equal(row.memory, 0);
    const table = await ok(["server", "report", "js", srv.flag]);
    assert.match(table, /JetStream Summary/);
    assert.match(table, /│ 1 +│ 2 +│ 40 /);
  });

  test("top lists the live connections with their traffic and rates", async () => {
    // A subscriber that stays connected while a publisher sends to it.
    const sub = spawn(CLI, ["sub", "top.demo", "--count=100000", "--connection-name=top-subscriber", srv.flag],
      { stdio: ["ignore", "ignore", "ignore"] });
    try {
      const monitor = `--monitor=http://127.0.0.1:${mport}`;
      const deadline = Date.now() + 10_000;
      let seen = null;
      while (!seen && Date.now() < deadline) {
        await ok(["pub", "top.demo", "x", "--count=200", srv.flag]);
        const lines = (await ok(["top", monitor, "--json", "--count=2", "--delay=200ms", "--sort=msgs_to", srv.flag]))
          .trim().split("\n").map((l) => JSON.parse(l));
        assert.equal(lines.length, 2, "one JSON line per refresh");
        seen = lines[1].connections.find((c) => c.name === "top-subscriber" && c.msgs_to >= 200);
      }
      assert.ok(seen, "the subscriber is listed with the messages it received");
      assert.equal(seen.subs, 1);
      const table = await ok(["top", monitor, "--count=1", srv.flag]);
      assert.match(table, /connections, cpu/);
      assert.match(table, /top-subscriber/);
      const bad = await run(["top", "--monitor=http://127.0.0.1:1", "--count=1", srv.flag]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /cannot read http:\/\/127\.0\.0\.1:1\/varz/);
    } finally {
      sub.kill("SIGTERM");
    }
  });
});
