// Helpers shared by the interop tests: start/stop a server process under
// test (fjord-server, or nats-server as the reference oracle), talk raw
// protocol over a socket, and validate JetStream API replies against the
// JSON Schemas in shared/spec/schemas.
//
// The server binary comes from FJORD_BIN; it must accept nats-server's flags
// (-a, -p, -js, -sd, -c, --user, --pass, --auth).

import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";

import { canConnect, freePort } from "../../lib/ports.mjs";

export { freePort };

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../../..");

function resolveBin() {
  if (process.env.FJORD_BIN) return process.env.FJORD_BIN;
  // Convenience for development before fjord-server exists: fall back to the
  // reference server on PATH, but say so loudly, since a CI run must set it.
  try {
    const p = execFileSync("sh", ["-c", "command -v nats-server"]).toString().trim();
    if (p) {
      process.stderr.write(`# FJORD_BIN not set, using reference ${p}\n`);
      return p;
    }
  } catch {}
  throw new Error("FJORD_BIN is not set and nats-server is not on PATH");
}

export const serverBin = resolveBin();

// Every await in these tests is bounded; this is the default bound.
export const DEFAULT_TIMEOUT = 10_000;

// The nats-server version the binary under test implements: nats-server's
// own, or the one Fjord advertises ("... (nats-server 2.12.4 compatible)").
// Tests of behaviour that changed between releases follow it.
const versionText = execFileSync(serverBin, ["--version"]).toString();
// Fjord implements some features of releases newer than the one it
// advertises (see README); their tests run on it and on references that have them.
export const isFjord = versionText.startsWith("fjord-server");
export const serverVersion = (() => {
  const out = versionText;
  const m = out.match(/nats-server (\d+\.\d+\.\d+) compatible/) ?? out.match(/v?(\d+\.\d+\.\d+)/);
  if (!m) throw new Error(`cannot read the version of ${serverBin}: ${out}`);
  return m[1];
})();

// mulberry32: a small seeded generator, so a printed seed replays a run.
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Rejects with a descriptive error if `promise` does not settle within `ms`.
export function within(promise, ms = DEFAULT_TIMEOUT, what = "operation") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Polls `fn` until it returns a truthy value, at most `ms` milliseconds.
export async function waitFor(fn, ms = DEFAULT_TIMEOUT, what = "condition", step = 50) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await sleep(step);
  }
}

const live = new Set();
// Every server launched, in order: a failing test also prints those that
// exited since it began (a crash shows its last words).
const launched = [];
const tempDirs = new Set();

// A runner killed by `timeout` or Ctrl-C must not leave servers behind:
// "exit" handlers do not run on signals, so turn them into an exit.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(sig, () => process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1)));
}

process.on("exit", () => {
  for (const s of live) {
    try {
      s.child.kill("SIGKILL");
    } catch {}
  }
  for (const d of tempDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {}
  }
});

const LOG_KEEP = 256 * 1024;

// FJORD_HARNESS=1: start the server under test as client test harnesses do
// (nats.js's among them): a config file that begins with their defaults
// (port -1, http on a free port, leafnodes and websocket listeners on free
// ports, ports_file_dir, server_tags) followed by the test's own config,
// passed with -c and no -a/-p; the client port is read from the ports file.
// A restart keeps the port it got, so tests can reconnect.
export const HARNESS = process.env.FJORD_HARNESS === "1";

function harnessHeader(portsDir, port) {
  return [
    `port: ${port ?? -1}`,
    'http: "127.0.0.1:-1"',
    `ports_file_dir: "${portsDir}"`,
    'leafnodes { listen: "127.0.0.1:-1" }',
    "websocket { port: -1, no_tls: true }",
    'server_tags: ["harness:true"]',
    "",
  ].join("\n");
}

class ServerProcess {
  constructor(opts) {
    this.opts = opts;
    // The binary to run: opts.bin (e.g. a reference nats-server in a mixed
    // cluster), else FJORD_BIN.
    this.bin = opts.bin || serverBin;
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-interop-"));
    tempDirs.add(this.tmp);
    this.storeDir = path.join(this.tmp, "store");
    fs.mkdirSync(this.storeDir);
    this.logText = "";
    this.child = null;
    this.exited = null;
  }

  get url() {
    return `nats://127.0.0.1:${this.port}`;
  }

