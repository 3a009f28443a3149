// Gaps official clients found against 2.9.10's behaviour (issue 13 §1),
// each checked against nats-server 2.9.10 as well.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager, jetstream, AckPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { startServer, logsOnFailure, sleep, waitFor, serverVersion, versionAtLeast } from "./lib/server.mjs";
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

  test("backoff needs a max_deliver greater than its steps: unlimited is not enough before 2.10.23 (10116)", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    try {
      await api(nc, "STREAM.CREATE.B", { name: "B", subjects: ["b"] }, "stream_create_response");
      const SEC = 1_000_000_000;
      const none = await api(nc, "CONSUMER.DURABLE.CREATE.B.x1",
        { stream_name: "B", config: { durable_name: "x1", ack_policy: "explicit", backoff: [SEC, 2 * SEC] } },
        "consumer_create_response");
      // 2.10.23 changed the rule: more steps than deliveries is refused,
      // unlimited deliveries are fine. Fjord follows the version it
      // advertises.
      if (versionAtLeast(serverVersion, "2.10.23")) {
        assert.equal(none.error, undefined, JSON.stringify(none));
      } else {
        assert.equal(none.error?.err_code, 10116, JSON.stringify(none));
        assert.equal(none.error.description, "max deliver is required to be > length of backoff values");
      }
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

describe("pull requests as 2.9.10 answers them", () => {
  // Every combination of batch, max_bytes, no_wait and expires, on an empty
  // consumer and on one with 3 messages, then 10 more published while the
  // request waits. Expected: what nats-server 2.9.10 delivered (msg) and
  // answered (status codes), in order. max_bytes counts subject, ack reply,
  // headers and data (a 10-byte message here takes 51+ bytes); no_wait with
  // expires waits for a first message instead of answering 404.
  test("48 combinations of batch, max_bytes, no_wait and expires", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    const cases = [
      [0, {"batch": 1}, "msg"],
      [0, {"batch": 1, "expires": 1000000000}, "msg"],
      [0, {"batch": 1, "no_wait": true}, "404"],
      [0, {"batch": 1, "no_wait": true, "expires": 1000000000}, "msg"],
      [0, {"batch": 1, "max_bytes": 50}, "409"],
      [0, {"batch": 1, "max_bytes": 50, "expires": 1000000000}, "409"],
      [0, {"batch": 1, "max_bytes": 50, "no_wait": true}, "404"],
      [0, {"batch": 1, "max_bytes": 50, "no_wait": true, "expires": 1000000000}, "409"],
      [0, {"batch": 1, "max_bytes": 1000}, "msg"],
      [0, {"batch": 1, "max_bytes": 1000, "expires": 1000000000}, "msg"],
      [0, {"batch": 1, "max_bytes": 1000, "no_wait": true}, "404"],
      [0, {"batch": 1, "max_bytes": 1000, "no_wait": true, "expires": 1000000000}, "msg"],
      [0, {"batch": 10}, "msg,msg,msg,msg,msg,msg,msg,msg,msg,msg"],
      [0, {"batch": 10, "expires": 1000000000}, "msg,msg,msg,msg,msg,msg,msg,msg,msg,msg"],
      [0, {"batch": 10, "no_wait": true}, "404"],
      [0, {"batch": 10, "no_wait": true, "expires": 1000000000}, "msg,408"],
      [0, {"batch": 10, "max_bytes": 50}, "409"],
      [0, {"batch": 10, "max_bytes": 50, "expires": 1000000000}, "409"],
      [0, {"batch": 10, "max_bytes": 50, "no_wait": true}, "404"],
      [0, {"batch": 10, "max_bytes": 50, "no_wait": true, "expires": 1000000000}, "409"],
      [0, {"batch": 10, "max_bytes": 1000}, "msg,msg,msg,msg,msg,msg,msg,msg,msg,msg"],
      [0, {"batch": 10, "max_bytes": 1000, "expires": 1000000000}, "msg,msg,msg,msg,msg,msg,msg,msg,msg,msg"],
      [0, {"batch": 10, "max_bytes": 1000, "no_wait": true}, "404"],
      [0, {"batch": 10, "max_bytes": 1000, "no_wait": true, "expires": 1000000000}, "msg,408"],
      [3, {"batch": 1}, "msg"],
      [3, {"batch": 1, "expires": 1000000000}, "msg"],
      [3, {"batch": 1, "no_wait": true}, "msg"],
      [3, {"batch": 1, "no_wait": true, "expires": 1000000000}, "msg"],
      [3, {"batch": 1, "max_bytes": 50}, "409"],
      [3, {"batch": 1, "max_bytes": 50, "expires": 1000000000}, "409"],
      [3, {"batch": 1, "max_bytes": 50, "no_wait": true}, "409"],
      [3, {"batch": 1, "max_bytes": 50, "no_wait": true, "expires": 1000000000}, "409"],
      [3, {"batch": 1, "max_bytes": 1000}, "msg"],
      [3, {"batch": 1, "max_bytes": 1000, "expires": 1000000000}, "msg"],
      [3, {"batch": 1, "max_bytes": 1000, "no_wait": true}, "msg"],
      [3, {"batch": 1, "max_bytes": 1000, "no_wait": true, "expires": 1000000000}, "msg"],
      [3, {"batch": 10}, "msg,msg,msg,msg,msg,msg,msg,msg,msg,msg"],
      [3, {"batch": 10, "expires": 1000000000}, "msg,msg,msg,msg,msg,msg,msg,msg,msg,msg"],
      [3, {"batch": 10, "no_wait": true}, "msg,msg,msg,408"],
      [3, {"batch": 10, "no_wait": true, "expires": 1000000000}, "msg,msg,msg,408"],
      [3, {"batch": 10, "max_bytes": 50}, "409"],
      [3, {"batch": 10, "max_bytes": 50, "expires": 1000000000}, "409"],
      [3, {"batch": 10, "max_bytes": 50, "no_wait": true}, "409"],
      [3, {"batch": 10, "max_bytes": 50, "no_wait": true, "expires": 1000000000}, "409"],
      [3, {"batch": 10, "max_bytes": 1000}, "msg,msg,msg,msg,msg,msg,msg,msg,msg,msg"],
      [3, {"batch": 10, "max_bytes": 1000, "expires": 1000000000}, "msg,msg,msg,msg,msg,msg,msg,msg,msg,msg"],
      [3, {"batch": 10, "max_bytes": 1000, "no_wait": true}, "msg,msg,msg,408"],
      [3, {"batch": 10, "max_bytes": 1000, "no_wait": true, "expires": 1000000000}, "msg,msg,msg,408"],
    ];
    // Where later releases answer differently: from 2.10 a request whose
    // count is reached with max_bytes to spare gets "409 Batch Completed"
    // after its last message; from 2.11 a no_wait request that got messages
    // and found no more ends with 404 instead of 408.
    const at210 = versionAtLeast(serverVersion, "2.10.0");
    const at211 = versionAtLeast(serverVersion, "2.11.0");
    try {
      const results = await Promise.all(cases.map(async ([before, body, want0], i) => {
        let want = at211 && body.no_wait ? want0.replace(/msg,408$/, "msg,404") : want0;
        const filled = want.split(",").filter((x) => x === "msg").length === body.batch;
        if (at210 && body.max_bytes && filled) want += ",409";
        const name = `PM${i}`;
        const subject = `pm.${i}`;
        await api(nc, `STREAM.CREATE.${name}`, { name, subjects: [subject], storage: "memory" }, "stream_create_response");
        await api(nc, `CONSUMER.DURABLE.CREATE.${name}.c`, { stream_name: name, config: { durable_name: "c", ack_policy: "explicit" } },
          "consumer_create_response");
        for (let k = 0; k < before; k++) await nc.request(subject, "0123456789", { timeout: 5000 });
        const got = [];
        const inbox = `_INBOX.pm${i}`;
        const sub = nc.subscribe(inbox, { callback: (_e, m) => got.push(m.headers ? String(m.headers.code) : "msg") });
        nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${name}.c`, JSON.stringify(body), { reply: inbox });
        await nc.flush();
        await sleep(150);
        for (let k = 0; k < 10; k++) await nc.request(subject, "0123456789", { timeout: 5000 });
        await sleep(body.expires ? 1400 : 400);
        sub.unsubscribe();
        return { before, body, want, got: got.join(",") };
      }));
      const wrong = results.filter((r) => r.got !== r.want);
      assert.deepEqual(wrong, [], "combinations answered differently from 2.9.10");
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));
});

describe("republish", () => {
  test("stored messages go on to the mapped subject with the stream's headers", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    try {
      const got = [];
      nc.subscribe("rp.>", { callback: (_e, m) => got.push({
        subject: m.subject, data: m.string(),
        hdrs: m.headers ? Object.fromEntries([...m.headers.keys()].map((k) => [k, m.headers.get(k)])) : {},
      }) });
      await nc.flush();
      const jsm = await jetstreamManager(nc);
      const si = await jsm.streams.add({ name: "R", subjects: ["r.>"], republish: { src: "r.*", dest: "rp.$1" } });
      assert.deepEqual(si.config.republish, { src: "r.*", dest: "rp.$1" });
      await jsm.streams.add({ name: "H", subjects: ["h.>"], republish: { src: ">", dest: "rp.h.>", headers_only: true } });
      const js = jetstream(nc);
      await js.publish("r.a", "one");
      await js.publish("r.b", "two");
      await js.publish("r.a", "three");
      await js.publish("r.a.deep", "not matched by r.*");
      await js.publish("h.x", "12345");
      await waitFor(() => got.length >= 4, 5000, "republished messages");
      await sleep(200);
      const byData = (d) => got.find((g) => g.data === d);
      assert.deepEqual(byData("one"), { subject: "rp.a", data: "one",
        hdrs: { "Nats-Stream": "R", "Nats-Subject": "r.a", "Nats-Sequence": "1", "Nats-Last-Sequence": "0" } });
      assert.equal(byData("two").hdrs["Nats-Last-Sequence"], "0");
      assert.deepEqual(byData("three").hdrs, { "Nats-Stream": "R", "Nats-Subject": "r.a", "Nats-Sequence": "3",
        "Nats-Last-Sequence": "1" });
      assert.equal(byData("not matched by r.*"), undefined);
      const h = got.find((g) => g.subject === "rp.h.h.x");
      assert.ok(h, JSON.stringify(got));
      assert.equal(h.data, "");
      assert.equal(h.hdrs["Nats-Msg-Size"], "5");
      assert.equal(got.length, 4);
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));

  test("republish config rules and texts", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    try {
      const create = (cfg) => api(nc, `STREAM.CREATE.${cfg.name}`, cfg, "stream_create_response");
      const err = async (cfg, text) => {
        const r = await create(cfg);
        assert.equal(r.error?.err_code, 10052, JSON.stringify(r));
        assert.equal(r.error.description, text);
      };
      await err({ name: "C1", subjects: ["c1.>"], republish: { src: ">", dest: "c1.x" } },
        "stream configuration for republish destination forms a cycle");
      await err({ name: "C2", subjects: ["c2.>"], republish: { src: "other.>", dest: "rp2.>" } },
        "stream configuration for republish source is not valid subset of subjects");
      await err({ name: "C4", subjects: ["c4.>"], republish: { src: "c4.>", dest: "" } },
        "stream configuration for republish not valid");
      const c3 = await create({ name: "C3", subjects: ["c3.>"], republish: { dest: "rp3.>" } });
      assert.deepEqual(c3.config.republish, { src: ">", dest: "rp3.>" });
      const c5 = await create({ name: "C5", subjects: ["c5.*"], republish: { src: "c5.*", dest: "rp5.{{wildcard(1)}}" } });
      assert.equal(c5.error, undefined, JSON.stringify(c5.error));
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));

  test("a KV bucket with republish, through @nats-io/kv", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    try {
      const seen = [];
      nc.subscribe("kvrp.>", { callback: (_e, m) => seen.push([m.subject, m.string(), m.headers?.get("Nats-Sequence")]) });
      await nc.flush();
      const kv = await new Kvm(nc).create("orders", { republish: { src: ">", dest: "kvrp.>" } });
      await kv.put("oslo", "42");
      await waitFor(() => seen.length === 1, 5000, "the republished put");
      assert.deepEqual(seen[0], ["kvrp.$KV.orders.oslo", "42", "1"]);
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));
});
