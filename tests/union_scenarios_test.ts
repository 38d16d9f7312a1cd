/**
 * Union scenarios: layer stacks taken from the public union tests of containerd
 * (`pkg/archive/tar_test.go` TestBreakouts), umoci (`oci/layer/tar_extract_test.go`),
 * go-containerregistry (`pkg/v1/mutate` extract tests), moby (`pkg/archive` whiteouts) and
 * image-spec `layer.md`, each turned into an image and seen three ways that must agree:
 * the export view (`flattenToDirectory`), the RUN view (a real `stratum build` of
 * `FROM <image>` + `RUN find / -xdev ... stat`, all cases in one multi-stage build) and,
 * where umoci can unpack the image, `umoci unpack`. The plain-directory apply that RUN
 * uses where overlay cannot be mounted (`SnapshotStore.materialize`) must agree too.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type ImageStore, openStore } from "../storage/mod.ts";
import { chainIds, flattenToDirectory, type LayerRef, SnapshotStore } from "../unionfs/mod.ts";
import type { WriteEntry } from "../unionfs/mod.ts";
import { build } from "../builder/mod.ts";
import { detectExecutor, runStep } from "../builder/run_executor.ts";
import { TreeFs } from "../builder/copy_source.ts";
import { missingPeers, underCI } from "./_peers.ts";
import {
  chr,
  d,
  f,
  fifo,
  h,
  l,
  LIST_COMMAND,
  listTree,
  opq,
  parseListing,
  putImage,
  putLayer,
  putTools,
  T0,
  wh,
} from "./_union_util.ts";

interface Case {
  name: string;
  /** Where the case comes from. */
  from: string;
  layers: WriteEntry[][];
  /** Lines (prefixes) the merged view must hold, and paths it must not. */
  has: string[];
  hasNot?: string[];
  /** Why umoci's unpack is not compared, when it is not. */
  umociDiffers?: string;
}

