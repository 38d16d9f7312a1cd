import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { readXattrs } from "./_platform.ts";

/**
 * A directory tree as sorted lines of path, type, mode, owner, size, content hash, link
 * target, mtime and `user.` xattrs; hardlinked paths share a group number (numbered in path
 * order). `mtimes: false` or `xattrs: false` leave those out.
 */
export async function listDirectory(
  root: string,
  options: { mtimes?: boolean; xattrs?: boolean } = {},
): Promise<string[]> {
  const lines: string[] = [];
  const inodes = new Map<number, number>();
  const xattrs = options.xattrs === false
    ? new Map<string, Record<string, Uint8Array>>()
    : await readXattrs(root);
  async function walk(rel: string): Promise<void> {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const abs = join(root, path);
      const st = await lstat(abs);
      const type = st.isDirectory()
        ? "dir"
        : st.isSymbolicLink()
        ? "symlink"
        : st.isFIFO()
        ? "fifo"
        : st.isCharacterDevice()
        ? "char"
        : st.isBlockDevice()
        ? "block"
        : "file";
      let extra = "";
      if (type === "file") {
        extra = createHash("sha256").update(await readFile(abs)).digest("hex").slice(0, 16);
        if (st.nlink > 1) {
          if (!inodes.has(st.ino)) inodes.set(st.ino, inodes.size + 1);
          extra += ` link#${inodes.get(st.ino)}`;
        }
      }
      if (type === "symlink") extra = `-> ${await readlink(abs)}`;
      if (type === "char" || type === "block") extra = `${st.rdev}`;
      const x = Object.entries(xattrs.get(path) ?? {})
        .filter(([k]) => k.startsWith("user."))
        .map(([k, v]) => `${k}=${[...v].join(",")}`)
        .join(";");
      const mode = type === "symlink" ? "" : (st.mode & 0o7777).toString(8);
      const size = type === "file" ? st.size : "";
      const mtime = options.mtimes === false ? "" : Math.floor(st.mtimeMs / 1000);
      lines.push(
        `${path} ${type} ${mode} ${st.uid}:${st.gid} ${size} ${extra} ${mtime} ${x}`.trim(),
      );
      if (type === "dir") await walk(path);
    }
  }
  await walk("");
  return lines;
}
