// One store, many stratum processes at once: pulls of images that share a layer (from the
// CNCF registry), a build, a load and a gc loop, as separate CLI processes. Nothing torn,
// nothing lost: fsck is clean and every name resolves to complete content after each round.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { push } from "../registry_client/mod.ts";
import { memoryStore, openStore } from "../storage/mod.ts";
import { spawnTestScript } from "./_child.ts";
import { buildImage, startRegistry } from "./_cncf_registry.ts";
import { dockerArchive, layerTar } from "./_fixtures.ts";
import { missingPeers } from "./_peers.ts";

interface Run {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `stratum --root ROOT ...args` as its own process. */
function cli(root: string, ...args: string[]): Promise<Run> {
  const p = spawnTestScript(import.meta.url, "_cli_child", ["--root", root, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  p.stdout!.on("data", (d) => stdout += d);
  p.stderr!.on("data", (d) => stderr += d);
  return new Promise((resolve) =>
    p.on("close", (code) => resolve({ args, code, stdout: stdout.trim(), stderr }))
  );
}

function ok(r: Run): Run {
  assert.equal(r.code, 0, `stratum ${r.args.join(" ")}: ${r.stderr}`);
  return r;
}

test(
  "pulls, a build, a load and a gc loop in separate processes on one store: 3 rounds",
  { skip: missingPeers("docker-registry") },
  async () => {
    const reg = await startRegistry("none");
    const dir = await mkdtemp(join(tmpdir(), "stratum-conc-"));
    try {
      // Four images; seeds of one length give them the same 2 MB layer, each has its own
      // small one. Their pulls all want the shared layer at once.
      const src = memoryStore();
      const names = ["aa", "bb", "cc", "dd"].map((seed) => `${reg.host}/conc/${seed}:1`);
      for (const [i, name] of names.entries()) {
        await buildImage(src, name, { seed: ["aa", "bb", "cc", "dd"][i], layerBytes: 2 << 20 });
        await push(src, name);
      }
      const archive = join(dir, "loaded.tar");
      const layer = await layerTar([{ name: "loaded", body: randomBytes(1 << 20) }]);
      await writeFile(archive, (await dockerArchive([layer], { repoTags: ["conc/loaded:1"] })).tar);
      const ctx = join(dir, "ctx");
      await mkdir(ctx);
      await writeFile(join(ctx, "Dockerfile"), "FROM scratch\nCOPY data /data\nCOPY more /more\n");
      const root = join(dir, "store");
      const expected = [
        ...names.map((n) => `${n}`),
        "docker.io/conc/built:1",
        "docker.io/conc/loaded:1",
      ];

      for (let round = 1; round <= 3; round++) {
        // New content each round, so the build writes blobs no name reaches until it ends.
        await writeFile(join(ctx, "data"), randomBytes(1 << 20));
        await writeFile(join(ctx, "more"), randomBytes(256 << 10));
        let running = true;
        const work = Promise.all([
          ...names.map((n) => cli(root, "pull", "-q", n)),
          cli(root, "build", "-q", "-t", "conc/built:1", ctx),
          cli(root, "load", "-q", "-i", archive),
        ]).finally(() => running = false);
        const gcs: Run[] = [];
        const loop = (async () => {
          do gcs.push(await cli(root, "gc", "--grace", "0")); while (running);
        })();
        const runs = await work;
        await loop;
        for (const r of [...runs, ...gcs]) ok(r);

        const fsck = ok(await cli(root, "fsck"));
        assert.match(fsck.stdout, /checked \d+ blobs, 0 problems$/, `round ${round}`);
        const store = await openStore(root);
        const records = await store.tags.list();
        for (const name of expected) {
          assert.ok(records.some((r) => r.name === name), `round ${round}: ${name} is named`);
        }
        for (const r of records) {
          const img = await store.load(r.descriptor, [r.name]);
          for (
            const d of [
              img.manifestDigest,
              img.id,
              ...img.manifest.layers.map((l) => l.digest),
            ]
          ) {
            assert.ok(await store.blobs.has(d), `round ${round}: ${r.name} has ${d}`);
          }
        }
        // The next round starts with nothing named, so its pulls race gc on fresh content.
        for (const name of expected) await store.remove(name);
      }
    } finally {
      await reg.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
