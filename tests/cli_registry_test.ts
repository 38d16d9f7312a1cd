// The CLI's registry commands against the real CNCF distribution registry.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { stratum } from "./_cli.ts";
import { startRegistry } from "./_cncf_registry.ts";
import { dockerArchive, layerTar } from "./_fixtures.ts";
import { missingPeers } from "./_peers.ts";

test("stratum push, tags, manifest, pull and copy through docker-registry", {
  skip: missingPeers("docker-registry", "skopeo"),
}, async () => {
  const registry = await startRegistry("none");
  const dir = await mkdtemp(join(tmpdir(), "stratum-cli-reg-"));
  const root = join(dir, "a");
  const other = join(dir, "b");
  try {
    const { tar, id } = await dockerArchive([
      await layerTar([{ name: "etc/hello", body: "hi\n" }]),
    ]);
    await writeFile(join(dir, "img.tar"), tar);
    assert.equal((await stratum(root, "load", "-i", join(dir, "img.tar"))).code, 0);
    const dest = `${registry.host}/cli/app:v1`;
    const pushed = await stratum(root, "push", "-q", "test/app:1", dest);
    assert.equal(pushed.code, 0, pushed.stderr);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)![1];

    assert.equal((await stratum(root, "tags", `${registry.host}/cli/app`)).stdout, "v1");
    const raw = await stratum(root, "manifest", dest);
    const skopeoRaw = execFileSync("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${dest}`,
    ], {
      encoding: "utf8",
    });
    assert.equal(raw.stdout, skopeoRaw.replace(/\n$/, ""));

    const pulled = await stratum(other, "pull", "-q", dest);
    assert.equal(pulled.code, 0, pulled.stderr);
    const [info] = JSON.parse((await stratum(other, "inspect", dest)).stdout);
    assert.equal(info.Id, id);
    assert.deepEqual(info.RepoDigests, [`${registry.host}/cli/app@${digest}`]);

    const copied = await stratum(other, "copy", "-q", dest, `oci:${join(dir, "layout")}:v1`);
    assert.equal(copied.code, 0, copied.stderr);
    assert.equal(copied.stdout, digest);
  } finally {
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("pulling from an unreachable registry fails with one clear line", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-cli-reg-"));
  try {
    const r = await stratum(dir, "pull", "-q", "127.0.0.1:9/nothing/here:1");
    assert.equal(r.code, 1);
    assert.equal(r.stderr.split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /127\.0\.0\.1:9/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
