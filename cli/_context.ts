/**
 * What every command shares: its context, usage errors, standard output and error that
 * survive a closed pipe, and small argument helpers. Imports only `node:` built-ins, so the
 * door (`cli.ts`) stays light.
 *
 * @module
 */
import { createReadStream } from "node:fs";
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

/** A byte stream from a file path, or standard input for `-`. */
export function inputStream(path: string): ReadableStream<Uint8Array> {
  const node = path === "-" ? process.stdin : createReadStream(path, { highWaterMark: 256 << 10 });
  return Readable.toWeb(node) as unknown as ReadableStream<Uint8Array>;
}

/**
 * Writes a tar to standard output for `-`, else to the file `path` with writeFileAtomic:
 * an existing file is replaced only once the whole tar is written, and kept as it was when
 * anything fails.
 */
export async function writeTar(path: string, tar: ReadableStream<Uint8Array>): Promise<void> {
  if (path === "-") return await tar.pipeTo(stdoutSink());
  // Imported here: only save and export to a file need the builder's atomic writer.
  const { writeFileAtomic } = await import("../builder/mod.ts");
  await writeFileAtomic(path, tar);
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

/** Standard output as a byte sink with backpressure: each write waits for the last. */
export function stdoutSink(): WritableStream<Uint8Array> {
  return new WritableStream({
    write: (chunk) =>
      new Promise<void>((resolve, reject) =>
        writeStdio("stdout", chunk, (error) => error ? reject(error) : resolve())
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
