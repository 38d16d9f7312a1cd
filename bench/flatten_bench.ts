/**
 * Flatten benchmark: makes a ~30,000-small-file image and a ~1 GB image as tar.gz layers
 * in a temp dir (plus an OCI layout for umoci), then times, on each:
 *   - stratum `flattenToDirectory` (in a child process, for its own peak RSS),
 *   - `umoci unpack` (if installed),
 *   - plain `tar -xzf` of each layer in turn (applies no whiteouts).
 * Run: `deno run -A bench/flatten_bench.ts [--small-only]`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Writable } from "node:stream";
import {
  createLayer,
  fileLayer,
  flattenToDirectory,
  type LayerSource,
  type WriteEntry,
} from "../unionfs/mod.ts";

interface Layer {
  file: string;
  digest: string;
  diffId: string;
  size: number;
}

function source(l: Layer): LayerSource {
  return fileLayer(l.file, l.digest);
}

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function writeLayer(entries: Iterable<WriteEntry>, file: string): Promise<Layer> {
  const blob = createLayer(entries);
  await blob.stream.pipeTo(Writable.toWeb(createWriteStream(file)));
  const d = await blob.digests;
  return { file, digest: d.digest, diffId: d.diffId, size: d.size };
}

function smallImage(rnd: () => number): Iterable<WriteEntry>[] {
  const content = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) b[i] = (rnd() * 256) | 0;
    return b;
  };
  function* layer(from: number, to: number, prefix: string, extra: WriteEntry[] = []) {
    for (let d = 0; d < (to - from) / 100; d++) {
      yield {
        header: { name: `${prefix}${d}/`, type: "directory" as const, mode: 0o755, mtime: 1e9 },
      };
    }
    for (let i = from; i < to; i++) {
      const body = content(100 + ((rnd() * 1900) | 0));
      yield {
        header: {
          name: `${prefix}${Math.floor((i - from) / 100)}/f${i}`,
          type: "file" as const,
          size: body.length,
          mode: 0o644,
          mtime: 1e9,
        },
        body,
      };
    }
    yield* extra;
  }
  const whiteouts: WriteEntry[] = [];
  for (let i = 0; i < 1000; i++) {
    whiteouts.push({
      header: { name: `usr/${Math.floor(i / 100)}/.wh.f${i}`, type: "file", size: 0 },
    });
  }
  return [
    layer(0, 20_000, "usr/"),
    layer(20_000, 28_000, "opt/", whiteouts),
    layer(0, 2_000, "usr/"),
  ];
}

function bigImage(rnd: () => number): Iterable<WriteEntry>[] {
  // Half-random 1 MiB blocks: gzip has real work to do without taking minutes.
  const block = new Uint8Array(1 << 20);
  for (let i = 0; i < block.length; i += 2) block[i] = (rnd() * 256) | 0;
  function* file(name: string, mib: number): Generator<WriteEntry> {
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (mib-- === 0) return c.close();
        block[0] = mib & 0xff;
        c.enqueue(block.slice());
      },
    });
    yield {
      header: { name, type: "file", size: (mib as number) << 20, mode: 0o644, mtime: 1e9 },
      body,
    };
  }
  function* layer(names: string[], mib: number) {
    for (const n of names) yield* file(n, mib);
  }
  return [
    layer(["data/a", "data/b", "data/c", "data/d", "data/e"], 100),
    layer(["data/a", "data/f", "data/g", "data/h", "data/i"], 100),
  ];
}

async function ociLayout(dir: string, layers: Layer[]): Promise<void> {
  const put = async (bytes: Uint8Array) => {
    const { sha256 } = await import("../digest/mod.ts");
    const d = await sha256(bytes);
    await writeFile(join(dir, "blobs", "sha256", d.slice(7)), bytes);
    return { digest: d, size: bytes.length };
  };
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  for (const l of layers) {
    execFileSync("ln", ["-f", l.file, join(dir, "blobs", "sha256", l.digest.slice(7))]);
  }
  const enc = new TextEncoder();
  const config = await put(enc.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    config: {},
  })));
  const manifest = await put(enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((l) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: l.digest,
      size: l.size,
    })),
  })));
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": "bench" },
      }],
    }),
  );
}

function timed(cmd: string, args: string[]): { seconds: number; rssMiB: number | null } {
  const useTime = spawnSync("sh", ["-c", "command -v /usr/bin/time"]).status === 0;
  const t0 = performance.now();
  const r = useTime
    ? spawnSync("/usr/bin/time", ["-f", "RSS %M", cmd, ...args], { encoding: "utf8" })
    : spawnSync(cmd, args, { encoding: "utf8" });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const m = /RSS (\d+)/.exec(r.stderr ?? "");
  return { seconds, rssMiB: m ? Number(m[1]) / 1024 : null };
}

async function child(layersJson: string, dest: string): Promise<void> {
  const layers: Layer[] = JSON.parse(await readFile(layersJson, "utf8"));
  const t0 = performance.now();
  await flattenToDirectory(layers.map(source), dest);
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ seconds, rssMiB: process.resourceUsage().maxRSS / 1024 }));
}

async function bench(name: string, work: string, make: Iterable<WriteEntry>[]): Promise<void> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  const layers: Layer[] = [];
  for (const [i, entries] of make.entries()) {
    layers.push(await writeLayer(entries, join(dir, `layer${i}.tar.gz`)));
  }
  const total = (await Promise.all(layers.map((l) => stat(l.file)))).reduce(
    (n, s) => n + s.size,
    0,
  );
  await writeFile(join(dir, "layers.json"), JSON.stringify(layers));
  console.log(`\n${name}: ${layers.length} layers, ${(total / 2 ** 20).toFixed(1)} MiB compressed`);

  const self = process.argv[1];
  const deno = process.execPath;
  const oursRun = spawnSync(deno, [
    "run",
    "-A",
    self,
    "--child",
    join(dir, "layers.json"),
    join(dir, "ours"),
  ], {
    encoding: "utf8",
  });
  if (oursRun.status !== 0) throw new Error(oursRun.stderr);
  const ours = JSON.parse(oursRun.stdout.trim().split("\n").pop()!);
  const rows: [string, { seconds: number; rssMiB: number | null }][] = [["stratum flatten", ours]];

  await mkdir(join(dir, "tar"));
  let tarSeconds = 0;
  let tarRss = 0;
  for (const l of layers) {
    const r = timed("tar", ["-xzf", l.file, "-C", join(dir, "tar")]);
    tarSeconds += r.seconds;
    tarRss = Math.max(tarRss, r.rssMiB ?? 0);
  }
  rows.push(["tar -xzf per layer", { seconds: tarSeconds, rssMiB: tarRss || null }]);

  if (spawnSync("sh", ["-c", "command -v umoci"]).status === 0) {
    await ociLayout(join(dir, "oci"), layers);
    rows.push([
      "umoci unpack",
      timed("umoci", ["unpack", "--image", `${join(dir, "oci")}:bench`, join(dir, "bundle")]),
    ]);
  }
  for (const [what, r] of rows) {
    const ratio = (r.seconds / ours.seconds).toFixed(2);
    const rss = r.rssMiB === null ? "?" : `${r.rssMiB.toFixed(0)} MiB`;
    console.log(
      `  ${what.padEnd(20)} ${
        r.seconds.toFixed(2).padStart(7)
      } s  x${ratio} of stratum  peak RSS ${rss}`,
    );
  }
  await rm(dir, { recursive: true, force: true });
}

if (process.argv[2] === "--child") {
  await child(process.argv[3], process.argv[4]);
} else {
  const work = await mkdtemp(join(tmpdir(), "stratum-flatten-bench-"));
  try {
    await bench("30k-small-files", work, smallImage(rng(1)));
    if (!process.argv.includes("--small-only")) await bench("1GB", work, bigImage(rng(2)));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
