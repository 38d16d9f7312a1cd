import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeFileAtomic } from "./build_output.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-atomic-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `count` chunks of `size` bytes, each filled with its index, then `end` (close or error). */
function chunks(count: number, size: number, fail?: Error): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < count) c.enqueue(new Uint8Array(size).fill(i++));
      else if (fail) c.error(fail);
      else c.close();
    },
  });
}

test("writeFileAtomic() replaces a file with all of a stream, batching small chunks", async () => {
  await withDir(async (dir) => {
    const dest = join(dir, "out.tar");
    await writeFile(dest, "old");
    // 3 MiB in 512-byte pieces, as a tar arrives.
    await writeFileAtomic(dest, chunks(6144, 512));
    const bytes = await readFile(dest);
    assert.equal(bytes.length, 6144 * 512);
    assert.equal(bytes[0], 0);
    assert.equal(bytes[512 * 300], 300 % 256);
    assert.equal(bytes.at(-1), 6143 % 256);
    await writeFileAtomic(dest, "text\n");
    assert.equal(await readFile(dest, "utf8"), "text\n");
    await writeFileAtomic(dest, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...await readFile(dest)], [1, 2, 3]);
    assert.deepEqual(await readdir(dir), ["out.tar"]);
  });
});

test("writeFileAtomic() leaves the old file and no temporary file when the stream fails", async () => {
  await withDir(async (dir) => {
    const dest = join(dir, "out.tar");
    await writeFile(dest, "old");
    const boom = new Error("layer unreadable");
    // Past one batch, so bytes have reached the temporary file before the failure.
    await assert.rejects(writeFileAtomic(dest, chunks(40, 64 << 10, boom)), (e) => e === boom);
    assert.equal(await readFile(dest, "utf8"), "old");
    assert.deepEqual(await readdir(dir), ["out.tar"]);
  });
});

test("writeFileAtomic() names the target when the disk refuses, and creates directories only when asked", async () => {
  await withDir(async (dir) => {
    const dest = join(dir, "no", "such", "dir", "iid");
    await assert.rejects(writeFileAtomic(dest, "x"), (e: Error) => {
      assert.ok(e.message.startsWith(`Cannot write ${JSON.stringify(dest)}: `), e.message);
      return true;
    });
    assert.deepEqual(await readdir(dir), []);
    await writeFileAtomic(dest, "x", { mkdirs: true });
    assert.equal(await readFile(dest, "utf8"), "x");

    const isDir = join(dir, "a-directory");
    await mkdir(isDir);
    await assert.rejects(writeFileAtomic(isDir, chunks(2, 10)), /Cannot write/);
    assert.deepEqual((await readdir(dir)).sort(), ["a-directory", "no"]);
  });
});

test("writeFileAtomic() replaces a symlink at the target instead of writing through it", async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, "victim"), "keep");
    const dest = join(dir, "out");
    await symlink(join(dir, "victim"), dest);
    await writeFileAtomic(dest, "new");
    assert.equal(await readFile(join(dir, "victim"), "utf8"), "keep");
    assert.ok((await lstat(dest)).isFile());
    assert.equal(await readFile(dest, "utf8"), "new");
  });
});
