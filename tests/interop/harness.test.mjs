// How client test harnesses start servers (nats.js's among them): `port: -1`
// and `http: "127.0.0.1:-1"` to get free ports, `ports_file_dir` to learn
// which, and `server_tags`. Ten servers started at once must each name a
// different working port in their own ports file.

import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { serverBin, waitFor, within } from "./lib/server.mjs";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-harness-"));
const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
  fs.rmSync(tmp, { recursive: true, force: true });
});

// Starts the server with `args`, as a harness does: nothing but the ports
// file tells where it listens. Returns {child, log(), portsFile}.
function launch(args) {
  const child = spawn(serverBin, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let log = "";
  child.stdout.on("data", (b) => (log += b));
  child.stderr.on("data", (b) => (log += b));
  const exited = new Promise((r) => child.once("exit", (code, signal) => {
    children.delete(child);
    r({ code, signal });
  }));
  return { child, exited, log: () => log };
}

async function readPorts(dir, srv) {
  const file = path.join(dir, `${path.basename(serverBin)}_${srv.child.pid}.ports`);
  await waitFor(() => fs.existsSync(file), 15_000, `ports file ${file}\n${srv.log()}`);
  return { file, ports: JSON.parse(fs.readFileSync(file, "utf8")) };
}

// nats-server 2.9.10's /varz shows the configured port (-1), Fjord's the
// one it picked: the test checks Fjord's promise and accepts the reference's.
const REFERENCE = path.basename(serverBin) === "nats-server";

const portOf = (url) => Number(new URL(url).port);

async function stop(srv) {
  srv.child.kill("SIGTERM");
  return within(srv.exited, 10_000, "server to exit on SIGTERM");
}

describe("harness conveniences", () => {
  after(() => {
    for (const c of children) c.kill("SIGKILL");
  });

  test("ten servers with -p -1 at once: each ports file names its own working ports, and goes on exit", async () => {
    const dir = path.join(tmp, "ten");
    fs.mkdirSync(dir);
    const servers = [];
    for (let i = 0; i < 10; i++) {
      const sd = path.join(tmp, `ten-store-${i}`);
      servers.push(launch(["-a", "127.0.0.1", "-p", "-1", "-m", "-1", "--ports_file_dir", dir, "-js", "-sd", sd]));
    }
    try {
      const files = await Promise.all(servers.map((s) => readPorts(dir, s)));
      const natsPorts = new Set();
      const monPorts = new Set();
      for (const [i, { ports }] of files.entries()) {
        assert.deepEqual(Object.keys(ports).sort(), ["monitoring", "nats"], JSON.stringify(ports));
        assert.equal(ports.nats.length, 1, "a specific host is listed once");
        assert.match(ports.nats[0], /^nats:\/\/127\.0\.0\.1:\d+$/);
        assert.match(ports.monitoring[0], /^http:\/\/127\.0\.0\.1:\d+$/);
        natsPorts.add(portOf(ports.nats[0]));
        monPorts.add(portOf(ports.monitoring[0]));
        // The port works: a request/reply round trip through the official client.
        const nc = await connect({ servers: ports.nats[0], timeout: 5000 });
        try {
          const sub = nc.subscribe("harness.echo", { callback: (_e, m) => m.respond(m.data) });
          const reply = await nc.request("harness.echo", `hello ${i}`, { timeout: 5000 });
          assert.equal(reply.string(), `hello ${i}`);
          sub.unsubscribe();
        } finally {
          await nc.close();
        }
        const varz = await (await within(fetch(`${ports.monitoring[0]}/varz`), 5000, "GET /varz")).json();
        if (!REFERENCE) {
          assert.equal(varz.port, portOf(ports.nats[0]), "/varz shows the port picked");
          assert.equal(varz.http_port, portOf(ports.monitoring[0]));
        }
      }
      assert.equal(natsPorts.size, 10, `distinct client ports: ${[...natsPorts]}`);
      assert.equal(monPorts.size, 10, `distinct monitoring ports: ${[...monPorts]}`);
      for (const [i, s] of servers.entries()) {
        const { code } = await stop(s);
        if (!REFERENCE) assert.equal(code, 0, s.log()); // 2.9.10 exits 1 on SIGTERM
        assert.equal(fs.existsSync(files[i].file), false, "ports file removed on a clean exit");
      }
      assert.deepEqual(fs.readdirSync(dir), [], "no temporary files left behind");
    } finally {
      for (const s of servers) s.child.kill("SIGKILL");
    }
  });

  test("a wildcard host lists loopback among the interface addresses", async () => {
    const dir = path.join(tmp, "wild");
    fs.mkdirSync(dir);
    const s = launch(["-p", "-1", "--ports_file_dir", dir]);
    try {
      const { ports } = await readPorts(dir, s);
      assert.deepEqual(Object.keys(ports), ["nats"]);
      const port = portOf(ports.nats[0]);
      assert.ok(ports.nats.every((u) => portOf(u) === port), JSON.stringify(ports));
      assert.ok(ports.nats.includes(`nats://127.0.0.1:${port}`), JSON.stringify(ports));
    } finally {
      await stop(s);
    }
  });

  test("a harness-style config file: port -1, http host:-1, ports_file_dir, server_tags, leafnodes and websocket on -1; JetStream and KV work", async () => {
    const dir = path.join(tmp, "conf");
    fs.mkdirSync(dir);
    const conf = path.join(tmp, "harness.conf");
    fs.writeFileSync(conf, [
      "port: -1",
      'http: "127.0.0.1:-1"',
      `ports_file_dir: "${dir}"`,
      'server_tags: ["az:1", "Region:Oslo"]',
      'leafnodes { listen: "127.0.0.1:-1" }',
      "websocket { port: -1, no_tls: true }",
      `jetstream { store_dir: "${path.join(tmp, "conf-store")}" }`,
      "",
    ].join("\n"));
    const s = launch(["-c", conf]);
    try {
      const { ports } = await readPorts(dir, s);
      // The leafnode and WebSocket listeners got ports of their own, and
      // the leafnode one answers with a leafnode INFO. nats-server (2.9 to
      // 2.15) leaves leafnodes out of its ports file; Fjord lists them, as
      // harnesses want. Its log names the port either way.
      const lm = s.log().match(/Listening for leafnode connections on [^\s]*:(\d+)/);
      assert.ok(lm, s.log());
      if (!REFERENCE) assert.deepEqual(ports.leafnodes, [`nats://127.0.0.1:${lm[1]}`], JSON.stringify(ports));
      const leafInfo = await new Promise((resolve, reject) => {
        const sock = net.connect(Number(lm[1]), "127.0.0.1");
        sock.once("data", (d) => {
          sock.destroy();
          resolve(d.toString());
        });
        sock.once("error", reject);
        setTimeout(() => sock.destroy(new Error("no INFO")), 5000);
      });
      assert.match(leafInfo, /^INFO \{.*"leafnode_urls"/);
      assert.ok(ports.websocket.length >= 1, JSON.stringify(ports));
      const wsPort = portOf(ports.websocket[0]);
      assert.ok(ports.websocket.every((u) => u.startsWith("ws://") && portOf(u) === wsPort), JSON.stringify(ports));
      assert.equal(new Set([portOf(ports.nats[0]), wsPort, Number(lm[1])]).size, 3);
      const mon = ports.monitoring.find((u) => u.startsWith("http://127.0.0.1:"));
      assert.ok(mon, JSON.stringify(ports));
      const varz = await (await within(fetch(`${mon}/varz`), 5000, "GET /varz")).json();
      assert.deepEqual(varz.tags, ["az:1", "region:oslo"]);
      const url = ports.nats.find((u) => u.startsWith("nats://127.0.0.1:"));
      const nc = await connect({ servers: url, timeout: 5000 });
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({ name: "H", subjects: ["h.>"] });
        const js = jetstream(nc);
        const ack = await js.publish("h.1", "one");
        assert.equal(ack.seq, 1);
        const kv = await new Kvm(nc).create("harness");
        await kv.put("k", "v");
        assert.equal((await kv.get("k")).string(), "v");
      } finally {
        await nc.close();
      }
    } finally {
      await stop(s);
    }
  });

  test("a ports file that cannot be written is logged and the server keeps serving", async () => {
    const s = launch(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", path.join(tmp, "missing", "dir")]);
    try {
      await waitFor(() => /ports file/i.test(s.log()), 10_000, "the error to be logged");
      const m = s.log().match(/Listening for client connections on [^\s]+:(\d+)/);
      assert.ok(m, s.log());
      const nc = await connect({ servers: `nats://127.0.0.1:${m[1]}`, timeout: 5000 });
      await nc.flush();
      await nc.close();
    } finally {
      await stop(s);
    }
  });
});
