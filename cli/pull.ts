/**
 * `stratum pull`: progress on stderr, and docker's closing `Digest:`/`Status:` lines and
 * the name on stdout, each once.
 *
 * The store is opened here rather than through `_store.ts`, which brings unionfs and its
 * tar and zstd readers: a pull never reads a layer, and the import is start-up time.
 *
 * @module
 */
import { pull } from "../registry_client/mod.ts";
import { familiarTag, openStore } from "../storage/mod.ts";
import { type CommandContext, need } from "./_context.ts";
import { transferOptions } from "./_registry.ts";

/** Runs `stratum pull`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "exactly 1 argument");
  const t = transferOptions(ctx, (m) => m.startsWith("Digest: ") || m.startsWith("Status: "));
  const r = await pull(await openStore(ctx.root), ctx.args[0], t).finally(t.done);
  if (ctx.values.quiet) return void ctx.out(familiarTag(r.name));
  ctx.out(`Digest: ${r.digest}`);
  ctx.out(
    `Status: ${r.upToDate ? "Image is up to date" : "Downloaded newer image"} for ${
      familiarTag(r.name)
    }`,
  );
  ctx.out(r.name);
}
