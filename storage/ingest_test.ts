// Ingest refs under concurrency: one owner at a time, commit checks what is in the file,
// and the sweep of what dead writers left.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFile, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { DigestMismatchError, sha256, SizeMismatchError } from "../digest/mod.ts";
import type { BlobStore, BlobWriter } from "./blob_store.ts";
import { FsBlobStore } from "./fs_blob_store.ts";
import { MemoryBlobStore } from "./memory_blob_store.ts";
import { currentOwner, formatOwner, ownerTag } from "./owner.ts";

const enc = new TextEncoder();

async function scratch(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-ingest-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn("sleep", ["0"]);
  await new Promise((r) => child.on("exit", r));
  return child.pid!;
}

async function write(w: BlobWriter, text: string): Promise<void> {
  const sink = w.writable.getWriter();
  await sink.write(enc.encode(text));
  sink.releaseLock();
}

const backends: [string, (dir: string) => BlobStore][] = [
  ["MemoryBlobStore", () => new MemoryBlobStore()],
  ["FsBlobStore", (dir) => new FsBlobStore(dir)],
];

for (const [label, make] of backends) {
  test(`${label}: a second writer of a ref waits until the first suspends, then resumes its bytes`, async () => {
    await scratch(async (dir) => {
      const store = make(dir);
      const first = await store.writer({ ref: "up-1" });
      await write(first, "hel");
      let secondOpened = false;
      const second = store.writer({ ref: "up-1" }).then((w) => {
        secondOpened = true;
        return w;
      });
      await write(first, "lo ");
      // Let the waiting writer poll a few times: it must still be waiting.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(secondOpened, false);
      await first.writable.close(); // suspends: the ref is free again
      const w = await second;
      assert.equal(w.offset, 6);
      await write(w, "world");
      const r = await w.commit({ digest: await sha256("hello world") });
      assert.equal(r.size, 11);
    });
  });

  test(`${label}: a writer waiting on a ref sees the blob the first one committed`, async () => {
    await scratch(async (dir) => {
      const store = make(dir);
      const first = await store.writer({ ref: "pull-x" });
      const second = store.writer({ ref: "pull-x" });
      await write(first, "layer");
      const { digest } = await first.commit({ digest: await sha256("layer") });
      const w = await second;
      // The committed bytes left the ref: the second writer starts empty, and can tell.
      assert.equal(w.offset, 0);
      assert.ok(await store.has(digest));
      await w.abort();
    });
  });
}

test("a ref whose writer died is taken over and what it wrote is resumed", async () => {
  await scratch(async (dir) => {
    const store = new FsBlobStore(dir);
    await mkdir(join(dir, "ingest"));
    await writeFile(join(dir, "ingest", "ref-pull-1"), "hel");
    await writeFile(join(dir, "ingest", "ref-pull-1.lock"), String(await deadPid()));
    const w = await store.writer({ ref: "pull-1" });
    assert.equal(w.offset, 3);
    await write(w, "lo");
    assert.equal((await w.commit({ digest: await sha256("hello") })).size, 5);
  });
});

test("commit refuses an ingest file that someone else appended to, and publishes nothing", async () => {
  await scratch(async (dir) => {
    const store = new FsBlobStore(dir);
    const w = await store.writer({ ref: "pull-2" });
    await write(w, "hello");
    // A writer that ignores the lock (an older stratum) appends its copy meanwhile: this
    // writer's own stream still hashes to the expected digest.
    await appendFile(join(dir, "ingest", "ref-pull-2"), "hello");
    await assert.rejects(w.commit({ digest: await sha256("hello") }), SizeMismatchError);
    assert.equal(await store.has(await sha256("hello")), false);
    assert.deepEqual(await readdir(join(dir, "ingest")), []);
  });
});

test("commit checks the bytes in the file, not only the stream it was sent", async () => {
  await scratch(async (dir) => {
    const store = new FsBlobStore(dir);
    const w = await store.writer();
    await write(w, "hello");
    const [tmp] = await readdir(join(dir, "ingest"));
    assert.match(tmp, new RegExp(`^tmp-${ownerTag(await currentOwner()).replace(".", "\\.")}-`));
    // Same size, other bytes: only reading the file back can tell.
    await writeFile(join(dir, "ingest", tmp), "HELLO");
    await assert.rejects(w.commit({ digest: await sha256("hello") }), DigestMismatchError);
    assert.equal(await store.has(await sha256("hello")), false);
    assert.equal(await store.has(await sha256("HELLO")), false);
  });
});

test("a sha512 commit checks the bytes in the file too, and publishes nothing else", async () => {
  await scratch(async (dir) => {
    const store = new FsBlobStore(dir);
    const w = await store.writer();
    await write(w, "hello");
    const [tmp] = await readdir(join(dir, "ingest"));
    await writeFile(join(dir, "ingest", tmp), "HELLO");
    const digest = await sha256("hello", { algorithm: "sha512" });
    const actual = await sha256("HELLO", { algorithm: "sha512" });
    await assert.rejects(w.commit({ digest }), (e: unknown) => {
      assert.ok(e instanceof DigestMismatchError);
      assert.equal(e.actual, actual);
      return true;
    });
    assert.equal(await store.has(digest), false);
    assert.deepEqual(await readdir(join(dir, "ingest")), []);
    await assert.rejects(readdir(join(dir, "blobs", "sha512")), { code: "ENOENT" });
  });
});

test("cleanIngest() removes what dead writers left and keeps live and resumable writes", async () => {
  await scratch(async (dir) => {
    const store = new FsBlobStore(dir);
    const ingest = join(dir, "ingest");
    await mkdir(ingest);
    const dead = await deadPid();
    const me = await currentOwner();
    await writeFile(join(ingest, `tmp-${dead}-0a1b2c`), "killed load");
    await writeFile(join(ingest, `tmp-${ownerTag(me)}-3d4e5f`), "live load");
    // A pull killed mid-layer: its ref and lock with the dead pid.
    await writeFile(join(ingest, "ref-pull-dead"), "half a layer");
    await writeFile(join(ingest, "ref-pull-dead.lock"), String(dead));
    // An upload session between two requests: no owner, recent.
    await writeFile(join(ingest, "ref-session-1"), "first chunk");
    await writeFile(join(ingest, "ref-session-1.state"), "hasher state");
    // One nobody resumed for two days.
    await writeFile(join(ingest, "ref-session-old"), "stale chunk");
    const old = new Date(Date.now() - 2 * 86_400_000);
    await utimes(join(ingest, "ref-session-old"), old, old);
    // A ref a live writer of this process holds.
    const held = await store.writer({ ref: "pull-live" });
    await write(held, "in flight");

    const removed = await store.cleanIngest(86_400_000);
    assert.equal(removed, 3);
    assert.deepEqual((await readdir(ingest)).sort(), [
      "ref-pull-live",
      "ref-pull-live.lock",
      "ref-session-1",
      "ref-session-1.state",
      `tmp-${ownerTag(me)}-3d4e5f`,
    ]);
    await write(held, " still");
    assert.equal((await held.commit()).size, 15);
  });
});

test("a lock record names its owner by pid and start time", async () => {
  const me = await currentOwner();
  assert.equal(me.pid, process.pid);
  assert.match(formatOwner(me), new RegExp(`^${process.pid}( \\d+)?$`));
});
