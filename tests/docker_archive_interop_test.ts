// stratum load/save against a real Docker daemon: the same image ID in both directions.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { stratum } from "./_cli.ts";
import { BUSYBOX_BASE, docker, dockerBuild } from "./_docker.ts";
import { missingPeers } from "./_peers.ts";

test("docker save | stratum load | stratum save | docker load keeps the image ID", {
  skip: missingPeers("dockerd"),
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-docker-"));
  const root = join(dir, "store");
  const name = "stratum-interop/archive:1";
  const back = "stratum-interop/archive-back:1";
  try {
    const id = dockerBuild(
      name,
      `${BUSYBOX_BASE}RUN echo built > /built && rm /bin/vi\nCMD ["cat", "/built"]\n`,
    );
    docker("save", "-o", join(dir, "docker.tar"), name);

    const load = await stratum(root, "load", "-i", join(dir, "docker.tar"));
    assert.equal(load.code, 0, load.stderr);
    assert.equal(load.stdout, `Loaded image: ${name}`);
    const images = await stratum(root, "images", "--format", "json");
    const row = JSON.parse(images.stdout.split("\n")[0]);
    assert.equal(row.ID, id.slice(7, 19), "stratum images shows docker's IMAGE ID");
    assert.equal(JSON.parse((await stratum(root, "inspect", name)).stdout)[0].Id, id);

    assert.equal((await stratum(root, "tag", name, back)).code, 0);
    const save = await stratum(root, "save", "-o", join(dir, "stratum.tar"), back);
    assert.equal(save.code, 0, save.stderr);
    try {
      docker("rmi", back);
    } catch { /* not there from an earlier run */ }
    assert.match(
      docker("load", "-i", join(dir, "stratum.tar")),
      new RegExp(`Loaded image: ${back}`),
    );
    assert.equal(docker("inspect", "--format", "{{.Id}}", back), id);
    assert.equal(docker("run", "--rm", "--network", "none", back), "built");
  } finally {
    for (const n of [name, back]) {
      try {
        docker("rmi", "-f", n);
      } catch { /* already gone */ }
    }
    await rm(dir, { recursive: true, force: true });
  }
});
