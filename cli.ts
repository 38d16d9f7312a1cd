/**
 * The `stratum` command line: a thin, string-in layer over the library, like docker's.
 *
 * This file is the door: global flags (`--root` anywhere on the line, `--help`,
 * `--version`), parsing each command's flags, help and dispatch. The commands are listed
 * in `cli/_commands.ts`; a command's code lives in `cli/NAME.ts` and is imported only
 * when that command runs, so `stratum --help` or `stratum images` never loads the
 * builder, the server or the registry client. Errors are one line on stderr and a
 * non-zero exit.
 *
 * @module
 */
import process from "node:process";
import {
  type CommandContext,
  EXIT_BROKEN_PIPE,
  gone,
  guardStdio,
  isBrokenPipe,
  printable,
  stdoutDrained,
  UsageError,
  writeStdio,
} from "./cli/_context.ts";
import { type Command, COMMANDS, type Flag } from "./cli/_commands.ts";
import { returnLargeFreedBlocks } from "./cli/_launch.ts";
import { VERSION } from "./cli/_version.ts";

export { humanDuration, humanSize } from "./cli/_format.ts";

function defaultRoot(): string {
  if (process.env.STRATUM_ROOT) return process.env.STRATUM_ROOT;
  const home = process.env.HOME ?? "/root";
  const data = process.env.XDG_DATA_HOME ?? `${home}/.local/share`;
  return `${data}/stratum`;
}

const GLOBAL_HELP = [
  "Global options (anywhere on the line, like docker's):",
  "      --root DIR   Store root (default $STRATUM_ROOT or ~/.local/share/stratum)",
  "  -h, --help       Print help",
  "  -v, --version    Print the version",
];

function help(out: (s: string) => void): void {
  out("Usage: stratum [--root DIR] COMMAND [OPTIONS] [ARGS]");
  out("");
  out("A daemonless container-image toolkit.");
  out("");
  out("Commands:");
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  for (const [name, c] of Object.entries(COMMANDS)) out(`  ${name.padEnd(width)}  ${c.summary}`);
  out("");
  for (const line of GLOBAL_HELP) out(line);
  out("");
  out("Run 'stratum COMMAND --help' for more on a command.");
}

/** A command's `--help`: usage, summary, details, and each flag on one line. */
function commandHelp(name: string, c: Command, out: (s: string) => void): void {
  out(`Usage: stratum ${name}${c.usage ? ` ${c.usage}` : ""}`);
  out("");
  out(c.summary);
  if (c.details) {
    out("");
    for (const line of c.details.split("\n")) out(line);
  }
  out("");
  out("Options:");
  const rows = Object.entries({
    ...c.flags,
    help: { type: "boolean", short: "h", help: "Print this help" } as Flag,
  })
    .map(([long, f]) => [
      `${f.short ? `-${f.short}, ` : "    "}--${long}${
        f.type === "string" ? ` ${f.arg ?? "string"}` : ""
      }`,
      f.help,
    ]);
  const width = Math.max(...rows.map(([l]) => l.length));
  for (const [left, text] of rows) out(`  ${left.padEnd(width)}   ${text}`);
}

/** Where the CLI writes its lines; tests capture them. */
export interface CliOutput {
  /** Writes a line to standard output. */
  out(line: string): void;
  /** Writes a line to standard error. */
  err(line: string): void;
  /** Writes raw text or bytes to standard output (no newline added). */
  write(data: string | Uint8Array): void;
  /**
   * Writes raw text to standard error (progress, with its own line ends). Without it,
   * progress goes to `err` a line at a time.
   */
  writeErr?(text: string): void;
}

const STDIO: CliOutput = {
  out: (s) => writeStdio("stdout", s + "\n"),
  err: (s) => writeStdio("stderr", s + "\n"),
  write: (d) => writeStdio("stdout", d),
  writeErr: (t) => writeStdio("stderr", t),
};

/**
 * Runs the CLI on `argv` (without the runtime and script) and returns the exit code: 141
 * when standard output was closed under it (`stratum ls IMAGE | head`), as for docker.
 */
export async function main(argv: string[], io: CliOutput = STDIO): Promise<number> {
  guardStdio();
  const code = await dispatch(argv, io);
  // A write fails after it returns: wait for the last one to know whether the reader left.
  await stdoutDrained();
  return gone.stdout ? EXIT_BROKEN_PIPE : code;
}

type Values = CommandContext["values"];

/**
 * Reads a command's flags as docker's flag parser (pflag) does: `--flag value`,
 * `--flag=value`, `-f value`, `-fvalue`, grouped short booleans (`-aq`), a value that starts
 * with `-` (`--grace -5`, `-o -`), `--bool=true|false`, and `--` ending the flags. Unknown
 * flags fail with pflag's words.
 */
