/**
 * The Dockerfile that `parse` and `fmt` read.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { parseDockerfile } from "../builder/mod.ts";
import { type CommandContext, readStdinText, str } from "./_context.ts";

/** Reads the Dockerfile named by `-f` (default `./Dockerfile`, `-` for stdin) and parses it. */
export async function readDockerfile(ctx: CommandContext) {
  const file = str(ctx.values.file) ?? ctx.args[0] ?? "Dockerfile";
  const text = file === "-" ? await readStdinText() : await readFile(file, "utf8");
  return { file, text, parsed: parseDockerfile(text, { file }) };
}
