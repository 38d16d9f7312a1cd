import { parseReference } from "../image/mod.ts";
import type { ListOptions, RegistryClientOptions } from "./options.ts";
import { RegistryClient } from "./registry_client.ts";

/** Options of {@linkcode listTags} and {@linkcode listCatalog}. */
export interface ListTagsOptions extends RegistryClientOptions, ListOptions {}

/** Every tag of a repository (`localhost:5000/app`, `busybox`), across all pages. */
export async function listTags(
  repository: string,
  options: ListTagsOptions = {},
): Promise<string[]> {
  const ref = parseReference(repository);
  const out: string[] = [];
  for await (const t of new RegistryClient(ref.registry, options).tags(ref.repository, options)) {
    out.push(t);
  }
  return out;
}

/** Every repository of a registry host (`/v2/_catalog`), across all pages. */
export async function listCatalog(host: string, options: ListTagsOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const r of new RegistryClient(host, options).catalog(options)) out.push(r);
  return out;
}
