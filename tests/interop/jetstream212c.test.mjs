// The consumer side of the 2.12 feature level: the `prioritized` priority
// policy (a pull request's `priority`, 0 served first), 2.12's consumer
// config rules (values below their range, backoff and ack wait, groups or
// a pin timeout without a policy, names, filters, sampling), and the
// `Nats-Required-Api-Level` request header on the API, direct gets and
// pull requests. Through nats.js where it has the feature (fetch with
// `priority`), on the wire otherwise. Runs against Fjord and nats-server
// from 2.12 on; skipped on older.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { headers } from "@nats-io/transport-node";
import { jetstreamManager, jetstream } from "@nats-io/jetstream";
import { startServer, logsOnFailure, waitFor, sleep, serverVersion, versionAtLeast, isFjord, validate } from "./lib/server.mjs";
import { connectTo, checkApiReplies, api, dec } from "./lib/client.mjs";

const skip = !isFjord && !versionAtLeast(serverVersion, "2.12.0") && `nats-server ${serverVersion} predates 2.12`;
const SEC = 1_000_000_000;

// A pull request left open: what its inbox receives (message data, or
// "<code> <description>" for a status other than a heartbeat).
function openPull(nc, stream, consumer, body, hdrs) {
  const inbox = `_INBOX.p212.${Math.random().toString(36).slice(2)}`;
  const sub = nc.subscribe(inbox);
  const got = [];
  (async () => {
    for await (const m of sub) {
      const code = m.headers?.code ?? 0;
      if (code === 100) continue;
      got.push(code ? `${code} ${m.headers.description}` : dec.decode(m.data));
    }
  })();
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, typeof body === "string" ? body : JSON.stringify(body), { reply: inbox, headers: hdrs });
  return { got, stop: () => sub.unsubscribe() };
}

// The replies to one pull request until `ms` passes.
async function pullFor(nc, stream, consumer, body, ms = 700) {
  const p = openPull(nc, stream, consumer, body);
  await sleep(ms);
  p.stop();
  return p.got;
}

