/**
 * What both RUN executors are given, and the child-process plumbing they share: output
 * streamed to the caller as it comes, abort by signal, exit status as a shell reports it.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import process from "node:process";
import type { PlannedMount } from "./_run_mounts.ts";

/** A fully resolved process to run in a prepared rootfs. */
export interface ExecSpec {
  /** The container's root (an overlay mount), on the host. */
  rootfs: string;
  /** Scratch space of this step (bundle, scripts, runtime state). */
  stepDir: string;
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  hostname: string;
  network: "host" | "none";
  mounts: PlannedMount[];
  onOutput: (chunk: Uint8Array, stream: "stdout" | "stderr") => void;
  signal?: AbortSignal;
}

/** Options for {@linkcode runProcess}. */
export interface RunProcessOptions {
  env?: Record<string, string>;
  onOutput: (chunk: Uint8Array, stream: "stdout" | "stderr") => void;
  signal?: AbortSignal;
  /** Stops the process on abort; the default kills its process group. */
  kill?: () => Promise<void>;
}

/**
 * Runs `command` with stdin on /dev/null, streaming its output; resolves with its exit
 * status (128 + signal number when a signal ended it, as a shell reports it).
 */
export function runProcess(
  command: string,
  args: string[],
  options: RunProcessOptions,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: options.env,
      detached: true,
    });
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const onAbort = () => {
      if (options.kill) options.kill().catch(killGroup);
      else killGroup();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.on("data", (c: Uint8Array) => options.onOutput(c, "stdout"));
    child.stderr.on("data", (c: Uint8Array) => options.onOutput(c, "stderr"));
    child.on("error", (e) => {
      options.signal?.removeEventListener("abort", onAbort);
      reject(new Error(`Cannot start ${command}: ${e.message}`, { cause: e }));
    });
    child.on("close", (code, signal) => {
      options.signal?.removeEventListener("abort", onAbort);
      if (code !== null) resolve(code);
      else resolve(128 + ((constants.signals as Record<string, number>)[signal ?? ""] ?? 0));
    });
  });
}

/** Quotes a word for a POSIX shell. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
