// Consumer state is told state: whatever a client told the server about its
// consumer (a plain ack without reply subject, the delivered position of an
// ephemeral reader) survives kill -9 of the server, not only what the server
// confirmed. Through nats.js (m.ack()) and libnats (natsMsg_Ack).
//
// nats-server writes consumer state a moment later and re-delivers after a
// restart; against it (FJORD_BIN=nats-server) the tests wait for its state
// to settle and check at-least-once only where it re-delivers by design.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { serverBin, startServer, sleep, within, waitFor, logsOnFailure } from "./lib/server.mjs";
import { connectTo, checkApiReplies } from "./lib/client.mjs";
import { buildC, run } from "./lib/cprog.mjs";

const REFERENCE = path.basename(serverBin) === "nats-server";
const SEC = 1_000_000_000;
const ORDERS = 1000;

// The story's stream and its invoicing consumer (explicit ack, defaults).
async function storySetup(jsm, js) {
  await jsm.streams.add({
    name: "ORDERS", subjects: ["orders.>"], storage: "file", retention: "limits",
    max_msgs: 100_000, discard: "old", num_replicas: 1,
  });
  await jsm.consumers.add("ORDERS", { durable_name: "InvoiceProcessor", ack_policy: "explicit" });
  const acks = [];
  for (let i = 1; i <= ORDERS; i++) acks.push(js.publish("orders.oslo.created", JSON.stringify({ order: i })));
  await within(Promise.all(acks), 30_000, "publish the orders");
}

// Reads exactly `n` messages with fetch and acks each with a plain m.ack().
async function readAndAck(js, n) {
  const c = await js.consumers.get("ORDERS", "InvoiceProcessor");
  const seqs = [];
  while (seqs.length < n) {
    const iter = await within(c.fetch({ max_messages: Math.min(200, n - seqs.length), expires: 2000 }), 5000, "fetch");
    await within((async () => {
      for await (const m of iter) {
        seqs.push(m.seq);
        m.ack();
      }
    })(), 10_000, "fetch to end");
  }
  return seqs;
}

function range(from, to) {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

async function openJs(srv) {
  const nc = checkApiReplies(await connectTo(srv));
  return { nc, jsm: await jetstreamManager(nc), js: jetstream(nc) };
}

// After the kill and restart: the floor is where the acks left it, and what
// comes next are the new orders only.
async function checkNothingRedelivered(srv, readNext) {
  let { nc, jsm, js } = await openJs(srv);
  try {
    const info = await jsm.consumers.info("ORDERS", "InvoiceProcessor");
    assert.equal(info.ack_floor.stream_seq, ORDERS, "plain acks before kill -9 are kept");
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.num_redelivered, 0);
    for (let i = 1; i <= 100; i++) await js.publish("orders.oslo.created", JSON.stringify({ order: ORDERS + i }));
    const after = await jsm.consumers.info("ORDERS", "InvoiceProcessor");
    assert.equal(after.num_pending, 100, "only the new orders are pending");
    assert.deepEqual(await readNext(js, 100), range(ORDERS + 1, ORDERS + 100), "no order is invoiced twice");
  } finally {
    await nc.close();
  }
}

describe("plain acks survive kill -9", () => {
  const modes = [
    { name: "durable mode", config: undefined },
    { name: "lazy mode (sync_interval)", config: 'jetstream { sync_interval: "2m" }\n' },
  ];
  for (const mode of modes) {
    for (const settleMs of [5000, 200]) {
      test(`nats.js m.ack(), kill -9 ${settleMs} ms after the last ack, ${mode.name}`, logsOnFailure(async () => {
        if (REFERENCE && mode.config) return;  // the reference's own mode is the lazy one
        const srv = await startServer({ config: mode.config });
        try {
          const { nc, jsm, js } = await openJs(srv);
          await storySetup(jsm, js);
          assert.deepEqual(await readAndAck(js, ORDERS), range(1, ORDERS));
          await nc.flush();
          await nc.close();
          // nats-server loses its last ~100 ms of plain acks, Fjord none.
          await sleep(REFERENCE ? Math.max(settleMs, 1500) : settleMs);
          await srv.kill9();
          await srv.restart();
          await checkNothingRedelivered(srv, readAndAck);
        } finally {
          await srv.stop();
        }
      }));
    }
  }

  test("libnats natsMsg_Ack, kill -9 200 ms after the last ack", logsOnFailure(async () => {
    const bin = await buildC("plain_ack_reader");
    const readC = async (n) => {
      const res = await run(bin, [srv.url, "ORDERS", "InvoiceProcessor", String(n)], { timeout: 60_000 }).catch((e) => e);
      assert.equal(res.code ?? 0, 0, `plain_ack_reader failed:\n${res.stdout}\n${res.stderr}`);
      const lines = res.stdout.trim().split("\n");
      assert.equal(lines.pop(), "extra 0", "nothing beyond what was asked for");
      return lines.map(Number);
    };
    const srv = await startServer();
    try {
      const { nc, jsm, js } = await openJs(srv);
      await storySetup(jsm, js);
      await nc.close();
      assert.deepEqual(await readC(ORDERS), range(1, ORDERS));
      await sleep(REFERENCE ? 1500 : 200);
      await srv.kill9();
      await srv.restart();
      await checkNothingRedelivered(srv, async (_js, n) => readC(n));
    } finally {
      await srv.stop();
    }
  }));
});

