import { type Descriptor, type ParsedManifest, parseReference } from "../image/mod.ts";
import type { RegistryClientOptions } from "./options.ts";
import { RegistryClient } from "./registry_client.ts";

/**
 * The raw manifest or index an image reference names, verified against its digest, like
 * `skopeo inspect --raw`: print `bytes` as they are.
 */
export async function fetchManifest(
  image: string,
  options: RegistryClientOptions = {},
): Promise<ParsedManifest> {
  const ref = parseReference(image);
  return await new RegistryClient(ref.registry, options).getManifest(
    ref.repository,
    ref.digest ?? ref.tag!,
  );
}

/** The manifests that refer to the image (signatures, SBOMs), by API or tag schema. */
export async function listReferrers(
  image: string,
  options: RegistryClientOptions & { artifactType?: string } = {},
): Promise<Descriptor[]> {
  const ref = parseReference(image);
  const client = new RegistryClient(ref.registry, options);
  const digest = ref.digest ??
    (await client.headManifest(ref.repository, ref.tag!))?.digest ??
    (await client.getManifest(ref.repository, ref.tag!)).digest;
  return await client.referrers(ref.repository, digest, options);
}
