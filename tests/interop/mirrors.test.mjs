// Stream mirrors and sources on one server: contents, sequences, the
// Nats-Stream-Source header, StreamInfo mirror/sources, restart and kill -9
// (nothing copied twice, nothing skipped), and config validation. Written
// against nats-server 2.9.10; where 2.9.10 accepts a config later servers
// reject (and Fjord rejects, see README), the reference branch says so.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { headers } from "@nats-io/transport-node";
import { serverBin, startServer, waitFor, logsOnFailure, serverVersion, versionAtLeast } from "./lib/server.mjs";
import { connectTo, api, dec } from "./lib/client.mjs";

const REFERENCE = path.basename(serverBin) === "nats-server";

async function pub(nc, subject, data, hdrs) {
  let h;
  if (hdrs) {
    h = headers();
    for (const [k, v] of Object.entries(hdrs)) h.append(k, v);
  }
  const m = await nc.request(subject, data, { timeout: 5000, headers: h });
  const ack = JSON.parse(dec.decode(m.data));
  assert.equal(ack.error, undefined, JSON.stringify(ack.error));
  return ack.seq;
}

async function info(nc, name) {
  const r = await api(nc, `STREAM.INFO.${name}`, {}, "stream_info_response");
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  return r;
}

// The message at `seq`, with its header block decoded, or null if none.
async function get(nc, stream, seq) {
  const r = await api(nc, `STREAM.MSG.GET.${stream}`, { seq }, "stream_msg_get_response");
  if (r.error) {
    assert.equal(r.error.err_code, 10037, JSON.stringify(r.error));
    return null;
  }
  const m = r.message;
  return {
    subject: m.subject,
    seq: m.seq,
    time: m.time,
    data: Buffer.from(m.data ?? "", "base64").toString(),
    hdrs: m.hdrs ? Buffer.from(m.hdrs, "base64").toString() : "",
  };
}

async function all(nc, stream) {
  const st = (await info(nc, stream)).state;
  const out = [];
  for (let s = st.first_seq; s <= st.last_seq && st.messages > 0; s++) {
    const m = await get(nc, stream, s);
    if (m) out.push(m);
  }
  return out;
}

// The header's value; its first four fields only (2.11+ append more).
function sourceOf(m) {
  const line = m.hdrs.split("\r\n").find((l) => l.startsWith("Nats-Stream-Source:"));
  return line ? line.slice("Nats-Stream-Source:".length).trim().split(" ").slice(0, 4).join(" ") : null;
}

async function caughtUp(nc, name, lastSeq) {
  await waitFor(async () => (await info(nc, name)).state.last_seq >= lastSeq, 10000, `${name} at ${lastSeq}`);
}

// The sourced stream holds each origin sequence exactly once.
function assertSourcedOnce(msgs, origin, expectSeqs) {
  const seen = msgs.map(sourceOf).filter((v) => v && v.startsWith(origin + " ")).map((v) => Number(v.split(" ")[1]));
  assert.deepEqual([...seen].sort((a, b) => a - b), expectSeqs);
}

// Nats-Stream-Source as the server under test writes it: "<origin> <seq>"
// before 2.10, then with the source's filters and destinations.
const HDR210 = versionAtLeast(serverVersion, "2.10.0");
const srcHdr = (origin, seq, filter = ">") => (HDR210 ? `${origin} ${seq} ${filter} >` : `${origin} ${seq}`);

