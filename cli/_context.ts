/**
 * What every command shares: its context, usage errors, standard output and error that
 * survive a closed pipe, and small argument helpers. Imports only `node:` built-ins, so the
 * door (`cli.ts`) stays light.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import process from "node:process";
import { Readable } from "node:stream";

/** What a command receives. */
export interface CommandContext {
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
  /** Writes raw text (progress, with its own line ends and escapes) to standard error. */
  writeErr: (text: string) => void;
}

/** A command's module: `cli/NAME.ts` exports `run`. */
export interface CommandModule {
  /** Runs the command; the exit code, or nothing for 0. */
  run(ctx: CommandContext): Promise<number | void>;
}

/** A caller mistake on the command line: printed with the command's usage. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Frees a chunk's memory once it is used (storage's `releaseChunk`). */
export type ChunkRelease = (chunk: Uint8Array) => void;

/**
 * A byte stream from a file path, or standard input for `-` (through /dev/stdin where there
 * is one): reads of 256 KiB into a fresh buffer each, handed on whole, so that its one
 * consumer may free each once used (loadArchive's `releaseChunks`). Deno's
 * createReadStream + toWeb copied every chunk once more, garbage that only the next
 * collection freed, about 64 MiB of it at a time. `release` frees the big buffer behind a
 * short read.
 */
export function inputStream(path: string, release?: ChunkRelease): ReadableStream<Uint8Array> {
  const viaNode = () => Readable.toWeb(process.stdin) as unknown as ReadableStream<Uint8Array>;
  if (path === "-" && !existsSync("/dev/stdin")) return viaNode();
  let fh: FileHandle | undefined;
  // Standard input that /dev/stdin cannot open (a socket, as Node's child processes get:
  // ENXIO) is read through the runtime's own stream instead.
  let fallback: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (!fh && !fallback) {
        try {
          fh = await open(path === "-" ? "/dev/stdin" : path, "r");
        } catch (e) {
          if (path !== "-" || (e as { code?: string }).code !== "ENXIO") throw e;
          fallback = viaNode().getReader();
        }
      }
      if (fallback) {
        // A copy: the runtime may still hold its chunk, and the consumer frees what it gets.
        const { done, value } = await fallback.read();
        return done ? c.close() : c.enqueue(value.slice());
      }
      const buf = new Uint8Array(256 << 10);
      const { bytesRead } = await fh!.read(buf, 0, buf.length, null);
      if (bytesRead === 0) {
        await fh!.close();
        return c.close();
      }
      if (bytesRead === buf.length) return c.enqueue(buf);
      // A pipe gives 64 KiB at a time: pass on an exact copy and free the big buffer now.
      c.enqueue(buf.slice(0, bytesRead));
      release?.(buf);
    },
    async cancel(reason) {
      await fh?.close();
      await fallback?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * Writes a tar to standard output for `-`, else to the file `path` with writeFileAtomic:
 * an existing file is replaced only once the whole tar is written, and kept as it was when
 * anything fails. The tar is stratum's own (save, export): no one else holds its chunks,
 * so with `release` each is freed once written and a gigabyte layer does not leave dead
 * chunks waiting for the GC.
 */
export async function writeTar(
  path: string,
  tar: ReadableStream<Uint8Array>,
  release?: ChunkRelease,
): Promise<void> {
  if (path === "-") return await tar.pipeTo(stdoutSink(release));
  // Imported here: only save and export to a file need the builder's atomic writer.
  const { writeFileAtomic } = await import("../builder/mod.ts");
  await writeFileAtomic(path, tar, { releaseChunks: release !== undefined });
}

/*
 * A closed standard output (`stratum ls IMAGE / | head -2`). docker and coreutils are killed
 * by SIGPIPE there, which a shell reports as status 141; Node and Deno ignore SIGPIPE, so the
 * write fails with EPIPE instead (its callback and an `error` event on the stream) and,
 * unhandled, crashed with a stack trace. Here the first EPIPE marks the stream gone, later
 * output is dropped, a pipe being written stops, and main() returns 141 without a word, so a
 * script with `set -o pipefail` sees what it sees with docker.
 */
/** Which of stdout and stderr were found closed. */
export const gone = { stdout: false, stderr: false };
let stdioGuarded = false;
/** The last write to stdout, settled once written or failed: writes end in order. */
let lastStdoutWrite = Promise.resolve();

/** Settles when the last write to stdout has been written or has failed. */
export function stdoutDrained(): Promise<void> {
  return lastStdoutWrite;
}

/** The status of a command whose standard output was closed: 128 + SIGPIPE, as a shell shows. */
export const EXIT_BROKEN_PIPE = 141;

/** Whether `error` is a write to a closed pipe (or to the stream it destroyed), on Node or Deno. */
export function isBrokenPipe(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "EPIPE" || code === "ERR_STREAM_DESTROYED";
}

/** Listens for EPIPE on stdout and stderr once, so that it is never an uncaught error. */
export function guardStdio(): void {
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
export function writeStdio(
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
export class BrokenPipeError extends Error {
  /** Always `EPIPE`, like the runtime's own error. */
  readonly code = "EPIPE";
  constructor(name: string) {
    super(`${name} is closed`);
    this.name = "BrokenPipeError";
  }
}

/**
 * Standard output as a byte sink with backpressure: each write waits for the last. With
 * `release`, each chunk is freed once written.
 */
export function stdoutSink(release?: ChunkRelease): WritableStream<Uint8Array> {
  return new WritableStream({
    write: (chunk) =>
      new Promise<void>((resolve, reject) =>
        writeStdio("stdout", chunk, (error) => {
          if (error) return reject(error);
          release?.(chunk);
          resolve();
        })
      ),
  });
}

/**
 * Control characters (C0, DEL, C1) as JSON escapes (`\n`, `\u001b`), so that a name with a
 * newline or a terminal escape in it, quoted in a message, is shown rather than obeyed.
 */
export function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    const short: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    return short[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

/** A string option's value, or undefined. */
export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** Throws a usage error unless there are `count` positional arguments. */
export function need(args: string[], count: number, what: string): void {
  if (args.length < count) throw new UsageError(`requires ${what}`);
}

/** Reads all of standard input as text. */
export async function readStdinText(): Promise<string> {
  return await new Response(inputStream("-")).text();
}
