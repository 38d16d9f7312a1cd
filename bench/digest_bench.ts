/**
 * SHA-256 throughput on 1 GiB streamed in 1 MiB chunks: the native engine (node:crypto)
 * and the WASM engine (hash-wasm), against `openssl dgst -sha256` of the same bytes from a
 * file, in the same run. Reports GB/s and the ratio to openssl (goal: native ≥ 0.9×).
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHasher, type HashEngine } from "../digest/mod.ts";

const TOTAL = 1 << 30;
const CHUNK = 1 << 20;
const chunk = new Uint8Array(CHUNK);
for (let i = 0; i < CHUNK; i++) chunk[i] = (i * 2654435761) >>> 24;

async function engine(name: HashEngine): Promise<[number, string]> {
  const h = await createHasher({ engine: name });
  const t0 = performance.now();
  for (let done = 0; done < TOTAL; done += CHUNK) h.update(chunk);
  const d = h.digest();
  return [(performance.now() - t0) / 1000, d];
}

function openssl(file: string): [number, string] {
  const t0 = performance.now();
  const out = execFileSync("openssl", ["dgst", "-sha256", "-r", file], { encoding: "utf8" });
  return [(performance.now() - t0) / 1000, `sha256:${out.split(" ")[0]}`];
}

const dir = mkdtempSync(join(tmpdir(), "stratum-bench-"));
const file = join(dir, "1gib");
try {
  const big = new Uint8Array(TOTAL);
  for (let o = 0; o < TOTAL; o += CHUNK) big.set(chunk, o);
  writeFileSync(file, big);
  openssl(file); // warm the page cache so openssl is not measured against the disk
  const rounds = 3;
  const best = { native: Infinity, wasm: Infinity, openssl: Infinity };
  const digests = new Set<string>();
  for (let r = 0; r < rounds; r++) {
    for (
      const [name, run] of [
        ["native", () => engine("native")],
        ["wasm", () => engine("wasm")],
        ["openssl", () => Promise.resolve(openssl(file))],
      ] as const
    ) {
      const [secs, d] = await run();
      digests.add(d);
      best[name] = Math.min(best[name], secs);
    }
  }
  if (digests.size !== 1) throw new Error(`engines disagree: ${[...digests].join(", ")}`);
  const gbps = (s: number) => (TOTAL / s / 1e9).toFixed(2);
  console.log(
    `sha256 of 1 GiB, best of ${rounds} (openssl reads a cached file; engines hash memory)`,
  );
  for (const name of ["native", "wasm", "openssl"] as const) {
    console.log(
      `  ${name.padEnd(8)} ${gbps(best[name])} GB/s   ratio to openssl ${
        (best.openssl / best[name]).toFixed(2)
      }x`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
