// Load and faults: many concurrent pulls and pushes from an in-test load generator, clients
// that vanish mid-upload, and a registry process killed with SIGKILL during pushes.
import assert from "node:assert/strict";
import { spawnTestScript } from "./_child.ts";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sha256 } from "../digest/mod.ts";
import { openStore } from "../storage/mod.ts";
import {
  bytesOf,
  pushBlob,
  putManifest,
  randomBlob,
  testImage,
  type TestManifest,
  type TestRegistry,
  withRegistry,
} from "./_served_registry.ts";

async function tempDir(): Promise<string> {
  return await mkdtemp(join(tmpdir(), "stratum-srv-load-"));
}

/** Pushes an image the way docker does: POST, one streamed PATCH, PUT ?digest, then the manifest. */
async function chunkedPush(
  base: string,
  repo: string,
  m: TestManifest,
  tag: string,
): Promise<Response> {
  for (const b of m.blobs) {
    const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: "POST" });
    await start.body?.cancel();
    if (start.status !== 202) throw new Error(`POST ${start.status}`);
    const loc = new URL(start.headers.get("location")!, base);
    const patch = await fetch(loc, { method: "PATCH", body: b.bytes as Uint8Array<ArrayBuffer> });
    await patch.body?.cancel();
    if (patch.status !== 202) throw new Error(`PATCH ${patch.status}`);
    const put = await fetch(new URL(`${loc.pathname}?digest=${b.digest}`, base), { method: "PUT" });
    await put.body?.cancel();
    if (put.status !== 201) throw new Error(`PUT ${put.status}`);
  }
  return await putManifest((p, init) => fetch(base + p, init), repo, m, tag);
}

/** Resolves once the access log has a line matching `re`: the server finished that request. */
async function logged(r: TestRegistry, re: RegExp): Promise<string> {
  for (;;) {
    const line = r.log.find((l) => re.test(l));
    if (line) return line;
    await new Promise((ok) => setTimeout(ok, 10));
  }
}

