import type { ImageConfig } from "./image_config.ts";
import { ConfigError } from "./errors.ts";

/**
 * The `ociVersion` written: the runtime-spec release whose fields the spec uses (all exist
 * since 1.0), which every runtime in use reads. umoci writes the version it vendors.
 */
export const RUNTIME_SPEC_VERSION = "1.0.2";

/** One range of a user namespace's ID map (runtime-spec `LinuxIDMapping`). */
export interface IdMapping {
  /** First ID inside the container. */
  containerID: number;
  /** The host ID that `containerID` maps to. */
  hostID: number;
  /** How many consecutive IDs the range holds. */
  size: number;
}

/** A mount of the runtime spec. */
export interface RuntimeMount {
  /** Where in the container. */
  destination: string;
  /** Filesystem type (`proc`, `tmpfs`, `bind`...). */
  type: string;
  /** What is mounted. */
  source: string;
  /** Mount options; absent means none. */
  options?: string[];
}

/**
 * The /dev and /sys mounts every Linux container gets in runc's default spec (what umoci
 * and BuildKit both start from): a tmpfs /dev with devpts, shm and mqueue, and a
 * read-only sysfs. Fresh objects each call: a caller (the rootless conversion) may edit them.
 */
export function deviceAndSysMounts(): RuntimeMount[] {
  return [
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    {
      destination: "/dev/mqueue",
      type: "mqueue",
      source: "mqueue",
      options: ["nosuid", "noexec", "nodev"],
    },
    {
      destination: "/sys",
      type: "sysfs",
      source: "sysfs",
      options: ["nosuid", "noexec", "nodev", "ro"],
    },
  ];
}

/**
 * An OCI runtime spec (`config.json` of a bundle) as {@linkcode runtimeSpec} writes it:
 * the fields of the runtime-spec that a converted image config uses, in the order Go's
 * `specs-go` writes them.
 */
export interface RuntimeSpec {
  /** The runtime-spec version. */
  ociVersion: string;
  /** The container's process. */
  process: {
    /** Attach a terminal. */
    terminal: boolean;
    /** Who the process runs as. */
    user: { uid: number; gid: number; additionalGids?: number[] };
    /** The command and its arguments. */
    args: string[];
    /** `NAME=value` entries. */
    env: string[];
    /** The working directory, inside the container. */
    cwd: string;
    /** Capability sets. */
    capabilities: {
      bounding: string[];
      effective: string[];
      inheritable: string[];
      permitted: string[];
      ambient: string[];
    };
    /** Resource limits. */
    rlimits: { type: string; hard: number; soft: number }[];
    /** Set `no_new_privs`. */
    noNewPrivileges: boolean;
  };
  /** The root filesystem, relative to the bundle; writable unless `readonly`. */
  root: { path: string; readonly?: boolean };
  /** The container's host name. */
  hostname: string;
  /** Mounts, in order. */
  mounts: RuntimeMount[];
  /** Image metadata carried over (image-spec conversion.md). */
  annotations: Record<string, string>;
  /** Linux specifics. */
  linux: {
    /** User namespace UID map. */
    uidMappings?: IdMapping[];
    /** User namespace GID map. */
    gidMappings?: IdMapping[];
    /** Cgroup settings; absent in a rootless spec. */
    resources?: { devices: { allow: boolean; access: string }[] };
    /** Namespaces to create. */
    namespaces: { type: string }[];
    /** Paths hidden from the container. */
    maskedPaths: string[];
    /** Paths mounted read-only. */
    readonlyPaths: string[];
  };
}

