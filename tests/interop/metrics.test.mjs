// /metrics: the Prometheus text format, read with a real Prometheus parser
// (Debian's python3-prometheus-client), checked against the numbers the
// JetStream API gives while a nats.js producer and consumer run.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { promisify } from "node:util";
import path from "node:path";
import { jetstreamManager, jetstream, AckPolicy } from "@nats-io/jetstream";
import { startServer, freePort, waitFor, within, logsOnFailure, serverBin } from "./lib/server.mjs";
import { connectTo } from "./lib/client.mjs";

const run = promisify(execFile);
const REFERENCE = path.basename(serverBin) === "nats-server";

// Parses exposition text with prometheus_client's own parser; a malformed
// line makes it throw, and the test fails with its message.
const PARSER = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append({"family": fam.name, "type": fam.type, "name": s.name, "labels": s.labels, "value": s.value})
json.dump(out, sys.stdout)
`;

async function scrape(mport) {
  const res = await within(fetch(`http://127.0.0.1:${mport}/metrics`), 5000, "GET /metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const child = run("/usr/bin/python3", ["-c", PARSER], { timeout: 20_000, maxBuffer: 64 << 20 });
  child.child.stdin.end(text);
  const { stdout } = await child;
  return { text, samples: JSON.parse(stdout) };
}