describe("ephemeral consumers of file streams survive restarts", () => {
  test("an ephemeral reader through two kill -9 restarts reads every message exactly once", logsOnFailure(async (t) => {
    const TOTAL = 3000;
    const srv = await startServer();
    let nc;
    try {
      let jsm, js;
      ({ nc, jsm, js } = await openJs(srv));
      await jsm.streams.add({ name: "FEED", subjects: ["feed.>"], storage: "file" });
      const acks = [];
      for (let i = 1; i <= TOTAL; i++) acks.push(js.publish(`feed.${i % 10}`, String(i)));
      await within(Promise.all(acks), 30_000, "fill the stream");
      const ci = await jsm.consumers.add("FEED", { ack_policy: "none", inactive_threshold: 60 * SEC });
      assert.equal(ci.config.durable_name, undefined, "an ephemeral consumer");
      const name = ci.name;
      const seen = [];
      // Reads until `limit` messages were seen, or a fetch comes back empty.
      const readUpTo = async (limit) => {
        const c = await js.consumers.get("FEED", name);
        while (seen.length < limit) {
          const before = seen.length;
          const iter = await within(c.fetch({ max_messages: Math.min(100, limit - seen.length), expires: 2000 }), 5000, "fetch");
          await within((async () => { for await (const m of iter) seen.push(m.seq); })(), 10_000, "fetch to end");
          if (seen.length === before) return;
        }
      };
      for (const stop of [1000, 2000]) {
        await readUpTo(stop);
        // The reader rests between fetches while the server dies.
        await nc.close();
        await srv.kill9();
        await srv.restart();
        ({ nc, jsm, js } = await openJs(srv));
        const info = await waitFor(() => jsm.consumers.info("FEED", name), 5000, "the ephemeral after restart");
        assert.equal(info.name, name);
        if (!REFERENCE) assert.equal(info.delivered.stream_seq, seen.length, "its position is durable");
      }
      await readUpTo(TOTAL);
      const unique = [...new Set(seen)].sort((a, b) => a - b);
      if (REFERENCE) {
        // nats-server 2.9.10 keeps the ephemeral but may skip or repeat
        // messages here: report what it did, assert only that it survived.
        t.diagnostic(`reference: read ${seen.length} messages, ${unique.length} distinct of ${TOTAL}`);
        return;
      }
      assert.deepEqual(unique, range(1, TOTAL), "no message is skipped");
      assert.equal(seen.length, TOTAL, `read ${seen.length - TOTAL} messages twice`);
    } finally {
      await nc?.close().catch(() => {});
      await srv.stop();
    }
  }));

  test("a restored ephemeral still expires after inactive_threshold, counted from the restart", logsOnFailure(async () => {
    const srv = await startServer();
    let nc;
    try {
      let jsm, js;
      ({ nc, jsm, js } = await openJs(srv));
      await jsm.streams.add({ name: "EPH", subjects: ["eph"], storage: "file" });
      await js.publish("eph", "x");
      const ci = await jsm.consumers.add("EPH", { ack_policy: "explicit", inactive_threshold: 2 * SEC });
      await nc.close();
      await srv.kill9();
      await srv.restart();
      ({ nc, jsm, js } = await openJs(srv));
      const info = await jsm.consumers.info("EPH", ci.name);
      assert.equal(info.num_pending, 1);
      await waitFor(async () => {
        const names = [];
        for await (const n of jsm.consumers.list("EPH")) names.push(n.name);
        return names.length === 0;
      }, 10_000, "the idle ephemeral to be removed");
      // Removed for good: a further restart does not bring it back.
      await nc.close();
      await srv.restart();
      ({ nc, jsm, js } = await openJs(srv));
      const names = [];
      for await (const n of jsm.consumers.list("EPH")) names.push(n.name);
      assert.deepEqual(names, []);
    } finally {
      await nc?.close().catch(() => {});
      await srv.stop();
    }
  }));
});
