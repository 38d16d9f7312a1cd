/**
 * The `stratum` command line: a thin, string-in layer over the library.
 *
 * Global options come before the command, like docker's: `stratum --root DIR images`.
 * Errors are one line on stderr and a non-zero exit.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { type FileHandle, mkdtemp, open, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { Readable } from "node:stream";
import { parseArgs, type ParseArgsConfig } from "node:util";
import {
  exportOciLayout,
  familiarTag,
  type ImageStore,
  importOciLayout,
  loadArchive,
  openStore,
  releaseChunk,
  type ResolvedImage,
  saveDockerArchive,
  saveOciArchive,
} from "./storage/mod.ts";
import { dockerInspectComment, dockerInspectConfig, parseReference } from "./image/mod.ts";
import {
  build,
  type BuildOutput,
  collectGarbage,
  createProgress,
  DEFAULT_GC_GRACE_MS,
  formatDockerfile,
  parseDockerfile,
  parseOutputSpec,
  toParseJson,
  writeFileAtomic,
} from "./builder/mod.ts";
import {
  createDemoApp,
  demoBuildEngine,
  htpasswdAuth,
  parseAddr,
  pullingResolver,
  serveRegistry,
} from "./server/mod.ts";
import {
  buildMergedTree,
  diffTrees,
  flattenToTar,
  type LayerSource,
  type MergedTree,
  scanLayer,
  type TreeEntry,
} from "./unionfs/mod.ts";
import {
  copy,
  createProgressRenderer,
  dockerConfigProvider,
  fetchManifest,
  listTags,
  login,
  logout,
  pull,
  push,
  type TransferOptions,
} from "./registry_client/mod.ts";
import { readFile, writeFile } from "node:fs/promises";

/** What a command receives. */
interface CommandContext {
  /** The store root from `--root`, `$STRATUM_ROOT` or the default. */
  root: string;
  /** Positional arguments after the command's options. */
  args: string[];
  /** The parsed options. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Writes a line to standard output. */
  out: (line: string) => void;
  /** Writes a line to standard error. */
  err: (line: string) => void;
  /** Writes raw text or bytes to standard output. */
  write: (data: string | Uint8Array) => void;
}

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  run(ctx: CommandContext): Promise<number | void>;
}

/** A caller mistake on the command line: printed with the command's usage hint. */
class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * A byte stream from a file path, or standard input for `-` (through /dev/stdin where there
 * is one): reads of 256 KiB into a fresh buffer each, handed on whole, so its one consumer
 * may free each once used (loadArchive's `releaseChunks`). Deno's createReadStream + toWeb
 * copied every chunk once more, garbage that only the next collection freed, about 64 MiB
 * of it at a time.
 */
function inputStream(path: string): ReadableStream<Uint8Array> {
  if (path === "-" && !existsSync("/dev/stdin")) {
    return Readable.toWeb(process.stdin) as unknown as ReadableStream<Uint8Array>;
  }
  let fh: FileHandle | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      fh ??= await open(path === "-" ? "/dev/stdin" : path, "r");
      const buf = new Uint8Array(256 << 10);
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) {
        await fh.close();
        return c.close();
      }
      if (bytesRead === buf.length) return c.enqueue(buf);
      // A pipe gives 64 KiB at a time: pass on an exact copy and free the big buffer now.
      c.enqueue(buf.slice(0, bytesRead));
      releaseChunk(buf);
    },
    async cancel() {
      await fh?.close();
    },
  }, { highWaterMark: 0 });
}

/**
 * Writes a tar to standard output for `-`, else to the file `path` with writeFileAtomic:
 * an existing file is replaced only once the whole tar is written, and kept as it was when
 * anything fails.
 */
async function writeTar(path: string, tar: ReadableStream<Uint8Array>): Promise<void> {
  // The tar is stratum's own (save, export): no one else holds its chunks, so each is freed
  // once written and a gigabyte layer does not leave dead chunks waiting for the GC.
  if (path === "-") await tar.pipeTo(stdoutSink(true));
  else await writeFileAtomic(path, tar, { releaseChunks: true });
}

/*
 * A closed standard output (`stratum ls IMAGE / | head -2`). docker and coreutils are killed
 * by SIGPIPE there, which a shell reports as status 141; Node and Deno ignore SIGPIPE, so the
 * write fails with EPIPE instead (its callback and an `error` event on the stream) and,
 * unhandled, crashed with a stack trace. Here the first EPIPE marks the stream gone, later
 * output is dropped, a pipe being written stops, and main() returns 141 without a word, so a
 * script with `set -o pipefail` sees what it sees with docker.
 */
const gone = { stdout: false, stderr: false };
let stdioGuarded = false;
/** The last write to stdout, settled once written or failed: writes end in order. */
let lastStdoutWrite = Promise.resolve();

/** The status of a command whose standard output was closed: 128 + SIGPIPE, as a shell shows. */
const EXIT_BROKEN_PIPE = 141;

/** Whether `error` is a write to a closed pipe (or to the stream it destroyed), on Node or Deno. */
function isBrokenPipe(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "EPIPE" || code === "ERR_STREAM_DESTROYED";
}

