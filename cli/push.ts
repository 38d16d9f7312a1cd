/**
 * `stratum push`: per-layer progress on stderr, docker's closing
 * `TAG: digest: DIGEST size: N` line on stdout, once.
 *
 * The store is opened here rather than through `_store.ts`, which brings unionfs and its
 * tar and zstd readers: a push never reads a layer, and the import is start-up time.
 *
 * @module
 */
import { parseReference } from "../image/mod.ts";
import { push } from "../registry_client/mod.ts";
import { openStore } from "../storage/mod.ts";
import { type CommandContext, need } from "./_context.ts";
import { transferOptions } from "./_registry.ts";

/** Runs `stratum push`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "1 or 2 arguments");
  const t = transferOptions(ctx, (m) => /^\S+: digest: sha256:[0-9a-f]{64} size: \d+$/.test(m));
  const r = await push(await openStore(ctx.root), ctx.args[0], { ...t, destination: ctx.args[1] })
    .finally(t.done);
  ctx.out(`${parseReference(r.name).tag ?? "latest"}: digest: ${r.digest} size: ${r.size}`);
}
