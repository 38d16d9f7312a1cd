import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { link, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { digestOf } from "../digest/mod.ts";
import { diffDirectories, diffOverlayUpper } from "./diff.ts";
import { applyLayer } from "./apply_layer.ts";
import { decompress, openLayer } from "./open_layer.ts";
import { mountOverlay, overlaySupported, unmountOverlay } from "./overlay.ts";
import { listDirectory } from "./_listing_test_util.ts";
import { bytesLayer, chunked, collect } from "./_test_util.ts";
import { missingPeers } from "../tests/_peers.ts";

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const d = await mkdtemp(join(tmpdir(), "stratum-diff-"));
  try {
    await fn(d);
  } finally {
    await rm(d, { recursive: true, force: true });
  }
}

/**
 * Copies a tree this test made itself (trusted: stratum code never copies image trees,
 * it applies them with the writer), keeping times, owners and hardlinks.
 */
function copyFixture(from: string, to: string): void {
  execFileSync("cp", ["-R", "--no-dereference", "--preserve=all", from, to]);
}

async function makeLower(root: string): Promise<void> {
  await mkdir(join(root, "etc/conf.d"), { recursive: true });
  await writeFile(join(root, "etc/passwd"), "root");
  await writeFile(join(root, "etc/conf.d/a"), "a");
  await writeFile(join(root, "etc/conf.d/b"), "b");
  await mkdir(join(root, "gone/deep"), { recursive: true });
  await writeFile(join(root, "gone/deep/f"), "f");
  await mkdir(join(root, "becomes-file"));
  await writeFile(join(root, "becomes-file/x"), "x");
  await writeFile(join(root, "becomes-dir"), "d");
  await writeFile(join(root, "same"), "same");
  await symlink("etc/passwd", join(root, "link"));
  for (const p of ["etc/passwd", "etc/conf.d/a", "etc/conf.d/b", "same", "becomes-dir"]) {
    await utimes(join(root, p), 1000, 1000);
  }
}

/** Mutates a tree the way a RUN step might. */
async function mutate(root: string): Promise<void> {
  await writeFile(join(root, "etc/passwd"), "root\nuser");
  await rm(join(root, "etc/conf.d/a"));
  await rm(join(root, "etc/conf.d/b"));
  await writeFile(join(root, "etc/conf.d/c"), "c");
  await rm(join(root, "gone"), { recursive: true });
  await rm(join(root, "becomes-file"), { recursive: true });
  await writeFile(join(root, "becomes-file"), "now a file");
  await rm(join(root, "becomes-dir"));
  await mkdir(join(root, "becomes-dir"));
  await writeFile(join(root, "becomes-dir/inner"), "i");
  await writeFile(join(root, "new"), "n".repeat(70_000));
  await link(join(root, "new"), join(root, "new-hardlink"));
  await rm(join(root, "link"));
  await symlink("/etc/hostname", join(root, "link"));
}

test("diffDirectories() gives a layer that turns lower into upper when applied", {
  skip: missingPeers("getfattr"),
}, async () => {
  await withTemp(async (d) => {
    await makeLower(join(d, "lower"));
    copyFixture(join(d, "lower"), join(d, "upper"));
    await mutate(join(d, "upper"));
    const blob = diffDirectories(join(d, "lower"), join(d, "upper"));
    const bytes = await collect(blob.stream);
    const digests = await blob.digests;
    const names = [];
    for await (const { header } of openLayer(bytesLayer(bytes))) names.push(header.name);
    assert.deepEqual(
      names,
      [
        "becomes-dir",
        "becomes-dir/inner",
        "becomes-file",
        "etc/conf.d/",
        "etc/conf.d/.wh..wh..opq",
        "etc/conf.d/c",
        "etc/passwd",
        ".wh.gone",
        "link",
        "new",
        "new-hardlink",
      ].map((n) => n.replace(/^(becomes-dir)$/, "$1/")),
    );
    assert.equal(digests.digest, (await digestOf(chunked(bytes))).digest);
    assert.equal(digests.size, bytes.length);
    assert.equal(digests.diffId, (await digestOf(await decompress(chunked(bytes)))).digest);
    copyFixture(join(d, "lower"), join(d, "applied"));
    await applyLayer(bytesLayer(bytes), join(d, "applied"));
    assert.deepEqual(
      await listDirectory(join(d, "applied")),
      await listDirectory(join(d, "upper")),
    );
  });
});