const cases: Case[] = [
  {
    name: "a changeset modifies, adds and removes (layer.md 'Representing Changes')",
    from: "image-spec layer.md",
    layers: [
      [
        d("cfg/"),
        d("cfg/my-app.d/"),
        f("cfg/my-app.d/default.cfg", "v1"),
        d("bin/"),
        f(
          "bin/my-app-binary",
          "bin",
          { mode: 0o755 },
        ),
        f("bin/my-app-tools", "tools", { mode: 0o755 }),
      ],
      [
        d("cfg/", { mtime: T0 + 5 }),
        d("cfg/my-app.d/"),
        f("cfg/my-app.d/default.cfg", "v2"),
        d("bin/", { mtime: T0 + 5 }),
        wh("bin/my-app-tools"),
        f("cfg/my-app-config", "new"),
      ],
    ],
    has: ["cfg/my-app.d/default.cfg file 0644 0:0 mtime=1000000000 size=2", "cfg/my-app-config "],
    hasNot: ["bin/my-app-tools"],
  },
  {
    name: "an opaque directory hides every lower child (layer.md opaque example)",
    from: "image-spec layer.md",
    layers: [
      [d("a/"), d("a/b/"), d("a/b/c/"), f("a/b/c/bar")],
      [d("a/"), opq("a"), d("a/b/"), d("a/b/c/"), f("a/b/c/foo")],
    ],
    has: ["a/b/c/foo "],
    hasNot: ["a/b/c/bar"],
  },
  {
    name: "an opaque marker after its layer's own siblings still spares them",
    from: "image-spec layer.md (opaque applies to lower layers only)",
    layers: [
      [d("o/"), f("o/old"), d("o/keep/"), f("o/keep/old")],
      [d("o/"), d("o/keep/"), f("o/keep/new"), f("o/mine"), opq("o")],
    ],
    has: ["o/keep/new ", "o/mine "],
    hasNot: ["o/old", "o/keep/old"],
  },
  {
    name: "a layer whiting out a path it also adds keeps its own entry",
    from: "image-spec layer.md (whiteouts only hide lower layers)",
    layers: [[f("x", "lower")], [f("x", "upper!"), wh("x")]],
    has: ["x file 0644 0:0 mtime=1000000000 size=6"],
  },
  {
    name: "a root-level opaque marker hides the whole lower stack",
    from: "image-spec layer.md; the RUN view used to ignore it",
    layers: [[d("a/"), f("a/f"), f("b")], [opq(""), f("n", "new")]],
    has: ["n file"],
    hasNot: ["a", "b"],
  },
  {
    name: "an opaque marker plus an explicit whiteout in one directory leaves no ghost",
    from: "moby pkg/archive whiteouts; the RUN view used to show a ghost",
    layers: [[d("d/"), f("d/x"), f("d/y")], [d("d/"), opq("d"), wh("d/x"), f("d/z")]],
    has: ["d/z "],
    hasNot: ["d/x", "d/y", "d/.wh"],
  },
  {
    name: "a lower symlink used as a parent is followed inside the root",
    from: "containerd TestBreakouts SymlinkAbsolute; the RUN view made a real directory",
    layers: [[d("usr/"), d("usr/lib/"), l("lib", "usr/lib")], [f("lib/x/y", "y")]],
    has: ["lib symlink  0:0 mtime=1000000000 -> usr/lib", "usr/lib/x/y file"],
    hasNot: ["lib/"],
  },
  {
    name: "absolute and up-and-out symlink parents resolve inside the root",
    from: "containerd TestBreakouts SymlinkUpAndOut / SymlinkMultipleAbsolute",
    layers: [
      [
        d("real/"),
        d("dummy/"),
        l("abs", "/real"),
        l("up", "/dummy/../real"),
        l(
          "dummy/real",
          "/real",
        ),
        l("multi", "./dummy/real"),
        l("out", "../../../.."),
      ],
      [f("abs/a", "a"), f("up/b", "b"), f("multi/c", "c"), f("out/escaped", "e")],
    ],
    has: ["real/a file", "real/b file", "real/c file", "escaped file"],
  },
  {
    name: "a hardlink to a file of a lower layer",
    from: "umoci TestUnpackHardlink; the RUN view failed the build",
    layers: [[d("data/"), f("data/f", "shared")], [h("data/h", "data/f")]],
    has: ["data/h file 0644 0:0 mtime=1000000000 size=6 nlink=2"],
  },
  {
    name: "hardlinks through symlinked parents and to symlinks stay inside the root",
    from: "containerd TestBreakouts HardlinkRelative / HardlinkSymlinkRelative; umoci",
    layers: [[
      d("cfg/", { mode: 0o770 }),
      f("cfg/passwd", "inside"),
      d("breakouts/"),
      l("breakouts/d1", "../../cfg"),
      h("breakouts/mypasswd", "/breakouts/d1/passwd"),
      l("passwdlink", "../../../../../cfg/passwd"),
      h("localpasswd", "/passwdlink"),
      h("direct", "../../../../../cfg/passwd"),
    ]],
    has: [
      "breakouts/mypasswd file 0644 0:0 mtime=1000000000 size=6 nlink=3",
      "localpasswd symlink",
    ],
  },
  {
    name: "a file replaces a directory and a directory replaces a file",
    from: "go-containerregistry TestExtractOverwrittenFile; moby",
    layers: [[d("x/"), f("x/y"), f("z", "file")], [f("x", "now a file"), d("z/"), f("z/in")]],
    has: ["x file 0644 0:0 mtime=1000000000 size=10", "z/in file"],
    hasNot: ["x/y"],
  },
  {
    name: "a symlink replaces a directory; a directory replaces a symlink",
    from: "containerd TestBreakouts SymlinkOverrideDirectory / DirectoryOverrideSymlink",
    layers: [
      [
        d("cfg/"),
        f("cfg/passwd", "inside"),
        d("localetc/"),
        f("localetc/old"),
        l(
          "other",
          "/cfg",
        ),
      ],
      [l("localetc", "/cfg"), d("other/"), h("other/localpasswd", "/cfg/passwd")],
    ],
    has: ["localetc symlink  0:0 mtime=1000000000 -> /cfg", "other/localpasswd file"],
    hasNot: ["localetc/old", "cfg/old"],
  },
  {
    name: "whiteouts of a symlink, through a symlink and under a dead symlink",
    from: "containerd TestBreakouts WhiteoutSymlink / WhiteoutSymlinkPath / DeadSymlinkParent",
    layers: [
      [
        d("cfg/"),
        f("cfg/passwd", "all"),
        f("cfg/whitedout"),
        l("localetc", "/cfg"),
        l(
          "dead",
          "/dne",
        ),
        l("sym", "/cfg"),
      ],
      [wh("sym"), wh("localetc/whitedout"), wh("dead/cfg")],
    ],
    has: ["cfg/passwd file", "localetc symlink"],
    hasNot: ["sym ", "cfg/whitedout"],
  },
  {
    name: "a whiteout named through .. removes the directory it names",
    from: "containerd TestBreakouts WhiteoutRelativePath",
    layers: [[d("cfg/"), f("cfg/passwd"), l("localetc", "/dne")], [f("dne/../.wh.cfg")]],
    has: ["localetc symlink"],
    hasNot: ["cfg"],
  },
  {
    name: "a symlink planted mid-layer is followed inside the root, then replaced",
    from: "containerd TestBreakouts SymlinkOverridePath",
    layers: [[
      d("foo/"),
      d("foo/tmp/"),
      f("foo/tmp/breakout", "012"),
      l("foo", "/"),
      f("foo/tmp/breakout", "345"),
      d("foo/"),
      d("foo/tmp/"),
      f("foo/tmp/breakout", "6789"),
    ]],
    has: ["tmp/breakout file 0644 0:0 mtime=1000000000 size=3", "foo/tmp/breakout file"],
  },
  {
    name: "a whiteout keeps its parent's mtime",
    from: "umoci TestUnpackEntryWhiteout",
    layers: [[d("p/", { mtime: T0 + 1111 }), f("p/a"), f("p/b")], [wh("p/a")]],
    has: ["p dir 0755 0:0 mtime=1000001111"],
    hasNot: ["p/a "],
  },
  {
    name: "a file below a non-directory turns it into a directory; missing parents are made",
    from: "umoci TestUnpackEntryNonDirParent / TestUnpackEntryParentDir",
    layers: [[f("nondir")], [f("nondir/foo/bar/baz", "z"), f("a/b/c/file", "c")]],
    has: ["nondir dir", "nondir/foo/bar/baz file", "a/b/c/file file"],
    umociDiffers: "umoci 0.4.7 fails on a file below a lower layer's file " +
      "(mkdir parent: not a directory); within one layer it makes the directory too",
  },
  {
    name: "a whited-out directory goes with its contents; a later layer adds it back",
    from: "go-containerregistry TestExtractWhiteoutDir; moby",
    layers: [[d("w/"), f("w/a"), d("w/sub/"), f("w/sub/b"), f("x")], [wh("w"), wh("x")], [
      f("x", "again"),
    ]],
    has: ["x file 0644 0:0 mtime=1000000000 size=5"],
    hasNot: ["w"],
  },
  {
    name: "a duplicate entry in one layer is won by the last",
    from: "containerd SymlinkEmptyFile (a file written twice)",
    layers: [[f("dup", "first"), f("dup", "second!")]],
    has: ["dup file 0644 0:0 mtime=1000000000 size=7"],
  },
  {
    name: "a symlink chain resolves to its end",
    from: "containerd TestBreakouts SymlinkMultipleRelative",
    layers: [[l("a", "b"), l("b", "c"), d("c/")], [f("a/f", "f")]],
    has: ["c/f file", "a symlink"],
  },
  {
    name: "modes, owners, setuid, fifos and devices are kept",
    from: "umoci TestUnpackEntryMap; moby archive tests",
    layers: [[
      d("bin2/"),
      f("bin2/su", "su", { mode: 0o4755 }),
      f("secret", "s", { mode: 0o600, uid: 1000, gid: 1000 }),
      d("home1/", { mode: 0o700, uid: 1000, gid: 100 }),
      d("sticky/", { mode: 0o1777 }),
      d("devs/"),
      chr("devs/null", 1, 3),
      fifo("devs/pipe"),
    ]],
    has: [
      "bin2/su file 4755 0:0",
      "secret file 0600 1000:1000",
      "home1 dir 0700 1000:100",
      "sticky dir 1777",
      "devs/null char 0666 0:0 mtime=1000000000 dev=1:3",
      "devs/pipe fifo",
    ],
  },
  {
    name: "overlayfs's own xattrs in a layer are not obeyed as markers",
    from: "stratum (snapshots are overlay lowers: a layer must not plant their markers)",
    layers: [
      [d("ox/"), f("ox/a", "a")],
      [
        d("ox/", { xattrs: { "trusted.overlay.opaque": new TextEncoder().encode("y") } }),
        f("ox/b"),
      ],
    ],
    has: ["ox/a file", "ox/b file"],
  },
  {
    name: "a hardlink keeps a file its own layer whites out from below",
    from: "layer.md (hardlinks resolve when applied); go-containerregistry",
    layers: [[f("orig", "content")], [h("keep", "orig"), wh("orig")]],
    has: ["keep file 0644 0:0 mtime=1000000000 size=7 nlink=1"],
    hasNot: ["orig "],
  },
];

