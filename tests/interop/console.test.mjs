// The web console at /console, in a real browser: Debian's headless
// Chromium loads it against a server with traffic; the stream and consumer
// tables and the lag chart must show the numbers the JetStream API gives.
// A screenshot is saved under $FJORD_BUILD/console-test/ (or the temp dir).

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { jetstreamManager, jetstream, AckPolicy } from "@nats-io/jetstream";
import { startServer, freePort, waitFor, logsOnFailure, serverBin } from "./lib/server.mjs";
import { connectTo } from "./lib/client.mjs";

const run = promisify(execFile);
const REFERENCE = path.basename(serverBin) === "nats-server";
const CHROMIUM = "/usr/bin/chromium"; // installed by ./dev (Debian package chromium)

// Runs the page for `budgetMs` of virtual time (timers run fast, fetches
// are real), then dumps the DOM or takes a screenshot.
async function browse(url, { budgetMs = 5000, screenshot } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "fjord-chromium-"));
  const args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
    `--user-data-dir=${profile}`, `--virtual-time-budget=${budgetMs}`, "--window-size=1280,1300"];
  args.push(screenshot ? `--screenshot=${screenshot}` : "--dump-dom", url);
  try {
    const { stdout } = await run(CHROMIUM, args, { timeout: 60_000, maxBuffer: 32 << 20 });
    return stdout;
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// The text of the cell `col` in the row `key` of table `table`.
function cellText(dom, table, key, col) {
  const t = dom.indexOf(`id="${table}"`);
  assert.ok(t >= 0, `table ${table}`);
  const r = dom.indexOf(`data-key="${key}"`, t);
  assert.ok(r >= 0, `row ${key} in ${table}`);
  const m = new RegExp(`data-col="${col}">([^<]*)<`).exec(dom.slice(r, r + 4000));
  assert.ok(m, `column ${col} of ${key}`);
  return m[1];
}
const num = (s) => Number(s.replaceAll(",", ""));

describe("web console", { skip: REFERENCE && "nats-server has no console" }, () => {
  let srv, mport, nc;
  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: ./dev deps installs the chromium package`);
    mport = await freePort();
    srv = await startServer({ args: ["-m", String(mport)] });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${mport}/healthz`)).ok, 10_000, "monitor");
    nc = await connectTo(srv, { name: "console-test-client" });
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  test("streams, consumers, lag chart and connections show the live numbers", logsOnFailure(async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    await jsm.consumers.add("ORDERS", { durable_name: "InvoiceProcessor", ack_policy: AckPolicy.Explicit });
    await jsm.consumers.add("ORDERS", { durable_name: "Shipping", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc);
    for (let i = 0; i < 200; i++) await js.publish(`orders.oslo.created`, `order ${i}`);
    const invoice = await js.consumers.get("ORDERS", "InvoiceProcessor");
    let n = 0;
    for await (const m of await invoice.fetch({ max_messages: 50, expires: 5000 })) {
      await m.ackAck();
      n++;
    }
    assert.equal(n, 50);

    // While the page watches, orders keep coming: the lag lines move.
    const out = path.join(process.env.FJORD_BUILD ?? os.tmpdir(), "console-test");
    fs.mkdirSync(out, { recursive: true });
    const shot = path.join(out, "console.png");
    let publishing = true;
    const producer = (async () => {
      for (let i = 0; publishing && i < 400; i++) {
        await js.publish("orders.bergen.created", `live ${i}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const url = `http://127.0.0.1:${mport}/console?refresh=300`;
    const liveDom = await browse(url, { budgetMs: 4000 });
    await browse(url, { budgetMs: 4000, screenshot: shot });
    publishing = false;
    await producer;
    console.log(`# console screenshot: ${shot}`);
    assert.ok(fs.statSync(shot).size > 10_000, "a screenshot was taken");
    const lines = [...liveDom.matchAll(/<polyline[^>]*data-consumer="([^"]+)"[^>]*data-count="(\d+)"/g)];
    assert.deepEqual(lines.map((m) => m[1]).sort(), ["ORDERS/InvoiceProcessor", "ORDERS/Shipping"]);
    for (const m of lines) assert.ok(Number(m[2]) >= 2, `${m[1]}: lag history of ${m[2]} points`);

    // Quiet now: the page must show exactly what the API says.
    const si = await jsm.streams.info("ORDERS");
    const ci = await jsm.consumers.info("ORDERS", "InvoiceProcessor");
    const cs = await jsm.consumers.info("ORDERS", "Shipping");
    const dom = await browse(url, { budgetMs: 2000 });
    assert.match(dom, /data-refreshes="\d+"/, "the page refreshed");
    assert.match(dom, /<div id="error"><\/div>/, "no error shown");
    assert.equal(num(cellText(dom, "streams", "ORDERS", "messages")), si.state.messages);
    assert.equal(num(cellText(dom, "streams", "ORDERS", "last_seq")), si.state.last_seq);
    assert.equal(num(cellText(dom, "streams", "ORDERS", "consumers")), 2);
    assert.equal(cellText(dom, "streams", "ORDERS", "subjects"), "orders.&gt;");
    assert.equal(num(cellText(dom, "consumers", "ORDERS/InvoiceProcessor", "num_pending")), ci.num_pending);
    assert.equal(num(cellText(dom, "consumers", "ORDERS/InvoiceProcessor", "ack_floor")), 50);
    assert.equal(num(cellText(dom, "consumers", "ORDERS/Shipping", "num_pending")), cs.num_pending);
    assert.equal(cs.num_pending, si.state.messages);
    const last = /<polyline[^>]*data-consumer="ORDERS\/InvoiceProcessor"[^>]*data-last="(\d+)"/.exec(dom);
    assert.ok(last, "lag line of InvoiceProcessor");
    assert.equal(Number(last[1]), ci.num_pending);
    assert.match(dom, /console-test-client/, "the test's own connection is listed");
    assert.notEqual(cellText(dom, "streams", "ORDERS", "bytes"), "–");
  }));

  test("the console is linked from the index and honours http_base_path", logsOnFailure(async () => {
    const idx = await (await fetch(`http://127.0.0.1:${mport}/`)).text();
    assert.match(idx, /href=\.\/console/);
    const port = await freePort();
    const s2 = await startServer({ config: 'http_base_path: "/nats"\n', args: ["-m", String(port)] });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/nats/healthz`)).ok, 10_000, "monitor");
      assert.equal((await fetch(`http://127.0.0.1:${port}/console`)).status, 404);
      const dom = await browse(`http://127.0.0.1:${port}/nats/console?refresh=300`, { budgetMs: 1500 });
      assert.match(dom, /data-refreshes="\d+"/);
      assert.match(dom, /<div id="error"><\/div>/, "no error shown");
    } finally {
      await s2.stop();
    }
  }));
});
