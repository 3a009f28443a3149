// `fjord server ...`, connection options and help, against live servers.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";

import { freePort, json, ok, run, startServer, suiteServer } from "./helpers.mjs";

describe("fjord server", () => {
  const srv = suiteServer();

  test("info --json is the server's INFO", async () => {
    const info = await json(["server", "info", "--json", srv.flag]);
    assert.equal(typeof info.server_id, "string");
    assert.equal(typeof info.version, "string");
    assert.equal(info.port, srv.port);
    assert.equal(info.jetstream, true);
    assert.equal(info.headers, true);
    const human = await ok(["server", "info", srv.flag]);
    assert.match(human, /Version: /);
    assert.match(human, /JetStream: true/);
  });

  test("ping measures round trips", async () => {
    const out = await ok(["server", "ping", "--count", "2", srv.flag]);
    assert.match(out, /Ping 1 to nats:\/\/127\.0\.0\.1:\d+: rtt/);
    assert.match(out, /2 pings: min .* avg .* max /);
    const j = await json(["server", "ping", "--count", "3", "--json", srv.flag]);
    assert.equal(j.rtt_ns.length, 3);
  });

  test("check connection is OK with exit 0", async () => {
    const r = await run(["server", "check", "connection", srv.flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^OK Connection OK:connected to nats:\/\/127\.0\.0\.1:\d+ in .* \| connect_time=/);
    const j = await json(["server", "check", "--format", "json", "connection", srv.flag]);
    assert.equal(j.status, "OK");
    assert.deepEqual(j.perf_data.map((p) => p.name), ["connect_time", "rtt", "request_time"]);
  });

  test("check connection to a dead server is CRITICAL with exit 2", async () => {
    const port = await freePort();
    const r = await run(["server", "check", "connection", "-s", `127.0.0.1:${port}`, "--timeout", "1s"]);
    assert.equal(r.code, 2);
    assert.match(r.stdout, /^CRITICAL Connection CRIT:connection failed/);
  });

  test("check connection thresholds give WARNING (1) and CRITICAL (2)", async () => {
    const warn = await run(["server", "check", "connection", "--rtt-warn", "1ns", "--rtt-critical", "1h", srv.flag]);
    assert.equal(warn.code, 1);
    assert.match(warn.stdout, /^WARNING Connection WARN:rtt time/);
    const crit = await run(["server", "check", "connection", "--req-critical", "1ns", srv.flag]);
    assert.equal(crit.code, 2);
    assert.match(crit.stdout, /^CRITICAL Connection CRIT:round trip took/);
  });

  test("check jetstream is OK when JetStream is enabled", async () => {
    const r = await run(["server", "check", "jetstream", srv.flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^OK JetStream OK:memory:/);
  });

  test("NATS_URL and comma separated server lists are honoured", async () => {
    const dead = await freePort();
    const viaEnv = await run(["server", "check", "connection"], { env: { NATS_URL: srv.url } });
    assert.equal(viaEnv.code, 0);
    const list = await run(["pub", "x", "y", "-s", `nats://127.0.0.1:${dead},${srv.url}`]);
    assert.equal(list.code, 0, list.stderr);
  });

  test("--help works on every command", async () => {
    const commands = [[], ["stream"], ["stream", "add"], ["stream", "ls"], ["stream", "info"], ["stream", "edit"],
      ["stream", "rm"], ["stream", "purge"], ["stream", "get"], ["stream", "rmm"], ["stream", "report"],
      ["consumer"], ["consumer", "add"], ["consumer", "ls"], ["consumer", "info"], ["consumer", "next"],
      ["consumer", "rm"], ["pub"], ["sub"], ["req"], ["reply"], ["kv"], ["kv", "add"], ["kv", "put"], ["kv", "get"],
      ["kv", "del"], ["kv", "create"], ["kv", "update"], ["kv", "purge"], ["kv", "info"], ["kv", "ls"], ["kv", "watch"], ["kv", "history"], ["kv", "rm"], ["object"], ["object", "add"],
      ["object", "put"], ["object", "get"], ["object", "ls"], ["object", "info"], ["object", "rm"], ["server"], ["server", "info"],
      ["server", "ping"], ["server", "check"], ["server", "check", "connection"], ["server", "check", "jetstream"],
      ["bench"]];
    for (const c of commands) {
      const r = await run([...c, "--help"]);
      assert.equal(r.code, 0, `${c.join(" ")} --help: ${r.stderr}`);
      assert.match(r.stdout, /Usage: fjord/, c.join(" "));
    }
  });
});

describe("fjord with authentication", () => {
  test("user/password from flags, URL and environment", async () => {
    const srv = await startServer(["--user", "bob", "--pass", "s3cret"]);
    try {
      const url = `127.0.0.1:${srv.port}`;
      assert.equal((await run(["pub", "x", "y", "-s", url, "--user", "bob", "--password", "s3cret"])).code, 0);
      assert.equal((await run(["pub", "x", "y", "-s", `nats://bob:s3cret@${url}`])).code, 0);
      const env = await run(["pub", "x", "y"], { env: { NATS_URL: url, NATS_USER: "bob", NATS_PASSWORD: "s3cret" } });
      assert.equal(env.code, 0, env.stderr);
      const bad = await run(["pub", "x", "y", "-s", `nats://bob:wrong@${url}`]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /^fjord: error: could not connect to nats:\/\/127/m);
      assert.doesNotMatch(bad.stderr, /wrong/, "credentials must not be echoed");
    } finally {
      await srv.stop();
    }
  });

  test("nkey seed file from flag and environment", async () => {
    // A user key made by the official @nats-io/nkeys (see src/nkeys/tests).
    const seed = "SUAHLMDKGKUYNYEGJF5Y4OWQDYTFH7EM2B6VHJMTMK6Q6GD355BTAHTASA";
    const pub = "UBQ2AKVVBV67I7PWVP6EVICNCM5XUV733SOCLFOTUTVNLIJM6FEBIDCG";
    const dir = mkdtempSync(join(tmpdir(), "fjord-nkey-"));
    const conf = join(dir, "server.conf");
    writeFileSync(conf, `authorization { users: [ { nkey: ${pub} } ] }\n`);
    const seedFile = join(dir, "user.nk");
    writeFileSync(seedFile, `${seed}\n`);
    const notSeed = join(dir, "not-a-seed.nk");
    writeFileSync(notSeed, `${pub}\n`);
    const srv = await startServer(["-c", conf]);
    try {
      const url = `127.0.0.1:${srv.port}`;
      const ok = await run(["pub", "x", "y", "-s", url, "--nkey", seedFile]);
      assert.equal(ok.code, 0, ok.stderr);
      const env = await run(["pub", "x", "y", "-s", url], { env: { NATS_NKEY: seedFile } });
      assert.equal(env.code, 0, env.stderr);
      assert.notEqual((await run(["pub", "x", "y", "-s", url])).code, 0, "no credentials: refused");
      const bad = await run(["pub", "x", "y", "-s", url, "--nkey", notSeed]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /no user nkey seed/);
      const missing = await run(["pub", "x", "y", "-s", url, "--nkey", join(dir, "nope")]);
      assert.match(missing.stderr, /cannot read the nkey seed file/);
    } finally {
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // libnats 3.4 sends a signature whose first byte is zero as an empty one
  // (one nonce in 256): the CLI must connect again for a new nonce. A fake
  // server hands out such a nonce first, then random ones, and refuses a
  // CONNECT whose signature does not verify.
  test("a nonce whose signature libnats cannot send gets a new connection", async () => {
    const seed = "SUAHLMDKGKUYNYEGJF5Y4OWQDYTFH7EM2B6VHJMTMK6Q6GD355BTAHTASA";
    const rawPub = Buffer.from("61a02ab50d7df47df6abfc4aa04d133b7a57fbdc9c2595d3a4ead5a12cf14814", "hex");
    const key = crypto.createPublicKey({
      key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), rawPub]), format: "der", type: "spki",
    });
    const nonces = ["JvzYtuge5ZX3ZLM"]; // this key's signature of it starts with 0x00
    const connects = [];
    const port = await freePort();
    const fake = net.createServer((s) => {
      const nonce = nonces.shift() ?? crypto.randomBytes(11).toString("base64url");
      s.on("error", () => {});
      s.write(`INFO ${JSON.stringify({ server_id: "FAKE", version: "2.10.0", proto: 1, headers: true,
        max_payload: 1048576, host: "127.0.0.1", port, nonce })}\r\n`);
      let buf = "", accepted = false;
      s.on("data", (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf("\r\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!accepted) {
            const c = JSON.parse(line.slice("CONNECT ".length));
            const good = typeof c.sig === "string" &&
              crypto.verify(null, Buffer.from(nonce), key, Buffer.from(c.sig, "base64url"));
            connects.push({ nonce, sig: c.sig, good });
            if (!good) return s.end("-ERR 'Authorization Violation'\r\n");
            accepted = true;
          } else if (line === "PING") {
            s.write("PONG\r\n");
          }
        }
      });
    });
    await new Promise((resolve) => fake.listen(port, "127.0.0.1", resolve));
    const dir = mkdtempSync(join(tmpdir(), "fjord-nkey-"));
    try {
      const seedFile = join(dir, "user.nk");
      writeFileSync(seedFile, `${seed}\n`);
      const pub = await run(["pub", "x", "y", "-s", `127.0.0.1:${port}`, "--nkey", seedFile]);
      assert.equal(pub.code, 0, pub.stderr);
      assert.deepEqual(connects.map((c) => c.good), [true], JSON.stringify(connects));
      assert.notEqual(connects[0].nonce, "JvzYtuge5ZX3ZLM", "no CONNECT for the unsendable signature");
    } finally {
      fake.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("token from flag and URL", async () => {
    const srv = await startServer(["--auth", "t0ken"]);
    try {
      const url = `127.0.0.1:${srv.port}`;
      assert.equal((await run(["pub", "x", "y", "-s", url, "--token", "t0ken"])).code, 0);
      assert.equal((await run(["pub", "x", "y", "-s", `nats://t0ken@${url}`])).code, 0);
      const check = await run(["server", "check", "connection", "-s", `nats://t0ken@${url}`]);
      assert.equal(check.code, 0);
      assert.doesNotMatch(check.stdout, /t0ken/);
      assert.notEqual((await run(["pub", "x", "y", "-s", url])).code, 0);
    } finally {
      await srv.stop();
    }
  });
});
