/** `stratum ls`. @module */
import { scanLayer, type TreeEntry } from "../unionfs/mod.ts";
import { type CommandContext, need, UsageError } from "./_context.ts";
import { modeString } from "./_format.ts";
import { mergedTreeOf, store } from "./_store.ts";

/** Runs `stratum ls`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "1 or 2 arguments");
  const s = await store(ctx);
  const prefix = (ctx.args[1] ?? "").replace(/^\/+|\/+$/g, "");
  const under = (p: string) => !prefix || p === prefix || p.startsWith(`${prefix}/`);
  const line = (
    type: string,
    mode: number,
    uid: number,
    gid: number,
    size: number,
    path: string,
    link: string,
    layer: string,
  ) =>
    `${modeString(type, mode)} ${`${uid}/${gid}`.padEnd(9)} ${String(size).padStart(10)} ${
      layer.padEnd(4)
    } /${path}${link ? ` -> ${link}` : ""}`;
  if (ctx.values.layer !== undefined) {
    const img = await s.resolve(ctx.args[0]);
    const n = Number(ctx.values.layer);
    const sources = img.layers;
    if (!Number.isInteger(n) || n < 0 || n >= sources.length) {
      throw new UsageError(`--layer must be 0..${sources.length - 1}`);
    }
    for (const { header: h } of await scanLayer(sources[n])) {
      const path = h.name.replace(/^\.?\/+/, "").replace(/\/$/, "");
      if (!under(path)) continue;
      ctx.out(line(h.type, h.mode, h.uid, h.gid, h.size, path, h.linkname, `L${n}`));
    }
    return;
  }
  const tree = await mergedTreeOf(s, ctx.args[0]);
  const entries: TreeEntry[] = [...tree.entries()].filter((e) => e.path !== "" && under(e.path));
  for (const e of entries) {
    ctx.out(line(e.type, e.mode, e.uid, e.gid, e.size, e.path, e.linkTarget, `L${e.layer}`));
  }
}
