/**
 * The `stratum` command line: a thin, string-in layer over the library.
 *
 * Global options come before the command, like docker's: `stratum --root DIR images`.
 * Errors are one line on stderr and a non-zero exit.
 *
 * @module
 */
import process from "node:process";
import { parseArgs, type ParseArgsConfig } from "node:util";

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

const COMMANDS: Record<string, Command> = {};

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

/** Runs the CLI on `argv` (without the runtime and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const out = (s: string) => void process.stdout.write(s + "\n");
  const err = (s: string) => void process.stderr.write(s + "\n");
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
      err(`stratum: unknown global option "${a}"`);
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
    err(`stratum: unknown command "${name}"; see 'stratum --help'`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({
      args: argv.slice(i + 1),
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
    return (await command.run({ root, args: positionals, values, out, err })) ?? 0;
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      err(`stratum ${name}: ${(e as Error).message}`);
      err(`Usage: stratum ${name} ${command.usage}`);
      return 2;
    }
    err(`stratum ${name}: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.STRATUM_DEBUG) err(String((e as Error).stack));
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
