/**
 * `stratum history`: an image's steps, newest first, with each layer's unpacked size as
 * docker shows it (`{{.CompressedSize}}` gives the stored blob's size).
 *
 * @module
 */
import { layerHistory } from "../image/mod.ts";
import { type CommandContext, need, str } from "./_context.ts";
import { humanSize, printRows, since } from "./_format.ts";
import { layerSize, store } from "./_store.ts";

/** Runs `stratum history`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "exactly 1 argument");
  const s = await store(ctx);
  const img = await s.resolve(ctx.args[0]);
  const entries = [];
  for (const { history: h, layer } of layerHistory(img.config)) {
    const made = layer === null ? undefined : img.layers[layer];
    entries.push({
      createdBy: h.created_by ?? "",
      created: h.created,
      size: made ? await layerSize(s, made) : 0,
      compressed: layer === null ? 0 : img.manifest.layers[layer]?.size ?? 0,
      comment: h.comment ?? "",
    });
  }
  entries.reverse();
  const noTrunc = Boolean(ctx.values["no-trunc"]);
  const trunc = (t: string) => noTrunc || t.length <= 45 ? t : `${t.slice(0, 44)}…`;
  const view = entries.map((e, i) => ({
    ID: i === 0 ? (noTrunc ? img.id : img.id.slice(7, 19)) : "<missing>",
    CreatedSince: since(e.created),
    CreatedAt: e.created ?? "",
    CreatedBy: e.createdBy,
    Size: humanSize(e.size),
    CompressedSize: humanSize(e.compressed),
    Comment: e.comment,
  }));
  if (ctx.values.quiet) {
    for (const v of view) ctx.out(v.ID);
    return;
  }
  const format = str(ctx.values.format);
  printRows(
    ctx,
    format,
    format ? view : view.map((v) => ({ ...v, CreatedBy: trunc(v.CreatedBy) })),
    [
      ["ID", "IMAGE"],
      ["CreatedSince", "CREATED"],
      ["CreatedBy", "CREATED BY"],
      ["Size", "SIZE"],
      ["Comment", "COMMENT"],
    ],
    {
      ID: "IMAGE",
      CreatedSince: "CREATED",
      CreatedAt: "CREATED AT",
      CreatedBy: "CREATED BY",
      Size: "SIZE",
      CompressedSize: "COMPRESSED SIZE",
      Comment: "COMMENT",
    },
  );
}
