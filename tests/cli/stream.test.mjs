// `fjord stream ...` against a live server.
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";

import { json, ok, run, suiteServer } from "./helpers.mjs";

describe("fjord stream", () => {
  const srv = suiteServer({ flag: (srv) => `--server=localhost:${srv.port}` });

  test("the issue's stream add line works verbatim", async () => {
    const out = await ok(["stream", "add", "ORDERS", "--subjects=orders.>", "--storage=file", "--replicas=1",
      "--retention=limits", "--max-msgs=100000", "--discard=old", srv.flag]);
    assert.match(out, /Stream ORDERS was created/);
    assert.match(out, /Subjects: orders\.>/);
    assert.match(out, /Maximum Messages: 100,000/);
  });

  test("info --json is the server's stream_info_response", async () => {
    const info = await json(["stream", "info", "ORDERS", "--json", srv.flag]);
    assert.equal(info.type, "io.nats.jetstream.api.v1.stream_info_response");
    assert.equal(info.config.name, "ORDERS");
    assert.deepEqual(info.config.subjects, ["orders.>"]);
    assert.equal(info.config.max_msgs, 100000);
    assert.equal(info.config.storage, "file");
    assert.equal(info.config.retention, "limits");
    assert.equal(info.config.discard, "old");
    assert.equal(info.config.num_replicas, 1);
    assert.equal(info.state.messages, 0);
  });

  test("info prints a human summary", async () => {
    const out = await ok(["stream", "info", "ORDERS", srv.flag]);
    assert.match(out, /Information for Stream ORDERS created/);
    assert.match(out, /Retention: Limits/);
    assert.match(out, /Discard Policy: Old/);
  });

  test("add --json returns stream_create_response; -s and NATS_URL both work", async () => {
    const created = await json(["stream", "add", "EVENTS", "--subjects", "ev.a, ev.b", "--storage", "memory",
      "--max-age", "1h", "--dupe-window", "1m", "--max-bytes", "1MB", "--allow-rollup", "--deny-delete",
      "--description", "events", "--json"], { env: { NATS_URL: srv.url } });
    assert.equal(created.type, "io.nats.jetstream.api.v1.stream_create_response");
    assert.deepEqual(created.config.subjects, ["ev.a", "ev.b"]);
    assert.equal(created.config.storage, "memory");
    assert.equal(created.config.max_age, 3600e9);
    assert.equal(created.config.duplicate_window, 60e9);
    assert.equal(created.config.max_bytes, 1024 * 1024);
    assert.equal(created.config.allow_rollup_hdrs, true);
    assert.equal(created.config.deny_delete, true);
    assert.equal(created.config.description, "events");
  });

  test("add --transform-source/--transform-destination sets the 2.10 subject transform", async () => {
    const out = await ok(["stream", "add", "INBOX2", "--subjects=in.>", "--transform-source=in.*.*",
      "--transform-destination=orders.{{wildcard(2)}}.{{partition(4,1)}}", "--defaults", srv.flag]);
    assert.match(out, /Subject Transform: in\.\*\.\* to orders\.\{\{wildcard\(2\)\}\}\.\{\{partition\(4,1\)\}\}/);
    const info = await json(["stream", "info", "INBOX2", "--json", srv.flag]);
    assert.deepEqual(info.config.subject_transform, { src: "in.*.*", dest: "orders.{{wildcard(2)}}.{{partition(4,1)}}" });
    await ok(["stream", "rm", "INBOX2", "--force", srv.flag]);
  });

  test("add --marker-ttl sets 2.11 subject delete markers (and per-message TTLs)", async () => {
    const out = await ok(["stream", "add", "MARKERS", "--subjects=mk.>", "--marker-ttl=1m", "--defaults", srv.flag]);
    assert.match(out, /Allows Per-Message TTL: true/);
    assert.match(out, /Subject Delete Markers TTL: 1m0s/);
    const info = await json(["stream", "info", "MARKERS", "--json", srv.flag]);
    assert.equal(info.config.subject_delete_marker_ttl, 60_000_000_000);
    assert.equal(info.config.allow_msg_ttl, true);
    await ok(["stream", "rm", "MARKERS", "--force", srv.flag]);
  });

  test("add --allow-counter --allow-batch makes a 2.12 counter stream with atomic batches; nats's marker flag name works", async () => {
    const out = await ok(["stream", "add", "COUNTS", "--subjects=cnt.>", "--allow-counter", "--allow-batch", "--defaults", srv.flag]);
    assert.match(out, /Allows Counters: true/);
    assert.match(out, /Allows Atomic Batches: true/);
    const info = await json(["stream", "info", "COUNTS", "--json", srv.flag]);
    assert.equal(info.config.allow_msg_counter, true);
    assert.equal(info.config.allow_atomic, true);
    await ok(["stream", "rm", "COUNTS", "--force", srv.flag]);
    const sched = await ok(["stream", "add", "SCHED", "--subjects=sch.>", "--allow-schedules", "--persist-mode=async", "--defaults", srv.flag]);
    assert.match(sched, /Allows Schedules: true/);
    assert.match(sched, /Persist Mode: async/);
    const si = await json(["stream", "info", "SCHED", "--json", srv.flag]);
    assert.equal(si.config.allow_msg_schedules, true);
    assert.equal(si.config.persist_mode, "async");
    await ok(["stream", "rm", "SCHED", "--force", srv.flag]);
    await ok(["stream", "add", "MARK2", "--subjects=mk2.>", "--subject-del-markers-ttl=2m", "--defaults", srv.flag]);
    assert.equal((await json(["stream", "info", "MARK2", "--json", srv.flag])).config.subject_delete_marker_ttl, 120_000_000_000);
    await ok(["stream", "rm", "MARK2", "--force", srv.flag]);
  });

  test("add --config reads a JSON stream configuration", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fjord-cli-cfg-"));
    try {
      const file = join(dir, "cfg.json");
      writeFileSync(file, JSON.stringify({ name: "FROMFILE", subjects: ["ff.>"], max_msgs_per_subject: 3 }));
      const created = await json(["stream", "add", "--config", file, "--json", srv.flag]);
      assert.equal(created.config.name, "FROMFILE");
      assert.equal(created.config.max_msgs_per_subject, 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("add without --subjects in a pipe is an error, --defaults uses the name", async () => {
    const r = await run(["stream", "add", "NOSUBJ", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fjord: error: .*--subjects/m);
    const created = await json(["stream", "add", "DEFS", "--defaults", "--json", srv.flag]);
    assert.deepEqual(created.config.subjects, ["DEFS"]);
  });

  test("ls lists streams as a table, names and JSON", async () => {
    const table = await ok(["stream", "ls", srv.flag]);
    assert.match(table, /ORDERS/);
    assert.match(table, /EVENTS/);
    const names = (await ok(["stream", "ls", "--names", srv.flag])).trim().split("\n");
    assert.deepEqual(names, ["DEFS", "EVENTS", "FROMFILE", "ORDERS"]);
    const list = await json(["stream", "ls", "--json", srv.flag]);
    assert.equal(list.type, "io.nats.jetstream.api.v1.stream_list_response");
    assert.equal(list.total, 4);
    assert.equal(list.streams.length, 4);
    const filtered = await json(["stream", "ls", "--names", "--json", "--subject", "orders.new", srv.flag]);
    assert.deepEqual(filtered.streams, ["ORDERS"]);
  });

  test("get, rmm and purge work on published messages", async () => {
    for (let i = 1; i <= 3; i++) {
      await ok(["pub", "-J", "orders.new", `order ${i}`, "-H", "Kind:new", srv.flag]);
    }
    await ok(["pub", "-J", "orders.old", "old one", srv.flag]);
    const got = await json(["stream", "get", "ORDERS", "2", "--json", srv.flag]);
    assert.equal(got.type, "io.nats.jetstream.api.v1.stream_msg_get_response");
    assert.equal(got.message.subject, "orders.new");
    assert.equal(Buffer.from(got.message.data, "base64").toString(), "order 2");
    assert.match(Buffer.from(got.message.hdrs, "base64").toString(), /Kind: new/);
    const human = await ok(["stream", "get", "ORDERS", "1", srv.flag]);
    assert.match(human, /Item: ORDERS#1 received .* on Subject orders\.new/);
    assert.match(human, /order 1/);
    const last = await ok(["stream", "get", "ORDERS", "--last-for", "orders.new", "--raw", srv.flag]);
    assert.equal(last, "order 3");

    const rm = await run(["stream", "rmm", "ORDERS", "1", srv.flag]);
    assert.notEqual(rm.code, 0);
    assert.match(rm.stderr, /--force/);
    await ok(["stream", "rmm", "ORDERS", "1", "-f", srv.flag]);
    const gone = await run(["stream", "get", "ORDERS", "1", srv.flag]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /fjord: error: no message found/);

    const purged = await json(["stream", "purge", "ORDERS", "-f", "--subject", "orders.old", "--json", srv.flag]);
    assert.equal(purged.success, true);
    assert.equal(purged.purged, 1);
    const info = await json(["stream", "info", "ORDERS", "--json", srv.flag]);
    assert.equal(info.state.messages, 2);
    const all = await ok(["stream", "purge", "ORDERS", "-f", srv.flag]);
    assert.match(all, /Purged 2 messages/);
  });

  test("edit changes only the given settings", async () => {
    const updated = await json(["stream", "edit", "ORDERS", "--max-msgs=5", "--description", "edited", "--json", srv.flag]);
    assert.equal(updated.type, "io.nats.jetstream.api.v1.stream_update_response");
    assert.equal(updated.config.max_msgs, 5);
    assert.equal(updated.config.description, "edited");
    assert.deepEqual(updated.config.subjects, ["orders.>"]);
    const bad = await run(["stream", "edit", "ORDERS", "--storage", "memory", srv.flag]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /^fjord: error: .*storage/m);
  });

  test("report summarises every stream", async () => {
    const rows = await json(["stream", "report", "--json", srv.flag]);
    assert.equal(rows.length, 4);
    const orders = rows.find((r) => r.stream === "ORDERS");
    assert.equal(orders.storage, "file");
    assert.equal(orders.replicas, 1);
    const table = await ok(["stream", "report", srv.flag]);
    assert.match(table, /Stream Report/);
  });

  test("rm needs --force when not on a terminal", async () => {
    const r = await run(["stream", "rm", "DEFS", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fjord: error: --force is required/m);
    assert.match(await ok(["stream", "rm", "DEFS", "-f", srv.flag]), /Stream DEFS was deleted/);
  });

  test("errors are plain words on stderr with a non-zero exit", async () => {
    const missing = await run(["stream", "info", "NOPE", srv.flag]);
    assert.notEqual(missing.code, 0);
    assert.equal(missing.stdout, "");
    assert.match(missing.stderr, /^fjord: error: stream not found/m);

    const flag = await run(["stream", "ls", "--bogus", srv.flag]);
    assert.notEqual(flag.code, 0);
    assert.match(flag.stderr, /^fjord: error: .*--bogus/m);

    const cmd = await run(["stream", "frobnicate", srv.flag]);
    assert.notEqual(cmd.code, 0);
    assert.match(cmd.stderr, /unknown command "frobnicate"/);

    const enumBad = await run(["stream", "add", "X", "--subjects", "x", "--retention", "sometimes", srv.flag]);
    assert.notEqual(enumBad.code, 0);
    assert.match(enumBad.stderr, /^fjord: error: .*retention/m);

    const dur = await run(["stream", "add", "X", "--subjects", "x", "--max-age", "soon", srv.flag]);
    assert.notEqual(dur.code, 0);
    assert.match(dur.stderr, /invalid duration/);
  });

  test("numbers that are not numbers are named in the error, not a C++ or parser message", async () => {
    const cases = [
      [["stream", "add", "X", "--subjects", "x", "--max-msgs", "lots"], /^fjord: error: invalid value "lots" for --max-msgs/m],
      [["stream", "rmm", "ORDERS", "first", "-f"], /^fjord: error: invalid value "first" for sequence/m],
      [["stream", "get", "ORDERS", "last"], /^fjord: error: invalid value "last" for sequence/m],
      [["stream", "add", "X", "--subjects", "x", "--max-age", "."], /^fjord: error: invalid duration "\."/m],
      [["stream", "add", "X", "--subjects", "x", "--max-bytes", "."], /^fjord: error: invalid size "\."/m],
      [["consumer", "add", "ORDERS", "C", "--deliver", "99999999999999999999", "--defaults"],
        /^fjord: error: invalid start sequence "99999999999999999999": too large/m],
      [["pub", "x", "y", "--count", "many"], /^fjord: error: --count: "many" is not a whole number of at least 1/m],
      [["pub", "x", "y", "--count", "0"], /^fjord: error: --count: "0" is not a whole number of at least 1/m],
    ];
    for (const [args, re] of cases) {
      const r = await run([...args, srv.flag]);
      assert.notEqual(r.code, 0, args.join(" "));
      assert.match(r.stderr, re, args.join(" "));
      assert.doesNotMatch(r.stderr, /Could not convert|sto[a-z]+\b|not in range/, args.join(" "));
    }
  });

  test("a server that is down is a clear error", async () => {
    const r = await run(["stream", "ls", "-s", "nats://127.0.0.1:1", "--timeout", "1s"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fjord: error: could not connect to nats:\/\/127\.0\.0\.1:1/m);
  });
});
