/**
 * `stratum version`: stratum's version and the runtime it runs on.
 *
 * @module
 */
import process from "node:process";
import { type CommandContext, str } from "./_context.ts";
import { userTemplate } from "./_format.ts";
import { VERSION } from "./_version.ts";

/** Runs `stratum version`. */
export function run(ctx: CommandContext): Promise<number | void> {
  const deno = (process.versions as Record<string, string | undefined>).deno;
  const info = {
    Version: VERSION,
    Runtime: deno ? "deno" : "node",
    RuntimeVersion: deno ?? process.versions.node,
    Os: process.platform,
    Arch: process.arch === "x64" ? "amd64" : process.arch,
  };
  const format = str(ctx.values.format);
  if (format) ctx.out(userTemplate(format).execute(info));
  else {
    ctx.out(`Version:    ${info.Version}`);
    ctx.out(`Runtime:    ${info.Runtime} ${info.RuntimeVersion}`);
    ctx.out(`OS/Arch:    ${info.Os}/${info.Arch}`);
  }
  return Promise.resolve();
}
