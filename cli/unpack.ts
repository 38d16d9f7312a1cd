/** `stratum unpack`. @module */
import { type IdMapping, parseIdMapping } from "../image/mod.ts";
import { unpack } from "../unionfs/mod.ts";
import { type CommandContext, UsageError } from "./_context.ts";
import { store } from "./_store.ts";

/** The values of a repeatable `--uid-map`/`--gid-map`, or undefined when not given. */
function mappings(values: unknown, flag: string): IdMapping[] | undefined {
  if (!Array.isArray(values)) return undefined;
  return values.map((text) => {
    try {
      return parseIdMapping(String(text));
    } catch (e) {
      throw new UsageError(`invalid --${flag}: ${(e as Error).message}`);
    }
  });
}

/** Runs `stratum unpack`: quiet on success, like docker export; skipped paths on stderr. */
export async function run(ctx: CommandContext): Promise<number | void> {
  if (ctx.args.length !== 2) throw new UsageError("requires exactly 2 arguments");
  const [image, dir] = ctx.args;
  if (dir === "") throw new UsageError("the bundle directory cannot be empty");
  const uidMappings = mappings(ctx.values["uid-map"], "uid-map");
  const gidMappings = mappings(ctx.values["gid-map"], "gid-map");
  const made = await unpack(await store(ctx), image, dir, {
    rootless: ctx.values.rootless === true,
    uidMappings,
    gidMappings,
  });
  for (const why of made.rootfs.skipped) ctx.err(`stratum unpack: skipped ${why}`);
}
