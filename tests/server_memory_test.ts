/**
 * MEMORY TEST (slow: about 20 s, 768 MiB through the disk three times). `stratum serve`
 * keeps its peak resident memory (VmHWM) under 150 MB while a 768 MiB blob is pushed to it
 * in three PATCHes and read back twice: the server runs in a process of its own
 * (tests/_rss_child.ts prints the kernel's high-water mark when serve stops on SIGTERM).
 * Linux only (/proc). Set STRATUM_SKIP_MEMORY_TEST=1 to leave it out of a quick run.
 */
import assert from "node:assert/strict";
import { randomFillSync } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { createHasher } from "../digest/mod.ts";
import { spawnTestScript } from "./_child.ts";
import { freePort } from "./_cncf_registry.ts";
import { memoryBoundUnsupported } from "./_peers.ts";

const LIMIT_MB = 150;
const MIB = 1 << 20;
const PATCH_BYTES = 256 * MIB;
const PATCHES = 3;

const skip = process.platform !== "linux" || !existsSync("/proc/self/status")
  ? "needs Linux /proc"
  : process.env.STRATUM_SKIP_MEMORY_TEST === "1"
  ? "STRATUM_SKIP_MEMORY_TEST=1"
  : memoryBoundUnsupported();

/** `bytes` random bytes made as they are read, hashed into `hasher` on the way out. */
function randomBody(bytes: number, hasher: { update(b: Uint8Array): void }) {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= bytes) return c.close();
      const chunk = new Uint8Array(Math.min(256 << 10, bytes - sent));
      randomFillSync(chunk);
      hasher.update(chunk);
      sent += chunk.length;
      c.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
}

test(
  "stratum serve stays under 150 MB of RSS receiving a 768 MiB blob in PATCHes and sending it twice",
  { skip },
  async () => {
    const root = await mkdtemp(join(tmpdir(), "stratum-serve-memory-"));
    const host = `127.0.0.1:${await freePort()}`;
    const child = spawnTestScript(import.meta.url, "_rss_child", [
      "--root",
      root,
      "serve",
      "--addr",
      host,
    ], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    const closed = new Promise((resolve) => child.on("close", resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on("data", (d) => {
          err += d;
          if (err.includes("listening on")) resolve();
        });
        child.on("close", () => reject(new Error(`serve exited: ${err}`)));
      });
      const base = `http://${host}/v2/mem/big/blobs`;
      const start = await fetch(`${base}/uploads/`, { method: "POST" });
      assert.equal(start.status, 202);
      const location = new URL(start.headers.get("location")!, `http://${host}`).href;
      const sent = await createHasher();
      for (let i = 0; i < PATCHES; i++) {
        const res = await fetch(location, {
          method: "PATCH",
          headers: {
            "content-range": `${i * PATCH_BYTES}-${(i + 1) * PATCH_BYTES - 1}`,
            "content-length": String(PATCH_BYTES),
          },
          body: randomBody(PATCH_BYTES, sent),
          duplex: "half",
        } as RequestInit);
        assert.equal(res.status, 202, await res.text());
      }
      const digest = sent.digest();
      const done = await fetch(`${location}?digest=${digest}`, { method: "PUT" });
      assert.equal(done.status, 201, await done.text());
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${base}/${digest}`);
        assert.equal(res.status, 200);
        const got = await createHasher();
        for await (const c of res.body!) got.update(c);
        assert.equal(got.digest(), digest, "the blob reads back as it was sent");
      }
    } finally {
      child.kill("SIGTERM");
      await closed;
      await rm(root, { recursive: true, force: true });
    }
    const kb = Number(/VmHWM (\d+)\s*$/.exec(err)?.[1]);
    assert.ok(kb > 0, `no VmHWM line from serve: ${err.slice(-2000)}`);
    const mb = kb / 1024;
    console.log(`stratum serve peak RSS for a 768 MiB push and two GETs: ${mb.toFixed(0)} MB`);
    assert.ok(mb < LIMIT_MB, `serve peaked at ${mb.toFixed(0)} MB`);
  },
);
