import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveOnDisk } from "../unionfs/mod.ts";
import { resolveUser } from "./_rootfs.ts";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "stratum-rootfs-"));
  try {
    await mkdir(join(root, "etc"));
    await writeFile(
      join(root, "etc/passwd"),
      "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
    );
    await writeFile(
      join(root, "etc/group"),
      "root:x:0:\nappgrp:x:1001:\nwheel:x:10:app,other\naudio:x:29:app\n",
    );
    await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test("resolveUser() reads names, groups and supplementary groups from the rootfs", async () => {
  await withRoot(async (root) => {
    assert.deepEqual(await resolveUser(root, undefined), {
      uid: 0,
      gid: 0,
      additionalGids: [],
      home: "/root",
    });
    assert.deepEqual(await resolveUser(root, "app"), {
      uid: 1000,
      gid: 1001,
      additionalGids: [10, 29],
      home: "/home/app",
    });
    // A group given replaces the primary one and brings no supplementary groups.
    assert.deepEqual(await resolveUser(root, "app:wheel"), {
      uid: 1000,
      gid: 10,
      additionalGids: [],
      home: "/home/app",
    });
    assert.deepEqual(await resolveUser(root, "1000"), {
      uid: 1000,
      gid: 1001,
      additionalGids: [10, 29],
      home: "/home/app",
    });
    assert.deepEqual(await resolveUser(root, "5000:6000"), {
      uid: 5000,
      gid: 6000,
      additionalGids: [],
      home: "/",
    });
  });
});

test("resolveUser() rejects unknown names like BuildKit, and numeric ids need no files", async () => {
  await withRoot(async (root) => {
    await assert.rejects(
      resolveUser(root, "ghost"),
      /unable to find user ghost: no matching entries in passwd file/,
    );
    await assert.rejects(
      resolveUser(root, "app:nogroup"),
      /unable to find group nogroup: no matching entries in group file/,
    );
    await assert.rejects(resolveUser(root, "99999999999"), RangeError);
    await rm(join(root, "etc"), { recursive: true });
    assert.equal((await resolveUser(root, "7:8")).gid, 8);
    await assert.rejects(resolveUser(root, "root"), /unable to find user root/);
  });
});

test("resolveOnDisk() follows symlinks inside the root, never out to the host", async () => {
  await withRoot(async (root) => {
    // An absolute link to /etc/passwd means the rootfs's file, not the host's.
    await mkdir(join(root, "alt"));
    await writeFile(join(root, "alt/passwd"), "bob:x:42:42::/b:/bin/sh\n");
    await rm(join(root, "etc/passwd"));
    await symlink("/alt/passwd", join(root, "etc/passwd"));
    assert.equal((await resolveUser(root, "bob")).uid, 42);
    await symlink("../../../../..", join(root, "up"));
    assert.equal(await resolveOnDisk(root, "/up/etc/shadow"), join(root, "etc/shadow"));
    assert.equal(await resolveOnDisk(root, "/missing/../../x"), join(root, "x"));
    await symlink("/var/run", join(root, "run-link"));
    assert.equal(await resolveOnDisk(root, "/run-link/secrets/a"), join(root, "var/run/secrets/a"));
  });
});
