import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { walkBuildContext } from "./context_walk.ts";
import { createContextFilter, DockerignoreMatcher, parseDockerignore } from "./dockerignore.ts";

async function context(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "stratum-context-"));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, ".."), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

test("walkBuildContext() lists what .dockerignore leaves, the Dockerfile and ignore file too", async () => {
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
    // `*` leaves out the Dockerfile and .dockerignore as well, as in BuildKit.
    assert.deepEqual(listing.entries, [
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

test("walkBuildContext() uses <Dockerfile>.dockerignore beside an absolute Dockerfile outside the context", async () => {
  const root = await context({ ".dockerignore": "a\n", "a": "", "b": "", "c": "" });
  const outside = await context({
    "my.Dockerfile": "FROM scratch\n",
    "my.Dockerfile.dockerignore": "b\n",
  });
  try {
    const dockerfilePath = join(outside, "my.Dockerfile");
    const listing = await walkBuildContext(root, { dockerfilePath });
    assert.equal(listing.dockerignorePath, `${dockerfilePath}.dockerignore`);
    assert.deepEqual(listing.entries.map((e) => e.path), [".dockerignore", "a", "c"]);
    // Without one beside it, the context's .dockerignore applies.
    await rm(`${dockerfilePath}.dockerignore`);
    const fallback = await walkBuildContext(root, { dockerfilePath });
    assert.equal(fallback.dockerignorePath, ".dockerignore");
    assert.deepEqual(fallback.entries.map((e) => e.path), [".dockerignore", "b", "c"]);
  } finally {
    await rm(root, { recursive: true });
    await rm(outside, { recursive: true });
  }
});

// Current BuildKit (fsutil's filter): when an exception holds a wildcard, it walks into
// excluded directories and matches every path, so `!sub/*/x.txt` and `!*/y.txt` re-include
// files there. Docker 20.10 descended only where an exception began with the directory's
// literal path, and sent the empty directory `sub` instead.
test("walkBuildContext() re-includes through wildcard exceptions inside excluded directories", async () => {
  const root = await context({
    ".dockerignore": "Dockerfile\n.dockerignore\nsub\n!sub/*/x.txt\nkeep\n!*/y.txt\n",
    "Dockerfile": "FROM scratch\n",
    "sub/deep/x.txt": "",
    "sub/deep/other.txt": "",
    "sub/z.txt": "",
    "keep/y.txt": "",
    "keep/n.txt": "",
    "a.txt": "",
  });
  try {
    const listing = await walkBuildContext(root);
    assert.deepEqual(listing.entries.map((e) => `${e.type} ${e.path}`), [
      "file a.txt",
      "directory keep",
      "file keep/y.txt",
      "directory sub",
      "directory sub/deep",
      "file sub/deep/x.txt",
    ]);
  } finally {
    await rm(root, { recursive: true });
  }
});

/**
 * The listing as walkBuildContext() made it before it walked in sorted order: every path
 * walked, those the filter sends and their parents, then one sort of the whole paths.
 */
function listedThenSorted(root: string, ignore: string): string[] {
  const matcher = new DockerignoreMatcher(parseDockerignore(ignore));
  const include = createContextFilter({
    dockerfilePath: "Dockerfile",
    dockerignorePath: ".dockerignore",
    dockerignoreText: ignore,
  });
  const found: string[] = [];
  const walk = (relative: string) => {
    for (const d of readdirSync(join(root, relative), { withFileTypes: true })) {
      const path = relative === "" ? d.name : `${relative}/${d.name}`;
      found.push(path);
      if (d.isDirectory() && (matcher.hasExclusions || !matcher.matches(path))) walk(path);
    }
  };
  walk("");
  const sent = new Set<string>();
  for (const path of found.filter(include)) {
    sent.add(path);
    for (let at = path.lastIndexOf("/"); at > 0; at = path.lastIndexOf("/", at - 1)) {
      sent.add(path.slice(0, at));
    }
  }
  return found.filter((p) => sent.has(p)).sort();
}

test("walkBuildContext() walks in the order of the whole paths, whatever sorts between a directory and its subtree", async () => {
  // Names that sort between `a` and `a/` (a blank, `!`, `-`, `.`), after it (`0`, `~`),
  // and in UTF-16 order (U+FF5E before an astral character).
  const names = ["a", "a b", "a!", "a-b", "a.b", "a0", "a~", "é", "\uff5e", "\u{1f600}"];
  const files: Record<string, string> = { "Dockerfile": "FROM scratch\n" };
  for (const top of names) {
    for (const inner of names) {
      files[`${top}/${inner}/f`] = "";
      files[`${top}/${inner}.txt`] = "";
    }
    files[`${top}.log`] = "";
  }
  const root = await context(files);
  try {
    const ignores = ["", "a\n", "a\n!a/a-b/f\n", "*.log\n**/a.b\n", "*\n!a0/a\n!\u{1f600}/\uff5e"];
    for (const ignore of ignores) {
      await writeFile(join(root, ".dockerignore"), ignore);
      const listing = await walkBuildContext(root);
      const paths = listing.entries.map((e) => e.path);
      assert.deepEqual(paths, listedThenSorted(root, ignore), JSON.stringify(ignore));
      assert.deepEqual(paths, [...paths].sort(), "sorted as strings are");
    }
  } finally {
    await rm(root, { recursive: true });
  }
});
