/** `stratum layers`. @module */
import { historyOfLayers } from "../image/mod.ts";
import { buildMergedTree } from "../unionfs/mod.ts";
import { type CommandContext, need } from "./_context.ts";
import { humanSize, table } from "./_format.ts";
import { store } from "./_store.ts";

/** Runs `stratum layers`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "exactly 1 argument");
  const s = await store(ctx);
  const img = await s.resolve(ctx.args[0]);
  const tree = await buildMergedTree(img.layers);
  const steps = historyOfLayers(img.config);
  const rows = tree.stats.map((st, i) => ({
    Layer: i,
    Digest: st.digest,
    Size: img.manifest.layers[i].size,
    CreatedBy: steps[i]?.created_by ?? "",
    Added: st.added.files,
    Modified: st.modified.files,
    Removed: st.removed.files,
    WastedBytes: st.hiddenBytes,
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
