/**
 * The OS features neither Deno nor Node has an API for: extended attributes, device nodes
 * and mounts. They go through the standard commands (`getfattr`/`setfattr` from Debian's
 * `attr`, `mknod`, `mkfifo`, `mount`, `umount`), so the same code runs on both runtimes
 * without FFI; one process serves a whole tree where the command allows it.
 */
import { execFile, spawn } from "node:child_process";
import process from "node:process";

/** True when running as root (ownership, devices, trusted.* xattrs, mounts). */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Runs a command; resolves with stdout, rejects with its stderr in the message. */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; input?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { cwd: options.cwd, maxBuffer: 1 << 30, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error) {
          const msg = `${command} ${args.join(" ")}: ${stderr.trim() || error.message}`;
          reject(Object.assign(new Error(msg, { cause: error }), { stdout, stderr }));
        } else resolve(stdout);
      },
    );
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** Makes a fifo or a device node. */
export async function mknod(
  path: string,
  type: "fifo" | "char" | "block",
  mode: number,
  major = 0,
  minor = 0,
): Promise<void> {
  const m = (mode & 0o7777).toString(8);
  if (type === "fifo") await run("mkfifo", ["-m", m, "--", path]);
  else {await run("mknod", [
      "-m",
      m,
      "--",
      path,
      type === "char" ? "c" : "b",
      String(major),
      String(minor),
    ]);}
}

// getfattr/setfattr dump format: names quoted with \ooo octal escapes, values in base64.
function quote(name: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(name)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._\/+@,:~-]/.test(c) ? c : `\\${b.toString(8).padStart(3, "0")}`;
  }
  return out;
}

function unquote(text: string): string {
  const bytes: number[] = [];
  const raw = new TextEncoder().encode(text);
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length + 0 && /^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
      bytes.push(parseInt(String.fromCharCode(raw[i + 1], raw[i + 2], raw[i + 3]), 8));
      i += 3;
    } else if (raw[i] === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c);
      i++;
    } else bytes.push(raw[i]);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** True when `getfattr`/`setfattr` are installed. */
export async function haveXattrTools(): Promise<boolean> {
  try {
    await run("getfattr", ["--version"]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sets xattrs on many paths (relative to `root`, not following symlinks) with one
 * `setfattr` run. Returns one message per attribute the filesystem refused.
 */
export async function setXattrs(
  root: string,
  items: { path: string; xattrs: Record<string, Uint8Array> }[],
): Promise<string[]> {
  const lines: string[] = [];
  for (const { path, xattrs } of items) {
    const keys = Object.keys(xattrs);
    if (keys.length === 0) continue;
    lines.push(`# file: ${quote(path)}`);
    for (const k of keys) lines.push(`${quote(k)}=0s${toBase64(xattrs[k])}`);
    lines.push("");
  }
  if (lines.length === 0) return [];
  try {
    await run("setfattr", ["-h", "--restore=-"], { cwd: root, input: lines.join("\n") + "\n" });
    return [];
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? (e as Error).message);
    return stderr.split("\n").filter((l) => l.trim() !== "");
  }
}

/**
 * Reads the xattrs under `root` (not following symlinks) whose names `keep` accepts (all
 * by default) with one `getfattr` run: relative path -> name -> value. Read as `getfattr`
 * prints them, so a tree with an xattr on every file (overlayfs marks each file it copies
 * up) costs only what is kept. Rejects when getfattr is missing.
 */
export async function readXattrs(
  root: string,
  keep: (name: string) => boolean = () => true,
): Promise<Map<string, Record<string, Uint8Array>>> {
  const out = new Map<string, Record<string, Uint8Array>>();
  let file: string | undefined;
  const take = (line: string) => {
    if (line.startsWith("# file: ")) {
      file = unquote(line.slice(8)).replace(/^\.\/?/, "");
      return;
    }
    const eq = line.indexOf("=");
    if (file === undefined || eq < 0) return;
    const name = unquote(line.slice(0, eq));
    if (!keep(name)) return;
    const value = line.slice(eq + 1);
    let record = out.get(file);
    if (!record) out.set(file, record = {});
    record[name] = value.startsWith("0s")
      ? fromBase64(value.slice(2))
      : new TextEncoder().encode(value.replace(/^"|"$/g, ""));
  };
  await new Promise<void>((resolve, reject) => {
    const child = spawn("getfattr", ["-R", "-h", "-d", "-m", "-", "-e", "base64", "."], {
      cwd: root,
      stdio: ["ignore", "pipe", "ignore"],
    });
    const decoder = new TextDecoder();
    let partial = "";
    child.stdout.on("data", (chunk: Uint8Array) => {
      const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
      partial = lines.pop()!;
      for (const line of lines) take(line);
    });
    child.on("error", (e: Error & { code?: string }) => {
      // Read as "no xattrs", a missing getfattr would drop overlayfs's opaque markers
      // from a RUN's layer without a word.
      reject(
        e.code === "ENOENT"
          ? new Error(
            "Cannot read extended attributes: getfattr is not installed (Debian/Ubuntu: apt-get install attr)",
            { cause: e },
          )
          : e,
      );
    });
    // getfattr exits 1 when some file has no xattr support; its output is still good.
    child.on("close", () => {
      take(partial + decoder.decode());
      resolve();
    });
  });
  return out;
}

/** Mounts an overlay; `lowers` topmost first, as the kernel's `lowerdir` wants them. */
export async function mountOverlayCommand(
  lowersTopFirst: string[],
  upper: string | undefined,
  work: string | undefined,
  target: string,
  extra: readonly string[] = [],
): Promise<void> {
  for (const p of [...lowersTopFirst, upper ?? "", work ?? "", target]) {
    if (/[,:\n]/.test(p)) throw new TypeError(`Cannot mount overlay: path "${p}" has "," or ":"`);
  }
  let opts = `lowerdir=${lowersTopFirst.join(":")}`;
  if (upper && work) opts += `,upperdir=${upper},workdir=${work}`;
  for (const o of extra) opts += `,${o}`;
  await run("mount", ["-t", "overlay", "overlay", "-o", opts, target]);
}

/** Unmounts `target`; `lazy` detaches it even while something still uses it. */
export async function unmount(target: string, lazy = false): Promise<void> {
  await run("umount", lazy ? ["-l", target] : [target]);
}