/** Options of {@linkcode runtimeSpec}. */
export interface RuntimeSpecOptions {
  /**
   * The image's `/etc/passwd`, read from its root filesystem; absent when it has none.
   * Without it a user given by name cannot be resolved.
   */
  passwd?: string;
  /** The image's `/etc/group`; absent when it has none. */
  group?: string;
  /** UID mappings of a user namespace; any mapping adds the namespace. @default {[]} */
  uidMappings?: IdMapping[];
  /** GID mappings of a user namespace. @default {[]} */
  gidMappings?: IdMapping[];
  /**
   * Make the spec runnable by an unprivileged user, as umoci's `--rootless`: a user
   * namespace, no network namespace, no cgroup settings, no supplementary groups, sysfs
   * bind-mounted, no `uid=`/`gid=` mount options. @default {false}
   */
  rootless?: boolean;
  /**
   * Rootless only: bind-mount the host's `/etc/resolv.conf` (the container shares the
   * host's network) with these options first — the flags its mount has that the kernel
   * locks in a user namespace (`ro`, `nodev`, `nosuid`...). Absent: no such mount (the
   * host has no resolv.conf). @default {undefined}
   */
  resolvConfOptions?: string[];
  /** The bundle's root filesystem directory, relative to the bundle. @default {"rootfs"} */
  rootPath?: string;
}

/** Who the process runs as, resolved the way runc resolves a user spec. */
export interface ExecUser {
  /** User ID. */
  uid: number;
  /** Primary group ID. */
  gid: number;
  /** Supplementary groups: those that list the user, when no group was given. */
  additionalGids: number[];
  /** The user's home directory from `/etc/passwd`, or "" when not found there. */
  home: string;
}

const MAX_ID = 2 ** 31 - 1;

/** Go's `strconv.Atoi`: an optional sign and decimal digits, within int64; else undefined. */
function atoi(text: string): number | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const n = BigInt(text);
  if (n > 2n ** 63n - 1n || n < -(2n ** 63n)) return undefined;
  return Number(n);
}