/** Listens for EPIPE on stdout and stderr once, so that it is never an uncaught error. */
function guardStdio(): void {
  if (stdioGuarded) return;
  stdioGuarded = true;
  for (const name of ["stdout", "stderr"] as const) {
    process[name].on("error", (error: Error) => {
      if (!isBrokenPipe(error)) throw error;
      gone[name] = true;
    });
  }
}

/** Writes to stdout or stderr; calls `done` when written, with the error when it failed. */
function writeStdio(
  name: "stdout" | "stderr",
  data: string | Uint8Array,
  done: (error?: Error) => void = () => {},
): void {
  if (gone[name]) return done(new BrokenPipeError(name));
  const failed = (error: Error) => {
    if (isBrokenPipe(error)) gone[name] = true;
    done(error);
  };
  let settle = () => {};
  if (name === "stdout") lastStdoutWrite = new Promise<void>((resolve) => settle = resolve);
  try {
    process[name].write(data, (error) => {
      settle();
      if (error) failed(error);
      else done();
    });
  } catch (error) {
    settle();
    failed(error as Error);
  }
}

/** Output to a closed stdout or stderr. */
class BrokenPipeError extends Error {
  /** Always `EPIPE`, like the runtime's own error. */
  readonly code = "EPIPE";
  constructor(name: string) {
    super(`${name} is closed`);
    this.name = "BrokenPipeError";
  }
}

/** Standard output as a byte sink with backpressure: each write waits for the last. */
function stdoutSink(release = false): WritableStream<Uint8Array> {
  return new WritableStream({
    write: (chunk) =>
      new Promise<void>((resolve, reject) =>
        writeStdio("stdout", chunk, (error) => {
          if (error) return reject(error);
          if (release) releaseChunk(chunk);
          resolve();
        })
      ),
  });
}

/**
 * Control characters (C0, DEL, C1) as JSON escapes (`\n`, `\u001b`), so that a name with a
 * newline or a terminal escape in it, quoted in a message, is shown rather than obeyed.
 */
