// Push progress for layers small enough to go in one PUT: the bytes are reported as the
// connection takes them (docker draws a bar with bytes for every layer), against stratum's
// own registry and the CNCF one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Digest, type ProgressEvent, push } from "../registry_client/mod.ts";
import { type ImageStore, memoryStore, putBytes } from "../storage/mod.ts";
import { startRegistry as startCncf } from "./_cncf_registry.ts";
import { missingPeers } from "./_peers.ts";
import { testImage, withRegistry } from "./_served_registry.ts";

const LAYER = 300_000; // under the 16 MiB chunk size: one PUT

/** A store holding one image with a `LAYER`-byte layer; returns the layer's digest. */
async function seed(store: ImageStore, name: string): Promise<string> {
  const image = await testImage([LAYER]);
  for (const b of image.blobs) await putBytes(store.blobs, b.bytes);
  await putBytes(store.blobs, image.bytes);
  await store.tags.set(name, {
    mediaType: image.mediaType,
    digest: image.digest as Digest,
    size: image.bytes.length,
  });
  return image.blobs[1].digest;
}

/** Pushes to `host` and checks the layer's progress events. */
async function pushAndCheck(host: string): Promise<void> {
  const store = memoryStore();
  const name = `${host}/progress/app:1`;
  const layer = await seed(store, name);
  const events: ProgressEvent[] = [];
  await push(store, name, {
    onProgress: (e) => events.push(e),
    retries: 0,
  });
  const states = events.flatMap((e) =>
    e.type === "blob" && e.digest === layer ? [{ state: e.state, current: e.current }] : []
  );
  const pushing = states.filter((s) => s.state === "Pushing").map((s) => s.current);
  // Bytes between nothing and all of them: the bar moves while the PUT is sent.
  const between = pushing.filter((n) => n > 0 && n < LAYER);
  assert.ok(between.length >= 2, JSON.stringify(states));
  assert.deepEqual(pushing, [...pushing].sort((a, b) => a - b), "progress never goes back");
  assert.equal(pushing.at(-1), LAYER);
  assert.deepEqual(states.at(-1), { state: "Pushed", current: LAYER });
}

test("push reports the bytes of a layer sent in one PUT as they go (stratum's registry)", async () => {
  await withRegistry({}, async ({ url }) => await pushAndCheck(new URL(url).host));
});

test("push reports the bytes of a layer sent in one PUT as they go (docker-registry)", {
  skip: missingPeers("docker-registry"),
}, async () => {
  const registry = await startCncf("none");
  try {
    await pushAndCheck(registry.host);
  } finally {
    await registry.close();
  }
});
