/**
 * What the registry commands share: `--insecure` hosts and progress drawn on stderr.
 *
 * @module
 */
import process from "node:process";
import { createProgressRenderer, type TransferOptions } from "../registry_client/mod.ts";
import { type CommandContext, str } from "./_context.ts";

/** The `--insecure HOST` flags: registries reached over plain HTTP. */
export function insecureHosts(ctx: CommandContext): string[] {
  return (ctx.values.insecure as string[] | undefined) ?? [];
}

/**
 * Transfer options from the shared flags, with progress drawn on stderr: per-layer bars with
 * bytes and speed on a terminal, one plain line per state change otherwise. Status lines the
 * command prints itself on stdout when it is done (`printed`) are not drawn too, so that a
 * terminal, which shows both streams, shows each once.
 */
export function transferOptions(
  ctx: CommandContext,
  printed: (message: string) => boolean = () => false,
): TransferOptions & { done(): void } {
  const renderer = createProgressRenderer(ctx.writeErr, {
    tty: Boolean(process.stderr.isTTY),
    quiet: Boolean(ctx.values.quiet),
  });
  return {
    insecure: insecureHosts(ctx),
    platform: str(ctx.values.platform),
    onProgress: (e) => {
      if (e.type === "status" && printed(e.message)) return;
      renderer.update(e);
    },
    onWarning: (m) => ctx.err(`warning: ${m}`),
    done: () => renderer.done(),
  };
}
