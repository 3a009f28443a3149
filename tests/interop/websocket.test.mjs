// WebSocket clients (`websocket { }`): nats.js's wsconnect (over Node's
// WebSocket, undici's) for pub/sub, request/reply and JetStream, with and
// without permessage-deflate; raw sockets for what a client library never
// sends (bad handshakes, disallowed origins, malformed frames), each of which
// ends only its own connection; wss:// through the same certificates as the
// TLS suite; and a real browser (Debian's headless Chromium) running
// nats.js's own code against the server.
//
// Node 20 needs --experimental-websocket for a global WebSocket: ./dev test
// passes it.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tlsNode from "node:tls";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import { wsconnect } from "@nats-io/nats-core";
import { jetstream, jetstreamManager, AckPolicy } from "@nats-io/jetstream";
import { startServer, logsOnFailure, freePort, waitFor, within, sleep, serverBin, repoRoot } from "./lib/server.mjs";
import { connectTo, collect, dec } from "./lib/client.mjs";
import { canConnect } from "../lib/ports.mjs";

const REFERENCE = path.basename(serverBin) === "nats-server";
const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = "/usr/bin/chromium"; // installed by ./dev (Debian package chromium)

// A server with a WebSocket listener on its own free port.
async function wsServer(block = "no_tls: true", extra = "") {
  const wsPort = await freePort();
  const srv = await startServer({ config: `websocket {\n  port: ${wsPort}\n  ${block}\n}\n${extra}` });
  srv.wsPort = wsPort;
  srv.wsUrl = `ws://127.0.0.1:${wsPort}`;
  await waitFor(() => canConnect(wsPort), 5000, "websocket listener");
  return srv;
}

// --- a raw WebSocket client: what nats.js never sends ---------------------

function clientFrame(op, payload, { mask = true, fin = true, rsv1 = false } = {}) {
  const p = Buffer.from(payload);
  const head = [(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | op];
  const m = mask ? 0x80 : 0;
  if (p.length <= 125) head.push(m | p.length);
  else if (p.length <= 0xffff) head.push(m | 126, p.length >> 8, p.length & 0xff);
  else {
    head.push(m | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((BigInt(p.length) >> BigInt(8 * i)) & 0xffn));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), p]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(p.map((b, i) => b ^ key[i & 3]));
  return Buffer.concat([Buffer.from(head), key, body]);
}

