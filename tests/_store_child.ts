/**
 * A child process for the store's crash and concurrency tests (run by store_process_test):
 *   tags ROOT PREFIX N     adds N tags to the store's one image, one update each
 *   slowblob ROOT          writes a blob slowly and forever, until killed
 */
import process from "node:process";
import { openStore } from "../storage/mod.ts";

const [mode, root, ...rest] = process.argv.slice(2);
const store = await openStore(root);
if (mode === "tags") {
  const [prefix, n] = rest;
  const [record] = await store.tags.list();
  for (let i = 0; i < Number(n); i++) {
    await store.tags.set(`docker.io/${prefix}/app:${i}`, record.descriptor);
  }
} else if (mode === "slowblob") {
  const w = await store.blobs.writer();
  const writer = w.writable.getWriter();
  console.log("writing");
  for (;;) {
    await writer.write(new Uint8Array(64 << 10).fill(7));
    await new Promise((r) => setTimeout(r, 5));
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
