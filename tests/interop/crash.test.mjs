// Crash loop with an oracle: publishers send messages with Nats-Msg-Id and
// retry whatever was not acknowledged, while the server is killed with -9 and
// restarted several times. Afterwards every acknowledged message must be in
// the stream exactly once, at the sequence its PubAck named.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers } from "@nats-io/transport-node";
import { startServer, sleep, within, logsOnFailure } from "./lib/server.mjs";
import { api, dec } from "./lib/client.mjs";

const N = 400;        // messages
const WINDOW = 16;    // concurrent publishes in flight (to exercise group commit)
const KILLS = 3;
const DEADLINE_MS = 90_000;

describe("crash loop", () => {
  test("kill -9 while publishing: every acknowledged message is stored exactly once", logsOnFailure(async () => {
    const srv = await startServer();
    try {
      const nc = await within(connect({
        servers: srv.url, maxReconnectAttempts: -1, reconnectTimeWait: 50, timeout: 5000,
      }), 10_000, "connect");
      const created = await api(nc, "STREAM.CREATE.CRASH", { name: "CRASH", subjects: ["crash.>"], storage: "file" });
      assert.equal(created.error, undefined, JSON.stringify(created.error));

      const acked = new Map();  // index -> seq from its (first) successful PubAck
      let next = 0;
      const deadline = Date.now() + DEADLINE_MS;

      async function publishOne(i) {
        const h = headers();
        h.set("Nats-Msg-Id", `order-${i}`);
        for (;;) {
          if (Date.now() > deadline) throw new Error(`gave up on message ${i}`);
          try {
            const m = await nc.request(`crash.orders.${i % 7}`, `order ${i}`, { timeout: 1500, headers: h });
            const ack = JSON.parse(dec.decode(m.data));
            if (ack.error) throw new Error(JSON.stringify(ack.error));
            const prev = acked.get(i);
            // A retry of an acknowledged message must name the same sequence.
            if (prev !== undefined) assert.equal(ack.seq, prev, `message ${i} acked at two sequences`);
            acked.set(i, ack.seq);
            return;
          } catch (e) {
            if (e instanceof assert.AssertionError) throw e;
            await sleep(50);
          }
        }
      }

      async function worker() {
        while (next < N) await publishOne(next++);
      }

      async function killer() {
        for (let k = 1; k <= KILLS; k++) {
          const target = Math.floor((N * k) / (KILLS + 1));
          while (acked.size < target && Date.now() < deadline) await sleep(5);
          await srv.kill9();
          await sleep(100);
          await srv.restart();
        }
      }

      await Promise.all([killer(), ...Array.from({ length: WINDOW }, worker)]);
      assert.equal(acked.size, N);

      // The oracle: read the stream back.
      const info = await api(nc, "STREAM.INFO.CRASH", {});
      assert.equal(info.state.messages, N, `stream holds ${info.state.messages} messages, want ${N}`);
      const seen = new Map();
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const r = await api(nc, "STREAM.MSG.GET.CRASH", { seq });
        if (r.error) continue;
        const body = Buffer.from(r.message.data, "base64").toString();
        const i = Number(body.split(" ")[1]);
        assert.ok(!seen.has(i), `message ${i} stored twice (seq ${seen.get(i)} and ${seq})`);
        seen.set(i, seq);
      }
      for (const [i, seq] of acked) {
        assert.equal(seen.get(i), seq, `acknowledged message ${i} (seq ${seq}) is missing or moved`);
      }
      await nc.close();
    } finally {
      await srv.stop();
    }
  }));
});
