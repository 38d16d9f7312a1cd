/** `stratum parse`. @module */
import { toParseJson } from "../builder/mod.ts";
import type { CommandContext } from "./_context.ts";
import { readDockerfile } from "./_dockerfile.ts";

/** Runs `stratum parse`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  const { file, parsed } = await readDockerfile(ctx);
  for (const w of parsed.warnings) ctx.err(`${file}:${w.line}: warning: ${w.message}`);
  if (ctx.values.json) return void ctx.out(toParseJson(parsed));
  for (const i of parsed.instructions) {
    const lines = i.startLine === i.endLine ? `${i.startLine}` : `${i.startLine}-${i.endLine}`;
    ctx.out(`${lines.padEnd(8)} ${i.keyword.toUpperCase()} ${JSON.stringify(i.args)}`);
  }
}
