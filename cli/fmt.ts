/** `stratum fmt`. @module */
import { writeFile } from "node:fs/promises";
import { formatDockerfile } from "../builder/mod.ts";
import { type CommandContext, UsageError } from "./_context.ts";
import { readDockerfile } from "./_dockerfile.ts";

/** Runs `stratum fmt`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  const { file, text, parsed } = await readDockerfile(ctx);
  const formatted = formatDockerfile(parsed);
  if (ctx.values.check) {
    if (formatted === text) return 0;
    ctx.err(`${file} is not formatted`);
    return 1;
  }
  if (ctx.values.write) {
    if (file === "-") throw new UsageError("--write needs -f FILE");
    return void await writeFile(file, formatted);
  }
  ctx.write(formatted);
  return 0;
}
