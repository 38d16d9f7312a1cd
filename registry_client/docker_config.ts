import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";

/** Credentials for one registry: a user name and password, or an identity token. */
export type Credentials =
  | { username: string; password: string }
  | { identityToken: string };

/** Returns the credentials for a registry host (`docker.io`, `localhost:5000`), if any. */
export type CredentialProvider = (host: string) => Promise<Credentials | undefined>;

/** Options for the docker config functions. */
export interface DockerConfigOptions {
  /**
   * The config file. @default {`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`}
   */
  configPath?: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** Docker Hub's key in `auths` and in credential helpers, kept for compatibility with docker. */
const HUB_KEY = "https://index.docker.io/v1/";

/** The default config path, as docker computes it. */
export function defaultDockerConfigPath(): string {
  const dir = process.env.DOCKER_CONFIG ?? join(homedir(), ".docker");
  return join(dir, "config.json");
}

/** The key docker files a registry under: Docker Hub's v1 URL, else the bare host. */
export function configKey(host: string): string {
  return host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io"
    ? HUB_KEY
    : host;
}

/** `https://host/v1/` and `host` name the same registry; compare by host. */
function keyHost(key: string): string {
  const bare = key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  return bare === "index.docker.io" || bare === "registry-1.docker.io" ? "docker.io" : bare;
}

async function readConfig(path: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw e;
  }
  try {
    const parsed = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new SyntaxError("the top level is not an object");
    }
    return parsed as DockerConfigFile;
  } catch (e) {
    throw new SyntaxError(`Docker config ${path} is not valid JSON: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

async function writeConfig(path: string, config: DockerConfigFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(config, null, "\t") + "\n", { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** Runs `docker-credential-NAME action` with `input` on stdin and returns its stdout. */
function runHelper(helper: string, action: string, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${helper}`, [action], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.resume();
    child.on(
      "error",
      (e) =>
        reject(
          new Error(`Cannot run credential helper "docker-credential-${helper}"`, { cause: e }),
        ),
    );
    child.on("close", (code) => {
      const text = Buffer.concat(out).toString("utf8");
      if (code === 0) resolve(text);
      // The helper prints "credentials not found in native keychain" on a miss; the text is
      // not a secret, but keep it out anyway: stdout of "get" could be.
      else {reject(
          Object.assign(
            new Error(`Credential helper "docker-credential-${helper} ${action}" exited ${code}`),
            { notFound: /not found/i.test(text) },
          ),
        );}
    });
    child.stdin.end(input);
  });
}

function helperFor(config: DockerConfigFile, host: string): string | undefined {
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (keyHost(key) === keyHost(host)) return helper;
  }
  return config.credsStore || undefined;
}

function fromEntry(entry: AuthEntry, path: string, key: string): Credentials | undefined {
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) {
      throw new SyntaxError(
        `Docker config ${path}: auths["${key}"].auth is not base64 "user:pass"`,
      );
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/**
 * Looks up the credentials docker would use for `host`: a `credHelpers` entry or the
 * `credsStore` (running `docker-credential-NAME get`), else the `auths` entry.
 */
export async function dockerCredentials(
  host: string,
  options: DockerConfigOptions = {},
): Promise<Credentials | undefined> {
  const path = options.configPath ?? defaultDockerConfigPath();
  const config = await readConfig(path);
  const helper = helperFor(config, host);
  if (helper) {
    try {
      const out = JSON.parse(await runHelper(helper, "get", configKey(host)));
      if (out.Username === "<token>") return { identityToken: out.Secret };
      return { username: out.Username, password: out.Secret };
    } catch (e) {
      if (!(e as { notFound?: boolean }).notFound) throw e;
    }
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (keyHost(key) === keyHost(host) && entry) {
      const creds = fromEntry(entry, path, key);
      if (creds) return creds;
    }
  }
  return undefined;
}

/** A {@linkcode CredentialProvider} over the docker config file. */
export function dockerConfigProvider(options: DockerConfigOptions = {}): CredentialProvider {
  return (host) => dockerCredentials(host, options);
}

/**
 * Saves credentials for `host` the way `docker login` does: through the configured
 * credential helper when there is one, else base64 in `auths`. The file is written
 * atomically with mode 0600.
 */
export async function saveDockerCredentials(
  host: string,
  credentials: Credentials,
  options: DockerConfigOptions = {},
): Promise<void> {
  const path = options.configPath ?? defaultDockerConfigPath();
  const config = await readConfig(path);
  const key = configKey(host);
  const helper = helperFor(config, host);
  if (helper) {
    const [username, secret] = "identityToken" in credentials
      ? ["<token>", credentials.identityToken]
      : [credentials.username, credentials.password];
    await runHelper(
      helper,
      "store",
      JSON.stringify({ ServerURL: key, Username: username, Secret: secret }),
    );
    // docker leaves an empty entry so `docker info` lists the registry.
    config.auths = { ...config.auths, [key]: {} };
  } else {
    const entry: AuthEntry = "identityToken" in credentials
      ? { identitytoken: credentials.identityToken }
      : {
        auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64"),
      };
    const auths = Object.fromEntries(
      Object.entries(config.auths ?? {}).filter(([k]) => keyHost(k) !== keyHost(host)),
    );
    config.auths = { ...auths, [key]: entry };
  }
  await writeConfig(path, config);
}

/** Removes the credentials for `host`, like `docker logout`; false when there were none. */
export async function removeDockerCredentials(
  host: string,
  options: DockerConfigOptions = {},
): Promise<boolean> {
  const path = options.configPath ?? defaultDockerConfigPath();
  const config = await readConfig(path);
  const helper = helperFor(config, host);
  let found = false;
  if (helper) {
    try {
      await runHelper(helper, "erase", configKey(host));
      found = true;
    } catch (e) {
      if (!(e as { notFound?: boolean }).notFound) throw e;
    }
  }
  const auths = config.auths ?? {};
  for (const key of Object.keys(auths)) {
    if (keyHost(key) === keyHost(host)) {
      delete auths[key];
      found = true;
    }
  }
  if (found) await writeConfig(path, config);
  return found;
}
