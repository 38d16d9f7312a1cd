// The store is an OCI image layout that skopeo and umoci read as it is.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadArchive, openStore } from "../storage/mod.ts";
import { dockerArchive, layerTar, streamOf } from "./_fixtures.ts";
import { missingPeers } from "./_peers.ts";

async function storeWithImage(dir: string) {
  const store = await openStore(dir);
  const layers = [
    await layerTar([{ name: "etc/", type: "directory" }, {
      name: "etc/os-release",
      body: "ID=stratum\n",
    }]),
    await layerTar([{ name: "app", body: "payload" }]),
  ];
  await loadArchive(
    store,
    streamOf((await dockerArchive(layers, { repoTags: ["localhost:5000/oci/app:v1"] })).tar),
  );
  return await store.resolve("localhost:5000/oci/app:v1");
}

test("skopeo inspect oci:ROOT:NAME reads the store", { skip: missingPeers("skopeo") }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-oci-"));
  try {
    const img = await storeWithImage(dir);
    const out = JSON.parse(
      execFileSync("skopeo", ["inspect", `oci:${dir}:localhost:5000/oci/app:v1`], {
        encoding: "utf8",
      }),
    );
    assert.equal(out.Digest, img.manifestDigest);
    assert.deepEqual(out.Layers, img.manifest.layers.map((l) => l.digest));
    const config = JSON.parse(
      execFileSync("skopeo", ["inspect", "--config", `oci:${dir}:localhost:5000/oci/app:v1`], {
        encoding: "utf8",
      }),
    );
    assert.deepEqual(config.rootfs.diff_ids, img.config.rootfs.diff_ids);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("umoci ls lists the store's names and umoci unpack reads its layers", {
  skip: missingPeers("umoci"),
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-oci-"));
  try {
    await storeWithImage(dir);
    assert.equal(
      execFileSync("umoci", ["ls", "--layout", dir], { encoding: "utf8" }).trim(),
      "localhost:5000/oci/app:v1",
    );
    const bundle = `${dir}-bundle`;
    try {
      execFileSync("umoci", ["unpack", "--image", `${dir}:localhost:5000/oci/app:v1`, bundle], {
        stdio: "pipe",
      });
      assert.equal(
        await readFile(join(bundle, "rootfs", "etc", "os-release"), "utf8"),
        "ID=stratum\n",
      );
      assert.equal(await readFile(join(bundle, "rootfs", "app"), "utf8"), "payload");
    } finally {
      await rm(bundle, { recursive: true, force: true });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
