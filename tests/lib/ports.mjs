// Ports for test servers, shared by the interop and CLI suites.
// Node built-ins only (tests/cli has no node_modules).

import net from "node:net";

function canBind(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

// A port that was free a moment ago, picked at random below the kernel's
// ephemeral range (32768 and up): a port the kernel handed out (bind to 0)
// could be taken again, before the server binds it, by any outgoing
// connection — a cluster node dialling its routes — and the server would
// fail with "address already in use". Never the same port twice in a run.
const handedOut = new Set();
export async function freePort() {
  for (let i = 0; i < 500; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free port in 20000-31999");
}

// Whether something accepts TCP connections on the loopback `port`.
export function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
  });
}
