// Real clients against the registry: skopeo (multi-layer and multi-platform, in and out, with
// Basic and token auth) and docker push/pull. The server runs in this process, so peers run
// as async subprocesses.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import bcrypt from "bcryptjs";
import { sha256 } from "../digest/mod.ts";
import { MediaType } from "../image/mod.ts";
import { openStore, putBytes } from "../storage/mod.ts";
import { BUSYBOX_BASE, docker, dockerBuild } from "./_docker.ts";
import { imageConfig, layerTar } from "./_fixtures.ts";
import { missingPeers } from "./_peers.ts";
import { startRegistry, type TestRegistry } from "./_served_registry.ts";
import { type AccessPolicy, Htpasswd, tokenAuth } from "../server/mod.ts";

const run = promisify(execFile);

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run("skopeo", args, { maxBuffer: 64 << 20 });
  return stdout;
}

async function inspectDigest(ref: string, ...flags: string[]): Promise<string> {
  return JSON.parse(await skopeo("inspect", "--tls-verify=false", ...flags, ref)).Digest;
}

/** An OCI layout at `dir` holding a two-platform index of three-layer images, as `name`. */
async function multiPlatformLayout(
  dir: string,
  name: string,
): Promise<{ index: string; children: string[] }> {
  const store = await openStore(dir);
  const children: string[] = [];
  const entries = [];
  for (const arch of ["amd64", "arm64"]) {
    const layers = [
      await layerTar([{ name: "etc/", type: "directory" }, { name: "etc/arch", body: arch }]),
      await layerTar([{ name: "app", body: `app for ${arch}\n`.repeat(1000) }]),
      await layerTar([{ name: "data.bin", body: new Uint8Array(randomBytes(200_000)) }]),
    ];
    const config = JSON.parse(new TextDecoder().decode(await imageConfig(layers)));
    config.architecture = arch;
    const configBytes = new TextEncoder().encode(JSON.stringify(config));
    for (const l of layers) await putBytes(store.blobs, l);
    await putBytes(store.blobs, configBytes);
    const manifest = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: {
        mediaType: MediaType.OCI_CONFIG,
        digest: await sha256(configBytes),
        size: configBytes.length,
      },
      layers: await Promise.all(layers.map(async (l) => ({
        mediaType: MediaType.OCI_LAYER,
        digest: await sha256(l),
        size: l.length,
      }))),
    }));
    const { digest } = await putBytes(store.blobs, manifest);
    children.push(digest);
    entries.push({
      mediaType: MediaType.OCI_MANIFEST,
      digest,
      size: manifest.length,
      platform: { architecture: arch, os: "linux" },
    });
  }
  const index = new TextEncoder().encode(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: entries }),
  );
  const { digest } = await putBytes(store.blobs, index);
  await store.tags.set(name, { mediaType: MediaType.OCI_INDEX, digest, size: index.length });
  return { index: digest, children };
}

async function withServer(
  options: Parameters<typeof startRegistry>[0],
  fn: (r: TestRegistry, host: string) => Promise<void>,
): Promise<void> {
  const r = await startRegistry(options);
  try {
    await fn(r, r.url.replace("http://", ""));
  } finally {
    await r.close();
  }
}

/** The digest of the manifest the registry serves, as skopeo reads it raw. */
async function rawDigest(ref: string, ...flags: string[]): Promise<string> {
  const raw = await skopeo("inspect", "--raw", "--tls-verify=false", ...flags, ref);
  // skopeo ends the raw manifest with a newline of its own.
  return await sha256(new TextEncoder().encode(raw.replace(/\n$/, "")));
}