// A data frame's text; a compressed one (RSV1, a whole message) inflated.
function payloadText(f) {
  if (!f.rsv1) return f.payload.toString();
  return zlib.inflateRawSync(Buffer.concat([f.payload, Buffer.from([0, 0, 0xff, 0xff])]),
    { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
}

class RawWs {
  // Sends an upgrade request with `headers` (a full request with `request`)
  // and reads the response head; frames after it are parsed as they come.
  static async open(port, { headers = {}, request, tls } = {}) {
    const sock = tls
      ? tlsNode.connect({ port, host: "127.0.0.1", ...tls })
      : net.connect({ port, host: "127.0.0.1" });
    await new Promise((resolve, reject) => {
      sock.once(tls ? "secureConnect" : "connect", resolve);
      sock.once("error", reject);
    });
    const ws = new RawWs(sock);
    const key = crypto.randomBytes(16).toString("base64");
    ws.key = key;
    const h = { Host: `127.0.0.1:${port}`, Upgrade: "websocket", Connection: "Upgrade",
      "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13", ...headers };
    const req = request ?? `GET / HTTP/1.1\r\n${Object.entries(h).filter(([, v]) => v !== null)
      .map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
    sock.write(req);
    await within(ws.headDone, 5000, "upgrade response");
    return ws;
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.frames = [];
    this.waiters = [];
    this.head = null;
    this.closed = new Promise((r) => sock.once("close", r));
    sock.on("error", () => {});
    this.headDone = new Promise((resolve) => {
      sock.on("data", (d) => {
        this.buf = Buffer.concat([this.buf, d]);
        if (!this.head) {
          const end = this.buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          this.head = this.buf.subarray(0, end).toString();
          this.buf = this.buf.subarray(end + 4);
          this.status = Number(this.head.split(" ")[1]);
          resolve();
        }
        this.parse();
      });
      sock.once("close", () => resolve());
    });
  }

  header(name) {
    const re = new RegExp(`^${name}:\\s*(.*)$`, "im");
    return re.exec(this.head ?? "")?.[1];
  }

  parse() {
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0], b1 = this.buf[1];
      let len = b1 & 0x7f, pos = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        pos = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        pos = 10;
      }
      if (this.buf.length < pos + len) return;
      this.frames.push({ op: b0 & 0x0f, fin: !!(b0 & 0x80), rsv1: !!(b0 & 0x40), masked: !!(b1 & 0x80),
        payload: Buffer.from(this.buf.subarray(pos, pos + len)) });
      this.buf = this.buf.subarray(pos + len);
      for (const w of this.waiters.splice(0)) w();
    }
  }

  // The next frame, within `ms`.
  async next(ms = 5000) {
    const deadline = Date.now() + ms;
    while (this.frames.length === 0) {
      if (Date.now() > deadline || this.sock.destroyed && this.frames.length === 0) {
        throw new Error(`no frame within ${ms} ms${this.sock.destroyed ? " (socket closed)" : ""}`);
      }
      await Promise.race([new Promise((r) => this.waiters.push(r)), sleep(50)]);
    }
    return this.frames.shift();
  }

  // Protocol text from data frames until `re` matches it.
  async readUntil(re, ms = 5000) {
    let text = "";
    const deadline = Date.now() + ms;
    while (!re.test(text)) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      if (f.op === 2 || f.op === 1 || f.op === 0) text += payloadText(f);
      if (f.op === 8) throw new Error(`closed: ${f.payload.readUInt16BE(0)} ${f.payload.subarray(2)}`);
    }
    return text;
  }

  send(op, payload, opts) {
    this.sock.write(clientFrame(op, payload, opts));
  }

  end() {
    this.sock.destroy();
  }
}

// Expects the next frames to end with a close frame: returns its status
// and reason.
async function expectClose(ws) {
  for (;;) {
    const f = await ws.next();
    if (f.op === 8) {
      await within(ws.closed, 5000, "the server to close the socket");
      return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString() };
    }
  }
}

// A nats.js connection over WebSocket carries a round trip.
async function roundTrip(url) {
  const nc = await wsconnect({ servers: url, reconnect: false });
  try {
    nc.subscribe("rt", { callback: (_, m) => m.respond(m.data) });
    const r = await nc.request("rt", "ping", { timeout: 3000 });
    assert.equal(r.string(), "ping");
  } finally {
    await nc.close();
  }
}

before(() => {
  assert.equal(typeof WebSocket, "function", "Node has no WebSocket: run node with --experimental-websocket (./dev test does)");
});

describe("websocket: nats.js over WebSocket", () => {
  let srv;
  before(async () => {
    srv = await wsServer("no_tls: true\n  compression: true");
  });
  after(async () => {
    await srv?.stop();
  });

  test("INFO names the WebSocket listener; pub/sub and request/reply cross to TCP clients", logsOnFailure(async () => {
    const ws = await wsconnect({ servers: srv.wsUrl });
    const tcp = await connectTo(srv);
    try {
      // nats-server 2.9 still named the client port here; 2.10 and later
      // name the WebSocket one.
      if (!REFERENCE) assert.equal(ws.info.port, srv.wsPort);
      assert.ok(!ws.info.tls_required);
      // WebSocket -> TCP and TCP -> WebSocket, a small and a large message
      // (the large one compressed on the way to the WebSocket client).
      const big = "order ".repeat(50_000);
      const fromWs = tcp.subscribe("orders.>", { max: 2 });
      const fromTcp = ws.subscribe("invoices.>", { max: 2 });
      await ws.flush();
      await tcp.flush();
      ws.publish("orders.oslo.created", "ws says hi");
      ws.publish("orders.oslo.big", big);
      tcp.publish("invoices.oslo.sent", "tcp says hi");
      tcp.publish("invoices.oslo.big", big);
      const a = await collect(fromWs, 2);
      const b = await collect(fromTcp, 2);
      assert.deepEqual(a.map((m) => m.string().length), ["ws says hi".length, big.length]);
      assert.deepEqual(b.map((m) => m.string()), ["tcp says hi", big]);

      tcp.subscribe("svc.price", { callback: (_, m) => m.respond(`price of ${m.string()}`) });
      ws.subscribe("svc.echo", { callback: (_, m) => m.respond(m.data) });
      await tcp.flush();
      await ws.flush();
      assert.equal((await ws.request("svc.price", "skis", { timeout: 3000 })).string(), "price of skis");
      assert.equal((await tcp.request("svc.echo", big, { timeout: 3000 })).string(), big);
      // Headers and no-responders work as on TCP.
      await assert.rejects(ws.request("nobody.home", "", { timeout: 3000 }), /no responders/i);
    } finally {
      await ws.close();
      await tcp.close();
    }
  }));

  test("JetStream: the story's stream and durable consumer over WebSocket", logsOnFailure(async () => {
    const nc = await wsconnect({ servers: srv.wsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], max_msgs: 100_000, discard: "old" });
      await jsm.consumers.add("ORDERS", { durable_name: "InvoiceProcessor", ack_policy: AckPolicy.Explicit });
      const js = jetstream(nc);
      for (let i = 0; i < 100; i++) {
        const pa = await js.publish("orders.oslo.created", JSON.stringify({ id: i, qty: 1 }));
        assert.equal(pa.seq, i + 1);
      }
      const c = await js.consumers.get("ORDERS", "InvoiceProcessor");
      const seen = [];
      const iter = await c.consume({ max_messages: 30 });
      for await (const m of iter) {
        seen.push(m.json().id);
        m.ack();
        if (seen.length === 100) break;
      }
      assert.deepEqual(seen, [...Array(100).keys()]);
      await waitFor(async () => (await jsm.consumers.info("ORDERS", "InvoiceProcessor")).num_ack_pending === 0,
        5000, "acks");
    } finally {
      await nc.close();
    }
  }));
});

describe("websocket: compression", () => {
  test("permessage-deflate is offered only when configured, and both work", logsOnFailure(async () => {
    for (const compression of [true, false]) {
      const srv = await wsServer(`no_tls: true\n  compression: ${compression}`);
      try {
        const raw = await RawWs.open(srv.wsPort, { headers: { "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" } });
        assert.equal(raw.status, 101);
        const ext = raw.header("Sec-WebSocket-Extensions");
        if (compression) assert.match(ext, /permessage-deflate/);
        else assert.equal(ext, undefined);
        // INFO is larger than 64 bytes: compressed exactly when agreed.
        const info = await raw.next();
        assert.equal(info.rsv1, compression);
        assert.equal(info.masked, false);
        raw.end();
        await roundTrip(srv.wsUrl);
        // A compressed client message is inflated (nats.js over undici does
        // not compress what it sends, so send one by hand).
        if (compression) {
          const c = await RawWs.open(srv.wsPort, { headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } });
          await c.next();
          const text = `CONNECT {"verbose":false}\r\nSUB z 1\r\nPUB z ${"y".repeat(5000).length}\r\n${"y".repeat(5000)}\r\nPING\r\n`;
          const z = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
          c.send(2, z.subarray(0, z.length - 4), { rsv1: true });
          const got = await c.readUntil(/PONG\r\n/);
          assert.match(got, /MSG z 1 5000\r\ny{5000}\r\n/);
          c.end();
        }
      } finally {
        await srv.stop();
      }
    }
  }));
});

describe("websocket: bad input ends only its own connection", () => {
  let srv;
  before(async () => {
    srv = await wsServer("no_tls: true");
  });
  after(async () => {
    await srv?.stop();
  });

  test("bad upgrade requests get HTTP errors", logsOnFailure(async () => {
    const cases = [
      [{ request: "POST / HTTP/1.1\r\nHost: x\r\n\r\n" }, 405],
      [{ headers: { "Sec-WebSocket-Key": null } }, 400],
      [{ headers: { "Sec-WebSocket-Key": "c2hvcnQ=" } }, 400],
      [{ headers: { "Sec-WebSocket-Version": "8" } }, 400],
      [{ headers: { Upgrade: "h2c" } }, 400],
      [{ request: "GARBAGE\r\n\r\n" }, 400],
    ];
    for (const [opts, status] of cases) {
      const r = await RawWs.open(srv.wsPort, opts);
      assert.equal(r.status, status, JSON.stringify(opts));
      // Fjord closes after the error; Go's HTTP server keeps the
      // connection for another request.
      if (!REFERENCE) await within(r.closed, 5000, "close after the error");
      r.end();
    }
    await roundTrip(srv.wsUrl);
  }));

  test("a stalled upgrade is dropped after handshake_timeout", { skip: REFERENCE && "timing of the reference differs" },
    logsOnFailure(async () => {
      const sock = net.connect({ port: srv.wsPort, host: "127.0.0.1" });
      sock.on("error", () => {});
      sock.write("GET / HTTP/1.1\r\nHost: x\r\n");  // never finished
      const t0 = Date.now();
      await within(new Promise((r) => sock.once("close", r)), 8000, "the server to drop the stalled upgrade");
      assert.ok(Date.now() - t0 >= 1500, "not before the 2 s default");
      await roundTrip(srv.wsUrl);
    }));

  test("malformed frames get a close frame with the reason", logsOnFailure(async () => {
    const cases = [
      [(ws) => ws.send(2, "PING\r\n", { mask: false }), 1002, /mask bit missing/],
      [(ws) => ws.send(2, "PING\r\n", { rsv1: true }), 1002, /compressed frame/],
      [(ws) => ws.send(9, "x".repeat(126)), 1002, /control frame length/],
      [(ws) => ws.send(0, "PING\r\n"), 1002, /invalid continuation frame/],
      [(ws) => ws.send(3, "x"), 1002, /unknown opcode/],
      [(ws) => ws.send(8, "x"), 1002, /close frame payload cannot be 1 byte/],
    ];
    const witness = await wsconnect({ servers: srv.wsUrl });
    witness.subscribe("alive", { callback: (_, m) => m.respond("yes") });
    await witness.flush();
    try {
      for (const [act, code, reason] of cases) {
        const ws = await RawWs.open(srv.wsPort);
        await ws.readUntil(/^INFO /);
        act(ws);
        if (REFERENCE) {
          // nats-server queues the close frame but may close the socket
          // before it goes out.
          await within(ws.closed, 5000, "the server to close the socket");
        } else {
          const c = await expectClose(ws);
          assert.equal(c.code, code);
          assert.match(c.reason, reason);
        }
        // Everyone else carries on.
        assert.equal((await witness.request("alive", "", { timeout: 3000 })).string(), "yes");
      }
    } finally {
      await witness.close();
    }
  }));

  test("a ping gets a pong, a close gets its echo", logsOnFailure(async () => {
    const ws = await RawWs.open(srv.wsPort);
    await ws.readUntil(/^INFO /);
    ws.send(9, "are you there");
    const pong = await ws.next();
    assert.equal(pong.op, 10);
    assert.equal(pong.payload.toString(), "are you there");
    ws.send(1, 'CONNECT {"verbose":false}\r\nPING\r\n');  // text frames work too
    await ws.readUntil(/PONG\r\n/);
    const payload = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from("done")]);
    ws.send(8, payload);
    const c = await expectClose(ws);
    assert.deepEqual(c, { code: 1000, reason: "done" });
  }));

  test("protocol errors inside the WebSocket: -ERR, then a close frame", logsOnFailure(async () => {
    const ws = await RawWs.open(srv.wsPort);
    const info = JSON.parse((await ws.readUntil(/\r\n$/)).slice(5));
    // The size alone is refused; sending no payload leaves nothing unread
    // for the close to reset.
    ws.send(2, `CONNECT {"verbose":false}\r\nPUB too.big ${info.max_payload + 1}\r\n`);
    const text = await (async () => {
      let t = "";
      for (;;) {
        const f = await ws.next();
        if (f.op === 8) return { t, code: f.payload.readUInt16BE(0) };
        t += f.payload.toString();
      }
    })();
    assert.match(text.t, /-ERR 'Maximum Payload Violation'/);
    assert.equal(text.code, 1009);
    await within(ws.closed, 5000, "close");
  }));
});

describe("websocket: origins, authorization, wss", () => {
  test("same_origin and allowed_origins are enforced on browsers only", logsOnFailure(async () => {
    const same = await wsServer("no_tls: true\n  same_origin: true");
    try {
      const ok = await RawWs.open(same.wsPort, { headers: { Origin: `http://127.0.0.1:${same.wsPort}` } });
      assert.equal(ok.status, 101);
      ok.end();
      const bad = await RawWs.open(same.wsPort, { headers: { Origin: "http://evil.example" } });
      assert.equal(bad.status, 403);
      // No Origin header: not a browser.
      await roundTrip(same.wsUrl);
    } finally {
      await same.stop();
    }
    const list = await wsServer(`no_tls: true\n  allowed_origins: ["https://shop.example", "http://localhost:3000"]`);
    try {
      for (const [origin, status] of [["https://shop.example", 101], ["https://shop.example:443", 101],
        ["http://localhost:3000", 101], ["http://shop.example", 403], ["http://localhost:3001", 403]]) {
        const r = await RawWs.open(list.wsPort, { headers: { Origin: origin } });
        assert.equal(r.status, status, origin);
        r.end();
      }
    } finally {
      await list.stop();
    }
  }));

  test("websocket authorization overrides the top-level one for WebSocket clients",
    logsOnFailure(async () => {
      const srv = await wsServer(`no_tls: true\n  authorization { token: "browser-secret" }`,
        `authorization { user: app, password: app-pass }`);
      try {
        const nc = await wsconnect({ servers: srv.wsUrl, token: "browser-secret", reconnect: false });
        await nc.flush();
        await nc.close();
        await assert.rejects(wsconnect({ servers: srv.wsUrl, user: "app", pass: "app-pass", reconnect: false }),
          /authorization/i);
        // TCP clients keep theirs.
        const tcp = await connectTo(srv, { user: "app", pass: "app-pass" });
        await tcp.close();
        await assert.rejects(connectTo(srv, { token: "browser-secret", reconnect: false }), /authorization/i);
      } finally {
        await srv.stop();
      }
    }));

  test("allowed_connection_types keeps users to TCP or WebSocket", logsOnFailure(async () => {
    const srv = await wsServer("no_tls: true", `authorization { users: [
  { user: browser, password: b, allowed_connection_types: ["websocket"] }
  { user: backend, password: k, allowed_connection_types: ["STANDARD"] }
  { user: both, password: x }
] }`);
    try {
      const ok = async (p) => (await p).close();
      await ok(wsconnect({ servers: srv.wsUrl, user: "browser", pass: "b", reconnect: false }));
      await ok(connectTo(srv, { user: "backend", pass: "k" }));
      await ok(wsconnect({ servers: srv.wsUrl, user: "both", pass: "x", reconnect: false }));
      await ok(connectTo(srv, { user: "both", pass: "x" }));
      await assert.rejects(connectTo(srv, { user: "browser", pass: "b", reconnect: false }), /authorization/i);
      await assert.rejects(wsconnect({ servers: srv.wsUrl, user: "backend", pass: "k", reconnect: false }),
        /authorization/i);
    } finally {
      await srv.stop();
    }
  }));

  test("configuration errors stop the server with nats-server's words", async () => {
    const bad = [
      ["websocket { port: 1 }", /websocket requires TLS configuration/],
      ["websocket { port: 1, no_tls: true, allowed_origins: [\"ftp://x\"] }", /allowed origins must be absolute URLs with http or https scheme/],
      ["websocket { port: 1, no_tls: true, headers { Upgrade: x } }", /invalid header "Upgrade" not allowed/],
      ["websocket { port: 1, no_tls: true, bogus: 1 }", /unknown field "bogus"|bogus/],
      ["authorization { users: [{ user: a, password: b, allowed_connection_types: [\"CARRIER_PIGEON\"] }] }",
        /invalid connection types \["CARRIER_PIGEON"\]/],
    ];
    for (const [conf, re] of bad) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-ws-conf-"));
      const f = path.join(dir, "bad.conf");
      fs.writeFileSync(f, conf);
      let out = "";
      try {
        execFileSync(serverBin, ["-c", f, "-p", "-1"], { stdio: "pipe", timeout: 10_000 });
        assert.fail(`${conf} was accepted`);
      } catch (e) {
        out = `${e.stdout ?? ""}${e.stderr ?? ""}`;
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      assert.match(out, re, conf);
    }
  });

  test("wss://: TLS first, then the upgrade", logsOnFailure(async () => {
    const certDir = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-ws-certs-"));
    try {
      execFileSync("bash", [path.join(repoRoot, "tests/tls/make_certs.sh"), certDir]);
      const C = (n) => path.join(certDir, n);
      const srv = await wsServer(`tls { cert_file: "${C("server-cert.pem")}", key_file: "${C("server-key.pem")}" }`);
      try {
        const ws = await RawWs.open(srv.wsPort, { tls: { ca: fs.readFileSync(C("ca.pem")), servername: "localhost" } });
        assert.equal(ws.status, 101);
        const info = JSON.parse((await ws.readUntil(/\r\n$/)).slice(5));
        assert.equal(info.tls_required, true);
        ws.send(2, "CONNECT {\"verbose\":false}\r\nSUB s 1\r\nPUB s 2\r\nok\r\nPING\r\n");
        assert.match(await ws.readUntil(/PONG\r\n/), /MSG s 1 2\r\nok\r\n/);
        ws.end();
        // Plain WebSocket to the wss port fails; the server goes on.
        const plain = await RawWs.open(srv.wsPort);
        assert.notEqual(plain.status, 101);
      } finally {
        await srv.stop();
      }
    } finally {
      fs.rmSync(certDir, { recursive: true, force: true });
    }
  }));
});

