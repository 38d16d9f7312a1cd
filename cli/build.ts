/** `stratum build`. @module */
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import {
  build,
  type BuildOutput,
  type ContextEntry,
  type ContextFs,
  createProgress,
  parseOutputSpec,
} from "../builder/mod.ts";
import { parseReference } from "../image/mod.ts";
import { pull } from "../registry_client/mod.ts";
import {
  type CommandContext,
  inputStream,
  need,
  readStdinText,
  str,
  UsageError,
  writeStdio,
} from "./_context.ts";
import { insecureHosts } from "./_registry.ts";
import { store } from "./_store.ts";

/** Runs `stratum build`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "exactly 1 argument (the context directory, or - for a tar on stdin)");
  const context = ctx.args[0];
  const file = str(ctx.values.file);
  if (context === "-" && file === "-") {
    throw new UsageError("the context and -f cannot both be stdin");
  }
  const network = str(ctx.values.network) ?? "host";
  if (network !== "host" && network !== "none" && network !== "default") {
    throw new UsageError(`--network must be host or none, got "${network}"`);
  }
  const progressMode = ctx.values.quiet ? "quiet" : str(ctx.values.progress) ?? "auto";
  if (!["auto", "plain", "tty", "quiet"].includes(progressMode)) {
    throw new UsageError(`--progress must be auto, plain or tty, got "${progressMode}"`);
  }
  const mode = progressMode === "auto" ? (process.stderr.isTTY ? "tty" : "plain") : progressMode;
  const render = createProgress(
    mode as "plain" | "tty" | "quiet",
    (t) => writeStdio("stderr", t),
  );
  let scratchDir: string | undefined;
  const scratch = async () => scratchDir ??= await mkdtemp(join(tmpdir(), "stratum-secrets-"));
  const s = await store(ctx);
  const insecure = insecureHosts(ctx);
  const sde = process.env.SOURCE_DATE_EPOCH;
  const tags = (ctx.values.tag as string[] | undefined) ?? [];
  // A bad -t fails now, not after the whole build.
  for (const t of tags) parseReference(t);
  const outputs: BuildOutput[] = ((ctx.values.output as string[] | undefined) ?? []).map(
    (o) => {
      try {
        return parseOutputSpec(o);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    },
  );
  const iidfile = str(ctx.values.iidfile);
  // Like docker and buildx: a failed build must not leave the last build's ID behind.
  if (iidfile && !ctx.values["dry-run"]) await rm(iidfile, { force: true });
  try {
    const result = await build({
      store: s,
      contextDir: context === "-" ? undefined : context,
      contextTar: context === "-" ? inputStream("-") : undefined,
      dockerfile: file === "-" ? await readStdinText() : undefined,
      // -f is relative to the current directory, as in docker build.
      dockerfilePath: file === "-" || file === undefined ? undefined : resolve(file),
      tags,
      buildArgs: keyValues(ctx.values["build-arg"], "--build-arg"),
      labels: keyValues(ctx.values.label, "--label"),
      target: str(ctx.values.target),
      platform: str(ctx.values.platform),
      noCache: Boolean(ctx.values["no-cache"]),
      contextFs: runtimeContextFs(),
      alwaysPull: Boolean(ctx.values.pull),
      pull: async (ref) =>
        void await pull(s, ref, { insecure, platform: str(ctx.values.platform) }),
      network: network === "none" ? "none" : "host",
      secrets: await secretFiles(ctx.values.secret, scratch),
      sourceDateEpoch: sde === undefined || sde === "" ? undefined : Number(sde),
      outputs,
      iidfile,
      metadataFile: str(ctx.values["metadata-file"]),
      dryRun: Boolean(ctx.values["dry-run"]),
      cacheTo: ctx.values["cache-to"] as string[] | undefined,
      cacheFrom: ctx.values["cache-from"] as string[] | undefined,
      push: Boolean(ctx.values.push),
      registry: { insecure, platform: str(ctx.values.platform) },
      progress: render,
    });
    render.finish();
    if (ctx.values["explain-cache"] || ctx.values["dry-run"]) {
      for (const step of result.steps) {
        const state = step.cached ? "CACHED" : ctx.values["dry-run"] ? "would run" : "ran";
        const why = step.cached ? "" : step.missReason ? `: ${step.missReason}` : "";
        ctx.err(
          `[${step.stage}] ${step.instruction}  ${state}${why}  key ${step.cacheKey.slice(7, 19)}`,
        );
      }
    }
    if (ctx.values["dry-run"]) return;
    if (ctx.values.quiet) ctx.out(result.imageId);
    else ctx.err(`Successfully built ${result.imageId.slice(7, 19)}`);
  } finally {
    if (scratchDir) await rm(scratchDir, { recursive: true, force: true });
  }
}

/** `K=V` flags (--build-arg, --label) as a record; a bare `K` takes `$K` like docker. */
function keyValues(values: unknown, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (values as string[] | undefined) ?? []) {
    const eq = kv.indexOf("=");
    if (eq === 0) throw new UsageError(`invalid ${flag} "${kv}": expected KEY=VALUE`);
    if (eq < 0) {
      const env = process.env[kv];
      if (env !== undefined) out[kv] = env;
    } else out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** `--secret id=NAME,src=PATH` (or `env=VAR`) flags as id → file path. */
async function secretFiles(
  values: unknown,
  scratch: () => Promise<string>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const spec of (values as string[] | undefined) ?? []) {
    const fields = new Map(
      spec.split(",").map((p) => {
        const eq = p.indexOf("=");
        return eq < 0 ? [p, ""] : [p.slice(0, eq), p.slice(eq + 1)];
      }),
    );
    const id = fields.get("id");
    if (!id) throw new UsageError(`invalid --secret "${spec}": needs id=NAME`);
    const src = fields.get("src") ?? fields.get("source");
    const env = fields.get("env");
    if (src) {
      await checkSecretFile(id, src);
      out[id] = src;
    } else if (env !== undefined || process.env[id] !== undefined) {
      // Docker reads an env secret from the variable; it goes through a private file here.
      const value = process.env[env || id];
      if (value === undefined) {
        throw new UsageError(`--secret ${id}: environment variable ${env || id} is not set`);
      }
      const file = join(await scratch(), id);
      await writeFile(file, value, { mode: 0o600 });
      out[id] = file;
    } else throw new UsageError(`invalid --secret "${spec}": needs src=PATH or env=VAR`);
  }
  return out;
}

