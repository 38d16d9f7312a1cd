/**
 * Finding the real peer tools (docker, skopeo, umoci, docker-registry...) that interop
 * tests run against. A missing peer skips the test with a printed reason, except under
 * CI (`CI=true`), where it is a failure.
 */
import { execFileSync, spawnSync } from "node:child_process";
import process from "node:process";

/** True when running under CI, where missing peers fail instead of skipping. */
export const underCI: boolean = process.env.CI === "true";

/** The absolute path of `name` on PATH, or null. */
export function which(name: string): string | null {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** True when a Docker daemon answers `docker info`. */
export function dockerRunning(): boolean {
  if (!which("docker")) return false;
  try {
    execFileSync("docker", ["info", "--format", "{{.ServerVersion}}"], {
      stdio: "pipe",
      timeout: 10_000,
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * For `test(name, { skip: missingPeers(...) }, fn)`: false when every tool is present,
 * else the reason to skip (printed). Under CI a missing peer throws, failing the file.
 * `"dockerd"` means a running Docker daemon.
 */
export function missingPeers(...names: string[]): string | false {
  const missing = names.filter((n) => n === "dockerd" ? !dockerRunning() : !which(n));
  if (missing.length === 0) return false;
  const reason = `peer tool missing: ${missing.join(", ")}`;
  if (underCI) throw new Error(`${reason} (required under CI=true; .ci/run installs it)`);
  console.log(`SKIP: ${reason}`);
  return reason;
}

/**
 * Why a peak-memory bound cannot hold on this runtime, or false where it can: without
 * `ArrayBuffer.prototype.transfer` (Node 20) stratum cannot free a chunk's memory once it
 * is used, and dead chunks wait for V8's next collection (seen there: ~300 MiB for what
 * Deno does in ~150 MiB). The bounds are checked on Deno.
 */
export function memoryBoundUnsupported(): string | false {
  const transfer = (ArrayBuffer.prototype as { transfer?: unknown }).transfer;
  return typeof transfer === "function"
    ? false
    : "this runtime has no ArrayBuffer.prototype.transfer (Node 20): freed chunks wait for the GC, so peak memory is not bounded here";
}