describe("websocket: monitoring and ports", { skip: REFERENCE && "checks Fjord's ports file name" }, () => {
  test("/varz shows the listener; port -1 picks one; the ports file lists it", logsOnFailure(async () => {
    const mport = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-ws-ports-"));
    const srv = await startServer({
      config: `websocket { host: 127.0.0.1, port: -1, no_tls: true, compression: true }\nports_file_dir: "${dir}"\n`,
      args: ["-m", String(mport)],
    });
    try {
      const file = await waitFor(() => fs.readdirSync(dir).find((f) => f.endsWith(".ports")), 5000, "ports file");
      const ports = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
      assert.equal(ports.websocket.length, 1);
      const url = ports.websocket[0];
      assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+$/);
      const port = Number(url.split(":").pop());
      const varz = await (await fetch(`http://127.0.0.1:${mport}/varz`)).json();
      assert.equal(varz.websocket.port, port);
      assert.equal(varz.websocket.no_tls, true);
      assert.equal(varz.websocket.compression, true);
      await roundTrip(`ws://127.0.0.1:${port}`);
    } finally {
      await srv.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }));
});

// --- a real browser ----------------------------------------------------------

// Serves the test page and tests/interop/node_modules, and takes the page's
// report at /result.
function pageServer(wsUrl) {
  const modules = path.join(here, "node_modules");
  let report;
  const reported = new Promise((r) => (report = r));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(browserPage(wsUrl));
    } else if (url.pathname === "/result") {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        res.end("ok");
        report(JSON.parse(body));
      });
    } else if (url.pathname.startsWith("/node_modules/")) {
      const file = path.normalize(path.join(modules, url.pathname.slice("/node_modules/".length)));
      if (!file.startsWith(modules) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { "content-type": "application/javascript" });
      res.end(fs.readFileSync(file));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return { server, reported };
}

