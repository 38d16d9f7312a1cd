import type { Digest } from "../digest/mod.ts";

/** What is happening to one blob, in `docker pull`/`docker push` words. */
export type BlobState =
  | "Waiting"
  | "Downloading"
  | "Verifying"
  | "Download complete"
  | "Already exists"
  | "Mounted"
  | "Pushing"
  | "Pushed"
  | "Retrying";

/** A progress report from a pull, push or copy. */
export type ProgressEvent =
  | {
    /** A blob changed state or moved bytes. */
    type: "blob";
    /** The blob. */
    digest: Digest;
    /** Its size in bytes. */
    size: number;
    /** Its state. */
    state: BlobState;
    /** Bytes transferred (or held) so far. */
    current: number;
  }
  | {
    /** A line of status: "Pulling from ...", "Digest: ...", a warning. */
    type: "status";
    /** The text. */
    message: string;
  };

/** Options for {@linkcode createProgressRenderer}. */
export interface ProgressRendererOptions {
  /** Redraw lines in place with ANSI escapes; otherwise print one line per state change. @default {false} */
  tty?: boolean;
  /** Print nothing but warnings. @default {false} */
  quiet?: boolean;
  /** The clock, for rates. @default {Date.now} */
  now?: () => number;
}

/** Renders progress events; `done()` draws the final state. */
export interface ProgressRenderer {
  /** Pass this as `onProgress`. */
  update(event: ProgressEvent): void;
  /** Draws the last frame. */
  done(): void;
}

interface Row {
  id: string;
  event?: Extract<ProgressEvent, { type: "blob" }>;
  text?: string;
  startedAt?: number;
  startedBytes?: number;
}

const BAR = 40;
const REDRAW_MS = 100;

/** `1.5MB`, in docker's decimal units. */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[u]}`;
}

/**
 * A renderer like docker's: on a TTY, one line per blob with a bar, bytes, rate and
 * state, redrawn in place; otherwise one plain line each time a blob changes state.
 * `write` receives text with its own line ends.
 *
 * @example
 * ```ts
 * import { createProgressRenderer } from "./progress.ts";
 * const out: string[] = [];
 * const r = createProgressRenderer((t) => out.push(t));
 * r.update({ type: "blob", digest: `sha256:${"a".repeat(64)}`, size: 3, state: "Pushed", current: 3 });
 * if (out[0] !== "aaaaaaaaaaaa: Pushed\n") throw new Error(out[0]);
 * ```
 */
export function createProgressRenderer(
  write: (text: string) => void,
  options: ProgressRendererOptions = {},
): ProgressRenderer {
  const now = options.now ?? Date.now;
  const rows: Row[] = [];
  const byId = new Map<string, Row>();
  let drawn = 0;
  let lastDraw = 0;

  const line = (row: Row): string => {
    if (row.text !== undefined) return row.text;
    const e = row.event!;
    const active = e.state === "Downloading" || e.state === "Pushing";
    if (!active || !options.tty) return `${row.id}: ${e.state}`;
    const frac = e.size > 0 ? Math.min(1, e.current / e.size) : 0;
    const full = Math.floor(frac * BAR);
    const bar = "=".repeat(full) + (full < BAR ? ">" + " ".repeat(BAR - full - 1) : "");
    const secs = (now() - (row.startedAt ?? now())) / 1000;
    const rate = secs > 0 ? ` ${formatBytes((e.current - (row.startedBytes ?? 0)) / secs)}/s` : "";
    return `${row.id}: ${e.state} [${bar}] ${formatBytes(e.current)}/${formatBytes(e.size)}${rate}`;
  };

  const redraw = (force: boolean): void => {
    const t = now();
    if (!force && t - lastDraw < REDRAW_MS) return;
    lastDraw = t;
    let text = drawn > 0 ? `\x1b[${drawn}A` : "";
    for (const row of rows) text += `\x1b[2K${line(row)}\n`;
    drawn = rows.length;
    write(text);
  };

  return {
    update(event) {
      if (event.type === "status") {
        const warning = /warning|rate limit/i.test(event.message);
        if (options.quiet && !warning) return;
        if (options.tty) {
          rows.push({ id: "", text: event.message });
          redraw(true);
        } else write(event.message + "\n");
        return;
      }
      if (options.quiet) return;
      const id = event.digest.slice(7, 19);
      let row = byId.get(id);
      const changed = row?.event?.state !== event.state;
      if (!row) {
        row = { id };
        byId.set(id, row);
        rows.push(row);
      }
      if (changed && (event.state === "Downloading" || event.state === "Pushing")) {
        row.startedAt ??= now();
        row.startedBytes ??= event.current;
      }
      row.event = event;
      if (options.tty) redraw(changed);
      else if (changed) write(line(row) + "\n");
    },
    done() {
      if (options.tty && rows.length) redraw(true);
    },
  };
}
