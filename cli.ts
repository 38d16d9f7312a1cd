/**
 * The `stratum` command line: a thin, string-in layer over the library, like docker's.
 *
 * This file is the door: global flags (`--root` anywhere on the line, `--help`,
 * `--version`), each command's flags and help, and dispatch. A command's code lives in
 * `cli/NAME.ts` and is imported only when that command runs, so `stratum --help` or
 * `stratum images` never loads the builder, the server or the registry client. Errors are
 * one line on stderr and a non-zero exit.
 *
 * @module
 */
import process from "node:process";
import {
  type CommandContext,
  type CommandModule,
  EXIT_BROKEN_PIPE,
  gone,
  guardStdio,
  isBrokenPipe,
  printable,
  stdoutDrained,
  UsageError,
  writeStdio,
} from "./cli/_context.ts";
import { VERSION } from "./cli/_version.ts";

export { humanDuration, humanSize } from "./cli/_format.ts";

/** One flag of a command: its type, short letter, value name and one line of help. */
interface Flag {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** The value's name in help (`FILE`); string flags only. */
  arg?: string;
  help: string;
}

interface Command {
  summary: string;
  usage: string;
  /** Longer help printed after the summary. */
  details?: string;
  flags: Record<string, Flag>;
  load(): Promise<CommandModule>;
}

const INSECURE: Flag = {
  type: "string",
  multiple: true,
  arg: "HOST",
  help: "Reach registry HOST over plain HTTP (repeatable)",
};
const REGISTRY_FLAGS: Record<string, Flag> = {
  insecure: INSECURE,
  platform: {
    type: "string",
    arg: "OS/ARCH",
    help: "Pick this platform from a multi-platform image",
  },
  quiet: { type: "boolean", short: "q", help: "Suppress progress output" },
};
const LIST_FORMAT = "Format output: table, json, 'table TEMPLATE' or a Go template";

