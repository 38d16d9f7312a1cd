/**
 * A registry in its own process over the on-disk store at argv[2], for tests that kill it.
 * Prints `PORT <n>` once listening.
 */
import process from "node:process";
import { openStore } from "../storage/mod.ts";
import { serveRegistry } from "../server/mod.ts";

const server = await serveRegistry({
  store: await openStore(process.argv[2]),
  addr: "127.0.0.1:0",
});
process.stdout.write(`PORT ${server.port}\n`);
