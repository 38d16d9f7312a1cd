/**
 * Deno Deploy entry point: the registry over an in-memory store (Deploy has no filesystem
 * and no subprocesses), open to pulls and pushes without auth, as a demo. Content lives only
 * as long as the isolate. The demo UI (`/`, `/api/inspect`, `/api/parse`, `/api/build`)
 * plugs in through the `fallback` option once unionfs/ and the Dockerfile front end land.
 *
 * Run locally with `deno serve -A --host 127.0.0.1 deploy.ts`.
 *
 * @module
 */
import { createRegistryApp, type RegistryApp } from "./server/mod.ts";
import { memoryStore } from "./storage/mod.ts";

const app: RegistryApp = createRegistryApp(memoryStore(), {
  // Keep an isolate's memory bounded: small blobs, few uploads at once.
  maxBlobBytes: 256 << 20,
  maxUploads: 16,
  log: (line) => console.log(line),
});

export default { fetch: app.fetch };
