// Pull, push and copy against the CNCF distribution registry, with images put there by skopeo.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sha256 } from "../digest/mod.ts";
import { MediaType, serializeManifest } from "../image/mod.ts";
import { memoryStore, openStore, putBytes } from "../storage/mod.ts";
import {
  AuthenticationError,
  copy,
  fetchManifest,
  listCatalog,
  listReferrers,
  listTags,
  login,
  logout,
  type ProgressEvent,
  pull,
  push,
  RegistryClient,
  RegistryError,
} from "../registry_client/mod.ts";
import { missingPeers } from "./_peers.ts";
import { buildImage, startRegistry, type TestRegistry, USER } from "./_registry.ts";

const skip = missingPeers("docker-registry", "skopeo");

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-reg-test-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function skopeo(...args: string[]): string {
  return execFileSync("skopeo", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Puts an image built in an OCI layout into the registry with skopeo. */
async function skopeoPut(
  reg: TestRegistry,
  repoTag: string,
  options: Parameters<typeof buildImage>[2] & { creds?: boolean } = {},
): Promise<void> {
  await withTemp(async (dir) => {
    const store = await openStore(dir);
    await buildImage(store, "img", options);
    skopeo(
      "copy",
      "--quiet",
      ...(options.platforms ? ["--all"] : []),
      "--dest-tls-verify=false",
      ...(options.creds ? ["--dest-creds", `${USER.username}:${USER.password}`] : []),
      `oci:${dir}:img`,
      `docker://${reg.host}/${repoTag}`,
    );
  });
}

function inspectRaw(reg: TestRegistry, image: string, creds = false): string {
  return skopeo(
    "inspect",
    "--raw",
    "--tls-verify=false",
    ...(creds ? ["--creds", `${USER.username}:${USER.password}`] : []),
    `docker://${reg.host}/${image}`,
  );
}

test("with htpasswd Basic auth, pull, push and manifest agree with skopeo", { skip }, async (t) => {
  const reg = await startRegistry("htpasswd");
  try {
    await skopeoPut(reg, "basic/app:v1", { creds: true });
    const auth = USER;

    await t.test("manifest returns the exact bytes skopeo inspect --raw shows", async () => {
      const m = await fetchManifest(`${reg.host}/basic/app:v1`, { auth });
      assert.equal(new TextDecoder().decode(m.bytes), inspectRaw(reg, "basic/app:v1", true));
    });

    await t.test("pull stores the image under its tag and its digest name", async () => {
      const store = memoryStore();
      const events: ProgressEvent[] = [];
      const r = await pull(store, `${reg.host}/basic/app:v1`, {
        auth,
        onProgress: (e) => events.push(e),
      });
      const raw = inspectRaw(reg, "basic/app:v1", true);
      assert.equal(r.digest, await sha256(new TextEncoder().encode(raw)));
      assert.equal(r.name, `${reg.host}/basic/app:v1`);
      const img = await store.resolve(`${reg.host}/basic/app:v1`);
      assert.equal(img.manifestDigest, r.digest);
      assert.equal(img.id, r.id);
      assert.deepEqual(
        (await store.tags.list()).map((x) => x.name),
        [`${reg.host}/basic/app:v1`, `${reg.host}/basic/app@${r.digest}`].sort(),
      );
      assert.equal((await store.fsck()).problems.length, 0);
      const done = events.filter((e) => e.type === "blob" && e.state === "Download complete");
      assert.equal(done.length, 3);

      const again = await pull(store, `${reg.host}/basic/app:v1`, { auth });
      assert.equal(again.upToDate, true);
    });

    await t.test("pushing the pulled image elsewhere keeps its digest", async () => {
      const store = memoryStore();
      const pulled = await pull(store, `${reg.host}/basic/app:v1`, { auth });
      const events: ProgressEvent[] = [];
      const pushed = await push(store, `${reg.host}/basic/app:v1`, {
        auth,
        destination: `${reg.host}/basic/copy:v2`,
        onProgress: (e) => events.push(e),
      });
      assert.equal(pushed.digest, pulled.digest);
      assert.equal(inspectRaw(reg, "basic/copy:v2", true), inspectRaw(reg, "basic/app:v1", true));
      assert.ok(events.some((e) => e.type === "blob" && e.state === "Pushed"));
      // A second push finds every blob there already.
      const second: ProgressEvent[] = [];
      await push(store, `${reg.host}/basic/app:v1`, {
        auth,
        destination: `${reg.host}/basic/copy:v2`,
        onProgress: (e) => second.push(e),
      });
      const states = second.filter((e) => e.type === "blob" && e.state !== "Waiting");
      assert.ok(states.length > 0 && states.every((e) => e.type === "blob" && e.state === "Already exists"));
    });

    await t.test("a wrong password is refused without the password in the error", async () => {
      await assert.rejects(
        pull(memoryStore(), `${reg.host}/basic/app:v1`, {
          auth: { username: USER.username, password: "wrong-pw-123" },
          retries: 0,
        }),
        (e: Error) => e instanceof RegistryError && e.status === 401 && !e.message.includes("wrong-pw-123"),
      );
    });

    await t.test("login stores base64 auths like docker, pull reads them, logout removes them", async () => {
      await withTemp(async (dir) => {
        const configPath = join(dir, "config.json");
        await assert.rejects(
          login(reg.host, { username: USER.username, password: "nope-nope" }, { configPath }),
          RegistryError,
        );
        await assert.rejects(readFile(configPath), { code: "ENOENT" });
        await login(reg.host, USER, { configPath });
        const config = JSON.parse(await readFile(configPath, "utf8"));
        assert.equal(
          Buffer.from(config.auths[reg.host].auth, "base64").toString(),
          `${USER.username}:${USER.password}`,
        );
        // skopeo reads the same file.
        const out = skopeo("inspect", "--raw", "--tls-verify=false", "--authfile", configPath, `docker://${reg.host}/basic/app:v1`);
        assert.equal(out, inspectRaw(reg, "basic/app:v1", true));
        const r = await pull(memoryStore(), `${reg.host}/basic/app:v1`, { configPath });
        assert.ok(r.digest.startsWith("sha256:"));
        assert.equal(await logout(reg.host, { configPath }), true);
        assert.deepEqual(JSON.parse(await readFile(configPath, "utf8")).auths, {});
        await assert.rejects(
          pull(memoryStore(), `${reg.host}/basic/app:v1`, { configPath, retries: 0 }),
          (e: Error) => e instanceof RegistryError && e.status === 401,
        );
      });
    });
  } finally {
    await reg.close();
  }
});
