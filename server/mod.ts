/**
 * An OCI distribution registry over a stratum store, plus the door for the demo UI.
 *
 * {@linkcode createRegistryApp} is the registry as a Web-standard handler
 * (`(Request) => Promise<Response>`), so `Deno.serve`, Deno Deploy and Node adapters call
 * the same function; {@linkcode serveRegistry} runs it on `node:http` with backpressure and
 * timeouts. Authentication plugs in as an {@linkcode Authenticator}: {@linkcode basicAuth}
 * over an {@linkcode Htpasswd} file, or {@linkcode tokenAuth} with its own token endpoint.
 * Requests outside `/v2/` go to the `fallback`: {@linkcode createDemoApp} is the demo UI
 * there (a page plus `/api/inspect`, `/api/parse`, `/api/build`, under the registry's own
 * authentication and access policy); `/api/inspect` answers with unionfs's `describeImage`:
 * layers as a stack and the merged tree with provenance. It shows images of other
 * registries only when given a `resolve` hook such as {@linkcode pullingResolver}.
 *
 * Store names: repository `NAME` with tag `T` is the store record `<namespace>/NAME:T`
 * (namespace `localhost` by default), and each pushed manifest is also recorded as
 * `<namespace>/NAME@<digest>`, so `stratum images` shows what was pushed and GC keeps it.
 * Blobs are stored once but reachable only through repositories that link them (a
 * manifest there names them, or they were uploaded or mounted there), as in distribution.
 *
 * @example Serve a store as an OCI distribution registry
 * ```ts
 * import { createRegistryApp } from "@stratum/stratum/server";
 * import { memoryStore } from "@stratum/stratum/storage";
 *
 * // An OCI distribution registry over a store: a fetch(Request) handler for Deno.serve,
 * // Node's http (through a Request adapter) or Deno Deploy.
 * const app = createRegistryApp(memoryStore());
 * const response = await app.fetch(new Request("http://localhost:5000/v2/"));
 * console.log(response.status, response.headers.get("docker-distribution-api-version")); // 200 registry/2.0
 * const catalog = await app.fetch(new Request("http://localhost:5000/v2/_catalog"));
 * console.log(await catalog.json()); // { repositories: [] }
 * ```
 *
 * @module
 */
export {
  createRegistryApp,
  type FetchHandler,
  type RegistryApp,
  type RegistryAppOptions,
  type ServeInfo,
} from "./registry_app.ts";
export {
  htpasswdAuth,
  parseAddr,
  type RegistryServer,
  serveRegistry,
  type ServeRegistryOptions,
} from "./serve_registry.ts";
export {
  type AccessPolicy,
  type Action,
  type Authenticator,
  basicAuth,
  type BasicAuthOptions,
  defaultPolicy,
  type Scope,
  tokenAuth,
  type TokenAuthOptions,
} from "./auth.ts";
export { Htpasswd, type HtpasswdOptions } from "./htpasswd.ts";
export {
  ERROR_CODES,
  type ErrorCode,
  RegistryHttpError,
  type RegistryHttpErrorOptions,
} from "./errors.ts";
export { type AccessLogEntry, formatAccessLog } from "./access_log.ts";
export {
  createDemoApp,
  type DemoApp,
  type DemoAppOptions,
  type DemoBuildFunction,
  type DemoBuildRequest,
  type DemoBuildResult,
  type DemoResolveFunction,
  type DemoSeedResult,
} from "./demo_app.ts";
export { demoBuildEngine } from "./demo_build.ts";
export { pullingResolver, type PullingResolverOptions } from "./pulling_resolver.ts";

// Types of lower modules that this module's API names, re-exported so that its
// documentation links them and users import them from one door.
export type { Digest, DigestResult } from "../digest/mod.ts";
export type {
  ContainerConfig,
  Descriptor,
  HealthConfig,
  History,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  Layer,
  LayerRef,
  ParsedManifest,
  Platform,
  Reference,
  RootFS,
} from "../image/mod.ts";
export type {
  BlobInfo,
  BlobReadOptions,
  BlobStore,
  BlobWriter,
  BlobWriterOptions,
  ExpectedBlob,
  FsckProblem,
  GcOptions,
  GcResult,
  ImageStore,
  ImageSummary,
  Lease,
  LeaseManager,
  RemoveResult,
  ResolvedImage,
  TagRecord,
  TagStore,
} from "../storage/mod.ts";
export type { ChangeCount, EntryType, NodeType } from "../unionfs/mod.ts";
export type { CredentialProvider, Credentials } from "../registry_client/mod.ts";
