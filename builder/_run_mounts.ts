/**
 * What a RUN step mounts into its container, prepared on the host: the generated
 * /etc/hosts and /etc/resolv.conf, and the step's `--mount`s (cache dirs kept across
 * builds, binds, secrets, tmpfs). Mount points the image lacks are made as stubs and
 * removed afterwards, so they never reach the layer (BuildKit's MountStubsCleaner).
 */
import {
  chmod,
  chown,
  copyFile,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
  writeFile,
} from "node:fs/promises";
import { execFile } from "node:child_process";
import { basename, dirname, join, posix, relative } from "node:path";
import process from "node:process";
import { sha256 } from "../digest/mod.ts";
import { lstatOrNull, resolveOnDisk } from "../unionfs/mod.ts";
import type { RunMount } from "./instruction_flags.ts";

/** One mount as both executors apply it. */
export interface PlannedMount {
  /** The absolute path inside the container. */
  destination: string;
  /** `destination` resolved on the host, inside the rootfs. */
  hostPath: string;
  type: "bind" | "tmpfs";
  /** The host path for a bind, "tmpfs" for a tmpfs. */
  source: string;
  /** Mount options, e.g. `["rbind", "ro"]` or `["nosuid", "nodev", "mode=1777"]`. */
  options: string[];
}

/** The prepared mounts; `release` undoes what preparing them took. */
export interface MountPlan {
  mounts: PlannedMount[];
  /** Removes the stubs still empty and restores their parents' mtimes (call before unmount). */
  removeStubs(): Promise<void>;
  /** Parents of removed stubs, relative to the rootfs: candidates to prune from the upper. */
  stubParents: string[];
  /** Unlocks cache mounts, unmounts writable binds, drops secrets. */
  release(): Promise<void>;
}

const BUILDKIT_HOSTNAME = "buildkitsandbox";

/** The hostname RUN steps get unless told otherwise: BuildKit's, so outputs match. */
export const DEFAULT_HOSTNAME: string = BUILDKIT_HOSTNAME;

function exec(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")}: ${stderr.trim() || error}`));
      else resolve();
    });
  });
}

/** Mount points made for this step only, removed again when still empty. */
class Stubs {
  #root: string;
  #made: string[] = [];
  #times = new Map<string, number>();

  constructor(root: string) {
    this.#root = root;
  }

