import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { walkBuildContext } from "./context_walk.ts";

async function context(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "stratum-context-"));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, ".."), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

test("walkBuildContext() lists what .dockerignore leaves, with the Dockerfile and ignore file", async () => {
  const root = await context({
    "Dockerfile": "FROM scratch\n",
    ".dockerignore": "*\n!src\nsrc/**/*.log\n",
    "src/main.ts": "",
    "src/deep/debug.log": "",
    "secret.env": "",
  });
  try {
    await symlink("src/main.ts", join(root, "link"));
    const listing = await walkBuildContext(root);
    assert.equal(listing.dockerignorePath, ".dockerignore");
    assert.deepEqual(listing.entries, [
      { path: ".dockerignore", type: "file" },
      { path: "Dockerfile", type: "file" },
      { path: "src", type: "directory" },
      { path: "src/deep", type: "directory" },
      { path: "src/main.ts", type: "file" },
    ]);
  } finally {
    await rm(root, { recursive: true });
  }
});

test("walkBuildContext() uses <Dockerfile>.dockerignore and keeps parents of sent files", async () => {
  const root = await context({
    ".dockerignore": "ci\n",
    "ci/Dockerfile": "FROM scratch\n",
    "ci/Dockerfile.dockerignore": "docs\nnode_modules\n",
    "docs/a.md": "",
    "node_modules/x/i.js": "",
    "link-target": "",
  });
  try {
    await symlink("link-target", join(root, "link"));
    const listing = await walkBuildContext(root, { dockerfilePath: "ci/Dockerfile" });
    assert.equal(listing.dockerignorePath, "ci/Dockerfile.dockerignore");
    assert.deepEqual(listing.entries.map((e) => `${e.type} ${e.path}`), [
      "file .dockerignore",
      "directory ci",
      "file ci/Dockerfile",
      "file ci/Dockerfile.dockerignore",
      "symlink link",
      "file link-target",
    ]);
  } finally {
    await rm(root, { recursive: true });
  }
});
