/** `stratum copy`. @module */
import { copy } from "../registry_client/mod.ts";
import { type CommandContext, need } from "./_context.ts";
import { transferOptions } from "./_registry.ts";

/** Runs `stratum copy`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 2, "exactly 2 arguments");
  const t = transferOptions(ctx);
  const r = await copy(ctx.args[0], ctx.args[1], {
    ...t,
    allPlatforms: Boolean(ctx.values["all-platforms"]),
    referrers: !ctx.values["no-referrers"],
  }).finally(t.done);
  ctx.out(r.digest);
}