function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    const short: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    return short[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

/** Docker's `units.HumanSize`: three significant digits, decimal units. */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  let n = bytes;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(3))}${units[i]}`;
}

/** Docker's `units.HumanDuration`, as `docker images` prints CREATED. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return "About a minute";
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

function since(created: string | undefined): string {
  if (!created) return "N/A";
  const t = Date.parse(created);
  return Number.isNaN(t) ? "N/A" : `${humanDuration(Date.now() - t)} ago`;
}

/** Lays rows out in columns like Go's tabwriter with docker's padding of three. */
function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i] + 3)).join("").trimEnd()
  );
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function need(args: string[], count: number, what: string): void {
  if (args.length < count) throw new UsageError(`requires ${what}`);
}

/** The layers of an image in the store, as unionfs reads them. */
/**
 * `docker inspect`'s Size: the daemon sums what unpacking each layer tar reports, the sizes
 * in the tar headers, so regular files count and symlinks, hardlinks, directories and
 * whiteouts do not.
 */
async function unpackedSize(s: ImageStore, img: ResolvedImage): Promise<number> {
  let total = 0;
  for (const source of layerSources(s, img)) {
    for (const { header: h } of await scanLayer(source)) if (h.type === "file") total += h.size;
  }
  return total;
}

function layerSources(s: ImageStore, img: ResolvedImage): LayerSource[] {
  return img.manifest.layers.map((l) => ({
    digest: l.digest,
    mediaType: l.mediaType,
    open: () => s.blobs.get(l.digest),
  }));
}

async function mergedTreeOf(s: ImageStore, input: string): Promise<MergedTree> {
  return await buildMergedTree(layerSources(s, await s.resolve(input)));
}

/** `drwxr-xr-x`-style type and permission bits. */
function modeString(type: string, mode: number): string {
  const t = { directory: "d", symlink: "l", chardev: "c", blockdev: "b", fifo: "p" }[type] ?? "-";
  let out = t;
  for (const shift of [6, 3, 0]) {
    const bits = (mode >> shift) & 7;
    out += (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") + (bits & 1 ? "x" : "-");
  }
  if (mode & 0o4000) out = out.slice(0, 3) + (out[3] === "x" ? "s" : "S") + out.slice(4);
  if (mode & 0o2000) out = out.slice(0, 6) + (out[6] === "x" ? "s" : "S") + out.slice(7);
  if (mode & 0o1000) out = out.slice(0, 9) + (out[9] === "x" ? "t" : "T");
  return out;
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

/** Registry options every network command shares. */
const REGISTRY_OPTIONS = {
  insecure: { type: "string", multiple: true },
  platform: { type: "string" },
  quiet: { type: "boolean", short: "q" },
} as const;

/** The `--insecure HOST` flags: registries reached over plain HTTP. */
function insecureHosts(ctx: CommandContext): string[] {
  return (ctx.values.insecure as string[] | undefined) ?? [];
}

/** Transfer options from the shared flags, with progress drawn on stderr. */
function transferOptions(ctx: CommandContext): TransferOptions & { done(): void } {
  const renderer = createProgressRenderer((text) => writeStdio("stderr", text), {
    tty: Boolean(process.stderr.isTTY),
    quiet: Boolean(ctx.values.quiet),
  });
  return {
    insecure: insecureHosts(ctx),
    platform: str(ctx.values.platform),
    onProgress: (e) => renderer.update(e),
    onWarning: (m) => ctx.err(`warning: ${m}`),
    done: () => renderer.done(),
  };
}

/** Reads a password from standard input (for `login --password-stdin`). */
async function readStdinLine(): Promise<string> {
  return (await new Response(inputStream("-")).text()).replace(/\r?\n$/, "");
}

/** Reads the Dockerfile named by `-f` (default `./Dockerfile`, `-` for stdin) and parses it. */
async function readDockerfile(ctx: CommandContext) {
  const file = str(ctx.values.file) ?? ctx.args[0] ?? "Dockerfile";
  const text = file === "-"
    ? await new Response(inputStream("-")).text()
    : await readFile(file, "utf8");
  return { file, text, parsed: parseDockerfile(text, { file }) };
}

async function store(ctx: CommandContext): Promise<ImageStore> {
  return await openStore(ctx.root);
}

const COMMANDS: Record<string, Command> = {
  images: {
    summary: "List images",
    usage: "[--digests] [--format table|json] [REPOSITORY[:TAG]]",
    options: {
      digests: { type: "boolean" },
      format: { type: "string" },
      quiet: { type: "boolean", short: "q" },
    },
    async run(ctx) {
      const s = await store(ctx);
      let rows = await s.images();
      if (ctx.args[0]) {
        const want = parseReference(ctx.args[0]);
        const explicitTag = /:[^/]+$/.test(ctx.args[0]);
        rows = rows.filter((r) =>
          r.reference && r.reference.name === want.name &&
          (!explicitTag || r.reference.tag === want.tag)
        );
      }
      rows.sort((a, b) => (Date.parse(b.created ?? "") || 0) - (Date.parse(a.created ?? "") || 0));
      const view = rows.map((r) => ({
        Repository: r.reference?.familiarName ?? "<none>",
        Tag: r.reference?.tag ?? "<none>",
        Digest: r.digest,
        ID: r.id.slice(7, 19),
        CreatedSince: since(r.created),
        CreatedAt: r.created ?? "",
        Size: humanSize(r.size),
      }));
      if (ctx.values.quiet) {
        for (const id of new Set(view.map((v) => v.ID))) ctx.out(id);
      } else if (ctx.values.format === "json") {
        for (const v of view) ctx.out(JSON.stringify(v));
      } else if (ctx.values.format && ctx.values.format !== "table") {
        throw new UsageError(`unknown --format "${ctx.values.format}": use table or json`);
      } else {
        const head = [
          "REPOSITORY",
          "TAG",
          ...(ctx.values.digests ? ["DIGEST"] : []),
          "IMAGE ID",
          "CREATED",
          "SIZE",
        ];
        const body = view.map((v) => [
          v.Repository,
          v.Tag,
          ...(ctx.values.digests ? [v.Digest] : []),
          v.ID,
          v.CreatedSince,
          v.Size,
        ]);
        for (const line of table([head, ...body])) ctx.out(line);
      }
    },
  },
  tag: {
    summary: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    options: {},
    async run(ctx) {
      need(ctx.args, 2, "exactly 2 arguments");
      await (await store(ctx)).tag(ctx.args[0], ctx.args[1]);
    },
  },
  rmi: {
    summary: "Remove one or more images (untag; delete when no name is left)",
    usage: "[-f] IMAGE [IMAGE...]",
    options: { force: { type: "boolean", short: "f" } },
    async run(ctx) {
      need(ctx.args, 1, "at least 1 argument");
      const s = await store(ctx);
      let failed = 0;
      for (const a of ctx.args) {
        try {
          const r = await s.remove(a, { force: Boolean(ctx.values.force) });
          for (const n of r.untagged) ctx.out(`Untagged: ${familiarTag(n)}`);
          for (const d of r.deleted) ctx.out(`Deleted: ${d}`);
        } catch (e) {
          failed++;
          ctx.err(`Error response: ${printable((e as Error).message)}`);
        }
      }
      return failed ? 1 : 0;
    },
  },
  inspect: {
    summary: "Show low-level information on images, as JSON",
    usage: "IMAGE [IMAGE...]",
    options: {},
    async run(ctx) {
      need(ctx.args, 1, "at least 1 argument");
      const s = await store(ctx);
      const out = [];
      for (const a of ctx.args) {
        const img = await s.resolve(a);
        const records = await s.tags.list();
        const same = records.filter((r) =>
          r.descriptor.digest === img.manifestDigest || r.descriptor.digest === img.indexDigest
        );
        const c = img.config;
        out.push({
          Id: img.id,
          RepoTags: same.filter((r) => !r.name.includes("@")).map((r) => familiarTag(r.name)),
          RepoDigests: same.filter((r) => r.name.includes("@") && !r.name.startsWith("@")).map(
            (r) => {
              const ref = parseReference(r.name);
              return `${ref.familiarName}@${ref.digest}`;
            },
          ),
          Parent: "",
          Comment: dockerInspectComment(c),
          Created: c.created ?? "",
          DockerVersion: str((c as unknown as Record<string, unknown>).docker_version) ?? "",
          Author: c.author ?? "",
          Config: dockerInspectConfig(c.config),
          Architecture: c.architecture,
          ...(c.variant ? { Variant: c.variant } : {}),
          Os: c.os,
          Size: await unpackedSize(s, img),
          RootFS: { Type: c.rootfs.type, Layers: c.rootfs.diff_ids },
          Descriptor: {
            mediaType: img.descriptor.mediaType,
            digest: img.manifestDigest,
            size: img.descriptor.size,
          },
        });
      }
      ctx.out(JSON.stringify(out, null, 4));
    },
  },
  history: {
    summary: "Show the history of an image",
    usage: "[--no-trunc] [--format table|json] IMAGE",
    options: { "no-trunc": { type: "boolean" }, format: { type: "string" } },
    async run(ctx) {
      need(ctx.args, 1, "exactly 1 argument");
      const img = await (await store(ctx)).resolve(ctx.args[0]);
      const layers = [...img.manifest.layers];
      const entries = (img.config.history ?? []).map((h) => ({
        createdBy: h.created_by ?? "",
        created: h.created,
        size: h.empty_layer ? 0 : layers.shift()?.size ?? 0,
        comment: h.comment ?? "",
      })).reverse();
      const noTrunc = Boolean(ctx.values["no-trunc"]);
      const trunc = (t: string) => noTrunc || t.length <= 45 ? t : `${t.slice(0, 44)}…`;
      const view = entries.map((e, i) => ({
        ID: i === 0 ? (noTrunc ? img.id : img.id.slice(7, 19)) : "<missing>",
        CreatedSince: since(e.created),
        CreatedAt: e.created ?? "",
        CreatedBy: e.createdBy,
        Size: humanSize(e.size),
        Comment: e.comment,
      }));
      if (ctx.values.format === "json") {
        for (const v of view) ctx.out(JSON.stringify(v));
        return;
      }
      const rows = view.map((v) => [v.ID, v.CreatedSince, trunc(v.CreatedBy), v.Size, v.Comment]);
      for (const l of table([["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], ...rows])) {
        ctx.out(l);
      }
    },
  },
  save: {
    summary:
      "Save images to a docker archive (docker load), an OCI archive, or an OCI layout directory",
    usage: "[--format docker|oci|oci-dir] -o FILE|DIR|- IMAGE [IMAGE...]",
    options: { output: { type: "string", short: "o" }, format: { type: "string" } },
    async run(ctx) {
      need(ctx.args, 1, "at least 1 argument");
      const dest = str(ctx.values.output) ?? "-";
      const format = str(ctx.values.format) ?? "docker";
      const s = await store(ctx);
      if (format !== "docker" && format !== "oci" && format !== "oci-dir") {
        throw new UsageError(`unknown --format "${format}"`);
      }
      // Every name is resolved before anything is created, so a typo costs nothing.
      for (const a of ctx.args) await s.resolve(a);
      if (format === "oci-dir") {
        if (dest === "-") throw new UsageError("--format oci-dir needs -o DIR");
        return void await exportOciLayout(s, ctx.args, dest);
      }
      if (dest === "-" && process.stdout.isTTY) {
        throw new UsageError("refusing to write an archive to a terminal; use -o FILE");
      }
      const tar = format === "oci" ? saveOciArchive(s, ctx.args) : saveDockerArchive(s, ctx.args);
      await writeTar(dest, tar);
    },
  },
  load: {
    summary: "Load images from a docker or OCI archive (plain or gzip) or an OCI layout directory",
    usage: "[-i FILE|DIR|-] [--name REPOSITORY] [-q]",
    options: {
      input: { type: "string", short: "i" },
      name: { type: "string" },
      quiet: { type: "boolean", short: "q" },
    },
    async run(ctx) {
      const src = str(ctx.values.input) ?? "-";
      const s = await store(ctx);
      const options = {
        label: src === "-" ? "standard input" : `"${src}"`,
        name: str(ctx.values.name),
      };
      const loaded = src !== "-" && (await stat(src)).isDirectory()
        ? await importOciLayout(s, src, options)
        // The stream is ours alone, so its chunks are freed as they are staged.
        : await loadArchive(s, inputStream(src), { ...options, releaseChunks: true });
      if (ctx.values.quiet) return;
      for (const img of loaded) {
        if (img.names.length) {
          for (const n of img.names) ctx.out(`Loaded image: ${familiarTag(n)}`);
        } else ctx.out(`Loaded image ID: ${img.id}`);
      }
    },
  },
  gc: {
    summary: "Delete blobs that no image name reaches, and what killed processes left",
    usage: "[--grace SECONDS (default 600)]",
    options: { grace: { type: "string" } },
    async run(ctx) {
      const graceText = str(ctx.values.grace) ?? String(DEFAULT_GC_GRACE_MS / 1000);
      if (!/^\d+(\.\d+)?$/.test(graceText)) {
        throw new UsageError(
          `invalid --grace ${JSON.stringify(graceText)}: expected a number of seconds, 0 or more`,
        );
      }
      const grace = Number(graceText);
      const s = await store(ctx);
      const r = await collectGarbage(s, ctx.root, { graceMs: grace * 1000 });
      if (r.snapshots.length) ctx.out(`removed ${r.snapshots.length} unpacked layer snapshots`);
      for (const d of r.removed) ctx.out(`deleted: ${d}`);
      ctx.out(`Total reclaimed space: ${humanSize(r.bytes)}`);
    },
  },
  build: {
    summary: "Build an image from a Dockerfile, like docker build (no daemon)",
    usage: "[-t NAME:TAG]... [-f FILE|-] [--build-arg K=V]... [--target STAGE] [--platform P] " +
      "[--no-cache] [--pull] [--progress auto|plain|tty] [--network host|none] " +
      "[--secret id=ID,src=PATH]... [--label K=V]... [--output SPEC]... [--iidfile F] " +
      "[--metadata-file F] [--cache-to|--cache-from type=registry,ref=REF] [--push] " +
      "[--explain-cache] [--dry-run] [-q] CONTEXT|-",
    options: {
      tag: { type: "string", short: "t", multiple: true },
      file: { type: "string", short: "f" },
      "build-arg": { type: "string", multiple: true },
      target: { type: "string" },
      platform: { type: "string" },
      "no-cache": { type: "boolean" },
      pull: { type: "boolean" },
      progress: { type: "string" },
      network: { type: "string" },
      secret: { type: "string", multiple: true },
      label: { type: "string", multiple: true },
      output: { type: "string", short: "o", multiple: true },
      iidfile: { type: "string" },
      "metadata-file": { type: "string" },
      "explain-cache": { type: "boolean" },
      "dry-run": { type: "boolean" },
      "cache-to": { type: "string", multiple: true },
      "cache-from": { type: "string", multiple: true },
      push: { type: "boolean" },
      quiet: { type: "boolean", short: "q" },
      insecure: { type: "string", multiple: true },
    },
    async run(ctx) {
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
      const mode = progressMode === "auto"
        ? (process.stderr.isTTY ? "tty" : "plain")
        : progressMode;
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
          storeRoot: ctx.root,
          contextDir: context === "-" ? undefined : context,
          contextTar: context === "-" ? inputStream("-") : undefined,
          dockerfile: file === "-" ? await new Response(inputStream("-")).text() : undefined,
          // -f is relative to the current directory, as in docker build.
          dockerfilePath: file === "-" || file === undefined ? undefined : resolve(file),
          tags,
          buildArgs: keyValues(ctx.values["build-arg"], "--build-arg"),
          labels: keyValues(ctx.values.label, "--label"),
          target: str(ctx.values.target),
          platform: str(ctx.values.platform),
          noCache: Boolean(ctx.values["no-cache"]),
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
              `[${step.stage}] ${step.instruction}  ${state}${why}  key ${
                step.cacheKey.slice(7, 19)
              }`,
            );
          }
        }
        if (ctx.values["dry-run"]) return;
        if (ctx.values.quiet) ctx.out(result.imageId);
        else ctx.err(`Successfully built ${result.imageId.slice(7, 19)}`);
      } finally {
        if (scratchDir) await rm(scratchDir, { recursive: true, force: true });
      }
    },
  },
  parse: {
    summary: "Parse a Dockerfile the way BuildKit does and print it",
    usage: "[-f FILE|-] [--json]",
    options: { file: { type: "string", short: "f" }, json: { type: "boolean" } },
    async run(ctx) {
      const { file, parsed } = await readDockerfile(ctx);
      for (const w of parsed.warnings) ctx.err(`${file}:${w.line}: warning: ${w.message}`);
      if (ctx.values.json) return void ctx.out(toParseJson(parsed));
      for (const i of parsed.instructions) {
        const lines = i.startLine === i.endLine ? `${i.startLine}` : `${i.startLine}-${i.endLine}`;
        ctx.out(`${lines.padEnd(8)} ${i.keyword.toUpperCase()} ${JSON.stringify(i.args)}`);
      }
    },
  },
  fmt: {
    summary: "Print a Dockerfile in canonical form (or rewrite it with --write)",
    usage: "[-f FILE|-] [--write] [--check]",
    options: {
      file: { type: "string", short: "f" },
      write: { type: "boolean", short: "w" },
      check: { type: "boolean" },
    },
    async run(ctx) {
      const { file, text, parsed } = await readDockerfile(ctx);
      const formatted = formatDockerfile(parsed);
      if (ctx.values.check) {
        if (formatted === text) return 0;
        ctx.err(`${file} is not formatted`);
        return 1;
      }
      if (ctx.values.write) {
        if (file === "-") throw new UsageError("--write needs -f FILE");
        return void await writeFile(file, formatted);
      }
      ctx.write(formatted);
      return 0;
    },
  },
  pull: {
    summary: "Pull an image from a registry into the store",
    usage: "[--platform OS/ARCH[/VARIANT]] [--insecure HOST] [-q] IMAGE",
    options: { ...REGISTRY_OPTIONS },
    async run(ctx) {
      need(ctx.args, 1, "exactly 1 argument");
      const t = transferOptions(ctx);
      const r = await pull(await store(ctx), ctx.args[0], t).finally(t.done);
      if (ctx.values.quiet) return void ctx.out(familiarTag(r.name));
      ctx.out(`Digest: ${r.digest}`);
      ctx.out(
        `Status: ${r.upToDate ? "Image is up to date" : "Downloaded newer image"} for ${
          familiarTag(r.name)
        }`,
      );
      ctx.out(r.name);
    },
  },
  push: {
    summary: "Push an image from the store to a registry (optionally under another name)",
    usage: "[--insecure HOST] [-q] IMAGE [DESTINATION]",
    options: { ...REGISTRY_OPTIONS },
    async run(ctx) {
      need(ctx.args, 1, "1 or 2 arguments");
      const t = transferOptions(ctx);
      const r = await push(await store(ctx), ctx.args[0], { ...t, destination: ctx.args[1] })
        .finally(t.done);
      ctx.out(`${parseReference(r.name).tag ?? "latest"}: digest: ${r.digest} size: ${r.size}`);
    },
  },
  copy: {
    summary: "Copy an image between registries, oci:DIR[:NAME] and docker-archive:FILE[:NAME]",
    usage: "[--all-platforms] [--no-referrers] [--platform P] [--insecure HOST] SOURCE DESTINATION",
    options: {
      ...REGISTRY_OPTIONS,
      "all-platforms": { type: "boolean" },
      "no-referrers": { type: "boolean" },
    },
    async run(ctx) {
      need(ctx.args, 2, "exactly 2 arguments");
      const t = transferOptions(ctx);
      const r = await copy(ctx.args[0], ctx.args[1], {
        ...t,
        allPlatforms: Boolean(ctx.values["all-platforms"]),
        referrers: !ctx.values["no-referrers"],
      }).finally(t.done);
      ctx.out(r.digest);
    },
  },
  login: {
    summary: "Log in to a registry (credentials stored in ~/.docker/config.json like docker)",
    usage: "[-u USER] [-p PASSWORD | --password-stdin] [--insecure HOST] SERVER",
    options: {
      username: { type: "string", short: "u" },
      password: { type: "string", short: "p" },
      "password-stdin": { type: "boolean" },
      insecure: { type: "string", multiple: true },
    },
    async run(ctx) {
      need(ctx.args, 1, "exactly 1 argument");
      const username = str(ctx.values.username);
      if (!username) throw new UsageError("-u USER is required (stratum never prompts)");
      let password = str(ctx.values.password);
      if (ctx.values["password-stdin"]) password = await readStdinLine();
      if (password === undefined) throw new UsageError("give --password-stdin or -p PASSWORD");
      if (ctx.values.password) {
        ctx.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
      }
      await login(ctx.args[0], { username, password }, {
        insecure: insecureHosts(ctx),
      });
      ctx.out("Login Succeeded");
    },
  },
  logout: {
    summary: "Remove a registry's stored credentials",
    usage: "SERVER",
    options: {},
    async run(ctx) {
      need(ctx.args, 1, "exactly 1 argument");
      const removed = await logout(ctx.args[0]);
      const server = printable(ctx.args[0]);
      ctx.out(removed ? `Removing login credentials for ${server}` : `Not logged in to ${server}`);
    },
  },
  tags: {
    summary: "List a repository's tags",
    usage: "[--insecure HOST] REPOSITORY",
    options: { insecure: { type: "string", multiple: true } },
    async run(ctx) {
      need(ctx.args, 1, "exactly 1 argument");
      const tags = await listTags(ctx.args[0], {
        insecure: insecureHosts(ctx),
      });
      for (const t of tags) ctx.out(t);
    },
  },
  manifest: {
    summary: "Print an image's raw manifest or index, byte for byte",
    usage: "[--insecure HOST] IMAGE",
    options: { insecure: { type: "string", multiple: true } },
    async run(ctx) {
      need(ctx.args, 1, "exactly 1 argument");
      const m = await fetchManifest(ctx.args[0], {
        insecure: insecureHosts(ctx),
      });
      ctx.write(m.bytes);
    },
  },
  export: {
    summary: "Write an image's flattened file system as one tar, like docker export",
    usage: "-o FILE|- IMAGE",
    options: { output: { type: "string", short: "o" } },
    async run(ctx) {
      need(ctx.args, 1, "exactly 1 argument");
      const dest = str(ctx.values.output) ?? "-";
      if (dest === "-" && process.stdout.isTTY) {
        throw new UsageError("refusing to write a tar to a terminal; use -o FILE");
      }
      const s = await store(ctx);
      await writeTar(dest, flattenToTar(layerSources(s, await s.resolve(ctx.args[0]))));
    },
  },
  layers: {
    summary: "Show each layer: size, created-by, files added/modified/removed, wasted bytes",
    usage: "[--format table|json] IMAGE",
    options: { format: { type: "string" } },
    async run(ctx) {
      need(ctx.args, 1, "exactly 1 argument");
      const s = await store(ctx);
      const img = await s.resolve(ctx.args[0]);
      const tree = await buildMergedTree(layerSources(s, img));
      const createdBy = (img.config.history ?? []).filter((h) => !h.empty_layer).map((h) =>
        h.created_by ?? ""
      );
      const rows = tree.stats.map((st, i) => ({
        Layer: i,
        Digest: st.digest,
        Size: img.manifest.layers[i].size,
        CreatedBy: createdBy[i] ?? "",
        Added: st.added.files,
        Modified: st.modified.files,
        Removed: st.removed.files,
        WastedBytes: st.hiddenBytes,
      }));
      if (ctx.values.format === "json") return void ctx.out(JSON.stringify(rows, null, 2));
      const trunc = (t: string) => t.length <= 50 ? t : `${t.slice(0, 49)}…`;
      const table_ = [[
        "LAYER",
        "DIGEST",
        "SIZE",
        "ADDED",
        "MODIFIED",
        "REMOVED",
        "WASTED",
        "CREATED BY",
      ]];
      for (const r of rows) {
        table_.push([
          String(r.Layer),
          r.Digest.slice(7, 19),
          humanSize(r.Size),
          String(r.Added),
          String(r.Modified),
          String(r.Removed),
          humanSize(r.WastedBytes),
          trunc(r.CreatedBy),
        ]);
      }
      for (const line of table(table_)) ctx.out(line);
    },
  },
  ls: {
    summary: "List the merged file tree (or one layer's own entries), each with its layer",
    usage: "[--layer N] IMAGE [PATH]",
    options: { layer: { type: "string" } },
    async run(ctx) {
      need(ctx.args, 1, "1 or 2 arguments");
      const s = await store(ctx);
      const prefix = (ctx.args[1] ?? "").replace(/^\/+|\/+$/g, "");
      const under = (p: string) => !prefix || p === prefix || p.startsWith(`${prefix}/`);
      const line = (
        type: string,
        mode: number,
        uid: number,
        gid: number,
        size: number,
        path: string,
        link: string,
        layer: string,
      ) =>
        `${modeString(type, mode)} ${`${uid}/${gid}`.padEnd(9)} ${String(size).padStart(10)} ${
          layer.padEnd(4)
        } /${path}${link ? ` -> ${link}` : ""}`;
      if (ctx.values.layer !== undefined) {
        const img = await s.resolve(ctx.args[0]);
        const n = Number(ctx.values.layer);
        const sources = layerSources(s, img);
        if (!Number.isInteger(n) || n < 0 || n >= sources.length) {
          throw new UsageError(`--layer must be 0..${sources.length - 1}`);
        }
        for (const { header: h } of await scanLayer(sources[n])) {
          const path = h.name.replace(/^\.?\/+/, "").replace(/\/$/, "");
          if (!under(path)) continue;
          ctx.out(line(h.type, h.mode, h.uid, h.gid, h.size, path, h.linkname, `L${n}`));
        }
        return;
      }
      const tree = await mergedTreeOf(s, ctx.args[0]);
      const entries: TreeEntry[] = [...tree.entries()].filter((e) =>
        e.path !== "" && under(e.path)
      );
      for (const e of entries) {
        ctx.out(line(e.type, e.mode, e.uid, e.gid, e.size, e.path, e.linkTarget, `L${e.layer}`));
      }
    },
  },
  diff: {
    summary: "Show paths added (A), changed (C) and removed (D) from IMAGE1 to IMAGE2",
    usage: "IMAGE1 IMAGE2",
    options: {},
    async run(ctx) {
      need(ctx.args, 2, "exactly 2 arguments");
      const s = await store(ctx);
      const [a, b] = await Promise.all([
        mergedTreeOf(s, ctx.args[0]),
        mergedTreeOf(s, ctx.args[1]),
      ]);
      const letter = { added: "A", changed: "C", removed: "D" } as const;
      for (const c of diffTrees(a, b)) ctx.out(`${letter[c.kind]} /${c.path}`);
    },
  },
  serve: {
    summary:
      "Serve the store as an OCI distribution registry (docker, skopeo, crane push and pull)\n" +
      "\n" +
      "  --ui                    also serve the web view at / and its /api/*, under the same\n" +
      "                          --htpasswd login and per-repository access as /v2/\n" +
      "  --ui-remote             let the web view inspect images of other registries: it\n" +
      "                          pulls them into this store, anonymously\n" +
      "  --ui-remote-credentials pull those with your own logins (stratum login,\n" +
      "                          ~/.docker/config.json): every web view user sees what you can",
    usage: "[--addr 127.0.0.1:5000] [--htpasswd FILE [--token]] [--read-only] " +
      "[--namespace HOST] [--ui [--ui-remote [--ui-remote-credentials]]] [--insecure HOST]",
    options: {
      addr: { type: "string" },
      htpasswd: { type: "string" },
      token: { type: "boolean" },
      "read-only": { type: "boolean" },
      namespace: { type: "string" },
      ui: { type: "boolean" },
      "ui-remote": { type: "boolean" },
      "ui-remote-credentials": { type: "boolean" },
      insecure: { type: "string", multiple: true },
    },
    async run(ctx) {
      const addr = str(ctx.values.addr) ?? "127.0.0.1:5000";
      const htpasswd = str(ctx.values.htpasswd);
      if (ctx.values.token && !htpasswd) throw new UsageError("--token needs --htpasswd FILE");
      if (ctx.values["ui-remote"] && !ctx.values.ui) throw new UsageError("--ui-remote needs --ui");
      if (ctx.values["ui-remote-credentials"] && !ctx.values["ui-remote"]) {
        throw new UsageError("--ui-remote-credentials needs --ui-remote");
      }
      const { port } = parseAddr(addr);
      const s = await store(ctx);
      // Images pushed as HOST:PORT/NAME show in `stratum images` under that same name.
      const namespace = str(ctx.values.namespace) ?? `localhost:${port || 5000}`;
      const auth = htpasswd ? await htpasswdAuth(htpasswd, Boolean(ctx.values.token)) : undefined;
      const insecure = insecureHosts(ctx);
      const ui = ctx.values.ui
        ? createDemoApp(s, {
          namespace,
          auth,
          build: demoBuildEngine(ctx.root),
          resolve: ctx.values["ui-remote"]
            ? pullingResolver(s, {
              insecure,
              auth: ctx.values["ui-remote-credentials"] ? dockerConfigProvider() : undefined,
            })
            : undefined,
        })
        : undefined;
      // A first visit to an empty store's web view finds the demo image, not a 404.
      try {
        const seed = await ui?.seed();
        if (seed?.seeded) ctx.err(`built the demo image ${seed.reference} into the empty store`);
      } catch (e) {
        ctx.err(`Cannot build the demo image: ${(e as Error).message}`);
      }
      const server = await serveRegistry({
        store: s,
        addr,
        auth,
        ui,
        readOnly: Boolean(ctx.values["read-only"]),
        namespace,
        log: (line) => ctx.err(line),
      });
      ctx.err(
        `stratum registry listening on ${server.url}${ui ? ` (web view at ${server.url}/)` : ""}`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          void server.close().then(resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    },
  },
  fsck: {
    summary: "Re-hash every blob and check every referenced blob exists",
    usage: "",
    options: {},
    async run(ctx) {
      const r = await (await store(ctx)).fsck();
      for (const p of r.problems) ctx.out(`bad: ${p.digest}: ${p.problem}`);
      ctx.out(`checked ${r.checked} blobs, ${r.problems.length} problems`);
      return r.problems.length ? 1 : 0;
    },
  },
};

function defaultRoot(): string {
  if (process.env.STRATUM_ROOT) return process.env.STRATUM_ROOT;
  const home = process.env.HOME ?? "/root";
  const data = process.env.XDG_DATA_HOME ?? `${home}/.local/share`;
  return `${data}/stratum`;
}

function help(out: (s: string) => void): void {
  out("Usage: stratum [--root DIR] COMMAND [OPTIONS] [ARGS]");
  out("");
  out("A daemonless container-image toolkit.");
  out("");
  out("Commands:");
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  for (const [name, c] of Object.entries(COMMANDS)) out(`  ${name.padEnd(width)}  ${c.summary}`);
  out("");
  out("Global options:");
  out("  --root DIR   store root (default $STRATUM_ROOT or ~/.local/share/stratum)");
  out("Run 'stratum COMMAND --help' for more on a command.");
}

/** Where the CLI writes its lines; tests capture them. */
export interface CliOutput {
  /** Writes a line to standard output. */
  out(line: string): void;
  /** Writes a line to standard error. */
  err(line: string): void;
  /** Writes raw text or bytes to standard output (no newline added). */
  write(data: string | Uint8Array): void;
}

const STDIO: CliOutput = {
  out: (s) => writeStdio("stdout", s + "\n"),
  err: (s) => writeStdio("stderr", s + "\n"),
  write: (d) => writeStdio("stdout", d),
};

/**
 * Runs the CLI on `argv` (without the runtime and script) and returns the exit code: 141
 * when standard output was closed under it (`stratum ls IMAGE | head`), as for docker.
 */
export async function main(argv: string[], io: CliOutput = STDIO): Promise<number> {
  guardStdio();
  const code = await dispatch(argv, io);
  // A write fails after it returns: wait for the last one to know whether the reader left.
  await lastStdoutWrite;
  return gone.stdout ? EXIT_BROKEN_PIPE : code;
}

/**
 * docker's flag parser (pflag) takes the word after a flag that needs a value as that value
 * even when it starts with `-` (`--grace -5`, `-o -`); node's parseArgs calls that ambiguous
 * and fails with three lines of advice. The pair is joined as `--flag=value` first.
 */
function joinDashValues(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") return [...out, ...args.slice(i)];
    const long = a.startsWith("--")
      ? a.slice(2)
      : Object.keys(options).find((k) => a === `-${options[k].short}`);
    const next = args[i + 1];
    if (
      long !== undefined && options[long]?.type === "string" && next?.startsWith("-")
    ) {
      out.push(`--${long}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

