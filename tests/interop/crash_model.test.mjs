// Model-based crash test. A seeded driver mixes publishes (with and without
// msg ids), fetches and push deliveries, plain and confirmed acks, naks with
// delay, terms, +WPI, consumer create/update/delete (durable and ephemeral),
// stream update, purge and message delete, while a killer sends kill -9 at
// random moments (mid group commit included) and restarts the server. After
// every restart the server's answers are compared with a model of what it
// confirmed and what it was told:
//   - every PubAck'd message not deleted or purged since is there, unchanged;
//   - no msg id is stored twice, no message appears that nobody published;
//   - confirmed consumer creates, updates and deletes, and stream updates, hold;
//   - a message whose ack was settled is never delivered again. An ack is
//     settled when it was confirmed, or when it was told (plain ack, term)
//     and a later API request on the same connection got its reply: the
//     server answers a request only after writing the state of everything
//     read before it;
//   - at the end every stored message reached every consumer.
//
// CRASH_SECONDS bounds the run (default 30), CRASH_SEED replays one. A
// failure prints the seed.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, headers } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startServer, sleep, within, logsOnFailure, seededRandom as rng } from "./lib/server.mjs";

const SECONDS = Number(process.env.CRASH_SECONDS ?? 30);
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const SEC = 1_000_000_000;
const STREAM = "CM";

// "$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>"
function ackSeq(reply) {
  return Number(reply.split(".")[5]);
}

