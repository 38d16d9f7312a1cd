/**
 * Reading a container's root filesystem from the host: paths resolved inside it (its
 * symlinks are followed as if it were `/`, never out to the host's files) and USER
 * resolved from its /etc/passwd and /etc/group the way runc and BuildKit do.
 */
import { readFile } from "node:fs/promises";
import { resolveOnDisk } from "../unionfs/mod.ts";

/** The ids a process runs with. */
export interface ExecUser {
  uid: number;
  gid: number;
  /** Supplementary groups (from /etc/group membership). */
  additionalGids: number[];
  /** The home directory from /etc/passwd, for HOME when the env lacks it. */
  home: string;
}

async function readLines(root: string, path: string): Promise<string[][]> {
  try {
    const text = await readFile(await resolveOnDisk(root, path), "utf8");
    return text.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#")).map((l) =>
      l.split(":")
    );
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return [];
    throw e;
  }
}

const ID = /^[0-9]+$/;

function id(text: string, what: string, spec: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n > 0xffffffff) {
    throw new RangeError(`Invalid USER "${spec}": ${what} ${text} is out of range`);
  }
  return n;
}

/**
 * Resolves a Docker USER value (`name`, `uid`, `uid:gid`, `name:group`...) against the
 * rootfs's /etc/passwd and /etc/group, following moby/sys/user: numeric ids need no
 * entry, a name must have one ("unable to find user x"), the primary group comes from
 * passwd unless a group is given, and supplementary groups from /etc/group membership
 * when it is not.
 */
export async function resolveUser(root: string, spec: string | undefined): Promise<ExecUser> {
  const value = spec ?? "";
  const [userArg, groupArg] = value.includes(":")
    ? [value.slice(0, value.indexOf(":")), value.slice(value.indexOf(":") + 1)]
    : [value, undefined];
  const passwd = await readLines(root, "/etc/passwd");
  const user = userArg === "" ? "0" : userArg;
  const entry = passwd.find((f) => f[0] === user) ??
    (ID.test(user) ? passwd.find((f) => f[2] === user) : undefined);
  let uid: number;
  let gid = 0;
  let home = "/";
  if (entry) {
    uid = id(entry[2] ?? "", "uid", value);
    gid = ID.test(entry[3] ?? "") ? id(entry[3], "gid", value) : 0;
    home = entry[5] || "/";
  } else if (ID.test(user)) {
    uid = id(user, "uid", value);
  } else {
    throw new Error(`unable to find user ${user}: no matching entries in passwd file`);
  }
  const groups = await readLines(root, "/etc/group");
  const additionalGids: number[] = [];
  if (groupArg !== undefined && groupArg !== "") {
    const g = groups.find((f) => f[0] === groupArg) ??
      (ID.test(groupArg) ? groups.find((f) => f[2] === groupArg) : undefined);
    if (g && ID.test(g[2] ?? "")) gid = id(g[2], "gid", value);
    else if (ID.test(groupArg)) gid = id(groupArg, "gid", value);
    else throw new Error(`unable to find group ${groupArg}: no matching entries in group file`);
  } else if (entry) {
    for (const g of groups) {
      const members = (g[3] ?? "").split(",").map((m) => m.trim());
      if (members.includes(entry[0]) && ID.test(g[2] ?? "")) {
        const n = id(g[2], "gid", value);
        if (!additionalGids.includes(n)) additionalGids.push(n);
      }
    }
  }
  return { uid, gid, additionalGids, home };
}
