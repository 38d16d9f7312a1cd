/** `stratum manifest`. @module */
import { fetchManifest } from "../registry_client/mod.ts";
import { type CommandContext, need } from "./_context.ts";
import { insecureHosts } from "./_registry.ts";

/** Runs `stratum manifest`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "exactly 1 argument");
  const m = await fetchManifest(ctx.args[0], {
    insecure: insecureHosts(ctx),
  });
  ctx.write(m.bytes);
}
