/**
 * Build benchmark: one reference build — a 30,000-file context COPY, a RUN that touches
 * files, metadata steps — cold (empty cache), warm (no change) and with one context file
 * changed, by stratum, Docker BuildKit (`DOCKER_BUILDKIT=1 docker build --network=host`)
 * and `buildah bud --layers` when installed, alternating in the same run.
 *
 * Everything lives on a fresh loop-mounted ext4 made for this run (this machine's disk is
 * very noisy for file creation): the context, stratum's store, buildah's storage and a
 * private dockerd's data root (started here on its own socket, so BuildKit's snapshots are
 * on the same filesystem as stratum's). Each build is a child process, as a user runs it;
 * stratum's is `deno run -A bench/build_bench.ts --child-build STORE CONTEXT`, what
 * `stratum build` does. Reports medians and the ratios stratum/peer per phase.
 *
 * Run as root: `deno run -A bench/build_bench.ts [--reps N] [--files N]`.
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
import { build } from "../builder/mod.ts";
import { loadArchive, openStore } from "../storage/mod.ts";
import { referenceDockerfile } from "./_build_fixture.ts";

const DOCKER = "/usr/bin/docker";
const TAG = "stratum-bench/app:1";
const BASE = "stratum-bench/base:1";

const DOCKERFILE = referenceDockerfile(BASE);

async function childBuild(storeRoot: string, contextDir: string): Promise<void> {
  const store = await openStore(storeRoot);
  await build({ store, storeRoot, contextDir, tags: [TAG] });
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): string {
  return execFileSync(cmd, args, {
    encoding: "utf8",
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 << 20,
  });
}

/** Runs a command and returns its wall time in ms; throws with its stderr on failure. */
function timed(cmd: string, args: string[], env: Record<string, string> = {}): number {
  execFileSync("sync");
  const t = performance.now();
  const r = spawnSync(cmd, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
    maxBuffer: 64 << 20,
  });
  const ms = performance.now() - t;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${r.status}:\n${r.stderr}`);
  }
  return ms;
}

interface Tool {
  name: string;
  /** Makes the cache empty (untimed). */
  reset(): Promise<void>;
  /** One build, timed. */
  build(): number;
  close?(): Promise<void>;
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

    const self = fileURLToPath(import.meta.url);
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
        build: () => timed(process.execPath, ["run", "-A", self, "--child-build", storeRoot, ctx]),
      },
      {
        name: "buildkit",
        reset() {
          spawnSync(DOCKER, ["rmi", "-f", TAG], { env: { ...process.env, ...dockerd.env } });
          run(DOCKER, ["builder", "prune", "-af"], dockerd.env);
          return Promise.resolve();
        },
        build: () => timed(DOCKER, ["build", "--network=host", "-q", "-t", TAG, ctx], dockerd.env),
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
        build: () =>
          timed("buildah", [...g, "bud", "--layers", "--network=host", "-q", "-t", TAG, ctx]),
      });
    }

    const times: Record<string, Record<string, number[]>> = {};
    const record = (tool: string, phase: string, ms: number) => {
      ((times[tool] ??= {})[phase] ??= []).push(ms);
      console.log(`  ${phase.padEnd(12)} ${tool.padEnd(9)} ${(ms / 1000).toFixed(2)} s`);
    };
    for (let rep = 0; rep < reps; rep++) {
      console.log(`rep ${rep + 1}/${reps}`);
      // Rotate who goes first so no tool always runs on a just-written disk.
      const order = tools.map((_, i) => tools[(i + rep) % tools.length]);
      for (const t of order) await t.reset();
      for (const t of order) record(t.name, "cold", t.build());
      for (const t of order) record(t.name, "warm", t.build());
      await writeFile(changedFile, `changed in rep ${rep}\n`);
      for (const t of order) record(t.name, "one-changed", t.build());
    }

    console.log(`\nbuild bench: ${fileCount} files, medians of ${reps} (seconds)`);
    const peers = tools.slice(1).map((t) => t.name);
    console.log(
      [
        "phase".padEnd(12),
        ...tools.map((t) => t.name.padStart(9)),
        ...peers.map((p) => `stratum/${p}`.padStart(17)),
      ].join(" "),
    );
    for (const phase of ["cold", "warm", "one-changed"]) {
      const m = Object.fromEntries(tools.map((t) => [t.name, median(times[t.name][phase])]));
      console.log([
        phase.padEnd(12),
        ...tools.map((t) => (m[t.name] / 1000).toFixed(2).padStart(9)),
        ...peers.map((p) => (m.stratum / m[p]).toFixed(2).padStart(17)),
      ].join(" "));
    }
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

const childAt = process.argv.indexOf("--child-build");
if (childAt >= 0) {
  await childBuild(process.argv[childAt + 1], process.argv[childAt + 2]);
} else {
  await main();
}
