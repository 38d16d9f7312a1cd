import type { ResolvedImage } from "../storage/mod.ts";
import { type HealthConfig, historyOfLayers, layerHistory } from "../image/mod.ts";
import {
  type ChangeCount,
  MergedTree,
  type NodeType,
  scanLayer,
  type ScannedEntry,
} from "./merged_tree.ts";
import { mapLimit } from "./_map_limit.ts";

/** A whiteout entry of a layer: a path it deletes from the layers below. */
export interface DescribedWhiteout {
  /** The deleted path (`etc/motd`), or for an opaque marker the directory emptied. */
  path: string;
  /** True for `.wh..wh..opq`: every lower child of `path` is hidden, `path` stays. */
  opaque: boolean;
  /** Indexes of the lower layers whose paths it hid, ascending; empty when it hid nothing. */
  hides: number[];
}

/** One layer of an inspected image, bottom first. */
export interface DescribedLayer {
  /** Position in the stack, 0 at the bottom. */
  index: number;
  /** The blob's digest, as the manifest names it. */
  digest: string;
  /** The uncompressed tar's digest from the config's `rootfs.diff_ids`. */
  diffId?: string;
  /** The manifest's media type for the blob. */
  mediaType: string;
  /** The blob's size in bytes, as stored (compressed). */
  size: number;
  /** The history step that made the layer (`empty_layer` steps are skipped in the mapping). */
  createdBy?: string;
  /** When that step ran. */
  created?: string;
  /** That step's comment. */
  comment?: string;
  /** Tar entries, whiteouts included. */
  entries: number;
  /** Regular-file bytes in the layer, uncompressed. */
  bytes: number;
  /** Paths new to the stack. */
  added: ChangeCount;
  /** Paths that replaced a lower one. */
  modified: ChangeCount;
  /** Lower paths this layer removed. */
  removed: ChangeCount;
  /** Of `bytes`, those a later layer (or a later entry of this one) hides: wasted space. */
  wastedBytes: number;
  /** The layer's whiteouts, in archive order. */
  whiteouts: DescribedWhiteout[];
}

/** One path of the merged tree. */
export interface DescribedEntry {
  /** Clean relative path (`etc/passwd`). */
  path: string;
  /** What the path is; hardlinks show as the file they share. */
  type: NodeType;
  /** Permission bits. */
  mode: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Size of a regular file; 0 otherwise. */
  size: number;
  /** Symlink target, for symlinks only. */
  link?: string;
  /** Index of the layer this path comes from. */
  layer: number;
  /** True for a directory no layer names: it exists because something below it does. */
  implicit?: boolean;
}

/** One step of the config's history, with the layer it made. */
export interface DescribedStep {
  /** The command of the step. */
  createdBy?: string;
  /** When it ran. */
  created?: string;
  /** The layer index it made, or null for a step without a layer (ENV, CMD...). */
  layer: number | null;
}

/** The JSON `/api/inspect` answers with: an image as a layer stack plus its merged tree. */
export interface ImageDescription {
  /** The manifest's digest. */
  manifestDigest: string;
  /** The index the manifest was chosen from, if any. */
  indexDigest?: string;
  /** The image ID (the config's digest). */
  id: string;
  /** `os/architecture[/variant]`. */
  platform: string;
  /** The config's `created`. */
  created?: string;
  /** Config plus layer blobs, in bytes as stored. */
  size: number;
  /** How the image runs, from the config. */
  config: {
    cmd?: string[];
    entrypoint?: string[];
    env?: string[];
    workingDir?: string;
    user?: string;
    /** `ExposedPorts`' keys (`8080/tcp`). */
    exposedPorts?: string[];
    /** The config's `Healthcheck`, durations in nanoseconds as stored. */
    healthcheck?: HealthConfig;
    /** The config's `Labels`. */
    labels?: Record<string, string>;
  };
  /** The config's history, in order. */
  history: DescribedStep[];
  /** The layers, bottom first. */
  layers: DescribedLayer[];
  /** The merged tree, parents before children, at most `maxTreeEntries` paths. */
  tree: DescribedEntry[];
  /** Paths in the merged tree, including any left out of `tree`. */
  treeTotal: number;
}

