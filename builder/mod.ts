/**
 * The Dockerfile front end of stratum's builder: everything between a Dockerfile plus a
 * context directory and the build graph.
 *
 * - {@linkcode parseDockerfile} reads a Dockerfile the way BuildKit does (directives,
 *   continuations, heredocs, exec/shell form, flags, per-instruction checks) and
 *   {@linkcode toParseJson} prints it for `stratum parse --json`; {@linkcode formatDockerfile}
 *   prints it back canonically for `stratum fmt`.
 * - {@linkcode expandWord} / {@linkcode expandWords} are BuildKit's word expansion;
 *   {@linkcode scopeBuildArgs} applies ARG scoping and expands FROM lines.
 * - {@linkcode DockerignoreMatcher} and {@linkcode filterContext} decide which context paths
 *   are sent; {@linkcode walkBuildContext} does the same over a real directory (the one part
 *   that needs a filesystem).
 * - {@linkcode build} runs a build: `build.ts` is the door, `stage.ts` the stage loop and
 *   cache lookup, `steps/` one file per instruction kind (COPY/ADD, RUN, WORKDIR, metadata),
 *   `session.ts` what they share. The parser hands steps typed flags
 *   ({@linkcode CopyFlags}, {@linkcode RunFlags}, {@linkcode HealthcheckOptions}).
 *
 * @example Parse a Dockerfile and build it without a daemon
 * ```ts
 * import { build, parseDockerfile } from "@stratum/stratum/builder";
 * import { openStore } from "@stratum/stratum/storage";
 * import { mkdtemp, rm, writeFile } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dockerfile = 'FROM scratch\nCOPY hello.txt /\nCMD ["/hello.txt"]\n';
 * // BuildKit's reading of a Dockerfile, as plain data; errors name the line.
 * console.log(parseDockerfile(dockerfile).instructions.map((i) => i.keyword)); // from copy cmd
 *
 * // A build needs no daemon; this one has no RUN, so it needs no container runtime either.
 * const dir = await mkdtemp(join(tmpdir(), "stratum-example-"));
 * try {
 *   await writeFile(join(dir, "Dockerfile"), dockerfile);
 *   await writeFile(join(dir, "hello.txt"), "hello\n");
 *   const store = await openStore(join(dir, "store"));
 *   const result = await build({ store, contextDir: dir, tags: ["hello:1"] });
 *   console.log(result.imageId, result.config.config?.Cmd); // sha256:... ["/hello.txt"]
 * } finally {
 *   await rm(dir, { recursive: true, force: true });
 * }
 * ```
 *
 * @module
 */
