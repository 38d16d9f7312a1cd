/** The kinds of tar entry a layer holds. GNU/PAX meta entries never surface as entries. */
export type EntryType =
  | "file"
  | "hardlink"
  | "symlink"
  | "char"
  | "block"
  | "directory"
  | "fifo";

/** The metadata of one tar entry, after PAX and GNU long-name records are applied. */
export interface TarHeader {
  /** The path as written in the archive (not cleaned). */
  name: string;
  /** What the entry is. */
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (`0o7777`). */
  mode: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Body size in bytes (0 for everything but regular files). */
  size: number;
  /** Modification time in seconds since the epoch (PAX may give fractions). */
  mtime: number;
  /** Symlink target, or the archive path a hardlink points to; "" otherwise. */
  linkname: string;
  /** Device major number (character and block devices). */
  devmajor: number;
  /** Device minor number (character and block devices). */
  devminor: number;
  /** Extended attributes from `SCHILY.xattr.*` (raw bytes, binary-safe). */
  xattrs: Record<string, Uint8Array>;
  /** Owner user name, when the archive records one. */
  uname?: string;
  /** Owner group name, when the archive records one. */
  gname?: string;
}

/**
 * One tar entry. `body` must be read to its end or cancelled before the next entry is
 * requested; an untouched body is skipped when the next entry is read.
 */
export interface TarEntry {
  /** The entry's metadata. */
  header: TarHeader;
  /** The entry's bytes (empty for all but regular files). */
  body: ReadableStream<Uint8Array>;
}
