import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { chmod, link, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sha256 } from "../digest/mod.ts";
import type { ImageStore } from "../storage/mod.ts";
import { build, BuildStepError } from "./build.ts";
import { contextDir, storeWithBase, treeOf, type TreeRow } from "./_build_test_util.ts";
import { BuildContext } from "./build_context.ts";
import { globToRegExp, planCopy } from "./copy.ts";
import { archiveKind } from "./copy_archive.ts";
import { contextFs, rootPath, type SourceFs, type SourceStat, TreeFs } from "./copy_source.ts";
import { openLayer } from "../unionfs/mod.ts";

const FILES = [
  { path: "hello.txt", body: "hi\n" },
  { path: "f1.txt", body: "1\n" },
  { path: "f2.txt", body: "2\n" },
  { path: "dir/a.txt", body: "a" },
  { path: "dir/sub/b.txt", body: "b" },
  { path: "dir/link", link: "a.txt" },
  { path: "dir/x.log", body: "log" },
  { path: "fake.tar.gz", body: "garbage" },
  { path: "secret.key", body: "k" },
  { path: ".dockerignore", body: "secret.key\n" },
];

let store: ImageStore;
let root: string;
let ctx: string;
let cleanup: () => Promise<void>;
let url: string;
let server: ReturnType<typeof createServer>;

