/**
 * `stratum inspect` against `docker inspect` for the same image (built by Docker BuildKit,
 * then `docker save` | `stratum load`): Comment from the last history entry, Config with
 * the keys Docker always shows (null where unset), and Size as the daemon counts it (the
 * regular files' sizes in the layer tars: symlinks and hardlinks count nothing).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { busyboxPath } from "./_docker.ts";
import { missingPeers } from "./_peers.ts";
import { stratum } from "./_cli.ts";

const DOCKER = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";

function docker(args: string[]): Buffer {
  return execFileSync(DOCKER, args, {
    env: { ...process.env, DOCKER_BUILDKIT: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 256 << 20,
  });
}

test(
  "stratum inspect shows Comment, Config and Size as docker inspect does",
  { skip: missingPeers("dockerd") },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "stratum-inspect-"));
    const tag = `stratum-inspect-${process.pid}:1`;
    try {
      await copyFile(busyboxPath(), join(dir, "busybox"));
      await writeFile(join(dir, "f.txt"), "twelve bytes");
      await writeFile(
        join(dir, "Dockerfile"),
        `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox","--install","-s","/bin"]
COPY f.txt /f.txt
RUN ln /f.txt /hard && ln -s /f.txt /soft && mkdir /d && echo hi > /d/x && rm /bin/ls
ENV A=1
LABEL l=v
`,
      );
      // --no-cache: no other test's intermediate image, which its `rmi -f` may remove.
      docker(["build", "--network=host", "--no-cache", "-q", "-t", tag, dir]);
      const theirs = JSON.parse(docker(["inspect", tag]).toString())[0];
      await writeFile(join(dir, "image.tar"), docker(["save", tag]));
      const root = join(dir, "store");
      const loaded = await stratum(root, "load", "-i", join(dir, "image.tar"));
      assert.equal(loaded.code, 0, loaded.stderr);
      const r = await stratum(root, "inspect", tag);
      assert.equal(r.code, 0, r.stderr);
      const ours = JSON.parse(r.stdout)[0];
      assert.equal(ours.Comment, "buildkit.dockerfile.v0");
      assert.equal(ours.Comment, theirs.Comment);
      assert.deepEqual(ours.Config, theirs.Config);
      assert.deepEqual(Object.keys(ours.Config), Object.keys(theirs.Config));
      assert.equal(ours.Size, theirs.Size);
      assert.equal(ours.Id, theirs.Id);
    } finally {
      try {
        docker(["rmi", "-f", tag]);
      } catch { /* best effort */ }
      await rm(dir, { recursive: true, force: true });
    }
  },
);
