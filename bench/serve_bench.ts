/**
 * Registry server throughput and memory: `stratum serve` against the CNCF registry
 * (Debian's `docker-registry`), each a process of its own on 127.0.0.1 over a fresh disk
 * store per round, the two alternating within every round (who goes first alternates too).
 * Per round and server: `skopeo copy` pushes an image with one big layer (552 MiB of
 * random bytes by default) into it, then `curl` GETs that blob `--gets` times. The figures
 * are ratios of throughput (above 1: stratum is faster) and each server's peak RSS (VmHWM of
 * the server process after the round), with medians over the rounds; the machine may be
 * shared, so look at the ratios rather than the absolute times. stratum's idle RSS (VmRSS
 * right after start-up, before any request) is printed as the runtime's floor.
 *
 *   deno task bench serve   (or: deno run -A bench/serve_bench.ts [--mb 552] [--rounds 3] [--gets 4])
 *
 * @module
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { openStore, readBlob } from "../storage/mod.ts";
import { freePort } from "../tests/_cncf_registry.ts";
import { writeBigImage } from "../tests/_big_image.ts";
import { cliArgs } from "./_measure.ts";

const run = promisify(execFile);
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    mb: { type: "string", default: "552" },
    rounds: { type: "string", default: "3" },
    gets: { type: "string", default: "4" },
  },
});
const MB = Number(values.mb);
const ROUNDS = Number(values.rounds);
const GETS = Number(values.gets);
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));

/** A server under test, started on a fresh store. */
interface Server {
  host: string;
  pid: number;
  stop(): Promise<void>;
}

/** What one round measured of one server. */
interface Round {
  pushS: number;
  /** Median of the GETs' seconds. */
  getS: number;
  /** CPU seconds (user + system, all threads) the server spent on the push. */
  pushCpu: number;
  /** CPU seconds the server spent per GET (the mean). */
  getCpu: number;
  hwmMb: number;
  idleMb: number;
}

async function procKb(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
}

