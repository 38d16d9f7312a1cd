/**
 * The executor for hosts without an OCI runtime: util-linux `unshare` makes the
 * namespaces (mount, pid, uts, ipc, and network unless host), a generated host-side
 * script mounts /proc, a tmpfs /dev with the standard nodes, devpts, /dev/shm, a
 * read-only /sys and the step's mounts inside the new mount namespace, and a second
 * `unshare --root --wd -S -G` enters the rootfs as the step's user. `unshare -G` drops
 * supplementary groups, so USER's additional groups do not apply here (runc applies
 * them); capabilities are root's full set rather than Docker's default set.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ExecSpec, runProcess, shellQuote as q } from "./_run_process.ts";

const DEVICES: [string, number, number][] = [
  ["null", 1, 3],
  ["zero", 1, 5],
  ["full", 1, 7],
  ["random", 1, 8],
  ["urandom", 1, 9],
  ["tty", 5, 0],
];

/** The script run inside the new namespaces, before entering the rootfs. */
export function chrootScript(spec: ExecSpec, unshare: string): string {
  const r = spec.rootfs;
  const lines = [
    "set -eu",
    // Nothing mounted here may propagate back to the host.
    "mount --make-rprivate /",
    `mkdir -p ${q(`${r}/proc`)} ${q(`${r}/dev`)} ${q(`${r}/sys`)}`,
    `mount -t proc -o nosuid,noexec,nodev proc ${q(`${r}/proc`)}`,
    `mount -t tmpfs -o nosuid,strictatime,mode=755,size=65536k tmpfs ${q(`${r}/dev`)}`,
    ...DEVICES.map(([name, major, minor]) =>
      `mknod -m 666 ${q(`${r}/dev/${name}`)} c ${major} ${minor}`
    ),
    `mkdir ${q(`${r}/dev/pts`)} ${q(`${r}/dev/shm`)} ${q(`${r}/dev/mqueue`)}`,
    `mount -t devpts -o nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5 devpts ${
      q(`${r}/dev/pts`)
    }`,
    `mount -t tmpfs -o nosuid,noexec,nodev,mode=1777,size=65536k shm ${q(`${r}/dev/shm`)}`,
    `mount -t mqueue -o nosuid,noexec,nodev mqueue ${q(`${r}/dev/mqueue`)}`,
    `ln -s pts/ptmx ${q(`${r}/dev/ptmx`)}`,
    `ln -s /proc/self/fd ${q(`${r}/dev/fd`)}`,
    `ln -s /proc/self/fd/0 ${q(`${r}/dev/stdin`)}`,
    `ln -s /proc/self/fd/1 ${q(`${r}/dev/stdout`)}`,
    `ln -s /proc/self/fd/2 ${q(`${r}/dev/stderr`)}`,
    `mount -t sysfs -o ro,nosuid,noexec,nodev sysfs ${q(`${r}/sys`)}`,
    `hostname ${q(spec.hostname)}`,
  ];
  if (spec.network === "none") {
    lines.push("ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null || true");
  }
  for (const m of spec.mounts) {
    const at = q(m.hostPath);
    if (m.type === "tmpfs") {
      lines.push(`mount -t tmpfs -o ${q(m.options.join(","))} tmpfs ${at}`);
      continue;
    }
    lines.push(`mount --rbind ${q(m.source)} ${at}`);
    if (m.options.includes("ro")) lines.push(`mount -o remount,bind,ro ${at}`);
  }
  const enter = [
    "/usr/bin/env",
    "-i",
    ...spec.env,
    unshare,
    `--root=${r}`,
    `--wd=${spec.cwd}`,
    "-S",
    String(spec.uid),
    "-G",
    String(spec.gid),
    "--",
    ...spec.args,
  ];
  lines.push(`exec ${enter.map(q).join(" ")}`);
  return lines.join("\n") + "\n";
}

/** Runs the step with unshare and chroot; resolves with the exit status. */
export async function runWithChroot(spec: ExecSpec, unshare: string): Promise<number> {
  const script = join(spec.stepDir, "enter.sh");
  await writeFile(script, chrootScript(spec, unshare));
  const flags = ["--mount", "--pid", "--fork", "--kill-child", "--uts", "--ipc"];
  if (spec.network === "none") flags.push("--net");
  return await runProcess(unshare, [...flags, "--", "/bin/sh", script], {
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    onOutput: spec.onOutput,
    signal: spec.signal,
  });
}
