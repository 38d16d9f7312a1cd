/**
 * Build benchmark: one reference build — a 30,000-file context COPY, a RUN that touches
 * files, metadata steps — by stratum, Docker BuildKit (`DOCKER_BUILDKIT=1 docker build
 * --network=host`) and `buildah bud --layers` when installed, alternating in the same run.
 * Each rep runs four phases, in this order, every tool taking its turn in each before the
 * next phase starts (who goes first rotates between reps):
 *
 * - cold: empty cache (the base image alone loaded);
 * - warm: the same build again, nothing changed;
 * - no-cache: the same build with the cache bypassed (stratum `noCache`, `--no-cache` for
 *   the peers), the context still unchanged;
 * - one-changed: one context file rewritten, cache used again.
 *
 * Everything lives on a fresh loop-mounted ext4 made for this run (this machine's disk is
 * very noisy for file creation): the context, stratum's store, buildah's storage and a
 * private dockerd's data root (started here on its own socket, so BuildKit's snapshots are
 * on the same filesystem as stratum's; the system dockerd is not touched). Each build is a
 * child process, as a user runs it; stratum's is the CLI as `deno task stratum` runs it
 * (`deno run -A --v8-flags=… cli.ts build --root STORE -q -t TAG CONTEXT [--no-cache]`).
 *
 * Reports medians in seconds per phase and tool, the ratios stratum/peer, and the median
 * peak RSS of stratum's build process per phase: VmHWM from /proc/PID/status, polled every
 * 10 ms (`_measure.ts`); RUN's runc is not counted. BuildKit has no comparable figure: its work happens inside dockerd, a
 * long-lived daemon whose peak spans every build, and the `docker` client only uploads the
 * context. Ends with the two goals of issue #12: stratum's peak RSS at most 150 MiB in
 * every phase, and stratum/buildkit at most 0.8 in every phase.
 *
 * Run as root: `deno run -A bench/build_bench.ts [--reps N] [--files N]` (defaults 3 and
 * 30000), or `deno task bench build`.
 *
 * @module
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadArchive, openStore } from "../storage/mod.ts";
import { referenceDockerfile } from "./_build_fixture.ts";
import { cliArgs, measure, type Measured } from "./_measure.ts";

const DOCKER = "/usr/bin/docker";
const TAG = "stratum-bench/app:1";
const BASE = "stratum-bench/base:1";

const DOCKERFILE = referenceDockerfile(BASE);
const PHASES = ["cold", "warm", "no-cache", "one-changed"] as const;
/** Issue #12's goals: stratum's time over BuildKit's, and stratum's peak RSS. */
const GOAL_RATIO = 0.8;
const GOAL_RSS_MIB = 150;

function run(cmd: string, args: string[], env: Record<string, string> = {}): string {
  return execFileSync(cmd, args, {
    encoding: "utf8",
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 << 20,
  });
}

