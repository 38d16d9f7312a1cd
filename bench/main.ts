/**
 * `deno task bench`: runs every `bench/*_bench.ts` in turn as its own process (so one
 * benchmark's memory does not weigh on the next) and prints what each reports. Each
 * compares stratum with a peer doing the same work in the same run, as a ratio.
 * Pass names to run only some: `deno task bench digest`.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const dir = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = readdirSync(dir)
  .filter((f) => f.endsWith("_bench.ts"))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
let failed = 0;
for (const b of benches) {
  console.log(`\n== ${b}`);
  const r = spawnSync(process.execPath, ["run", "-A", join(dir, b)], { stdio: "inherit" });
  if (r.status !== 0) {
    failed++;
    console.log(`${b} exited with ${r.status}`);
  }
}
process.exitCode = failed ? 1 : 0;
