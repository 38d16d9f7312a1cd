/**
 * Start-up benchmark: what a short command costs, stratum against skopeo, in the same run.
 *
 *   deno task bench startup            (or: deno run -A bench/startup_bench.ts [--runs 5])
 *
 * - `stratum --help` against `skopeo --help`;
 * - `stratum images` on an empty store against `skopeo list-tags` of a one-tag repository
 *   of a local docker-registry (skopeo has no local image list; this is its shortest
 *   command that does real work);
 * - a 1 MB pull (one gzip layer of 1 MB of random bytes) from a local docker-registry into
 *   an empty store, against `skopeo copy docker://… oci:…`.
 * stratum runs as users run it from a checkout, `deno task stratum` (`deno run -A
 * --v8-flags=… cli.ts`). Each figure is the median of `--runs` runs, with peak RSS; stratum
 * and skopeo take turns, so that a load that comes and goes on the machine weighs on both
 * alike.
 */
import { execFile } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { packTar } from "modern-tar";
import { sha256 } from "../digest/mod.ts";
import { MediaType, serializeManifest } from "../image/mod.ts";
import { openStore, putBytes } from "../storage/mod.ts";
import { startRegistry } from "../tests/_cncf_registry.ts";
import { cliArgs, measure, type Measured } from "./_measure.ts";

const run = promisify(execFile);
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));

/** An OCI layout at `dir` with image `name`: one gzip layer holding 1 MB of random bytes. */
async function oneMegabyteImage(dir: string, name: string): Promise<void> {
  const store = await openStore(dir);
  const data = new Uint8Array(1 << 20);
  for (let o = 0; o < data.length; o += 65536) randomFillSync(data, o, 65536);
  const raw = await packTar([{ header: { name: "data.bin", size: data.length }, body: data }]);
  const gz = new Uint8Array(gzipSync(raw));
  const layer = await putBytes(store.blobs, gz);
  const config = await putBytes(
    store.blobs,
    new TextEncoder().encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [await sha256(raw)] },
    })),
  );
  const m = await serializeManifest({
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: config.digest, size: config.size },
    layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest: layer.digest, size: layer.size }],
  });
  await putBytes(store.blobs, m.bytes);
  await store.tags.set(name, { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length });
}

/** `runs` runs of each of `a` and `b`, taking turns; the median of each (by time). */
async function alternate(
  runs: number,
  a: () => Promise<Measured>,
  b: () => Promise<Measured>,
): Promise<[Measured, Measured]> {
  const as: Measured[] = [];
  const bs: Measured[] = [];
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      as.push(await a());
      bs.push(await b());
    } else {
      bs.push(await b());
      as.push(await a());
    }
  }
  const mid = (xs: Measured[]) =>
    [...xs].sort((x, y) => x.seconds - y.seconds)[Math.floor(xs.length / 2)];
  return [mid(as), mid(bs)];
}

function row(what: string, [ours, theirs]: [Measured, Measured]): string {
  return `${what.padEnd(10)} stratum ${ours.seconds.toFixed(3)}s ${ours.rssMb.toFixed(0)}MB | ` +
    `skopeo ${theirs.seconds.toFixed(3)}s ${theirs.rssMb.toFixed(0)}MB | ` +
    `ratio stratum/skopeo ${(ours.seconds / theirs.seconds).toFixed(2)}`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const i = argv.indexOf("--runs");
  const runs = i >= 0 ? Number(argv[i + 1]) : 5;
  const work = await mkdtemp(join(tmpdir(), "stratum-startup-bench-"));
  const reg = await startRegistry("none");
  try {
    const stratum = (...args: string[]) => measure(process.execPath, cliArgs(CLI, ...args));
    // Deno's module cache warm, as for a user's second command.
    await stratum("--help");
    console.log(`median of ${runs} runs each (stratum: deno task stratum)`);
    console.log(row(
      "--help",
      await alternate(runs, () => stratum("--help"), () => measure("skopeo", ["--help"])),
    ));

    const layout = join(work, "src");
    await oneMegabyteImage(layout, "one");
    const image = `${reg.host}/bench/one:v1`;
    await run("skopeo", [
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      `oci:${layout}:one`,
      `docker://${image}`,
    ]);
    const empty = join(work, "empty");
    console.log(row(
      "images",
      await alternate(
        runs,
        () => stratum("--root", empty, "images"),
        () =>
          measure("skopeo", ["list-tags", "--tls-verify=false", `docker://${reg.host}/bench/one`]),
      ),
    ));

    let n = 0;
    const pulls = await alternate(runs, async () => {
      const dir = join(work, `s-${n++}`);
      const r = await stratum("--root", dir, "pull", "-q", image);
      await rm(dir, { recursive: true, force: true });
      return r;
    }, async () => {
      const dir = join(work, `k-${n++}`);
      const r = await measure("skopeo", [
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${image}`,
        `oci:${dir}:one`,
      ]);
      await rm(dir, { recursive: true, force: true });
      return r;
    });
    console.log(row("pull 1MB", pulls));
  } finally {
    await reg.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
