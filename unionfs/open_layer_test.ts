import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { link, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { detectCompression, openLayer } from "./open_layer.ts";
import { TarFormatError } from "./errors.ts";
import type { TarHeader } from "./tar_entry.ts";
import { bytesLayer, collect, file, gzip, tarBytes } from "./_test_util.ts";
import { missingPeers } from "../tests/_peers.ts";

const isRoot = process.getuid?.() === 0;

async function readAll(bytes: Uint8Array): Promise<{ header: TarHeader; text: string }[]> {
  const out = [];
  for await (const { header, body } of openLayer(bytesLayer(bytes))) {
    out.push({ header, text: new TextDecoder().decode(await collect(body)) });
  }
  return out;
}

test(
  "openLayer() reads what GNU tar writes in PAX format: long names, links, fifos, devices, xattrs, ids, mtimes",
  {
    skip: missingPeers("setfattr"),
  },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "stratum-gnutar-"));
    try {
      const root = join(dir, "root");
      const long = "d".repeat(120) + "/" + "f".repeat(150);
      await mkdir(join(root, "d".repeat(120)), { recursive: true });
      await writeFile(join(root, long), "long");
      await writeFile(join(root, "caps"), "x");
      await link(join(root, "caps"), join(root, "hard"));
      await symlink("../" + "t".repeat(130), join(root, "sym"));
      execFileSync("mkfifo", [join(root, "fifo")]);
      if (isRoot) execFileSync("mknod", [join(root, "null"), "c", "1", "3"]);
      // Binary xattr value with bytes >= 0x80 and NUL: must survive byte for byte.
      execFileSync("setfattr", ["-n", "user.bin", "-v", "0x0080ff00fe", join(root, "caps")]);
      await utimes(join(root, "caps"), 1234567890, 1234567890);
      const tarFile = join(dir, "l.tar");
      execFileSync("tar", [
        "--format=posix",
        "--xattrs",
        "--xattrs-include=user.*",
        "--owner=u:4000000",
        "--group=g:2345678",
        "-C",
        root,
        "-cf",
        tarFile,
        ".",
      ]);
      const entries = await readAll(await readFile(tarFile));
      const by = new Map(entries.map((e) => [e.header.name.replace(/^\.\//, ""), e]));
      assert.equal(by.get(long)?.text, "long");
      assert.equal(by.get(long)?.header.uid, 4000000);
      assert.equal(by.get(long)?.header.gid, 2345678);
      const caps = by.get("caps")!.header;
      assert.deepEqual([...caps.xattrs["user.bin"]], [0x00, 0x80, 0xff, 0x00, 0xfe]);
      assert.equal(caps.mtime, 1234567890);
      const hard = by.get("hard") ?? by.get("caps");
      assert.ok(entries.some((e) => e.header.type === "hardlink"), "a hardlink entry");
      assert.ok(hard);
      assert.equal(by.get("sym")?.header.type, "symlink");
      assert.equal(by.get("sym")?.header.linkname, "../" + "t".repeat(130));
      assert.equal(by.get("fifo")?.header.type, "fifo");
      if (isRoot) {
        const nul = by.get("null")!.header;
        assert.deepEqual([nul.type, nul.devmajor, nul.devminor], ["char", 1, 3]);
      }
      // The same tree in GNU format (L/K long-name entries) reads the same names.
      execFileSync("tar", ["--format=gnu", "-C", root, "-cf", tarFile, "."]);
      const gnu = await readAll(await readFile(tarFile));
      assert.ok(gnu.some((e) => e.header.name === `./${long}` && e.text === "long"));
      assert.ok(gnu.some((e) => e.header.linkname === "../" + "t".repeat(130)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

test("openLayer() detects gzip, zstd and plain tar by their magic bytes", async () => {
  const tar = await tarBytes([file("a", "hello")]);
  const zstd = execFileSync("zstd", ["-q", "-c"], { input: tar });
  const gz = await gzip(tar);
  assert.equal(detectCompression(gz), "gzip");
  assert.equal(detectCompression(new Uint8Array(zstd)), "zstd");
  assert.equal(detectCompression(tar), "none");
  for (const blob of [tar, gz, new Uint8Array(zstd)]) {
    const entries = await readAll(blob);
    assert.deepEqual(entries.map((e) => [e.header.name, e.text]), [["a", "hello"]]);
  }
});

test("openLayer() streams bodies in chunks and skips bodies that are not read", async () => {
  const big = "x".repeat(3 << 20);
  const tar = await tarBytes([file("big", big), file("small", "s")]);
  const names = [];
  for await (const { header, body } of openLayer(bytesLayer(tar))) {
    names.push(header.name);
    if (header.name === "big") {
      const reader = body.getReader();
      const first = await reader.read();
      assert.ok(first.value!.length < big.length, "first chunk is a part, not the whole body");
      await reader.cancel();
    }
  }
  assert.deepEqual(names, ["big", "small"]);
});

test("openLayer() fails with a clear error on truncated and corrupt gzip", async () => {
  const tar = await tarBytes([file("a", "x".repeat(100_000))]);
  const gz = await gzip(tar);
  const truncated = gz.slice(0, gz.length / 2);
  await assert.rejects(readAll(truncated), (e: Error) => {
    assert.ok(e instanceof TarFormatError, String(e));
    assert.match(e.message, /sha256:test/);
    return true;
  });
  const corrupt = gz.slice();
  for (let i = 20; i < 60; i++) corrupt[i] ^= 0x5a;
  await assert.rejects(readAll(corrupt), (e: Error) => {
    assert.ok(e instanceof TarFormatError, String(e));
    assert.match(e.message, /Cannot read tar "sha256:test"/);
    return true;
  });
});

test("openLayer() refuses a header with a bad checksum and a body cut short", async () => {
  const tar = await tarBytes([file("a", "hello")]);
  const bad = tar.slice();
  bad[10] ^= 1;
  await assert.rejects(readAll(bad), /header checksum mismatch/);
  await assert.rejects(readAll(tar.slice(0, 512 + 2)), /truncated inside "a"/);
  await assert.rejects(readAll(new Uint8Array(0)), /empty/);
});