async function dispatch(argv: string[], io: CliOutput): Promise<number> {
  const { out, err, write } = io;
  let root = defaultRoot();
  let i = 0;
  for (; i < argv.length && argv[i].startsWith("-"); i++) {
    const a = argv[i];
    if (a === "--root" && i + 1 < argv.length) root = argv[++i];
    else if (a.startsWith("--root=")) root = a.slice(7);
    else if (a === "-h" || a === "--help") {
      help(out);
      return 0;
    } else {
      err(`stratum: unknown global option ${printable(JSON.stringify(a))}`);
      return 2;
    }
  }
  const name = argv[i];
  if (!name) {
    help(err);
    return 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    err(`stratum: unknown command ${printable(JSON.stringify(name))}; see 'stratum --help'`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({
      args: joinDashValues(argv.slice(i + 1), command.options),
      options: { ...command.options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      out(`Usage: stratum ${name} ${command.usage}`);
      out("");
      out(command.summary);
      return 0;
    }
    return (await command.run({ root, args: positionals, values, out, err, write })) ?? 0;
  } catch (e) {
    // The reader went away: nothing to say, and no one to say it to.
    if (gone.stdout && isBrokenPipe(e)) return EXIT_BROKEN_PIPE;
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      err(`stratum ${name}: ${printable((e as Error).message)}`);
      err(`Usage: stratum ${name} ${command.usage}`);
      return 2;
    }
    err(`stratum ${name}: ${printable(e instanceof Error ? e.message : String(e))}`);
    if (process.env.STRATUM_DEBUG) err(String((e as Error).stack));
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
