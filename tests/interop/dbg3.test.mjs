import { test } from "node:test";
import { spawnSync } from "node:child_process";
import { testScope } from "./lib/cluster.mjs";
import { jsCluster, agreedLeader } from "./lib/jscluster.mjs";
test("dbg", async (t) => {
  const scope = testScope(t);
  const c = await jsCluster(t, scope, 3);
  for (let i = 0; i < 8; i++) {
    const l = await agreedLeader(c.nodes, 3);
    const other = c.nodes.find((n) => n !== l);
    const r = spawnSync(process.env.FJORD_CLI, ["server", "raft", "step-down", `--server=nats://127.0.0.1:${other.port}`, "--user=sys", "--password=sys"], { encoding: "utf8", timeout: 30000 });
    console.log(i, r.status, r.signal, r.stdout.trim(), r.stderr.trim());
  }
});