describe("the prioritized priority policy (2.12)", { skip }, () => {
  let srv, nc, jsm, js;
  const create = (stream, name, config) =>
    api(nc, `CONSUMER.CREATE.${stream}.${name}`, { stream_name: stream, config: { durable_name: name, ack_policy: "explicit", ...config } });
  before(async () => {
    srv = await startServer();
    nc = checkApiReplies(await connectTo(srv));
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
    await jsm.streams.add({ name: "PR", subjects: ["pr.>"] });
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("config: prioritized needs groups and a pull consumer; no pin timeout is filled in; API level 1", logsOnFailure(async () => {
    const ok = await create("PR", "cfg", { priority_policy: "prioritized", priority_groups: ["A"] });
    assert.equal(ok.error, undefined, JSON.stringify(ok.error));
    assert.equal(ok.config.priority_policy, "prioritized");
    assert.deepEqual(ok.config.priority_groups, ["A"]);
    assert.equal(ok.config.priority_timeout, undefined);
    assert.equal(ok.config.metadata["_nats.req.level"], "1");
    assert.deepEqual(ok.priority_groups, [{ group: "A", pinned_ts: "0001-01-01T00:00:00Z" }]);
    assert.deepEqual((await create("PR", "c1", { priority_policy: "prioritized" })).error,
      { code: 400, err_code: 10159, description: "Setting PriorityPolicy requires at least one PriorityGroup to be set" });
    assert.deepEqual((await create("PR", "c2", { priority_policy: "prioritized", priority_groups: ["A"], deliver_subject: "push.c2" })).error,
      { code: 400, err_code: 10178, description: "priority groups can not be used with push consumers" });
    assert.equal((await create("PR", "c3", { priority_policy: "prioritized", priority_groups: ["a b"] })).error?.err_code, 10162);
    // A pin timeout belongs to pinned_client, but prioritized keeps one given.
    const pt = await create("PR", "c4", { priority_policy: "prioritized", priority_groups: ["A"], priority_timeout: SEC });
    assert.equal(pt.config.priority_timeout, SEC);
    const info = await jsm.consumers.info("PR", "cfg");
    assert.equal(info.config.priority_policy, "prioritized");
  }));

  test("pull requests: priority outside 0-9 is refused under every policy; group rules as for the others", logsOnFailure(async () => {
    await create("PR", "rng", { priority_policy: "prioritized", priority_groups: ["A"] });
    await create("PR", "nopol", {});
    const range = "400 Bad Request - Priority must be between 0 and 9";
    assert.deepEqual(await pullFor(nc, "PR", "rng", { batch: 1, group: "A", priority: 10 }), [range]);
    assert.deepEqual(await pullFor(nc, "PR", "rng", { batch: 1, group: "A", priority: -1 }), [range]);
    assert.deepEqual(await pullFor(nc, "PR", "nopol", { batch: 1, priority: 10, no_wait: true }), [range]);
    // In range on a consumer without a policy: ignored (nothing stored yet).
    assert.deepEqual(await pullFor(nc, "PR", "nopol", { batch: 1, priority: 3, no_wait: true }), ["404 No Messages"]);
    assert.deepEqual(await pullFor(nc, "PR", "rng", { batch: 1, priority: 1 }), ["400 Bad Request - Priority Group missing"]);
    assert.deepEqual(await pullFor(nc, "PR", "rng", { batch: 1, group: "Z", priority: 1 }), ["400 Bad Request - Invalid Priority Group"]);
  }));

  test("waiting requests are served lowest priority first, in turns within a priority, plain requests last", logsOnFailure(async () => {
    await jsm.streams.add({ name: "PO", subjects: ["po.>"] });
    await create("PO", "ord", { priority_policy: "prioritized", priority_groups: ["A"], ack_policy: "none" });
    const wait = { group: "A", expires: 20 * SEC };
    const reqs = {
      plain: openPull(nc, "PO", "ord", "5"),
      p5: openPull(nc, "PO", "ord", { batch: 5, priority: 5, ...wait }),
      p1a: openPull(nc, "PO", "ord", { batch: 2, priority: 1, ...wait }),
      p1b: openPull(nc, "PO", "ord", { batch: 2, priority: 1, ...wait }),
      p0: openPull(nc, "PO", "ord", { batch: 1, ...wait }),  // no priority: 0
    };
    try {
      await waitFor(async () => (await jsm.consumers.info("PO", "ord")).num_waiting === 5, 5000, "five waiting requests");
      for (let i = 1; i <= 7; i++) await js.publish("po.x", `${i}`);
      const total = () => Object.values(reqs).reduce((n, r) => n + r.got.length, 0);
      await waitFor(() => total() >= 7, 5000, "seven deliveries");
      const got = () => Object.fromEntries(Object.entries(reqs).map(([k, r]) => [k, [...r.got]]));
      assert.deepEqual(got(), { plain: [], p5: ["6", "7"], p1a: ["2", "4"], p1b: ["3", "5"], p0: ["1"] });
      // p5 still wants three; the plain request only gets what is left.
      for (let i = 8; i <= 11; i++) await js.publish("po.x", `${i}`);
      await waitFor(() => total() >= 11, 5000, "eleven deliveries");
      await sleep(100);
      assert.deepEqual(got(), { plain: ["11"], p5: ["6", "7", "8", "9", "10"], p1a: ["2", "4"], p1b: ["3", "5"], p0: ["1"] });
    } finally {
      for (const r of Object.values(reqs)) r.stop();
    }
  }));

  test("nats.js: fetch with group and priority; the higher priority fetch is filled first", logsOnFailure(async () => {
    await jsm.streams.add({ name: "PF", subjects: ["pf.>"] });
    await jsm.consumers.add("PF", { durable_name: "js", ack_policy: "explicit", priority_policy: "prioritized", priority_groups: ["A"] });
    const c = await js.consumers.get("PF", "js");
    // What nats.js puts on the wire.
    const seen = [];
    const spy = nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.PF.js", { callback: (_, m) => seen.push(JSON.parse(dec.decode(m.data))) });
    const drain = async (iter) => {
      const out = [];
      for await (const m of iter) {
        out.push(m.string());
        m.ack();
      }
      return out;
    };
    try {
      const low = drain(await c.fetch({ max_messages: 2, expires: 5000, group: "A", priority: 7 }));
      const high = drain(await c.fetch({ max_messages: 2, expires: 5000, group: "A", priority: 2 }));
      await waitFor(async () => (await jsm.consumers.info("PF", "js")).num_waiting === 2, 5000, "two waiting fetches");
      for (let i = 1; i <= 4; i++) await js.publish("pf.x", `${i}`);
      assert.deepEqual(await high, ["1", "2"]);
      assert.deepEqual(await low, ["3", "4"]);
      assert.deepEqual(seen.map((r) => [r.group, r.priority]), [["A", 7], ["A", 2]]);
    } finally {
      spy.unsubscribe();
    }
  }));
});

describe("consumer config rules of 2.12", { skip }, () => {
  let srv, nc;
  const create = (name, config, extra = {}) =>
    api(nc, `CONSUMER.CREATE.CC.${name}`, { stream_name: "CC", config: { durable_name: name, ...config }, ...extra });
  const err = async (name, config, extra) => (await create(name, config, extra)).error;
  before(async () => {
    srv = await startServer();
    nc = checkApiReplies(await connectTo(srv));
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "CC", subjects: ["cc.>"] });
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("priority groups or a pin timeout without a policy: 10196, 10197", logsOnFailure(async () => {
    const groups = { code: 400, err_code: 10196, description: "consumer can not have priority groups when policy is none" };
    assert.deepEqual(await err("g1", { priority_groups: ["A"] }), groups);
    assert.deepEqual(await err("g2", { priority_policy: "none", priority_groups: ["A"] }), groups);
    assert.deepEqual(await err("g3", { priority_timeout: SEC }),
      { code: 400, err_code: 10197, description: "PinnedTTL cannot be set when PriorityPolicy is none" });
  }));

  test("values below their range become unset; a pedantic create refuses them", logsOnFailure(async () => {
    const r = await create("neg", { ack_policy: "explicit", max_waiting: -1, max_deliver: -5, max_ack_pending: -5, max_batch: -1,
      max_expires: -1, max_bytes: -1, inactive_threshold: -1 });
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    assert.equal(r.config.max_waiting, 512);
    assert.equal(r.config.max_deliver, -1);
    assert.equal(r.config.max_ack_pending, -1);
    for (const k of ["max_batch", "max_expires", "max_bytes", "inactive_threshold"]) assert.equal(r.config[k], undefined, k);
    const pedantic = async (name, config) => (await err(name, config, { pedantic: true }))?.description;
    assert.equal(await pedantic("p1", { max_deliver: -5 }), "pedantic mode: max_deliver must be set to -1");
    assert.equal(await pedantic("p2", { max_waiting: -1 }), "pedantic mode: max_waiting must not be negative");
    assert.equal(await pedantic("p3", { max_ack_pending: -5 }), "pedantic mode: max_ack_pending must be set to -1");
    assert.equal(await pedantic("p4", { max_batch: -1, max_expires: 5 }), "pedantic mode: max_batch must not be negative");
    assert.equal(await pedantic("p5", { max_expires: -1 }), "pedantic mode: max_expires must not be negative");
    assert.equal(await pedantic("p6", { max_bytes: -1 }), "pedantic mode: max_bytes must not be negative");
    assert.equal(await pedantic("p7", { idle_heartbeat: -1 }), "pedantic mode: idle_heartbeat must not be negative");
    assert.equal(await pedantic("p8", { inactive_threshold: -1 }), "pedantic mode: inactive_threshold must not be negative");
    assert.equal(await pedantic("p9", { priority_policy: "pinned_client", priority_groups: ["A"], priority_timeout: -1 }),
      "pedantic mode: priority_timeout must not be negative");
    assert.equal((await err("p10", { max_deliver: -3, backoff: [SEC, SEC] }, { pedantic: true }))?.err_code, 10157);
    // Not pedantic: the same max_deliver is unlimited, so any backoff fits.
    assert.equal(await err("p11", { max_deliver: -3, backoff: [SEC, SEC] }), undefined);
    // And a negative max_batch is no longer 10114 but unset, so the next rule speaks.
    assert.equal((await err("p12", { max_batch: -1, max_expires: 5 }))?.err_code, 10115);
  }));

  test("backoff and ack wait: negative steps 10184 before ack wait 10183; zero allowed; the first step is the ack wait", logsOnFailure(async () => {
    assert.deepEqual(await err("b1", { ack_policy: "explicit", backoff: [SEC, -1] }),
      { code: 400, err_code: 10184, description: "consumer backoff needs to be positive" });
    assert.equal((await err("b2", { ack_wait: -1, backoff: [-1] }))?.err_code, 10184);
    assert.deepEqual(await err("b3", { ack_wait: -1, description: "x".repeat(5000) }),
      { code: 400, err_code: 10183, description: "consumer ack wait needs to be positive" });
    const zero = await create("b4", { ack_policy: "explicit", backoff: [0] });
    assert.equal(zero.error, undefined, JSON.stringify(zero.error));
    const first = await create("b5", { ack_policy: "explicit", ack_wait: 5 * SEC, backoff: [SEC, 2 * SEC] });
    assert.equal(first.config.ack_wait, SEC);
  }));

  test("checkConsumerCfg's order and texts: names, replicas, push and pull rules, filters, sampling, metadata", logsOnFailure(async () => {
    const legacy = (config) => api(nc, "CONSUMER.CREATE.CC", { stream_name: "CC", config });
    assert.deepEqual((await legacy({ name: "a.b" })).error,
      { code: 500, err_code: 10052, description: "consumer name can not contain '.', '*', '>', '\\', '/'" });
    assert.equal((await legacy({ name: "a b" })).error?.err_code, 10052);
    assert.equal((await err("r1", { num_replicas: -1 }))?.err_code, 10133);
    assert.deepEqual(await err("r2", { num_replicas: 2 }),
      { code: 500, err_code: 10074, description: "replicas > 1 not supported in non-clustered mode" });
    assert.equal((await err("s1", { deliver_subject: "dx", max_ack_pending: 5 }))?.err_code, 10082);
    // Push-only rules before pull-only ones: a pull consumer with flow control is 10089, not 10108.
    assert.equal((await err("s2", { flow_control: true }))?.err_code, 10089);
    assert.equal((await err("s3", { idle_heartbeat: 50_000_000 }))?.err_code, 10088);
    // Filters before the deliver policy; a filter inside another overlaps, two that only share subjects do not.
    assert.equal((await err("f1", { filter_subjects: ["cc.a", "cc.*"], opt_start_seq: 5 }))?.err_code, 10138);
    assert.equal(await err("f2", { filter_subjects: ["cc.*.c", "cc.b.*"] }), undefined);
    assert.deepEqual(await err("f3", { filter_subject: "cc..a" }), { code: 500, err_code: 10052, description: "invalid subject" });
    // Flow control without heartbeats only after the deliver policy.
    assert.equal((await err("f4", { deliver_subject: "dx", flow_control: true, opt_start_seq: 3 }))?.err_code, 10094);
    assert.equal(await err("m1", { sample_freq: "150" }), undefined);
    assert.equal((await err("m2", { sample_freq: "abc" }))?.description,
      "failed to parse consumer sampling configuration: strconv.Atoi: parsing \"abc\": invalid syntax");
    assert.equal((await err("m3", { sample_freq: "-5%" }))?.description, "failed to parse consumer sampling configuration: <nil>");
    assert.deepEqual(await err("m4", { metadata: { k: "x".repeat(130 * 1024) } }),
      { code: 400, err_code: 10135, description: "consumer metadata exceeds maximum size of 128KB" });
    // Push consumers may carry pull-request limits; they are unused.
    assert.equal(await err("m5", { deliver_subject: "dx5", max_batch: 5, max_expires: 5 * SEC, max_bytes: 5 }), undefined);
  }));
});

describe("Nats-Required-Api-Level (2.12)", { skip }, () => {
  let srv, nc, jsm, js;
  const level = (v) => {
    const h = headers();
    h.set("Nats-Required-Api-Level", v);
    return h;
  };
  const request = async (subject, body, v, ms = 2000) => {
    try {
      return await nc.request(`$JS.API.${subject}`, typeof body === "string" ? body : JSON.stringify(body), { headers: level(v), timeout: ms });
    } catch (e) {
      throw new Error(`${subject} with level ${JSON.stringify(v)}: ${e.message}`);
    }
  };
  const json = async (subject, body, v) => JSON.parse(dec.decode((await request(subject, body, v)).data));
  const refused = { code: 412, err_code: 10185, description: "JetStream minimum api level required" };
  before(async () => {
    srv = await startServer();
    nc = await connectTo(srv);
    jsm = await jetstreamManager(checkApiReplies(await connectTo(srv)));
    js = jetstream(nc);
    await jsm.streams.add({ name: "AL", subjects: ["al.>"], allow_direct: true });
    await js.publish("al.a", "1");
    await jsm.consumers.add("AL", { durable_name: "pull", ack_policy: "explicit" });
    await jsm.consumers.add("AL", { durable_name: "push", ack_policy: "explicit", deliver_subject: "al-push" });
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("a level above the server's, or not a number, is 10185 in each API's reply shape", logsOnFailure(async () => {
    for (const v of ["1000", "abc", "1.5"]) {
      const r = await json("INFO", "", v);
      assert.deepEqual(r, { type: "io.nats.jetstream.api.v1.account_info_response", error: refused }, v);
    }
    const shapes = [
      ["STREAM.INFO.AL", "stream_info_response", { total: 0, offset: 0, limit: 0 }],
      ["STREAM.NAMES", "stream_names_response", { total: 0, offset: 0, limit: 0, streams: null }],
      ["STREAM.LIST", "stream_list_response", { total: 0, offset: 0, limit: 0, streams: [] }],
      ["STREAM.PURGE.AL", "stream_purge_response", { purged: 0 }],
      ["STREAM.MSG.GET.AL", "stream_msg_get_response", {}],
      ["CONSUMER.INFO.AL.pull", "consumer_info_response", {}],
      ["CONSUMER.NAMES.AL", "consumer_names_response", { total: 0, offset: 0, limit: 0, consumers: [] }],
      ["CONSUMER.PAUSE.AL.pull", "consumer_pause_response", { paused: false, pause_until: "0001-01-01T00:00:00Z" }],
      ["CONSUMER.DELETE.AL.pull", "consumer_delete_response", {}],
    ];
    for (const [subject, type, extra] of shapes) {
      const r = await json(subject, "", "99");
      assert.deepEqual(r, { type: `io.nats.jetstream.api.v1.${type}`, error: refused, ...extra }, subject);
    }
    // Nothing happened: the purge and the delete were refused.
    assert.equal((await jsm.streams.info("AL")).state.messages, 1);
    assert.equal((await jsm.consumers.info("AL", "pull")).name, "pull");
    // A consumer create reads its body first: bad JSON is 10025, a good one 10185.
    const bad = await json("CONSUMER.CREATE.AL.x", "{bad", "99");
    assert.equal(bad.error.err_code, 10025);
    const good = await json("CONSUMER.CREATE.AL.x", { stream_name: "AL", config: { durable_name: "x" } }, "99");
    assert.deepEqual(good, { type: "io.nats.jetstream.api.v1.consumer_create_response", error: refused });
    await assert.rejects(jsm.consumers.info("AL", "x"), /consumer not found/);
  }));

  test("a level the server has is served as usual", logsOnFailure(async () => {
    for (const v of ["0", "1", "+1", ""]) {
      const r = await json("INFO", "", v);
      assert.equal(r.error, undefined, `${JSON.stringify(v)}: ${JSON.stringify(r.error)}`);
      validate("account_info_response", r);
      assert.ok(r.api.level >= 1);
    }
    const c = await json("CONSUMER.CREATE.AL.lv", { stream_name: "AL", config: { durable_name: "lv", ack_policy: "explicit" } }, "1");
    assert.equal(c.error, undefined, JSON.stringify(c.error));
    assert.equal(c.name, "lv");
  }));

  test("direct get and pull requests answer a 412 status", logsOnFailure(async () => {
    const status = (m) => `${m.headers?.code} ${m.headers?.description}`;
    let m = await request("DIRECT.GET.AL", { seq: 1 }, "99");
    assert.equal(status(m), "412 Required Api Level");
    assert.equal(m.data.length, 0);
    m = await request("DIRECT.GET.AL.al.a", "", "abc");
    assert.equal(status(m), "412 Required Api Level");
    m = await request("DIRECT.GET.AL", { seq: 1 }, "1");
    assert.equal(dec.decode(m.data), "1");
    m = await request("CONSUMER.MSG.NEXT.AL.pull", { batch: 1, expires: SEC }, "99");
    assert.equal(status(m), "412 Required Api Level");
    // The push-consumer refusal comes first.
    m = await request("CONSUMER.MSG.NEXT.AL.push", { batch: 1 }, "99");
    assert.equal(status(m), "409 Consumer is push based");
    // Served. On an inbox of its own: a delivery carries the stored
    // subject, not the inbox, so nats.js's shared-inbox request cannot match it.
    const p = openPull(nc, "AL", "pull", { batch: 1, expires: SEC }, level("1"));
    try {
      await waitFor(() => p.got.length >= 1, 3000, "the message");
      assert.deepEqual(p.got, ["1"]);
    } finally {
      p.stop();
    }
  }));
});
