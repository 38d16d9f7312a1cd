/**
 * Deno Deploy entry point: the registry over an in-memory store (Deploy has no filesystem
 * and no subprocesses), open to pulls and pushes without auth, as a demo, with the demo UI
 * (`/`, `/api/inspect`, `/api/parse`, `/api/build`) over the same store, so an image pushed
 * here can be inspected here. Content lives only as long as the isolate.
 *
 * Run locally with `deno serve -A --host 127.0.0.1 deploy.ts`.
 *
 * @module
 */
import { createDemoApp, createRegistryApp, type RegistryApp } from "./server/mod.ts";
import { memoryStore } from "./storage/mod.ts";

const store = memoryStore();

const app: RegistryApp = createRegistryApp(store, {
  // Keep an isolate's memory bounded: small blobs, few uploads at once.
  maxBlobBytes: 256 << 20,
  maxUploads: 16,
  log: (line) => console.log(line),
  fallback: createDemoApp(store, { maxBuildBytes: 16 << 20 }),
});

export default { fetch: app.fetch };