describe("mirrors and sources", () => {
  test("a mirror copies with the origin's sequences; sources add Nats-Stream-Source", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    try {
      let r = await api(nc, "STREAM.CREATE.O", { name: "O", subjects: ["o.>"] }, "stream_create_response");
      assert.equal(r.error, undefined);
      for (let i = 1; i <= 5; i++) await pub(nc, `o.${i % 2}`, `m${i}`, i === 4 ? { "X-Tag": "four" } : undefined);
      await api(nc, "STREAM.MSG.DELETE.O", { seq: 2 }, "stream_msg_delete_response");

      r = await api(nc, "STREAM.CREATE.M", { name: "M", mirror: { name: "O" } }, "stream_create_response");
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal(r.config.subjects, undefined);
      assert.deepEqual(r.config.mirror, { name: "O" });
      r = await api(nc, "STREAM.CREATE.S", {
        name: "S", subjects: ["s.>"], sources: [{ name: "O", filter_subject: "o.1" }, { name: "LATER" }],
      }, "stream_create_response");
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal(r.config.sources.length, 2);

      await caughtUp(nc, "M", 5);
      const m = await info(nc, "M");
      assert.equal(m.state.messages, 4);
      assert.equal(m.state.first_seq, 1);
      assert.equal(m.mirror.name, "O");
      assert.equal(m.mirror.lag, 0);
      assert.ok(m.mirror.active >= 0, `active ${m.mirror.active}`);
      assert.equal(await get(nc, "M", 2), null);
      for (const seq of [1, 3, 4, 5]) {
        const a = await get(nc, "O", seq);
        const b = await get(nc, "M", seq);
        assert.deepEqual(b, a, `seq ${seq}`);
      }
      // A mirror takes no publishes: nothing listens on its name.
      await assert.rejects(nc.request("M", "x", { timeout: 1000 }));

      await caughtUp(nc, "S", 3);
      const s = await all(nc, "S");
      assert.deepEqual(s.map((x) => [x.subject, x.data, sourceOf(x)]),
        [["o.1", "m1", srcHdr("O", 1, "o.1")], ["o.1", "m3", srcHdr("O", 3, "o.1")], ["o.1", "m5", srcHdr("O", 5, "o.1")]]);
      // A source's header block is exactly nats-server's (up to 2.10).
      if (!versionAtLeast(serverVersion, "2.11.0")) assert.equal(s[0].hdrs, `NATS/1.0\r\nNats-Stream-Source: ${srcHdr("O", 1, "o.1")}\r\n\r\n`);
      let si = await info(nc, "S");
      const later = si.sources.find((x) => x.name === "LATER");
      assert.equal(later.active, -1);
      assert.equal(later.error?.err_code, 10059);

      // Own publishes and both sources interleave; an origin created later starts then.
      await pub(nc, "s.own", "own");
      r = await api(nc, "STREAM.CREATE.LATER", { name: "LATER", subjects: ["later.>"] }, "stream_create_response");
      assert.equal(r.error, undefined);
      await pub(nc, "later.a", "l1");
      await pub(nc, "o.1", "m6");
      await caughtUp(nc, "S", 6);
      const s2 = await all(nc, "S");
      assert.equal(s2.length, 6);
      assert.deepEqual(s2.map(sourceOf).sort(),
        [srcHdr("LATER", 1), srcHdr("O", 1, "o.1"), srcHdr("O", 3, "o.1"), srcHdr("O", 5, "o.1"), srcHdr("O", 6, "o.1"), null].sort());
      si = await info(nc, "S");
      assert.ok(si.sources.every((x) => x.error === undefined && x.active >= 0), JSON.stringify(si.sources));

      // Deletes in the origin after the copy stay in the mirror.
      await caughtUp(nc, "M", 6);
      await api(nc, "STREAM.MSG.DELETE.O", { seq: 3 }, "stream_msg_delete_response");
      await pub(nc, "o.0", "m7");
      await caughtUp(nc, "M", 7);
      assert.equal((await get(nc, "M", 3))?.data, "m3");

      // Start positions.
      r = await api(nc, "STREAM.CREATE.M3", { name: "M3", mirror: { name: "O", opt_start_seq: 4 } }, "stream_create_response");
      assert.equal(r.error, undefined);
      await caughtUp(nc, "M3", 7);
      const m3 = await info(nc, "M3");
      assert.equal(m3.state.first_seq, 4);
      assert.equal(m3.state.messages, 4);
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));

  for (const how of ["restart", "kill -9"]) {
    test(`positions survive ${how}: nothing copied twice, nothing skipped`, logsOnFailure(async () => {
      const srv = await startServer();
      let nc = await connectTo(srv);
      try {
        await api(nc, "STREAM.CREATE.O", { name: "O", subjects: ["o.>"] }, "stream_create_response");
        await api(nc, "STREAM.CREATE.M", { name: "M", mirror: { name: "O" } }, "stream_create_response");
        await api(nc, "STREAM.CREATE.S", { name: "S", sources: [{ name: "O" }] }, "stream_create_response");
        let last = 0;
        const burst = async (n) => {
          const acks = [];
          for (let i = 0; i < n; i++) acks.push(pub(nc, `o.${i % 3}`, `x${i}`));
          last = Math.max(last, ...(await Promise.all(acks)));
        };
        await burst(200);
        if (how === "restart") {
          await caughtUp(nc, "M", last);
          await caughtUp(nc, "S", last);
          await nc.close();
          await srv.restart();
        } else {
          // Killed while the copies may still be catching up.
          await nc.close();
          await srv.kill9();
          await srv.restart();
        }
        nc = await connectTo(srv);
        await burst(100);
        await caughtUp(nc, "M", last);
        await waitFor(async () => (await info(nc, "S")).state.messages >= last, 10000, "S complete");
        const want = Array.from({ length: last }, (_, i) => i + 1);
        const s = await all(nc, "S");
        assert.equal(s.length, last);
        assertSourcedOnce(s, "O", want);
        const mi = await info(nc, "M");
        assert.equal(mi.state.messages, last);
        assert.equal(mi.state.last_seq, last);
        for (const seq of [1, 150, 200, 201, last]) {
          assert.deepEqual(await get(nc, "M", seq), await get(nc, "O", seq), `seq ${seq}`);
        }
      } finally {
        await nc.close();
        await srv.stop();
      }
    }));
  }

  test("sourced messages are deduplicated by msg id, as publishes are", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    try {
      for (const n of ["A", "B"]) {
        await api(nc, `STREAM.CREATE.${n}`, { name: n, subjects: [`${n.toLowerCase()}.>`] }, "stream_create_response");
      }
      await api(nc, "STREAM.CREATE.AGG", { name: "AGG", subjects: ["agg.>"], sources: [{ name: "A" }, { name: "B" }] },
        "stream_create_response");
      // The same order id reaches both regions, and once directly.
      await pub(nc, "agg.direct", "x", { "Nats-Msg-Id": "order-1" });
      await pub(nc, "a.order", "from A", { "Nats-Msg-Id": "order-1" });
      await pub(nc, "a.order", "from A", { "Nats-Msg-Id": "order-2" });
      await pub(nc, "b.order", "from B", { "Nats-Msg-Id": "order-2" });
      await pub(nc, "b.order", "from B", { "Nats-Msg-Id": "order-3" });
      await waitFor(async () => (await info(nc, "AGG")).state.messages >= 3, 10000, "copies");
      // Let every copy pass have run before counting.
      await waitFor(async () => {
        const si = await info(nc, "AGG");
        return si.sources.every((x) => x.lag === 0);
      }, 10000, "sources caught up");
      const ids = (await all(nc, "AGG")).map((m) => /Nats-Msg-Id:\s*(\S+)/.exec(m.hdrs)?.[1]).sort();
      assert.deepEqual(ids, ["order-1", "order-2", "order-3"]);
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));

  test("a source into a full discard-new stream holds messages back until there is room", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    try {
      await api(nc, "STREAM.CREATE.O", { name: "O", subjects: ["o.>"] }, "stream_create_response");
      await api(nc, "STREAM.CREATE.S", {
        name: "S", subjects: ["s.>"], sources: [{ name: "O" }], discard: "new", max_msgs: 3,
      }, "stream_create_response");
      for (let i = 1; i <= 5; i++) await pub(nc, "o.x", `m${i}`);
      await waitFor(async () => (await info(nc, "S")).state.messages === 3, 10000, "three copies");
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await info(nc, "S")).state.messages, 3, "the limit holds");
      // Room again: the two held back arrive, none was dropped.
      const p = await api(nc, "STREAM.PURGE.S", {}, "stream_purge_response");
      assert.equal(p.success, true);
      await waitFor(async () => (await info(nc, "S")).state.messages === 2, 10000, "the rest");
      const got = (await all(nc, "S")).map((m) => m.data);
      assert.deepEqual(got, ["m4", "m5"]);
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));

  test("a mirror whose origin is deleted and created again waits at its position, as 2.9.10's does", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    try {
      await api(nc, "STREAM.CREATE.O", { name: "O", subjects: ["o.>"] }, "stream_create_response");
      await api(nc, "STREAM.CREATE.M", { name: "M", mirror: { name: "O" } }, "stream_create_response");
      for (let i = 1; i <= 5; i++) await pub(nc, "o.x", `old${i}`);
      await caughtUp(nc, "M", 5);
      await api(nc, "STREAM.DELETE.O", {}, "stream_delete_response");
      await api(nc, "STREAM.CREATE.O", { name: "O", subjects: ["o.>"] }, "stream_create_response");
      for (let i = 1; i <= 3; i++) await pub(nc, "o.x", `new${i}`);
      await new Promise((r) => setTimeout(r, 1500));
      // The mirror keeps what it had and copies nothing of the new origin
      // until it passes the mirror's position; then it continues from there.
      let st = (await info(nc, "M")).state;
      assert.equal(st.last_seq, 5);
      assert.deepEqual((await all(nc, "M")).map((m) => m.data), ["old1", "old2", "old3", "old4", "old5"]);
      for (let i = 4; i <= 7; i++) await pub(nc, "o.x", `new${i}`);
      await caughtUp(nc, "M", 7);
      st = (await info(nc, "M")).state;
      assert.equal(st.last_seq, 7);
      const tail = (await all(nc, "M")).map((m) => m.data);
      assert.deepEqual(tail.slice(-2), ["new6", "new7"]);
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));

  test("raising duplicate_window brings back ids that had left the old window", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    try {
      const cfg = { name: "D", subjects: ["d.>"], duplicate_window: 1_000_000_000 };
      await api(nc, "STREAM.CREATE.D", cfg, "stream_create_response");
      assert.equal(await pub(nc, "d.x", "one", { "Nats-Msg-Id": "once" }), 1);
      await new Promise((r) => setTimeout(r, 1500)); // the id leaves the 1 s window
      await pub(nc, "d.y", "other", { "Nats-Msg-Id": "other" }); // and is expired from the table
      const up = await api(nc, "STREAM.UPDATE.D", { ...cfg, duplicate_window: 60_000_000_000 }, "stream_update_response");
      assert.equal(up.error, undefined, JSON.stringify(up.error));
      const m = await nc.request("d.x", "again", { timeout: 5000, headers: (() => {
        const h = headers();
        h.append("Nats-Msg-Id", "once");
        return h;
      })() });
      const ack = JSON.parse(dec.decode(m.data));
      if (REFERENCE) {
        // 2.9.10 forgot the id and stores it twice: the case Fjord fixes.
        assert.equal(ack.duplicate, undefined);
      } else {
        assert.equal(ack.duplicate, true, JSON.stringify(ack));
        assert.equal(ack.seq, 1);
        assert.equal((await info(nc, "D")).state.messages, 2);
      }
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));

  test("config validation", logsOnFailure(async () => {
    const srv = await startServer();
    const nc = await connectTo(srv);
    const create = (cfg) => api(nc, `STREAM.CREATE.${cfg.name}`, cfg, "stream_create_response");
    const expectErr = (r, code, what) => {
      assert.equal(r.error?.err_code, code, `${what}: ${JSON.stringify(r.error ?? r.config)}`);
    };
    try {
      await create({ name: "O", subjects: ["o.>"] });
      await create({ name: "S", subjects: ["s.>"], sources: [{ name: "O" }] });
      expectErr(await create({ name: "E1", subjects: ["e1"], mirror: { name: "O" } }), 10034, "mirror with subjects");
      expectErr(await create({ name: "E2", mirror: { name: "O" }, sources: [{ name: "O" }] }), 10031, "mirror with sources");
      // A mirror may name an origin that does not exist yet.
      let r = await create({ name: "M", mirror: { name: "NOT_YET" } });
      assert.equal(r.error, undefined);
      const mi = await info(nc, "M");
      assert.equal(mi.mirror.error?.err_code, 10059);
      r = await api(nc, "STREAM.UPDATE.M", { name: "M", mirror: { name: "S" } }, "stream_update_response");
      expectErr(r, 10055, "change mirror origin");
      r = await api(nc, "STREAM.UPDATE.M", { name: "M" }, "stream_update_response");
      expectErr(r, 10055, "drop mirror");
      r = await api(nc, "STREAM.UPDATE.S", { name: "S", subjects: ["s.>"], mirror: { name: "O" } }, "stream_update_response");
      expectErr(r, 10034, "update into a mirror");
      // Sources can change on update.
      r = await api(nc, "STREAM.UPDATE.S", { name: "S", subjects: ["s.>"], sources: [{ name: "O" }, { name: "M" }] },
        "stream_update_response");
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.equal(r.config.sources.length, 2);

      // A stream that would copy its own copies back is refused, whichever
      // edge closes the cycle.
      r = await create({ name: "CA", subjects: ["ca.>"], sources: [{ name: "CB" }] });
      assert.equal(r.error, undefined);
      r = await create({ name: "CB", subjects: ["cb.>"], sources: [{ name: "CA" }] });
      expectErr(r, 10052, "cycle on create");
      assert.equal(r.error.description, "detected cycle");
      r = await create({ name: "CB", subjects: ["cb.>"] });
      assert.equal(r.error, undefined);
      r = await api(nc, "STREAM.UPDATE.CB", { name: "CB", subjects: ["cb.>"], sources: [{ name: "CA" }] },
        "stream_update_response");
      expectErr(r, 10052, "cycle on update");

      // nats-server 2.9.10 accepts these (later servers reject most of them);
      // Fjord rejects them, as README "Differences" says.
      const lax = [
        [{ name: "E3", sources: [{ name: "O" }, { name: "O" }] }, 10140, "duplicate source"],
        [{ name: "E4", mirror: { name: "O", external: { api: "$JS.other.API" } } }, 10052, "external"],
        [{ name: "E6", mirror: { name: "a.b" } }, 10142, "invalid mirror name"],
        [{ name: "E7", sources: [{ name: "" }] }, 10141, "invalid source name"],
      ];
      for (const [cfg, code, what] of lax) {
        // 2.9.10's replies to the invalid names break the schema's name pattern.
        r = REFERENCE ? await api(nc, `STREAM.CREATE.${cfg.name}`, cfg) : await create(cfg);
        if (REFERENCE) assert.equal(r.error, undefined, `${what}: ${JSON.stringify(r.error)}`);
        else expectErr(r, code, what);
      }
    } finally {
      await nc.close();
      await srv.stop();
    }
  }));
});
