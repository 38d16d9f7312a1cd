/**
 * A/B build benchmark: the reference build of `build_bench.ts` (a COPY of a 30,000-file
 * context onto a busybox base, a RUN that touches files, metadata steps) by two checkouts
 * of stratum — say `git worktree add --detach ../old c2422ab` against this one — cold,
 * warm and with one context file changed, per step (from the build's `progress` events)
 * and in total.
 *
 * Each round makes a fresh loop-mounted ext4 (this machine's disk is noisy for file
 * creation), writes the context on it and runs both checkouts on it, each with its own
 * store, the order alternating between rounds. Each build is a child process, run with
 * the checkout's own `deno.json`. Reports per-step medians and the ratios B/A, and the
 * CPU time (user + system) of the whole build with its children (runc, mount): on a
 * machine shared with other work, wall times swing with the load, CPU time much less.
 *
 * Run as root:
 * `deno run -A bench/build_ab.ts OLD_REPO NEW_REPO [--rounds 4] [--files 30000] [--cpu-prof DIR]`
 * (`--cpu-prof` writes a V8 profile of every cold build into DIR/<a|b>-<round>/).
 *
 * @module
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { referenceDockerfile } from "./_build_fixture.ts";

const DOCKER = "/usr/bin/docker";
const TAG = "stratum-ab/app:1";
const BASE = "stratum-ab/base:1";
const RESULT = "build_ab:";

const DOCKERFILE = referenceDockerfile(BASE);

interface Event {
  type: string;
  id?: number;
  name?: string;
  durationMs?: number;
}

/** In the child: loads the base into a new store (untimed) or builds, printing step times. */
async function child(repo: string, what: string, storeRoot: string, arg: string) {
  const url = (p: string) => pathToFileURL(join(repo, p)).href;
  const storage = await import(url("storage/mod.ts"));
  const store = await storage.openStore(storeRoot);
  if (what === "load") {
    const { readFile } = await import("node:fs/promises");
    await storage.loadArchive(store, new Blob([new Uint8Array(await readFile(arg))]).stream());
    return;
  }
  const { build } = await import(url("builder/mod.ts"));
  // How the CLI has the context read, where the checkout says.
  const cliContext = await import(url("cli/build.ts"));
  const contextFs = cliContext.runtimeContextFs?.();
  const names = new Map<number, string>();
  const steps: Record<string, number> = {};
  const t = performance.now();
  await build({
    store,
    storeRoot,
    contextDir: arg,
    contextFs,
    tags: [TAG],
    progress: (e: Event) => {
      if (e.type === "start") names.set(e.id!, e.name!);
      if (e.type === "done") {
        // "[3/7] COPY files/ /app/files/" -> "COPY"; internal steps keep their name.
        const name = names.get(e.id!) ?? `#${e.id}`;
        const m = /^\[[^\]]*\] (\S+)/.exec(name);
        const key = m && !name.startsWith("[internal]") ? m[1] : name;
        steps[key] = (steps[key] ?? 0) + e.durationMs!;
      }
    },
  });
  steps.total = performance.now() - t;
  steps.cpu = cpuMs();
  console.log(RESULT + JSON.stringify(steps));
}

