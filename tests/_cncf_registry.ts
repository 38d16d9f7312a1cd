/**
 * Starting a real CNCF distribution registry (Debian `docker-registry`) on 127.0.0.1 for
 * interop tests: open, htpasswd (Basic) or token auth with a test token server that signs
 * RS256 JWTs, plus in-memory test images.
 */
import { Buffer } from "node:buffer";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash, createSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as netServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import bcrypt from "bcryptjs";
import { sha256 } from "../digest/mod.ts";
import { type Descriptor, MediaType, type Platform, serializeManifest } from "../image/mod.ts";
import { type ImageStore, putBytes } from "../storage/mod.ts";
import { imageConfig, layerTar } from "./_fixtures.ts";

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A running registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** Tokens the token server issued (token auth only). */
  tokensIssued: () => number;
  /** Stops everything and removes the temp dir. */
  close(): Promise<void>;
}

/** Auth of a test registry. */
export type RegistryAuth = "none" | "htpasswd" | "token";

/** The one user of authenticated registries. */
export const USER = { username: "alice", password: "s3cret-pw" };

function base32(bytes: Uint8Array): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** libtrust's key ID, which distribution matches against the JWT `kid`. */
function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  const s = base32(createHash("sha256").update(der).digest().subarray(0, 30));
  return s.match(/.{1,4}/g)!.join(":");
}

function b64url(data: string | Uint8Array): string {
  return Buffer.from(data).toString("base64url");
}

/** Starts a token server that grants every requested action to USER and refuses others. */
async function tokenServer(
  key: { privateKey: KeyObject; publicKey: KeyObject },
  service: string,
): Promise<{ server: Server; port: number; issued: () => number }> {
  const kid = libtrustKeyId(key.publicKey);
  let issued = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url!, "http://x");
    const auth = req.headers.authorization ?? "";
    const expected = "Basic " + Buffer.from(`${USER.username}:${USER.password}`).toString("base64");
    if (auth !== expected) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ details: "bad credentials" }));
      return;
    }
    const access = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).map((s) => {
      const [type, ...rest] = s.split(":");
      const actions = rest.pop()!.split(",");
      return { type, name: rest.join(":"), actions };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid }));
    const claims = b64url(JSON.stringify({
      iss: "stratum-test",
      sub: USER.username,
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: String(Math.random()),
      access,
    }));
    const sig = createSign("RSA-SHA256").update(`${header}.${claims}`).sign(key.privateKey);
    issued++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token: `${header}.${claims}.${b64url(sig)}`, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port, issued: () => issued };
}

