// `fjord consumer ...` against a live server.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { json, ok, run, suiteServer } from "./helpers.mjs";

describe("fjord consumer", () => {
  const srv = suiteServer();
  before(async () => {
    await ok(["stream", "add", "EV", "--subjects", "ev.>", "--defaults", srv.flag]);
  });

  test("add creates a durable pull consumer; --json is consumer_create_response", async () => {
    const c = await json(["consumer", "add", "EV", "WORKER", "--filter", "ev.a", "--ack", "explicit",
      "--deliver", "all", "--max-deliver", "5", "--wait", "10s", "--pull", "--json", srv.flag]);
    assert.equal(c.type, "io.nats.jetstream.api.v1.consumer_create_response");
    assert.equal(c.name, "WORKER");
    assert.equal(c.config.durable_name, "WORKER");
    assert.equal(c.config.filter_subject, "ev.a");
    assert.equal(c.config.ack_policy, "explicit");
    assert.equal(c.config.max_deliver, 5);
    assert.equal(c.config.ack_wait, 10e9);
    assert.equal(c.config.deliver_subject, undefined);
  });

  test("add prints a human summary and supports push consumers", async () => {
    const out = await ok(["consumer", "add", "EV", "PUSHER", "--target", "deliver.here", "--deliver", "new",
      "--ack", "none", srv.flag]);
    assert.match(out, /Information for Consumer EV > PUSHER/);
    assert.match(out, /Delivery Subject: deliver\.here/);
    assert.match(out, /Deliver Policy: new/);
  });

  test("add without a name in a pipe is an error", async () => {
    const r = await run(["consumer", "add", "EV", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fjord: error: a consumer name is required/m);
  });

  test("ls shows the consumers", async () => {
    const names = (await ok(["consumer", "ls", "EV", "--names", srv.flag])).trim().split("\n");
    assert.deepEqual(names, ["PUSHER", "WORKER"]);
    const list = await json(["consumer", "ls", "EV", "--json", srv.flag]);
    assert.equal(list.type, "io.nats.jetstream.api.v1.consumer_list_response");
    assert.equal(list.consumers.length, 2);
    assert.match(await ok(["consumer", "ls", "EV", srv.flag]), /WORKER/);
  });

  test("next fetches, prints and acknowledges messages", async () => {
    await ok(["pub", "ev.a", "first", srv.flag]);
    await ok(["pub", "ev.b", "other", srv.flag]);
    await ok(["pub", "ev.a", "second", srv.flag]);
    const before = await json(["consumer", "info", "EV", "WORKER", "--json", srv.flag]);
    assert.equal(before.type, "io.nats.jetstream.api.v1.consumer_info_response");
    assert.equal(before.num_pending, 2);

    const out = await ok(["consumer", "next", "EV", "WORKER", srv.flag]);
    assert.match(out, /subj: ev\.a \/ tries: 1 \/ cons seq: 1 \/ str seq: 1 \/ pending: 1/);
    assert.match(out, /first/);
    assert.match(out, /Acknowledged message/);

    const raw = await ok(["consumer", "next", "EV", "WORKER", "--count", "5", "--wait", "500ms", "--raw", srv.flag]);
    assert.equal(raw, "second\n");

    const info = await json(["consumer", "info", "EV", "WORKER", "--json", srv.flag]);
    assert.equal(info.num_pending, 0);
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.ack_floor.stream_seq, 3);
  });

  test("next without acking leaves the message pending", async () => {
    await ok(["pub", "ev.a", "third", srv.flag]);
    await ok(["consumer", "next", "EV", "WORKER", "--no-ack", srv.flag]);
    const info = await json(["consumer", "info", "EV", "WORKER", "--json", srv.flag]);
    assert.equal(info.num_ack_pending, 1);
    const human = await ok(["consumer", "info", "EV", "WORKER", srv.flag]);
    assert.match(human, /Outstanding Acks: 1/);
  });

  test("next with nothing to fetch exits non-zero after the wait", async () => {
    const started = Date.now();
    const r = await run(["consumer", "next", "EV", "WORKER", "--wait", "300ms", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fjord: error: no message received/m);
    assert.ok(Date.now() - started < 5000);
  });

  test("unknown consumer or stream is a clear error", async () => {
    const r = await run(["consumer", "info", "EV", "NOPE", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fjord: error: consumer not found/m);
    const r2 = await run(["consumer", "ls", "NOSTREAM", srv.flag]);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /^fjord: error: stream not found/m);
  });

  test("rm needs --force in a pipe", async () => {
    const r = await run(["consumer", "rm", "EV", "PUSHER", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--force is required/);
    assert.match(await ok(["consumer", "rm", "EV", "PUSHER", "-f", srv.flag]), /Consumer EV > PUSHER was deleted/);
    const names = (await ok(["consumer", "ls", "EV", "--names", srv.flag])).trim().split("\n");
    assert.deepEqual(names, ["WORKER"]);
  });
});
