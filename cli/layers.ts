/** `stratum layers`. @module */
import { describeImage } from "../unionfs/mod.ts";
import { type CommandContext, need } from "./_context.ts";
import { humanSize, table } from "./_format.ts";
import { store } from "./_store.ts";

/** Runs `stratum layers`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "exactly 1 argument");
  const s = await store(ctx);
  const img = await s.resolve(ctx.args[0]);
  const described = await describeImage(img, { maxTreeEntries: 0 });
  const rows = described.layers.map((l) => ({
    Layer: l.index,
    Digest: l.digest,
    Size: l.size,
    CreatedBy: l.createdBy ?? "",
    Added: l.added.files,
    Modified: l.modified.files,
    Removed: l.removed.files,
    WastedBytes: l.wastedBytes,
  }));
  if (ctx.values.format === "json") return void ctx.out(JSON.stringify(rows, null, 2));
  const trunc = (t: string) => t.length <= 50 ? t : `${t.slice(0, 49)}…`;
  const table_ = [[
    "LAYER",
    "DIGEST",
    "SIZE",
    "ADDED",
    "MODIFIED",
    "REMOVED",
    "WASTED",
    "CREATED BY",
  ]];
  for (const r of rows) {
    table_.push([
      String(r.Layer),
      r.Digest.slice(7, 19),
      humanSize(r.Size),
      String(r.Added),
      String(r.Modified),
      String(r.Removed),
      humanSize(r.WastedBytes),
      trunc(r.CreatedBy),
    ]);
  }
  for (const line of table(table_)) ctx.out(line);
}
