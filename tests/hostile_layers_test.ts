/**
 * Hostile layers through every entry point this writer owns: `load` + export, flatten,
 * RUN after FROM, RUN after ADD of the same tars, and `--output type=local`. Each layer
 * tries to write into a canary directory outside the target (`../`, absolute names,
 * symlinks planted in the same or a lower layer, chains, hardlinks out, devices,
 * duplicate entries, whiteouts through links) or is malformed (invalid whiteout names);
 * the canary must stay exactly as it was, and malformed layers are refused naming the
 * layer. (COPY --from and bind mounts are covered with the builder's own tests.)
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type ImageStore, loadArchive, openStore } from "../storage/mod.ts";
import {
  flattenToDirectory,
  flattenToTar,
  InvalidLayerError,
  type LayerRef,
  openLayer,
  type WriteEntry,
} from "../unionfs/mod.ts";
import { build } from "../builder/mod.ts";
import { detectExecutor } from "../builder/run_executor.ts";
import { missingPeers, underCI } from "./_peers.ts";
import { dockerArchive, streamOf } from "./_fixtures.ts";
import { chr, d, f, h, l, opq, putImage, putLayer, putTools, wh } from "./_union_util.ts";
import { createLayer } from "../unionfs/mod.ts";

interface Hostile {
  name: string;
  layers: (canary: string) => WriteEntry[][];
  /** Refused (an invalid layer) by export, flatten, FROM + RUN and --output. */
  rejects?: RegExp;
  /** Not given to ADD (whiteout names mean nothing to an archive ADD unpacks). */
  noAdd?: boolean;
}

const up = "../".repeat(40);
const rel = (p: string) => p.replace(/^\/+/, "");

const hostiles: Hostile[] = [
  { name: "../ names", layers: (c) => [[f(`${up}${rel(c)}/dotdot`, "x")]] },
  {
    name: "absolute names",
    layers: (c) => [[f(`${c}/abs`, "x"), d(`${c}/absdir/`), f(`${c}/existing`, "OVERWRITTEN")]],
  },
  {
    name: "a symlink then a write through it in the same layer",
    layers: (c) => [[l("lnk", c), f("lnk/through", "x"), f("lnk/existing", "OVERWRITTEN")]],
  },
  {
    name: "a symlink in a lower layer, written through by an upper one",
    layers: (c) => [[l("low", c)], [f("low/through", "x"), f("low/existing", "OVERWRITTEN")]],
  },
  {
    name: "a relative symlink climbing out",
    layers: (c) => [[l("rel", `${up}${rel(c)}`)], [f("rel/through", "x")]],
  },
  {
    name: "a symlink chain ending outside",
    layers: (c) => [[l("c1", "c2"), l("c2", "/c3"), l("c3", c)], [f("c1/chain", "x")]],
  },
  {
    name: "hardlinks out of the root",
    layers: (c) => [[l("sd", c), h("hl", `${c}/existing`), h("hl2", "sd/existing")]],
    rejects: /hardlink to .* which does not exist/,
  },
  {
    name: "a hardlink to an escaping symlink, then written",
    layers: (c) => [[l("sl", `${c}/existing`), h("hl", "sl"), f("hl", "OVERWRITTEN")]],
  },
  {
    name: "duplicate entries: a directory, then a symlink, then a write",
    layers: (c) => [[d("dup/"), f("dup/a"), l("dup", c), f("dup/x", "x"), f("dup/existing", "O")]],
  },
  {
    name: "devices, one below an escaping symlink",
    layers: (c) => [[chr("null", 1, 3), l("devlink", c), chr("devlink/zero", 1, 5)]],
  },
  {
    name: "whiteouts and an opaque marker through a symlink to the outside",
    layers: (c) => [[l("wl", c), f("keep")], [wh("wl/existing"), opq("wl")]],
    noAdd: true,
  },
  {
    name: "an invalid whiteout .wh..",
    layers: () => [[f("a")], [f(".wh..")]],
    rejects: /invalid whiteout name/,
    noAdd: true,
  },
  {
    name: "an invalid whiteout .wh. in a directory",
    layers: () => [[d("sub/"), f("sub/a")], [f("sub/.wh.")]],
    rejects: /invalid whiteout name/,
    noAdd: true,
  },
  {
    name: "an invalid whiteout .wh..wh.x",
    layers: () => [[f(".wh.x")], [f(".wh..wh.x")]],
    rejects: /invalid whiteout name/,
    noAdd: true,
  },
];

const notRoot = process.getuid?.() !== 0 ? "needs root (RUN, devices)" : false;
let runSkip: string | false = notRoot || missingPeers("busybox");
if (!runSkip && !(await detectExecutor())) {
  runSkip = "no RUN runtime (runc, crun or unshare)";
  if (underCI) throw new Error(`${runSkip}: required under CI=true`);
  console.log(`SKIP: ${runSkip}`);
}

async function tarOf(entries: WriteEntry[]): Promise<Uint8Array> {
  const blob = createLayer(entries, { compression: "none" });
  return new Uint8Array(await new Response(blob.stream).arrayBuffer());
}

