// HTTP monitoring (`-m` / `http_port` / `http:`): the endpoints Kubernetes
// probes, prometheus-nats-exporter and nats-surveyor read, with
// nats-server 2.9.10's paths, parameters, status codes and JSON fields.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { jetstreamManager, jetstream } from "@nats-io/jetstream";
import { startServer, freePort, waitFor, within, logsOnFailure, sleep } from "./lib/server.mjs";
import { connectTo } from "./lib/client.mjs";

// GET with a bound; returns {status, type, text, json}.
async function get(port, path) {
  const res = await within(fetch(`http://127.0.0.1:${port}${path}`), 5000, `GET ${path}`);
  const text = await res.text();
  let json;
  if ((res.headers.get("content-type") || "").startsWith("application/json")) json = JSON.parse(text);
  return { status: res.status, type: res.headers.get("content-type"), text, json };
}

// The client port can be up a moment before the monitor (Fjord starts it
// last), so the first request waits for it.
async function monitorUp(port) {
  await waitFor(async () => (await get(port, "/healthz")).status === 200, 10_000, "monitor to answer");
}

const number = (v) => typeof v === "number" && Number.isFinite(v);

describe("monitoring", () => {
  let srv, mport;
  before(async () => {
    mport = await freePort();
    srv = await startServer({ args: ["-m", String(mport)] });
    await monitorUp(mport);
  });
  after(async () => {
    await srv?.stop();
  });

  test("startup log names the monitor address", () => {
    // The monitor binds the client listener's host (`-a`) unless told otherwise.
    assert.match(srv.log(), new RegExp(`Starting http monitor on 127\\.0\\.0\\.1:${mport}`));
  });

  test("/healthz is ok, also for the JetStream-only checks", logsOnFailure(async () => {
    for (const q of ["", "?js-enabled-only=true", "?js-server-only=true"]) {
      const r = await get(mport, `/healthz${q}`);
      assert.equal(r.status, 200, q);
      assert.deepEqual(r.json, { status: "ok" });
    }
    const bad = await get(mport, "/healthz?js-enabled-only=maybe");
    assert.equal(bad.status, 400);
  }));

  test("/ is the index and unknown paths are 404", async () => {
    const idx = await get(mport, "/");
    assert.equal(idx.status, 200);
    for (const p of ["varz", "connz", "subsz", "jsz", "healthz"]) assert.match(idx.text, new RegExp(`href=\\./${p}`));
    const nf = await get(mport, "/nope");
    assert.equal(nf.status, 404);
    assert.equal(nf.text, "404 page not found\n");
  });

  test("/varz has the fields tools read, with live counters", logsOnFailure(async () => {
    const v0 = (await get(mport, "/varz")).json;
    for (const k of ["server_id", "server_name", "version", "go", "host", "uptime", "start", "now"]) {
      assert.equal(typeof v0[k], "string", k);
    }
    for (const k of ["port", "max_connections", "ping_interval", "ping_max", "http_port", "max_payload",
      "max_pending", "connections", "total_connections", "in_msgs", "out_msgs", "in_bytes", "out_bytes",
      "slow_consumers", "subscriptions", "mem", "cores", "cpu"]) {
      assert.ok(number(v0[k]), `${k}: ${v0[k]}`);
    }
    assert.match(v0.version, /^2\.\d+\.\d+$/);
    // What exporters read besides the counters, as nats-server fills them.
    assert.equal(v0.system_account, "$SYS");
    assert.equal(v0.tls_timeout, 2);
    assert.ok(Date.parse(v0.config_load_time) <= Date.parse(v0.now), v0.config_load_time);
    assert.ok(v0.http_req_stats["/varz"] >= 1, JSON.stringify(v0.http_req_stats));
    const before = v0.http_req_stats["/healthz"] ?? 0;
    await get(mport, "/healthz");
    const after = (await get(mport, "/varz")).json.http_req_stats;
    assert.equal(after["/healthz"], before + 1, JSON.stringify(after));
    assert.equal(after["/varz"], v0.http_req_stats["/varz"] + 1);
    assert.equal(after["/nonexistent"], undefined);
    assert.equal(v0.port, srv.port);
    assert.equal(v0.http_port, mport);
    assert.equal(v0.max_payload, 1048576);
    assert.equal(v0.ping_interval, 120_000_000_000);
    assert.ok(v0.mem > 0);
    assert.equal(typeof v0.jetstream.config, "object");
    assert.equal(typeof v0.jetstream.stats, "object");
    assert.ok(number(v0.jetstream.stats.storage));

    const nc = await connectTo(srv);
    try {
      const sub = nc.subscribe("mon.varz");
      for (let i = 0; i < 5; i++) nc.publish("mon.varz", "12345");
      await nc.flush();
      await waitFor(async () => (await get(mport, "/varz")).json.out_msgs >= v0.out_msgs + 5, 5000, "out_msgs");
      const v1 = (await get(mport, "/varz")).json;
      assert.ok(v1.in_msgs >= v0.in_msgs + 5, `in_msgs ${v0.in_msgs} -> ${v1.in_msgs}`);
      assert.ok(v1.in_bytes >= v0.in_bytes + 25);
      assert.ok(v1.out_bytes >= v0.out_bytes + 25);
      assert.equal(v1.connections, v0.connections + 1);
      assert.ok(v1.total_connections >= v0.total_connections + 1);
      assert.ok(v1.subscriptions >= v0.subscriptions + 1);
      sub.unsubscribe();
    } finally {
      await nc.close();
    }
  }));

  test("/varz counts a closing connection's traffic once", logsOnFailure(async () => {
    const base = (await get(mport, "/varz")).json.in_msgs;
    const conns = 40, each = 50;
    let polling = true, worst = 0, polls = 0;
    const poller = (async () => {
      while (polling) {
        worst = Math.max(worst, (await get(mport, "/varz")).json.in_msgs);
        polls++;
      }
    })();
    await Promise.all(Array.from({ length: conns }, async (_, i) => {
      const nc = await connectTo(srv);
      for (let k = 0; k < each; k++) nc.publish(`mon.close.${i}`, "x");
      await nc.flush();
      await nc.close();
    }));
    polling = false;
    await poller;
    const total = base + conns * each;
    assert.ok(polls > 0);
    assert.ok(worst <= total, `a /varz showed in_msgs ${worst}, more than the ${total} ever sent`);
    await waitFor(async () => (await get(mport, "/varz")).json.in_msgs === total, 5000, "exact in_msgs");
  }));

  test("/connz lists connections with limit, offset, sort and subs", logsOnFailure(async () => {
    const a = await connectTo(srv, { name: "mon-a" });
    const b = await connectTo(srv, { name: "mon-b" });
    try {
      let got = 0;
      a.subscribe("mon.connz.>", { callback: () => got++ });
      await a.flush(); // the server has the subscription before b publishes
      for (let i = 0; i < 3; i++) b.publish("mon.connz.x", "hi");
      await b.flush();
      await waitFor(() => got === 3, 5000, "3 messages");
      const mine = (c) => c.name === "mon-a" || c.name === "mon-b";
      await waitFor(async () => (await get(mport, "/connz")).json.connections.filter(mine).length === 2, 5000, "both connections");
      const all = (await get(mport, "/connz?subs=1&sort=msgs_from")).json;
      for (const k of ["server_id", "now"]) assert.equal(typeof all[k], "string");
      for (const k of ["num_connections", "total", "offset", "limit"]) assert.ok(number(all[k]), k);
      assert.equal(all.limit, 1024);
      const conns = all.connections.filter(mine);
      const ca = conns.find((c) => c.name === "mon-a");
      const cb = conns.find((c) => c.name === "mon-b");
      assert.deepEqual(ca.subscriptions_list, ["mon.connz.>"]);
      assert.equal(ca.subscriptions, 1);
      assert.equal(cb.in_msgs, 3);
      assert.equal(cb.in_bytes, 6);
      assert.equal(cb.lang, "nats.js");
      for (const k of ["cid", "port", "pending_bytes", "in_msgs", "out_msgs", "in_bytes", "out_bytes", "subscriptions"]) {
        assert.ok(number(ca[k]), k);
      }
      for (const k of ["ip", "start", "last_activity", "uptime", "idle"]) assert.equal(typeof ca[k], "string", k);
      // Largest in_msgs first: mon-b comes before mon-a.
      assert.ok(all.connections.indexOf(cb) < all.connections.indexOf(ca));
      // Default order is by cid, ascending.
      const byCid = (await get(mport, "/connz")).json.connections.map((c) => c.cid);
      assert.deepEqual(byCid, [...byCid].sort((x, y) => x - y));

      const page = (await get(mport, "/connz?limit=1&offset=1")).json;
      assert.equal(page.limit, 1);
      assert.equal(page.offset, 1);
      assert.equal(page.num_connections, 1);
      assert.equal(page.connections.length, 1);
      assert.ok(page.total >= 2);

      const detail = (await get(mport, "/connz?subs=detail")).json.connections.find((c) => c.name === "mon-a");
      assert.equal(detail.subscriptions_list_detail[0].subject, "mon.connz.>");
      assert.equal(detail.subscriptions_list_detail[0].msgs, 3);

      const badSort = await get(mport, "/connz?sort=foo");
      assert.equal(badSort.status, 400);
      assert.equal(badSort.text, "invalid sorting option: foo");
      const badLimit = await get(mport, "/connz?limit=abc");
      assert.equal(badLimit.status, 400);
      assert.match(badLimit.text, /Error decoding int for 'limit'/);
    } finally {
      await a.close();
      await b.close();
    }
  }));

  test("/subsz counts subscriptions", logsOnFailure(async () => {
    // The baseline once the earlier tests' connections have gone (their
    // closes reach the server after those tests end).
    let s0 = (await get(mport, "/subsz")).json;
    await waitFor(async () => {
      await sleep(200);
      const again = (await get(mport, "/subsz")).json;
      const same = again.num_subscriptions === s0.num_subscriptions;
      s0 = again;
      return same;
    }, 10_000, "a steady subscription count", 0);
    assert.ok(number(s0.num_subscriptions));
    const nc = await connectTo(srv);
    try {
      nc.subscribe("mon.subsz.a");
      nc.subscribe("mon.subsz.b");
      await nc.flush();
      const s1 = (await get(mport, "/subsz?subs=1")).json;
      assert.equal(s1.num_subscriptions, s0.num_subscriptions + 2);
      const subjects = s1.subscriptions_list.map((s) => s.subject);
      assert.ok(subjects.includes("mon.subsz.a") && subjects.includes("mon.subsz.b"), subjects.join(","));
      // The statistics exporters read, from live counters as nats-server's.
      for (const k of ["num_cache", "num_inserts", "num_removes", "num_matches", "cache_hit_rate", "max_fanout",
        "avg_fanout"]) {
        assert.ok(number(s1[k]), `${k}: ${s1[k]}`);
      }
      assert.ok(s1.num_inserts >= s0.num_inserts + 2);
      const fan = nc.subscribe("mon.subsz.*");
      for (let i = 0; i < 10; i++) nc.publish("mon.subsz.a", "x");
      await nc.flush();
      const s2 = (await get(mport, "/subsz")).json;
      // Connections keep their own cache of results in front of the index
      // (nats-server's too): ten publishes of one subject match it once.
      assert.ok(s2.num_matches >= s1.num_matches + 1, `num_matches ${s1.num_matches} -> ${s2.num_matches}`);
      assert.ok(s2.cache_hit_rate >= 0 && s2.cache_hit_rate <= 1, `cache_hit_rate ${s2.cache_hit_rate}`);
      assert.ok(s2.max_fanout >= 2, `max_fanout ${s2.max_fanout}`);
      assert.ok(s2.num_cache >= 1);
      fan.unsubscribe();
      await nc.flush();
      assert.ok((await get(mport, "/subsz")).json.num_removes >= s2.num_removes + 1);
    } finally {
      await nc.close();
    }
  }));

  test("/jsz sums streams and consumers and details them on request", logsOnFailure(async () => {
    const nc = await connectTo(srv);
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "MON", subjects: ["mon.js.>"], storage: "file" });
      await jsm.consumers.add("MON", { durable_name: "C1", ack_policy: "explicit" });
      const js = jetstream(nc);
      for (let i = 0; i < 3; i++) await js.publish("mon.js.x", "abc");

      const j = (await get(mport, "/jsz")).json;
      assert.equal(j.streams, 1);
      assert.equal(j.consumers, 1);
      assert.equal(j.messages, 3);
      assert.ok(j.bytes > 0 && j.storage > 0);
      assert.equal(j.memory, 0);
      assert.ok(number(j.api.total) && j.api.total > 0);
      assert.equal(typeof j.config.store_dir, "string");
      assert.equal(j.account_details, undefined);

      const d = (await get(mport, "/jsz?streams=true&consumers=true")).json;
      const acc = d.account_details[0];
      assert.equal(acc.name, "$G");
      const sd = acc.stream_detail.find((s) => s.name === "MON");
      assert.equal(sd.state.messages, 3);
      assert.equal(sd.config, undefined);
      assert.equal(sd.consumer_detail[0].name, "C1");
      assert.equal(sd.consumer_detail[0].num_pending, 3);
      assert.equal(sd.consumer_detail[0].config, undefined);

      const c = (await get(mport, "/jsz?streams=true&config=true")).json;
      assert.deepEqual(c.account_details[0].stream_detail.find((s) => s.name === "MON").config.subjects, ["mon.js.>"]);
      await jsm.streams.delete("MON");
    } finally {
      await nc.close();
    }
  }));
});