/** Runs a command after flushing the disk (so no tool pays for another's writes). */
function timed(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Measured> {
  execFileSync("sync");
  return measure(cmd, args, { env });
}

interface Tool {
  name: string;
  /** Makes the cache empty (untimed). */
  reset(): Promise<void>;
  /** One build, measured; `noCache` bypasses the tool's build cache. */
  build(noCache: boolean): Promise<Measured>;
}

async function startDockerd(
  root: string,
): Promise<{ env: Record<string, string>; stop(): Promise<void> }> {
  const sock = join(root, "docker.sock");
  const child = spawn("dockerd", [
    "--data-root",
    join(root, "data"),
    "--exec-root",
    join(root, "exec"),
    "-H",
    `unix://${sock}`,
    "--pidfile",
    join(root, "docker.pid"),
    "--iptables=false",
    "--bridge=none",
  ], { stdio: ["ignore", "ignore", "ignore"] });
  const env = { DOCKER_HOST: `unix://${sock}`, DOCKER_BUILDKIT: "1" };
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  };
  for (let i = 0; i < 60; i++) {
    if (
      spawnSync(DOCKER, ["info"], { env: { ...process.env, ...env }, stdio: "ignore" }).status === 0
    ) {
      return { env, stop };
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  await stop();
  throw new Error("The private dockerd did not answer within 30 s");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      reps: { type: "string", default: "3" },
      files: { type: "string", default: "30000" },
    },
  });
  const reps = Number(values.reps);
  const fileCount = Number(values.files);
  if (process.getuid?.() !== 0) {
    console.log("build_bench: needs root (loop mount, private dockerd, RUN); skipped");
    return;
  }
  const work = await mkdtemp(join(tmpdir(), "stratum-build-bench-"));
  const image = join(work, "fs.img");
  const mnt = join(work, "mnt");
  let mounted = false;
  const cleanups: (() => Promise<void>)[] = [];
  try {
    await mkdir(mnt);
    run("truncate", ["-s", "24G", image]);
    run("mkfs.ext4", ["-q", "-F", image]);
    run("mount", ["-o", "loop", image, mnt]);
    mounted = true;

    // The context: 300 directories of 100 small files, varied sizes.
    const ctx = join(mnt, "ctx");
    for (let d = 0; d < Math.ceil(fileCount / 100); d++) {
      const sub = join(ctx, "files", `d${d}`);
      await mkdir(sub, { recursive: true });
      for (let f = 0; f < 100 && d * 100 + f < fileCount; f++) {
        await writeFile(join(sub, `f${f}.txt`), `file ${d}/${f}\n`.repeat(1 + ((d * 7 + f) % 40)));
      }
    }
    await writeFile(join(ctx, "Dockerfile"), DOCKERFILE);
    const changedFile = join(ctx, "files", `d${Math.floor(fileCount / 200)}`, "f50.txt");

    // The base image, built by BuildKit from Debian's busybox-static, saved for the others.
    const baseDir = join(mnt, "base");
    await mkdir(baseDir);
    await copyFile("/bin/busybox", join(baseDir, "busybox"));
    await writeFile(
      join(baseDir, "Dockerfile"),
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n',
    );
    const dockerd = await startDockerd(join(mnt, "docker"));
    cleanups.push(dockerd.stop);
    run(DOCKER, ["build", "--network=host", "-q", "-t", BASE, baseDir], dockerd.env);
    const baseTar = join(mnt, "base.tar");
    run(DOCKER, ["save", "-o", baseTar, BASE], dockerd.env);

    const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
    let storeN = 0;
    let storeRoot = "";
    const tools: Tool[] = [
      {
        name: "stratum",
        async reset() {
          if (storeRoot) await rm(storeRoot, { recursive: true, force: true });
          storeRoot = join(mnt, `stratum-${storeN++}`);
          const store = await openStore(storeRoot);
          await loadArchive(store, new Blob([new Uint8Array(await readFile(baseTar))]).stream());
        },
        build: (noCache) =>
          timed(process.execPath, [
            ...cliArgs(cli),
            "build",
            "--root",
            storeRoot,
            "-q",
            "-t",
            TAG,
            ...(noCache ? ["--no-cache"] : []),
            ctx,
          ]),
      },
      {
        name: "buildkit",
        reset() {
          spawnSync(DOCKER, ["rmi", "-f", TAG], { env: { ...process.env, ...dockerd.env } });
          run(DOCKER, ["builder", "prune", "-af"], dockerd.env);
          return Promise.resolve();
        },
        build: (noCache) =>
          timed(
            DOCKER,
            ["build", "--network=host", "-q", ...(noCache ? ["--no-cache"] : []), "-t", TAG, ctx],
            dockerd.env,
          ),
      },
    ];
    if (existsSync("/usr/bin/buildah")) {
      const root = join(mnt, "buildah");
      const g = [
        "--root",
        join(root, "root"),
        "--runroot",
        join(root, "run"),
        "--storage-driver",
        "overlay",
      ];
      tools.push({
        name: "buildah",
        reset() {
          spawnSync("buildah", [...g, "rm", "--all"]);
          spawnSync("buildah", [...g, "rmi", "--all", "--force"]);
          run("buildah", [...g, "pull", "-q", `docker-archive:${baseTar}`]);
          run("buildah", [
            ...g,
            "tag",
            run("buildah", [...g, "images", "-q"]).trim().split("\n")[0],
            BASE,
          ]);
          return Promise.resolve();
        },
        build: (noCache) =>
          timed("buildah", [
            ...g,
            "bud",
            "--layers",
            "--network=host",
            "-q",
            ...(noCache ? ["--no-cache"] : []),
            "-t",
            TAG,
            ctx,
          ]),
      });
    }

    const seconds: Record<string, Record<string, number[]>> = {};
    const rssMib: Record<string, number[]> = {};
    const record = async (t: Tool, phase: string, noCache = false) => {
      const m = await t.build(noCache);
      ((seconds[t.name] ??= {})[phase] ??= []).push(m.seconds);
      let line = `  ${phase.padEnd(12)} ${t.name.padEnd(9)} ${m.seconds.toFixed(2)} s`;
      if (t.name === "stratum") {
        (rssMib[phase] ??= []).push(m.rssMb);
        line += `  peak RSS ${m.rssMb.toFixed(0)} MiB`;
      }
      console.log(line);
    };
    for (let rep = 0; rep < reps; rep++) {
      console.log(`rep ${rep + 1}/${reps}`);
      // Rotate who goes first so no tool always runs on a just-written disk.
      const order = tools.map((_, i) => tools[(i + rep) % tools.length]);
      for (const t of order) await t.reset();
      for (const t of order) await record(t, "cold");
      for (const t of order) await record(t, "warm");
      // Before the file changes, so the forced rebuild sees the context the cache holds.
      for (const t of order) await record(t, "no-cache", true);
      await writeFile(changedFile, `changed in rep ${rep}\n`);
      for (const t of order) await record(t, "one-changed");
    }

    console.log(`\nbuild bench: ${fileCount} files, medians of ${reps} (seconds; RSS in MiB)`);
    const peers = tools.slice(1).map((t) => t.name);
    console.log(
      [
        "phase".padEnd(12),
        ...tools.map((t) => t.name.padStart(9)),
        ...peers.map((p) => `stratum/${p}`.padStart(17)),
        "stratum RSS".padStart(12),
      ].join(" "),
    );
    const ratios: Record<string, number> = {};
    const rss: Record<string, number> = {};
    for (const phase of PHASES) {
      const m = Object.fromEntries(tools.map((t) => [t.name, median(seconds[t.name][phase])]));
      ratios[phase] = m.stratum / m.buildkit;
      rss[phase] = median(rssMib[phase]);
      console.log([
        phase.padEnd(12),
        ...tools.map((t) => m[t.name].toFixed(2).padStart(9)),
        ...peers.map((p) => (m.stratum / m[p]).toFixed(2).padStart(17)),
        rss[phase].toFixed(0).padStart(12),
      ].join(" "));
    }
    const worst = PHASES.reduce((a, b) => rss[b] > rss[a] ? b : a);
    const highest = Math.max(...PHASES.flatMap((p) => rssMib[p]));
    console.log(
      `stratum peak RSS: median at most ${rss[worst].toFixed(0)} MiB (${worst}), ` +
        `highest single build ${highest.toFixed(0)} MiB; <= ${GOAL_RSS_MIB} MiB in every phase: ` +
        (rss[worst] <= GOAL_RSS_MIB ? "met" : "missed"),
    );
    const missed = PHASES.filter((p) => ratios[p] > GOAL_RATIO);
    const listed = (missed.length ? missed : PHASES)
      .map((p) => `${p} ${ratios[p].toFixed(2)}`).join(", ");
    console.log(
      `goal: stratum/buildkit <= ${GOAL_RATIO} in every phase: ` +
        `${missed.length ? "missed" : "met"} (phases ${listed})`,
    );
  } finally {
    for (const c of cleanups.reverse()) await c().catch((e) => console.error(String(e)));
    if (mounted) {
      for (let i = 0; i < 10; i++) {
        if (spawnSync("umount", [mnt]).status === 0) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    await rm(work, { recursive: true, force: true });
  }
}

await main();
