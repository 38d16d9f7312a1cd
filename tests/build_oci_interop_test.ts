/** A stratum build's OCI output, read by umoci and skopeo. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { build, parseOutputSpec } from "../builder/mod.ts";
import { contextDir, storeWithBase } from "../builder/_build_test_util.ts";
import { missingPeers } from "./_peers.ts";

test(
  "umoci unpacks and skopeo copies the OCI archive of a build",
  { skip: missingPeers("umoci", "skopeo") },
  async () => {
    const base = await storeWithBase();
    const ctx = await contextDir([{ path: "hello.txt", body: "hello\n" }]);
    const out = join(base.root, "out");
    try {
      await build({
        store: base.store,
        storeRoot: base.root,
        contextDir: ctx,
        dockerfile:
          'FROM test/base:1\nCOPY hello.txt /srv/hello.txt\nCMD ["cat", "/srv/hello.txt"]\n',
        tags: ["interop/built:1"],
        outputs: [parseOutputSpec(`type=oci,dest=${join(out, "image.tar")}`)],
      });
      const layout = join(out, "layout");
      await mkdir(layout, { recursive: true });
      execFileSync("tar", ["-xf", join(out, "image.tar"), "-C", layout]);
      execFileSync(
        "umoci",
        ["unpack", "--rootless", "--image", `${layout}:1`, join(out, "bundle")],
        {
          stdio: "pipe",
        },
      );
      assert.equal(
        await readFile(join(out, "bundle", "rootfs", "srv", "hello.txt"), "utf8"),
        "hello\n",
      );
      execFileSync("skopeo", [
        "copy",
        `oci-archive:${join(out, "image.tar")}`,
        `dir:${join(out, "dir")}`,
      ], {
        stdio: "pipe",
      });
      const manifest = JSON.parse(await readFile(join(out, "dir", "manifest.json"), "utf8"));
      assert.equal(manifest.layers.length, 2);
    } finally {
      await base.cleanup();
      await rm(ctx, { recursive: true, force: true });
    }
  },
);