  async launch() {
    const o = this.opts;
    const args = [];
    // Harness mode applies to the server under test with the usual listen
    // arguments; servers a test places itself keep its own setup.
    const harness = HARNESS && !o.bin && o.listenArgs !== false;
    const portsDir = path.join(this.tmp, "ports");
    if (o.config !== undefined || harness) {
      let text = o.config === undefined ? "" : typeof o.config === "function"
        ? o.config({ port: this.port, storeDir: this.storeDir, tmp: this.tmp })
        : o.config;
      if (harness) {
        fs.mkdirSync(portsDir, { recursive: true });
        text = harnessHeader(portsDir, this.harnessPort) + text;
      }
      this.configFile = path.join(this.tmp, "server.conf");
      fs.writeFileSync(this.configFile, text);
      args.push("-c", this.configFile);
    }
    if (o.listenArgs !== false && !harness) args.push("-a", "127.0.0.1", "-p", String(this.port));
    if (o.jetstream) args.push("-js", "-sd", this.storeDir);
    args.push(...(o.args || []));
    this.argv = args;

    const env = o.env ? { ...process.env, ...o.env } : process.env;
    const child = spawn(this.bin, args, { stdio: ["ignore", "pipe", "pipe"], env });
    this.child = child;
    live.add(this);
    launched.push(this);
    this.exitedHow = null;
    const append = (b) => {
      this.logText += b.toString();
      if (this.logText.length > LOG_KEEP) this.logText = this.logText.slice(-LOG_KEEP);
    };
    child.stdout.on("data", append);
    child.stderr.on("data", append);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        live.delete(this);
        this.exitedHow = signal ? `signal ${signal}` : `exit code ${code}`;
        resolve({ code, signal });
      });
      child.once("error", (err) => {
        live.delete(this);
        append(`spawn error: ${err.message}\n`);
        resolve({ code: -1, signal: null, error: err });
      });
    });
    let gone = false;
    this.exited.then(() => (gone = true));

    const deadline = Date.now() + (o.startTimeout ?? 10_000);
    const portsFile = path.join(portsDir, `${path.basename(this.bin)}_${child.pid}.ports`);
    while (Date.now() < deadline) {
      if (gone) break;
      if (harness && !this.harnessPort) {
        // The ports file names the client port the server picked.
        try {
          const ports = JSON.parse(fs.readFileSync(portsFile, "utf8"));
          const url = ports.nats.find((u) => u.includes("127.0.0.1")) ?? ports.nats[0];
          this.port = this.harnessPort = Number(new URL(url).port);
        } catch {
          await sleep(50);
          continue;
        }
      }
      if (await canConnect(this.port)) return this;
      await sleep(50);
    }
    const why = gone ? "exited during startup" : "did not accept connections within the start timeout";
    await this.kill9();
    throw new Error(`${this.bin} ${args.join(" ")} ${why}\n--- server output ---\n${this.logText}`);
  }

  log() {
    return this.logText;
  }

  // How the process exited, or null if it has not within `ms`.
  async exitWithin(ms) {
    let timer;
    const res = await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(() => r(null), ms)))]);
    clearTimeout(timer);
    return res;
  }

  async stop() {
    if (!this.child || !live.has(this)) return this.exited ? await this.exited : null;
    this.child.kill("SIGTERM");
    const res = await this.exitWithin(5000);
    if (res) return res;
    this.child.kill("SIGKILL");
    return await this.exited;
  }

  async kill9() {
    if (this.child && live.has(this)) this.child.kill("SIGKILL");
    return this.exited ? await this.exited : null;
  }

  // The machine loses power: a Fjord server started with
  // FJORD_TEST_POWER_LOSS=1 drops what it has not synced and exits.
  async powerLoss() {
    if (this.child && live.has(this)) this.child.kill("SIGPWR");
    const res = await this.exitWithin(10_000);
    if (!res) throw new Error(`${this.bin} did not exit on SIGPWR (started without FJORD_TEST_POWER_LOSS=1?)`);
    return res;
  }

  // Fills (on) or frees the disk: under FJORD_TEST_POWER_LOSS=1 every store
  // write then fails with ENOSPC, as on a full disk (SIGTTIN, SIGTTOU).
  diskFull(on) {
    if (this.child && live.has(this)) this.child.kill(on ? "SIGTTIN" : "SIGTTOU");
  }

  // Same port, same store dir, same config.
  async restart() {
    await this.stop();
    return this.launch();
  }
}

// Starts FJORD_BIN on a free port in a fresh temp store dir.
//   config:     config file text, or (ctx: {port, storeDir, tmp}) => text
//   args:       extra command-line arguments
//   jetstream:  pass -js -sd <storeDir> (default true)
//   listenArgs: pass -a 127.0.0.1 -p <port> (default true; turn off when the
//               config file itself sets the listen address)
//   bin:        run this binary instead of FJORD_BIN (mixed clusters)
//   port:       use this client port instead of picking a free one
//   env:        environment variables added to the server's
// Returns {port, url, storeDir, bin, stop(), kill9(), powerLoss(), restart(), log()}.
export async function startServer({ config, args = [], jetstream = true, listenArgs = true, startTimeout, bin, port, env } = {}) {
  const s = new ServerProcess({ config, args, jetstream, listenArgs, startTimeout, bin, env });
  s.port = port ?? await freePort();
  return s.launch();
}

