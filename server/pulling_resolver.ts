import {
  type CredentialProvider,
  type Credentials,
  pull,
  RegistryError,
} from "../registry_client/mod.ts";
import { ImageNotFoundError, type ImageStore } from "../storage/mod.ts";
import type { DemoResolveFunction } from "./demo_app.ts";

/** Options for {@linkcode pullingResolver}. */
export interface PullingResolverOptions {
  /**
   * Credentials for the registries pulled from. Pass the operator's own logins
   * (`dockerConfigProvider()`) only on purpose: whatever they can pull, every user of the
   * UI can then read. @default {none: every pull is anonymous}
   */
  auth?: Credentials | CredentialProvider;
  /** Hosts spoken to over plain HTTP, besides loopback. @default {[]} */
  insecure?: string[];
  /** The fetch to use. @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

/** No credentials for any host: the registry client then pulls anonymously. */
const anonymous: CredentialProvider = () => Promise.resolve(undefined);

/**
 * A {@linkcode DemoResolveFunction} that pulls the image into `store`, as `stratum pull`
 * does (tagged under its own name, blobs already there are not fetched again), for
 * `createDemoApp`'s `resolve`. It asks the other registry every time rather than showing
 * what the store already holds under that name, so the store's own images (the operator's
 * private pulls and builds) are never shown to someone the other registry would refuse.
 * Pulls are anonymous unless `options.auth` says otherwise.
 */
export function pullingResolver(
  store: ImageStore,
  options: PullingResolverOptions = {},
): DemoResolveFunction {
  const auth = options.auth ?? anonymous;
  return async (ref, { signal }) => {
    const name = ref.toString();
    let digest: string;
    try {
      ({ digest } = await pull(store, name, {
        auth,
        insecure: options.insecure,
        fetch: options.fetch,
        signal,
      }));
    } catch (e) {
      const notFound = e instanceof RegistryError && e.status === 404 &&
        (e.codes.length === 0 ||
          e.codes.some((c) => c === "MANIFEST_UNKNOWN" || c === "NAME_UNKNOWN"));
      if (notFound) throw new ImageNotFoundError(name, { cause: e });
      throw e;
    }
    // By digest: another pull may move the tag meanwhile.
    return await store.resolve(`${ref.registry}/${ref.repository}@${digest}`);
  };
}