/** CPU time of this process and its reaped children (runc, mount...), in ms. */
function cpuMs(): number {
  // /proc/self/stat: fields after the command name; utime, stime, cutime, cstime are 14-17.
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = [11, 12, 13, 14].reduce((n, i) => n + Number(f[i]), 0);
  return ticks * 10; // USER_HZ is 100 on Linux.
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Runs one child of checkout `repo`; returns its step times (ms) for a build. */
function spawnChild(
  repo: string,
  args: string[],
  cpuProf?: string,
): Record<string, number> {
  execFileSync("sync");
  const flags = ["run", "-A", "--config", join(repo, "deno.json")];
  if (cpuProf) {
    mkdirSync(cpuProf, { recursive: true });
    flags.push("--cpu-prof", `--cpu-prof-dir=${cpuProf}`);
  }
  const self = fileURLToPath(import.meta.url);
  const t = performance.now();
  const r = spawnSync(process.execPath, [...flags, self, "--child", repo, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 << 20,
  });
  const wall = performance.now() - t;
  if (r.status !== 0) throw new Error(`child ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
  const line = r.stdout.split("\n").find((l) => l.startsWith(RESULT));
  return line ? { ...JSON.parse(line.slice(RESULT.length)), wall } : { wall };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      rounds: { type: "string", default: "4" },
      files: { type: "string", default: "30000" },
      "cpu-prof": { type: "string" },
    },
  });
  if (positionals.length !== 2) {
    throw new TypeError("usage: build_ab.ts OLD_REPO NEW_REPO [--rounds N] [--files N]");
  }
  if (process.getuid?.() !== 0) {
    console.log("build_ab: needs root (loop mount, RUN); skipped");
    return;
  }
  const repos = positionals.map((p) => resolve(p));
  const labels = ["a", "b"];
  const rounds = Number(values.rounds);
  const fileCount = Number(values.files);
  const work = await mkdtemp(join(tmpdir(), "stratum-build-ab-"));
  const mnt = join(work, "mnt");
  await mkdir(mnt);
  // times[label][phase][step] = ms per round
  const times: Record<string, Record<string, Record<string, number[]>>> = {};
  try {
    // The base image, built once by the machine's dockerd from Debian's busybox-static.
    const baseDir = join(work, "base");
    await mkdir(baseDir);
    await copyFile("/bin/busybox", join(baseDir, "busybox"));
    await writeFile(
      join(baseDir, "Dockerfile"),
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n',
    );
    run(DOCKER, ["build", "--network=host", "-q", "-t", BASE, baseDir]);
    const baseTar = join(work, "base.tar");
    run(DOCKER, ["save", "-o", baseTar, BASE]);

    for (let round = 0; round < rounds; round++) {
      const image = join(work, "fs.img");
      run("truncate", ["-s", "8G", image]);
      run("mkfs.ext4", ["-q", "-F", image]);
      run("mount", ["-o", "loop", image, mnt]);
      try {
        const ctx = join(mnt, "ctx");
        for (let d = 0; d < Math.ceil(fileCount / 100); d++) {
          const sub = join(ctx, "files", `d${d}`);
          mkdirSync(sub, { recursive: true });
          for (let f = 0; f < 100 && d * 100 + f < fileCount; f++) {
            writeFileSync(
              join(sub, `f${f}.txt`),
              `file ${d}/${f}\n`.repeat(1 + ((d * 7 + f) % 40)),
            );
          }
        }
        writeFileSync(join(ctx, "Dockerfile"), DOCKERFILE);
        const changed = join(ctx, "files", `d${Math.floor(fileCount / 200)}`, "f50.txt");
        const original = "original\n";
        const order = round % 2 === 0 ? [0, 1] : [1, 0];
        console.log(`round ${round + 1}/${rounds}`);
        for (const i of order) {
          const repo = repos[i];
          const label = labels[i];
          const store = join(mnt, `store-${label}`);
          writeFileSync(changed, original);
          spawnChild(repo, ["load", store, baseTar]);
          const prof = values["cpu-prof"] && join(values["cpu-prof"], `${label}-${round}`);
          for (const phase of ["cold", "warm", "one-changed"]) {
            if (phase === "one-changed") writeFileSync(changed, `changed in round ${round}\n`);
            const steps = spawnChild(repo, ["build", store, ctx], phase === "cold" ? prof : "");
            for (const [k, ms] of Object.entries(steps)) {
              (((times[label] ??= {})[phase] ??= {})[k] ??= []).push(ms);
            }
            const detail = ["COPY", "RUN"].filter((k) => k in steps)
              .map((k) => `${k} ${(steps[k] / 1000).toFixed(2)}`).join(" ");
            console.log(
              `  ${label} ${phase.padEnd(11)} ${(steps.total / 1000).toFixed(2)} s  ${detail}` +
                `  cpu ${(steps.cpu / 1000).toFixed(2)} s`,
            );
          }
        }
      } finally {
        for (let i = 0; i < 10; i++) {
          if (spawnSync("umount", [mnt]).status === 0) break;
          await new Promise((r) => setTimeout(r, 1000));
        }
        await rm(image, { force: true });
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  console.log(`\nbuild A/B: ${fileCount} files, medians of ${rounds} rounds (seconds)`);
  console.log(`a = ${repos[0]}\nb = ${repos[1]}`);
  console.log(["phase".padEnd(12), "step".padEnd(8), "a".padStart(7), "b".padStart(7), "b/a"]
    .join(" "));
  for (const phase of ["cold", "warm", "one-changed"]) {
    const steps = Object.keys(times.a?.[phase] ?? {}).filter((k) => times.b?.[phase]?.[k]);
    // Total first, then the steps that take time.
    const first = ["total", "cpu", "COPY", "RUN"];
    const shown = [...first, ...steps.filter((s) => ![...first, "wall"].includes(s))]
      .filter((s) => steps.includes(s));
    for (const s of shown) {
      const a = median(times.a[phase][s]);
      const b = median(times.b[phase][s]);
      if (s !== "total" && s !== "cpu" && a < 50 && b < 50) continue;
      console.log([
        phase.padEnd(12),
        s.slice(0, 8).padEnd(8),
        (a / 1000).toFixed(2).padStart(7),
        (b / 1000).toFixed(2).padStart(7),
        (b / a).toFixed(2).padStart(5),
      ].join(" "));
    }
  }
}

const childAt = process.argv.indexOf("--child");
if (childAt >= 0) {
  const [repo, what, store, arg] = process.argv.slice(childAt + 1);
  await child(repo, what, store, arg);
} else {
  await main();
}