function one(samples, name, labels = {}) {
  const hits = samples.filter((s) => s.name === name &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(hits.length, 1, `${name} ${JSON.stringify(labels)}: ${hits.length} samples`);
  return hits[0];
}

describe("prometheus /metrics", { skip: REFERENCE && "nats-server has no /metrics" }, () => {
  let srv, mport, nc;
  before(async () => {
    mport = await freePort();
    srv = await startServer({ args: ["-m", String(mport)] });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${mport}/healthz`)).ok, 10_000, "monitor");
    nc = await connectTo(srv);
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("stream and consumer numbers match the API's while a producer and a consumer run", logsOnFailure(async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    await jsm.consumers.add("ORDERS", {
      durable_name: "InvoiceProcessor", ack_policy: AckPolicy.Explicit, description: 'says "hi"',
    });
    const js = jetstream(nc);
    // 60 publishes, 10 of which repeat a msg id: 50 stored, 10 duplicates.
    for (let i = 0; i < 60; i++) {
      await js.publish(`orders.oslo.${i % 3}`, `order ${i}`, { msgID: `id-${i < 50 ? i : i - 50}` });
    }
    const consumer = await js.consumers.get("ORDERS", "InvoiceProcessor");
    const batch = await consumer.fetch({ max_messages: 20, expires: 5000 });
    let n = 0;
    for await (const m of batch) {
      if (n++ < 15) await m.ackAck(); // 15 acked, 5 left pending
    }
    assert.equal(n, 20);
    // A pull request left waiting shows in num_waiting.
    // 30 messages remain: the request takes one at once, so ask for more than that.
    const waiting = await consumer.fetch({ max_messages: 100, expires: 30_000 });
    const drained = (async () => {
      // Not acked: the numbers must hold still between the API and the scrape.
      for await (const m of waiting) void m;
    })();
    await waitFor(async () => (await jsm.consumers.info("ORDERS", "InvoiceProcessor")).num_waiting >= 1,
      5000, "the pull request to wait");

    const si = await jsm.streams.info("ORDERS");
    const ci = await jsm.consumers.info("ORDERS", "InvoiceProcessor");
    const { samples } = await scrape(mport);
    const sl = { stream_name: "ORDERS", account: "$G" };
    assert.equal(one(samples, "jetstream_stream_total_messages", sl).value, si.state.messages);
    assert.equal(si.state.messages, 50);
    assert.equal(one(samples, "jetstream_stream_total_bytes", sl).value, si.state.bytes);
    assert.equal(one(samples, "jetstream_stream_first_seq", sl).value, si.state.first_seq);
    assert.equal(one(samples, "jetstream_stream_last_seq", sl).value, si.state.last_seq);
    assert.equal(one(samples, "jetstream_stream_consumer_count", sl).value, 1);
    assert.equal(one(samples, "fjord_stream_published_messages_total", sl).value, 50);
    assert.equal(one(samples, "fjord_stream_duplicate_messages_total", sl).value, 10);

    const cl = { ...sl, consumer_name: "InvoiceProcessor" };
    const c = (name) => one(samples, `jetstream_consumer_${name}`, cl);
    assert.equal(c("num_pending").value, ci.num_pending);
    assert.equal(ci.num_pending, 0, "the waiting request took the rest");
    assert.equal(c("num_ack_pending").value, ci.num_ack_pending);
    assert.equal(ci.num_ack_pending, 35);
    assert.equal(c("num_redelivered").value, ci.num_redelivered);
    assert.equal(c("delivered_consumer_seq").value, ci.delivered.consumer_seq);
    assert.equal(c("delivered_stream_seq").value, ci.delivered.stream_seq);
    assert.equal(c("ack_floor_stream_seq").value, ci.ack_floor.stream_seq);
    assert.equal(ci.ack_floor.stream_seq, 15);
    assert.equal(c("ack_floor_consumer_seq").value, ci.ack_floor.consumer_seq);
    assert.equal(c("num_waiting").value, ci.num_waiting);
    assert.ok(ci.num_waiting >= 1);
    assert.equal(c("num_pending").labels.consumer_desc, 'says "hi"', "label values are escaped and read back");

    assert.equal(one(samples, "jetstream_server_total_streams").value, 1);
    assert.equal(one(samples, "jetstream_server_total_consumers").value, 1);
    assert.equal(one(samples, "jetstream_server_total_messages").value, 50);
    assert.equal(one(samples, "jetstream_server_jetstream_disabled").value, 0);
    waiting.stop();
    await within(drained, 10_000, "the waiting fetch to stop");
  }));

  test("latency histograms count what happened: fsyncs, publish-to-ack, API requests", logsOnFailure(async () => {
    const { samples } = await scrape(mport);
    for (const h of ["fjord_store_fsync_seconds", "fjord_jetstream_publish_ack_seconds",
      "fjord_jetstream_api_request_seconds"]) {
      const buckets = samples.filter((s) => s.name === `${h}_bucket`);
      assert.ok(buckets.length >= 2, h);
      const inf = buckets.find((s) => s.labels.le === "+Inf");
      const count = one(samples, `${h}_count`).value;
      assert.equal(inf.value, count, `${h}: +Inf bucket equals the count`);
      const les = buckets.map((b) => b.labels.le === "+Inf" ? Infinity : Number(b.labels.le));
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(les[i] > les[i - 1] && buckets[i].value >= buckets[i - 1].value, `${h} cumulative`);
      }
      assert.ok(one(samples, `${h}_sum`).value > 0, `${h}_sum`);
    }
    // 60 publishes were acknowledged (duplicates too); each fsynced first.
    assert.ok(one(samples, "fjord_jetstream_publish_ack_seconds_count").value >= 60);
    assert.ok(one(samples, "fjord_store_fsync_seconds_count").value >= 1);
    assert.ok(one(samples, "fjord_jetstream_api_request_seconds_count").value >= 4);
  }));

  test("server metrics carry prometheus-nats-exporter's names and follow /varz", logsOnFailure(async () => {
    const varz = await (await fetch(`http://127.0.0.1:${mport}/varz`)).json();
    const { samples } = await scrape(mport);
    const id = varz.server_id;
    for (const k of ["connections", "total_connections", "subscriptions", "slow_consumers", "in_msgs",
      "out_msgs", "in_bytes", "out_bytes", "mem", "cores", "max_payload"]) {
      const s = one(samples, `gnatsd_varz_${k}`);
      assert.equal(s.labels.server_id, id);
      assert.equal(s.type ?? "gauge", "gauge");
    }
    assert.equal(one(samples, "gnatsd_varz_connections").value, varz.connections);
    assert.ok(one(samples, "gnatsd_varz_in_msgs").value >= varz.in_msgs);
    assert.equal(one(samples, "gnatsd_varz_version").labels.value, varz.version);
    assert.ok(one(samples, "gnatsd_subsz_num_subscriptions").value >= 1);
    assert.equal(one(samples, "fjord_info").labels.nats_version, varz.version);
  }));

  test("scraping with 1,000 consumers stays correct", logsOnFailure(async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "MANY", subjects: ["many.>"], storage: "memory" });
    await Promise.all(Array.from({ length: 1000 }, (_, i) =>
      jsm.consumers.add("MANY", { durable_name: `c${i}`, ack_policy: AckPolicy.None })));
    const { samples } = await scrape(mport);
    const pending = samples.filter((s) => s.name === "jetstream_consumer_num_pending" && s.labels.stream_name === "MANY");
    assert.equal(pending.length, 1000);
    assert.equal(one(samples, "jetstream_stream_consumer_count", { stream_name: "MANY" }).value, 1000);
  }));
});

