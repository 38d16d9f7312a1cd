/**
 * `stratum images`: one row per name, like `docker images`. A pull records the image twice
 * in the store, as `repo:tag` and as `repo@digest` (so it stays pullable by digest when the
 * tag moves); that digest is the row's DIGEST (`--digests`, `{{.Digest}}`), not a row of
 * its own. An image known only by digest shows as `repo <none>`, one with no name at all
 * as `<none> <none>` (dangling).
 *
 * @module
 */
import { parseReference, type Reference } from "../image/mod.ts";
import type { ImageStore, ResolvedImage } from "../storage/mod.ts";
import { type CommandContext, str, UsageError } from "./_context.ts";
import { humanSize, printRows, since } from "./_format.ts";
import { store, unpackedSize } from "./_store.ts";

/** One image name as `images` lists it. */
interface Row {
  id: string;
  digest?: string;
  reference?: Reference;
  created?: string;
  labels: Record<string, string>;
  size: number;
  compressed: number;
  /** No tag names this image. */
  dangling: boolean;
}

/** Every row `docker images` would show for the store, before filters. */
async function rows(s: ImageStore): Promise<Row[]> {
  const records = await s.tags.list();
  const loaded: { name: string; img?: ResolvedImage; digest: string }[] = [];
  for (const r of records) {
    const img = await s.load(r.descriptor, [r.name]).catch(() => undefined);
    loaded.push({ name: r.name, img, digest: r.descriptor.digest });
  }
  // Foreign indexes (no image for this platform) are listed by their digest, as the store
  // lists them; their sizes come from there.
  const foreign = new Map<string, { size: number }>(
    loaded.some((l) => !l.img) ? (await s.images()).map((r) => [r.digest, r]) : [],
  );
  const tagged = new Set<string>();
  const refOf = (name: string) => name.startsWith("@") ? undefined : parseReference(name);
  for (const l of loaded) {
    const ref = refOf(l.name);
    const id = l.img?.id ?? l.digest;
    if (ref && !ref.digest) tagged.add(id), tagged.add(`${id} ${ref.familiarName}`);
  }
  const out: Row[] = [];
  const sizes = new Map<string, number>();
  for (const l of loaded) {
    const ref = refOf(l.name);
    const id = l.img?.id ?? l.digest;
    // A repo digest record beside a tag of the same repository is that row's DIGEST.
    if (ref?.digest && tagged.has(`${id} ${ref.familiarName}`)) continue;
    // An unnamed record of an image that has names is not a row either.
    if (!ref && tagged.has(id)) continue;
    if (!ref && out.some((r) => r.id === id && !r.reference)) continue;
    const repoDigest = ref && !ref.digest
      ? loaded.map((x) => ({ x, r: refOf(x.name) })).find(({ x, r }) =>
        r?.digest && r.familiarName === ref.familiarName && (x.img?.id ?? x.digest) === id
      )?.r?.digest
      : ref?.digest;
    let size = sizes.get(id);
    if (size === undefined) {
      size = l.img ? await unpackedSize(s, l.img) : foreign.get(l.digest)?.size ?? 0;
      sizes.set(id, size);
    }
    out.push({
      id,
      digest: repoDigest,
      reference: ref,
      created: l.img?.config.created,
      labels: l.img?.config.config?.Labels ?? {},
      size,
      compressed: l.img
        ? l.img.manifest.config.size + l.img.manifest.layers.reduce((n, d) => n + d.size, 0)
        : foreign.get(l.digest)?.size ?? 0,
      dangling: !tagged.has(id),
    });
  }
  return out;
}

/** Go's `path.Match`, as docker's `reference=` filter uses it. */
function pathMatch(pattern: string, text: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) {
        throw new UsageError(`invalid reference filter "${pattern}": syntax error in pattern`);
      }
      re += `[${pattern.slice(i + 1, end).replace(/^\^/, "^").replace(/\\/g, "\\\\")}]`;
      i = end;
    } else if (c === "\\" && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else re += c.replace(/[.+^${}()|\]\\]/g, "\\$&");
  }
  return new RegExp(re + "$").test(text);
}