  /** Makes `hostPath` (inside the rootfs) exist as a directory or an empty file. */
  async ensure(hostPath: string, kind: "dir" | "file"): Promise<void> {
    const parts = relative(this.#root, hostPath).split("/").filter((p) => p !== "");
    let at = this.#root;
    for (let i = 0; i < parts.length; i++) {
      const next = join(at, parts[i]);
      const st = await lstatOrNull(next);
      const last = i === parts.length - 1;
      if (st) {
        if (!last && !st.isDirectory()) {
          throw new Error(`Cannot mount on "${hostPath}": "${next}" is not a directory`);
        }
        at = next;
        continue;
      }
      if (!this.#times.has(at)) this.#times.set(at, (await lstat(at)).mtimeMs / 1000);
      if (last && kind === "file") await (await open(next, "wx", 0o644)).close();
      else await mkdir(next, { mode: 0o755 });
      this.#made.push(next);
      at = next;
    }
  }

  async remove(): Promise<void> {
    for (const path of [...this.#made].reverse()) {
      const st = await lstatOrNull(path);
      if (!st) continue;
      if (st.isDirectory()) {
        if ((await readdir(path)).length === 0) await rmdir(path);
      } else if (st.isFile() && st.size === 0) await unlink(path);
    }
    for (const [dir, t] of this.#times) {
      if (await lstatOrNull(dir)) await lutimes(dir, t, t);
    }
  }

  parents(): string[] {
    return [...this.#times.keys()].map((d) => relative(this.#root, d)).filter((d) => d !== "");
  }
}

/** A cache mount's exclusive use, held as a pid file like the store's locks. */
async function tryLock(path: string): Promise<(() => Promise<void>) | null> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => unlink(path).catch(() => {});
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e;
      const pid = Number((await readFile(path, "utf8").catch(() => "")).trim());
      let alive = true;
      try {
        if (pid > 0 && pid !== process.pid) process.kill(pid, 0);
      } catch {
        alive = false;
      }
      if (alive) return null;
      await unlink(path).catch(() => {});
    }
  }
  return null;
}

async function lock(path: string, signal?: AbortSignal): Promise<() => Promise<void>> {
  for (let wait = 5;; wait = Math.min(wait * 2, 200)) {
    const release = await tryLock(path);
    if (release) return release;
    signal?.throwIfAborted();
    await new Promise((r) => setTimeout(r, wait));
  }
}

function hostsFile(hostname: string): string {
  return `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
}

/**
 * The host's resolv.conf; in a network namespace of its own the container cannot reach
 * the host's loopback resolvers, so those go, and public ones stand in when none is left
 * (what BuildKit and Docker do).
 */
async function resolvConf(network: "host" | "none"): Promise<string> {
  const text = await readFile("/etc/resolv.conf", "utf8").catch(() => "");
  if (network === "host") return text;
  const lines = text.split("\n").filter((l) =>
    !/^\s*nameserver\s+(127\.|::1\b|0\.0\.0\.0)/.test(l)
  );
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) {
    lines.push("nameserver 8.8.8.8", "nameserver 8.8.4.4");
  }
  return lines.join("\n").replace(/\n*$/, "\n");
}

/** Everything `planMounts` needs to know about the step. */
export interface PlanInput {
  rootfs: string;
  stepDir: string;
  cacheDir: string;
  mounts: readonly RunMount[];
  network: "host" | "none";
  hostname: string;
  signal?: AbortSignal;
}

function absoluteTarget(m: RunMount): string {
  if (typeof m.target !== "string" || m.target === "") {
    throw new TypeError(`Cannot mount type=${m.type}: the target is missing`);
  }
  return posix.resolve("/", m.target);
}

/** Prepares every mount of a step and the stubs they need inside `rootfs`. */
export async function planMounts(input: PlanInput): Promise<MountPlan> {
  const { rootfs, stepDir } = input;
  const stubs = new Stubs(rootfs);
  const mounts: PlannedMount[] = [];
  const releases: (() => Promise<void>)[] = [];
  const plan: MountPlan = {
    mounts,
    stubParents: [],
    removeStubs: async () => {
      await stubs.remove();
      plan.stubParents = stubs.parents();
    },
    release: async () => {
      for (const r of releases.reverse()) await r();
    },
  };
  const filesDir = join(stepDir, "files");
  await mkdir(filesDir, { recursive: true });
  let n = 0;

  async function add(
    destination: string,
    kind: "dir" | "file",
    m: Omit<PlannedMount, "destination" | "hostPath">,
  ): Promise<void> {
    const hostPath = await resolveOnDisk(rootfs, destination);
    await stubs.ensure(hostPath, kind);
    mounts.push({ destination, hostPath, ...m });
  }

  try {
    const hosts = join(filesDir, "hosts");
    await writeFile(hosts, hostsFile(input.hostname), { mode: 0o644 });
    const resolv = join(filesDir, "resolv.conf");
    await writeFile(resolv, await resolvConf(input.network), { mode: 0o644 });
    await add("/etc/hosts", "file", { type: "bind", source: hosts, options: ["rbind", "ro"] });
    await add("/etc/resolv.conf", "file", {
      type: "bind",
      source: resolv,
      options: ["rbind", "ro"],
    });

    for (const m of input.mounts) {
      switch (m.type) {
        case "cache": {
          const target = absoluteTarget(m);
          const id = m.id || target;
          await mkdir(input.cacheDir, { recursive: true });
          const key = (await sha256(id)).slice(7, 39);
          let dir = join(input.cacheDir, key);
          const sharing = m.sharing ?? "shared";
          if (sharing === "locked") {
            releases.push(await lock(`${dir}.lock`, input.signal));
          } else if (sharing === "private") {
            const release = await tryLock(`${dir}.lock`);
            if (release) releases.push(release);
            else {
              // Another step holds it: a private mount gets a fresh one of its own.
              dir = join(stepDir, `cache-${n++}`);
              releases.push(() => rm(dir, { recursive: true, force: true }));
            }
          }
          if (!(await lstatOrNull(dir))) {
            const tmp = `${dir}.tmp-${process.pid}-${n++}`;
            if (m.source !== undefined) {
              // from=STAGE: the cache starts as the stage's directory, with that directory's
              // own owner and mode (BuildKit ignores uid/gid/mode then). The source is a
              // copy unionfs wrote out for this step alone, so it is moved, not copied.
              if (!(await stat(m.source)).isDirectory()) {
                throw new Error(
                  `Cannot mount a cache on "${target}": its source is not a directory`,
                );
              }
              await rename(m.source, tmp);
            } else {
              await mkdir(tmp);
              await chown(tmp, m.uid ?? 0, m.gid ?? 0);
              await chmod(tmp, m.mode ?? 0o755);
            }
            // Made aside and renamed, so a concurrent step never sees it without its owner.
            await rename(tmp, dir).catch(() => rm(tmp, { recursive: true }));
          }
          await add(target, "dir", {
            type: "bind",
            source: dir,
            options: ["rbind", m.readonly ? "ro" : "rw"],
          });
          break;
        }
        case "bind": {
          const target = absoluteTarget(m);
          if (!m.source) throw new TypeError(`Cannot bind-mount on "${target}": no source`);
          const st = await stat(m.source).catch((e) => {
            throw new Error(`Cannot bind-mount "${m.source}" on "${target}": ${e.message}`, {
              cause: e,
            });
          });
          const kind = st.isDirectory() ? "dir" : "file";
          let source = m.source;
          // BuildKit's rw binds are writable but their writes are thrown away.
          if (m.readonly === false) {
            const base = join(stepDir, `bind-${n++}`);
            if (kind === "dir") {
              for (const d of ["u", "w", "m"]) await mkdir(join(base, d), { recursive: true });
              await exec("mount", [
                "-t",
                "overlay",
                "overlay",
                "-o",
                `lowerdir=${m.source},upperdir=${base}/u,workdir=${base}/w`,
                `${base}/m`,
              ]);
              releases.push(() => exec("umount", [`${base}/m`]));
              source = join(base, "m");
            } else {
              await mkdir(base);
              source = join(base, basename(m.source));
              await copyFile(m.source, source);
            }
          }
          await add(target, kind, {
            type: "bind",
            source,
            options: ["rbind", m.readonly === false ? "rw" : "ro"],
          });
          break;
        }
        case "secret": {
          const id = m.id || (m.target ? basename(m.target) : "");
          if (!id) throw new TypeError("Cannot mount a secret without an id or a target");
          const target = m.target ? posix.resolve("/run/secrets", m.target) : `/run/secrets/${id}`;
          const bytes = m.secretPath === undefined
            ? undefined
            : await readFile(m.secretPath).catch(() => undefined);
          if (bytes === undefined) {
            if (m.required) throw new Error(`secret ${id}: not found`);
            break;
          }
          const file = join(filesDir, `secret-${n++}`);
          await writeFile(file, bytes, { mode: 0o600 });
          await chown(file, m.uid ?? 0, m.gid ?? 0);
          await chmod(file, m.mode ?? 0o400);
          releases.push(() => rm(file, { force: true }));
          await add(target, "file", { type: "bind", source: file, options: ["rbind", "ro"] });
          break;
        }
        case "tmpfs": {
          const options = ["nosuid", "nodev"];
          if (m.mode !== undefined) options.push(`mode=${m.mode.toString(8)}`);
          await add(absoluteTarget(m), "dir", { type: "tmpfs", source: "tmpfs", options });
          break;
        }
        default:
          throw new TypeError(`Unknown mount type "${(m as RunMount).type}"`);
      }
    }
  } catch (e) {
    await plan.release();
    await stubs.remove();
    throw e;
  }
  return plan;
}

/** `dir`'s parent chain inside the rootfs, deepest first: "a/b/c" -> c, b, a. */
export function ancestors(rel: string): string[] {
  const out: string[] = [];
  for (let d = rel; d !== "" && d !== "."; d = dirname(d)) out.push(d);
  return out;
}
