// What a docker user expects of the CLI (issue 14): one row per image after a pull, docker's
// sizes, Go templates, images filters, flags anywhere, unknown flags, --version, diff by
// content, gc by kind, and serve exposing the whole store.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { packTar } from "modern-tar";
import { humanSize } from "../cli/_format.ts";
import { VERSION } from "../cli/_version.ts";
import { openStore } from "../storage/mod.ts";
import { serveRegistry } from "../server/mod.ts";
import { spawnTestScript } from "./_child.ts";
import { stratum } from "./_cli.ts";
import { dockerArchive, layerTar } from "./_fixtures.ts";

async function withDir(fn: (dir: string, root: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-habits-"));
  try {
    await fn(dir, join(dir, "store"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Loads an image of one layer holding `files` as `tag`; returns its ID. */
async function load(root: string, dir: string, tag: string, body = "hello world\n") {
  const { tar, id } = await dockerArchive([
    await layerTar([{ name: "etc/", type: "directory" }, { name: "etc/hello", body }]),
  ], { repoTags: [tag] });
  const file = join(dir, `${tag.replace(/\W/g, "_")}.tar`);
  await writeFile(file, tar);
  const r = await stratum(root, "load", "-i", file);
  assert.equal(r.code, 0, r.stderr);
  return id;
}

/** Builds `FROM scratch` + a file + labels at a fixed time; returns the image ID. */
async function buildImage(
  root: string,
  dir: string,
  tag: string,
  epoch: number,
  label: string,
): Promise<string> {
  const ctx = join(dir, `ctx-${tag.replace(/\W/g, "_")}`);
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, "data"), "x".repeat(5000));
  await writeFile(join(ctx, "Dockerfile"), `FROM scratch\nCOPY data /data\nLABEL ${label}\n`);
  const r = await stratum(
    root,
    "build",
    "-q",
    "-t",
    tag,
    "--build-arg",
    `SOURCE_DATE_EPOCH=${epoch}`,
    ctx,
  );
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

test("a pulled image is one row; its repo digest is in --digests, RepoDigests and {{.Digest}}", async () => {
  await withDir(async (dir, root) => {
    const other = join(dir, "other");
    await load(root, dir, "test/app:1");
    const registry = await serveRegistry({
      store: await openStore(join(dir, "served")),
      addr: "127.0.0.1:0",
    });
    try {
      const host = new URL(registry.url).host;
      const pushed = await stratum(root, "push", "test/app:1", `${host}/cli/app:1`);
      assert.equal(pushed.code, 0, pushed.stderr);
      // Progress on stderr, the closing line once, on stdout.
      assert.match(pushed.stderr, /: Pushed$/m);
      assert.doesNotMatch(pushed.stderr, /digest: sha256/);
      assert.match(pushed.stdout, /^1: digest: sha256:[0-9a-f]{64} size: \d+$/);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)![1];
      const pulled = await stratum(other, "pull", `${host}/cli/app:1`);
      assert.equal(pulled.code, 0, pulled.stderr);
      // The closing lines are printed once, on stdout, not drawn on stderr too.
      assert.match(pulled.stdout, /^Digest: sha256:/m);
      assert.doesNotMatch(pulled.stderr, /Digest:|Status:/);

      const rows = (await stratum(other, "images")).stdout.split("\n");
      assert.equal(rows.length, 2, rows.join("\n"));
      assert.match(rows[1], new RegExp(`^${host}/cli/app\\s+1\\s+[0-9a-f]{12}\\s`));
      const withDigests = (await stratum(other, "images", "--digests")).stdout.split("\n");
      assert.equal(withDigests.length, 2);
      assert.match(withDigests[1], new RegExp(`\\s${digest}\\s`));
      assert.equal(
        (await stratum(other, "images", "--format", "{{.Repository}} {{.Digest}}")).stdout,
        `${host}/cli/app ${digest}`,
      );
      assert.equal(
        (await stratum(other, "inspect", "-f", "{{.RepoDigests}}", `${host}/cli/app:1`)).stdout,
        `[${host}/cli/app@${digest}]`,
      );
      // Pulled by digest only: a row with the repository and no tag, still one row.
      const third = join(dir, "third");
      assert.equal((await stratum(third, "pull", "-q", `${host}/cli/app@${digest}`)).code, 0);
      const byDigest = (await stratum(third, "images", "--digests")).stdout.split("\n");
      assert.equal(byDigest.length, 2, byDigest.join("\n"));
      assert.match(byDigest[1], new RegExp(`^${host}/cli/app\\s+<none>\\s+${digest}`));
    } finally {
      await registry.close();
    }
  });
});

test("images and history show the unpacked SIZE; {{.CompressedSize}} shows the stored bytes", async () => {
  await withDir(async (dir, root) => {
    // Compressible content: the gzip blob a build stores is much smaller than the file.
    await buildImage(root, dir, "test/size:1", 1_000_000_000, "a=1");
    const [info] = JSON.parse((await stratum(root, "inspect", "test/size:1")).stdout);
    assert.equal(info.Size, 5000);
    const row = (await stratum(root, "images", "--format", "{{.Size}} {{.CompressedSize}}"))
      .stdout.split(" ");
    assert.equal(row[0], humanSize(5000));
    assert.notEqual(row[1], row[0]);
    assert.match(row[1], /^\d+B$/, "the gzip blob is under 1kB");
    const table = (await stratum(root, "images")).stdout.split("\n")[1];
    assert.match(table, /\s5kB$/);
    const history = await stratum(
      root,
      "history",
      "--format",
      "{{.CreatedBy}}|{{.Size}}|{{.CompressedSize}}",
      "test/size:1",
    );
    const copy = history.stdout.split("\n").find((l) => l.includes("COPY"))!;
    assert.match(copy, /\|5kB\|\d+B$/);
  });
});

test("inspect -f renders docker's Go templates", async () => {
  await withDir(async (dir, root) => {
    const id = await load(root, dir, "test/app:1");
    await stratum(root, "tag", "test/app:1", "test/app:2");
    const f = async (template: string) => {
      const r = await stratum(root, "inspect", "-f", template, "test/app:1");
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    assert.equal(await f("{{.Id}}"), id);
    assert.equal(
      await f("{{.Config.Env}}"),
      "[PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin]",
    );
    assert.deepEqual(JSON.parse(await f("{{json .Config}}")).Cmd, ["sh"]);
    assert.equal(await f("{{index .RepoTags 0}}"), "test/app:1");
    assert.equal(await f("{{range .RepoTags}}<{{.}}>{{end}}"), "<test/app:1><test/app:2>");
    assert.equal(await f("{{.RepoDigests}}"), "[]");
    assert.equal(await f("{{.Config.Nope}}"), "<no value>");
    // Unset fields of docker's typed Config print as Go's zero values; json keeps null.
    assert.equal(
      await f(
        "{{.Config.Entrypoint}} {{.Config.Volumes}} {{.Config.ExposedPorts}} {{.Config.User}}|",
      ),
      "[] map[] map[] |",
    );
    assert.equal(await f("{{json .Config.Entrypoint}} {{.Config.Healthcheck}}"), "null <nil>");
    const [plain] = JSON.parse((await stratum(root, "inspect", "test/app:1")).stdout);
    assert.deepEqual(JSON.parse(await f("{{json .Config}}")), plain.Config);
    assert.equal(await f("{{.RootFS}}").then((s) => s.startsWith("map[Layers:[sha256:")), true);
    assert.equal(await f("{{.Os}}/{{.Architecture}} {{.Size}}"), "linux/amd64 12");
    // One line per image, like docker.
    const two = await stratum(root, "inspect", "--format", "{{.Id}}", "test/app:1", "test/app:2");
    assert.equal(two.stdout, `${id}\n${id}`);
    const bad = await stratum(root, "inspect", "-f", "{{nope}}", "test/app:1");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Template parsing error: template: :1: function "nope" not defined/);
  });
});

test("images -a, --filter, --no-trunc and --format", async () => {
  await withDir(async (dir, root) => {
    const old = await buildImage(root, dir, "test/old:1", 1_000_000_000, "tier=base");
    const mid = await buildImage(root, dir, "test/mid:1", 1_000_000_100, "tier=app");
    const top = await buildImage(root, dir, "other/top:2", 1_000_000_200, "owner=me");
    const list = async (...args: string[]) => {
      const r = await stratum(root, "images", "--format", "{{.Repository}}:{{.Tag}}", ...args);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.split("\n").filter(Boolean);
    };
    assert.deepEqual(await list(), ["other/top:2", "test/mid:1", "test/old:1"]);
    assert.deepEqual(await list("-a"), await list());
    assert.deepEqual(await list("--filter", "reference=test/*"), ["test/mid:1", "test/old:1"]);
    assert.deepEqual(await list("-f", "reference=*/top:2"), ["other/top:2"]);
    assert.deepEqual(await list("--filter", "before=test/mid:1"), ["test/old:1"]);
    assert.deepEqual(await list("--filter", "since=test/mid:1"), ["other/top:2"]);
    assert.deepEqual(await list("--filter", "label=tier"), ["test/mid:1", "test/old:1"]);
    assert.deepEqual(await list("--filter", "label=tier=app"), ["test/mid:1"]);
    // Different keys are ANDed, the same key ORed.
    assert.deepEqual(
      await list("--filter", "label=tier", "--filter", "reference=*/old"),
      ["test/old:1"],
    );
    assert.deepEqual(await list("--filter", "dangling=true"), []);
    assert.deepEqual(await list("--filter", "dangling=false").then((l) => l.length), 3);
    await stratum(root, "rmi", "test/mid:1");
    const bad = await stratum(root, "images", "--filter", "color=red");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid filter 'color'/);

    const ids = (await stratum(root, "images", "-q", "--no-trunc")).stdout.split("\n");
    assert.deepEqual(ids.sort(), [old, top].sort());
    const short = (await stratum(root, "images", "-q")).stdout.split("\n");
    assert.ok(short.every((s) => /^[0-9a-f]{12}$/.test(s)), short.join(","));
    assert.ok(mid);

    const json = (await stratum(root, "images", "--format", "json")).stdout.split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(Object.keys(json[0]).sort(), [
      "CompressedSize",
      "CreatedAt",
      "CreatedSince",
      "Digest",
      "ID",
      "Repository",
      "Size",
      "Tag",
    ]);
    const table = (await stratum(root, "images", "--format", "table {{.Repository}}\\t{{.Tag}}"))
      .stdout.split("\n");
    assert.match(table[0], /^REPOSITORY\s+TAG$/);
    assert.match(table[1], /^other\/top\s+2$/);
  });
});

test("a dangling image is listed as <none> <none> and matched by dangling=true", async () => {
  await withDir(async (dir, root) => {
    const { tar, id } = await dockerArchive([await layerTar([{ name: "x", body: "x" }])], {
      repoTags: null,
    });
    await writeFile(join(dir, "n.tar"), tar);
    assert.equal((await stratum(root, "load", "-q", "-i", join(dir, "n.tar"))).code, 0);
    await load(root, dir, "test/app:1");
    const dangling = await stratum(
      root,
      "images",
      "--filter",
      "dangling=true",
      "--format",
      "{{.Repository}} {{.Tag}} {{.ID}}",
    );
    assert.equal(dangling.stdout, `<none> <none> ${id.slice(7, 19)}`);
  });
});

test("unknown flags print pflag's words and the usage; every --help lists each flag on a line", async () => {
  await withDir(async (_dir, root) => {
    const long = await stratum(root, "images", "--x");
    assert.equal(long.code, 2);
    assert.equal(
      long.stderr,
      "stratum images: unknown flag: --x\nUsage: stratum images [OPTIONS] [REPOSITORY[:TAG]]",
    );
    const short = await stratum(root, "rmi", "-z", "a");
    assert.match(
      short.stderr,
      /^stratum rmi: unknown shorthand flag: 'z' in -z\nUsage: stratum rmi/,
    );
    const missing = await stratum(root, "save", "-o");
    assert.match(missing.stderr, /flag needs an argument: 'o' in -o/);
    const badBool = await stratum(root, "images", "--quiet=maybe");
    assert.match(badBool.stderr, /invalid argument "maybe" for "--quiet" flag/);
    assert.equal(
      (await stratum(root, "images", "--quiet=false")).stdout.split("\n")[0].startsWith(
        "REPOSITORY",
      ),
      true,
    );
    const global = await stratum(root, "--bogus", "images");
    assert.equal(global.code, 2);
    assert.match(global.stderr, /^stratum: unknown flag: --bogus/);

    const top = await stratum(root, "--help");
    const names = [...top.stdout.matchAll(/^ {2}([a-z]+) {2}/gm)].map((m) => m[1]);
    assert.ok(names.includes("version"));
    const expected: Record<string, string[]> = {
      images: [
        "-a, --all",
        "--digests",
        "-f, --filter FILTER",
        "--format FORMAT",
        "--no-trunc",
        "-q, --quiet",
      ],
      inspect: ["-f, --format FORMAT"],
      diff: ["--mtime"],
      gc: ["--grace SECONDS"],
      build: ["-t, --tag NAME:TAG", "--build-arg K=V", "--no-cache", "--secret id=ID,src=PATH"],
      serve: ["--addr HOST:PORT", "--namespace HOST", "--ui"],
    };
    for (const name of names) {
      const r = await stratum(root, name, "--help");
      assert.equal(r.code, 0, name);
      const options = r.stdout.split("\n").slice(r.stdout.split("\n").indexOf("Options:") + 1);
      assert.ok(options.length >= 1, name);
      // One line per flag: each starts with the flag and carries its help text.
      for (const line of options) {
        assert.match(line, /^ {2}(-\w, | {4})--[a-z-]+( \S+)? {3,}\S/, `${name}: ${line}`);
      }
      assert.ok(options.some((l) => l.includes("-h, --help")), name);
      for (const flag of expected[name] ?? []) {
        assert.ok(options.some((l) => l.includes(flag)), `${name} --help lists ${flag}`);
      }
    }
  });
});

test("--root is taken anywhere on the line, like docker's global flags", async () => {
  await withDir(async (dir, root) => {
    const id = await load(root, dir, "test/app:1");
    const elsewhere = join(dir, "empty");
    const after = await main(["images", "-q", "--root", root]);
    assert.equal(after.stdout, id.slice(7, 19));
    const between = await main(["images", `--root=${root}`, "-q"]);
    assert.equal(between.stdout, id.slice(7, 19));
    // The last --root wins, as with pflag.
    const last = await main(["--root", root, "images", "-q", "--root", elsewhere]);
    assert.equal(last.stdout, "");
    // After `--` it is an argument, not a flag.
    const literal = await main(["--root", root, "inspect", "--", "--root"]);
    assert.match(literal.stderr, /No such image: --root/);
  });
});

/** The CLI with exactly `argv` (no --root added). */
async function main(argv: string[]) {
  const { main } = await import("../cli.ts");
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    write: (d) => out.push(String(d)),
  });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

test("--version and version", async () => {
  const v = await main(["--version"]);
  assert.deepEqual(v, { code: 0, stdout: `stratum version ${VERSION}`, stderr: "" });
  assert.equal((await main(["-v"])).stdout, `stratum version ${VERSION}`);
  const full = await main(["version"]);
  assert.match(full.stdout, new RegExp(`^Version:\\s+${VERSION.replaceAll(".", "\\.")}\\n`));
  assert.match(full.stdout, /OS\/Arch:\s+\w+\/\w+/);
  assert.equal((await main(["version", "--format", "{{.Version}}"])).stdout, VERSION);
  // The repository's deno.json (the npm package has none beside its tests).
  const denoJson = await readFile(new URL("../deno.json", import.meta.url), "utf8")
    .catch(() => undefined);
  if (denoJson !== undefined) {
    assert.equal(VERSION, JSON.parse(denoJson).version, "cli/_version.ts follows deno.json");
  }
});

/** A layer with `files` whose mtime is `mtime` (seconds). */
async function timedLayer(files: Record<string, string>, mtime: number): Promise<Uint8Array> {
  const enc = new TextEncoder();
  return await packTar(
    Object.entries(files).map(([name, body]) => ({
      header: {
        name,
        type: "file" as const,
        size: enc.encode(body).length,
        mode: 0o644,
        mtime: new Date(mtime * 1000),
        uid: 0,
        gid: 0,
      },
      body: enc.encode(body),
    })),
  );
}

test("diff ignores files whose only change is the mtime unless --mtime", async () => {
  await withDir(async (dir, root) => {
    const a = await timedLayer({ same: "one", touched: "two", edited: "aaa" }, 1000);
    const b = await timedLayer({ same: "one", touched: "two", edited: "bbbb" }, 1000);
    // Same bytes, same size, new mtime: what a rebuild does to every copied file.
    const c = await timedLayer({ same: "one", touched: "two", edited: "aaa" }, 2000);
    for (const [name, layer] of [["x/a:1", a], ["x/b:1", b], ["x/c:1", c]] as const) {
      const file = join(dir, `${name.replace(/\W/g, "_")}.tar`);
      await writeFile(file, (await dockerArchive([layer], { repoTags: [name] })).tar);
      assert.equal((await stratum(root, "load", "-i", file)).code, 0);
    }
    assert.equal((await stratum(root, "diff", "x/a:1", "x/b:1")).stdout, "C /edited");
    assert.equal((await stratum(root, "diff", "x/a:1", "x/c:1")).stdout, "");
    assert.equal(
      (await stratum(root, "diff", "--mtime", "x/a:1", "x/c:1")).stdout,
      "C /edited\nC /same\nC /touched",
    );
    const help = (await stratum(root, "diff", "--help")).stdout;
    assert.match(help, /not when only its\n?\s*mtime does/);
  });
});

test("gc reports what it freed by kind and the real total", async () => {
  await withDir(async (dir, root) => {
    await load(root, dir, "test/app:1");
    await load(root, dir, "test/gone:1", "gone\n");
    // images keeps each layer's unpacked size beside the store; rmi takes a layer away.
    assert.equal((await stratum(root, "images", "-q")).code, 0);
    assert.equal((await readdir(join(root, "layer-sizes"))).length, 2);
    assert.equal((await stratum(root, "rmi", "test/gone:1")).code, 0);
    const bytes = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * seed) % 251);
    // An unnamed blob (written by a tool that held no lease), an unpacked snapshot no image
    // uses, and an abandoned write of a process that is gone (pids stop below 2^22).
    await (await openStore(root)).blobs.put(new Blob([bytes(300_000, 7919)]).stream());
    const snapshot = join(root, "snapshots", "ab".repeat(32));
    await mkdir(snapshot, { recursive: true });
    await writeFile(join(snapshot, "file"), bytes(100_000, 31));
    await writeFile(join(root, "ingest", "tmp-4194305-abandoned"), bytes(50_000, 17));
    const r = await stratum(root, "gc", "--grace", "0");
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.deepEqual(lines.filter((l) => !l.startsWith("deleted: ")), [
      "Blobs: 1 blob, 300kB",
      "Snapshots: 1 unpacked layer, 100kB",
      "Ingest/debris: 1 abandoned write, 0 dead builds, 50kB",
      "Total reclaimed space: 450kB",
    ]);
    // The named image is untouched; the size of the layer that went is forgotten.
    assert.equal((await readdir(join(root, "layer-sizes"))).length, 1);
    assert.equal((await stratum(root, "images", "-q")).stdout.split("\n").length, 1);
  });
});

