/** `stratum logout`. @module */
import { logout } from "../registry_client/mod.ts";
import { type CommandContext, need, printable } from "./_context.ts";

/** Runs `stratum logout`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "exactly 1 argument");
  const removed = await logout(ctx.args[0]);
  const server = printable(ctx.args[0]);
  ctx.out(removed ? `Removing login credentials for ${server}` : `Not logged in to ${server}`);
}
