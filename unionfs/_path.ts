/** The prefix OCI layers use to mark a deleted path. */
export const WHITEOUT_PREFIX = ".wh.";
/** The name OCI layers use to mark a directory opaque. */
export const OPAQUE_MARKER = ".wh..wh..opq";

/**
 * Splits an archive path into clean components inside a root: leading `/`, `.` and empty
 * parts go, and `..` never climbs above the root (what securejoin does lexically).
 */
export function cleanComponents(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out;
}

/** What a layer entry name means for the tree: an addition, a whiteout or an opaque mark. */
export type EntryKind =
  | { kind: "add"; parts: string[] }
  | { kind: "whiteout"; parts: string[] }
  | { kind: "opaque"; parts: string[] }
  | { kind: "invalid"; reason: string }
  | { kind: "ignore" };

/** AUFS's bookkeeping at a layer's root (hardlink farm, xino, orphans): no OCI meaning. */
const AUFS_META = new Set([".wh..wh.plnk", ".wh..wh.aufs", ".wh..wh.orph"]);

/**
 * Classifies an archive path by OCI whiteout naming. `parts` is the cleaned target path.
 * A `.wh.` name that cannot name a sibling (`.wh.`, `.wh..`, `.wh..`, `.wh..wh.x` other
 * than the opaque marker: no filesystem holds a `.wh.` name to delete) is invalid, as
 * containerd refuses it ("invalid whiteout name") and layer.md says implementations
 * SHOULD; AUFS's root-level metadata (`.wh..wh.plnk/` and friends, which Docker skips)
 * is ignored.
 */
export function classify(name: string): EntryKind {
  const parts = cleanComponents(name);
  if (AUFS_META.has(parts[0])) return { kind: "ignore" };
  const base = parts[parts.length - 1];
  if (base === undefined || !base.startsWith(WHITEOUT_PREFIX)) return { kind: "add", parts };
  const dir = parts.slice(0, -1);
  if (base === OPAQUE_MARKER) return { kind: "opaque", parts: dir };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === "" || target === "." || target === "..") {
    return { kind: "invalid", reason: `is an invalid whiteout name "${base}": it names no file` };
  }
  if (target.startsWith(WHITEOUT_PREFIX)) {
    return {
      kind: "invalid",
      reason: `is an invalid whiteout name "${base}": "${target}" cannot exist in a layer`,
    };
  }
  return { kind: "whiteout", parts: [...dir, target] };
}

/**
 * A layer's extended attributes without overlayfs's own (`trusted.overlay.*`,
 * `user.overlay.*`): in a layer they are content, but written into a snapshot they would
 * be obeyed as whiteout, opaque or redirect markers, so no writer sets them.
 */
export function contentXattrs(xattrs: Record<string, Uint8Array>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(xattrs)) {
    if (!k.startsWith("trusted.overlay.") && !k.startsWith("user.overlay.")) out[k] = v;
  }
  return out;
}

/**
 * Orders names as their UTF-8 bytes, like Go's and GNU tar's sorting. UTF-16 order agrees
 * except for surrogates against U+E000..U+FFFF, which are fixed up here.
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca >= 0xd800 && cb >= 0xd800) return weight(ca) - weight(cb);
    return ca - cb;
  }
  return a.length - b.length;
}

function weight(c: number): number {
  // Surrogates encode code points above U+FFFF, whose UTF-8 sorts after U+E000..U+FFFF.
  return c >= 0xd800 && c <= 0xdfff ? c + 0x10000 : c;
}