/** BuildKit's cap on one secret (`secretsprovider.MaxSecretSize`). */
const MAX_SECRET_SIZE = 500 * 1024;

/**
 * Fails, naming the file, when a `--secret` source cannot be used, before the build starts,
 * as buildx does (`failed to stat /missing`); otherwise a RUN would get no secret mounted.
 */
async function checkSecretFile(id: string, src: string): Promise<void> {
  const what = `--secret id=${id}: ${JSON.stringify(src)}`;
  let info;
  try {
    info = await stat(src);
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    const why = code === "ENOENT" ? "no such file or directory" : (cause as Error).message;
    throw new Error(`${what}: ${why}`, { cause });
  }
  if (info.isDirectory()) throw new Error(`${what}: is a directory`);
  if (info.size > MAX_SECRET_SIZE) throw new Error(`${what}: too big, the most is 500KB`);
}

/** The part of Deno's lstat and directory entries the build context reads. */
interface DenoFileInfo {
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
  mode?: number | null;
  size?: number;
  mtime?: Date | null;
  ino?: number | null;
  nlink?: number | null;
}

interface DenoFs {
  lstatSync(path: string): DenoFileInfo;
  readDirSync(path: string): Iterable<DenoFileInfo & { name: string }>;
}

function typeOf(st: DenoFileInfo): ContextEntry["type"] {
  return st.isDirectory ? "directory" : st.isSymlink ? "symlink" : st.isFile ? "file" : "other";
}

/**
 * How `build()` reads the context: Deno's own calls where the CLI runs on Deno (an lstat a
 * third of the cost of `node:fs`'s, whose conversions were half of a warm build of 30,000
 * files), else undefined for the library's `node:fs` default.
 */
export function runtimeContextFs(): ContextFs | undefined {
  const deno = (globalThis as { Deno?: Partial<DenoFs> }).Deno;
  if (!deno?.lstatSync || !deno.readDirSync) return undefined;
  const { lstatSync, readDirSync } = deno as DenoFs;
  return {
    lstat(path) {
      const st = lstatSync(path);
      return {
        type: typeOf(st),
        mode: st.mode ?? 0,
        size: st.size ?? 0,
        mtimeMs: st.mtime?.getTime() ?? 0,
        ino: st.ino ?? 0,
        nlink: st.nlink ?? undefined,
      };
    },
    readdir(path) {
      return Array.from(readDirSync(path), (d) => ({ name: d.name, type: typeOf(d) }));
    },
  };
}
