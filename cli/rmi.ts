/** `stratum rmi`. @module */
import { familiarTag } from "../storage/mod.ts";
import { type CommandContext, need, printable } from "./_context.ts";
import { store } from "./_store.ts";

/** Runs `stratum rmi`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "at least 1 argument");
  const s = await store(ctx);
  let failed = 0;
  for (const a of ctx.args) {
    try {
      const r = await s.remove(a, { force: Boolean(ctx.values.force) });
      for (const n of r.untagged) ctx.out(`Untagged: ${familiarTag(n)}`);
      for (const d of r.deleted) ctx.out(`Deleted: ${d}`);
    } catch (e) {
      failed++;
      ctx.err(`Error response: ${printable((e as Error).message)}`);
    }
  }
  return failed ? 1 : 0;
}
