// SIGHUP reloads the config file: a changed authorization applies to new
// connections, and connections whose credentials were revoked are closed
// (as nats-server does), while the server keeps running. SIGUSR1
// (`--signal reopen`, what logrotate sends) reopens the log file.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
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

  test("SIGUSR1 reopens the log file and the server keeps serving", logsOnFailure(async () => {
    let logFile;
    const srv = await startServer({
      config: ({ tmp }) => {
        logFile = path.join(tmp, "server.log");
        return `logfile: "${logFile}"\n`;
      },
      jetstream: false,
    });
    try {
      await waitFor(() => fs.existsSync(logFile) && fs.readFileSync(logFile, "utf8").includes("Server is ready"),
        5000, "the server to log to its file");
      fs.renameSync(logFile, logFile + ".1");  // what logrotate does before signalling
      srv.child.kill("SIGUSR1");
      await waitFor(() => fs.existsSync(logFile) && /File log re-opened/.test(fs.readFileSync(logFile, "utf8")),
        5000, "a new log file saying it was re-opened");
      const nc = await connectTo(srv);
      await nc.flush();
      await nc.close();
    } finally {
      await srv.stop();
    }
  }));
});
