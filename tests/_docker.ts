/**
 * Images made by a real Docker daemon for interop tests. The base image is built
 * offline from Debian's busybox-static, as DESIGN.md describes.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** Runs docker and returns its trimmed standard output. */
export function docker(...args: string[]): string {
  return execFileSync("docker", args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 << 20,
  })
    .trim();
}

/** Builds `tag` from a Dockerfile and extra context files with the daemon's classic builder. */
export function dockerBuild(
  tag: string,
  dockerfile: string,
  files: Record<string, string> = {},
): string {
  const dir = mkdtempSync(join(tmpdir(), "stratum-docker-ctx-"));
  try {
    copyFileSync(busyboxPath(), join(dir, "busybox"));
    writeFileSync(join(dir, "Dockerfile"), dockerfile);
    for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
    execFileSync("docker", ["build", "-q", "-t", tag, dir], {
      env: { ...process.env, DOCKER_BUILDKIT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    return docker("inspect", "--format", "{{.Id}}", tag);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The Dockerfile lines that make a busybox base from nothing. */
export const BUSYBOX_BASE = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox","--install","-s","/bin"]
`;

/** Where Debian's busybox-static puts the static binary. */
export function busyboxPath(): string {
  return "/bin/busybox";
}
