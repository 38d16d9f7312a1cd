/**
 * Running a command for a benchmark: its wall time and peak RSS (VmHWM from
 * /proc/PID/status, polled every 10 ms while it runs and read once more through the child
 * harness when it is stratum, so a peak just before exit is not missed).
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import process from "node:process";
import { DENO_V8_FLAGS_OPTION } from "../cli/_launch.ts";

/** What one run took. */
export interface Measured {
  /** Wall time in seconds. */
  seconds: number;
  /** Peak resident set in MB (MiB). */
  rssMb: number;
  /** Standard error, for failures and for the child's own VmHWM line. */
  stderr: string;
}

/** How `measure` runs its command. */
export interface MeasureOptions {
  /** Variables added to this process's environment (a peer's socket, say). Default none. */
  env?: Record<string, string>;
}

/**
 * Deno's arguments to run the CLI (or a harness around it) `cli` as its launchers do,
 * with `cli/_launch.ts`'s V8 flags.
 */
export function cliArgs(cli: string, ...args: string[]): string[] {
  return ["run", "-A", DENO_V8_FLAGS_OPTION, cli, ...args];
}

/** Runs `cmd args` and measures it; rejects on failure. */
export function measure(
  cmd: string,
  args: string[],
  options: MeasureOptions = {},
): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const p = spawn(cmd, args, {
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    p.stderr!.on("data", (d) => err += d);
    let peak = 0;
    const timer = setInterval(async () => {
      try {
        const s = await readFile(`/proc/${p.pid}/status`, "utf8");
        const kb = Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0);
        if (kb > peak) peak = kb;
      } catch { /* exited */ }
    }, 10);
    p.on("close", (code) => {
      clearInterval(timer);
      const seconds = (performance.now() - start) / 1000;
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${err}`));
      const own = Number(/VmHWM (\d+)\s*$/.exec(err)?.[1] ?? 0);
      resolve({ seconds, rssMb: Math.max(peak, own) / 1024, stderr: err });
    });
  });
}

/** The median of `runs` runs of `f` (by time), for start-up figures that jitter. */
export async function median(runs: number, f: () => Promise<Measured>): Promise<Measured> {
  const all: Measured[] = [];
  for (let i = 0; i < runs; i++) all.push(await f());
  all.sort((a, b) => a.seconds - b.seconds);
  return all[Math.floor(all.length / 2)];
}
