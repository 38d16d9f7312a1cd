import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Descriptor, MediaType } from "../image/mod.ts";
import { sortRecords, type TagRecord, TagStoreBase } from "./tag_store.ts";
import { writeFileAtomic } from "./_fs.ts";
import { withLock } from "./_lock.ts";

/** The annotation OCI layouts use to name an index.json entry (skopeo's `oci:DIR:NAME`). */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
/** Marks index.json entries that record an image known only by digest. */
export const DIGEST_REF_ANNOTATION = "dev.stratum.ref.digest";

/**
 * A {@linkcode TagStore} kept in an OCI layout's `index.json`, one entry per name, so the
 * store is itself a layout that skopeo and umoci read. Updates hold a lock file and
 * replace index.json atomically.
 */
export class OciIndexTagStore extends TagStoreBase {
  readonly #root: string;

  /** A tag store for the layout at `root`. */
  constructor(root: string) {
    super();
    this.#root = root;
  }

  /** Creates `oci-layout` and an empty `index.json` when missing. */
  async init(): Promise<void> {
    await mkdir(join(this.#root, "blobs", "sha256"), { recursive: true });
    await withLock(this.#lockPath, async () => {
      const layout = join(this.#root, "oci-layout");
      if (!(await exists(layout))) {
        await writeFileAtomic(layout, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
      }
      if (!(await exists(this.#indexPath))) await writeFileAtomic(this.#indexPath, serialize([]));
    });
  }

  get #indexPath(): string {
    return join(this.#root, "index.json");
  }

  get #lockPath(): string {
    return join(this.#root, "index.json.lock");
  }

  /** Every record. */
  async list(): Promise<TagRecord[]> {
    return sortRecords(this.#parse(await this.#readText()));
  }

  /**
   * Atomic read-modify-write under the lock. A change that leaves index.json as it was
   * (a build tagging the image the tag names already) writes nothing: the atomic write's
   * fsyncs cost more than all the rest of a fully cached build.
   */
  async update(
    change: (records: TagRecord[]) => TagRecord[] | Promise<TagRecord[]>,
  ): Promise<void> {
    await withLock(this.#lockPath, async () => {
      const text = await this.#readText();
      const next = serialize(sortRecords(await change(this.#parse(text))));
      if (next !== text) await writeFileAtomic(this.#indexPath, next);
    });
  }

  /** index.json's text; undefined when there is none. */
  async #readText(): Promise<string | undefined> {
    try {
      return await readFile(this.#indexPath, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  #parse(text: string | undefined): TagRecord[] {
    if (text === undefined) return [];
    let index: { manifests?: Descriptor[] };
    try {
      index = JSON.parse(text);
    } catch (e) {
      throw new SyntaxError(`Store index ${this.#indexPath} is not valid JSON`, { cause: e });
    }
    const records: TagRecord[] = [];
    for (const d of index.manifests ?? []) {
      const { [REF_NAME_ANNOTATION]: tag, [DIGEST_REF_ANNOTATION]: byDigest, ...rest } =
        d.annotations ?? {};
      const name = tag ?? byDigest;
      // Entries without a name (written by other tools) stay reachable for GC under their digest.
      const descriptor: Descriptor = { ...d };
      if (Object.keys(rest).length) descriptor.annotations = rest;
      else delete descriptor.annotations;
      records.push({ name: name ?? `@${d.digest}`, descriptor });
    }
    return records;
  }
}

/** index.json's text for `records`, each named by its annotation. */
function serialize(records: TagRecord[]): string {
  const manifests = records.map(({ name, descriptor }) => {
    const key = name.startsWith("@")
      ? undefined
      : name.includes("@")
      ? DIGEST_REF_ANNOTATION
      : REF_NAME_ANNOTATION;
    return key
      ? { ...descriptor, annotations: { ...descriptor.annotations, [key]: name } }
      : descriptor;
  });
  const index = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests };
  return JSON.stringify(index, null, 2) + "\n";
}

async function exists(path: string): Promise<boolean> {
  try {
    await readFile(path);
    return true;
  } catch {
    return false;
  }
}
