/**
 * Pull benchmark: `stratum pull` (the CLI, start-up included, into a fresh store) against
 * `skopeo copy docker://… oci:…` of the same images from a local docker-registry, in the
 * same run, alternating which goes first in each round.
 *
 *   deno task bench pull      (or: deno run -A bench/pull_bench.ts [--rounds 5]
 *                              [--files 30000] [--big-mb 552] [--baseline OTHER/cli.ts])
 *
 * Images: `big`, about `--big-mb` MB of gzip in three layers of random bytes (so gzip
 * cannot shrink them), and `files`, one gzip layer of `--files` small files. Each figure
 * is the median over the rounds; the ratio is stratum's median over skopeo's, and the
 * goal (issue 15) is at most 0.8. The machine's load average is printed with the figures:
 * on a shared machine they move with it, the ratios less so. `--baseline` also runs another
 * checkout's `cli.ts` in the same rounds, to compare a change with what it changes.
 */
import { execFile } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { packTar } from "modern-tar";
import { sha256 } from "../digest/mod.ts";
import { type Descriptor, MediaType, serializeManifest } from "../image/mod.ts";
import { openStore, putBytes } from "../storage/mod.ts";
import { startRegistry } from "../tests/_cncf_registry.ts";
import { cliArgs, measure, type Measured } from "./_measure.ts";

const run = promisify(execFile);
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));

/** Writes image `name` into the OCI layout at `dir`, one gzip layer per `make()` result. */
async function build(dir: string, name: string, layers: (() => Promise<Uint8Array>)[]) {
  const store = await openStore(dir);
  const diffIds = [];
  const descs: Descriptor[] = [];
  for (const make of layers) {
    // One layer in memory at a time: the big image's raw layers add up to over 500 MB.
    const raw = await make();
    diffIds.push(await sha256(raw));
    const r = await putBytes(store.blobs, new Uint8Array(gzipSync(raw, { level: 1 })));
    descs.push({ mediaType: MediaType.OCI_LAYER_GZIP, digest: r.digest, size: r.size });
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
  return descs.reduce((n, d) => n + d.size, 0);
}

function randomLayer(bytes: number, i: number): () => Promise<Uint8Array> {
  return () => {
    const data = new Uint8Array(bytes);
    for (let o = 0; o < bytes; o += 65536) randomFillSync(data, o, Math.min(65536, bytes - o));
    return packTar([{ header: { name: `blob${i}`, size: bytes, mtime: new Date(0) }, body: data }]);
  };
}

function filesLayer(files: number): () => Promise<Uint8Array> {
  return () =>
    packTar(Array.from({ length: files }, (_, i) => ({
      header: { name: `d${i % 100}/f${i}.txt`, size: 16, mode: 0o644, mtime: new Date(0) },
      body: new TextEncoder().encode(`file ${String(i).padStart(10, "0")}\n`),
    })));
}

async function loadavg(): Promise<string> {
  return (await readFile("/proc/loadavg", "utf8").catch(() => "?")).split(" ").slice(0, 3)
    .join(" ");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string, dflt: number) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const rounds = opt("rounds", 5);
  const files = opt("files", 30_000);
  const bigMb = opt("big-mb", 552);
  const b = argv.indexOf("--baseline");
  const baseline = b >= 0 ? argv[b + 1] : undefined;
  const work = await mkdtemp(join(tmpdir(), "stratum-pull-bench-"));
  const reg = await startRegistry("none");
  try {
    const layout = join(work, "src");
    // gzip -1 of random bytes comes out ~5% larger than its input.
    const per = Math.floor((bigMb * 1e6) / 3 / 1.054);
    const bigSize = await build(layout, "big", [0, 1, 2].map((i) => randomLayer(per, i)));
    const filesSize = await build(layout, "files", [filesLayer(files)]);
    console.log(
      `images: big ${(bigSize / 1e6).toFixed(0)} MB gzip in 3 layers; files ${files} files ` +
        `(${(filesSize / 1e3).toFixed(0)} kB gzip); ${rounds} rounds, alternating`,
    );
    for (const name of ["big", "files"]) {
      await run("skopeo", [
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        `oci:${layout}:${name}`,
        `docker://${reg.host}/bench/${name}:v1`,
      ], { maxBuffer: 1 << 20 });
    }
    const load = [await loadavg()];
    const results: Record<string, { ours: Measured[]; theirs: Measured[]; base: Measured[] }> = {};
    for (let round = 0; round < rounds; round++) {
      for (const name of ["big", "files"]) {
        const image = `${reg.host}/bench/${name}:v1`;
        const stratum = (cli: string) => () =>
          measure(process.execPath, [
            ...cliArgs(cli),
            "--root",
            join(work, `s-${name}`),
            "pull",
            "-q",
            image,
          ]);
        const theirs = () =>
          measure("skopeo", [
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            `docker://${image}`,
            `oci:${join(work, `k-${name}`)}:${name}`,
          ]);
        const r = results[name] ??= { ours: [], theirs: [], base: [] };
        const runs: [Measured[], () => Promise<Measured>][] = [
          [r.ours, stratum(CLI)],
          [r.theirs, theirs],
          ...(baseline
            ? [[r.base, stratum(baseline)] as [Measured[], () => Promise<Measured>]]
            : []),
        ];
        // Each round starts with another contender.
        for (let k = 0; k < runs.length; k++) {
          const [into, go] = runs[(round + k) % runs.length];
          into.push(await go());
          // Fresh destinations for every pull: nothing is "already there".
          await rm(join(work, `s-${name}`), { recursive: true, force: true });
          await rm(join(work, `k-${name}`), { recursive: true, force: true });
        }
      }
    }
    load.push(await loadavg());
    for (const [name, r] of Object.entries(results)) {
      const ours = median(r.ours.map((m) => m.seconds));
      const theirs = median(r.theirs.map((m) => m.seconds));
      const perRound = median(r.ours.map((m, i) => m.seconds / r.theirs[i].seconds));
      console.log(
        `pull ${name.padEnd(5)} stratum ${ours.toFixed(3)}s ` +
          `${median(r.ours.map((m) => m.rssMb)).toFixed(0)}MB RSS | skopeo ${theirs.toFixed(3)}s ` +
          `${median(r.theirs.map((m) => m.rssMb)).toFixed(0)}MB RSS | ratio ${
            (ours / theirs).toFixed(2)
          } (median per round ${perRound.toFixed(2)}; goal <= 0.80)`,
      );
      const list = (ms: Measured[]) => ms.map((m) => m.seconds.toFixed(2)).join(" ");
      console.log(
        `     ${"".padEnd(5)} rounds: stratum ${list(r.ours)}; skopeo ${list(r.theirs)}${
          r.base.length ? `; baseline ${list(r.base)}` : ""
        }`,
      );
      if (r.base.length) {
        const base = median(r.base.map((m) => m.seconds));
        console.log(
          `     ${"".padEnd(5)} baseline ${base.toFixed(3)}s | stratum / baseline ${
            (ours / base).toFixed(2)
          } | baseline / skopeo ${(base / theirs).toFixed(2)}`,
        );
      }
    }
    console.log(
      `load average (1/5/15 min) before: ${load[0]}; after: ${load[1]} on ${
        (await readFile("/proc/cpuinfo", "utf8").catch(() => "")).split("\nprocessor").length
      } CPUs`,
    );
  } finally {
    await reg.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
