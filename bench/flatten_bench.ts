/**
 * Flatten benchmark: makes a ~30,000-small-file image, a ~1 GB image and a ~2 GB image
 * (the same shape with files twice as large, to show memory does not grow with layer
 * size) as tar.gz layers, then, on each, times in alternating order per round:
 *   - stratum `flattenToDirectory`, in a child process so its peak RSS is its own,
 *   - `umoci unpack` (if installed),
 *   - plain `tar -xzf` of each layer in turn (applies no whiteouts).
 *
 * This machine's disk is very noisy for file creation (the same extraction took 1 s or
 * 20 s by directory and time), so every run writes to a fresh loop-mounted ext4 made for
 * it, and the contenders take turns within each round. Needs root (mount).
 * Prints medians, ratios against stratum and peak RSS (VmHWM; for tar, of its gzip).
 *
 * Run: `deno run -A bench/flatten_bench.ts [--rounds N] [--images small,1GB,2GB]
 * [--keep DIR]` (`--keep` reuses the generated layers in DIR across runs).
 *
 * @module
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Writable } from "node:stream";
import { parseArgs } from "node:util";
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

/**
 * One timed run: wall seconds, CPU seconds (user + system, children included: tar's gzip)
 * and peak resident memory in MiB. On a machine shared with other work the wall time
 * swings with the load; the CPU time much less.
 */
interface Run {
  seconds: number;
  cpu: number;
  rssMiB: number;
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

/** Two layers of five files of `mib` MiB each; one file of the first is overwritten. */
function bigImage(rnd: () => number, mib: number): Iterable<WriteEntry>[] {
  // Half-random 1 MiB blocks: gzip has real work to do without taking minutes.
  const block = new Uint8Array(1 << 20);
  for (let i = 0; i < block.length; i += 2) block[i] = (rnd() * 256) | 0;
  function file(name: string): WriteEntry {
    let left = mib;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (left-- === 0) return c.close();
        block[0] = left & 0xff;
        c.enqueue(block.slice());
      },
    });
    return { header: { name, type: "file", size: mib << 20, mode: 0o644, mtime: 1e9 }, body };
  }
  function* layer(names: string[]) {
    for (const n of names) yield file(n);
  }
  return [
    layer(["data/a", "data/b", "data/c", "data/d", "data/e"]),
    layer(["data/a", "data/f", "data/g", "data/h", "data/i"]),
  ];
}

async function ociLayout(dir: string, layers: Layer[]): Promise<void> {
  const { sha256 } = await import("../digest/mod.ts");
  const put = async (bytes: Uint8Array) => {
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

/** Runs a command under GNU time; its peak RSS is the largest of it and its children. */
function timed(cmd: string, args: string[]): Run & { stdout: string } {
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "RSS %M CPU %U %S", cmd, ...args], {
    encoding: "utf8",
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const m = /RSS (\d+) CPU ([\d.]+) ([\d.]+)/.exec(r.stderr ?? "");
  return {
    seconds,
    cpu: m ? Number(m[2]) + Number(m[3]) : NaN,
    rssMiB: m ? Number(m[1]) / 1024 : NaN,
    stdout: r.stdout,
  };
}

function vmHwmMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The flatten itself, in its own process: prints its time and VmHWM as JSON. */
async function child(layersJson: string, dest: string): Promise<void> {
  const layers: Layer[] = JSON.parse(await readFile(layersJson, "utf8"));
  const t0 = performance.now();
  await flattenToDirectory(layers.map(source), dest);
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ seconds, rssMiB: vmHwmMiB() }));
}

/**
 * A fresh ext4 on a sparse file, loop-mounted, for one run. Unmounted and deleted after,
 * also when the run fails or the bench is interrupted.
 */
class Scratch {
  #file: string;
  #mnt: string;
  #mounted = false;

  constructor(work: string) {
    this.#file = join(work, "scratch.ext4");
    this.#mnt = join(work, "mnt");
  }