/** CPU seconds (user + system, all threads) `pid` has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the ")" that ends the command name; utime and stime are the 14th and 15th.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function waitUp(host: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${log()}`);
    try {
      const res = await fetch(`http://${host}/v2/`);
      await res.body?.cancel();
      return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`server on ${host} did not come up: ${log()}`);
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    const closed = new Promise((r) => child.once("close", r));
    child.kill("SIGTERM");
    await closed;
  };
}

async function startStratum(dir: string): Promise<Server> {
  const host = `127.0.0.1:${await freePort()}`;
  const child = spawn(
    process.execPath,
    cliArgs(CLI, "--root", dir, "serve", "--addr", host),
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  child.stderr!.on("data", (d) => err = (err + d).slice(-4000));
  await waitUp(host, child, () => err);
  return { host, pid: child.pid!, stop: stopper(child) };
}

async function startDistribution(dir: string): Promise<Server> {
  const host = `127.0.0.1:${await freePort()}`;
  await mkdir(dir, { recursive: true });
  const config = join(dir, "config.yml");
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${
      join(dir, "data")
    }\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}\n`,
  );
  const child = spawn("/usr/bin/docker-registry", ["serve", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d) => err = (err + d).slice(-4000));
  await waitUp(host, child, () => err);
  return { host, pid: child.pid!, stop: stopper(child) };
}

async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function oneRound(
  start: (dir: string) => Promise<Server>,
  dir: string,
  image: string,
  layer: { digest: string; size: number },
): Promise<Round> {
  const server = await start(dir);
  try {
    // Let start-up settle (module loading, the first GC) before reading the idle floor.
    await new Promise((r) => setTimeout(r, 300));
    const idleMb = (await procKb(server.pid, "VmRSS")) / 1024;
    const cpu0 = await cpuSeconds(server.pid);
    const pushS = await seconds(() =>
      run("skopeo", [
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
        image,
        `docker://${server.host}/bench/big:1`,
      ])
    );
    const cpu1 = await cpuSeconds(server.pid);
    const gets: number[] = [];
    for (let i = 0; i < GETS; i++) {
      const { stdout } = await run("curl", [
        "-sf",
        "-o",
        "/dev/null",
        "-w",
        "%{time_total} %{size_download}",
        `http://${server.host}/v2/bench/big/blobs/${layer.digest}`,
      ]);
      const [t, size] = stdout.trim().split(" ").map(Number);
      if (size !== layer.size) throw new Error(`GET returned ${size} bytes`);
      gets.push(t);
    }
    const getCpu = (await cpuSeconds(server.pid) - cpu1) / GETS;
    const hwmMb = (await procKb(server.pid, "VmHWM")) / 1024;
    return { pushS, getS: median(gets), pushCpu: cpu1 - cpu0, getCpu, hwmMb, idleMb };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const work = await mkdtemp(join(tmpdir(), "stratum-serve-bench-"));
try {
  const src = join(work, "src");
  await writeBigImage(src, "big:1", MB << 20);
  const store = await openStore(src);
  const record = (await store.tags.list())[0];
  const manifest = JSON.parse(
    new TextDecoder().decode(await readBlob(store.blobs, record.descriptor.digest)),
  );
  const layer: { digest: string; size: number } = manifest.layers[0];
  const layerBytes = layer.size;
  const image = `oci:${src}:${record.name}`;
  const rounds: { stratum: Round; distribution: Round }[] = [];
  console.log(
    `one layer of ${(layerBytes / 2 ** 20).toFixed(0)} MiB (random), ${ROUNDS} rounds, ` +
      `push: skopeo copy; GET: curl x${GETS} (median); fresh store per round under ${tmpdir()}; ` +
      `load average ${(await readFile("/proc/loadavg", "utf8")).split(" ")[0]}`,
  );
  for (let r = 0; r < ROUNDS; r++) {
    const ours = () => oneRound(startStratum, join(work, `s${r}`), image, layer);
    const theirs = () => oneRound(startDistribution, join(work, `d${r}`), image, layer);
    let stratum: Round;
    let distribution: Round;
    if (r % 2 === 0) {
      stratum = await ours();
      distribution = await theirs();
    } else {
      distribution = await theirs();
      stratum = await ours();
    }
    rounds.push({ stratum, distribution });
    const mibs = (s: number) => (layerBytes / 2 ** 20 / s).toFixed(0).padStart(5);
    const x = (a: number, b: number) => `x${(a / b).toFixed(2)}`;
    console.log(
      `round ${r + 1}: push ${mibs(stratum.pushS)} vs ${mibs(distribution.pushS)} MiB/s ` +
        `(${x(distribution.pushS, stratum.pushS)}), GET ${mibs(stratum.getS)} vs ${
          mibs(distribution.getS)
        } MiB/s (${x(distribution.getS, stratum.getS)}); server CPU push ${
          stratum.pushCpu.toFixed(2)
        } vs ${distribution.pushCpu.toFixed(2)} s, GET ${stratum.getCpu.toFixed(2)} vs ${
          distribution.getCpu.toFixed(2)
        } s; peak RSS ${stratum.hwmMb.toFixed(0)} vs ${
          distribution.hwmMb.toFixed(0)
        } MiB, stratum idle ${stratum.idleMb.toFixed(0)} MiB`,
    );
  }
  const med = (f: (x: { stratum: Round; distribution: Round }) => number) => median(rounds.map(f));
  console.log(
    `median stratum/docker-registry throughput: push x${
      med((x) => x.distribution.pushS / x.stratum.pushS).toFixed(2)
    }, GET x${
      med((x) => x.distribution.getS / x.stratum.getS).toFixed(2)
    } (above 1: stratum faster)`,
  );
  console.log(
    `median server CPU seconds docker-registry/stratum: push x${
      med((x) => x.distribution.pushCpu / x.stratum.pushCpu).toFixed(2)
    }, GET x${
      med((x) => x.distribution.getCpu / x.stratum.getCpu).toFixed(2)
    } (above 1: stratum uses less; other load bends it less than wall time)`,
  );
  console.log(
    `median peak RSS: stratum serve ${med((x) => x.stratum.hwmMb).toFixed(0)} MiB, ` +
      `docker-registry ${med((x) => x.distribution.hwmMb).toFixed(0)} MiB; ` +
      `stratum serve idle ${med((x) => x.stratum.idleMb).toFixed(0)} MiB (the runtime's floor)`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
