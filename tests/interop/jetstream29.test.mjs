// Gaps official clients found against 2.9.10's behaviour (issue 13 §1),
// each checked against nats-server 2.9.10 as well.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager, jetstream, AckPolicy } from "@nats-io/jetstream";
import { startServer, logsOnFailure } from "./lib/server.mjs";
import { connectTo, api } from "./lib/client.mjs";

describe("JetStream domains", () => {
  test("a client made for domain ABC manages, publishes and consumes through $JS.ABC.API", logsOnFailure(async () => {
    const srv = await startServer({
      jetstream: false,
      config: ({ storeDir }) => `jetstream { domain: ABC, store_dir: "${storeDir}" }\n`,
    });
    const nc = await connectTo(srv);
    try {
      const jsm = await jetstreamManager(nc, { domain: "ABC" });
      const ai = await jsm.getAccountInfo();
      assert.equal(ai.domain, "ABC");
      await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
      const js = jetstream(nc, { domain: "ABC" });
      const ack = await js.publish("orders.oslo.created", "order 1");
      assert.equal(ack.domain, "ABC");
      assert.equal(ack.seq, 1);
      await jsm.consumers.add("ORDERS", { durable_name: "InvoiceProcessor", ack_policy: AckPolicy.Explicit });
      const c = await js.consumers.get("ORDERS", "InvoiceProcessor");
      const m = await c.next({ expires: 5000 });
      assert.ok(m, "a message through the domain's pull API");
      assert.equal(m.string(), "order 1");
      await m.ackAck();
      // The plain API keeps working next to the domain's.
      const info = await api(nc, "STREAM.INFO.ORDERS", {}, "stream_info_response");
      assert.equal(info.state.messages, 1);
      // Another domain is nobody's.
      await assert.rejects(async () => (await jetstreamManager(nc, { domain: "XYZ", timeout: 1000 })).getAccountInfo());
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));
});

describe("consumer rules of 2.9.10", () => {
  test("ten clients binding one durable push consumer at once: exactly one wins (10013 for the rest)", logsOnFailure(async () => {
    const srv = await startServer();
    const ncs = await Promise.all(Array.from({ length: 10 }, () => connectTo(srv)));
    try {
      await api(ncs[0], "STREAM.CREATE.P", { name: "P", subjects: ["p.>"] }, "stream_create_response");
      // Each client does what a push subscribe does: listen on its own
      // inbox, then create the durable with that inbox as deliver subject.
      const inboxes = ncs.map((nc, i) => {
        const inbox = `_INBOX.bind${i}`;
        nc.subscribe(inbox);
        return inbox;
      });
      await Promise.all(ncs.map((nc) => nc.flush()));
      const replies = await Promise.all(ncs.map((nc, i) => api(nc, "CONSUMER.DURABLE.CREATE.P.shipping", {
        stream_name: "P",
        config: { durable_name: "shipping", deliver_subject: inboxes[i], ack_policy: "explicit" },
      }, "consumer_create_response")));
      const won = replies.filter((r) => !r.error);
      assert.equal(won.length, 1, JSON.stringify(replies.map((r) => r.error?.err_code ?? "ok")));
      for (const r of replies.filter((x) => x.error)) {
        assert.equal(r.error.err_code, 10013);
        assert.equal(r.error.description, "consumer name already in use");
      }
      const info = await api(ncs[0], "CONSUMER.INFO.P.shipping", {}, "consumer_info_response");
      assert.equal(info.push_bound, true);
      const winner = inboxes.indexOf(info.config.deliver_subject);
      assert.ok(winner >= 0);
      // Once the winner goes away, another client may take the durable over.
      await ncs[winner].close();
      const other = (winner + 1) % 10;
      let taken;
      for (let i = 0; i < 50 && !taken; i++) {
        const r = await api(ncs[other], "CONSUMER.DURABLE.CREATE.P.shipping", {
          stream_name: "P", config: { durable_name: "shipping", deliver_subject: inboxes[other], ack_policy: "explicit" },
        }, "consumer_create_response");
        if (!r.error) taken = r;
        else await new Promise((res) => setTimeout(res, 100));
      }
      assert.ok(taken, "the durable could be bound again after its subscriber left");
      assert.equal(taken.config.deliver_subject, inboxes[other]);
    } finally {
      await Promise.all(ncs.map((nc) => nc.close().catch(() => {})));
      await srv.stop();
    }
  }));

  test("backoff needs a max_deliver greater than its steps: unlimited is not enough (10116)", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    try {
      await api(nc, "STREAM.CREATE.B", { name: "B", subjects: ["b"] }, "stream_create_response");
      const SEC = 1_000_000_000;
      const none = await api(nc, "CONSUMER.DURABLE.CREATE.B.x1",
        { stream_name: "B", config: { durable_name: "x1", ack_policy: "explicit", backoff: [SEC, 2 * SEC] } },
        "consumer_create_response");
      assert.equal(none.error?.err_code, 10116, JSON.stringify(none));
      assert.equal(none.error.description, "max deliver is required to be > length of backoff values");
      const enough = await api(nc, "CONSUMER.DURABLE.CREATE.B.x3",
        { stream_name: "B", config: { durable_name: "x3", ack_policy: "explicit", backoff: [SEC, 2 * SEC], max_deliver: 3 } },
        "consumer_create_response");
      assert.equal(enough.error, undefined);
      assert.equal(enough.config.max_deliver, 3);
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));
});
