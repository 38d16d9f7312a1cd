/**
 * The OCI runtime executor: a runtime-spec config.json for the step, run by `runc` or
 * `crun` (same CLI) in the foreground. The spec follows what Docker and BuildKit give a
 * container: its own mount, pid, ipc, uts and cgroup namespaces (and network unless
 * host), /proc, a tmpfs /dev with the standard nodes (the runtime makes them), devpts,
 * /dev/shm, read-only /sys, Docker's default capabilities and masked paths.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { deviceAndSysMounts } from "../image/mod.ts";
import { type ExecSpec, runProcess } from "./_run_process.ts";

/** Docker's default capability set (moby `caps.DefaultCapabilities`). */
const DEFAULT_CAPS = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

const MASKED_PATHS = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

const READONLY_PATHS = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** The runtime-spec config for one RUN step. */
export function runtimeConfig(spec: ExecSpec): Record<string, unknown> {
  const namespaces = ["pid", "ipc", "uts", "mount", "cgroup"].map((type) => ({ type }));
  if (spec.network === "none") namespaces.push({ type: "network" });
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: spec.uid, gid: spec.gid, additionalGids: spec.additionalGids, umask: 0o022 },
      args: spec.args,
      env: spec.env,
      cwd: spec.cwd,
      capabilities: {
        bounding: DEFAULT_CAPS,
        effective: DEFAULT_CAPS,
        permitted: DEFAULT_CAPS,
      },
      // containerd's default, which BuildKit's spec starts from; lowering needs no privilege.
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: false,
    },
    root: { path: spec.rootfs, readonly: false },
    hostname: spec.hostname,
    mounts: [
      {
        destination: "/proc",
        type: "proc",
        source: "proc",
        options: ["nosuid", "noexec", "nodev"],
      },
      ...deviceAndSysMounts(),
      ...spec.mounts.map((m) => ({
        destination: m.destination,
        type: m.type,
        source: m.source,
        options: m.options,
      })),
    ],
    linux: {
      namespaces,
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      resources: { devices: [{ allow: false, access: "rwm" }] },
    },
  };
}

let containers = 0;

/** Runs the step with `runtime` (`runc` or `crun`); resolves with the exit status. */
export async function runWithRuntime(runtime: "runc" | "crun", spec: ExecSpec): Promise<number> {
  const bundle = join(spec.stepDir, "bundle");
  const state = join(spec.stepDir, "state");
  await mkdir(bundle, { recursive: true });
  await mkdir(state, { recursive: true });
  await writeFile(join(bundle, "config.json"), JSON.stringify(runtimeConfig(spec)));
  const id = `stratum-${process.pid}-${++containers}-${Date.now().toString(36)}`;
  const global = ["--root", state];
  try {
    return await runProcess(runtime, [...global, "run", "--bundle", bundle, id], {
      onOutput: spec.onOutput,
      signal: spec.signal,
      kill: () =>
        runProcess(runtime, [...global, "kill", id, "KILL"], { onOutput: () => {} }).then(
          () => {},
        ),
    });
  } finally {
    // `run` deletes the container when it exits; this is for a runtime killed midway.
    await runProcess(runtime, [...global, "delete", "--force", id], { onOutput: () => {} })
      .catch(() => {});
  }
}
