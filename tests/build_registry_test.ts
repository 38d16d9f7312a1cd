/**
 * The build cache and the built image through a real CNCF registry (Debian
 * `docker-registry`): `--cache-to` on one store, `--cache-from` on a clean one, `--push`.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Digest } from "../digest/mod.ts";
import { build, type BuildOptions, initialStageConfig, storeImage } from "../builder/mod.ts";
import { pull, RegistryClient } from "../registry_client/mod.ts";
import { type ImageStore, openStore } from "../storage/mod.ts";
import { createLayer } from "../unionfs/mod.ts";
import { busyboxPath } from "./_docker.ts";
import { missingPeers } from "./_peers.ts";
import { startRegistry, type TestRegistry } from "./_cncf_registry.ts";

const BASE = "stratum-test/busybox:1";

const DOCKERFILE = `FROM ${BASE}
ENV APP=/app
WORKDIR $APP
COPY a.txt b.txt ./
RUN ["/bin/busybox", "sh", "-c", "cat a.txt b.txt > joined && /bin/busybox mkdir -p out && echo ran > out/ran"]
COPY c.txt ./
LABEL built=stratum
CMD ["/bin/busybox", "cat", "/app/joined"]
`;

/** A store holding the busybox base image, made in-process so two stores get equal digests. */
async function storeWithBase(root: string): Promise<ImageStore> {
  const store = await openStore(root);
  const busybox = new Uint8Array(await readFile(busyboxPath()));
  const blob = createLayer([
    {
      header: {
        name: "bin/",
        type: "directory",
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: 1_700_000_000,
        linkname: "",
      },
    },
    {
      header: {
        name: "bin/busybox",
        type: "file",
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: busybox.length,
        mtime: 1_700_000_000,
        linkname: "",
      },
      body: busybox,
    },
  ]);
  await store.blobs.put(blob.stream);
  const d = await blob.digests;
  const { image } = initialStageConfig(null, { os: "linux", architecture: "amd64" });
  image.created = "2024-01-01T00:00:00Z";
  image.history = [{ created: "2024-01-01T00:00:00Z", created_by: "busybox" }];
  image.rootfs = { type: "layers", diff_ids: [d.diffId as Digest] };
  await storeImage(store, image, [{
    descriptor: { mediaType: d.mediaType, digest: d.digest as Digest, size: d.size },
    diffId: d.diffId as Digest,
  }], [BASE]);
  return store;
}

