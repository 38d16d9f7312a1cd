/**
 * An OCI image layout whose `oci-layout` file is invalid is refused on import, as the
 * image-spec's schema (image-layout-schema.json) and its tools refuse it; a valid one,
 * or none, imports.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ArchiveError, importOciLayout, memoryStore } from "../storage/mod.ts";
import { ImageLayoutError } from "../image/mod.ts";

test("importOciLayout() refuses a layout whose oci-layout file is invalid", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-oci-layout-"));
  try {
    await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    const cases: Array<[string, RegExp]> = [
      ['{"imageLayoutVersion": "2.0.0"}', /imageLayoutVersion must be the string "1.0.0"/],
      ['{"imageLayoutVersion": 1.0.0}', /oci-layout is not JSON/],
      ["{}", /imageLayoutVersion is missing/],
    ];
    for (const [text, message] of cases) {
      await writeFile(join(dir, "oci-layout"), text);
      await assert.rejects(importOciLayout(memoryStore(), dir), (err: unknown) => {
        assert.ok(err instanceof ArchiveError, String(err));
        assert.ok((err as Error).cause instanceof ImageLayoutError);
        assert.match((err as Error).message, message);
        assert.ok((err as Error).message.includes(dir), "names the layout");
        return true;
      });
    }
    await writeFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    assert.deepEqual(await importOciLayout(memoryStore(), dir), []);
    await rm(join(dir, "oci-layout"));
    assert.deepEqual(await importOciLayout(memoryStore(), dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
