import { connect } from "@nats-io/transport-node";
const nc = await connect({ servers: process.argv[2] });
const td = new TextDecoder();
const req = async (s, b) => JSON.parse(td.decode((await nc.request(s, typeof b === "string" ? b : JSON.stringify(b))).data));
const sub = nc.subscribe("rp.>", { callback: (_e, m) => console.log(m.subject, JSON.stringify(m.headers ? [...m.headers.keys()].map(k => k + "=" + m.headers.get(k)) : null), JSON.stringify(m.string())) });
let r = await req("$JS.API.STREAM.CREATE.R", { name: "R", subjects: ["r.>"], republish: { src: "r.*", dest: "rp.$1" } });
console.log("create:", r.error ? JSON.stringify(r.error) : JSON.stringify(r.config.republish));
await req("r.a", "one"); await req("r.b", "two"); await req("r.a", "three"); await req("r.a.deep", "nope");
await new Promise(r => setTimeout(r, 300));
r = await req("$JS.API.STREAM.CREATE.H", { name: "H", subjects: ["h.>"], republish: { src: ">", dest: "rp.h.>", headers_only: true } });
console.log("create H:", r.error ? JSON.stringify(r.error) : JSON.stringify(r.config.republish));
await req("h.x", "12345");
await new Promise(r => setTimeout(r, 300));
for (const [name, cfg] of [["C1", { name: "C1", subjects: ["c1.>"], republish: { src: ">", dest: "c1.x" } }],
                          ["C2", { name: "C2", subjects: ["c2.>"], republish: { src: "other.>", dest: "rp2.>" } }],
                          ["C3", { name: "C3", subjects: ["c3.>"], republish: { dest: "rp3.>" } }],
                          ["C4", { name: "C4", subjects: ["c4.>"], republish: { src: "c4.>", dest: "" } }],
                          ["C5", { name: "C5", subjects: ["c5.*"], republish: { src: "c5.*", dest: "rp5.{{wildcard(1)}}" } }]]) {
  r = await req(`$JS.API.STREAM.CREATE.${name}`, cfg);
  console.log(name, r.error ? JSON.stringify(r.error) : "ok " + JSON.stringify(r.config.republish));
}
await nc.close();
