// stratum's own registry client against stratum's server under a per-repository policy:
// push, cross-repository copy (a mount when the source may be read, an upload otherwise)
// and pull all work with repository-scoped blobs, and nothing crosses a refused repository.
import assert from "node:assert/strict";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { copy, pull, push } from "../registry_client/mod.ts";
import { type AccessPolicy, type Action, basicAuth, Htpasswd } from "../server/mod.ts";
import { loadArchive, memoryStore } from "../storage/mod.ts";
import { dockerArchive, layerTar, streamOf } from "./_fixtures.ts";
import { withRegistry } from "./_served_registry.ts";

const HASH = bcrypt.hashSync("pw", 4);
const users = Htpasswd.parse(`alice:${HASH}\nbob:${HASH}\n`);

/** Each user owns `<user>/*`; anyone may pull `public/*`, and only bob may push there. */
const policy: AccessPolicy = (user, repo): Action[] => {
  if (repo === undefined) return user ? ["pull"] : [];
  if (repo.startsWith("public/")) return user === "bob" ? ["pull", "push", "delete"] : ["pull"];
  if (user && repo.startsWith(`${user}/`)) return ["pull", "push", "delete"];
  return [];
};

const login = (user: string) => ({ auth: { username: user, password: "pw" }, retries: 0 });

test("the registry client pushes, copies across repositories and pulls with scoped blobs", async () => {
  await withRegistry({ auth: basicAuth(users, { policy }) }, async ({ url, log }) => {
    const host = new URL(url).host;
    const source = memoryStore();
    const layers = [
      await layerTar([{ name: "etc/app.conf", body: "x=1\n" }]),
      await layerTar([{ name: "bin/app", body: "ELF", mode: 0o755 }]),
    ];
    const { tar, id } = await dockerArchive(layers, { repoTags: ["app:1"] });
    await loadArchive(source, streamOf(tar));
    await push(source, "app:1", { ...login("bob"), destination: `${host}/public/app:1` });
    await push(source, "app:1", { ...login("bob"), destination: `${host}/bob/private:1` });

    // alice may read public/app: the copy into her repository mounts every blob.
    const before = log.length;
    await copy(`docker://${host}/public/app:1`, `docker://${host}/alice/app:1`, login("alice"));
    const mounts = log.slice(before).filter((l) =>
      /mount=.*from=public%2Fapp|from=public\/app/.test(l)
    );
    assert.equal(mounts.length, 3, "config and both layers mounted");
    assert.ok(mounts.every((l) => /" 201 /.test(l)), mounts.join("\n"));

    const pulled = memoryStore();
    const got = await pull(pulled, `${host}/alice/app:1`, login("alice"));
    assert.equal(got.id, id);
    assert.deepEqual((await pulled.fsck()).problems, []);

    // bob's private repository stays his: alice can neither copy from it nor pull it.
    await assert.rejects(
      copy(`docker://${host}/bob/private:1`, `docker://${host}/alice/stolen:1`, login("alice")),
      /403|denied/i,
    );
    await assert.rejects(
      pull(memoryStore(), `${host}/bob/private:1`, login("alice")),
      /403|denied/i,
    );

    // With the same bytes of her own, alice pushes them: her HEADs do not see bob's blobs
    // (404, so she uploads), and her push still succeeds.
    const mark = log.length;
    await push(source, "app:1", { ...login("alice"), destination: `${host}/alice/own:1` });
    const heads = log.slice(mark).filter((l) => /"HEAD \/v2\/alice\/own\/blobs\//.test(l));
    assert.equal(heads.length, 3);
    assert.ok(heads.every((l) => /" 404 /.test(l)), heads.join("\n"));
    const own = await pull(memoryStore(), `${host}/alice/own:1`, login("alice"));
    assert.equal(own.id, id);
  });
});
