/** `stratum tags`. @module */
import { listTags } from "../registry_client/mod.ts";
import { type CommandContext, need } from "./_context.ts";
import { insecureHosts } from "./_registry.ts";

/** Runs `stratum tags`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "exactly 1 argument");
  const tags = await listTags(ctx.args[0], {
    insecure: insecureHosts(ctx),
  });
  for (const t of tags) ctx.out(t);
}