// Wraps a test body so that a failure prints the output of every server that
// is still running (the one under test is among them): the last
// FJORD_TEST_LOG_TAIL bytes of each (16 KiB unless set).
const LOG_TAIL = Number(process.env.FJORD_TEST_LOG_TAIL ?? 16384);
export function logsOnFailure(fn) {
  return async function (...a) {
    const from = launched.length;
    try {
      return await fn.apply(this, a);
    } catch (e) {
      // Each process once (a restart launches the same object again).
      const shown = new Set(live);
      for (const s of launched.slice(from)) shown.add(s);
      for (const s of shown) {
        const state = live.has(s) ? "" : `, ${s.exitedHow ?? "exited"}`;
        process.stderr.write(`--- output of ${s.bin} ${s.argv.join(" ")} (port ${s.port}${state}) ---\n${s.log().slice(-LOG_TAIL)}\n`);
      }
      throw e;
    }
  };
}

// ---------------------------------------------------------------------------
// Raw protocol socket.

class RawConn {
  constructor(sock, autoPong) {
    this.sock = sock;
    this.autoPong = autoPong;
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.isClosed = false;
    this.closed = new Promise((resolve) => {
      sock.on("close", () => {
        this.isClosed = true;
        this.poke();
        resolve();
      });
    });
    sock.on("data", (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.poke();
    });
    sock.on("error", () => {});
  }

  poke() {
    for (const w of [...this.waiters]) w();
  }

  send(data) {
    this.sock.write(typeof data === "string" ? Buffer.from(data, "binary") : data);
  }

