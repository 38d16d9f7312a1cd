/**
 * `stratum diff IMAGE1 IMAGE2`: paths added (A), changed (C) and removed (D). A file whose
 * mtime is all that changed counts only when its content changed too, unless `--mtime`.
 *
 * @module
 */
import { diffLayerStacks } from "../unionfs/mod.ts";
import { type CommandContext, need } from "./_context.ts";
import { store } from "./_store.ts";

/** Runs `stratum diff`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 2, "exactly 2 arguments");
  const s = await store(ctx);
  const [a, b] = await Promise.all([s.resolve(ctx.args[0]), s.resolve(ctx.args[1])]);
  const changes = await diffLayerStacks(a.layers, b.layers, {
    mtime: Boolean(ctx.values.mtime),
  });
  const letter = { added: "A", changed: "C", removed: "D" } as const;
  for (const c of changes) ctx.out(`${letter[c.kind]} /${c.path}`);
}
