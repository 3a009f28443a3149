// SIGHUP reloads the config file: a changed authorization applies to new
// connections while the server keeps running.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { errors } from "@nats-io/transport-node";
import { startServer, sleep, waitFor, logsOnFailure } from "./lib/server.mjs";
import { connectTo } from "./lib/client.mjs";

const conf = (token) => ({ port }) => `listen: 127.0.0.1:${port}\nauthorization { token: "${token}" }\n`;

async function authFails(srv, token) {
  try {
    const nc = await connectTo(srv, { token });
    await nc.close();
    return false;
  } catch (e) {
    const text = `${e?.message} ${e?.cause?.message ?? ""}`;
    return e instanceof errors.AuthorizationError || /authorization violation/i.test(text);
  }
}

describe("config reload", () => {
  test("SIGHUP applies a new token to new connections", logsOnFailure(async () => {
    const srv = await startServer({ config: conf("first-token"), jetstream: false, listenArgs: false });
    try {
      const before = await connectTo(srv, { token: "first-token" });
      fs.writeFileSync(srv.configFile, conf("second-token")({ port: srv.port }));
      srv.child.kill("SIGHUP");
      await waitFor(() => authFails(srv, "first-token"), 5000, "the old token to be refused");
      const after = await connectTo(srv, { token: "second-token" });
      // The connection made before the reload is still served.
      await before.flush();
      await after.close();
      await before.close();
      assert.ok(await authFails(srv, "first-token"));
      await sleep(10);
    } finally {
      await srv.stop();
    }
  }));
});