before(async () => {
  ({ store, root, cleanup } = await storeWithBase());
  ctx = await contextDir(FILES);
  await chmod(join(ctx, "hello.txt"), 0o4755);
  const t = join(ctx, "t");
  await mkdir(t);
  await writeFile(join(t, "in.txt"), "in\n");
  await link(join(t, "in.txt"), join(t, "hard.txt"));
  execFileSync("tar", ["-czf", join(ctx, "arch.tgz"), "-C", t, "."]);
  execFileSync("tar", ["-cf", join(ctx, "arch.tar"), "-C", t, "."]);
  execFileSync("tar", ["-cjf", join(ctx, "arch.tbz"), "-C", t, "."]);
  execFileSync("tar", ["-cJf", join(ctx, "arch.txz"), "-C", t, "."]);
  await rm(t, { recursive: true });
  server = createServer((req, res) => {
    if (req.url === "/file.txt") res.end("downloaded\n");
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.close();
  await cleanup();
  await rm(ctx, { recursive: true, force: true });
});

async function built(lines: string, under: string): Promise<Record<string, TreeRow>> {
  const result = await build({
    store,
    storeRoot: root,
    contextDir: ctx,
    dockerfile: `FROM test/base:1\n${lines}\n`,
  });
  return await treeOf(store, result.imageId, under);
}

const file = (content: string, mode = "644", owner = "0:0"): TreeRow => ({
  type: "file",
  mode,
  owner,
  content,
});
const dir = (mode = "755", owner = "0:0"): TreeRow => ({ type: "directory", mode, owner });

describe("COPY and ADD follow Docker BuildKit's rules", () => {
  // Each expectation was checked against `docker save` of the same build by BuildKit.
  const cases: [string, string, string, Record<string, TreeRow>][] = [
    ["a file to a new path", "COPY f1.txt /new.txt", "new.txt", { "new.txt": file("1\n") }],
    [
      "a directory copies its contents, symlinks as links",
      "COPY dir /d1",
      "d1",
      {
        d1: dir(),
        "d1/a.txt": file("a"),
        "d1/link": { type: "symlink", mode: "777", owner: "0:0", link: "a.txt" },
        "d1/sub": dir(),
        "d1/sub/b.txt": file("b"),
        "d1/x.log": file("log"),
      },
    ],
    ["wildcards into a directory", "COPY f*.txt /multi/", "multi", {
      multi: dir(),
      "multi/f1.txt": file("1\n"),
      "multi/f2.txt": file("2\n"),
    }],
    ["a source that is a symlink is followed", "COPY dir/link /lnk", "lnk", { lnk: file("a") }],
    ["setuid bits are kept, owners become root", "COPY hello.txt /h", "h", {
      h: file("hi\n", "4755"),
    }],
    [
      "--chown resolves names from /etc/passwd and /etc/group",
      "COPY --chown=app:staff f1.txt /o",
      "o",
      {
        o: file("1\n", "644", "1000:50"),
      },
    ],
    ["--chown=user takes the user's primary group", "COPY --chown=app f1.txt /o", "o", {
      o: file("1\n", "644", "1000:1000"),
    }],
    ["--chown ids also own the directories COPY creates", "COPY --chown=1:2 f1.txt /h2/", "h2", {
      h2: dir("755", "1:2"),
      "h2/f1.txt": file("1\n", "644", "1:2"),
    }],
    ["--chmod sets the mode", "COPY --chmod=600 f1.txt /c1", "c1", { c1: file("1\n", "600") }],
    [
      "a relative destination is under WORKDIR",
      "WORKDIR /rel\nCOPY f1.txt .\nCOPY f2.txt new/",
      "rel",
      {
        rel: dir(),
        "rel/f1.txt": file("1\n"),
        "rel/new": dir(),
        "rel/new/f2.txt": file("2\n"),
      },
    ],
    ["an existing directory without a slash is copied into", "COPY f1.txt /etc", "etc/f1.txt", {
      "etc/f1.txt": file("1\n"),
    }],
    [
      "a destination through a symlinked directory lands in its target",
      "COPY f1.txt /lib/",
      "usr/lib",
      {
        "usr/lib": dir(),
        "usr/lib/f1.txt": file("1\n"),
      },
    ],
    ["ADD unpacks a gzip tar into the directory, hardlinks kept", "ADD arch.tgz /x1/", "x1", {
      x1: dir(),
      "x1/hard.txt": file("in\n"),
      "x1/in.txt": file("in\n"),
    }],
    ["ADD unpacks a plain tar into a path without slash", "ADD arch.tar /x2", "x2", {
      x2: dir(),
      "x2/hard.txt": file("in\n"),
      "x2/in.txt": file("in\n"),
    }],
    ["ADD unpacks bzip2", "ADD arch.tbz /x5/", "x5/in.txt", { "x5/in.txt": file("in\n") }],
    ["ADD unpacks xz", "ADD arch.txz /x6/", "x6/in.txt", { "x6/in.txt": file("in\n") }],
    ["ADD copies a file that only looks like an archive", "ADD fake.tar.gz /x3/", "x3", {
      x3: dir(),
      "x3/fake.tar.gz": file("garbage"),
    }],
    ["COPY never unpacks", "COPY arch.tgz /x4/", "x4", {
      x4: dir(),
      "x4/arch.tgz": { type: "file", mode: "644", owner: "0:0" },
    }],
    ["--exclude leaves matching files out", "COPY --exclude=*.log dir /e", "e", {
      e: dir(),
      "e/a.txt": file("a"),
      "e/link": { type: "symlink", mode: "777", owner: "0:0", link: "a.txt" },
      "e/sub": dir(),
      "e/sub/b.txt": file("b"),
    }],
    ["--parents keeps the source path", "COPY --parents dir/sub/b.txt /p/", "p", {
      p: dir(),
      "p/dir": dir(),
      "p/dir/sub": dir(),
      "p/dir/sub/b.txt": file("b"),
    }],
    [
      "a heredoc source is expanded with ENV",
      "ENV NAME=x\nCOPY <<EOF /greet\nhello $NAME\nEOF",
      "greet",
      {
        greet: file("hello x\n"),
      },
    ],
    ["--from an image in the store", "COPY --from=test/base:1 /etc/group /g", "g", {
      g: file("root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:\n"),
    }],
    [".dockerignore keeps files out of COPY .", "COPY . /ctx", "ctx/secret.key", {}],
  ];
  for (const [name, lines, under, expected] of cases) {
    test(name, async () => {
      const tree = await built(lines, under);
      if (under === "x4") delete tree["x4/arch.tgz"].content;
      assert.deepEqual(tree, expected);
    });
  }

  test("COPY --from a stage keeps its owners", async () => {
    const tree = await built(
      "COPY --chown=app f1.txt /own/a\nFROM test/base:1\nCOPY --from=0 /own /o2",
      "o2",
    );
    assert.deepEqual(tree["o2/a"], file("1\n", "644", "1000:1000"));
  });

  test("ADD of a URL downloads it with mode 600 and checks --checksum", async () => {
    const digest = await sha256(new TextEncoder().encode("downloaded\n"));
    const tree = await built(`ADD --checksum=${digest} ${url}/file.txt /dl/`, "dl");
    assert.deepEqual(tree["dl/file.txt"], file("downloaded\n", "600"));
    await assert.rejects(
      built(`ADD --checksum=sha256:${"0".repeat(64)} ${url}/file.txt /dl/`, "dl"),
      /has digest sha256:[0-9a-f]{64}, not the --checksum/,
    );
  });

  test("bad input is refused naming the source or destination", async () => {
    await assert.rejects(built("COPY missing.txt /x", ""), (e: unknown) => {
      assert.ok(e instanceof BuildStepError);
      assert.equal(e.line, 2);
      assert.match(e.message, /COPY missing\.txt \/x.*"missing\.txt"/);
      return true;
    });
    await assert.rejects(
      built("COPY f1.txt f2.txt /notdir", ""),
      /more than one source file, the destination must be a directory and end with a \//,
    );
    await assert.rejects(built("COPY --chown=nosuch f1.txt /x", ""), /no user "nosuch"/);
    await assert.rejects(
      built("COPY secret.key /x", ""),
      /excluded by \.dockerignore: "secret\.key"/,
    );
    await assert.rejects(built("COPY --chmod=9z f1.txt /x", ""), /invalid chmod parameter: '9z'/);
  });
});

test("archiveKind() tells archives by their bytes", async () => {
  assert.equal(
    await archiveKind(() => Promise.resolve(new TextEncoder().encode("garbage"))),
    undefined,
  );
  const tar = execFileSync("tar", ["-cf", "-", "-C", "/etc", "hostname"]);
  assert.equal(await archiveKind(() => Promise.resolve(new Uint8Array(tar))), "tar");
});

test("globToRegExp() matches like Go's filepath.Match", () => {
  assert.ok(globToRegExp("f*.txt").test("f1.txt"));
  assert.ok(!globToRegExp("f*.txt").test("a/f1.txt"));
  assert.ok(globToRegExp("f[0-9].txt").test("f2.txt"));
  assert.ok(globToRegExp("f[^0-9].txt").test("fa.txt"));
  assert.ok(globToRegExp("?.txt").test("a.txt"));
});

/** A SourceFs over a literal table of paths, for the resolver's edge cases. */
function tableFs(entries: Record<string, string | { link: string }>): SourceFs {
  const stat = (type: SourceStat["type"], linkTarget = ""): SourceStat => ({
    type,
    mode: type === "directory" ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    linkTarget,
    ino: 0,
  });
  return {
    label: "table",
    keepOwners: true,
    lstat(path) {
      if (path === "") return Promise.resolve(stat("directory"));
      const e = entries[path];
      if (e === undefined) return Promise.resolve(undefined);
      return Promise.resolve(
        typeof e === "string" ? stat(e === "dir" ? "directory" : "file") : stat("symlink", e.link),
      );
    },
    readdir: () => Promise.resolve([]),
    body: () => Promise.resolve(new Uint8Array()),
  };
}

test("rootPath() resolves a destination inside the root as BuildKit's RootPath does", async () => {
  const fs = tableFs({
    ex: "dir",
    "ex/f": "file",
    abs: { link: "/ex" },
    rel: { link: "../../ex" },
    dangling: { link: "/gone/deeper" },
    out: { link: "/../../../../etc" },
    loop1: { link: "loop2" },
    loop2: { link: "loop1" },
  });
  const at = async (p: string) => {
    const r = await rootPath(fs, p);
    return `${r.path}${r.stat ? `:${r.stat.type}` : ""}`;
  };
  assert.equal(await at("abs/x"), "ex/x");
  assert.equal(await at("abs"), "ex:directory");
  assert.equal(await at("rel/f"), "ex/f:file", "a relative link's .. stops at the root");
  assert.equal(await at("dangling/a"), "gone/deeper/a", "a dangling link leads to its target");
  assert.equal(await at("out/passwd"), "etc/passwd", "an absolute target is taken from the root");
  assert.equal(await at("../../ex/../ex/f"), "ex/f:file");
  assert.equal(await at("ex/f/under"), "ex/f/under", "below a file the rest is as written");
  await assert.rejects(rootPath(fs, "loop1/x"), /too many symlinks/);
});

describe("ADD of a hostile archive stays inside its destination", () => {
  let evil: string;
  before(async () => {
    evil = await mkdtemp(join(tmpdir(), "stratum-evil-"));
    await writeFile(join(evil, "Dockerfile"), "FROM test/base:1\nADD evil.tar /x/\n");
    // Python's tarfile writes what `tar` refuses to: .. and absolute names, a symlink to
    // / then a file through it, a hardlink to a host path, and a user xattr.
    execFileSync("python3", [
      "-c",
      `
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    def add(name, type=tarfile.REGTYPE, body=b"", link="", pax=None):
        i = tarfile.TarInfo(name); i.type = type; i.linkname = link; i.size = len(body)
        i.mode = 0o644; i.pax_headers = pax or {}
        t.addfile(i, io.BytesIO(body) if type == tarfile.REGTYPE else None)
    add("../../../up.txt", body=b"up")
    add("/abs.txt", body=b"abs")
    add("root", tarfile.SYMTYPE, link="/")
    add("root/etc/through.txt", body=b"through")
    add("dotdot", tarfile.SYMTYPE, link="../../..")
    add("dotdot/escaped.txt", body=b"esc")
    add("noted.txt", body=b"n", pax={"SCHILY.xattr.user.note": "hello"})
`,
      join(evil, "evil.tar"),
    ]);
  });
  after(async () => {
    await rm(evil, { recursive: true, force: true });
  });

  test("paths are clamped and symlinks followed with the destination as root", async () => {
    const result = await build({ store, storeRoot: root, contextDir: evil });
    const tree = await treeOf(store, result.imageId);
    const files = Object.entries(tree).filter(([, r]) => r.type === "file").map(([p]) => p);
    // moby's chrootarchive unpacks in a chroot at /x: "/" and ".." mean /x there.
    assert.deepEqual(files.filter((p) => !p.startsWith("bin/") && !p.startsWith("etc/")).sort(), [
      "x/abs.txt",
      "x/escaped.txt",
      "x/etc/through.txt",
      "x/noted.txt",
      "x/up.txt",
    ]);
    assert.equal(tree["x/root"].link, "/");
  });

  test("the layer keeps the archive's user xattrs", async () => {
    const result = await build({ store, storeRoot: root, contextDir: evil });
    const image = await store.resolve(result.imageId);
    const top = image.manifest.layers.at(-1)!;
    let xattrs: Record<string, Uint8Array> | undefined;
    for await (
      const { header, body } of openLayer({
        digest: top.digest,
        open: () => store.blobs.get(top.digest),
      })
    ) {
      await body.cancel();
      if (header.name === "x/noted.txt") xattrs = header.xattrs;
    }
    assert.equal(new TextDecoder().decode(xattrs?.["user.note"]), "hello");
  });
});

test("ADD of an archive whose hardlink names no file is refused, naming it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-badlink-"));
  try {
    await writeFile(join(dir, "Dockerfile"), "FROM test/base:1\nADD bad.tar /x/\n");
    execFileSync("python3", [
      "-c",
      `
import sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    i = tarfile.TarInfo("l"); i.type = tarfile.LNKTYPE; i.linkname = "../../nope"
    t.addfile(i)
`,
      join(dir, "bad.tar"),
    ]);
    await assert.rejects(
      build({ store, storeRoot: root, contextDir: dir }),
      /"l" in the archive is a hardlink to "\.\.\/\.\.\/nope", which does not exist/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("ADD of a truncated gzip archive fails naming the archive", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-trunc-"));
  try {
    await writeFile(join(dir, "Dockerfile"), "FROM test/base:1\nADD cut.tgz /x/\n");
    await mkdir(join(dir, "t"));
    await writeFile(join(dir, "t", "noise"), crypto.getRandomValues(new Uint8Array(60000)));
    const whole = execFileSync("tar", ["-czf", "-", "-C", join(dir, "t"), "."]);
    await writeFile(join(dir, "cut.tgz"), whole.subarray(0, whole.length >> 1));
    await rm(join(dir, "t"), { recursive: true });
    await assert.rejects(
      build({ store, storeRoot: root, contextDir: dir }),
      /"\/cut\.tgz".*Cannot decompress a gzip archive/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("COPY keeps hardlinks between files with more than one link, and only those", async () => {
  // fsutil (BuildKit's copy) tracks an inode only when its link count is above one: a
  // file named twice by overlapping sources is copied twice, not linked.
  const dir = await mkdtemp(join(tmpdir(), "stratum-copy-links-"));
  try {
    await mkdir(join(dir, "d/sub"), { recursive: true });
    await mkdir(join(dir, "d/x"));
    await writeFile(join(dir, "d/sub/one"), "1");
    await writeFile(join(dir, "d/h1"), "h");
    await link(join(dir, "d/h1"), join(dir, "d/h2"));
    // By name, x/1 is met before x-y; by path (the layer's order) x-y comes first.
    await writeFile(join(dir, "d/x/1"), "x");
    await link(join(dir, "d/x/1"), join(dir, "d/x-y"));
    const context = await BuildContext.open({ contextDir: dir, storeRoot: dir });
    const planned = async (sources: string[]) => {
      const plan = await planCopy(contextFs(context), new TreeFs(store.blobs, [], "image"), {
        keyword: "COPY",
        sources,
        dest: "/out/",
        workdir: "/",
        now: 0,
      });
      const entries = [];
      for await (const e of plan.entries) entries.push(e);
      const paths = entries.map((e) => e.path);
      assert.deepEqual(paths, [...paths].sort(), `${sources}: in path order`);
      assert.equal(new Set(paths).size, paths.length, `${sources}: each path once`);
      return Object.fromEntries(entries.map((e) => [e.path, e]));
    };
    // One directory: written as walked. Two sources: planned whole, then ordered.
    for (const sources of [["d"], ["d", "d/sub"]]) {
      const byPath = await planned(sources);
      assert.equal(byPath["out"].type, "directory");
      assert.equal(byPath["out/h1"].type, "file");
      assert.deepEqual([byPath["out/h2"].type, byPath["out/h2"].linkTarget], [
        "hardlink",
        "out/h1",
      ]);
      assert.equal(byPath["out/x-y"].type, "file", `${sources}: the first path is the file`);
      assert.deepEqual([byPath["out/x/1"].type, byPath["out/x/1"].linkTarget], [
        "hardlink",
        "out/x-y",
      ]);
      assert.equal(byPath["out/sub/one"].type, "file");
    }
    const both = await planned(["d", "d/sub"]);
    assert.equal(both["out/one"].type, "file", "a single-link file named twice is two files");
    assert.equal(both["out/one"].source, "d/sub/one");
    await context.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
