/** `stratum fsck`. @module */
import type { CommandContext } from "./_context.ts";
import { store } from "./_store.ts";

/** Runs `stratum fsck`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  const r = await (await store(ctx)).fsck();
  for (const p of r.problems) ctx.out(`bad: ${p.digest}: ${p.problem}`);
  ctx.out(`checked ${r.checked} blobs, ${r.problems.length} problems`);
  return r.problems.length ? 1 : 0;
}
