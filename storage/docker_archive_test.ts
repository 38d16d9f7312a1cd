import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createTarDecoder, packTar } from "modern-tar";
import { sha256 } from "../digest/mod.ts";
import { dockerArchive, layerTar, streamOf } from "../tests/_fixtures.ts";
import { sha512Layout } from "../tests/_sha512_layout.ts";
import { loadArchive, saveDockerArchive } from "./docker_archive.ts";
import { ArchiveError } from "./errors.ts";
import { memoryStore, openStore } from "./open_store.ts";

async function twoLayers(): Promise<Uint8Array[]> {
  return [
    await layerTar([{ name: "bin/", type: "directory" }, {
      name: "bin/tool",
      body: "#!/bin/sh\necho hi\n",
      mode: 0o755,
    }]),
    await layerTar([{ name: "etc/motd", body: "hello\n" }]),
  ];
}

test("loadArchive() stores the image under the ID docker gives it", async () => {
  const store = memoryStore();
  const { tar, id } = await dockerArchive(await twoLayers());
  const [loaded] = await loadArchive(store, streamOf(tar));
  assert.equal(loaded.id, id);
  assert.deepEqual(loaded.names, ["docker.io/test/app:1"]);
  const img = await store.resolve("test/app:1");
  assert.equal(img.id, id);
  assert.equal(img.manifest.layers.length, 2);
  assert.equal((await store.resolve(id.slice(7, 19))).id, id);
});

test("an untagged image loads and is listed without a name", async () => {
  const store = memoryStore();
  const { tar, id } = await dockerArchive(await twoLayers(), { repoTags: null });
  const [loaded] = await loadArchive(store, streamOf(tar));
  assert.deepEqual(loaded.names, []);
  const rows = await store.images();
  assert.equal(rows.length, 1);
  assert.equal(rows[0].id, id);
  assert.equal(rows[0].name, undefined);
});

test("saveDockerArchive() output loads back with the same ID and names", async () => {
  const a = memoryStore();
  const { tar, id } = await dockerArchive(await twoLayers());
  await loadArchive(a, streamOf(tar));
  const saved = new Uint8Array(
    await new Response(saveDockerArchive(a, ["test/app:1"])).arrayBuffer(),
  );
  const names: string[] = [];
  for await (const e of streamOf(saved).pipeThrough(createTarDecoder())) {
    names.push(e.header.name);
    await e.body.cancel();
  }
  assert.ok(
    names.includes("manifest.json") && names.includes("index.json") && names.includes("oci-layout"),
  );
  const b = memoryStore();
  const [loaded] = await loadArchive(b, streamOf(saved));
  assert.equal(loaded.id, id);
  assert.deepEqual(loaded.names, ["docker.io/test/app:1"]);
});

test("a gzip-compressed archive loads", async () => {
  const { tar, id } = await dockerArchive(await twoLayers());
  const gz = streamOf(tar).pipeThrough(
    new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
  );
  const [loaded] = await loadArchive(memoryStore(), gz);
  assert.equal(loaded.id, id);
});

async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(`${p.slice(dir.length)} ${await sha256(await readFile(p))}`);
    }
  }
  await walk(dir);
  return out.sort();
}

