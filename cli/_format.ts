/**
 * How the CLI lays out what it prints: docker's sizes and durations, tables like Go's
 * tabwriter, and docker's `--format` (`table`, `json`, `table TEMPLATE`, a Go template).
 *
 * @module
 */
import { type CommandContext, UsageError } from "./_context.ts";
import { parseTemplate } from "./_template.ts";
import { TemplateError } from "./_template_values.ts";

/** Docker's `units.HumanSize`: three significant digits, decimal units. */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  let n = bytes;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(3))}${units[i]}`;
}

/** Docker's `units.HumanDuration`, as `docker images` prints CREATED. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return "About a minute";
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

/** `5 minutes ago`, or `N/A` without a time. */
export function since(created: string | undefined): string {
  if (!created) return "N/A";
  const t = Date.parse(created);
  return Number.isNaN(t) ? "N/A" : `${humanDuration(Date.now() - t)} ago`;
}

/** Lays rows out in columns like Go's tabwriter with docker's padding of three. */
export function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) =>
    r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i] + 3)).join("").trimEnd()
  );
}

/** `drwxr-xr-x`-style type and permission bits. */
export function modeString(type: string, mode: number): string {
  const t = { directory: "d", symlink: "l", chardev: "c", blockdev: "b", fifo: "p" }[type] ?? "-";
  let out = t;
  for (const shift of [6, 3, 0]) {
    const bits = (mode >> shift) & 7;
    out += (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") + (bits & 1 ? "x" : "-");
  }
  if (mode & 0o4000) out = out.slice(0, 3) + (out[3] === "x" ? "s" : "S") + out.slice(4);
  if (mode & 0o2000) out = out.slice(0, 6) + (out[6] === "x" ? "s" : "S") + out.slice(7);
  if (mode & 0o1000) out = out.slice(0, 9) + (out[9] === "x" ? "t" : "T");
  return out;
}

/** Parses a user's template, as a usage error in docker's words when it does not parse. */
export function userTemplate(text: string): { execute(data: unknown): string } {
  try {
    const t = parseTemplate(text);
    return {
      execute(data) {
        try {
          return t.execute(data);
        } catch (e) {
          if (e instanceof TemplateError) throw new Error(`Template parsing error: ${e.message}`);
          throw e;
        }
      },
    };
  } catch (e) {
    if (e instanceof TemplateError) throw new UsageError(`Template parsing error: ${e.message}`);
    throw e;
  }
}

/**
 * Prints `rows` the way docker's list commands do for `--format`: `table` (the default
 * columns), `json` (one object a line), `table TEMPLATE` (a table whose header names the
 * fields), or a Go template per row. `columns` are the default table's fields and headers;
 * `headers` names every field for `table TEMPLATE`.
 */
export function printRows(
  ctx: CommandContext,
  format: string | undefined,
  rows: Record<string, unknown>[],
  columns: [field: string, header: string][],
  headers: Record<string, string>,
): void {
  if (format === undefined || format === "" || format === "table") {
    const head = columns.map(([, h]) => h);
    const body = rows.map((r) => columns.map(([f]) => String(r[f] ?? "")));
    for (const line of table([head, ...body])) ctx.out(line);
    return;
  }
  if (format === "json") {
    for (const r of rows) ctx.out(JSON.stringify(r));
    return;
  }
  // docker's formatter reads `\t` and `\n` typed in a shell as a tab and a newline.
  const isTable = format.startsWith("table ");
  const text = (isTable ? format.slice(6) : format).trim().replaceAll("\\t", "\t")
    .replaceAll("\\n", "\n");
  const template = userTemplate(text);
  if (!isTable) {
    for (const r of rows) ctx.out(template.execute(r));
    return;
  }
  const headerData = Object.fromEntries(
    Object.keys(headers).map((k) => [k, headers[k]]),
  );
  const lines = [template.execute(headerData), ...rows.map((r) => template.execute(r))];
  for (const line of table(lines.map((l) => l.split("\t")))) ctx.out(line);
}
