// JetStream over a raw socket: the wire shapes clients depend on (PubAck,
// ack reply subjects, pull status messages, ack confirmations, heartbeats,
// direct get), compared with shared/spec/jetstream-api.md captures.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, rawConn, validate, versionAtLeast, logsOnFailure } from "./lib/server.mjs";

const CONNECT = 'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1}\r\n';

// Parses a header block into {status, description, headers: [[k, v]...]}.
function parseHdr(block) {
  const lines = block.split("\r\n");
  const m = /^NATS\/1\.0(?: (\d{3})(?: (.*))?)?$/.exec(lines[0]);
  assert.ok(m, `bad header version line ${JSON.stringify(lines[0])}`);
  assert.ok(block.endsWith("\r\n\r\n"), "header block ends with a blank line");
  const headers = [];
  for (const l of lines.slice(1)) {
    if (l === "") continue;
    const i = l.indexOf(":");
    headers.push([l.slice(0, i), l.slice(i + 1).trimStart()]);
  }
  return { status: m[1] ? Number(m[1]) : 0, description: m[2] ?? "", headers, get: (k) => headers.find(([x]) => x === k)?.[1] };
}

describe("jetstream raw wire", () => {
  let srv;
  let c;
  let n = 0;
  let version;
  // One connection with a wildcard inbox subscription (sid 1) for replies.
  const inbox = () => `_INBOX.raw.${++n}`;
  const request = async (subject, body, schema) => {
    const reply = inbox();
    const payload = Buffer.from(body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body));
    c.send(`PUB ${subject} ${reply} ${payload.length}\r\n`);
    c.send(Buffer.concat([payload, Buffer.from("\r\n")]));
    const m = await c.readMsg();
    assert.equal(m.subject, reply);
    if (schema) return validate(schema, JSON.parse(m.data.toString()));
    return m;
  };

  // PUB with the payload length computed.
  const pub = (subject, reply, body) => {
    const payload = Buffer.from(body);
    c.send(`PUB ${subject} ${reply} ${payload.length}\r\n`);
    c.send(Buffer.concat([payload, Buffer.from("\r\n")]));
  };

  before(async () => {
    srv = await startServer();
    c = await rawConn(srv.port);
    version = c.info.version;
    assert.equal(c.info.jetstream, true);
    c.send(CONNECT + "SUB _INBOX.raw.* 1\r\nPING\r\n");
    await c.expectExact("PONG\r\n");
    const created = await request("$JS.API.STREAM.CREATE.RAW", { name: "RAW", subjects: ["raw.*"], allow_direct: true }, "stream_create_response");
    assert.equal(created.error, undefined);
  });
  after(async () => {
    c?.close();
    await srv?.stop();
  });

  test("PubAck for PUB with reply; no PubAck without reply", logsOnFailure(async () => {
    let m = await request("raw.a", "hello");
    assert.deepEqual(validate("pub_ack_response", JSON.parse(m.data.toString())), { stream: "RAW", seq: 1 });
    c.send("PUB raw.b 3\r\nb-1\r\nPING\r\n");
    await c.expectExact("PONG\r\n");
    m = await request("raw.a", "m-2");
    assert.deepEqual(JSON.parse(m.data.toString()), { stream: "RAW", seq: 3 });
    const info = await request("$JS.API.STREAM.INFO.RAW", "", "stream_info_response");
    assert.equal(info.state.messages, 3);
  }));

  test("pull: single request, no_wait batch, empty no_wait, expiring request", logsOnFailure(async () => {
    const ci = await request("$JS.API.CONSUMER.CREATE.RAW.d1", { stream_name: "RAW", config: { name: "d1", durable_name: "d1", ack_policy: "explicit", filter_subject: "raw.a" } }, "consumer_create_response");
    assert.equal(ci.error, undefined, JSON.stringify(ci.error));
    assert.equal(ci.num_pending, 2);
    // Empty body = batch 1.
    const r1 = inbox();
    pub("$JS.API.CONSUMER.MSG.NEXT.RAW.d1", r1, "");
    let m = await c.readMsg();
    assert.equal(m.op, "MSG");
    assert.equal(m.subject, "raw.a");
    assert.equal(m.data.toString(), "hello");
    assert.match(m.reply, /^\$JS\.ACK\.RAW\.d1\.1\.1\.1\.\d+\.1$/);
    // no_wait with one message left: the message, then a 404/408 end status.
    const r2 = inbox();
    pub("$JS.API.CONSUMER.MSG.NEXT.RAW.d1", r2, '{"batch":5,"no_wait":true}');
    m = await c.readMsg();
    assert.equal(m.data.toString(), "m-2");
    assert.match(m.reply, /^\$JS\.ACK\.RAW\.d1\.1\.3\.2\.\d+\.0$/);
    m = await c.readMsg();
    assert.equal(m.op, "HMSG");
    assert.equal(m.subject, r2);
    assert.equal(m.data.length, 0);
    let h = parseHdr(m.hdr);
    // 2.9/2.10 end a partly filled no_wait batch with 408, 2.11+ with 404.
    assert.ok(h.status === 408 || h.status === 404, `status ${h.status}`);
    // Nothing pending: 404 No Messages, byte exact apart from spacing.
    const r3 = inbox();
    pub("$JS.API.CONSUMER.MSG.NEXT.RAW.d1", r3, '{"batch":5,"no_wait":true}');
    m = await c.readMsg();
    assert.equal(m.hdr, "NATS/1.0 404 No Messages\r\n\r\n");
    assert.equal(m.data.length, 0);
    // Expiring request with nothing to deliver: 408 with pending counts.
    const r4 = inbox();
    const t0 = Date.now();
    pub("$JS.API.CONSUMER.MSG.NEXT.RAW.d1", r4, '{"batch":2,"expires":500000000}');
    m = await c.readMsg(5000);
    const dt = Date.now() - t0;
    assert.ok(dt >= 400 && dt < 3000, `expired after ${dt} ms`);
    assert.equal(m.subject, r4);
    assert.equal(m.hdr, "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n");
  }));

  test("acks with a reply are confirmed with an empty message", logsOnFailure(async () => {
    await request("raw.a", "to-ack");
    await request("$JS.API.CONSUMER.CREATE.RAW.d2", { stream_name: "RAW", config: { name: "d2", durable_name: "d2", ack_policy: "explicit", deliver_policy: "last" } }, "consumer_create_response");
    const r = inbox();
    pub("$JS.API.CONSUMER.MSG.NEXT.RAW.d2", r, "1");
    const m = await c.readMsg();
    assert.equal(m.data.toString(), "to-ack");
    const ackReply = inbox();
    pub(m.reply, ackReply, "+ACK");
    const conf = await c.readMsg();
    assert.equal(conf.op, "MSG");
    assert.equal(conf.subject, ackReply);
    assert.equal(conf.data.length, 0);
    // A duplicate ack is confirmed too.
    const again = inbox();
    pub(m.reply, again, "");
    assert.equal((await c.readMsg()).subject, again);
    const ci = await request("$JS.API.CONSUMER.INFO.RAW.d2", "", "consumer_info_response");
    assert.equal(ci.num_ack_pending, 0);
    assert.equal(ci.ack_floor.stream_seq, 4);
  }));

  test("pull limits: max_batch exceeded, consumer deleted while waiting", logsOnFailure(async () => {
    await request("$JS.API.CONSUMER.CREATE.RAW.mb", { stream_name: "RAW", config: { name: "mb", durable_name: "mb", ack_policy: "explicit", max_batch: 5, deliver_policy: "new" } }, "consumer_create_response");
    const r = inbox();
    pub("$JS.API.CONSUMER.MSG.NEXT.RAW.mb", r, '{"batch":10}');
    let m = await c.readMsg();
    assert.equal(m.hdr, "NATS/1.0 409 Exceeded MaxRequestBatch of 5\r\n\r\n");
    const w = inbox();
    pub("$JS.API.CONSUMER.MSG.NEXT.RAW.mb", w, '{"batch":1,"expires":9000000000}');
    c.send("PING\r\n");
    await c.expectExact("PONG\r\n");
    const d = inbox();
    pub("$JS.API.CONSUMER.DELETE.RAW.mb", d, "");
    const got = [await c.readMsg(), await c.readMsg()];
    const deleted = got.find((x) => x.subject === w);
    const resp = got.find((x) => x.subject === d);
    assert.ok(deleted && resp, got.map((x) => x.raw).join(" | "));
    assert.equal(deleted.hdr, "NATS/1.0 409 Consumer Deleted\r\n\r\n");
    assert.deepEqual(validate("consumer_delete_response", JSON.parse(resp.data.toString())),
      { type: "io.nats.jetstream.api.v1.consumer_delete_response", success: true });
  }));

  test("push consumer: idle heartbeats while idle, then messages", logsOnFailure(async () => {
    c.send("SUB raw.deliver.hb 7\r\nPING\r\n");
    await c.expectExact("PONG\r\n");
    const ci = await request("$JS.API.CONSUMER.CREATE.RAW.hb", {
      stream_name: "RAW",
      config: { name: "hb", durable_name: "hb", deliver_subject: "raw.deliver.hb", ack_policy: "none", deliver_policy: "new", idle_heartbeat: 200_000_000 },
    }, "consumer_create_response");
    assert.equal(ci.config.idle_heartbeat, 200_000_000);
    let m = await c.readMsg(3000);
    assert.equal(m.subject, "raw.deliver.hb");
    assert.equal(m.sid, "7");
    assert.equal(m.reply, "");
    let h = parseHdr(m.hdr);
    assert.equal(h.status, 100);
    assert.equal(h.description, "Idle Heartbeat");
    assert.equal(h.get("Nats-Last-Consumer"), "0");
    assert.ok(h.get("Nats-Last-Stream") !== undefined);
    c.send("PUB raw.c 4\r\npush\r\n");
    for (;;) {
      m = await c.readMsg(3000);
      if (m.op === "MSG") break;
      assert.equal(parseHdr(m.hdr).status, 100);
    }
    assert.equal(m.subject, "raw.c");
    assert.equal(m.data.toString(), "push");
    assert.match(m.reply, /^\$JS\.ACK\.RAW\.hb\.1\.\d+\.1\.\d+\.0$/);
    for (;;) {
      m = await c.readMsg(3000);
      h = parseHdr(m.hdr);
      if (h.get("Nats-Last-Consumer") === "1") break;
    }
    await request("$JS.API.CONSUMER.DELETE.RAW.hb", "", "consumer_delete_response");
    c.send("UNSUB 7\r\nPING\r\n");
    // Heartbeats already in flight may precede the PONG.
    await c.expect("PONG\r\n", 3000);
  }));

  test("direct get: stored message plus Nats-* headers; status replies", logsOnFailure(async () => {
    const r = inbox();
    pub("$JS.API.DIRECT.GET.RAW", r, '{"seq":1}');
    let m = await c.readMsg();
    assert.equal(m.op, "HMSG");
    assert.equal(m.data.toString(), "hello");
    let h = parseHdr(m.hdr);
    assert.equal(h.status, 0);
    assert.equal(h.get("Nats-Stream"), "RAW");
    assert.equal(h.get("Nats-Subject"), "raw.a");
    assert.equal(h.get("Nats-Sequence"), "1");
    assert.match(h.get("Nats-Time-Stamp"), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const last = inbox();
    pub("$JS.API.DIRECT.GET.RAW.raw.b", last, "");
    m = await c.readMsg();
    assert.equal(m.data.toString(), "b-1");
    assert.equal(parseHdr(m.hdr).get("Nats-Sequence"), "2");
    const nf = inbox();
    pub("$JS.API.DIRECT.GET.RAW", nf, '{"seq":99}');
    m = await c.readMsg();
    assert.equal(m.hdr, "NATS/1.0 404 Message Not Found\r\n\r\n");
    const empty = inbox();
    pub("$JS.API.DIRECT.GET.RAW", empty, "");
    m = await c.readMsg();
    assert.equal(m.hdr, "NATS/1.0 408 Empty Request\r\n\r\n");
    const bad = inbox();
    pub("$JS.API.DIRECT.GET.RAW", bad, "xyz");
    m = await c.readMsg();
    assert.equal(m.hdr, "NATS/1.0 408 Malformed Request\r\n\r\n");
  }));

  test("API errors: stream and consumer not found, invalid JSON", logsOnFailure(async () => {
    const nf = await request("$JS.API.STREAM.INFO.NOPE", "", "stream_info_response");
    assert.deepEqual(nf.error, { code: 404, err_code: 10059, description: "stream not found" });
    const ci = await request("$JS.API.CONSUMER.INFO.RAW.nope", "", "consumer_info_response");
    assert.deepEqual(ci.error, { code: 404, err_code: 10014, description: "consumer not found" });
    const bad = await request("$JS.API.STREAM.CREATE.RAW2", "{not json", "stream_create_response");
    assert.equal(bad.error?.err_code, 10025);
  }));

  test("unknown API subject gets a system_response error (2.10+)", logsOnFailure(async (t) => {
    if (!versionAtLeast(version, "2.10.0")) return t.skip(`unknown API subjects get no reply before 2.10 (server ${version})`);
    const unk = await request("$JS.API.NO.SUCH.THING", "");
    assert.deepEqual(JSON.parse(unk.data.toString()),
      { type: "io.nats.jetstream.api.v1.system_response", error: { code: 400, err_code: 10003, description: "bad request" } });
  }));
});
