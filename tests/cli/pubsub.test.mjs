// `fjord pub|sub|req|reply` against a live server.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { background, ok, run, suiteServer } from "./helpers.mjs";

describe("fjord pub/sub/req/reply", () => {
  const srv = suiteServer();

  test("sub --count exits after N messages; pub renders templates and headers", async () => {
    const sub = background(["sub", "greet.>", "--count", "3", srv.flag]);
    await sub.waitFor(/Subscribing on greet\.>/);
    const pub = await run(["pub", "greet.world", "hello {{Count}} at {{TimeStamp}} id {{ID}}", "--count", "3",
      "-H", "X-Seq:{{Count}}", srv.flag]);
    assert.equal(pub.code, 0);
    assert.match(pub.stderr, /Published 3 messages/);
    const r = await sub.done;
    assert.equal(r.code, 0);
    for (let i = 1; i <= 3; i++) {
      assert.match(r.stdout, new RegExp(`\\[#${i}\\] Received on "greet\\.world"`));
      assert.match(r.stdout, new RegExp(`X-Seq: ${i}\\n`));
      assert.match(r.stdout, new RegExp(`hello ${i} at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z id [0-9A-Za-z]{22}`));
    }
  });

  test("sub --raw prints bodies only; pub reads the body from stdin; --reply is carried", async () => {
    const sub = background(["sub", "raw.x", "--count", "2", "--raw", srv.flag]);
    await sub.waitFor(/Subscribing on raw\.x/);
    await ok(["pub", "raw.x", srv.flag], { input: "from stdin" });
    await ok(["pub", "raw.x", "second", srv.flag]);
    const r = await sub.done;
    assert.equal(r.stdout, "from stdin\nsecond\n");

    const withReply = background(["sub", "rep.x", "--count", "1", srv.flag]);
    await withReply.waitFor(/Subscribing/);
    await ok(["pub", "rep.x", "body", "--reply", "answer.here", srv.flag]);
    assert.match((await withReply.done).stdout, /Received on "rep\.x" with reply "answer\.here"/);
  });

  test("{{Random MIN MAX}} renders MIN to MAX characters; a non-number is a plain error", async () => {
    const sub = background(["sub", "rnd.x", "--count", "5", "--raw", srv.flag]);
    await sub.waitFor(/Subscribing on rnd\.x/);
    await ok(["pub", "rnd.x", "<{{Random 2 4}}>", "--count", "5", srv.flag]);
    const r = await sub.done;
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 5);
    for (const l of lines) assert.match(l, /^<[0-9A-Za-z]{2,4}>$/);

    const bad = await run(["pub", "rnd.x", "{{Random a 3}}", srv.flag]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /^fjord: error: invalid \{\{Random MIN MAX\}\} length "a": a whole number is expected/m);
  });

  test("sub --wait gives up with an error when nothing arrives", async () => {
    const r = await run(["sub", "quiet.x", "--wait", "300ms", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fjord: error: no message received within 300ms/m);
  });

  test("reply answers with a fixed (templated) body; req prints it", async () => {
    const rep = background(["reply", "svc.time", "answer {{Count}} to {{Request}}", "--count", "2", srv.flag]);
    await rep.waitFor(/Listening on "svc\.time"/);
    const a = await run(["req", "svc.time", "q1", srv.flag]);
    assert.equal(a.code, 0);
    assert.match(a.stdout, /answer 1 to q1/);
    assert.match(a.stderr, /Received with rtt/);
    const b = await ok(["req", "svc.time", "q2", "--raw", srv.flag]);
    assert.equal(b, "answer 2 to q2\n");
    const r = await rep.done;
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Received on "svc\.time"/);
  });

  test("reply --echo returns the request with its headers", async () => {
    const rep = background(["reply", "svc.echo", "--echo", "--count", "1", srv.flag]);
    await rep.waitFor(/Listening/);
    const out = await ok(["req", "svc.echo", "ping me", "-H", "Trace:abc", srv.flag]);
    assert.match(out, /Trace: abc/);
    assert.match(out, /ping me/);
    assert.equal((await rep.done).code, 0);
  });

  test("reply needs a body or --echo", async () => {
    const r = await run(["reply", "svc.none", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /a response body or --echo is required/);
  });

  test("req without responders fails fast", async () => {
    const r = await run(["req", "nobody.home", "x", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^fjord: error: no responders available for request on nobody\.home/m);
  });

  test("pub -J waits for the stream's acknowledgment", async () => {
    await ok(["stream", "add", "JS", "--subjects", "js.>", "--defaults", srv.flag]);
    const out = await ok(["pub", "-J", "js.a", "stored", srv.flag]);
    assert.match(out, /Published 6 bytes to "js\.a": stream JS sequence 1/);
    const nostream = await run(["pub", "-J", "nowhere.a", "x", srv.flag]);
    assert.notEqual(nostream.code, 0);
    assert.match(nostream.stderr, /^fjord: error: JetStream publish failed/m);
  });

  test("bad header syntax is rejected", async () => {
    const r = await run(["pub", "x", "y", "-H", "NoColon", srv.flag]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /invalid header "NoColon"/);
  });
});