async function serveChild(root: string, args: string[]) {
  const child: ChildProcess = spawnTestScript(import.meta.url, "_serve_child", [root, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (d: Uint8Array) => {
      text += new TextDecoder().decode(d);
      const m = /listening on (http:\/\/\S+)/.exec(text);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`stratum serve exited ${code}: ${text}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

test("stratum serve serves the store's own images: app as library/app, user/app as user/app", async () => {
  await withDir(async (dir, root) => {
    const app = await load(root, dir, "app:1");
    const user = await load(root, dir, "someone/tool:2", "tool\n");
    const served = await serveChild(root, ["--addr", "127.0.0.1:0"]);
    try {
      const host = new URL(served.url).host;
      const catalog = await (await fetch(`${served.url}/v2/_catalog`)).json();
      assert.deepEqual(catalog.repositories, ["library/app", "someone/tool"]);
      const other = join(dir, "client");
      assert.equal((await stratum(other, "pull", "-q", `${host}/library/app:1`)).code, 0);
      assert.equal((await stratum(other, "pull", "-q", `${host}/someone/tool:2`)).code, 0);
      const ids = (await stratum(other, "images", "-q", "--no-trunc")).stdout.split("\n").sort();
      assert.deepEqual(ids, [app, user].sort());
      // A push lands under the namespace and is served beside the Hub names.
      assert.equal(
        (await stratum(other, "push", "-q", `${host}/library/app:1`, `${host}/library/app:2`)).code,
        0,
      );
      const tags = await (await fetch(`${served.url}/v2/library/app/tags/list`)).json();
      assert.deepEqual(tags.tags, ["1", "2"]);
      const help = (await stratum(root, "serve", "--help")).stdout;
      assert.match(help, /app:1 \(docker\.io\/library\/app:1\)\s+->\s+HOST:PORT\/library\/app:1/);
    } finally {
      await served.stop();
    }
  });
});

/**
 * The local modules `file` loads before any of its code runs: its static imports and
 * re-exports, followed recursively (a dynamic `import()` is not followed).
 */
async function eagerModules(file: string): Promise<string[]> {
  const seen = new Set<string>();
  const visit = async (url: URL): Promise<void> => {
    if (seen.has(url.href)) return;
    seen.add(url.href);
    const text = await readFile(url, "utf8");
    for (const m of text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+"(\.[^"]+)"/gms)) {
      await visit(new URL(m[1], url));
    }
  };
  await visit(new URL(file, import.meta.url));
  const base = new URL("../", import.meta.url).href;
  return [...seen].map((h) => h.slice(base.length)).sort();
}

test("stratum --help and images load neither the builder, the server nor the registry client", async () => {
  const ext = import.meta.url.endsWith(".js") ? "js" : "ts";
  const door = await eagerModules(`../cli.${ext}`);
  assert.deepEqual(
    door.filter((m) => !m.startsWith("cli")),
    [],
    "the door imports only cli/ helpers",
  );
  const images = await eagerModules(`../cli/images.${ext}`);
  for (const heavy of ["builder/", "server/", "registry_client/"]) {
    assert.ok(!images.some((m) => m.startsWith(heavy)), `images loads ${heavy}`);
  }
  // The command modules that need them do load them.
  assert.ok((await eagerModules(`../cli/build.${ext}`)).some((m) => m.startsWith("builder/")));
});
