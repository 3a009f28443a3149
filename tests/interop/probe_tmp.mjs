import fs from "node:fs";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
try { const nc = await connect({ port: 4340, authenticator: credsAuthenticator(fs.readFileSync("/tmp/acc/op/sys.creds")), timeout: 3000 }); console.log("connected", nc.info.server_name); await nc.close(); } catch (e) { console.log("err", e.message); }
process.exit(0);
