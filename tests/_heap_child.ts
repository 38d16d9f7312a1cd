/**
 * Keeps many small objects alive, as a build keeps a few per context file, and prints the
 * size of V8's young generation as JSON. With `--set-flags` it first sets `cli/_launch.ts`'s
 * flags at run time, as the npm bin does on Node.
 */
import process from "node:process";
import v8 from "node:v8";
import { V8_FLAGS } from "../cli/_launch.ts";

if (process.argv.includes("--set-flags")) {
  for (const flag of V8_FLAGS) {
    v8.setFlagsFromString(flag);
  }
}
const kept: unknown[] = [];
for (let i = 0; i < 400_000; i++) kept.push({ path: `files/d${i % 300}/f${i}.txt`, size: i });
const newSpace = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
console.log(JSON.stringify({ newSpace: newSpace?.space_size, kept: kept.length }));
