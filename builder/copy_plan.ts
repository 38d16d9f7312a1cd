/**
 * What a COPY or ADD plans: the layer entries it will write ({@linkcode PlannedEntry}),
 * their bodies opened only when written, and the options and result of `planCopy`.
 *
 * @module
 */
import type { WriteEntry } from "../unionfs/mod.ts";
import { contextPath } from "./build_context.ts";
import type { ChmodMode } from "./chmod_mode.ts";

/** One entry of a planned layer. */
export interface PlannedEntry {
  /** Path in the image, relative (`app/a.txt`). */
  path: string;
  /** Entry type. */
  type: "file" | "directory" | "symlink" | "hardlink" | "fifo" | "char" | "block";
  /** Permission bits. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Modification time, seconds. */
  mtime: number;
  /** File size. */
  size: number;
  /** Symlink target, or the image path a hardlink points to. */
  linkTarget: string;
  /** The path the bytes come from in the copy source, for prefetching. */
  source?: string;
  /** Device major number (char and block devices). */
  devmajor?: number;
  /** Device minor number (char and block devices). */
  devminor?: number;
  /** Extended attributes (`security.capability`, `user.*`, ...). */
  xattrs?: Record<string, Uint8Array>;
  /**
   * Produces a file's bytes when the entry is written; called on its entry (`this`), so
   * that one function serves every file of a source.
   */
  body?: (this: PlannedEntry) => Promise<ReadableStream<Uint8Array> | Uint8Array>;
}

/** A COPY/ADD source given inline (a heredoc) or fetched (a URL). */
export interface InlineSource {
  /** The name it is copied as (the heredoc name, the URL's last path part). */
  name: string;
  /** Its bytes. */
  bytes: Uint8Array;
  /** Permission bits. */
  mode: number;
  /** Modification time, seconds. */
  mtime: number;
}

/** Options of `planCopy` (`copy.ts`). */
export interface CopyOptions {
  /** `COPY` or `ADD` (ADD unpacks local tar archives). */
  keyword: "COPY" | "ADD";
  /** Source paths or wildcards, expanded, relative to the source root. */
  sources: string[];
  /**
   * What each of `sources` matched, when the caller matched them already (a COPY from the
   * context does, for its cache key): they are not matched a second time.
   */
  matches?: string[][];
  /** Inline sources (heredocs, downloaded URLs), copied like files. */
  inline?: InlineSource[];
  /** The destination as written (expanded): a trailing `/` means a directory. */
  dest: string;
  /** The working directory a relative destination is resolved against. */
  workdir: string;
  /** `--chown`, resolved to ids. */
  chown?: { uid: number; gid: number };
  /** `--chmod`, parsed (octal or symbolic). */
  chmod?: ChmodMode;
  /** `--parents`: keep the source paths under the destination. */
  parents?: boolean;
  /** `--exclude` patterns. */
  exclude?: string[];
  /** The time for directories the copy creates, seconds. */
  now: number;
  /** SOURCE_DATE_EPOCH: times in the layer are clamped to it. */
  sourceDateEpoch?: number;
  /**
   * A directory where ADD puts the large files it unpacks from an archive until the layer
   * is written, so memory stays bounded whatever the archive inflates to. Without it,
   * every unpacked file is held in memory.
   */
  spool?: string;
  /**
   * Plans every entry before any is written, as an ADD of files is planned (an archive
   * among them is unpacked into the plan); tests hold the streamed merge to it.
   */
  planWhole?: boolean;
}

/** What a COPY/ADD will write, and what its cache key depends on. */
export interface CopyPlan {
  /**
   * Layer entries, sorted, parents first: held, or, for a copy from the build context (bar
   * an ADD of files, which may be archives), produced as its sources are walked.
   */
  entries: PlannedEntry[] | AsyncIterable<PlannedEntry>;
  /** Source paths matched (relative to the source root), for cache inputs. */
  matched: string[];
}

/** Turns a plan into tar entries, opening each body only when its entry is written. */
export async function* planEntries(
  entries: Iterable<PlannedEntry> | AsyncIterable<PlannedEntry>,
): AsyncGenerator<WriteEntry> {
  for await (const e of entries) {
    yield {
      header: {
        name: e.type === "directory" ? `${e.path}/` : e.path,
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.type === "file" ? e.size : 0,
        mtime: Math.floor(e.mtime),
        linkname: e.linkTarget,
        // Absent rather than undefined: readers of a header take its fields as given.
        ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
        ...(e.xattrs ? { xattrs: e.xattrs } : {}),
      },
      body: e.type === "file" && e.body ? await e.body() : undefined,
    };
  }
}

/** Joins two image paths, cleaned. */
export function joinPath(a: string, b: string): string {
  return contextPath(`${a}/${b}`);
}

/** The directory part of a relative image path (`""` at the top). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}
