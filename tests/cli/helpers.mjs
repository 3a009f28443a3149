// Helpers for the `fjord` CLI tests: start a server (FJORD_BIN) with
// JetStream on a free loopback port and run the CLI (FJORD_CLI) against it.
// Every wait is bounded; nothing here needs npm packages.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { freePort } from "../lib/ports.mjs";

export { freePort };

export const CLI = process.env.FJORD_CLI;
export const BIN = process.env.FJORD_BIN;
if (!CLI || !BIN) {
  throw new Error("set FJORD_CLI (the fjord binary) and FJORD_BIN (the server binary)");
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    sock.once("data", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
    sock.setTimeout(500, () => {
      sock.destroy();
      resolve(false);
    });
  });
}

// Starts a server; `extra` are additional server flags (e.g. auth).
export async function startServer(extra = []) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "fjord-cli-"));
  const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir, ...extra];
  const proc = spawn(BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr.on("data", (d) => {
    log += d;
  });
  let exited = false;
  const exitPromise = new Promise((resolve) => proc.once("exit", () => {
    exited = true;
    resolve();
  }));
  const deadline = Date.now() + 10000;
  while (!(await canConnect(port))) {
    if (exited) throw new Error(`server exited at start: ${log}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`server did not start on port ${port}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      if (!exited) {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await exitPromise;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// One server for the enclosing describe(): started in a before() hook and
// stopped in an after() hook, both registered here, so hooks the suite
// registers later run with the server up. Returns a handle that the hook
// fills in: port, url, stop(), and `flag`, the --server argument for the CLI
// (`flag` maps the started server to it; default its nats:// URL).
export function suiteServer({ extra = [], flag = (srv) => `--server=${srv.url}` } = {}) {
  const handle = {};
  before(async () => {
    const srv = await startServer(extra);
    Object.assign(handle, srv, { flag: flag(srv) });
  });
  after(async () => {
    await handle.stop?.();
  });
  return handle;
}

// Runs the CLI to completion. stdin is a pipe (never a terminal), fed with
// `input` and then closed. Resolves {code, stdout, stderr}; stdout is a
// Buffer when `binary` is set.
export function run(args, { input = "", env = {}, timeout = 20000, binary = false } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(CLI, args, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    let err = "";
    proc.stdout.on("data", (d) => out.push(d));
    proc.stderr.on("data", (d) => {
      err += d;
    });
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`fjord ${args.join(" ")} did not finish within ${timeout} ms; stderr: ${err}`));
    }, timeout);
    proc.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.on("close", (code) => {
      clearTimeout(timer);
      const buf = Buffer.concat(out);
      resolve({ code, stdout: binary ? buf : buf.toString(), stderr: err });
    });
    proc.stdin.on("error", () => {});
    proc.stdin.end(input);
  });
}

// Runs the CLI and fails unless it exits 0; returns stdout.
export async function ok(args, opts) {
  const r = await run(args, opts);
  if (r.code !== 0) {
    throw new Error(`fjord ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  }
  return r.stdout;
}

// Runs the CLI and parses its stdout as JSON.
export async function json(args, opts) {
  const out = await ok(args, opts);
  try {
    return JSON.parse(out);
  } catch (e) {
    throw new Error(`fjord ${args.join(" ")} printed no JSON: ${out}`);
  }
}

// Starts a long-running CLI command (sub, reply, kv watch). `waitFor(re)`
// resolves once stdout+stderr match; `done` resolves {code, stdout, stderr}.
export function background(args, { env = {}, timeout = 20000 } = {}) {
  const proc = spawn(CLI, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const waiters = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.re.test(stdout + stderr)) {
        waiters.splice(waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  };
  proc.stdout.on("data", (d) => {
    stdout += d;
    check();
  });
  proc.stderr.on("data", (d) => {
    stderr += d;
    check();
  });
  const killer = setTimeout(() => proc.kill("SIGKILL"), timeout);
  const done = new Promise((resolve) => proc.on("close", (code) => {
    clearTimeout(killer);
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(new Error(`process ended before ${w.re}; output: ${stdout}${stderr}`));
    }
    resolve({ code, stdout, stderr });
  }));
  return {
    proc,
    done,
    waitFor(re, ms = 10000) {
      return new Promise((resolve, reject) => {
        const w = { re, resolve, reject };
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timed out waiting for ${re}; output: ${stdout}${stderr}`));
        }, ms);
        waiters.push(w);
        check();
      });
    },
    stop() {
      proc.kill("SIGTERM");
      return done;
    },
  };
}

// Bounds a promise in time.
export function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
