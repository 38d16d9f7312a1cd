/**
 * Push and pull throughput of `stratum serve` against the CNCF registry (Debian's
 * `docker-registry`), both on 127.0.0.1 over a temporary disk store, with the same client
 * (skopeo) in the same run. Images are seeded random multi-layer OCI images (uncompressed
 * layers; `--preserve-digests` so skopeo moves the bytes as they are).
 *
 * Run: `deno run -A bench/serve_bench.ts [--images 3] [--layers 4] [--layer-mib 8] [--rounds 2]`
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs, promisify } from "node:util";
import { sha256 } from "../digest/mod.ts";
import { MediaType } from "../image/mod.ts";
import { serveRegistry } from "../server/mod.ts";
import { openStore, putBytes } from "../storage/mod.ts";

const run = promisify(execFile);
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    images: { type: "string", default: "3" },
    layers: { type: "string", default: "4" },
    "layer-mib": { type: "string", default: "8" },
    rounds: { type: "string", default: "2" },
  },
});
const IMAGES = Number(values.images);
const LAYERS = Number(values.layers);
const LAYER_BYTES = Number(values["layer-mib"]) << 20;
const ROUNDS = Number(values.rounds);

async function seed(dir: string): Promise<{ names: string[]; bytes: number }> {
  const store = await openStore(dir);
  const names: string[] = [];
  let bytes = 0;
  for (let i = 0; i < IMAGES; i++) {
    const layers = [];
    for (let l = 0; l < LAYERS; l++) {
      const data = new Uint8Array(randomBytes(LAYER_BYTES));
      layers.push({ mediaType: MediaType.OCI_LAYER, ...(await putBytes(store.blobs, data)) });
      bytes += data.length;
    }
    const config = new TextEncoder().encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
    }));
    await putBytes(store.blobs, config);
    const manifest = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: {
        mediaType: MediaType.OCI_CONFIG,
        digest: await sha256(config),
        size: config.length,
      },
      layers,
    }));
    const { digest } = await putBytes(store.blobs, manifest);
    const name = `localhost/bench/img${i}:1`;
    await store.tags.set(name, {
      mediaType: MediaType.OCI_MANIFEST,
      digest,
      size: manifest.length,
    });
    names.push(name);
  }
  return { names, bytes };
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return await new Promise((ok) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

async function startDistribution(dir: string): Promise<{ host: string; stop: () => void }> {
  const port = await freePort();
  await mkdir(dir, { recursive: true });
  const config = join(dir, "config.yml");
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${
      join(dir, "data")
    }\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn("/usr/bin/docker-registry", ["serve", config], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) break;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, stop: () => child.kill("SIGTERM") };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

async function pushAll(src: string, names: string[], host: string, tag: string): Promise<void> {
  for (const name of names) {
    const repo = name.slice("localhost/".length).replace(/:1$/, "");
    await run("skopeo", [
      "copy",
      "--preserve-digests",
      "--dest-tls-verify=false",
      `oci:${src}:${name}`,
      `docker://${host}/${repo}:${tag}`,
    ]);
  }
}

async function pullAll(names: string[], host: string, tag: string, out: string): Promise<void> {
  for (const [i, name] of names.entries()) {
    const repo = name.slice("localhost/".length).replace(/:1$/, "");
    await run("skopeo", [
      "copy",
      "--preserve-digests",
      "--src-tls-verify=false",
      `docker://${host}/${repo}:${tag}`,
      `oci:${out}:img${i}`,
    ]);
  }
}

const work = await mkdtemp(join(tmpdir(), "stratum-serve-bench-"));
try {
  const src = join(work, "src");
  const { names, bytes } = await seed(src);
  const ours = await serveRegistry({
    store: await openStore(join(work, "stratum")),
    addr: "127.0.0.1:0",
  });
  const theirs = await startDistribution(join(work, "distribution"));
  const targets = [
    { label: "stratum serve", host: `127.0.0.1:${ours.port}` },
    { label: "docker-registry", host: theirs.host },
  ];
  const totals = new Map<string, { push: number; pull: number }>();
  for (const t of targets) totals.set(t.label, { push: 0, pull: 0 });
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate who goes first so page-cache warmth does not favour one side.
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      const tag = `r${round}`;
      const out = join(work, `out-${t.label.replace(/\W/g, "")}-${round}`);
      const push = await timed(() => pushAll(src, names, t.host, tag));
      const pull = await timed(() => pullAll(names, t.host, tag, out));
      await rm(out, { recursive: true, force: true });
      const sum = totals.get(t.label)!;
      sum.push += push;
      sum.pull += pull;
    }
  }
  const mib = (bytes * ROUNDS) / (1 << 20);
  console.log(
    `${IMAGES} images x ${LAYERS} layers x ${LAYER_BYTES >> 20} MiB, ${ROUNDS} rounds, skopeo ` +
      `(one process per image), disk stores under ${tmpdir()}`,
  );
  for (const [label, t] of totals) {
    console.log(
      `${label.padEnd(16)} push ${(mib / t.push).toFixed(1).padStart(7)} MiB/s   pull ${
        (mib / t.pull).toFixed(1).padStart(7)
      } MiB/s`,
    );
  }
  const a = totals.get("stratum serve")!;
  const b = totals.get("docker-registry")!;
  console.log(
    `ratio stratum/docker-registry: push ${(b.push / a.push).toFixed(2)}x, pull ${
      (b.pull / a.pull).toFixed(2)
    }x (above 1 means stratum is faster)`,
  );
  await ours.close();
  theirs.stop();
} finally {
  await rm(work, { recursive: true, force: true });
}
