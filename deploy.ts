/**
 * Deno Deploy entry point: the registry over an in-memory store (Deploy has no filesystem
 * and no subprocesses), open to pulls and pushes without auth, as a demo, with the demo UI
 * (`/`, `/api/inspect`, `/api/parse`, `/api/build`) over the same store, so an image pushed
 * here can be inspected here. Content lives only as long as the isolate.
 *
 * On start it builds the bundled demo image (`examples/demo_image/`, FROM scratch with COPY,
 * ENV and HEALTHCHECK: no network, no RUN) as `demo/app:1`, the page's placeholder, so the
 * first click shows an image; where the runtime gives no writable temp directory the build
 * fails, that is logged, and the demo starts empty.
 *
 * Run locally with `deno serve -A --host 127.0.0.1 deploy.ts`.
 *
 * @module
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createDemoApp,
  createRegistryApp,
  demoBuildEngine,
  type RegistryApp,
} from "./server/mod.ts";
import { memoryStore } from "./storage/mod.ts";

const store = memoryStore();

const demo = createDemoApp(store, {
  maxBuildBytes: 16 << 20,
  build: demoBuildEngine(join(tmpdir(), "stratum-deploy")),
});

const app: RegistryApp = createRegistryApp(store, {
  // Keep an isolate's memory bounded: small blobs, few uploads at once.
  maxBlobBytes: 256 << 20,
  maxUploads: 16,
  log: (line) => console.log(line),
  // The build engine keeps its cache and scratch files in a temp directory; where the
  // runtime gives none, /api/build answers with that error and the rest still works.
  fallback: demo,
});

try {
  const seed = await demo.seed();
  console.log(
    seed.seeded ? `seeded the demo image ${seed.reference}` : `not seeded: ${seed.reason}`,
  );
} catch (e) {
  console.log(`Cannot build the demo image: ${(e as Error).message}`);
}

export default { fetch: app.fetch };
