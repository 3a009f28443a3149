// Publishes into streams without waiting for PubAcks: core PUBs (no reply)
// faster than JetStream stores them. Fjord bounds its JetStream inbound
// queue by pausing such a publisher instead of buffering without limit
// (docs/architecture.md); whichever way a server copes, every message must
// end up stored exactly once per msg id. No timing is asserted.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { headers } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startServer, within, sleep, waitFor, logsOnFailure } from "./lib/server.mjs";
import { connectTo, checkApiReplies, dec } from "./lib/client.mjs";

const SEC = 1_000_000_000;

describe("publish floods into streams", () => {
  let srv;
  let nc;
  let jsm;
  before(async () => {
    srv = await startServer();
    nc = checkApiReplies(await connectTo(srv));
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("a flood of core publishes without reply is stored completely", logsOnFailure(async () => {
    await jsm.streams.add({ name: "FLOOD", subjects: ["flood.>"], storage: "file" });
    // 200k messages of ~100 bytes are far more than the queue bound (8 MiB
    // counted with per-message overhead), so the publisher gets paused.
    const total = 200_000;
    const pub = await connectTo(srv);
    const body = "x".repeat(100);
    for (let i = 0; i < total; i++) {
      pub.publish(`flood.${i % 7}`, body);
      if (i % 10_000 === 0) await pub.flush();
    }
    await within(pub.flush(), 60_000, "flush of the flood");
    // While the stream catches up, another connection is served.
    assert.equal((await within(nc.request("$JS.API.STREAM.INFO.FLOOD", "", { timeout: 20_000 }), 30_000)).data.length > 0, true);
    await waitFor(async () => (await jsm.streams.info("FLOOD")).state.messages === total, 120_000, "all messages stored", 200);
    const si = await jsm.streams.info("FLOOD");
    assert.equal(si.state.last_seq, total);
    await pub.close();
  }));

  test("msg ids dedupe across a flood, and expire with the window", logsOnFailure(async () => {
    await jsm.streams.add({ name: "IDS", subjects: ["ids"], duplicate_window: SEC });
    const pub = await connectTo(srv);
    const unique = 50_000;
    // Every id twice: the second copy must be dropped.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < unique; i++) {
        const h = headers();
        h.set("Nats-Msg-Id", `id-${i}`);
        pub.publish("ids", String(i), { headers: h });
      }
      await within(pub.flush(), 60_000, "flush");
    }
    await waitFor(async () => (await jsm.streams.info("IDS")).state.last_seq >= unique, 120_000, "ids stored", 200);
    // A PubAck round trip queued behind both rounds: everything before it is processed.
    const h = headers();
    h.set("Nats-Msg-Id", "marker");
    await within(pub.request("ids", "m", { headers: h, timeout: 30_000 }), 40_000, "marker PubAck");
    assert.equal((await jsm.streams.info("IDS")).state.messages, unique + 1);

    // Past the window every id is new again; within it, a duplicate.
    await sleep(1500);
    const ack = async (id) => {
      const hh = headers();
      hh.set("Nats-Msg-Id", id);
      return JSON.parse(dec.decode((await pub.request("ids", "again", { headers: hh, timeout: 10_000 })).data));
    };
    for (const i of [0, 1, 777, unique - 1]) {
      const first = await ack(`id-${i}`);
      assert.equal(first.duplicate, undefined, `id-${i} after the window`);
      const second = await ack(`id-${i}`);
      assert.equal(second.duplicate, true, `id-${i} repeated`);
      assert.equal(second.seq, first.seq);
    }
    await pub.close();
  }));
});
