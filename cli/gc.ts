/**
 * `stratum gc`: what was freed, by kind, then the total, in docker's words
 * (`Total reclaimed space: 320MB`).
 *
 * @module
 */
import { collectGarbage, DEFAULT_GC_GRACE_MS } from "../builder/mod.ts";
import { type CommandContext, str, UsageError } from "./_context.ts";
import { humanSize } from "./_format.ts";
import { forgetLayerSizes, store } from "./_store.ts";

/** Runs `stratum gc`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  const graceText = str(ctx.values.grace) ?? String(DEFAULT_GC_GRACE_MS / 1000);
  if (!/^\d+(\.\d+)?$/.test(graceText)) {
    throw new UsageError(
      `invalid --grace ${JSON.stringify(graceText)}: expected a number of seconds, 0 or more`,
    );
  }
  const grace = Number(graceText);
  const s = await store(ctx);
  const r = await collectGarbage(s, { graceMs: grace * 1000 });
  await forgetLayerSizes(s);
  for (const d of r.removed) ctx.out(`deleted: ${d}`);
  const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;
  if (r.removed.length) {
    ctx.out(`Blobs: ${plural(r.removed.length, "blob")}, ${humanSize(r.freed.blobs)}`);
  }
  if (r.snapshots.length || r.freed.snapshots) {
    ctx.out(
      `Snapshots: ${plural(r.snapshots.length, "unpacked layer")}, ${humanSize(r.freed.snapshots)}`,
    );
  }
  const debris = r.debris.ingest + r.debris.builds;
  if (debris || r.freed.debris) {
    ctx.out(
      `Ingest/debris: ${plural(r.debris.ingest, "abandoned write")}, ${
        plural(r.debris.builds, "dead build")
      }, ${humanSize(r.freed.debris)}`,
    );
  }
  ctx.out(`Total reclaimed space: ${humanSize(r.freed.total)}`);
}
