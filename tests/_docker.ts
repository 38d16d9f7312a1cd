/**
 * Images made by a real Docker daemon for interop tests. The base image is built
 * offline from Debian's busybox-static, as DESIGN.md describes.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type ImageStore, loadArchive, openStore } from "../storage/mod.ts";

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
    // --no-cache: the classic builder would reuse another test's intermediate image, which
    // that test's `rmi -f` may remove mid-build ("unable to find image").
    execFileSync("docker", ["build", "--no-cache", "-q", "-t", tag, dir], {
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

/**
 * Builds the busybox base as `tag` with Docker BuildKit (in `root/base`, with `files` beside
 * it and `more` Dockerfile lines after the base's) and loads it into a stratum store at
 * `root/store`, so that both builders start from the same image.
 */
export async function buildkitBase(
  root: string,
  tag: string,
  options: { files?: Record<string, string>; more?: string } = {},
): Promise<ImageStore> {
  const dir = join(root, "base");
  mkdirSync(dir, { recursive: true });
  copyFileSync(busyboxPath(), join(dir, "busybox"));
  for (const [name, body] of Object.entries(options.files ?? {})) {
    writeFileSync(join(dir, name), body);
  }
  writeFileSync(join(dir, "Dockerfile"), BUSYBOX_BASE + (options.more ?? ""));
  // Debian's 20.10 client has the classic DOCKER_BUILDKIT=1 switch.
  const bin = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
  execFileSync(bin, ["build", "--network=host", "-q", "-t", tag, dir], {
    env: { ...process.env, DOCKER_BUILDKIT: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const store = await openStore(join(root, "store"));
  const saved = execFileSync(bin, ["save", tag], { maxBuffer: 256 << 20 });
  await loadArchive(store, new Blob([new Uint8Array(saved)]).stream());
  return store;
}