const COMMANDS: Record<string, Command> = {
  images: {
    summary: "List images",
    usage: "[OPTIONS] [REPOSITORY[:TAG]]",
    details: "SIZE is the unpacked size, as docker shows it; {{.CompressedSize}} in --format\n" +
      "(and the json format) gives the bytes stored and moved by push and pull.\n" +
      "Fields: .ID .Repository .Tag .Digest .CreatedSince .CreatedAt .Size .CompressedSize",
    flags: {
      all: {
        type: "boolean",
        short: "a",
        help: "Show all images (stratum keeps no intermediate images: as the default)",
      },
      digests: { type: "boolean", help: "Show digests" },
      filter: {
        type: "string",
        short: "f",
        multiple: true,
        arg: "FILTER",
        help:
          "Filter: dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE, label=K[=V]",
      },
      format: { type: "string", arg: "FORMAT", help: LIST_FORMAT },
      "no-trunc": { type: "boolean", help: "Don't truncate output" },
      quiet: { type: "boolean", short: "q", help: "Only show image IDs" },
    },
    load: () => import("./cli/images.ts"),
  },
  tag: {
    summary: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    flags: {},
    load: () => import("./cli/tag.ts"),
  },
  rmi: {
    summary: "Remove one or more images (untag; delete when no name is left)",
    usage: "[-f] IMAGE [IMAGE...]",
    flags: {
      force: { type: "boolean", short: "f", help: "Remove an image that other names share" },
    },
    load: () => import("./cli/rmi.ts"),
  },
  inspect: {
    summary: "Show low-level information on images, as JSON",
    usage: "[-f FORMAT] IMAGE [IMAGE...]",
    details: "FORMAT is a Go template, as docker's: {{.Id}}, {{json .Config}},\n" +
      "{{index .RepoTags 0}}, {{range .Config.Env}}{{println .}}{{end}}, ...",
    flags: {
      format: {
        type: "string",
        short: "f",
        arg: "FORMAT",
        help: "Format output with a Go template",
      },
    },
    load: () => import("./cli/inspect.ts"),
  },
  history: {
    summary: "Show the history of an image",
    usage: "[OPTIONS] IMAGE",
    details: "SIZE is each layer's unpacked size, as docker shows it; {{.CompressedSize}} in\n" +
      "--format (and the json format) gives the stored blob's size.\n" +
      "Fields: .ID .CreatedSince .CreatedAt .CreatedBy .Size .CompressedSize .Comment",
    flags: {
      "no-trunc": { type: "boolean", help: "Don't truncate output" },
      format: { type: "string", arg: "FORMAT", help: LIST_FORMAT },
      quiet: { type: "boolean", short: "q", help: "Only show image IDs" },
    },
    load: () => import("./cli/history.ts"),
  },
  save: {
    summary:
      "Save images to a docker archive (docker load), an OCI archive, or an OCI layout directory",
    usage: "[--format docker|oci|oci-dir] -o FILE|DIR|- IMAGE [IMAGE...]",
    flags: {
      output: {
        type: "string",
        short: "o",
        arg: "FILE",
        help: "Write to FILE (or DIR), - for stdout",
      },
      format: { type: "string", arg: "FORMAT", help: "docker (default), oci or oci-dir" },
    },
    load: () => import("./cli/save.ts"),
  },
  load: {
    summary: "Load images from a docker or OCI archive (plain or gzip) or an OCI layout directory",
    usage: "[-i FILE|DIR|-] [--name REPOSITORY] [-q]",
    flags: {
      input: {
        type: "string",
        short: "i",
        arg: "FILE",
        help: "Read from FILE or DIR (default stdin)",
      },
      name: {
        type: "string",
        arg: "REPOSITORY",
        help: "Name images that the archive leaves unnamed",
      },
      quiet: { type: "boolean", short: "q", help: "Suppress the load output" },
    },
    load: () => import("./cli/load.ts"),
  },
  gc: {
    summary: "Delete blobs that no image name reaches, and what killed processes left",
    usage: "[--grace SECONDS]",
    details: "Reports what it freed by kind: blobs, unpacked layer snapshots, and\n" +
      "ingest/debris (abandoned writes and build scratch of dead processes).",
    flags: {
      grace: {
        type: "string",
        arg: "SECONDS",
        help: "Keep unnamed content younger than this (default 600)",
      },
    },
    load: () => import("./cli/gc.ts"),
  },
  build: {
    summary: "Build an image from a Dockerfile, like docker build (no daemon)",
    usage: "[OPTIONS] CONTEXT|-",
    flags: {
      tag: { type: "string", short: "t", multiple: true, arg: "NAME:TAG", help: "Name the image" },
      file: {
        type: "string",
        short: "f",
        arg: "FILE",
        help: "The Dockerfile (default CONTEXT/Dockerfile, - for stdin)",
      },
      "build-arg": {
        type: "string",
        multiple: true,
        arg: "K=V",
        help: "Set a build-time variable",
      },
      target: { type: "string", arg: "STAGE", help: "Build this stage" },
      platform: { type: "string", arg: "OS/ARCH", help: "Build for this platform" },
      "no-cache": { type: "boolean", help: "Do not use the build cache" },
      pull: { type: "boolean", help: "Always pull the base images" },
      progress: { type: "string", arg: "MODE", help: "auto, plain or tty" },
      network: { type: "string", arg: "MODE", help: "Network for RUN: host (default) or none" },
      secret: {
        type: "string",
        multiple: true,
        arg: "id=ID,src=PATH",
        help: "A secret for RUN --mount=type=secret",
      },
      label: { type: "string", multiple: true, arg: "K=V", help: "Set an image label" },
      output: {
        type: "string",
        short: "o",
        multiple: true,
        arg: "SPEC",
        help: "Output: type=local,dest=DIR | type=tar,dest=FILE | ...",
      },
      iidfile: { type: "string", arg: "FILE", help: "Write the image ID to FILE" },
      "metadata-file": { type: "string", arg: "FILE", help: "Write build metadata to FILE" },
      "explain-cache": { type: "boolean", help: "Say why each step was or was not cached" },
      "dry-run": { type: "boolean", help: "Show what would run, build nothing" },
      "cache-to": {
        type: "string",
        multiple: true,
        arg: "SPEC",
        help: "Export the cache: type=registry,ref=REF",
      },
      "cache-from": {
        type: "string",
        multiple: true,
        arg: "SPEC",
        help: "Import a cache: type=registry,ref=REF",
      },
      push: { type: "boolean", help: "Push the tagged image when built" },
      quiet: { type: "boolean", short: "q", help: "Print only the image ID" },
      insecure: INSECURE,
    },
    load: () => import("./cli/build.ts"),
  },
  parse: {
    summary: "Parse a Dockerfile the way BuildKit does and print it",
    usage: "[-f FILE|-] [--json]",
    flags: {
      file: {
        type: "string",
        short: "f",
        arg: "FILE",
        help: "The Dockerfile (default ./Dockerfile, - for stdin)",
      },
      json: { type: "boolean", help: "Print the parse as JSON" },
    },
    load: () => import("./cli/parse.ts"),
  },
  fmt: {
    summary: "Print a Dockerfile in canonical form (or rewrite it with --write)",
    usage: "[-f FILE|-] [--write] [--check]",
    flags: {
      file: {
        type: "string",
        short: "f",
        arg: "FILE",
        help: "The Dockerfile (default ./Dockerfile, - for stdin)",
      },
      write: { type: "boolean", short: "w", help: "Rewrite the file in place" },
      check: { type: "boolean", help: "Exit 1 when the file is not formatted" },
    },
    load: () => import("./cli/fmt.ts"),
  },
  pull: {
    summary: "Pull an image from a registry into the store",
    usage: "[OPTIONS] IMAGE",
    flags: { ...REGISTRY_FLAGS },
    load: () => import("./cli/pull.ts"),
  },
  push: {
    summary: "Push an image from the store to a registry (optionally under another name)",
    usage: "[OPTIONS] IMAGE [DESTINATION]",
    flags: { ...REGISTRY_FLAGS },
    load: () => import("./cli/push.ts"),
  },
  copy: {
    summary: "Copy an image between registries, oci:DIR[:NAME] and docker-archive:FILE[:NAME]",
    usage: "[OPTIONS] SOURCE DESTINATION",
    flags: {
      ...REGISTRY_FLAGS,
      "all-platforms": { type: "boolean", help: "Copy every platform of an index" },
      "no-referrers": { type: "boolean", help: "Do not copy signatures and other referrers" },
    },
    load: () => import("./cli/copy.ts"),
  },
  login: {
    summary: "Log in to a registry (credentials stored in ~/.docker/config.json like docker)",
    usage: "[-u USER] [-p PASSWORD | --password-stdin] [--insecure HOST] SERVER",
    flags: {
      username: { type: "string", short: "u", arg: "USER", help: "Username" },
      password: {
        type: "string",
        short: "p",
        arg: "PASSWORD",
        help: "Password (prefer --password-stdin)",
      },
      "password-stdin": { type: "boolean", help: "Read the password from stdin" },
      insecure: INSECURE,
    },
    load: () => import("./cli/login.ts"),
  },
  logout: {
    summary: "Remove a registry's stored credentials",
    usage: "SERVER",
    flags: {},
    load: () => import("./cli/logout.ts"),
  },
  tags: {
    summary: "List a repository's tags",
    usage: "[--insecure HOST] REPOSITORY",
    flags: { insecure: INSECURE },
    load: () => import("./cli/tags.ts"),
  },
  manifest: {
    summary: "Print an image's raw manifest or index, byte for byte",
    usage: "[--insecure HOST] IMAGE",
    flags: { insecure: INSECURE },
    load: () => import("./cli/manifest.ts"),
  },
  export: {
    summary: "Write an image's flattened file system as one tar, like docker export",
    usage: "-o FILE|- IMAGE",
    flags: {
      output: { type: "string", short: "o", arg: "FILE", help: "Write to FILE, - for stdout" },
    },
    load: () => import("./cli/export.ts"),
  },
  unpack: {
    summary: "Unpack an image into an OCI runtime bundle (DIR/rootfs, DIR/config.json), like umoci",
    usage: "[OPTIONS] IMAGE DIR",
    details:
      "DIR must be missing or empty. The bundle runs with `runc run --bundle DIR ID`; its\n" +
      "config.json comes from the image config (entrypoint, cmd, env, user, workdir).",
    flags: {
      rootless: {
        type: "boolean",
        help: "For an unprivileged user: no chown, user namespace, rootless mounts",
      },
      "uid-map": {
        type: "string",
        multiple: true,
        arg: "CONT:HOST[:SIZE]",
        help: "Map container UIDs to host UIDs, files and spec (repeatable)",
      },
      "gid-map": {
        type: "string",
        multiple: true,
        arg: "CONT:HOST[:SIZE]",
        help: "Map container GIDs to host GIDs, files and spec (repeatable)",
      },
    },
    load: () => import("./cli/unpack.ts"),
  },
  layers: {
    summary: "Show each layer: size, created-by, files added/modified/removed, wasted bytes",
    usage: "[--format table|json] IMAGE",
    flags: { format: { type: "string", arg: "FORMAT", help: "table (default) or json" } },
    load: () => import("./cli/layers.ts"),
  },
  ls: {
    summary: "List the merged file tree (or one layer's own entries), each with its layer",
    usage: "[--layer N] IMAGE [PATH]",
    flags: { layer: { type: "string", arg: "N", help: "List layer N's own entries" } },
    load: () => import("./cli/ls.ts"),
  },
  diff: {
    summary: "Show paths added (A), changed (C) and removed (D) from IMAGE1 to IMAGE2",
    usage: "[--mtime] IMAGE1 IMAGE2",
    details: "A path counts as changed when its type, size, mode, owner, link target or\n" +
      "xattrs differ. The default is content-only for mtimes: a file whose mtime differs\n" +
      "counts only when its bytes differ too (hashed in both images), not when only its\n" +
      "mtime does, since a rebuild touches every copied file's mtime and container-diff\n" +
      "users expect its content comparison.\n" +
      "--mtime also reports files whose only change is the modification time.",
    flags: {
      mtime: { type: "boolean", help: "Also report files whose only change is the mtime" },
    },
    load: () => import("./cli/diff.ts"),
  },
  serve: {
    summary:
      "Serve the store as an OCI distribution registry (docker, skopeo, crane push and pull)",
    usage: "[OPTIONS]",
    details: "Every image in the store is served, under the name a client of this server uses:\n" +
      "  app:1 (docker.io/library/app:1)      ->  HOST:PORT/library/app:1\n" +
      "  user/app:1 (docker.io/user/app:1)    ->  HOST:PORT/user/app:1\n" +
      "  localhost:5000/app:1 (--namespace)   ->  HOST:PORT/app:1\n" +
      "  ghcr.io/org/app:1 (another registry) ->  HOST:PORT/ghcr.io/org/app:1\n" +
      "Images pushed to the server land under --namespace (default localhost:PORT), so\n" +
      "`docker push HOST:PORT/app:1` shows in `stratum images` as localhost:PORT/app:1.",
    flags: {
      addr: { type: "string", arg: "HOST:PORT", help: "Listen here (default 127.0.0.1:5000)" },
      htpasswd: {
        type: "string",
        arg: "FILE",
        help: "Require logins from this htpasswd file (bcrypt)",
      },
      token: {
        type: "boolean",
        help: "Hand out bearer tokens (docker's token auth) for --htpasswd",
      },
      "read-only": { type: "boolean", help: "Refuse pushes and deletes" },
      namespace: {
        type: "string",
        arg: "HOST",
        help: "Store names of pushed images under HOST/ (default localhost:PORT)",
      },
      ui: { type: "boolean", help: "Also serve the web view at / and /api/*, same logins as /v2/" },
      "ui-remote": {
        type: "boolean",
        help: "Let the web view pull images of other registries, anonymously",
      },
      "ui-remote-credentials": {
        type: "boolean",
        help: "Pull those with your logins (every web user sees what you can)",
      },
      insecure: INSECURE,
    },
    load: () => import("./cli/serve.ts"),
  },
  fsck: {
    summary: "Re-hash every blob and check every referenced blob exists",
    usage: "",
    flags: {},
    load: () => import("./cli/fsck.ts"),
  },
  version: {
    summary: "Show the stratum version and runtime",
    usage: "[--format TEMPLATE]",
    details: "Fields: .Version .Runtime .RuntimeVersion .Os .Arch",
    flags: {
      format: {
        type: "string",
        short: "f",
        arg: "FORMAT",
        help: "Format output with a Go template",
      },
    },
    load: () => import("./cli/version.ts"),
  },
};

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
  process.exitCode = await main(process.argv.slice(2));
}
