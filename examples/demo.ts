/**
 * The README's first command: `deno task demo`. Offline, on the bundled example:
 * packs `examples/hello/` into a one-layer image archive, loads it into a fresh store,
 * and shows it the way `docker images`, `docker inspect` and `docker history` would,
 * then saves it back out as a `docker load`-able archive and checks the store.
 *
 * @module
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { packTar } from "modern-tar";
import { main } from "../cli.ts";
import { sha256 } from "../digest/mod.ts";

const here = join(dirname(fileURLToPath(import.meta.url)), "hello");
const work = await mkdtemp(join(tmpdir(), "stratum-demo-"));
const root = join(work, "store");

async function step(title: string, ...args: string[]): Promise<void> {
  console.log(`\n$ stratum ${args.join(" ")}    # ${title}`);
  const code = await main(["--root", root, ...args]);
  if (code !== 0) throw new Error(`stratum ${args[0]} exited with ${code}`);
}

try {
  const hello = await readFile(join(here, "hello.txt"));
  const layer = await packTar([
    {
      header: { name: "hello.txt", size: hello.length, mode: 0o644, mtime: new Date(0) },
      body: hello,
    },
  ]);
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    created: "2026-01-01T00:00:00Z",
    config: { Cmd: ["/hello.txt"] },
    rootfs: { type: "layers", diff_ids: [await sha256(layer)] },
    history: [{
      created: "2026-01-01T00:00:00Z",
      created_by: "COPY hello.txt /hello.txt # buildkit",
    }],
  }));
  const configName = `${(await sha256(config)).slice(7)}.json`;
  const manifest = new TextEncoder().encode(
    JSON.stringify([{ Config: configName, RepoTags: ["example/hello:1"], Layers: ["layer.tar"] }]),
  );
  await writeFile(
    join(work, "hello.tar"),
    await packTar([
      { header: { name: "layer.tar", size: layer.length }, body: layer },
      { header: { name: configName, size: config.length }, body: config },
      { header: { name: "manifest.json", size: manifest.length }, body: manifest },
    ]),
  );

  await step("load a docker-save archive", "load", "-i", join(work, "hello.tar"));
  await step("list images", "images");
  await step(
    "a second name for the same image",
    "tag",
    "example/hello:1",
    "localhost:5000/example/hello:latest",
  );
  await step("both names, one image ID", "images", "--digests");
  await step("the config, docker-inspect style", "inspect", "example/hello:1");
  await step("how it was made", "history", "example/hello:1");
  await step("save it for docker load", "save", "-o", join(work, "out.tar"), "example/hello:1");
  await step("re-hash every blob", "fsck");
  console.log(
    `\nThe store is an OCI layout (set STRATUM_DEMO_KEEP=1 to keep ${root} for skopeo/umoci).`,
  );
} catch (e) {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  if (!process.env.STRATUM_DEMO_KEEP) await rm(work, { recursive: true, force: true });
}
