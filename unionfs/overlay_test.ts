import { spawn } from "node:child_process";
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { MemoryBlobStore } from "../storage/mod.ts";
import { storeLayer } from "./create_layer.ts";
import { flattenToDirectory } from "./flatten.ts";
import { mountOverlay, openWorkspace, overlaySupported, unmountOverlay } from "./overlay.ts";
import type { LayerRef } from "../image/mod.ts";
import { SnapshotStore } from "./snapshots.ts";
import { listDirectory } from "./_listing_test_util.ts";
import { dir, file, opaque, symlink, whiteout } from "./_test_util.ts";
import type { WriteEntry } from "./_tar_writer.ts";
import { missingPeers } from "../tests/_peers.ts";

async function putLayer(blobs: MemoryBlobStore, entries: WriteEntry[]): Promise<LayerRef> {
  const { descriptor, diffId } = await storeLayer(blobs, entries);
  return { descriptor, diffId };
}

test(
  "openWorkspace() without overlay applies the snapshots with the writer, never through a link",
  {
    skip: process.getuid?.() !== 0
      ? "needs root (whiteout devices, owners)"
      : missingPeers("getfattr"),
  },
  async () => {
    const d = await mkdtemp(join(tmpdir(), "stratum-ws-"));
    try {
      const canary = join(d, "canary");
      await mkdir(canary);
      await writeFile(join(canary, "x"), "original");
      const blobs = new MemoryBlobStore();
      // What the old `cp -a` fallback got wrong: a lower symlink out of the root replaced by
      // an upper file, whiteouts, opaque directories, directory <-> file replacements.
      const layers = [
        await putLayer(blobs, [
          symlink("loophole", join(canary, "x")),
          dir("gone/"),
          file("gone/f"),
          dir("o/"),
          file("o/old"),
          dir("becomes-file/"),
          file("becomes-file/in"),
          file("becomes-dir", "f"),
        ]),
        await putLayer(blobs, [
          file("loophole", "INSIDE"),
          whiteout("gone"),
          dir("o/"),
          opaque("o"),
          file("o/new"),
          file("becomes-file", "now a file"),
          dir("becomes-dir/"),
          file("becomes-dir/in"),
        ]),
      ];
      const lowers = await new SnapshotStore(join(d, "store")).prepare(layers, blobs);
      const ws = await openWorkspace(lowers, join(d, "ws"), { mode: "copy" });
      try {
        assert.equal(ws.mode, "copy");
        await flattenToDirectory(
          layers.map((l) => ({
            digest: l.descriptor.digest,
            open: () => blobs.get(l.descriptor.digest),
          })),
          join(d, "flat"),
        );
        // Directory times in a merged snapshot follow the last layer that touched them.
        const strip = (ls: string[]) => ls.map((l) => l.replace(/ \d+$/, ""));
        const flat = strip(await listDirectory(join(d, "flat")));
        assert.deepEqual(strip(await listDirectory(ws.rootfs)), flat);
        assert.deepEqual(strip(await listDirectory(ws.changes)), flat);
        assert.equal(await readFile(join(ws.rootfs, "loophole"), "utf8"), "INSIDE");
      } finally {
        await ws.close();
      }
      assert.deepEqual(await readdir(canary), ["x"]);
      assert.equal(await readFile(join(canary, "x"), "utf8"), "original");
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
);

test(
  "unmountOverlay() waits out a mount that is busy for a moment; lazy detaches one at once",
  {
    skip: process.getuid?.() !== 0 ? "needs root (mount)" : false,
  },
  async (t) => {
    if (!(await overlaySupported())) return t.skip("kernel overlayfs is not available here");
    const d = await mkdtemp(join(tmpdir(), "stratum-umount-"));
    try {
      for (const sub of ["l", "u", "w", "m"]) await mkdir(join(d, sub));
      await writeFile(join(d, "l", "f"), "x");
      // A process whose working directory is in the mount keeps it busy until it exits.
      const hold = (seconds: number) => {
        const child = spawn("sleep", [String(seconds)], { cwd: join(d, "m"), stdio: "ignore" });
        return new Promise<void>((resolve) => child.on("exit", () => resolve()));
      };
      await mountOverlay([join(d, "l")], join(d, "u"), join(d, "w"), join(d, "m"));
      const gone = hold(0.4);
      await unmountOverlay(join(d, "m"));
      await gone;
      assert.deepEqual(await readdir(join(d, "m")), [], "unmounted once the holder went");

      await mountOverlay([join(d, "l")], join(d, "u"), join(d, "w"), join(d, "m"));
      const held = hold(1);
      await new Promise((r) => setTimeout(r, 100));
      await unmountOverlay(join(d, "m"), { lazy: true });
      assert.deepEqual(await readdir(join(d, "m")), [], "detached while still in use");
      await held;
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  },
);