/** Starts `docker-registry` with `auth` on a free port and waits until it answers. */
export async function startRegistry(auth: RegistryAuth): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-registry-"));
  const port = await freePort();
  let authYaml = "";
  let token: Awaited<ReturnType<typeof tokenServer>> | undefined;
  if (auth === "htpasswd") {
    const hash = bcrypt.hashSync(USER.password, 8);
    await writeFile(join(dir, "htpasswd"), `${USER.username}:${hash}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: stratum-test\n    path: ${dir}/htpasswd\n`;
  } else if (auth === "token") {
    const key = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await writeFile(join(dir, "key.pem"), key.privateKey.export({ type: "pkcs8", format: "pem" }));
    execFileSync("openssl", [
      "req",
      "-x509",
      "-new",
      "-key",
      join(dir, "key.pem"),
      "-subj",
      "/CN=stratum-test-token",
      "-days",
      "2",
      "-out",
      join(dir, "cert.pem"),
    ], { stdio: "pipe" });
    token = await tokenServer(key, "stratum-test-registry");
    authYaml = `auth:\n  token:\n    realm: http://127.0.0.1:${token.port}/token\n` +
      `    service: stratum-test-registry\n    issuer: stratum-test\n` +
      `    rootcertbundle: ${dir}/cert.pem\n`;
  }
  const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${dir}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${authYaml}`;
  await writeFile(join(dir, "config.yml"), config);
  const child: ChildProcess = spawn("docker-registry", ["serve", join(dir, "config.yml")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => stderr += d);
  const host = `127.0.0.1:${port}`;
  for (let i = 0;; i++) {
    try {
      await fetch(`http://${host}/v2/`).then((r) => r.body?.cancel());
      break;
    } catch {
      if (i > 100 || child.exitCode !== null) {
        throw new Error(`docker-registry did not start: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    host,
    tokensIssued: () => token?.issued() ?? 0,
    async close() {
      child.kill();
      await new Promise((r) => child.exitCode !== null ? r(null) : child.once("exit", r));
      if (token) await new Promise((r) => token!.server.close(r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A gzip layer and its descriptor. */
async function gzipLayer(files: Parameters<typeof layerTar>[0]) {
  const tar = await layerTar(files);
  const gz = new Uint8Array(gzipSync(tar));
  return { tar, gz, digest: await sha256(gz) };
}

/**
 * Writes a test image into `store` (named `name`): one platform manifest, or with
 * `platforms` an index of one manifest per platform. Returns the top descriptor.
 */
export async function buildImage(
  store: ImageStore,
  name: string,
  options: { platforms?: Platform[]; seed?: string; layerBytes?: number; docker?: boolean } = {},
): Promise<Descriptor> {
  const seed = options.seed ?? "x";
  // skopeo 1.9 reads only OCI media types from an OCI layout's index.json.
  const T = options.docker
    ? {
      manifest: MediaType.DOCKER_MANIFEST,
      index: MediaType.DOCKER_MANIFEST_LIST,
      config: MediaType.DOCKER_CONFIG,
      layer: MediaType.DOCKER_LAYER_GZIP,
    }
    : {
      manifest: MediaType.OCI_MANIFEST,
      index: MediaType.OCI_INDEX,
      config: MediaType.OCI_CONFIG,
      layer: MediaType.OCI_LAYER_GZIP,
    };
  const one = async (platform: Platform) => {
    const layers = [
      await gzipLayer([{ name: "etc/", type: "directory" }, {
        name: "etc/os-release",
        body: `ID=stratum-${seed}\n`,
      }]),
      await gzipLayer([{
        name: `app-${platform.architecture}`,
        body: options.layerBytes
          ? new Uint8Array(options.layerBytes).map((_, i) => (i * 7 + seed.length) & 255)
          : `${seed} for ${platform.architecture}`,
      }]),
    ];
    const config = JSON.parse(
      new TextDecoder().decode(await imageConfig(layers.map((l) => l.tar))),
    );
    config.architecture = platform.architecture;
    if (platform.variant) config.variant = platform.variant;
    const configBytes = new TextEncoder().encode(JSON.stringify(config));
    const cfg = await putBytes(store.blobs, configBytes);
    for (const l of layers) await putBytes(store.blobs, l.gz);
    const m = await serializeManifest({
      schemaVersion: 2,
      mediaType: T.manifest,
      config: { mediaType: T.config, digest: cfg.digest, size: cfg.size },
      layers: layers.map((l) => ({
        mediaType: T.layer,
        digest: l.digest,
        size: l.gz.length,
      })),
    });
    await putBytes(store.blobs, m.bytes);
    return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, platform };
  };
  let top: Descriptor;
  if (options.platforms) {
    const manifests = [];
    for (const p of options.platforms) manifests.push(await one(p));
    const index = await serializeManifest({
      schemaVersion: 2,
      mediaType: T.index,
      manifests,
    });
    await putBytes(store.blobs, index.bytes);
    top = { mediaType: index.mediaType, digest: index.digest, size: index.bytes.length };
  } else {
    const { platform: _, ...d } = await one({ os: "linux", architecture: "amd64" });
    top = d;
  }
  await store.tags.set(name, top);
  return top;
}
