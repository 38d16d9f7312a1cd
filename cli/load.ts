/** `stratum load`. @module */
import { stat } from "node:fs/promises";
import { familiarTag, importOciLayout, loadArchive, releaseChunk } from "../storage/mod.ts";
import { type CommandContext, inputStream, str } from "./_context.ts";
import { store } from "./_store.ts";

/** Runs `stratum load`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  const src = str(ctx.values.input) ?? "-";
  const s = await store(ctx);
  const options = {
    label: src === "-" ? "standard input" : `"${src}"`,
    name: str(ctx.values.name),
  };
  const loaded = src !== "-" && (await stat(src)).isDirectory()
    ? await importOciLayout(s, src, options)
    // The stream is ours alone, so its chunks are freed as they are staged.
    : await loadArchive(s, inputStream(src, releaseChunk), { ...options, releaseChunks: true });
  if (ctx.values.quiet) return;
  for (const img of loaded) {
    if (img.names.length) {
      for (const n of img.names) ctx.out(`Loaded image: ${familiarTag(n)}`);
    } else ctx.out(`Loaded image ID: ${img.id}`);
  }
}