/** A passwd or group line's fields, as runc reads them: `:`-separated, numbers lenient. */
function fields(line: string): string[] {
  return line.split(":");
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Lines of a file, trimmed, blank ones dropped (Go's `bufio.Scanner` + `TrimSpace`). */
function lines(text: string): string[] {
  return text.split("\n").map((l) => l.replace(/\r$/, "").trim()).filter((l) => l !== "");
}

function parsePasswd(text: string): PasswdEntry[] {
  return lines(text).map((line) => {
    const f = fields(line);
    // Unparsable numbers read as 0, as runc's parser (misbehaving files exist).
    return { name: f[0], uid: atoi(f[2] ?? "") ?? 0, gid: atoi(f[3] ?? "") ?? 0, home: f[5] ?? "" };
  });
}

function parseGroup(text: string): GroupEntry[] {
  // Unlike passwd, comments are skipped in group files (glibc's rules, as runc has them).
  return lines(text).filter((l) => !l.startsWith("#")).map((line) => {
    const f = fields(line);
    const list = f[3] ?? "";
    return { name: f[0], gid: atoi(f[2] ?? "") ?? 0, members: list === "" ? [] : list.split(",") };
  });
}

function inRange(id: number, spec: string): number {
  if (id < 0 || id > MAX_ID) {
    throw new ConfigError("config.User", `${JSON.stringify(spec)}: IDs must be 0-${MAX_ID}`);
  }
  return id;
}

/**
 * Resolves a `config.User` (`""`, `user`, `uid`, `user:group`, `uid:gid`, `user:gid`,
 * `uid:group`) against an image's `/etc/passwd` and `/etc/group`, as runc and umoci do
 * (moby/sys/user `GetExecUser`): a numeric part is always an ID, never a name, and needs
 * no entry; a name must have one. The empty spec is root (and its passwd entry, if any).
 * With no group given, the user's primary group comes from passwd and every group that
 * lists the user is a supplementary group; with a group given there are none.
 * `HOME` comes from the user's passwd entry. The first matching line wins.
 *
 * Throws {@linkcode ConfigError} (field `config.User`) for a name with no entry, and for
 * an ID outside 0..2^31-1.
 *
 * @example
 * ```ts
 * import { resolveExecUser } from "./runtime_spec.ts";
 * const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
 * const group = "root:x:0:\nwheel:x:10:app\n";
 * const u = resolveExecUser("app", passwd, group);
 * if (u.uid !== 1000 || u.additionalGids[0] !== 10 || u.home !== "/home/app") throw new Error();
 * ```
 */
export function resolveExecUser(spec: string, passwd?: string, group?: string): ExecUser {
  const [userArg = "", groupArg = ""] = spec === "" ? [] : spec.split(":");
  const uidArg = atoi(userArg);
  const gidArg = atoi(groupArg);
  const user: ExecUser = { uid: 0, gid: 0, additionalGids: [], home: "" };

  const users = parsePasswd(passwd ?? "").filter((u) =>
    userArg === ""
      ? u.uid === user.uid
      : uidArg !== undefined
      ? u.uid === uidArg
      : u.name === userArg
  );
  let matchedName = "";
  if (users.length > 0) {
    matchedName = users[0].name;
    user.uid = users[0].uid;
    user.gid = users[0].gid;
    user.home = users[0].home;
  } else if (userArg !== "") {
    if (uidArg === undefined) {
      throw new ConfigError(
        "config.User",
        `no user ${JSON.stringify(userArg)} in the image's /etc/passwd` +
          (passwd === undefined ? " (it has none)" : ""),
      );
    }
    user.uid = inRange(uidArg, spec);
  }

  if (groupArg !== "" || matchedName !== "") {
    const groups = parseGroup(group ?? "").filter((g) =>
      groupArg === ""
        ? g.members.includes(matchedName)
        : gidArg !== undefined
        ? g.gid === gidArg
        : g.name === groupArg
    );
    if (groupArg !== "") {
      if (groups.length > 0) user.gid = groups[0].gid;
      else if (gidArg === undefined) {
        throw new ConfigError(
          "config.User",
          `no group ${JSON.stringify(groupArg)} in the image's /etc/group` +
            (group === undefined ? " (it has none)" : ""),
        );
      } else user.gid = inRange(gidArg, spec);
    } else user.additionalGids = groups.map((g) => g.gid);
  }
  return user;
}

/**
 * Parses an ID mapping as umoci's `--uid-map`/`--gid-map` take it:
 * `container:host[:size]`, size 1 when left out, each a 32-bit unsigned number.
 * Throws a `SyntaxError` naming the text otherwise.
 *
 * @example
 * ```ts
 * import { parseIdMapping } from "./runtime_spec.ts";
 * const m = parseIdMapping("0:100000:65536");
 * if (m.hostID !== 100000 || m.size !== 65536) throw new Error();
 * ```
 */
export function parseIdMapping(text: string): IdMapping {
  const parts = text.split(":");
  if (parts.length !== 2 && parts.length !== 3) {
    throw new SyntaxError(
      `Invalid ID mapping ${JSON.stringify(text)}: expected container:host[:size]`,
    );
  }
  const [containerID, hostID, size] = [...parts, "1"].slice(0, 3).map((p, i) => {
    const n = /^\d+$/.test(p) ? Number(p) : NaN;
    if (!(n <= 0xffffffff)) {
      const what = ["container ID", "host ID", "size"][i];
      throw new SyntaxError(
        `Invalid ID mapping ${JSON.stringify(text)}: the ${what} must be a number 0-4294967295`,
      );
    }
    return n;
  });
  return { containerID, hostID, size };
}

/**
 * The host ID that container ID `id` maps to, as umoci maps file owners on unpack; `id`
 * itself when `mappings` is empty, undefined when no range holds it.
 */
export function hostId(id: number, mappings: readonly IdMapping[]): number | undefined {
  if (mappings.length === 0) return id;
  for (const m of mappings) {
    if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + id - m.containerID;
  }
  return undefined;
}

const CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/**
 * The spec every conversion starts from: umoci's default (runc's `runc spec`, with the
 * cgroup namespace and inheritable capabilities umoci adds), except that `terminal` is
 * false so the bundle runs in a pipe, CI or a service without a console socket, and the
 * host name says stratum.
 */
function defaultSpec(rootPath: string): RuntimeSpec {
  return {
    ociVersion: RUNTIME_SPEC_VERSION,
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ["sh"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: {
        bounding: [...CAPS],
        effective: [...CAPS],
        inheritable: [...CAPS],
        permitted: [...CAPS],
        ambient: [...CAPS],
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: rootPath },
    hostname: "stratum",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      ...deviceAndSysMounts(),
      {
        destination: "/sys/fs/cgroup",
        type: "cgroup",
        source: "cgroup",
        options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
      },
    ],
    annotations: {},
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces: ["cgroup", "pid", "network", "ipc", "uts", "mount"].map((type) => ({ type })),
      maskedPaths: [
        "/proc/kcore",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
      ],
      readonlyPaths: [
        "/proc/asound",
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
      ],
    },
  };
}

/**
 * `created` as Go prints a parsed time with RFC 3339 and nanoseconds (what umoci writes):
 * trailing zeros of the fraction dropped, a zero offset written `Z`.
 */
function goTime(created: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/
    .exec(created);
  if (!m) return created;
  const fraction = (m[3] ?? "").slice(0, 9).replace(/0+$/, "");
  const zone = /^[Zz]$|^[+-]00:00$/.test(m[4]) ? "Z" : m[4];
  return `${m[1]}T${m[2]}${fraction ? `.${fraction}` : ""}${zone}`;
}

/** Sets `name=value` in `env`: replaces an existing `name=` entry only when `clobber`. */
function setEnv(env: string[], name: string, value: string, clobber: boolean): void {
  const i = env.findIndex((e) => e.startsWith(`${name}=`));
  if (i < 0) env.push(`${name}=${value}`);
  else if (clobber) env[i] = `${name}=${value}`;
}

/**
 * Converts an image config into the runtime spec of a bundle (`config.json`), the way
 * `umoci unpack` does it (image-spec conversion.md):
 * - `args` = Entrypoint + Cmd (the default `sh` when both are empty); `Env` over the
 *   default `PATH` and `TERM` (same names replaced in place); `cwd` = WorkingDir or `/`;
 * - the user from `config.User` through {@linkcode resolveExecUser}, and `HOME` from its
 *   passwd entry unless the image sets one;
 * - annotations `org.opencontainers.image.{os,architecture,variant,author,created,
 *   stopSignal,exposedPorts}` (empty ones left out; ports sorted, comma-joined), then the
 *   config's labels over them;
 * - each volume a `tmpfs` mount (sorted by path);
 * - any ID mapping adds a user namespace; `rootless` adapts the spec for an unprivileged
 *   runtime (see {@linkcode RuntimeSpecOptions.rootless}).
 *
 * Where stratum differs from umoci, on purpose: `terminal` is false (a bundle that runs in
 * a pipe); an image without `created` gets no created annotation (umoci writes Go's zero
 * time); the rootless mounts are fixed up even on a host without `/etc/resolv.conf`.
 *
 * Throws {@linkcode ConfigError} for an OS other than linux, a malformed `Env` entry, or a
 * user or group the image does not have.
 *
 * @example
 * ```ts
 * import { runtimeSpec } from "./runtime_spec.ts";
 * const spec = runtimeSpec({
 *   architecture: "amd64",
 *   os: "linux",
 *   config: { Entrypoint: ["/bin/echo"], Cmd: ["hi"], User: "1000:1000" },
 *   rootfs: { type: "layers", diff_ids: [] },
 * });
 * if (spec.process.args.join(" ") !== "/bin/echo hi" || spec.process.user.uid !== 1000) {
 *   throw new Error();
 * }
 * ```
 */
export function runtimeSpec(image: ImageConfig, options: RuntimeSpecOptions = {}): RuntimeSpec {
  if (image.os !== "linux") {
    throw new ConfigError("os", `cannot make a runtime spec for OS ${JSON.stringify(image.os)}`);
  }
  const config = image.config ?? {};
  const spec = defaultSpec(options.rootPath ?? "rootfs");
  const p = spec.process;
  if (config.WorkingDir) p.cwd = config.WorkingDir;
  (config.Env ?? []).forEach((entry, i) => {
    const eq = entry.indexOf("=");
    if (eq <= 0) {
      throw new ConfigError(`config.Env[${i}]`, `must be NAME=value, got ${JSON.stringify(entry)}`);
    }
    setEnv(p.env, entry.slice(0, eq), entry.slice(eq + 1), true);
  });
  const args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (args.length > 0) p.args = args;

  const annotate = (name: string, value: string | undefined) => {
    if (value) spec.annotations[`org.opencontainers.image.${name}`] = value;
  };
  annotate("os", image.os);
  annotate("architecture", image.architecture);
  annotate("variant", image.variant);
  annotate("author", image.author);
  annotate("created", image.created === undefined ? undefined : goTime(image.created));
  annotate("stopSignal", config.StopSignal);
  annotate("exposedPorts", Object.keys(config.ExposedPorts ?? {}).sort().join(","));
  Object.assign(spec.annotations, config.Labels ?? {});

  const user = resolveExecUser(config.User ?? "", options.passwd, options.group);
  p.user = { uid: user.uid, gid: user.gid };
  if (user.additionalGids.length > 0) p.user.additionalGids = user.additionalGids;
  if (user.home !== "") setEnv(p.env, "HOME", user.home, false);

  for (const destination of Object.keys(config.Volumes ?? {}).sort()) {
    spec.mounts.push({
      destination,
      type: "tmpfs",
      source: "none",
      options: ["rw", "nosuid", "nodev", "noexec", "relatime"],
    });
  }

  const uidMappings = options.uidMappings ?? [];
  const gidMappings = options.gidMappings ?? [];
  if (uidMappings.length > 0 || gidMappings.length > 0) {
    spec.linux.namespaces = [
      ...spec.linux.namespaces.filter((ns) => ns.type !== "user"),
      { type: "user" },
    ];
  }
  if (uidMappings.length > 0 || gidMappings.length > 0) {
    // First in `linux`, where Go's specs-go writes them.
    spec.linux = {
      ...(uidMappings.length > 0 ? { uidMappings: uidMappings.map((m) => ({ ...m })) } : {}),
      ...(gidMappings.length > 0 ? { gidMappings: gidMappings.map((m) => ({ ...m })) } : {}),
      ...spec.linux,
    };
  }
  if (options.rootless) toRootless(spec, options.resolvConfOptions);
  return spec;
}

/** umoci's `ToRootless`: what an unprivileged user namespace cannot set up is taken out. */
function toRootless(spec: RuntimeSpec, resolvConfOptions: string[] | undefined): void {
  delete spec.process.user.additionalGids;
  spec.linux.namespaces = [
    ...spec.linux.namespaces.filter((ns) => ns.type !== "network" && ns.type !== "user"),
    { type: "user" },
  ];
  // sysfs cannot be mounted without the network namespace; the host's is bound instead.
  spec.mounts = spec.mounts.filter((m) => !m.destination.startsWith("/sys")).map((m) =>
    m.options ? { ...m, options: m.options.filter((o) => !/^(uid|gid)=/.test(o)) } : m
  );
  spec.mounts.push({
    destination: "/sys",
    type: "bind",
    source: "/sys",
    options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
  });
  if (resolvConfOptions) {
    spec.mounts.push({
      destination: "/etc/resolv.conf",
      type: "bind",
      source: "/etc/resolv.conf",
      options: [...resolvConfOptions, "rbind", "ro"],
    });
  }
  delete spec.linux.resources;
}