const FILTERS = ["dangling", "reference", "before", "since", "label"];

/** `--filter` values grouped by key: one key's values are ORed, different keys ANDed. */
function parseFilters(values: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of values) {
    const eq = f.indexOf("=");
    const key = eq < 0 ? f : f.slice(0, eq);
    if (eq < 0) throw new UsageError(`bad format of filter (expected name=value): "${f}"`);
    if (!FILTERS.includes(key)) throw new UsageError(`invalid filter '${key}'`);
    out.set(key, [...(out.get(key) ?? []), f.slice(eq + 1)]);
  }
  for (const v of out.get("dangling") ?? []) {
    if (!/^(true|false|1|0)$/i.test(v)) {
      throw new UsageError(`invalid filter 'dangling=${v}'`);
    }
  }
  return out;
}

/** Runs `stratum images`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  const filters = parseFilters((ctx.values.filter as string[] | undefined) ?? []);
  const s = await store(ctx);
  let list = await rows(s);
  if (ctx.args[0]) {
    const want = parseReference(ctx.args[0]);
    const explicitTag = /:[^/]+$/.test(ctx.args[0]);
    list = list.filter((r) =>
      r.reference && r.reference.name === want.name &&
      (!explicitTag || r.reference.tag === want.tag)
    );
  }
  const dangling = filters.get("dangling");
  if (dangling) {
    const want = /^(true|1)$/i.test(dangling.at(-1)!);
    list = list.filter((r) => r.dangling === want);
  }
  const patterns = filters.get("reference");
  if (patterns) {
    list = list.filter((r) =>
      r.reference &&
      patterns.some((p) =>
        pathMatch(p, r.reference!.tag ? `${r.reference!.familiarName}:${r.reference!.tag}` : "") ||
        pathMatch(p, r.reference!.familiarName)
      )
    );
  }
  for (const key of ["before", "since"] as const) {
    for (const input of filters.get(key) ?? []) {
      const img = await s.resolve(input);
      const t = Date.parse(img.config.created ?? "");
      list = list.filter((r) => {
        const c = Date.parse(r.created ?? "");
        return Number.isNaN(c) || Number.isNaN(t) ? false : key === "before" ? c < t : c > t;
      });
    }
  }
  const labels = filters.get("label");
  if (labels) {
    list = list.filter((r) =>
      labels.every((l) => {
        const eq = l.indexOf("=");
        return eq < 0 ? Object.hasOwn(r.labels, l) : r.labels[l.slice(0, eq)] === l.slice(eq + 1);
      })
    );
  }
  list.sort((a, b) => (Date.parse(b.created ?? "") || 0) - (Date.parse(a.created ?? "") || 0));
  const noTrunc = Boolean(ctx.values["no-trunc"]);
  const view = list.map((r) => ({
    Repository: r.reference?.familiarName ?? "<none>",
    Tag: r.reference?.tag ?? "<none>",
    Digest: r.digest ?? "<none>",
    ID: noTrunc ? r.id : r.id.slice(7, 19),
    CreatedSince: since(r.created),
    CreatedAt: r.created ?? "",
    Size: humanSize(r.size),
    CompressedSize: humanSize(r.compressed),
  }));
  if (ctx.values.quiet) {
    for (const id of new Set(view.map((v) => v.ID))) ctx.out(id);
    return;
  }
  const columns: [string, string][] = [
    ["Repository", "REPOSITORY"],
    ["Tag", "TAG"],
    ...(ctx.values.digests ? [["Digest", "DIGEST"] as [string, string]] : []),
    ["ID", "IMAGE ID"],
    ["CreatedSince", "CREATED"],
    ["Size", "SIZE"],
  ];
  printRows(ctx, str(ctx.values.format), view, columns, {
    Repository: "REPOSITORY",
    Tag: "TAG",
    Digest: "DIGEST",
    ID: "IMAGE ID",
    CreatedSince: "CREATED",
    CreatedAt: "CREATED AT",
    Size: "SIZE",
    CompressedSize: "COMPRESSED SIZE",
  });
}
