// What the CLI writes to files (save, export, build's --iidfile, --metadata-file and
// --output) is all or nothing: a failure leaves an existing file as it was and no temporary
// file behind. And the small edges of the CLI's input: missing secret files, bad numbers,
// names with control characters, FROM lines that cannot be resolved.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { build } from "../builder/mod.ts";
import { openStore } from "../storage/mod.ts";
import { stratum } from "./_cli.ts";
import { dockerArchive, layerTar } from "./_fixtures.ts";

async function withDir(fn: (dir: string, root: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-cli-out-"));
  try {
    await fn(dir, join(dir, "store"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Loads a one-layer image as `name`; returns the layer's digest. */
async function load(root: string, dir: string, name: string, body: string): Promise<string> {
  const layer = await layerTar([{ name: "hello", body }]);
  const { tar } = await dockerArchive([layer], { repoTags: [name] });
  await writeFile(join(dir, "in.tar"), tar);
  const r = await stratum(root, "load", "-i", join(dir, "in.tar"));
  assert.equal(r.code, 0, r.stderr);
  await rm(join(dir, "in.tar"));
  const [info] = JSON.parse((await stratum(root, "inspect", name)).stdout);
  const m = JSON.parse(
    await readFile(join(root, "blobs", "sha256", info.Descriptor.digest.slice(7)), "utf8"),
  );
  return m.layers[0].digest;
}

/** The names in `dir`, so that a leftover temporary file shows. */
async function names(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

test("a failed stratum save leaves an existing file as it was, with no temporary file", async () => {
  await withDir(async (dir, root) => {
    const out = join(dir, "out");
    await mkdir(out);
    const keep = join(out, "keep.tar");
    await writeFile(keep, "precious\n");

    const typo = await stratum(root, "save", "-o", keep, "no-such-image");
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /No such image: no-such-image/);
    assert.equal(await readFile(keep, "utf8"), "precious\n");

    // A layer gone from the store fails the archive after it has started.
    const layer = await load(root, dir, "test/broken:1", "one\n");
    await rm(join(root, "blobs", "sha256", layer.slice(7)));
    for (const format of ["docker", "oci"]) {
      const broken = await stratum(root, "save", "--format", format, "-o", keep, "test/broken:1");
      assert.equal(broken.code, 1, format);
      assert.equal(await readFile(keep, "utf8"), "precious\n", format);
    }
    assert.deepEqual(await names(out), ["keep.tar"]);

    const dirOut = join(out, "layout");
    const noDir = await stratum(root, "save", "--format", "oci-dir", "-o", dirOut, "no-such");
    assert.equal(noDir.code, 1);
    assert.deepEqual(await names(out), ["keep.tar"]);

    await load(root, dir, "test/good:1", "two\n");
    const ok = await stratum(root, "save", "-o", keep, "test/good:1");
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok((await stat(keep)).size > 1024);
    assert.deepEqual(await names(out), ["keep.tar"]);
  });
});

test("a failed stratum export leaves an existing file as it was, with no temporary file", async () => {
  await withDir(async (dir, root) => {
    const out = join(dir, "out");
    await mkdir(out);
    const file = join(out, "rootfs.tar");
    await writeFile(file, "precious\n");

    const typo = await stratum(root, "export", "-o", file, "no-such-image");
    assert.equal(typo.code, 1);
    assert.equal(await readFile(file, "utf8"), "precious\n");

    const layer = await load(root, dir, "test/broken:1", "one\n");
    await rm(join(root, "blobs", "sha256", layer.slice(7)));
    const broken = await stratum(root, "export", "-o", file, "test/broken:1");
    assert.equal(broken.code, 1);
    assert.equal(await readFile(file, "utf8"), "precious\n");
    assert.deepEqual(await names(out), ["rootfs.tar"]);

    await load(root, dir, "test/good:1", "two\n");
    const ok = await stratum(root, "export", "-o", file, "test/good:1");
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(await readFile(file, "latin1"), /^hello\0/);
    assert.deepEqual(await names(out), ["rootfs.tar"]);
  });
});

test("a failed build keeps --metadata-file and --output files, and removes a stale --iidfile as docker does", async () => {
  await withDir(async (dir, root) => {
    const ctx = join(dir, "ctx");
    const out = join(dir, "out");
    await mkdir(ctx);
    await mkdir(out);
    await writeFile(join(ctx, "a"), "a\n");
    const iid = join(out, "iid");
    const meta = join(out, "meta.json");
    const tar = join(out, "rootfs.tar");
    const oci = join(out, "image.oci.tar");
    const files = [
      "--iidfile",
      iid,
      "--metadata-file",
      meta,
      "--output",
      `type=tar,dest=${tar}`,
      "--output",
      `type=oci,dest=${oci}`,
    ];
    for (const f of [iid, meta, tar, oci]) await writeFile(f, "from an earlier build\n");

    await writeFile(join(ctx, "Dockerfile"), "FROM scratch\nCOPY missing /missing\n");
    const failed = await stratum(root, "build", "-q", ...files, ctx);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /line 2/);
    // docker and buildx remove the ID file first: a script must not take the last ID.
    assert.deepEqual(await names(out), ["image.oci.tar", "meta.json", "rootfs.tar"]);
    for (const f of [meta, tar, oci]) {
      assert.equal(await readFile(f, "utf8"), "from an earlier build\n", f);
    }

    await writeFile(join(ctx, "Dockerfile"), "FROM scratch\nCOPY a /a\n");
    const ok = await stratum(root, "build", "-q", ...files, ctx);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await readFile(iid, "utf8"), ok.stdout);
    const metadata = JSON.parse(await readFile(meta, "utf8"));
    assert.equal(metadata["containerimage.config.digest"], ok.stdout);
    assert.match(await readFile(tar, "latin1"), /^a\0/);
    assert.ok((await stat(oci)).size > 1024);
    assert.deepEqual(await names(out), ["iid", "image.oci.tar", "meta.json", "rootfs.tar"]);
  });
});

test("build --secret with a missing source file fails before building, naming the file", async () => {
  await withDir(async (dir, root) => {
    await writeFile(join(dir, "Dockerfile"), "FROM scratch\n");
    const missing = join(dir, "no-such-secret");
    const r = await stratum(root, "build", "-q", "--secret", `id=s,src=${missing}`, dir);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.split("\n").length, 1, r.stderr);
    assert.ok(r.stderr.includes(JSON.stringify(missing)), r.stderr);
    assert.match(r.stderr, /--secret id=s: .*: no such file or directory/);
    assert.equal((await stratum(root, "images", "-q")).stdout, "");

    const asDir = await stratum(root, "build", "-q", "--secret", `id=s,src=${dir}`, dir);
    assert.equal(asDir.code, 1);
    assert.match(asDir.stderr, /is a directory/);
  });
});

test("gc --grace takes a number of seconds and refuses anything else in one clear line", async () => {
  await withDir(async (_dir, root) => {
    for (const bad of [["--grace", "-5"], ["--grace=-5"], ["--grace", "soon"], ["--grace="]]) {
      const r = await stratum(root, "gc", ...bad);
      assert.equal(r.code, 2, bad.join(" "));
      const [line, usage, ...rest] = r.stderr.split("\n");
      assert.match(line, /^stratum gc: invalid --grace "[^"]*": expected a number of seconds/);
      assert.match(usage, /^Usage: stratum gc/);
      assert.deepEqual(rest, []);
    }
    assert.match((await stratum(root, "gc", "--grace", "5")).stdout, /Total reclaimed space/);
  });
});

test("a name with a newline or a terminal escape is refused and quoted escaped, never raw", async () => {
  await withDir(async (dir, root) => {
    await load(root, dir, "test/app:1", "one\n");
    const evil = "test/app:a\nb\x1b[31m";
    const tag = await stratum(root, "tag", "test/app:1", evil);
    assert.equal(tag.code, 1);
    assert.equal(
      tag.stderr,
      'stratum tag: Invalid reference "test/app:a\\nb\\u001b[31m": invalid reference format',
    );
    const rmi = await stratum(root, "rmi", evil);
    assert.equal(rmi.code, 1);
    assert.ok(!rmi.stderr.includes("\n") && !rmi.stderr.includes("\x1b"), rmi.stderr);
    const command = await stratum(root, "ta\x1bg");
    assert.equal(command.stderr, `stratum: unknown command "ta\\u001bg"; see 'stratum --help'`);

    // A bad -t fails before anything is built.
    await writeFile(join(dir, "Dockerfile"), "FROM scratch\n");
    const before = (await stratum(root, "images", "-q")).stdout;
    const b = await stratum(root, "build", "-q", "-t", "ok/app:1", "-t", evil, dir);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /^stratum build: Invalid reference "test\/app:a\\nb\\u001b\[31m"/);
    assert.equal((await stratum(root, "images", "-q")).stdout, before);
  });
});

test("a FROM with a bad platform or a missing base image names the Dockerfile's line", async () => {
  await withDir(async (dir, root) => {
    await writeFile(
      join(dir, "Dockerfile"),
      "# syntax check\nFROM scratch AS a\nFROM --platform=linux/arm64/v8/extra scratch\n",
    );
    const r = await stratum(root, "build", "-q", dir);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^stratum build: Dockerfile:3: FROM --platform=linux\/arm64\/v8\/extra scratch: Invalid platform "linux\/arm64\/v8\/extra"/,
    );

    // No registry client: the base image can only come from the store.
    await writeFile(join(dir, "Base.dockerfile"), "ARG V=1\n\nFROM test/none:$V\nRUN true\n");
    const store = await openStore(root);
    await assert.rejects(
      build({ store, storeRoot: root, contextDir: dir, dockerfilePath: "Base.dockerfile" }),
      (e: Error) => {
        assert.match(
          e.message,
          /^Base\.dockerfile:3: FROM test\/none:\$V: Cannot build from "test\/none:1": the image is not in the store/,
        );
        return true;
      },
    );
  });
});
