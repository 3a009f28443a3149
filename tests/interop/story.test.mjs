// The user story: an ORDERS stream and a durable InvoiceProcessor that is
// stopped and started again while orders keep arriving. It must resume where
// it left off and process every order exactly once.

import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startServer, within, waitFor, logsOnFailure } from "./lib/server.mjs";
import { connectTo, checkApiReplies } from "./lib/client.mjs";

const SEC = 1_000_000_000;

// Runs the invoice processor on its own connection until it has processed
// `count` orders, then stops it (closing its connection).
async function runInvoiceProcessor(srv, count, processed) {
  const nc = checkApiReplies(await connectTo(srv, { name: "InvoiceProcessor" }));
  const run = [];
  try {
    const js = jetstream(nc);
    const consumer = await js.consumers.get("ORDERS", "InvoiceProcessor");
    const msgs = await consumer.consume({ max_messages: 50 });
    await within((async () => {
      for await (const m of msgs) {
        const order = m.json();
        processed.set(order.id, (processed.get(order.id) ?? 0) + 1);
        run.push(order.id);
        assert.equal(await m.ackAck({ timeout: 5000 }), true);
        if (run.length === count) break;
      }
    })(), 30000, `processing ${count} orders`);
    await msgs.close();
  } finally {
    await nc.close();
  }
  return run;
}

test("ORDERS stream with a durable InvoiceProcessor that stops and resumes", logsOnFailure(async () => {
  const srv = await startServer();
  const nc = checkApiReplies(await connectTo(srv));
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const si = await jsm.streams.add({
      name: "ORDERS",
      subjects: ["orders.>"],
      storage: "file",
      retention: "limits",
      max_msgs: 100000,
      discard: "old",
    });
    assert.equal(si.config.max_msgs, 100000);
    assert.equal(si.config.storage, "file");
    // A short ack_wait so anything the stopped processor had prefetched but
    // not acked comes back quickly on the next run.
    await jsm.consumers.add("ORDERS", {
      durable_name: "InvoiceProcessor",
      ack_policy: "explicit",
      ack_wait: 2 * SEC,
      filter_subject: "orders.>",
    });

    const publish = async (from, to) => {
      for (let id = from; id <= to; id++) {
        const region = ["eu", "us", "apac"][id % 3];
        const ack = await js.publish(`orders.${region}.created`, JSON.stringify({ id, amount: id * 10, region }), { msgID: `order-${id}` });
        assert.equal(ack.seq, id);
      }
    };
    await publish(1, 300);
    const processed = new Map();

    const run1 = await runInvoiceProcessor(srv, 120, processed);
    assert.deepEqual(run1, [...Array(120).keys()].map((i) => i + 1), "first run processes orders in order");

    // While the processor is down, more orders arrive.
    await publish(301, 450);
    let info = await jsm.consumers.info("ORDERS", "InvoiceProcessor");
    assert.equal(info.ack_floor.stream_seq, 120);
    assert.equal(info.num_pending + info.num_ack_pending, 330);

    const run2 = await runInvoiceProcessor(srv, 330, processed);
    assert.equal(Math.min(...run2), 121, "resumes at the first unprocessed order");
    assert.deepEqual([...run2].sort((a, b) => a - b), [...Array(330).keys()].map((i) => i + 121));

    for (let id = 1; id <= 450; id++) assert.equal(processed.get(id), 1, `order ${id} processed once`);
    info = await waitFor(async () => {
      const ci = await jsm.consumers.info("ORDERS", "InvoiceProcessor");
      return ci.ack_floor.stream_seq === 450 ? ci : null;
    }, 5000, "ack floor at 450");
    assert.equal(info.num_pending, 0);
    assert.equal(info.num_ack_pending, 0);
    const stream = await jsm.streams.info("ORDERS");
    assert.equal(stream.state.messages, 450, "limits retention keeps processed orders");
  } finally {
    await nc.close();
    await srv.stop();
  }
}));