describe("prometheus /metrics without JetStream", { skip: REFERENCE && "nats-server has no /metrics" }, () => {
  test("says JetStream is disabled and still serves server metrics", logsOnFailure(async () => {
    const mport = await freePort();
    const srv = await startServer({ jetstream: false, args: ["-m", String(mport)] });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${mport}/healthz`)).ok, 10_000, "monitor");
      const { samples } = await scrape(mport);
      assert.equal(one(samples, "jetstream_server_jetstream_disabled").value, 1);
      assert.ok(one(samples, "gnatsd_varz_connections").value >= 0);
    } finally {
      await srv.stop();
    }
  }));
});

// prometheus-nats-exporter turns every numeric field of /varz, /subsz and
// /connz into a metric, and reads /jsz's numbers: whatever nats-server 2.9.10
// gives there, Fjord must give too, or dashboards show gaps.
describe("monitoring fields the exporter reads, against nats-server 2.9.10", () => {
  test("every numeric field of the reference's /varz, /subsz, /connz and /jsz is there", logsOnFailure(async () => {
    const refBin = execFileSync("sh", ["-c", "command -v nats-server"]).toString().trim();
    const ports = { ref: await freePort(), refMon: await freePort(), fjMon: await freePort() };
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-exporter-"));
    const ref = spawn(refBin, ["-js", "-sd", tmp, "-a", "127.0.0.1", "-p", String(ports.ref), "-m", String(ports.refMon)],
      { stdio: "ignore" });
    const fj = await startServer({ args: ["-m", String(ports.fjMon)] });
    try {
      const get = async (port, p) => (await within(fetch(`http://127.0.0.1:${port}${p}`), 5000, p)).json();
      await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.refMon}/healthz`).catch(() => null))?.ok,
        10_000, "the reference's monitor");
      await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.fjMon}/healthz`)).ok, 10_000, "monitor");
      const numeric = (o) => Object.keys(o).filter((k) => typeof o[k] === "number").sort();
      for (const p of ["/varz", "/subsz", "/connz", "/jsz", "/jsz?accounts=true"]) {
        const [r, f] = [await get(ports.refMon, p), await get(ports.fjMon, p)];
        const missing = numeric(r).filter((k) => !(k in f) || typeof f[k] !== "number");
        assert.deepEqual(missing, [], `${p}: numeric fields of nats-server missing in Fjord`);
        if (p.startsWith("/jsz")) {
          assert.deepEqual(numeric(r.config).filter((k) => typeof f.config?.[k] !== "number"), [], `${p} config`);
        }
      }
    } finally {
      ref.kill("SIGKILL");
      await fj.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }));
});