test("diffDirectories() is reproducible and SOURCE_DATE_EPOCH clamps mtimes", {
  skip: missingPeers("getfattr"),
}, async () => {
  await withTemp(async (d) => {
    await makeLower(join(d, "lower"));
    copyFixture(join(d, "lower"), join(d, "upper"));
    await mutate(join(d, "upper"));
    const a = diffDirectories(join(d, "lower"), join(d, "upper"), { sourceDateEpoch: 500 });
    const bytes = await collect(a.stream);
    const b = diffDirectories(join(d, "lower"), join(d, "upper"), { sourceDateEpoch: 500 });
    await collect(b.stream);
    assert.deepEqual(await a.digests, await b.digests);
    for await (const { header } of openLayer(bytesLayer(bytes))) {
      assert.ok(header.mtime <= 500, `${header.name} has mtime ${header.mtime}`);
    }
  });
});

const rootOnly = {
  skip: process.getuid?.() !== 0
    ? "needs root for overlay mounts"
    : missingPeers("getfattr", "setfattr"),
};

/** Runs `fn` with the directories of an overlay in a temp dir `d`, where one can be mounted. */
async function withOverlayDirs(
  t: TestContext,
  fn: (d: string, lower: string, upper: string, work: string, merged: string) => Promise<void>,
): Promise<void> {
  if (!(await overlaySupported())) {
    t.skip("kernel overlayfs cannot be mounted here");
    return;
  }
  await withTemp(async (d) => {
    const [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map((n) =>
      join(d, n)
    );
    for (const p of [lower, upper, work, merged]) await mkdir(p);
    await fn(d, lower, upper, work, merged);
  });
}

test(
  "diffOverlayUpper() turns overlay whiteouts and opaque dirs into an OCI layer",
  rootOnly,
  (t) =>
    withOverlayDirs(t, async (d, lower, upper, work, merged) => {
      await makeLower(lower);
      await mountOverlay([lower], upper, work, merged);
      let expected: string[];
      try {
        await mutate(merged);
        // A directory removed and made again is opaque in the upper.
        await rm(join(merged, "etc/conf.d"), { recursive: true });
        await mkdir(join(merged, "etc/conf.d"));
        await writeFile(join(merged, "etc/conf.d/z"), "z");
        expected = await listDirectory(merged);
      } finally {
        await unmountOverlay(merged);
      }
      const blob = diffOverlayUpper(upper);
      const bytes = await collect(blob.stream);
      const names = [];
      for await (const { header } of openLayer(bytesLayer(bytes))) {
        names.push(header.name);
        assert.ok(!Object.keys(header.xattrs).some((k) => k.startsWith("trusted.overlay.")));
      }
      assert.ok(names.includes(".wh.gone"), names.join(" "));
      assert.ok(names.includes("etc/conf.d/.wh..wh..opq"), names.join(" "));
      copyFixture(lower, join(d, "applied"));
      await applyLayer(bytesLayer(bytes), join(d, "applied"));
      // Directory mtimes in an overlay merge view follow the upper; compare without them.
      const strip = (ls: string[]) => ls.map((l) => l.replace(/ \d+$/, ""));
      assert.deepEqual(strip(await listDirectory(join(d, "applied"))), strip(expected));
    }),
);

test(
  "diffOverlayUpper() keeps the xattrs a RUN set on every file it touched, none of overlay's",
  rootOnly,
  (t) =>
    withOverlayDirs(t, async (_d, lower, upper, work, merged) => {
      // Enough files that getfattr's output comes in several pieces, a line cut between two.
      const count = 1500;
      await mkdir(join(lower, "files"), { recursive: true });
      for (let i = 0; i < count; i++) await writeFile(join(lower, "files", `f${i}`), `${i}`);
      await mountOverlay([lower], upper, work, merged);
      try {
        // Copied up (overlay marks each with its origin), then given an xattr of its own.
        const dump = Array.from(
          { length: count },
          (_, i) => `# file: files/f${i}\nuser.note="note ${i}"\n`,
        ).join("\n");
        execFileSync("setfattr", ["-h", "--restore=-"], { cwd: merged, input: dump });
      } finally {
        await unmountOverlay(merged);
      }
      const notes = new Map<string, string>();
      for await (
        const { header } of openLayer(bytesLayer(await collect(diffOverlayUpper(upper).stream)))
      ) {
        assert.deepEqual(
          Object.keys(header.xattrs).filter((k) => !k.startsWith("user.")),
          [],
          header.name,
        );
        if (header.xattrs["user.note"]) {
          notes.set(header.name, new TextDecoder().decode(header.xattrs["user.note"]));
        }
      }
      assert.equal(notes.size, count);
      assert.equal(notes.get("files/f1234"), "note 1234");
    }),
);
