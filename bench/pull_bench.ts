/**
 * Pull benchmark: stratum `pull` into an on-disk store against `skopeo copy docker://…
 * oci:…` of the same images from a local docker-registry, in the same run.
 *
 *   deno run -A bench/pull_bench.ts [--files 30000] [--big-mb 1024]
 *
 * Images: one of `--files` small files in a gzip layer, and one of about `--big-mb` MB in
 * four uncompressed layers of random bytes. Each pull runs in its own process so its peak
 * RSS (VmHWM) is its own; the stratum child is this script with `child`.
 */
import { execFile, spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { packTar } from "modern-tar";
import { sha256 } from "../digest/mod.ts";
import { MediaType, serializeManifest } from "../image/mod.ts";
import { openStore, putBytes } from "../storage/mod.ts";
import { pull } from "../registry_client/mod.ts";
import { startRegistry } from "../tests/_cncf_registry.ts";

const run = promisify(execFile);

async function child(image: string, dir: string): Promise<void> {
  const store = await openStore(dir);
  const ranges = Number(process.env.BENCH_RANGES ?? 1);
  await pull(store, image, { platform: "linux/amd64", rangeConcurrency: ranges });
}

async function build(dir: string, name: string, layers: Uint8Array[], mediaType: string) {
  const store = await openStore(dir);
  const diffIds = [];
  const descs = [];
  for (const raw of layers) {
    diffIds.push(await sha256(raw));
    const blob = mediaType === MediaType.OCI_LAYER_GZIP ? new Uint8Array(gzipSync(raw)) : raw;
    const r = await putBytes(store.blobs, blob);
    descs.push({ mediaType, digest: r.digest, size: r.size });
  }
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: diffIds },
  }));
  const c = await putBytes(store.blobs, config);
  const m = await serializeManifest({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: c.digest, size: c.size },
    layers: descs,
  });
  await putBytes(store.blobs, m.bytes);
  await store.tags.set(name, { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length });
}

/** Runs a command, sampling its VmHWM; returns seconds and peak RSS in MB. */
function measure(cmd: string, args: string[]): Promise<{ seconds: number; rssMb: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d) => err += d);
    let peak = 0;
    const timer = setInterval(async () => {
      try {
        const s = await readFile(`/proc/${p.pid}/status`, "utf8");
        const kb = Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0);
        if (kb > peak) peak = kb;
      } catch { /* exited */ }
    }, 20);
    p.on("close", (code) => {
      clearInterval(timer);
      if (code !== 0) return reject(new Error(`${cmd} exited ${code}: ${err}`));
      resolve({ seconds: (performance.now() - start) / 1000, rssMb: peak / 1024 });
    });
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "child") return await child(argv[1], argv[2]);
  const opt = (name: string, dflt: number) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const files = opt("files", 30_000);
  const bigMb = opt("big-mb", 1024);
  const work = await mkdtemp(join(tmpdir(), "stratum-pull-bench-"));
  const reg = await startRegistry("none");
  try {
    const layout = join(work, "src");
    console.log(`building images: ${files} files; ${bigMb} MB in 4 layers`);
    const entries = Array.from({ length: files }, (_, i) => ({
      header: { name: `d${i % 100}/f${i}.txt`, size: 16, mode: 0o644, mtime: new Date(0) },
      body: new TextEncoder().encode(`file ${String(i).padStart(10, "0")}\n`),
    }));
    await build(layout, "files", [await packTar(entries)], MediaType.OCI_LAYER_GZIP);
    const per = Math.floor(bigMb / 4) << 20;
    const big = [];
    for (let i = 0; i < 4; i++) {
      const data = new Uint8Array(per);
      for (let o = 0; o < per; o += 65536) randomFillSync(data, o, Math.min(65536, per - o));
      big.push(
        await packTar([{
          header: { name: `blob${i}`, size: per, mtime: new Date(0) },
          body: data,
        }]),
      );
    }
    await build(layout, "big", big, MediaType.OCI_LAYER);
    big.length = 0;
    for (const name of ["files", "big"]) {
      await run("skopeo", [
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        `oci:${layout}:${name}`,
        `docker://${reg.host}/bench/${name}:v1`,
      ], { maxBuffer: 1 << 20 });
    }
    const self = new URL(import.meta.url).pathname;
    for (const name of ["files", "big"]) {
      const image = `${reg.host}/bench/${name}:v1`;
      const ours = await measure(process.execPath, [
        "run",
        "-A",
        self,
        "child",
        image,
        join(work, `s-${name}`),
      ]);
      const theirs = await measure("skopeo", [
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${image}`,
        `oci:${join(work, `k-${name}`)}:${name}`,
      ]);
      console.log(
        `${name.padEnd(6)} stratum ${ours.seconds.toFixed(2)}s ${ours.rssMb.toFixed(0)}MB RSS | ` +
          `skopeo ${theirs.seconds.toFixed(2)}s ${theirs.rssMb.toFixed(0)}MB RSS | ` +
          `ratio stratum/skopeo ${(ours.seconds / theirs.seconds).toFixed(2)}`,
      );
    }
  } finally {
    await reg.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
