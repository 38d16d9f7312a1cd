/**
 * Builds `FROM scratch` + `ADD bomb.tar.gz /x/` from the context given, into the store
 * given, in a process of its own, and prints its peak resident memory (KiB) as JSON.
 */
import process from "node:process";
import { build } from "../builder/mod.ts";
import { openStore } from "../storage/mod.ts";

const [storeRoot, contextDir] = process.argv.slice(2);
const store = await openStore(storeRoot);
const result = await build({
  store,
  storeRoot,
  contextDir,
  dockerfile: "FROM scratch\nADD bomb.tar.gz /x/\n",
});
console.log(JSON.stringify({ imageId: result.imageId, maxRssKiB: process.resourceUsage().maxRSS }));
