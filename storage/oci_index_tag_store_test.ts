import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { MediaType } from "../image/mod.ts";
import { OciIndexTagStore, REF_NAME_ANNOTATION } from "./oci_index_tag_store.ts";

const descriptor = {
  mediaType: MediaType.OCI_MANIFEST,
  digest: `sha256:${"a".repeat(64)}`,
  size: 10,
} as const;

test("a tag set to what it names already leaves index.json as it was; a change replaces it", async () => {
  const root = await mkdtemp(join(tmpdir(), "stratum-index-tags-"));
  try {
    const tags = new OciIndexTagStore(root);
    await tags.init();
    await tags.set("docker.io/library/app:1", descriptor);
    const index = join(root, "index.json");
    const before = await stat(index);
    const text = await readFile(index, "utf8");
    assert.equal(
      JSON.parse(text).manifests[0].annotations[REF_NAME_ANNOTATION],
      "docker.io/library/app:1",
    );

    await tags.set("docker.io/library/app:1", descriptor);
    const same = await stat(index);
    assert.equal(same.ino, before.ino, "not rewritten");
    assert.equal(await readFile(index, "utf8"), text);

    await tags.set("docker.io/library/app:1", { ...descriptor, size: 11 });
    assert.notEqual((await stat(index)).ino, before.ino, "replaced atomically");
    assert.equal((await tags.get("docker.io/library/app:1"))?.size, 11);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