// nats.js is published as CommonJS: a small synchronous require() loads it
// in the page as it is, without a bundler.
function browserPage(wsUrl) {
  return `<!doctype html><html><body><pre id="out">running</pre><script>
const cache = {};
const mains = { "@nats-io/nats-core": "nats-core/lib/mod.js", "@nats-io/nuid": "nuid/lib/nuid.js",
  "@nats-io/nkeys": "nkeys/lib/mod.js", "tweetnacl": "../tweetnacl/nacl-fast.js" };
function fetchSync(url) {
  const x = new XMLHttpRequest();
  x.open("GET", url, false);
  x.send();
  return x.status === 200 ? x.responseText : null;
}
function load(url) {
  if (cache[url]) return cache[url].exports;
  const src = fetchSync(url);
  if (src === null) throw new Error("cannot load " + url);
  const module = { exports: {} };
  cache[url] = module;
  const dir = url.slice(0, url.lastIndexOf("/"));
  const req = (name) => {
    if (mains[name]) return load("/node_modules/@nats-io/" + mains[name]);
    const base = new URL(name, location.origin + dir + "/").pathname;
    return load(base.endsWith(".js") ? base : base + ".js");
  };
  new Function("exports", "require", "module", src)(module.exports, req, module);
  return module.exports;
}
async function main() {
  const { wsconnect } = load("/node_modules/@nats-io/nats-core/lib/mod.js");
  const nc = await wsconnect({ servers: ${JSON.stringify(wsUrl)} });
  const out = { server: nc.info.server_id, ua: navigator.userAgent };
  const sub = nc.subscribe("browser.echo", { max: 1 });
  nc.publish("browser.echo", "hello from the browser");
  for await (const m of sub) out.echo = m.string();
  out.reply = (await nc.request("browser.ask", "what is the price of skis?", { timeout: 5000 })).string();
  out.big = (await nc.request("browser.ask.big", "", { timeout: 5000 })).data.length;
  await nc.close();
  return out;
}
main().then((r) => ({ ok: true, ...r }), (e) => ({ ok: false, error: String(e && e.stack || e) }))
  .then((r) => { document.getElementById("out").textContent = JSON.stringify(r);
    return fetch("/result", { method: "POST", body: JSON.stringify(r) }); });
</script></body></html>`;
}

