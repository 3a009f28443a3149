// libnats (C client) programs in tests/interop/c/, compiled on demand into
// <repo>/build-interop/ when missing or older than their source.

import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./server.mjs";

export const run = promisify(execFile);
const buildDir = path.join(repoRoot, "build-interop");

// Returns the path of the built program `name` (tests/interop/c/<name>.c).
export async function buildC(name) {
  const src = path.join(repoRoot, "tests/interop/c", `${name}.c`);
  const bin = path.join(buildDir, name);
  if (fs.existsSync(bin) && fs.statSync(bin).mtimeMs >= fs.statSync(src).mtimeMs) return bin;
  fs.mkdirSync(buildDir, { recursive: true });
  const { stdout } = await run("pkg-config", ["--cflags", "--libs", "libnats"], { timeout: 10000 });
  const flags = stdout.trim().split(/\s+/).filter(Boolean);
  await run("cc", ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-o", bin, src, ...flags], { timeout: 120000 });
  return bin;
}
