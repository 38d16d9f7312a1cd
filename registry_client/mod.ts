/**
 * The OCI distribution client: pull, push and copy through any OCI/Docker registry.
 *
 * {@linkcode RegistryClient} speaks the protocol to one host: it pings, answers
 * `WWW-Authenticate` challenges with Basic credentials or bearer tokens (cached per scope,
 * refreshed when refused), retries 5xx/429/resets with backoff and `Retry-After`, and
 * follows redirects itself so credentials never reach another host. Credentials come from
 * the docker config file (`auths`, `credsStore`, `credHelpers`) or the caller. A body
 * that sends nothing for `idleTimeoutMs` is dropped like a cut connection. A connection
 * that fails is a {@linkcode ConnectionError} worded like Go's (`dial tcp HOST:PORT:
 * connect: connection refused`); a 401 says how to log in.
 *
 * {@linkcode pull}, {@linkcode push} and {@linkcode copy} are one copy engine over an
 * image source and sink: a registry repository, an {@linkcode ImageStore}, an OCI layout
 * (`oci:DIR[:NAME]`) or a docker archive (`docker-archive:FILE[:NAME]`). Downloads go
 * through the store's verifying, resumable writers (a cut or stalled connection resumes
 * with `Range`; a blob that fails verification is fetched once more from scratch);
 * uploads skip what the registry has, mount across repositories, resume a cut chunk
 * from the upload's status, and check with `HEAD` when the answer to the final `PUT` is
 * lost. {@linkcode createProgressRenderer} draws the progress events.
 *
 * Written by hand over `fetch`: no maintained npm client does the token flow, resumable
 * chunked uploads and store-verified streaming together on Web-standard APIs.
 *
 * @example Push to a registry and pull back (here stratum's own, in memory)
 * ```ts
 * import { pull, push } from "@stratum/stratum/registry_client";
 * import { createRegistryApp } from "@stratum/stratum/server";
 * import { memoryStore, putBytes } from "@stratum/stratum/storage";
 * import { MediaType } from "@stratum/stratum/image";
 *
 * // A registry to talk to: stratum's own, in memory, reached through `fetch` (a real one is
 * // reached over the network the same way; credentials come from docker's config.json).
 * const registry = createRegistryApp(memoryStore());
 * const fetch = (input: RequestInfo | URL, init?: RequestInit) =>
 *   registry.fetch(new Request(input, init));
 *
 * const local = memoryStore();
 * const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
 * const config = await putBytes(local.blobs, json({
 *   architecture: "amd64",
 *   os: "linux",
 *   rootfs: { type: "layers", diff_ids: [] },
 * }));
 * const manifest = await putBytes(local.blobs, json({
 *   schemaVersion: 2,
 *   mediaType: MediaType.OCI_MANIFEST,
 *   config: { mediaType: MediaType.OCI_CONFIG, ...config },
 *   layers: [],
 * }));
 * await local.tags.set("localhost:5000/app:1", { mediaType: MediaType.OCI_MANIFEST, ...manifest });
 *
 * const pushed = await push(local, "localhost:5000/app:1", { fetch });
 * const other = memoryStore();
 * const pulled = await pull(other, "localhost:5000/app:1", { fetch, platform: "linux/amd64" });
 * console.log(pushed.digest === pulled.digest); // true: the same manifest bytes
 * ```
 *
 * @module
 */
export { type Challenge, parseChallenges } from "./challenge.ts";
export {
  AuthenticationError,
  ConnectionError,
  RegistryError,
  type RegistryErrorDetail,
} from "./errors.ts";
export {
  configKey,
  type CredentialProvider,
  type Credentials,
  defaultDockerConfigPath,
  type DockerConfigOptions,
  dockerConfigProvider,
  dockerCredentials,
  removeDockerCredentials,
  saveDockerCredentials,
} from "./docker_config.ts";
export { pullScope, pushScope, readCapped, registryBaseUrl } from "./_http.ts";
export { referrersTag, RegistryClient } from "./registry_client.ts";
export type {
  ListOptions,
  RegistryClientOptions,
  RequestOptions,
  TransferOptions,
  UploadSession,
} from "./options.ts";
export { pullBlob, pushBlob } from "./blob_transfer.ts";
export { pull, type PullResult } from "./pull.ts";
export { push, type PushOptions, type PushResult } from "./push.ts";
export { copy, type CopyResult, type ImageLocation, parseImageLocation } from "./copy.ts";
export { login, type LoginOptions, logout, normalizeHost } from "./login.ts";
export { listCatalog, listTags, type ListTagsOptions } from "./list_tags.ts";
export { fetchManifest, listReferrers } from "./fetch_manifest.ts";
export {
  type BlobState,
  createProgressRenderer,
  formatBytes,
  type ProgressEvent,
  type ProgressRenderer,
  type ProgressRendererOptions,
} from "./progress.ts";

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