describe("websocket: a real browser", () => {
  test("headless Chromium runs nats.js against the server: publish, receive, request", logsOnFailure(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: ./dev deps installs the chromium package`);
    const srv = await wsServer("no_tls: true\n  compression: true");
    const tcp = await connectTo(srv);
    const big = "sku ".repeat(20_000);
    tcp.subscribe("browser.ask", { callback: (_, m) => m.respond(`answer to: ${m.string()}`) });
    tcp.subscribe("browser.ask.big", { callback: (_, m) => m.respond(big) });
    await tcp.flush();
    const { server, reported } = pageServer(srv.wsUrl);
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-chromium-"));
    const browser = spawn(CHROMIUM, ["--headless=new", "--no-sandbox", "--disable-gpu", `--user-data-dir=${profile}`,
      `http://127.0.0.1:${server.address().port}/`], { stdio: ["ignore", "ignore", "pipe"], detached: true });
    let stderr = "";
    browser.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
    try {
      const r = await within(reported, 60_000, "the page's report");
      assert.ok(r.ok, r.error);
      assert.match(r.ua, /Chrome/);
      assert.equal(r.echo, "hello from the browser");
      assert.equal(r.reply, "answer to: what is the price of skis?");
      assert.equal(r.big, big.length);
    } catch (e) {
      e.message += `\n--- chromium stderr ---\n${stderr}`;
      throw e;
    } finally {
      const exited = new Promise((r) => browser.once("exit", r));
      // The whole process group: Chromium's helpers (renderer, crashpad)
      // outlive a kill of the browser process alone and keep writing to
      // the profile while it is being removed (ENOTEMPTY, seen once).
      try {
        process.kill(-browser.pid, "SIGKILL");
      } catch {
        browser.kill("SIGKILL");
      }
      await within(exited, 10_000, "chromium to exit");
      server.close();
      await tcp.close();
      await srv.stop();
      fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
    }
  }));
});
