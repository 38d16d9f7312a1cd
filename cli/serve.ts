/**
 * `stratum serve`: the store as an OCI distribution registry. Every image in the store is
 * served (see `stratum serve --help` for the name mapping); pushes land under the
 * namespace.
 *
 * @module
 */
import process from "node:process";
import { dockerConfigProvider } from "../registry_client/mod.ts";
import {
  createDemoApp,
  demoBuildEngine,
  htpasswdAuth,
  parseAddr,
  pullingResolver,
  serveRegistry,
} from "../server/mod.ts";
import { type CommandContext, str, UsageError } from "./_context.ts";
import { insecureHosts } from "./_registry.ts";
import { store } from "./_store.ts";
export async function run(ctx: CommandContext): Promise<number | void> {
  const addr = str(ctx.values.addr) ?? "127.0.0.1:5000";
  const htpasswd = str(ctx.values.htpasswd);
  if (ctx.values.token && !htpasswd) throw new UsageError("--token needs --htpasswd FILE");
  if (ctx.values["ui-remote"] && !ctx.values.ui) throw new UsageError("--ui-remote needs --ui");
  if (ctx.values["ui-remote-credentials"] && !ctx.values["ui-remote"]) {
    throw new UsageError("--ui-remote-credentials needs --ui-remote");
  }
  const { port } = parseAddr(addr);
  const s = await store(ctx);
  // Images pushed as HOST:PORT/NAME show in `stratum images` under that same name.
  const namespace = str(ctx.values.namespace) ?? `localhost:${port || 5000}`;
  const auth = htpasswd ? await htpasswdAuth(htpasswd, Boolean(ctx.values.token)) : undefined;
  const insecure = insecureHosts(ctx);
  const ui = ctx.values.ui
    ? createDemoApp(s, {
      namespace,
      auth,
      build: demoBuildEngine(ctx.root),
      resolve: ctx.values["ui-remote"]
        ? pullingResolver(s, {
          insecure,
          auth: ctx.values["ui-remote-credentials"] ? dockerConfigProvider() : undefined,
        })
        : undefined,
    })
    : undefined;
  // A first visit to an empty store's web view finds the demo image, not a 404.
  try {
    const seed = await ui?.seed();
    if (seed?.seeded) ctx.err(`built the demo image ${seed.reference} into the empty store`);
  } catch (e) {
    ctx.err(`Cannot build the demo image: ${(e as Error).message}`);
  }
  const server = await serveRegistry({
    store: s,
    addr,
    auth,
    ui,
    readOnly: Boolean(ctx.values["read-only"]),
    namespace,
    log: (line) => ctx.err(line),
  });
  ctx.err(
    `stratum registry listening on ${server.url}${ui ? ` (web view at ${server.url}/)` : ""}`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      void server.close().then(resolve);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