export { CopyError, DockerfileSyntaxError, WordExpansionError } from "./errors.ts";
export {
  type ArgDefinition,
  type ArgInstruction,
  type CopyInstruction,
  type Directive,
  type HealthcheckInstruction,
  type Heredoc,
  type Instruction,
  type InstructionBase,
  type KeyValueInstruction,
  type KeyValuePair,
  type Keyword,
  type OnbuildInstruction,
  type ParsedDockerfile,
  parseDockerfile,
  type ParseOptions,
  type ParseWarning,
  type PlainInstruction,
  type RunInstruction,
} from "./parser.ts";
export {
  type CopyFlags,
  type HealthcheckOptions,
  type RunFlags,
  type RunMount,
} from "./instruction_flags.ts";
export { formatDockerfile, toParseJson } from "./format.ts";
export {
  type ExpandOptions,
  expandWord,
  expandWords,
  type ExpansionEnv,
} from "./word_expansion.ts";
export {
  platformArgs,
  PROXY_ARGS,
  scopeBuildArgs,
  type ScopeBuildArgsOptions,
  type ScopedBuildArgs,
  type ScopedStep,
  type StageArgs,
} from "./build_args.ts";
export {
  cleanPath,
  type ContextFilterOptions,
  createContextFilter,
  DockerignoreMatcher,
  dockerignorePathFor,
  filterContext,
  parseDockerignore,
} from "./dockerignore.ts";
export {
  type BuildContextListing,
  type ContextDirent,
  type ContextEntry,
  type ContextFs,
  type ContextLstatResult,
  nodeContextFs,
  walkBuildContext,
  type WalkBuildContextOptions,
} from "./context_walk.ts";
export {
  build,
  type BuildOptions,
  type BuildResult,
  BuildStepError,
  type StepReport,
} from "./build.ts";
export {
  type BuildGraph,
  type BuildGraphOptions,
  planBuildGraph,
  type StageNode,
} from "./build_graph.ts";
export {
  BuildCache,
  cacheKey,
  type CacheRecord,
  type InputStream,
  type JsonBytes,
  type KeyComponents,
  LastRun,
  type LayerRef,
  type RecordedStep,
  type RunStep,
} from "./build_cache.ts";
export { explainMiss } from "./miss_reason.ts";
export { BuildContext, type ContextStat, type OpenContextOptions } from "./build_context.ts";
export {
  CACHE_CONFIG_MEDIA_TYPE,
  type CacheSpec,
  exportCache,
  parseCacheSpec,
  RegistryCache,
} from "./registry_cache.ts";
export {
  buildMetadata,
  type BuildOutput,
  parseOutputSpec,
  type StoredImage,
  storeImage,
  writeBuildFiles,
  writeFileAtomic,
  type WriteFileAtomicOptions,
  writeOutput,
} from "./build_output.ts";
export {
  type BuildEvent,
  createProgress,
  type ProgressMode,
  type ProgressRenderer,
} from "./build_progress.ts";
export { type Archive, archiveKind } from "./copy_archive.ts";
export {
  type CopyOptions,
  type CopyPlan,
  type InlineSource,
  type PlannedEntry,
} from "./copy_plan.ts";
export { planCopy } from "./copy.ts";
export { contextFs, resolveChown, type SourceFs, type SourceStat, TreeFs } from "./copy_source.ts";
export {
  applyMetadata,
  DEFAULT_PATH,
  goDuration,
  goQuote,
  HISTORY_COMMENT,
  initialStageConfig,
  type MetadataResult,
  resolveWorkdir,
  type StageConfig,
} from "./instructions.ts";
export {
  detectExecutor,
  type ExecutorKind,
  RunFailedError,
  type RunRequest,
  type RunResult,
  runStep,
  type RunStepOptions,
} from "./run_executor.ts";
export {
  buildTempRoot,
  type DebrisResult,
  ownedTempDir,
  sweepDebris,
  type SweepDebrisOptions,
} from "./debris.ts";
export {
  collectGarbage,
  type CollectGarbageOptions,
  type CollectGarbageResult,
  DEFAULT_GC_GRACE_MS,
} from "./store_gc.ts";
export { type ChmodCommand, type ChmodMode, parseChmod } from "./chmod_mode.ts";

// Types of lower modules that this module's API names, re-exported so that its
// documentation links them and users import them from one door.
export type { Digest, DigestResult, Sha256Function } from "../digest/mod.ts";
export type {
  ContainerConfig,
  Descriptor,
  HealthConfig,
  History,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  Layer,
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
  SweepStoreResult,
  TagRecord,
  TagStore,
} from "../storage/mod.ts";
export type {
  ApplyEntry,
  Body,
  BodyReader,
  ChangeCount,
  EntryType,
  FileStat,
  LayerSource,
  LayerStats,
  MergedTree,
  NodeType,
  PrepareOptions,
  ScannedEntry,
  SnapshotGcResult,
  SnapshotStore,
  TarHeader,
  TreeEntry,
  WriteEntry,
  WriteHeader,
} from "../unionfs/mod.ts";
export type {
  BlobState,
  CredentialProvider,
  Credentials,
  ProgressEvent,
  PushResult,
  RegistryClientOptions,
  TransferOptions,
} from "../registry_client/mod.ts";