describe("builds through a CNCF registry", { skip: missingPeers("docker-registry") }, () => {
  let reg: TestRegistry;
  let dir: string;
  let ctx: string;
  let stores = 0;

  before(async () => {
    reg = await startRegistry("none");
    dir = await mkdtemp(join(tmpdir(), "stratum-build-registry-"));
    ctx = join(dir, "ctx");
    await mkdir(ctx);
    for (const name of ["a.txt", "b.txt", "c.txt"]) await writeFile(join(ctx, name), name);
  });

  after(async () => {
    await reg?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function freshStore(): Promise<{ store: ImageStore; storeRoot: string }> {
    const storeRoot = join(dir, `store-${stores++}`);
    return { store: await storeWithBase(storeRoot), storeRoot };
  }

  function run(
    where: { store: ImageStore; storeRoot: string },
    extra: Partial<BuildOptions> = {},
  ) {
    return build({ ...where, contextDir: ctx, dockerfile: DOCKERFILE, ...extra });
  }

  test("--cache-from on a clean store reuses every step --cache-to exported", async () => {
    const ref = `${reg.host}/cache/app:buildcache`;
    const a = await freshStore();
    const first = await run(a, { cacheTo: [`type=registry,ref=${ref}`] });
    assert.ok(first.steps.every((s) => !s.cached), "store A starts cold");

    const b = await freshStore();
    const fetched: string[] = [];
    const counting: typeof fetch = (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const method = init?.method ?? (input instanceof Request ? input.method : "GET");
      const blob = /\/blobs\/(sha256:[0-9a-f]{64})/.exec(url);
      if (method === "GET" && blob) fetched.push(blob[1]);
      return fetch(input, init);
    };
    const second = await run(b, {
      cacheFrom: [`type=registry,ref=${ref}`],
      registry: { fetch: counting },
    });
    assert.deepEqual(
      second.steps.filter((s) => !s.cached || s.cachedFrom !== ref).map((s) => s.instruction),
      [],
      "every step of store B is a hit from the registry cache",
    );
    assert.equal(second.imageId, first.imageId);
    assert.equal(second.manifestDigest, first.manifestDigest);
    const image = await b.store.resolve(second.imageId);
    for (const layer of image.manifest.layers) {
      assert.ok(await b.store.blobs.has(layer.digest), `store B holds ${layer.digest}`);
    }
    // Only the cache config and the layers store B lacked (not its base layer) came down.
    assert.deepEqual(
      fetched.slice(1).sort(),
      image.manifest.layers.slice(1).map((l) => l.digest).sort(),
    );

    // Imported records are kept locally: the next build needs no registry.
    const third = await run(b);
    assert.ok(third.steps.every((s) => s.cached && s.cachedFrom === undefined));
  });

  test("a changed file after --cache-from reruns from the first step that uses it", async () => {
    const ref = `${reg.host}/cache/app:partial`;
    await run(await freshStore(), { cacheTo: [ref] });
    await writeFile(join(ctx, "c.txt"), "c changed");
    try {
      const b = await freshStore();
      const result = await run(b, { cacheFrom: [ref] });
      assert.deepEqual(result.steps.filter((s) => !s.cached).map((s) => s.instruction), [
        "COPY c.txt ./",
        "LABEL built=stratum",
        'CMD ["/bin/busybox", "cat", "/app/joined"]',
      ]);
      // The layers below the change were pulled, the new one made here.
      const image = await b.store.resolve(result.imageId);
      assert.equal(image.manifest.layers.length, 5);
    } finally {
      await writeFile(join(ctx, "c.txt"), "c.txt");
    }
  });

  test("the registry cache goes through pull's and push's engine: a 503 upload and a cut download are retried", async () => {
    const ref = `${reg.host}/cache/app:flaky`;
    const failed = { put: 0, cut: 0 };
    const flaky: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const method = init?.method ?? (input instanceof Request ? input.method : "GET");
      if (/\/blobs\/uploads\//.test(url) && method === "PUT" && failed.put++ === 0) {
        return new Response("{}", { status: 503 });
      }
      const res = await fetch(input, init);
      const blob = /\/blobs\/sha256:[0-9a-f]{64}$/.test(new URL(url).pathname);
      if (method !== "GET" || !blob || res.status !== 200 || !res.body || failed.cut++ > 0) {
        return res;
      }
      // The first blob download breaks off after its first chunk.
      const reader = res.body.getReader();
      const cut = new ReadableStream<Uint8Array>({
        async pull(c) {
          const { value, done } = await reader.read();
          if (done) return c.close();
          c.enqueue(value);
          c.error(new TypeError("connection reset by peer"));
          await reader.cancel();
        },
      });
      return new Response(cut, { status: res.status, headers: res.headers });
    };
    const registry = { fetch: flaky, retryDelayMs: 1 };
    const first = await run(await freshStore(), { cacheTo: [ref], registry });
    const b = await freshStore();
    const second = await run(b, { cacheFrom: [ref], registry });
    assert.ok(failed.put > 1 && failed.cut > 1, "both faults were injected");
    assert.equal(second.imageId, first.imageId);
    assert.ok(second.steps.every((s) => s.cached));
    assert.deepEqual((await b.store.fsck()).problems, []);
  });

  test("--cache-from of a ref the registry lacks runs every step", async () => {
    const result = await run(await freshStore(), {
      cacheFrom: [`type=registry,ref=${reg.host}/cache/none:missing`],
    });
    assert.ok(result.steps.every((s) => !s.cached));
  });

  test("--cache-from of an ordinary image is refused, naming the ref", async () => {
    const a = await freshStore();
    const tag = `${reg.host}/plain/image:1`;
    await run(a, { tags: [tag], push: true });
    await assert.rejects(
      run(await freshStore(), { cacheFrom: [tag] }),
      new RegExp(`Cannot import the build cache "${tag}": it is not a stratum build cache`),
    );
  });

  test("--push sends the image to every tag and a clean store pulls the same image", async () => {
    const a = await freshStore();
    const tags = [`${reg.host}/pushed/app:1`, `${reg.host}/pushed/app:latest`];
    const result = await run(a, { tags, push: true });
    assert.deepEqual(result.pushed.map((p) => p.digest), [
      result.manifestDigest,
      result.manifestDigest,
    ]);
    const client = new RegistryClient(reg.host);
    for (const tag of ["1", "latest"]) {
      const head = await client.headManifest("pushed/app", tag);
      assert.equal(head?.digest, result.manifestDigest, `tag ${tag}`);
    }
    const c = await openStore(join(dir, "pulled"));
    await pull(c, tags[0]);
    assert.equal((await c.resolve(tags[0])).id, result.imageId);
  });

  test("--push without a tag is refused before building", async () => {
    await assert.rejects(run(await freshStore(), { push: true }), /--push needs at least one tag/);
  });
});
