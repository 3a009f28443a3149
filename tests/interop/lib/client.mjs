// Thin helpers around the official JS client used by every test file.

import assert from "node:assert/strict";
import { connect, errors, headers } from "@nats-io/transport-node";
import { JetStreamApiError } from "@nats-io/jetstream";
import { DEFAULT_TIMEOUT, validate, within } from "./server.mjs";

export const enc = new TextEncoder();
export const dec = new TextDecoder();

// Connects to `srv` without reconnect attempts, so a failed connect fails
// fast and a dropped server is noticed at once.
export function connectTo(srv, opts = {}) {
  return within(
    connect({ servers: srv.url, maxReconnectAttempts: 0, timeout: 5000, ...opts }),
    DEFAULT_TIMEOUT,
    `connect to ${srv.url}`,
  );
}

// The connect must fail with an authorization error.
export async function assertAuthFails(srv, opts) {
  await assert.rejects(connectTo(srv, opts), (e) => {
    const text = `${e?.message} ${e?.cause?.message ?? ""}`;
    assert.ok(e instanceof errors.AuthorizationError || /authorization violation/i.test(text),
      `expected Authorization Violation, got ${e?.constructor?.name}: ${text}`);
    return true;
  });
}

// Sends a raw JetStream API request and returns the parsed JSON reply,
// validated against `schema` (e.g. "stream_create_response") when given.
export async function api(nc, subject, body, schema, timeout = 5000) {
  const payload = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  const m = await nc.request(subject.startsWith("$JS.") ? subject : `$JS.API.${subject}`, payload, { timeout });
  const obj = JSON.parse(dec.decode(m.data));
  if (schema) validate(schema, obj);
  return obj;
}

// Collects `n` messages from an async-iterable subscription (or stops at the
// timeout and throws). Can be called repeatedly on the same subscription:
// the iterator is kept and never returned (returning would end it).
const iterators = new WeakMap();
export async function collect(sub, n, ms = DEFAULT_TIMEOUT, what = "messages") {
  const got = [];
  if (n === 0) return got;
  let st = iterators.get(sub);
  if (!st) {
    st = { it: sub[Symbol.asyncIterator](), pending: null };
    iterators.set(sub, st);
  }
  await within((async () => {
    while (got.length < n) {
      // A next() left outstanding by a timed-out call is awaited first, so
      // no message is lost between calls.
      if (!st.pending) st.pending = st.it.next();
      const r = await st.pending;
      st.pending = null;
      if (r.done) throw new Error(`subscription ended after ${got.length} ${what}`);
      got.push(r.value);
    }
  })(), ms, `${n} ${what}`).catch((e) => {
    throw new Error(`${e.message}; received ${got.length}`);
  });
  return got;
}

// Waits for a status event of `type` whose error message matches `re`.
export function waitStatus(nc, re, ms = DEFAULT_TIMEOUT) {
  return within((async () => {
    for await (const s of nc.status()) {
      const text = s.error ? String(s.error.message ?? s.error) : "";
      if (s.type === "error" && re.test(text)) return s;
    }
    throw new Error("status stream ended");
  })(), ms, `status error matching ${re}`);
}

// Schema of the reply to each $JS.API request subject (longest prefix wins).
const API_SCHEMAS = [
  ["INFO", "account_info_response"],
  ["STREAM.CREATE.", "stream_create_response"],
  ["STREAM.UPDATE.", "stream_update_response"],
  ["STREAM.INFO.", "stream_info_response"],
  ["STREAM.LIST", "stream_list_response"],
  ["STREAM.NAMES", "stream_names_response"],
  ["STREAM.DELETE.", "stream_delete_response"],
  ["STREAM.PURGE.", "stream_purge_response"],
  ["STREAM.MSG.GET.", "stream_msg_get_response"],
  ["STREAM.MSG.DELETE.", "stream_msg_delete_response"],
  ["STREAM.SNAPSHOT.", "stream_snapshot_response"],
  ["STREAM.RESTORE.", "stream_restore_response"],
  ["CONSUMER.CREATE.", "consumer_create_response"],
  ["CONSUMER.DURABLE.CREATE.", "consumer_create_response"],
  ["CONSUMER.INFO.", "consumer_info_response"],
  ["CONSUMER.LIST.", "consumer_list_response"],
  ["CONSUMER.NAMES.", "consumer_names_response"],
  ["CONSUMER.DELETE.", "consumer_delete_response"],
  ["CONSUMER.PAUSE.", "consumer_pause_response"],
  ["CONSUMER.UNPIN.", "consumer_unpin_response"],
];

export function schemaForApiSubject(subject) {
  const m = /^\$JS\.API\.(.*)$/.exec(subject);
  if (!m) return null;
  let best = null;
  for (const [prefix, schema] of API_SCHEMAS) {
    const hit = prefix.endsWith(".") ? m[1].startsWith(prefix) : m[1] === prefix;
    if (hit && (!best || prefix.length > best[0].length)) best = [prefix, schema];
  }
  return best && best[1];
}

// Makes every request the official clients send through `nc` check its
// reply: JetStream API replies against their JSON Schema, and PubAcks (the
// JSON reply to a publish on a stream subject) against pub_ack_response.
// nc.apiChecked counts the replies validated. Returns nc.
export function checkApiReplies(nc) {
  const orig = nc.request.bind(nc);
  nc.apiChecked = 0;
  nc.request = async (subject, data, opts) => {
    const m = await orig(subject, data, opts);
    if (m.headers?.code || !m.data?.length) return m;
    let schema = schemaForApiSubject(subject);
    let obj;
    try {
      obj = JSON.parse(dec.decode(m.data));
    } catch {
      return m;
    }
    if (!schema && !subject.startsWith("$") && obj && typeof obj === "object" && "stream" in obj) {
      schema = "pub_ack_response";
    }
    if (schema) {
      validate(schema, obj);
      nc.apiChecked++;
    }
    return m;
  };
  return nc;
}

// Runs `fn` and expects a JetStream API error with this err_code.
export async function rejectsCode(promise, errCode, descRe) {
  await assert.rejects(within(promise, 10000, "API call"), (e) => {
    assert.ok(e instanceof JetStreamApiError, `expected JetStreamApiError, got ${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.code, errCode, `err_code for: ${e.message}`);
    if (descRe) assert.match(e.apiError().description, descRe);
    return true;
  });
}

// Publishes with a reply and returns the parsed PubAck (success or error).
export async function rawPub(nc, subject, data, hdrs) {
  let h;
  if (hdrs) {
    h = headers();
    for (const [k, v] of Object.entries(hdrs)) h.append(k, v);
  }
  const m = await nc.request(subject, data ?? "", { timeout: 5000, headers: h });
  return JSON.parse(dec.decode(m.data));
}
