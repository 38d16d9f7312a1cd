/** `stratum tag`. @module */
import { type CommandContext, need } from "./_context.ts";
import { store } from "./_store.ts";

/** Runs `stratum tag`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 2, "exactly 2 arguments");
  await (await store(ctx)).tag(ctx.args[0], ctx.args[1]);
}
