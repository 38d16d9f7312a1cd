/**
 * stratum: a daemonless container-image toolkit. This entry re-exports the digest, image
 * and storage modules; every module is also importable through its own door:
 * `@stratum/stratum/digest`, `/image`, `/storage`, `/unionfs`, `/registry_client`,
 * `/builder`, `/server`, and `/cli` (the CLI's `main(argv)`).
 *
 * Importing it from outside this repository:
 * - Node 20+: `npm install @stratum/stratum`, then
 *   `import { memoryStore } from "@stratum/stratum"`. The package is ES modules only:
 *   `require()` throws a message saying so; from CommonJS use `await import()`. Types
 *   resolve under every TypeScript `moduleResolution` (node10, node16, bundler).
 * - Deno, from npm: `import { memoryStore } from "npm:@stratum/stratum@0.1.0"`, or
 *   `deno add npm:@stratum/stratum` and import `"@stratum/stratum"` as above.
 * - Deno, from a checkout (a git submodule, a vendored copy): list its folder in your
 *   deno.json's `"workspace"`, then import `"@stratum/stratum"` or
 *   `"@stratum/stratum/storage"` by name; its own deno.json supplies the npm dependencies.
 *   A plain file or URL import of `mod.ts` also works when your import map has the entries
 *   of stratum's deno.json `"imports"` (hash-wasm, modern-tar, fzstd, bcryptjs).
 * - Deno, from JSR once it is published there: `deno add jsr:@stratum/stratum`.
 *
 * @example Save an (empty) store as a `docker save` archive, hashed as it streams
 * ```ts
 * import { DigestStream, memoryStore, parseReference, saveDockerArchive } from "@stratum/stratum";
 *
 * const store = memoryStore(); // on disk: await openStore("/var/lib/stratum")
 * const hashed = new DigestStream();
 * await new Response(saveDockerArchive(store, []).pipeThrough(hashed)).arrayBuffer();
 * console.log((await hashed.result).digest, parseReference("busybox").toString());
 * ```
 *
 * @module
 */
export * from "./digest/mod.ts";
export * from "./image/mod.ts";
export * from "./storage/mod.ts";