describe("monitoring configuration", () => {
  test("`http_auth` guards every endpoint but /healthz with HTTP Basic auth", logsOnFailure(async () => {
    const mport = await freePort();
    // bcrypt("bcrypt-pass", cost 10), as in auth.test.mjs.
    const hash = "$2a$10$6zPLnFOrfPRSWEK1bg14n.LQAwp9qJM/ylmWT/yHgIwnMGYo1FEaC";
    const srv = await startServer({
      config: `http: 127.0.0.1:${mport}\nhttp_auth { user: ops, password: "${hash}" }\n`,
    });
    const basic = (u, p) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });
    const status = async (p, headers = {}) =>
      (await within(fetch(`http://127.0.0.1:${mport}${p}`, { headers }), 5000, p)).status;
    try {
      await monitorUp(mport); // /healthz needs no credentials: probes keep working
      for (const p of ["/", "/varz", "/connz", "/subsz", "/jsz", "/metrics", "/console"]) {
        const res = await fetch(`http://127.0.0.1:${mport}${p}`);
        assert.equal(res.status, 401, p);
        assert.match(res.headers.get("www-authenticate"), /^Basic realm=/);
        assert.equal(await status(p, basic("ops", "wrong")), 401, `${p} with a wrong password`);
        assert.equal(await status(p, basic("other", "bcrypt-pass")), 401, `${p} with a wrong user`);
        assert.equal(await status(p, { authorization: "Basic !!!" }), 401, `${p} with garbage`);
        assert.equal(await status(p, basic("ops", "bcrypt-pass")), 200, `${p} with the right credentials`);
      }
    } finally {
      await srv.stop();
    }
  }));

  test("`http_auth` without a password is a config error", logsOnFailure(async () => {
    await assert.rejects(startServer({ config: "http_auth { user: ops }\n", startTimeout: 3000 }),
      /http_auth needs both user and password/);
  }));

  test("`http: host:port` in the config file", logsOnFailure(async () => {
    const mport = await freePort();
    const srv = await startServer({ config: `http: 127.0.0.1:${mport}\n`, jetstream: false });
    try {
      await monitorUp(mport);
      const v = (await get(mport, "/varz")).json;
      assert.equal(v.http_host, "127.0.0.1");
      assert.equal(v.http_port, mport);
      // Without JetStream: /jsz says so and /varz has no JetStream config.
      assert.equal((await get(mport, "/jsz")).json.disabled, true);
      assert.equal(v.jetstream.config, undefined);
    } finally {
      await srv.stop();
    }
  }));

  test("`http_port` in the config file", logsOnFailure(async () => {
    const mport = await freePort();
    const srv = await startServer({ config: `http_port: ${mport}\n`, jetstream: false });
    try {
      await monitorUp(mport);
      assert.match(srv.log(), new RegExp(`Starting http monitor on 127\\.0\\.0\\.1:${mport}`));
    } finally {
      await srv.stop();
    }
  }));

  test("a monitor port in use stops the server at start", logsOnFailure(async () => {
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, "0.0.0.0", r));
    const port = blocker.address().port;
    try {
      await assert.rejects(startServer({ args: ["-m", String(port)], jetstream: false }),
        /listen to the monitor port/i);
    } finally {
      blocker.close();
    }
  }));
});