const notRoot = process.getuid?.() !== 0 ? "needs root (RUN, devices, owners)" : false;

async function runtimeMissing(): Promise<string | false> {
  if (notRoot) return notRoot;
  const busybox = missingPeers("busybox");
  if (busybox) return busybox;
  if (await detectExecutor()) return false;
  const reason = "no RUN runtime (runc, crun or unshare)";
  if (underCI) throw new Error(`${reason}: required under CI=true`);
  console.log(`SKIP: ${reason}`);
  return reason;
}

const skip = await runtimeMissing();

describe("union scenarios: export, RUN and umoci see the same tree", () => {
  let root = "";
  let store: ImageStore;
  const layers: LayerRef[][] = [];
  const runViews = new Map<number, string[]>();
  let buildError: unknown;

  before(async () => {
    if (skip) return;
    root = await mkdtemp(join(tmpdir(), "stratum-union-"));
    store = await openStore(join(root, "store"));
    await putTools(store, "union/tools:1");
    await mkdir(join(root, "tools"));
    await copyFile("/bin/busybox", join(root, "tools", "busybox"));
    for (const [i, c] of cases.entries()) {
      layers[i] = [];
      for (const entries of c.layers) layers[i].push(await putLayer(store, entries));
      await putImage(store, layers[i], `union/case${i}:1`);
    }
    // One build, one stage per case, all listed by a RUN over the case's layers.
    const stages = cases.map((_, i) =>
      `FROM union/case${i}:1 AS c${i}\n` +
      `RUN --mount=type=bind,from=tools,target=/.tools ` +
      `["/.tools/busybox", "sh", "-c", ${JSON.stringify(LIST_COMMAND)}]\n`
    );
    const dockerfile = "FROM union/tools:1 AS tools\n" + stages.join("") + "FROM scratch\n" +
      cases.map((_, i) => `COPY --from=c${i} /.listing /c${i}\n`).join("");
    try {
      const result = await build({
        store,
        storeRoot: join(root, "store"),
        contextDir: root,
        dockerfile,
      });
      const img = await store.resolve(result.imageId);
      const fs = new TreeFs(
        store.blobs,
        img.manifest.layers.map((descriptor, i) => ({
          descriptor,
          diffId: img.config.rootfs.diff_ids[i],
        })),
        "listings",
      );
      for (const i of cases.keys()) {
        runViews.set(i, parseListing(new TextDecoder().decode(await fs.body(`c${i}`))));
      }
    } catch (e) {
      buildError = e;
    }
  });

  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  const umoci = missingPeers("umoci");

  for (const [i, c] of cases.entries()) {
    test(`${c.name} [${c.from}]`, { skip }, async () => {
      const sources = layers[i].map((x) => ({
        digest: x.descriptor.digest,
        open: () => store.blobs.get(x.descriptor.digest),
      }));
      const flat = join(root, `flat${i}`);
      await flattenToDirectory(sources, flat);
      const exported = await listTree(flat);
      for (const want of c.has) {
        assert.ok(
          exported.some((x) => x.startsWith(want)),
          `export lacks "${want}":\n${exported.join("\n")}`,
        );
      }
      for (const not of c.hasNot ?? []) {
        assert.ok(
          !exported.some((x) => x === not || x.startsWith(`${not} `) || x.startsWith(`${not}/`)),
          `export has "${not}":\n${exported.join("\n")}`,
        );
      }
      // The plain-directory apply (RUN's no-overlay workspace) agrees with export.
      const plain = join(root, `plain${i}`);
      await new SnapshotStore(join(root, "snap")).materialize(layers[i], store.blobs, plain);
      assert.deepEqual(await listTree(plain), exported, "applyLayer one by one");
      // The RUN view.
      if (buildError) throw buildError;
      assert.deepEqual(runViews.get(i), exported, "RUN view");
      // The RUN view where overlay cannot be mounted: the rootfs built by the writer.
      let out = "";
      await runStep({
        lowers: [],
        layers: layers[i],
        args: ["/.tools/busybox", "sh", "-c", LIST_COMMAND.replace(/ > .*$/, "")],
        env: [],
        cwd: "/",
        network: "none",
        mounts: [{ type: "bind", source: join(root, "tools"), target: "/.tools" }],
        onOutput: (chunk, stream) => {
          if (stream === "stdout") out += new TextDecoder().decode(chunk);
        },
      }, {
        blobs: store.blobs,
        snapshots: new SnapshotStore(join(root, "store")),
        parentChainId: (await chainIds(layers[i].map((x) => x.diffId))).at(-1),
        workdir: join(root, "work"),
        cacheDir: join(root, "cache"),
        workspace: "copy",
      });
      assert.deepEqual(parseListing(out), exported, "RUN view without overlay");
      // umoci.
      if (umoci || c.umociDiffers) return;
      const bundle = join(root, `umoci${i}`);
      execFileSync("umoci", [
        "unpack",
        "--image",
        `${join(root, "store")}:docker.io/union/case${i}:1`,
        bundle,
      ], { stdio: "pipe" });
      // umoci leaves the unpack time on directories it makes or adds to (it restores a
      // parent's time only for whiteouts), so directory times are not compared with it.
      const dirTimes = (ls: string[]) =>
        ls.map((x) => x.replace(/^(\S+ dir \S+ \S+) mtime=\d+/, "$1"));
      assert.deepEqual(
        dirTimes(await listTree(join(bundle, "rootfs"))),
        dirTimes(exported),
        "umoci unpack",
      );
    });
  }

  test("the listing really comes from inside the RUN step", { skip }, () => {
    // Guards the comparison itself: a listing of nothing would make every case pass.
    if (buildError) throw buildError;
    const all = [...runViews.values()].flat();
    assert.ok(all.length > cases.length * 2, `${all.length} lines`);
    assert.ok(all.some((x) => x.startsWith("devs/null char")));
  });
});
