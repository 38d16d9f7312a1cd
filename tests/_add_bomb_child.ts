/**
 * Builds `FROM scratch` + `ADD bomb.tar.gz /x/` (or the Dockerfile given as a third
 * argument) from the context given, into the store given, in a process of its own, and prints as JSON the image and the highest resident
 * memory seen while the build ran (sampled, so the runtime's start-up and module loading,
 * which the build does not control, are left out).
 */
import process from "node:process";
import { build } from "../builder/mod.ts";
import { openStore } from "../storage/mod.ts";

const [storeRoot, contextDir, dockerfile] = process.argv.slice(2);
const store = await openStore(storeRoot);
let peak = process.memoryUsage().rss;
const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
const result = await build({
  store,
  storeRoot,
  contextDir,
  dockerfile: dockerfile ?? "FROM scratch\nADD bomb.tar.gz /x/\n",
});
clearInterval(sample);
peak = Math.max(peak, process.memoryUsage().rss);
console.log(JSON.stringify({ imageId: result.imageId, peakRss: peak }));