describe("hostile layers never write outside their target", () => {
  let base = "";
  let canary = "";
  let store: ImageStore;
  const layers: LayerRef[][] = [];

  before(async () => {
    base = await mkdtemp(join(tmpdir(), "stratum-hostile-"));
    canary = join(base, "canary");
    await mkdir(canary);
    await writeFile(join(canary, "existing"), "original");
    store = await openStore(join(base, "store"));
    if (!runSkip) await putTools(store, "hostile/tools:1");
    for (const [i, c] of hostiles.entries()) {
      layers[i] = [];
      for (const entries of c.layers(canary)) layers[i].push(await putLayer(store, entries));
      await putImage(store, layers[i], `hostile/case${i}:1`);
    }
  });

  after(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  async function canaryIntact(where: string): Promise<void> {
    assert.deepEqual(await readdir(canary), ["existing"], `${where}: canary has new files`);
    assert.equal(await readFile(join(canary, "existing"), "utf8"), "original", where);
  }

  const sources = (i: number) =>
    layers[i].map((x) => ({
      digest: x.descriptor.digest,
      open: () => store.blobs.get(x.descriptor.digest),
    }));

  for (const [i, c] of hostiles.entries()) {
    test(`load + export, flatten and --output type=local: ${c.name}`, async () => {
      // load: a docker archive of the case's layers.
      const tars = await Promise.all(c.layers(canary).map(tarOf));
      const { tar } = await dockerArchive(tars, { repoTags: [`loaded/case${i}:1`] });
      const loaded = await loadArchive(store, streamOf(tar));
      const img = await store.resolve(loaded[0].id);
      const loadedSources = img.manifest.layers.map((desc) => ({
        digest: desc.digest,
        open: () => store.blobs.get(desc.digest),
      }));
      const exportNames = async () => {
        const names: string[] = [];
        for await (
          const e of openLayer({
            digest: "export",
            open: () => Promise.resolve(flattenToTar(loadedSources)),
          })
        ) {
          names.push(e.header.name);
          await e.body.cancel();
        }
        return names;
      };
      const out = join(base, `out${i}`);
      const local = join(base, `local${i}`);
      const output = () =>
        build({
          store,
          storeRoot: join(base, "store"),
          contextDir: base,
          dockerfile: `FROM hostile/case${i}:1\n`,
          outputs: [{ type: "local", dest: local }],
        });
      if (c.rejects) {
        await assert.rejects(
          exportNames(),
          (e) => e instanceof InvalidLayerError && c.rejects!.test(e.message),
        );
        await assert.rejects(flattenToDirectory(sources(i), out), c.rejects);
        await assert.rejects(output(), c.rejects);
      } else {
        for (const name of await exportNames()) {
          assert.ok(!name.startsWith("/") && !name.split("/").includes(".."), name);
        }
        await flattenToDirectory(sources(i), out);
        await output();
        // What was aimed at the canary landed inside the root, at the canary's path.
        for (const dir of [out, local]) {
          const inside = await readdir(join(dir, rel(canary))).catch(() => []);
          if (c.name.includes("write")) assert.ok(inside.length > 0, `${dir}: ${inside}`);
        }
      }
      await canaryIntact(c.name);
    });
  }

  test("RUN after FROM of every hostile image", { skip: runSkip }, async () => {
    const good = [...hostiles.keys()].filter((i) => !hostiles[i].rejects);
    const run = (i: number) =>
      `FROM hostile/case${i}:1 AS s${i}\n` +
      `RUN --mount=type=bind,from=tools,target=/.tools ["/.tools/busybox", "touch", "/.ran"]\n`;
    const dockerfile = "FROM hostile/tools:1 AS tools\n" + good.map(run).join("") +
      "FROM hostile/tools:1\n" + good.map((i) => `COPY --from=s${i} /.ran /ran${i}\n`).join("");
    await build({ store, storeRoot: join(base, "store"), contextDir: base, dockerfile });
    await canaryIntact("RUN after FROM");
    for (const i of [...hostiles.keys()].filter((i) => hostiles[i].rejects)) {
      await assert.rejects(
        build({
          store,
          storeRoot: join(base, "store"),
          contextDir: base,
          dockerfile: "FROM hostile/tools:1 AS tools\n" + run(i),
        }),
        hostiles[i].rejects!,
      );
      await canaryIntact(`RUN after FROM: ${hostiles[i].name}`);
    }
  });

  test("RUN after ADD of every hostile tar", { skip: runSkip }, async () => {
    const ctx = join(base, "ctx");
    await mkdir(ctx, { recursive: true });
    const stage = async (i: number) => {
      const tars = await Promise.all(hostiles[i].layers(canary).map(tarOf));
      let text = `FROM hostile/tools:1 AS a${i}\n`;
      for (const [j, t] of tars.entries()) {
        await writeFile(join(ctx, `case${i}-${j}.tar`), t);
        text += `ADD case${i}-${j}.tar /x/\n`;
      }
      return text + `RUN ["/busybox", "touch", "/.ran"]\n`;
    };
    const cases = [...hostiles.keys()].filter((i) => !hostiles[i].noAdd && !hostiles[i].rejects);
    let dockerfile = "";
    for (const i of cases) dockerfile += await stage(i);
    dockerfile += "FROM hostile/tools:1\n" +
      cases.map((i) => `COPY --from=a${i} /.ran /ran${i}\n`).join("");
    await build({ store, storeRoot: join(base, "store"), contextDir: ctx, dockerfile });
    await canaryIntact("RUN after ADD");
    // A tar whose hardlinks point out of it: refused (by ADD or by the RUN's snapshot),
    // alone in its build so no other stage is left running.
    for (const i of [...hostiles.keys()].filter((i) => !hostiles[i].noAdd && hostiles[i].rejects)) {
      await build({
        store,
        storeRoot: join(base, "store"),
        contextDir: ctx,
        dockerfile: await stage(i),
      })
        .then(() => {}, (e) => assert.match(String(e), hostiles[i].rejects!));
      await canaryIntact(`RUN after ADD: ${hostiles[i].name}`);
    }
  });
});
