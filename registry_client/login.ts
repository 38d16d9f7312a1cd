import {
  type Credentials,
  type DockerConfigOptions,
  removeDockerCredentials,
  saveDockerCredentials,
} from "./docker_config.ts";
import type { RegistryClientOptions } from "./options.ts";
import { RegistryClient } from "./registry_client.ts";

/** Options of {@linkcode login} and {@linkcode logout}. */
export interface LoginOptions extends Omit<RegistryClientOptions, "auth">, DockerConfigOptions {}

/** `https://index.docker.io/v1/`, `docker.io`, `localhost:5000/` → the registry host. */
export function normalizeHost(server: string): string {
  const host = server.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  if (!host) throw new TypeError(`Invalid registry "${server}"`);
  return host === "index.docker.io" || host === "registry-1.docker.io" ? "docker.io" : host;
}

/**
 * Logs in like `docker login`: checks the credentials against the registry (Basic, or
 * a token from its token server), then stores them in the docker config file or its
 * credential helper. Rejects with `AuthenticationError` or `RegistryError` when refused,
 * storing nothing.
 */
export async function login(
  server: string,
  credentials: Credentials,
  options: LoginOptions = {},
): Promise<void> {
  const host = normalizeHost(server);
  await new RegistryClient(host, { ...options, auth: credentials }).checkLogin();
  await saveDockerCredentials(host, credentials, options);
}

/** Forgets the stored credentials for a registry, like `docker logout`; false when there were none. */
export function logout(server: string, options: DockerConfigOptions = {}): Promise<boolean> {
  return removeDockerCredentials(normalizeHost(server), options);
}
