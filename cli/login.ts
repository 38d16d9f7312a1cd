/** `stratum login`. @module */
import { login } from "../registry_client/mod.ts";
import { type CommandContext, need, readStdinText, str, UsageError } from "./_context.ts";
import { insecureHosts } from "./_registry.ts";

/** Runs `stratum login`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "exactly 1 argument");
  const username = str(ctx.values.username);
  if (!username) throw new UsageError("-u USER is required (stratum never prompts)");
  let password = str(ctx.values.password);
  if (ctx.values["password-stdin"]) password = (await readStdinText()).replace(/\r?\n$/, "");
  if (password === undefined) throw new UsageError("give --password-stdin or -p PASSWORD");
  if (ctx.values.password) {
    ctx.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
  }
  await login(ctx.args[0], { username, password }, {
    insecure: insecureHosts(ctx),
  });
  ctx.out("Login Succeeded");
}
