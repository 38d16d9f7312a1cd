/** `stratum save`. @module */
import process from "node:process";
import {
  exportOciLayout,
  releaseChunk,
  saveDockerArchive,
  saveOciArchive,
} from "../storage/mod.ts";
import { type CommandContext, need, str, UsageError, writeTar } from "./_context.ts";
import { store } from "./_store.ts";

/** Runs `stratum save`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "at least 1 argument");
  const dest = str(ctx.values.output) ?? "-";
  const format = str(ctx.values.format) ?? "docker";
  const s = await store(ctx);
  if (format !== "docker" && format !== "oci" && format !== "oci-dir") {
    throw new UsageError(`unknown --format "${format}"`);
  }
  // Every name is resolved before anything is created, so a typo costs nothing.
  for (const a of ctx.args) await s.resolve(a);
  if (format === "oci-dir") {
    if (dest === "-") throw new UsageError("--format oci-dir needs -o DIR");
    return void await exportOciLayout(s, ctx.args, dest);
  }
  if (dest === "-" && process.stdout.isTTY) {
    throw new UsageError("refusing to write an archive to a terminal; use -o FILE");
  }
  const tar = format === "oci" ? saveOciArchive(s, ctx.args) : saveDockerArchive(s, ctx.args);
  await writeTar(dest, tar, releaseChunk);
}
