/**
 * The commands of the `stratum` command line: each one's summary, usage, flags and the
 * `cli/NAME.ts` module that runs it, imported only when it runs. `cli.ts` parses the line
 * and dispatches through this table.
 *
 * @module
 */
import type { CommandModule } from "./_context.ts";

/** One flag of a command: its type, short letter, value name and one line of help. */
export interface Flag {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** The value's name in help (`FILE`); string flags only. */
  arg?: string;
  help: string;
}

/** A command: its help, its flags and the module that runs it, loaded when it runs. */
export interface Command {
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

/** Every command, in the order `stratum --help` lists them. */
export const COMMANDS: Record<string, Command> = {
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
    load: () => import("./images.ts"),
  },
  tag: {
    summary: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    flags: {},
    load: () => import("./tag.ts"),
  },
  rmi: {
    summary: "Remove one or more images (untag; delete when no name is left)",
    usage: "[-f] IMAGE [IMAGE...]",
    flags: {
      force: { type: "boolean", short: "f", help: "Remove an image that other names share" },
    },
    load: () => import("./rmi.ts"),
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
    load: () => import("./inspect.ts"),
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
    load: () => import("./history.ts"),
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
    load: () => import("./save.ts"),
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
    load: () => import("./load.ts"),
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
    load: () => import("./gc.ts"),
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
    load: () => import("./build.ts"),
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
    load: () => import("./parse.ts"),
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
    load: () => import("./fmt.ts"),
  },
  pull: {
    summary: "Pull an image from a registry into the store",
    usage: "[OPTIONS] IMAGE",
    flags: { ...REGISTRY_FLAGS },
    load: () => import("./pull.ts"),
  },
  push: {
    summary: "Push an image from the store to a registry (optionally under another name)",
    usage: "[OPTIONS] IMAGE [DESTINATION]",
    flags: { ...REGISTRY_FLAGS },
    load: () => import("./push.ts"),
  },
  copy: {
    summary: "Copy an image between registries, oci:DIR[:NAME] and docker-archive:FILE[:NAME]",
    usage: "[OPTIONS] SOURCE DESTINATION",
    flags: {
      ...REGISTRY_FLAGS,
      "all-platforms": { type: "boolean", help: "Copy every platform of an index" },
      "no-referrers": { type: "boolean", help: "Do not copy signatures and other referrers" },
    },
    load: () => import("./copy.ts"),
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
    load: () => import("./login.ts"),
  },
  logout: {
    summary: "Remove a registry's stored credentials",
    usage: "SERVER",
    flags: {},
    load: () => import("./logout.ts"),
  },
  tags: {
    summary: "List a repository's tags",
    usage: "[--insecure HOST] REPOSITORY",
    flags: { insecure: INSECURE },
    load: () => import("./tags.ts"),
  },
  manifest: {
    summary: "Print an image's raw manifest or index, byte for byte",
    usage: "[--insecure HOST] IMAGE",
    flags: { insecure: INSECURE },
    load: () => import("./manifest.ts"),
  },
  export: {
    summary: "Write an image's flattened file system as one tar, like docker export",
    usage: "-o FILE|- IMAGE",
    flags: {
      output: { type: "string", short: "o", arg: "FILE", help: "Write to FILE, - for stdout" },
    },
    load: () => import("./export.ts"),
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
    load: () => import("./unpack.ts"),
  },
  layers: {
    summary: "Show each layer: size, created-by, files added/modified/removed, wasted bytes",
    usage: "[--format table|json] IMAGE",
    flags: { format: { type: "string", arg: "FORMAT", help: "table (default) or json" } },
    load: () => import("./layers.ts"),
  },
  ls: {
    summary: "List the merged file tree (or one layer's own entries), each with its layer",
    usage: "[--layer N] IMAGE [PATH]",
    flags: { layer: { type: "string", arg: "N", help: "List layer N's own entries" } },
    load: () => import("./ls.ts"),
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
    load: () => import("./diff.ts"),
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
    load: () => import("./serve.ts"),
  },
  fsck: {
    summary: "Re-hash every blob and check every referenced blob exists",
    usage: "",
    flags: {},
    load: () => import("./fsck.ts"),
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
    load: () => import("./version.ts"),
  },
};