function parseFlags(
  args: string[],
  flags: Record<string, Flag>,
): { values: Values; args: string[] } {
  const values: Values = {};
  const positionals: string[] = [];
  const set = (name: string, f: Flag, value: string | boolean) => {
    if (f.multiple) values[name] = [...((values[name] as (string | boolean)[]) ?? []), value];
    else values[name] = value;
  };
  const bool = (shown: string, text: string): boolean => {
    if (/^(1|t|T|TRUE|true|True)$/.test(text)) return true;
    if (/^(0|f|F|FALSE|false|False)$/.test(text)) return false;
    throw new UsageError(
      `invalid argument ${JSON.stringify(text)} for "${shown}" flag: ` +
        `strconv.ParseBool: parsing ${JSON.stringify(text)}: invalid syntax`,
    );
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const f = flags[name];
      if (!f) throw new UsageError(`unknown flag: --${name}`);
      if (f.type === "boolean") {
        set(name, f, eq < 0 ? true : bool(`--${name}`, a.slice(eq + 1)));
      } else if (eq >= 0) set(name, f, a.slice(eq + 1));
      else if (i + 1 < args.length) set(name, f, args[++i]);
      else throw new UsageError(`flag needs an argument: --${name}`);
      continue;
    }
    if (a.startsWith("-") && a !== "-") {
      for (let j = 1; j < a.length; j++) {
        const c = a[j];
        const entry = Object.entries(flags).find(([, f]) => f.short === c);
        if (!entry) throw new UsageError(`unknown shorthand flag: '${c}' in ${a}`);
        const [name, f] = entry;
        if (f.type === "boolean") {
          if (a[j + 1] === "=") {
            set(name, f, bool(`-${c}`, a.slice(j + 2)));
            break;
          }
          set(name, f, true);
          continue;
        }
        const rest = a.slice(j + 1).replace(/^=/, "");
        if (rest) set(name, f, rest);
        else if (i + 1 < args.length) set(name, f, args[++i]);
        else throw new UsageError(`flag needs an argument: '${c}' in -${c}`);
        break;
      }
      continue;
    }
    positionals.push(a);
  }
  return { values, args: positionals };
}

/**
 * Takes the global flags out of `argv`, wherever they are, as docker takes its persistent
 * flags: `--root DIR`/`--root=DIR`, and before the command `-h`/`--help` and
 * `-v`/`--version`. Words after `--` are left alone.
 */
function globalFlags(argv: string[]): { root?: string; rest: string[]; error?: string } {
  const rest: string[] = [];
  let root: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === "--root") {
      if (i + 1 >= argv.length) return { rest, error: "flag needs an argument: --root" };
      root = argv[++i];
    } else if (a.startsWith("--root=")) root = a.slice(7);
    else rest.push(a);
  }
  return { root, rest };
}

async function dispatch(argv: string[], io: CliOutput): Promise<number> {
  const { out, err, write } = io;
  const writeErr = io.writeErr?.bind(io) ??
    ((text: string) => {
      for (const line of text.replace(/\n$/, "").split("\n")) err(line);
    });
  const global = globalFlags(argv);
  if (global.error) {
    err(`stratum: ${global.error}`);
    return 2;
  }
  const root = global.root ?? defaultRoot();
  const rest = global.rest;
  let i = 0;
  for (; i < rest.length && rest[i].startsWith("-"); i++) {
    const a = rest[i];
    if (a === "-h" || a === "--help") {
      help(out);
      return 0;
    } else if (a === "-v" || a === "--version") {
      out(`stratum version ${VERSION}`);
      return 0;
    } else {
      err(`stratum: unknown flag: ${printable(a.replace(/=.*/s, ""))}`);
      err("See 'stratum --help'.");
      return 2;
    }
  }
  const name = rest[i];
  if (!name) {
    help(err);
    return 2;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    err(`stratum: unknown command ${printable(JSON.stringify(name))}; see 'stratum --help'`);
    return 2;
  }
  try {
    const { values, args } = parseFlags(rest.slice(i + 1), {
      ...command.flags,
      help: { type: "boolean", short: "h", help: "" },
    });
    if (values.help) {
      commandHelp(name, command, out);
      return 0;
    }
    const module = await command.load();
    return (await module.run({ root, args, values, out, err, write, writeErr })) ?? 0;
  } catch (e) {
    // The reader went away: nothing to say, and no one to say it to.
    if (gone.stdout && isBrokenPipe(e)) return EXIT_BROKEN_PIPE;
    if (e instanceof UsageError) {
      err(`stratum ${name}: ${printable(e.message)}`);
      err(`Usage: stratum ${name}${command.usage ? ` ${command.usage}` : ""}`);
      return 2;
    }
    err(`stratum ${name}: ${printable(e instanceof Error ? e.message : String(e))}`);
    if (process.env.STRATUM_DEBUG) err(String((e as Error).stack));
    return 1;
  }
}

if (import.meta.main) {
  returnLargeFreedBlocks();
  process.exitCode = await main(process.argv.slice(2));
}
