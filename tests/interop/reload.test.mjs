// SIGHUP reloads the config file: a changed authorization applies to new
// connections, and connections whose credentials were revoked are closed
// (as nats-server does), while the server keeps running.

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
  test("SIGHUP applies a new token and closes connections using the old one", logsOnFailure(async () => {
    const srv = await startServer({ config: conf("first-token"), jetstream: false, listenArgs: false });
    try {
      const before = await connectTo(srv, { token: "first-token" });
      const beforeClosed = before.closed();
      fs.writeFileSync(srv.configFile, conf("second-token")({ port: srv.port }));
      srv.child.kill("SIGHUP");
      await waitFor(() => authFails(srv, "first-token"), 5000, "the old token to be refused");
      const after = await connectTo(srv, { token: "second-token" });
      await after.flush();
      // The connection that authenticated with the revoked token is gone.
      await waitFor(async () => { await Promise.race([beforeClosed, sleep(100)]); return before.isClosed(); },
        5000, "the old connection to be closed");
      await after.close();
    } finally {
      await srv.stop();
    }
  }));
});