/** Options for {@linkcode describeImage}. */
export interface DescribeImageOptions {
  /** Most merged-tree paths returned; the rest are counted in `treeTotal`. @default {20000} */
  maxTreeEntries?: number;
  /** Layers read at once (decompression runs in parallel). @default {2} */
  concurrency?: number;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

/**
 * Describes `image` for people: each layer with the history step that made it, what it
 * added, changed and removed, the bytes later layers hide, and its whiteouts with the layers
 * they hid; then the merged tree with each path's layer. Reads each layer's headers once
 * through `image.layers` (bodies are skipped), so memory grows with the number of paths, not bytes.
 */
export async function describeImage(
  image: ResolvedImage,
  options: DescribeImageOptions = {},
): Promise<ImageDescription> {
  const descriptors = image.manifest.layers;
  const scanned = await mapLimit(image.layers, options.concurrency ?? 2, scanLayer);

  const steps: DescribedStep[] = layerHistory(image.config).map(({ history: h, layer }) => ({
    createdBy: h.created_by,
    created: h.created,
    layer,
  }));
  const stepOfLayer = historyOfLayers(image.config);

  const tree = new MergedTree();
  const whiteouts: DescribedWhiteout[][] = [];
  // Whiteouts name what lower layers hold, so each layer's are read off the tree below it.
  for (const [i, entries] of scanned.entries()) {
    whiteouts.push(entries.flatMap((e) => whiteoutOf(e, tree)));
    tree.addLayer(entries, descriptors[i].digest);
  }

  const layers = tree.stats.map((s, i): DescribedLayer => {
    const step = stepOfLayer[i];
    return {
      index: i,
      digest: descriptors[i].digest,
      diffId: image.layers[i].diffId,
      mediaType: descriptors[i].mediaType,
      size: descriptors[i].size,
      createdBy: step?.created_by,
      created: step?.created,
      comment: step?.comment,
      entries: s.entries,
      bytes: s.bytes,
      added: s.added,
      modified: s.modified,
      removed: s.removed,
      wastedBytes: s.hiddenBytes,
      whiteouts: whiteouts[i],
    };
  });

  const max = options.maxTreeEntries ?? 20_000;
  const entries: DescribedEntry[] = [];
  let total = 0;
  for (const e of tree.entries()) {
    total++;
    if (entries.length >= max) continue;
    entries.push({
      path: e.path,
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      size: e.size,
      ...(e.type === "symlink" ? { link: e.linkTarget } : {}),
      layer: e.layer,
      ...(e.implicit ? { implicit: true } : {}),
    });
  }

  const c = image.config;
  return {
    manifestDigest: image.manifestDigest,
    ...(image.indexDigest ? { indexDigest: image.indexDigest } : {}),
    id: image.id,
    platform: [c.os, c.architecture, c.variant].filter(Boolean).join("/"),
    created: c.created,
    size: image.manifest.config.size + descriptors.reduce((n, d) => n + d.size, 0),
    config: {
      cmd: c.config?.Cmd,
      entrypoint: c.config?.Entrypoint,
      env: c.config?.Env,
      workingDir: c.config?.WorkingDir || undefined,
      user: c.config?.User || undefined,
      exposedPorts: c.config?.ExposedPorts ? Object.keys(c.config.ExposedPorts) : undefined,
      healthcheck: c.config?.Healthcheck,
      labels: c.config?.Labels && Object.keys(c.config.Labels).length ? c.config.Labels : undefined,
    },
    history: steps,
    layers,
    tree: entries,
    treeTotal: total,
  };
}

/** The whiteout `entry` is, with the lower layers it hides in `below`; [] for other entries. */
function whiteoutOf(entry: ScannedEntry, below: MergedTree): DescribedWhiteout[] {
  const parts = entry.header.name.split("/").filter((p) => p !== "" && p !== ".");
  const base = parts.pop();
  if (!base?.startsWith(WHITEOUT)) return [];
  const opaque = base === OPAQUE;
  const path = opaque ? parts.join("/") : [...parts, base.slice(WHITEOUT.length)].join("/");
  const layers = new Set<number>();
  const hit = opaque ? undefined : below.get(path);
  if (hit) layers.add(hit.layer);
  if (opaque || hit?.type === "directory") collectLayers(below, path, layers);
  return [{ path, opaque, hides: [...layers].sort((a, b) => a - b) }];
}

function collectLayers(tree: MergedTree, dir: string, into: Set<number>): void {
  for (const child of tree.list(dir)) {
    into.add(child.layer);
    if (child.type === "directory") collectLayers(tree, child.path, into);
  }
}