  async run<T>(bytes: number, fn: (dir: string) => T | Promise<T>): Promise<T> {
    rmSync(this.#file, { force: true });
    execFileSync("truncate", ["-s", String(bytes), this.#file]);
    // Tables are written now, not by ext4lazyinit in the background during the run.
    execFileSync("mkfs.ext4", [
      "-q",
      "-F",
      "-E",
      "lazy_itable_init=0,lazy_journal_init=0,nodiscard",
      this.#file,
    ]);
    await mkdir(this.#mnt, { recursive: true });
    execFileSync("mount", ["-o", "loop", this.#file, this.#mnt]);
    this.#mounted = true;
    try {
      return await fn(this.#mnt);
    } finally {
      this.cleanup();
    }
  }

  /** Synchronous, so it can run from a signal handler. */
  cleanup(): void {
    if (this.#mounted) {
      const r = spawnSync("umount", [this.#mnt]);
      if (r.status !== 0) spawnSync("umount", ["-l", this.#mnt]);
      this.#mounted = false;
    }
    rmSync(this.#file, { force: true });
  }
}

type Contender = (out: string) => Run;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function makeImage(
  dir: string,
  make: () => Iterable<WriteEntry>[],
): Promise<Layer[]> {
  const listFile = join(dir, "layers.json");
  if (existsSync(listFile)) return JSON.parse(await readFile(listFile, "utf8"));
  await mkdir(dir, { recursive: true });
  const layers: Layer[] = [];
  for (const [i, entries] of make().entries()) {
    layers.push(await writeLayer(entries, join(dir, `layer${i}.tar.gz`)));
  }
  await writeFile(listFile, JSON.stringify(layers));
  return layers;
}

async function bench(
  name: string,
  dir: string,
  scratch: Scratch,
  rounds: number,
  contentBytes: number,
  make: () => Iterable<WriteEntry>[],
): Promise<void> {
  const layers = await makeImage(dir, make);
  const compressed = (await Promise.all(layers.map((l) => stat(l.file))))
    .reduce((n, s) => n + s.size, 0);
  console.log(
    `\n${name}: ${layers.length} layers, ${(compressed / 2 ** 20).toFixed(1)} MiB compressed`,
  );
  const contenders: [string, Contender][] = [[
    "stratum flatten",
    (out) => {
      const r = timed(process.execPath, [
        "run",
        "-A",
        process.argv[1],
        "--child",
        join(dir, "layers.json"),
        join(out, "rootfs"),
      ]);
      const reported = JSON.parse(r.stdout.trim().split("\n").pop()!);
      return { seconds: r.seconds, cpu: r.cpu, rssMiB: reported.rssMiB };
    },
  ], [
    "tar -xzf per layer",
    (out) => {
      const total: Run = { seconds: 0, cpu: 0, rssMiB: 0 };
      for (const l of layers) {
        const r = timed("tar", ["-xzf", l.file, "-C", out]);
        total.seconds += r.seconds;
        total.cpu += r.cpu;
        total.rssMiB = Math.max(total.rssMiB, r.rssMiB);
      }
      return total;
    },
  ]];
  if (spawnSync("sh", ["-c", "command -v umoci"]).status === 0) {
    if (!existsSync(join(dir, "oci"))) await ociLayout(join(dir, "oci"), layers);
    contenders.push([
      "umoci unpack",
      (out) =>
        timed("umoci", ["unpack", "--image", `${join(dir, "oci")}:bench`, join(out, "bundle")]),
    ]);
  }
  // Room for the tree twice over, and inodes: the file is sparse, so this costs nothing.
  const fsBytes = Math.ceil(Math.max(1 << 30, contentBytes * 2.5));
  const runs = new Map<string, Run[]>(contenders.map(([n]) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const [what, run] of order) {
      const r = await scratch.run(fsBytes, run);
      runs.get(what)!.push(r);
    }
  }
  const ours = median(runs.get("stratum flatten")!.map((r) => r.seconds));
  const ourCpu = median(runs.get("stratum flatten")!.map((r) => r.cpu));
  for (const [what, rs] of runs) {
    const secs = median(rs.map((r) => r.seconds));
    const cpu = median(rs.map((r) => r.cpu));
    const rss = Math.max(...rs.map((r) => r.rssMiB));
    const all = rs.map((r) => r.seconds.toFixed(2)).join(" ");
    console.log(
      `  ${what.padEnd(20)} median ${secs.toFixed(2).padStart(6)} s  x${
        (secs / ours).toFixed(2)
      } of stratum  cpu ${cpu.toFixed(2)} s x${(cpu / ourCpu).toFixed(2)}  peak RSS ${
        rss.toFixed(0).padStart(4)
      } MiB  (runs: ${all})`,
    );
  }
}

if (process.argv[2] === "--child") {
  await child(process.argv[3], process.argv[4]);
} else {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      rounds: { type: "string", default: "3" },
      images: { type: "string", default: "small,1GB,2GB" },
      keep: { type: "string" },
    },
  });
  const work = await mkdtemp(join(tmpdir(), "stratum-flatten-bench-"));
  const images = values.keep ?? join(work, "images");
  const scratch = new Scratch(work);
  const onSignal = () => {
    scratch.cleanup();
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const rounds = Number(values.rounds);
  const wanted = values.images.split(",");
  try {
    if (wanted.includes("small")) {
      await bench(
        "30k-small-files",
        join(images, "small"),
        scratch,
        rounds,
        200 << 20,
        () => smallImage(rng(1)),
      );
    }
    for (const [label, mib] of [["1GB", 100], ["2GB", 200]] as const) {
      if (!wanted.includes(label)) continue;
      await bench(
        `${label} (10 files of ${mib} MiB in 2 layers)`,
        join(images, label),
        scratch,
        rounds,
        10 * mib * 2 ** 20,
        () => bigImage(rng(2), mib),
      );
    }
  } finally {
    scratch.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}
