/** `stratum export`. @module */
import process from "node:process";
import { releaseChunk } from "../storage/mod.ts";
import { flattenToTar } from "../unionfs/mod.ts";
import { type CommandContext, need, str, UsageError, writeTar } from "./_context.ts";
import { store } from "./_store.ts";

/** Runs `stratum export`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "exactly 1 argument");
  const dest = str(ctx.values.output) ?? "-";
  if (dest === "-" && process.stdout.isTTY) {
    throw new UsageError("refusing to write a tar to a terminal; use -o FILE");
  }
  const s = await store(ctx);
  const tar = flattenToTar((await s.resolve(ctx.args[0])).layers);
  await writeTar(dest, tar, releaseChunk);
}