  // Waits until `pred(buf)` returns a value other than undefined; that value
  // is returned. pred may consume from this.buf.
  wait(pred, ms, what) {
    return new Promise((resolve, reject) => {
      const check = () => {
        // Server keep-alive PINGs arrive between frames; answer and drop them
        // so that long-lived test connections see only what they expect.
        while (this.autoPong && this.buf.length >= 6 && this.buf.subarray(0, 6).toString() === "PING\r\n") {
          this.buf = this.buf.subarray(6);
          this.send("PONG\r\n");
        }
        let v;
        try {
          v = pred(this.buf);
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (this.isClosed) {
          done();
          reject(new Error(`connection closed while waiting for ${what}; received ${JSON.stringify(this.buf.toString("binary"))}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; received ${JSON.stringify(this.buf.toString("binary"))}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  // Reads one line (without CRLF).
  readLine(ms = DEFAULT_TIMEOUT) {
    return this.wait((b) => {
      const i = b.indexOf("\r\n");
      if (i < 0) return undefined;
      const line = b.subarray(0, i).toString("binary");
      this.buf = b.subarray(i + 2);
      return line;
    }, ms, "a line");
  }

  // Waits for exactly these bytes as the next thing the server sends.
  expectExact(expected, ms = DEFAULT_TIMEOUT) {
    const want = typeof expected === "string" ? Buffer.from(expected, "binary") : expected;
    return this.wait((b) => {
      const n = Math.min(b.length, want.length);
      if (!b.subarray(0, n).equals(want.subarray(0, n))) {
        throw new Error(`expected ${JSON.stringify(want.toString("binary"))}, received ${JSON.stringify(b.toString("binary"))}`);
      }
      if (b.length < want.length) return undefined;
      this.buf = b.subarray(want.length);
      return true;
    }, ms, JSON.stringify(want.toString("binary")));
  }

  // Waits until the received bytes contain `expected` (string or RegExp),
  // consumes everything up to and including it, returns the match.
  expect(expected, ms = DEFAULT_TIMEOUT) {
    return this.wait((b) => {
      const s = b.toString("binary");
      if (expected instanceof RegExp) {
        const m = expected.exec(s);
        if (!m) return undefined;
        this.buf = b.subarray(m.index + m[0].length);
        return m;
      }
      const i = s.indexOf(expected);
      if (i < 0) return undefined;
      this.buf = b.subarray(i + expected.length);
      return expected;
    }, ms, JSON.stringify(String(expected)));
  }

  // Expects that nothing arrives for `ms` milliseconds.
  async expectSilence(ms = 300) {
    await sleep(ms);
    if (this.buf.length) throw new Error(`expected no data, received ${JSON.stringify(this.buf.toString("binary"))}`);
  }

  // Waits for the server to close the connection; returns what was unread.
  async expectClose(ms = DEFAULT_TIMEOUT) {
    await within(this.closed, ms, "the server to close the connection");
    const rest = this.buf.toString("binary");
    this.buf = Buffer.alloc(0);
    return rest;
  }

  // Reads the next MSG or HMSG frame, answering server PINGs on the way.
  // Returns {op, subject, sid, reply, hdr (string|null), data (Buffer), raw}.
  // Arguments may be separated by runs of blanks (the reference sends
  // "MSG subj 1  5" when the reply is empty).
  async readMsg(ms = DEFAULT_TIMEOUT) {
    const deadline = Date.now() + ms;
    for (;;) {
      const line = await this.readLine(Math.max(1, deadline - Date.now()));
      if (line === "PING") {
        this.send("PONG\r\n");
        continue;
      }
      const parts = line.split(/[ \t]+/).filter(Boolean);
      const op = parts[0];
      if (op !== "MSG" && op !== "HMSG") throw new Error(`expected MSG/HMSG, got ${JSON.stringify(line)}`);
      const nums = op === "MSG" ? 1 : 2;
      const args = parts.slice(1);
      const sizes = args.slice(-nums).map(Number);
      const [subject, sid, reply] = args.slice(0, -nums);
      const total = sizes[sizes.length - 1];
      const body = await this.wait((b) => {
        if (b.length < total + 2) return undefined;
        const out = b.subarray(0, total);
        if (b.subarray(total, total + 2).toString() !== "\r\n") throw new Error("payload not followed by CRLF");
        this.buf = b.subarray(total + 2);
        return Buffer.from(out);
      }, Math.max(1, deadline - Date.now()), `payload of ${line}`);
      const hlen = op === "HMSG" ? sizes[0] : 0;
      return {
        op,
        subject,
        sid,
        reply: reply ?? "",
        hdr: op === "HMSG" ? body.subarray(0, hlen).toString("binary") : null,
        data: body.subarray(hlen),
        raw: line,
      };
    }
  }

  take() {
    const s = this.buf.toString("binary");
    this.buf = Buffer.alloc(0);
    return s;
  }

  close() {
    this.sock.destroy();
  }
}

// Opens a TCP connection to the server; resolves once connected. If
// `readInfo` (default) the INFO line is read and parsed into conn.info. With
// `autoPong` (default) server PINGs are answered and never seen by expect*.
export async function rawConn(port, { readInfo = true, autoPong = true, ms = DEFAULT_TIMEOUT } = {}) {
  const sock = net.connect({ port, host: "127.0.0.1" });
  sock.setNoDelay(true);
  await within(new Promise((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  }), ms, `TCP connect to port ${port}`);
  const c = new RawConn(sock, autoPong);
  if (readInfo) {
    const line = await c.readLine(ms);
    const m = /^INFO\s+(\{.*\})\s*$/.exec(line);
    if (!m) throw new Error(`expected INFO, got ${JSON.stringify(line)}`);
    c.info = JSON.parse(m[1]);
  }
  return c;
}

// ---------------------------------------------------------------------------
// JSON Schema validation of JetStream API replies.

export const schemasDir = process.env.FJORD_SCHEMAS
  ? path.resolve(process.env.FJORD_SCHEMAS)
  : path.resolve(repoRoot, "../shared/spec/schemas");

let ajv = null;

function loadSchemas() {
  const a = new Ajv({ strict: false, allErrors: true });
  // RFC 3339 timestamps as the server writes them (nanoseconds, Z or offset).
  a.addFormat("date-time", /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  const seen = new Set();
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".json")) {
        const schema = JSON.parse(fs.readFileSync(p, "utf8"));
        // A few upstream files reuse another file's $id; give the copy its own
        // so both can be loaded (no schema refers to them by that id).
        if (!schema.$id || seen.has(schema.$id)) schema.$id = `file://${p}`;
        seen.add(schema.$id);
        a.addSchema(schema, path.relative(schemasDir, p));
      }
    }
  };
  if (!fs.existsSync(schemasDir)) {
    throw new Error(`schemas not found at ${schemasDir} (set FJORD_SCHEMAS)`);
  }
  walk(schemasDir);
  return a;
}

// Validates `obj` against jetstream/api/v1/<name>.json; throws with the ajv
// errors and the object when it does not conform. Returns obj.
export function validate(name, obj) {
  if (!ajv) ajv = loadSchemas();
  const key = name.includes("/") ? name : `jetstream/api/v1/${name}`;
  const fn = ajv.getSchema(key.endsWith(".json") ? key : `${key}.json`);
  if (!fn) throw new Error(`no schema ${key}`);
  if (!fn(obj)) {
    throw new Error(`reply does not match schema ${name}: ${ajv.errorsText(fn.errors, { separator: "; " })}\n${JSON.stringify(obj)}`);
  }
  return obj;
}

// Parses the server version from INFO ("2.9.10" or "v2.10.0-beta") and
// compares it with `want` ("2.10.0"): true if the server is at least that.
export function versionAtLeast(version, want) {
  const parse = (v) => String(v).replace(/^v/, "").split(/[.-]/).slice(0, 3).map((x) => parseInt(x, 10) || 0);
  const a = parse(version);
  const b = parse(want);
  for (let i = 0; i < 3; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return true;
}