test("skopeo copies a multi-platform index into and out of the registry with identical digests", {
  skip: missingPeers("skopeo"),
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-srv-"));
  try {
    const src = join(dir, "src");
    const want = await multiPlatformLayout(src, "localhost/multi:v1");
    await withServer({ store: await openStore(join(dir, "served")) }, async (r, host) => {
      const ref = `docker://${host}/multi/app:v1`;
      await skopeo(
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        `oci:${src}:localhost/multi:v1`,
        ref,
      );
      assert.equal(await rawDigest(ref), want.index);
      for (const child of want.children) {
        assert.equal(await rawDigest(`docker://${host}/multi/app@${child}`), child);
      }
      const out = join(dir, "out");
      await skopeo(
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        ref,
        `oci:${out}:back`,
      );
      const index = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
      assert.equal(index.manifests[0].digest, want.index);
      assert.deepEqual((await r.store.fsck()).problems, []);
      assert.equal((await r.store.tags.get("localhost/multi/app:v1"))?.digest, want.index);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("skopeo round-trips a multi-layer docker image through the registry and back to docker", {
  skip: missingPeers("skopeo", "dockerd"),
}, async () => {
  const tag = "stratum-srv-interop/multilayer:1";
  const id = dockerBuild(tag, BUSYBOX_BASE + "COPY a /a\nCOPY b /b\n", {
    a: "layer a\n",
    b: "layer b\n",
  });
  await withServer({}, async (_r, host) => {
    await skopeo(
      "copy",
      "--dest-tls-verify=false",
      `docker-daemon:${tag}`,
      `docker://${host}/ml/app:1`,
    );
    const pushed = await rawDigest(`docker://${host}/ml/app:1`);
    assert.equal(await inspectDigest(`docker://${host}/ml/app:1`), pushed);
    const info = JSON.parse(
      await skopeo("inspect", "--tls-verify=false", `docker://${host}/ml/app:1`),
    );
    assert.equal(info.Layers.length, 4, "busybox, its symlinks, a and b");
    // Registry to registry (a cross-repository mount) keeps the digest.
    await skopeo(
      "copy",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      `docker://${host}/ml/app:1`,
      `docker://${host}/ml/copy:1`,
    );
    assert.equal(await rawDigest(`docker://${host}/ml/copy:1`), pushed);
    const back = "stratum-srv-interop/back:1";
    await skopeo(
      "copy",
      "--src-tls-verify=false",
      `docker://${host}/ml/copy:1`,
      `docker-daemon:${back}`,
    );
    assert.equal(docker("inspect", "--format", "{{.Id}}", back), id, "same image ID");
    docker("rmi", back);
  });
  docker("rmi", tag);
});

test("docker push and docker pull work against the registry and keep the digest", {
  skip: missingPeers("dockerd"),
}, async () => {
  const local = "stratum-srv-interop/dpush:1";
  const id = dockerBuild(local, BUSYBOX_BASE + "COPY f /f\n", { f: `pushed ${Date.now()}\n` });
  await withServer({}, async (r, host) => {
    const remote = `${host}/docker/app:1`;
    docker("tag", local, remote);
    const { stdout } = await run("docker", ["push", remote]);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
    assert.ok(digest, stdout);
    assert.equal((await r.store.tags.get("localhost/docker/app:1"))?.digest, digest);
    docker("rmi", remote);
    await run("docker", ["pull", `${host}/docker/app@${digest}`]);
    assert.equal(docker("inspect", "--format", "{{.Id}}", `${host}/docker/app@${digest}`), id);
    docker("rmi", `${host}/docker/app@${digest}`);
  });
  docker("rmi", local);
});

test("skopeo pushes and pulls with Basic auth and is refused without credentials", {
  skip: missingPeers("skopeo"),
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-srv-"));
  try {
    const htpasswd = join(dir, "htpasswd");
    await writeFile(htpasswd, `alice:${bcrypt.hashSync("pw", 4)}\n`);
    const src = join(dir, "src");
    const want = await multiPlatformLayout(src, "localhost/auth:v1");
    await withServer({ htpasswd }, async (_r, host) => {
      const ref = `docker://${host}/auth/app:v1`;
      const copy = ["copy", "--all", "--preserve-digests", "--dest-tls-verify=false"];
      await assert.rejects(
        skopeo(...copy, `oci:${src}:localhost/auth:v1`, ref),
        /unauthorized|authentication required/i,
      );
      await skopeo(...copy, "--dest-creds", "alice:pw", `oci:${src}:localhost/auth:v1`, ref);
      assert.equal(await rawDigest(ref, "--creds", "alice:pw"), want.index);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("skopeo pushes and pulls with token auth through the registry's token endpoint", {
  skip: missingPeers("skopeo"),
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-srv-"));
  try {
    const htpasswd = join(dir, "htpasswd");
    await writeFile(htpasswd, `alice:${bcrypt.hashSync("pw", 4)}\n`);
    const src = join(dir, "src");
    const want = await multiPlatformLayout(src, "localhost/tok:v1");
    await withServer({ htpasswd, token: true }, async (r, host) => {
      const ref = `docker://${host}/tok/app:v1`;
      await skopeo(
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:pw",
        `oci:${src}:localhost/tok:v1`,
        ref,
      );
      assert.equal(await rawDigest(ref, "--creds", "alice:pw"), want.index);
      assert.ok(r.log.some((l) => /"GET \/token\?/.test(l) && /" 200 /.test(l)), "token issued");
      assert.ok(r.log.some((l) => / alice \[.*"PUT \/v2\/tok\/app\/manifests\/v1" 201/.test(l)));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test(
  "skopeo copies between repositories under a per-repository policy, and not out of a denied one",
  {
    skip: missingPeers("skopeo"),
  },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "stratum-srv-"));
    try {
      const htpasswd = join(dir, "htpasswd");
      const hash = bcrypt.hashSync("pw", 4);
      await writeFile(htpasswd, `alice:${hash}\nbob:${hash}\n`);
      const src = join(dir, "src");
      const want = await multiPlatformLayout(src, "localhost/scoped:v1");
      // Each user owns `<user>/*`; anyone may pull `public/*`, only bob may push there.
      const policy: AccessPolicy = (user, repo) => {
        if (repo === undefined) return user ? ["pull"] : [];
        if (repo.startsWith("public/")) return user === "bob" ? ["pull", "push"] : ["pull"];
        return user && repo.startsWith(`${user}/`) ? ["pull", "push", "delete"] : [];
      };
      const auth = tokenAuth(Htpasswd.parse(await readFile(htpasswd, "utf8")), { policy });
      await withServer({ auth }, async (r, host) => {
        const copy = ["copy", "--all", "--preserve-digests", "--src-tls-verify=false"];
        const push = [...copy, "--dest-tls-verify=false", "--dest-creds", "bob:pw"];
        await skopeo(...push, `oci:${src}:localhost/scoped:v1`, `docker://${host}/public/app:v1`);
        await skopeo(...push, `oci:${src}:localhost/scoped:v1`, `docker://${host}/bob/private:v1`);
        const asAlice = [
          ...copy,
          "--dest-tls-verify=false",
          "--src-creds",
          "alice:pw",
          "--dest-creds",
          "alice:pw",
        ];
        await skopeo(...asAlice, `docker://${host}/public/app:v1`, `docker://${host}/alice/app:v1`);
        assert.equal(
          await rawDigest(`docker://${host}/alice/app:v1`, "--creds", "alice:pw"),
          want.index,
        );
        await assert.rejects(
          skopeo(...asAlice, `docker://${host}/bob/private:v1`, `docker://${host}/alice/x:v1`),
          /denied|unauthorized|authentication required/i,
        );
        // Every blob alice could have taken from bob/private is unknown through her repositories.
        const tokenRes = await fetch(`${r.url}/token?scope=repository:alice/x:pull`, {
          headers: { authorization: `Basic ${btoa("alice:pw")}` },
        });
        const { token } = await tokenRes.json();
        const layout = await openStore(src);
        let blobs = 0;
        for await (const b of layout.blobs.list()) {
          const res = await fetch(`${r.url}/v2/alice/x/blobs/${b}`, {
            method: "HEAD",
            headers: { authorization: `Bearer ${token}` },
          });
          assert.equal(res.status, 404, b);
          blobs++;
        }
        assert.ok(blobs > 6);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