describe("crash model", () => {
  test(`random operations and kill -9 against a model (seed ${SEED}, ${SECONDS}s)`, logsOnFailure(async (t) => {
    t.diagnostic(`CRASH_SEED=${SEED}`);
    const rand = rng(SEED);
    const pick = (arr) => arr[Math.floor(rand() * arr.length)];
    const chance = (p) => rand() < p;
    const fail = (msg) => assert.fail(`${msg} (CRASH_SEED=${SEED})`);

    const srv = await startServer();
    t.after(async () => {
      await nc?.close().catch(() => {});
      await srv.stop();
    });
    const nc = await within(connect({
      servers: srv.url, maxReconnectAttempts: -1, reconnectTimeWait: 50, timeout: 3000, pingInterval: 1000,
    }), 10_000, "connect");
    let epoch = 0;  // connections lost so far
    (async () => {
      for await (const s of nc.status()) if (s.type === "disconnect") epoch++;
    })().catch(() => {});
    const where = () => ({ epoch, sid: nc.info?.server_id });
    const same = (a, b) => a.epoch === b.epoch && a.sid === b.sid;
    const jsm = await jetstreamManager(nc, { timeout: 2000 });
    const js = jetstream(nc, { timeout: 2000 });

    // ---- the model ------------------------------------------------------
    const stored = new Map();   // seq -> payload: PubAck'd, not removed
    const removedBelow = { seq: 0 };  // confirmed purge: every seq below is gone
    const removed = new Set();  // confirmed message deletes
    const published = new Set();  // every payload ever sent (confirmed or not)
    const idOf = new Map();     // payload -> msg id (when sent with one)
    let streamDescription = "";
    const consumers = new Map();  // name -> model
    // Told acks waiting for a later reply: {c, seq, at}
    let told = [];
    let nextPayload = 0;
    let fetches = 0;
    let checks = 0;
    let kills = 0;

    await jsm.streams.add({ name: STREAM, subjects: ["cm.>"], storage: "file", duplicate_window: 120 * SEC });

    function newConsumerModel(name, ephemeral, push) {
      return {
        name, ephemeral, push, exists: true, deleted: false,
        maxAckPending: 1000, description: "",
        settled: new Set(),    // seqs whose ack is settled
        events: new Map(),     // seq -> what happened to it, for a failure's message
        delivered: new Set(),  // seqs ever delivered
        deliveredAt: new Map(),  // seq -> where() of its latest delivery
      };
    }

    function note(c, seq, what) {
      if (!c.events.has(seq)) c.events.set(seq, []);
      c.events.get(seq).push(`${what}@${epoch}/${kills}`);
    }

    function onDelivery(c, seq) {
      note(c, seq, "delivered");
      if (c.settled.has(seq)) fail(`consumer ${c.name} delivered ${seq} again after its ack was settled: ${c.events.get(seq).join(" ")}`);
      c.delivered.add(seq);
      c.deliveredAt.set(seq, where());
    }

    // A plain ack (or term) told now: settled by a later reply if the
    // message was delivered by this same server run on this connection.
    function tellAck(c, seq) {
      const at = where();
      const d = c.deliveredAt.get(seq);
      if (d && same(d, at)) told.push({ c, seq, at });
    }

    // Runs one API call; its reply settles the acks told before it.
    async function apiCall(fn) {
      const before = where();
      const mark = told.length;
      const r = await fn();
      const after = where();
      if (same(before, after)) {
        const rest = [];
        told.forEach((a, i) => {
          if (i < mark && same(a.at, before)) {
            a.c.settled.add(a.seq);
            note(a.c, a.seq, "settled");
          }
          else if (i >= mark) rest.push(a);
        });
        told = rest;
      }
      return r;
    }

    async function tryOp(what, fn) {
      try {
        return await within(fn(), 5000, what);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        return undefined;  // a kill, a timeout: the outcome is unknown
      }
    }

    // ---- operations -----------------------------------------------------
    async function publish() {
      const n = 1 + Math.floor(rand() * 8);
      await Promise.all(Array.from({ length: n }, async () => {
        const payload = `p${++nextPayload}`;
        published.add(payload);
        const withId = chance(0.5);
        const opts = { timeout: 2000 };
        if (withId) {
          opts.msgID = `id-${payload}`;
          idOf.set(payload, opts.msgID);
        }
        const subject = `cm.${pick(["a", "b", "c"])}`;
        for (let attempt = 0; attempt < (withId ? 3 : 1); attempt++) {
          const ack = await tryOp("publish", () => js.publish(subject, payload, opts));
          if (!ack) continue;
          if (ack.duplicate) {
            // The retry of an id stored before: it names the same sequence.
            if (stored.has(ack.seq) && stored.get(ack.seq) !== payload) fail(`duplicate ack for ${payload} names seq ${ack.seq} holding ${stored.get(ack.seq)}`);
          }
          if (ack.seq >= removedBelow.seq && !removed.has(ack.seq)) stored.set(ack.seq, payload);
          return;
        }
      }));
    }

    async function fetchSome() {
      const live = [...consumers.values()].filter((c) => c.exists && !c.push);
      if (!live.length) return;
      const c = pick(live);
      const msgs = [];
      await tryOp("fetch", async () => {
        const cons = await js.consumers.get(STREAM, c.name);
        const iter = await cons.fetch({ max_messages: 1 + Math.floor(rand() * 20), expires: 1000 });
        for await (const m of iter) msgs.push(m);
      });
      fetches++;
      // The whole batch was sent before any of its acks: check it first.
      for (const m of msgs) {
        note(c, m.seq, `fetch${fetches}:dc${m.info.deliveryCount}`);
        onDelivery(c, m.seq);
      }
      for (const m of msgs) {
        await act(c, m.seq, {
          ack: () => m.ack(), ackAck: () => m.ackAck({ timeout: 2000 }), nak: (d) => m.nak(d),
          term: () => m.term(), working: () => m.working(),
        });
      }
    }

    // What a client does with a delivered message.
    async function act(c, seq, m) {
      const r = rand();
      if (r < 0.45) {
        note(c, seq, "ack");
        m.ack();
        tellAck(c, seq);
      } else if (r < 0.6) {
        note(c, seq, "ackAck");
        const ok = await tryOp("ackAck", () => m.ackAck());
        if (ok === true) {
          c.settled.add(seq);
          note(c, seq, "confirmed");
        }
      } else if (r < 0.7) {
        note(c, seq, "nak");
        m.nak(chance(0.5) ? 0 : 200);
      } else if (r < 0.75) {
        note(c, seq, "term");
        m.term();
        tellAck(c, seq);
      } else if (r < 0.8) {
        note(c, seq, "wpi+ack");
        m.working();
        m.ack();
        tellAck(c, seq);
      }  // else: left unacknowledged, redelivered after ack_wait
    }

    let consumerCount = 0;
    async function createConsumer() {
      const ephemeral = chance(0.3);
      const push = !ephemeral && chance(0.25);
      const name = `${ephemeral ? "E" : "D"}${++consumerCount}`;
      const cfg = {
        name, ack_policy: "explicit", ack_wait: 2 * SEC, max_ack_pending: 1000,
        deliver_policy: "all",
      };
      if (!ephemeral) cfg.durable_name = name;
      else cfg.inactive_threshold = 300 * SEC;
      if (push) cfg.deliver_subject = createInbox();
      const c = newConsumerModel(name, ephemeral, push);
      // The push subscriber is there before the consumer can deliver.
      if (push) {
        c.sub = nc.subscribe(cfg.deliver_subject, {
          callback: (err, m) => {
            if (err || !m.reply?.startsWith("$JS.ACK.")) return;
            if (!c.exists) return;
            try {
              const seq = ackSeq(m.reply);
              onDelivery(c, seq);
              act(c, seq, {
                ack: () => m.respond("+ACK"), nak: (d) => m.respond(d ? `-NAK {"delay":${d * 1_000_000}}` : "-NAK"),
                term: () => m.respond("+TERM"), working: () => m.respond("+WPI"),
                ackAck: async () => (await nc.request(m.reply, "+ACK", { timeout: 2000 }), true),
              }).catch((e) => { pushError ??= e; });
            } catch (e) {
              pushError ??= e;
            }
          },
        });
      }
      const r = await tryOp("consumer create", () => apiCall(() => jsm.consumers.add(STREAM, cfg)));
      if (r) consumers.set(name, c);
      else c.sub?.unsubscribe();  // unknown: never used, never checked
    }
    let pushError = null;

    async function updateConsumer() {
      const live = [...consumers.values()].filter((c) => c.exists);
      if (!live.length) return;
      const c = pick(live);
      const description = `v${Math.floor(rand() * 1e6)}`;
      const maxAckPending = 500 + Math.floor(rand() * 500);
      const r = await tryOp("consumer update", () => apiCall(async () => {
        const info = await jsm.consumers.info(STREAM, c.name);
        return jsm.consumers.update(STREAM, c.name, { ...info.config, description, max_ack_pending: maxAckPending });
      }));
      if (r) {
        c.description = description;
        c.maxAckPending = maxAckPending;
      } else {
        c.uncertainConfig = true;
      }
    }

    async function deleteConsumer() {
      const live = [...consumers.values()].filter((c) => c.exists);
      if (live.length < 3) return;
      const c = pick(live);
      c.exists = false;  // not used from now on, whatever the outcome
      c.sub?.unsubscribe();
      const r = await tryOp("consumer delete", () => apiCall(() => jsm.consumers.delete(STREAM, c.name)));
      c.deleted = r === true;
      if (!c.deleted) consumers.delete(c.name);  // unknown outcome: not checked
    }

    async function updateStream() {
      const description = `s${Math.floor(rand() * 1e6)}`;
      const r = await tryOp("stream update", () => apiCall(async () => {
        const info = await jsm.streams.info(STREAM);
        return jsm.streams.update(STREAM, { ...info.config, description });
      }));
      if (r) streamDescription = description;
      else streamDescription = undefined;  // unknown
    }

    async function purge() {
      if (stored.size < 200) return;
      const seqs = [...stored.keys()].sort((a, b) => a - b);
      const upto = seqs[Math.floor(seqs.length / 2)];
      // Done or not, what is below is no longer promised.
      for (const s of seqs) if (s < upto) stored.delete(s);
      const r = await tryOp("purge", () => apiCall(() => jsm.streams.purge(STREAM, { seq: upto })));
      if (r?.success) removedBelow.seq = Math.max(removedBelow.seq, upto);
    }

    async function deleteMsg() {
      if (!stored.size) return;
      const seq = pick([...stored.keys()]);
      stored.delete(seq);  // gone or not: no longer promised
      const r = await tryOp("message delete", () => apiCall(() => jsm.streams.deleteMessage(STREAM, seq, chance(0.5))));
      if (r === true) removed.add(seq);
    }

    async function settleBarrier() {
      await tryOp("stream info", () => apiCall(() => jsm.streams.info(STREAM)));
    }

    // ---- checks ---------------------------------------------------------
    async function check() {
      checks++;
      checking = true;
      try {
        await checkNow();
      } finally {
        checking = false;
      }
    }
    let checking = false;

    async function checkNow() {
      const info = await apiCall(() => within(jsm.streams.info(STREAM), 5000, "stream info"));
      if (streamDescription !== undefined && (info.config.description ?? "") !== streamDescription) {
        fail(`stream description ${info.config.description} after a confirmed update to ${streamDescription}`);
      }
      // Every promised message is there, unchanged; deleted ones are not.
      for (const [seq, payload] of stored) {
        // getMessage answers null for "no message found".
        const sm = await within(jsm.streams.getMessage(STREAM, { seq }).catch((e) => e), 5000, "get");
        if (!sm || sm instanceof Error) fail(`PubAck'd message ${payload} at seq ${seq} is gone: ${sm?.message}`);
        const got = new TextDecoder().decode(sm.data);
        if (got !== payload) fail(`seq ${seq} holds ${got}, PubAck named ${payload}`);
      }
      for (const seq of removed) {
        if (seq < info.state.first_seq) continue;
        const sm = await within(jsm.streams.getMessage(STREAM, { seq }).catch((e) => e), 5000, "get");
        if (sm && !(sm instanceof Error)) fail(`message ${seq} is back after a confirmed delete`);
      }
      // A fresh consumer reads what the stream holds: only published
      // payloads, no msg id twice, everything promised.
      const fresh = await jsm.consumers.add(STREAM, { ack_policy: "none", mem_storage: true, inactive_threshold: 30 * SEC });
      const seenPayload = new Map();
      const cons = await js.consumers.get(STREAM, fresh.name);
      for (;;) {
        const iter = await within(cons.fetch({ max_messages: 500, expires: 1000 }), 5000, "fresh fetch");
        let n = 0;
        for await (const m of iter) {
          n++;
          const p = m.string();
          if (!published.has(p)) fail(`seq ${m.seq} holds ${p}, which nobody published`);
          // Only msg-id publishes are ever retried, and dedupe must hold.
          if (seenPayload.has(p)) fail(`${p} (msg id ${idOf.get(p)}) stored twice: seqs ${seenPayload.get(p)} and ${m.seq}`);
          seenPayload.set(p, m.seq);
        }
        if (n === 0) break;
      }
      await jsm.consumers.delete(STREAM, fresh.name);
      for (const [seq, payload] of stored) {
        if (seenPayload.get(payload) !== seq) fail(`a fresh consumer did not read ${payload} at seq ${seq}`);
      }
      // Consumers: confirmed ones exist with their confirmed config,
      // confirmed deletes stay deleted.
      const names = new Set();
      for await (const ci of jsm.consumers.list(STREAM)) names.add(ci.name);
      for (const c of consumers.values()) {
        if (c.exists && !names.has(c.name)) fail(`consumer ${c.name} is gone after a restart`);
        if (c.deleted && names.has(c.name)) fail(`consumer ${c.name} is back after a confirmed delete`);
        if (c.exists && !c.uncertainConfig) {
          const ci = await jsm.consumers.info(STREAM, c.name);
          if ((ci.config.description ?? "") !== c.description || ci.config.max_ack_pending !== c.maxAckPending) {
            fail(`consumer ${c.name} config ${ci.config.description}/${ci.config.max_ack_pending}, confirmed ${c.description}/${c.maxAckPending}`);
          }
        }
      }
    }

    // ---- the run --------------------------------------------------------
    const ops = [
      [0.35, publish], [0.32, fetchSome], [0.03, createConsumer], [0.04, updateConsumer],
      [0.02, deleteConsumer], [0.02, updateStream], [0.02, purge], [0.06, deleteMsg], [0.15, settleBarrier],
    ];
    for (let i = 0; i < 3; i++) await createConsumer();

    const deadline = Date.now() + SECONDS * 1000;
    let restarted = false;
    let stopKiller = false;
    const killer = (async () => {
      while (!stopKiller && Date.now() < deadline - 3000) {
        await sleep(1500 + rand() * 3500);
        while (checking) await sleep(50);
        if (stopKiller) break;
        await srv.kill9();
        kills++;
        await sleep(rand() * 300);
        await srv.restart();
        restarted = true;
      }
    })();

    try {
      while (Date.now() < deadline) {
        if (pushError) throw pushError;
        if (restarted) {
          restarted = false;
          // Wait for the client to be back on the new server.
          await within((async () => {
            while (nc.isClosed() || nc.info?.server_id === undefined) await sleep(20);
            for (;;) {
              try {
                await jsm.streams.info(STREAM);
                return;
              } catch {
                await sleep(50);
              }
            }
          })(), 15_000, "reconnect after restart");
          await check();
        }
        let r = rand();
        for (const [p, op] of ops) {
          if ((r -= p) <= 0) {
            await op();
            break;
          }
        }
      }
    } finally {
      stopKiller = true;
      await killer;
    }
    if (pushError) throw pushError;

    // The end: one more restart, the checks, then every consumer drains and
    // must have seen every stored message.
    await srv.kill9();
    await srv.restart();
    await within((async () => {
      for (;;) {
        try {
          await jsm.streams.info(STREAM);
          return;
        } catch {
          await sleep(50);
        }
      }
    })(), 15_000, "reconnect at the end");
    await check();
    const deadlineDrain = Date.now() + 60_000;
    for (const c of consumers.values()) {
      if (!c.exists) continue;
      const wanted = () => [...stored.keys()].filter((s) => !c.delivered.has(s));
      while (wanted().length && Date.now() < deadlineDrain) {
        if (c.push) {
          await sleep(200);
          continue;
        }
        const cons = await js.consumers.get(STREAM, c.name);
        const iter = await cons.fetch({ max_messages: 200, expires: 1000 });
        for await (const m of iter) {
          onDelivery(c, m.seq);
          m.ack();
        }
      }
      const missing = wanted();
      if (missing.length) fail(`consumer ${c.name} never got stored messages ${missing.slice(0, 10).join(",")}`);
    }
    t.diagnostic(`${kills} kills, ${checks} checks, ${nextPayload} publishes, ${stored.size} stored, ${consumers.size} consumers`);
    assert.ok(kills >= Math.min(3, Math.floor(SECONDS / 6)), `only ${kills} kills`);
    for (const c of consumers.values()) c.sub?.unsubscribe();
  }));
});