test("bad archives are refused with a clear error and leave the store exactly as before", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-load-"));
  try {
    const store = await openStore(dir);
    await loadArchive(
      store,
      streamOf((await dockerArchive([await layerTar([{ name: "a", body: "a" }])])).tar),
    );
    const before = await snapshot(dir);
    const layers = await twoLayers();
    const good = (await dockerArchive(layers)).tar;
    const cases: [string, Uint8Array, RegExp][] = [
      [
        "a truncated archive",
        good.slice(0, Math.floor(good.length / 2)),
        /cannot read archive|truncated|unexpected/i,
      ],
      [
        "a config that does not hash to its name",
        (await dockerArchive(layers, {
          tamperConfig: (b) =>
            new TextEncoder().encode(new TextDecoder().decode(b).replace("amd64", "arm64")),
        })).tar,
        /hashes to sha256:[0-9a-f]{64}, not to its name/,
      ],
      [
        "a layer whose diff_id does not match the config",
        await swapLayerContent(layers),
        /diff_id/,
      ],
      [
        "an archive with neither manifest.json nor index.json",
        (await dockerArchive(layers, { noManifest: true })).tar,
        /neither manifest\.json nor index\.json/,
      ],
      [
        "bytes that are not a tar",
        new TextEncoder().encode("not a tar archive at all".repeat(40)),
        /cannot read archive/,
      ],
    ];
    for (const [label, bytes, message] of cases) {
      await t.test(label, async () => {
        await assert.rejects(loadArchive(store, streamOf(bytes)), (e: unknown) => {
          assert.ok(e instanceof ArchiveError, `${label}: ${e}`);
          assert.match((e as Error).message, message);
          return true;
        });
        assert.deepEqual(await snapshot(dir), before);
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** An archive whose config was made for `layers` but whose second layer has other content. */
async function swapLayerContent(layers: Uint8Array[]): Promise<Uint8Array> {
  const { tar } = await dockerArchive(layers);
  const other = [layers[0], await layerTar([{ name: "etc/motd", body: "HELLO\n" }])];
  const forged = await dockerArchive(other);
  const cfgOriginal = await extract(tar, (n) => n.endsWith(".json") && n !== "manifest.json");
  const { packTar } = await import("modern-tar");
  const entries = [];
  for await (const e of streamOf(forged.tar).pipeThrough(createTarDecoder())) {
    const body = new Uint8Array(await new Response(e.body).arrayBuffer());
    if (e.header.name.endsWith(".json") && e.header.name !== "manifest.json") {
      entries.push({
        header: { ...e.header, name: cfgOriginal.name, size: cfgOriginal.body.length },
        body: cfgOriginal.body,
      });
    } else if (e.header.name === "manifest.json") {
      const m = JSON.parse(new TextDecoder().decode(body));
      m[0].Config = cfgOriginal.name;
      const b = new TextEncoder().encode(JSON.stringify(m));
      entries.push({ header: { ...e.header, size: b.length }, body: b });
    } else entries.push({ header: e.header, body });
  }
  return await packTar(entries);
}

async function extract(
  tar: Uint8Array,
  pick: (name: string) => boolean,
): Promise<{ name: string; body: Uint8Array }> {
  for await (const e of streamOf(tar).pipeThrough(createTarDecoder())) {
    const body = new Uint8Array(await new Response(e.body).arrayBuffer());
    if (pick(e.header.name)) return { name: e.header.name, body };
  }
  throw new Error("not found");
}

test("an OCI archive and an OCI layout directory load back with the same names and digests", async () => {
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { exportOciLayout, importOciLayout, saveOciArchive } = await import("./oci_layout.ts");
  const a = memoryStore();
  const { tar } = await dockerArchive(await twoLayers(), {
    repoTags: ["localhost:5000/team/app:v1"],
  });
  await loadArchive(a, streamOf(tar));
  const img = await a.resolve("localhost:5000/team/app:v1");

  const b = memoryStore();
  const oci = new Uint8Array(
    await new Response(saveOciArchive(a, ["localhost:5000/team/app:v1"])).arrayBuffer(),
  );
  const [fromTar] = await loadArchive(b, streamOf(oci));
  assert.deepEqual(fromTar.names, ["localhost:5000/team/app:v1"]);
  assert.equal(
    fromTar.manifestDigest,
    img.manifestDigest,
    "the manifest bytes are kept, not rebuilt",
  );

  const dir = await mkdtemp(join(tmpdir(), "stratum-layout-"));
  try {
    await exportOciLayout(a, ["localhost:5000/team/app:v1"], dir);
    const c = memoryStore();
    const [fromDir] = await importOciLayout(c, dir);
    assert.equal(fromDir.manifestDigest, img.manifestDigest);
    assert.equal((await c.resolve("localhost:5000/team/app:v1")).id, img.id);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("an OCI archive missing a referenced blob is refused", async () => {
  const { saveOciArchive } = await import("./oci_layout.ts");
  const { packTar } = await import("modern-tar");
  const a = memoryStore();
  await loadArchive(a, streamOf((await dockerArchive(await twoLayers())).tar));
  const img = await a.resolve("test/app:1");
  const entries = [];
  for await (const e of saveOciArchive(a, ["test/app:1"]).pipeThrough(createTarDecoder())) {
    const body = new Uint8Array(await new Response(e.body).arrayBuffer());
    if (e.header.name !== `blobs/sha256/${img.manifest.layers[1].digest.slice(7)}`) {
      entries.push({ header: e.header, body });
    }
  }
  const b = memoryStore();
  await assert.rejects(
    loadArchive(b, streamOf(await packTar(entries))),
    /layers\[1\] blob sha256:[0-9a-f]+ is not in the archive/,
  );
  assert.deepEqual(await b.images(), []);
});

test("an OCI archive naming its manifest, config and a layer by sha512 loads and saves back", async () => {
  const { exportOciLayout, importOciLayout, saveOciArchive } = await import("./oci_layout.ts");
  const layout = await sha512Layout();
  const dir = await mkdtemp(join(tmpdir(), "stratum-sha512-"));
  try {
    const store = await openStore(join(dir, "store"));
    const [loaded] = await loadArchive(store, streamOf(layout.tar), { name: "localhost/x" });
    assert.deepEqual(loaded.names, ["localhost/x:v512"]);
    assert.equal(loaded.manifestDigest, layout.manifestDigest);
    assert.equal(loaded.id, layout.id, "the image ID stays the config's sha256");
    const img = await store.resolve("localhost/x:v512");
    assert.equal(img.id, layout.id);
    assert.equal(img.manifestDigest, layout.manifestDigest);
    assert.equal(img.manifest.config.digest, layout.configDigest);
    assert.equal((await store.resolve(layout.id.slice(7, 19))).id, layout.id);
    assert.deepEqual(
      (await readdir(join(dir, "store", "blobs", "sha512"))).sort(),
      [layout.manifestDigest, layout.configDigest, layout.layers[0]].map((d) => d.slice(7)).sort(),
    );
    assert.deepEqual((await store.fsck()).problems, []);

    // save --format oci: the blobs keep their names, under blobs/sha512/.
    const oci = new Uint8Array(
      await new Response(saveOciArchive(store, ["localhost/x:v512"])).arrayBuffer(),
    );
    const names: string[] = [];
    for await (const e of streamOf(oci).pipeThrough(createTarDecoder())) {
      names.push(e.header.name);
      await e.body.cancel();
    }
    for (const d of [layout.manifestDigest, layout.configDigest, ...layout.layers]) {
      assert.ok(names.includes(`blobs/${d.replace(":", "/")}`), `${d} is in the archive`);
    }
    const again = memoryStore();
    const [back] = await loadArchive(again, streamOf(oci));
    assert.equal(back.manifestDigest, layout.manifestDigest);
    assert.equal(back.id, layout.id);

    // save --format oci-dir and import.
    await exportOciLayout(store, ["localhost/x:v512"], join(dir, "layout"));
    assert.deepEqual(
      new Uint8Array(
        await readFile(join(dir, "layout", "blobs", "sha512", layout.manifestDigest.slice(7))),
      ),
      layout.files.get(`blobs/sha512/${layout.manifestDigest.slice(7)}`),
    );
    const fromDir = memoryStore();
    const [imported] = await importOciLayout(fromDir, join(dir, "layout"));
    assert.equal(imported.manifestDigest, layout.manifestDigest);
    assert.deepEqual((await fromDir.fsck()).problems, []);

    // docker save: manifest.json names the config's blob, not the image ID's path.
    const docker = new Uint8Array(
      await new Response(saveDockerArchive(store, ["localhost/x:v512"])).arrayBuffer(),
    );
    let manifestJson: { Config: string; Layers: string[] }[] = [];
    for await (const e of streamOf(docker).pipeThrough(createTarDecoder())) {
      if (e.header.name === "manifest.json") manifestJson = await new Response(e.body).json();
      else await e.body.cancel();
    }
    assert.equal(manifestJson[0].Config, `blobs/sha512/${layout.configDigest.slice(7)}`);
    assert.equal(manifestJson[0].Layers[0], `blobs/sha512/${layout.layers[0].slice(7)}`);
    const fromDocker = memoryStore();
    const [dockerLoaded] = await loadArchive(fromDocker, streamOf(docker));
    assert.equal(dockerLoaded.id, layout.id);
    assert.deepEqual(
      (await fromDocker.resolve(dockerLoaded.id)).manifest.layers.map((l) => l.digest),
      layout.layers,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a sha512 blob that does not hash to its name is refused and nothing is stored", async () => {
  const layout = await sha512Layout();
  const path = `blobs/${layout.layers[0].replace(":", "/")}`;
  const entries = [...layout.files].map(([name, body]) => {
    const bytes = name === path ? body.map((b, i) => i === 4 ? b ^ 1 : b) : body;
    return { header: { name, size: bytes.length, type: "file" as const }, body: bytes };
  });
  const store = memoryStore();
  await assert.rejects(
    loadArchive(store, streamOf(await packTar(entries))),
    (e: unknown) => {
      assert.ok(e instanceof ArchiveError);
      assert.match(
        e.message,
        new RegExp(`"${path}" hashes to sha512:[0-9a-f]{128}, not to its name`),
      );
      return true;
    },
  );
  assert.deepEqual(await store.images(), []);
  for await (const d of store.blobs.list()) assert.fail(`${d} was stored`);
});

test("a descriptor in a digest algorithm stratum cannot hash loads nothing and names it", async () => {
  const layout = await sha512Layout();
  const odd = "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564";
  const index = JSON.parse(new TextDecoder().decode(layout.files.get("index.json")));
  index.manifests[0].digest = odd;
  const files = new Map(layout.files);
  files.set("index.json", new TextEncoder().encode(JSON.stringify(index)));
  const tar = await packTar(
    [...files].map(([name, body]) => ({
      header: { name, size: body.length, type: "file" as const },
      body,
    })),
  );
  const store = memoryStore();
  await assert.rejects(
    loadArchive(store, streamOf(tar)),
    /manifests\[0\]: blob sha256\+b64u:\S+ is named by digest algorithm "sha256\+b64u", which stratum cannot verify/,
  );
  for await (const d of store.blobs.list()) assert.fail(`${d} was stored`);
});
