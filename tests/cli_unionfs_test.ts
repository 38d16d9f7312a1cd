// The layer-stack commands: export, layers, ls, diff.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createTarDecoder } from "modern-tar";
import { stratum } from "./_cli.ts";
import { dockerArchive, layerTar, streamOf } from "./_fixtures.ts";

test("export, layers, ls and diff see whiteouts the way overlayfs does", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-cli-ufs-"));
  const root = join(dir, "store");
  try {
    const base = await layerTar([
      { name: "etc/", type: "directory" },
      { name: "etc/motd", body: "welcome\n" },
      { name: "bin/", type: "directory" },
      { name: "bin/tool", body: "#!/bin/sh\n", mode: 0o755 },
    ]);
    const top = await layerTar([{ name: "etc/.wh.motd", body: "" }, {
      name: "app",
      body: "payload",
    }]);
    for (
      const [file, layers, tag] of [["one.tar", [base], "x/one:1"], [
        "two.tar",
        [base, top],
        "x/two:1",
      ]] as const
    ) {
      await writeFile(join(dir, file), (await dockerArchive([...layers], { repoTags: [tag] })).tar);
      assert.equal((await stratum(root, "load", "-i", join(dir, file))).code, 0);
    }

    const ls = (await stratum(root, "ls", "x/two:1")).stdout.split("\n");
    assert.ok(ls.some((l) => /^-rwxr-xr-x 0\/0\s+10 L0\s+\/bin\/tool$/.test(l)), ls.join("\n"));
    assert.ok(ls.some((l) => /\sL1\s+\/app$/.test(l)));
    assert.ok(!ls.some((l) => l.includes("motd")), "a whited-out file is not in the merged tree");
    const own = (await stratum(root, "ls", "--layer", "1", "x/two:1")).stdout;
    assert.match(own, /L1\s+\/etc\/\.wh\.motd/);

    const layers = JSON.parse(
      (await stratum(root, "layers", "--format", "json", "x/two:1")).stdout,
    );
    assert.equal(layers.length, 2);
    assert.equal(layers[1].Removed, 1);
    assert.equal(layers[1].Added, 1);
    assert.equal(layers[0].WastedBytes, "welcome\n".length);
    assert.equal(layers[1].CreatedBy, "step 1");

    assert.equal((await stratum(root, "diff", "x/one:1", "x/two:1")).stdout, "A /app\nD /etc/motd");

    const out = join(dir, "rootfs.tar");
    assert.equal((await stratum(root, "export", "-o", out, "x/two:1")).code, 0);
    const names: string[] = [];
    for await (
      const e of streamOf(new Uint8Array(await readFile(out))).pipeThrough(createTarDecoder())
    ) {
      names.push(e.header.name.replace(/\/$/, ""));
      await e.body.cancel();
    }
    assert.deepEqual(names.sort(), ["app", "bin", "bin/tool", "etc"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
