/**
 * Build progress: the events a build emits and renderers for them — BuildKit's plain style
 * (`#N [stage i/n] INSTRUCTION`, `#N CACHED`, `#N DONE 0.1s`, RUN output streamed with
 * its time), a compact view for terminals that redraws in place, and quiet (nothing).
 *
 * @module
 */

/** One thing that happened during a build. */
export type BuildEvent =
  | {
    /** A step (vertex) started. */
    type: "start";
    /** Its number in this build, from 1. */
    id: number;
    /** Its title, e.g. `[builder 2/4] COPY a /a` or `[internal] load build context`. */
    name: string;
  }
  | {
    /** A step was found in the cache. */
    type: "cached";
    id: number;
  }
  | {
    /** Output of a RUN step. */
    type: "output";
    id: number;
    stream: "stdout" | "stderr";
    data: Uint8Array;
  }
  | {
    /** A step finished. */
    type: "done";
    id: number;
    durationMs: number;
  }
  | {
    /** A step failed. */
    type: "error";
    id: number;
    message: string;
  }
  | {
    /** Something to tell the user that does not stop the build. */
    type: "warning";
    message: string;
  };

/** How progress is shown: `plain` lines, a `tty` view, or nothing (`quiet`). */
export type ProgressMode = "plain" | "tty" | "quiet";

/** A progress renderer: feed it events; `finish` flushes the last frame. */
export interface ProgressRenderer {
  /** Handles one event. */
  (event: BuildEvent): void;
  /** Draws the final state (the TTY view) or does nothing. */
  finish(): void;
}

/**
 * A renderer writing to `write` (e.g. standard error).
 *
 * @example
 * ```ts
 * import { createProgress } from "./build_progress.ts";
 * let out = "";
 * const progress = createProgress("plain", (t) => (out += t));
 * progress({ type: "start", id: 1, name: "[1/2] FROM docker.io/library/busybox" });
 * progress({ type: "cached", id: 1 });
 * if (!out.includes("#1 CACHED")) throw new Error(out);
 * ```
 */
export function createProgress(
  mode: ProgressMode,
  write: (text: string) => void,
  now: () => number = () => performance.now(),
): ProgressRenderer {
  if (mode === "quiet") return Object.assign(() => {}, { finish() {} });
  if (mode === "tty") return ttyRenderer(write, now);
  return plainRenderer(write, now);
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function plainRenderer(write: (text: string) => void, now: () => number): ProgressRenderer {
  const started = new Map<number, number>();
  const partial = new Map<number, string>();
  const decoder = new TextDecoder();
  const render = (event: BuildEvent) => {
    switch (event.type) {
      case "start":
        started.set(event.id, now());
        write(`#${event.id} ${event.name}\n`);
        return;
      case "cached":
        write(`#${event.id} CACHED\n\n`);
        return;
      case "output": {
        const elapsed = seconds(now() - (started.get(event.id) ?? now())).padStart(5, " ");
        const text = (partial.get(event.id) ?? "") + decoder.decode(event.data);
        const lines = text.split("\n");
        partial.set(event.id, lines.pop()!);
        for (const line of lines) write(`#${event.id} ${elapsed} ${line}\n`);
        return;
      }
      case "done": {
        const rest = partial.get(event.id);
        if (rest) write(`#${event.id} ${rest}\n`);
        partial.delete(event.id);
        write(`#${event.id} DONE ${seconds(event.durationMs)}s\n\n`);
        return;
      }
      case "error":
        write(`#${event.id} ERROR: ${event.message}\n\n`);
        return;
      case "warning":
        write(`WARNING: ${event.message}\n`);
    }
  };
  return Object.assign(render, { finish() {} });
}

interface Row {
  name: string;
  state: "running" | "cached" | "done" | "error";
  start: number;
  durationMs?: number;
  lastLine?: string;
}

function ttyRenderer(write: (text: string) => void, now: () => number): ProgressRenderer {
  const rows = new Map<number, Row>();
  const warnings: string[] = [];
  const begin = now();
  let drawn = 0;
  const draw = () => {
    const lines: string[] = [];
    const finished = [...rows.values()].filter((r) => r.state !== "running").length;
    lines.push(`[+] Building ${seconds(now() - begin)}s (${finished}/${rows.size})`);
    for (const row of rows.values()) {
      const time = row.state === "cached"
        ? "CACHED"
        : `${seconds(row.durationMs ?? now() - row.start)}s`;
      const mark = row.state === "error" ? "ERROR " : "";
      lines.push(` => ${mark}${row.name}`.padEnd(60) + ` ${time}`);
      if (row.state === "running" && row.lastLine) lines.push(` => => ${row.lastLine}`);
    }
    let out = drawn > 0 ? `\x1b[${drawn}A` : "";
    for (const line of lines) out += `\x1b[2K${line}\n`;
    write(out);
    drawn = lines.length;
  };
  const decoder = new TextDecoder();
  const render = (event: BuildEvent) => {
    if (event.type === "warning") {
      warnings.push(event.message);
      return;
    }
    if (event.type === "start") {
      rows.set(event.id, { name: event.name, state: "running", start: now() });
    } else {
      const row = rows.get(event.id);
      if (!row) return;
      if (event.type === "cached") row.state = "cached";
      else if (event.type === "done") {
        if (row.state !== "cached") row.state = "done";
        row.durationMs = event.durationMs;
      } else if (event.type === "error") row.state = "error";
      else {
        const text = decoder.decode(event.data).trimEnd().split("\n").at(-1);
        if (text) row.lastLine = text.slice(0, 100);
      }
    }
    draw();
  };
  return Object.assign(render, {
    finish() {
      draw();
      for (const w of warnings) write(`WARNING: ${w}\n`);
    },
  });
}
