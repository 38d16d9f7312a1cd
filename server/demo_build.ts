import { packTar } from "modern-tar";
import { build } from "../builder/mod.ts";
import type { DemoBuildFunction } from "./demo_app.ts";

/**
 * The `/api/build` engine: stratum's real builder over the demo's store, with the posted
 * files as the build context. The demo refuses RUN before it gets here, so no container
 * runtime is needed; the engine still needs `storeRoot`, a writable directory for its
 * cache and scratch files.
 */
export function demoBuildEngine(storeRoot: string): DemoBuildFunction {
  return async ({ store, dockerfile, context, tag, signal }) => {
    const tar = await packTar(
      [...context].map(([name, body]) => ({
        header: { name, size: body.length, mode: 0o644, mtime: new Date(0) },
        body,
      })),
    );
    const result = await build({
      store,
      storeRoot,
      contextTar: new Blob([tar as Uint8Array<ArrayBuffer>]).stream(),
      dockerfile,
      tags: [tag],
      signal,
    });
    return { imageId: result.imageId, manifestDigest: result.manifestDigest };
  };
}