test("200 concurrent blob GETs all return intact bytes", async () => {
  const dir = await tempDir();
  try {
    await withRegistry({ store: await openStore(dir) }, async ({ req }) => {
      const blobs = await Promise.all([1, 2, 3, 4].map(() => randomBlob(512 << 10)));
      for (const b of blobs) await (await pushBlob(req, "load/app", b)).body?.cancel();
      const results = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const b = blobs[i % blobs.length];
          const res = await req(`/v2/load/app/blobs/${b.digest}`);
          assert.equal(res.status, 200);
          return (await sha256(await bytesOf(res))) === b.digest;
        }),
      );
      assert.equal(results.filter(Boolean).length, 200);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("50 concurrent pushes of distinct images all land intact", async () => {
  const dir = await tempDir();
  try {
    await withRegistry({ store: await openStore(dir) }, async ({ req, url, store }) => {
      const images = await Promise.all(
        Array.from({ length: 50 }, () => testImage([32 << 10, 8 << 10])),
      );
      const statuses = await Promise.all(
        images.map(async (m, i) => {
          const res = await chunkedPush(url, `load/app${i % 5}`, m, `t${i}`);
          await res.body?.cancel();
          return res.status;
        }),
      );
      assert.deepEqual(statuses, new Array(50).fill(201));
      for (const [i, m] of images.entries()) {
        const res = await req(`/v2/load/app${i % 5}/manifests/t${i}`);
        assert.deepEqual(await bytesOf(res), m.bytes, `t${i}`);
      }
      const { problems, checked } = await store.fsck();
      assert.deepEqual(problems, []);
      assert.equal(checked, 50 * 4);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a client that disconnects mid-upload leaves no blob under the digest", async () => {
  const dir = await tempDir();
  try {
    await withRegistry({ store: await openStore(dir) }, async (r) => {
      const b = await randomBlob(200_000);
      const port = r.server.port;
      // Monolithic POST ?digest=: headers promise 200000 bytes, 50000 arrive, then the socket dies.
      await new Promise<void>((ok, fail) => {
        const s = connect(port, "127.0.0.1", () => {
          s.write(
            `POST /v2/fault/app/blobs/uploads/?digest=${b.digest} HTTP/1.1\r\n` +
              `Host: 127.0.0.1\r\nContent-Length: ${b.bytes.length}\r\n\r\n`,
          );
          s.write(b.bytes.slice(0, 50_000), () => {
            s.destroy();
            ok();
          });
        });
        s.on("error", fail);
      });
      await logged(r, /"POST \/v2\/fault\/app\/blobs\/uploads\/\?digest=/);
      assert.equal(await r.store.blobs.has(b.digest), false);
      assert.deepEqual(await readdir(join(dir, "ingest")), [], "the temporary write is gone");

      // Chunked: a PATCH cut short keeps its bytes only inside the session, never as a blob.
      const start = await r.req("/v2/fault/app/blobs/uploads/", { method: "POST" });
      const loc = start.headers.get("location")!;
      await new Promise<void>((ok, fail) => {
        const s = connect(port, "127.0.0.1", () => {
          s.write(
            `PATCH ${loc} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${b.bytes.length}\r\n\r\n`,
          );
          s.write(b.bytes.slice(0, 50_000), () => {
            s.destroy();
            ok();
          });
        });
        s.on("error", fail);
      });
      await logged(r, /"PATCH \/v2\/fault\/app\/blobs\/uploads\//);
      assert.equal(await r.store.blobs.has(b.digest), false);
      const status = await r.req(loc);
      assert.equal(status.status, 204);
      // "0-0" is how the spec's inclusive Range says nothing was kept.
      const end = Number(status.headers.get("range")!.split("-")[1]);
      const offset = end === 0 ? 0 : end + 1;
      assert.ok(offset <= 50_000, `kept ${offset} bytes`);
      // The client resumes from the offset the server reports and finishes the blob.
      const rest = await r.req(`${loc}?digest=${b.digest}`, {
        method: "PUT",
        headers: { "content-range": `${offset}-${b.bytes.length - 1}` },
        body: b.bytes.slice(offset) as Uint8Array<ArrayBuffer>,
      });
      assert.equal(rest.status, 201);
      assert.deepEqual((await r.store.fsck()).problems, []);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a registry killed with SIGKILL during pushes leaves a store that fsck passes", async () => {
  const dir = await tempDir();
  const child = spawnTestScript(import.meta.url, "_registry_child", [dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const port = await new Promise<number>((ok, fail) => {
      let out = "";
      child.stdout!.on("data", (d) => {
        out += d;
        const m = /PORT (\d+)/.exec(out);
        if (m) ok(Number(m[1]));
      });
      child.on("exit", (code) => fail(new Error(`registry exited with ${code}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const images = await Promise.all(
      Array.from({ length: 30 }, () => testImage([256 << 10, 64 << 10])),
    );
    let done = 0;
    const pushes = images.map((m, i) =>
      chunkedPush(base, "crash/app", m, `t${i}`).then(async (res) => {
        await res.body?.cancel();
        if (res.status === 201) done++;
      }).catch(() => {})
    );
    // Kill once some pushes have finished and others are mid-flight.
    while (done < 5) await new Promise((ok) => setTimeout(ok, 5));
    const exited = new Promise((ok) => child.once("exit", ok));
    child.kill("SIGKILL");
    // Until it is reaped the killed process still holds a pid, and its store lock looks live.
    await exited;
    await Promise.all(pushes);
    assert.ok(done >= 5 && done < 30, `${done} pushes finished before the kill`);
    const store = await openStore(dir);
    const { problems } = await store.fsck();
    assert.deepEqual(problems, []);
    const tags = (await store.tags.list()).filter((t) => !t.name.includes("@"));
    assert.ok(tags.length >= 5, `${tags.length} tags survived`);
    for (const t of tags) await store.resolve(t.name);
  } finally {
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  }
});
