/**
 * The README's first command, `deno task demo`: offline builds of the bundled examples
 * into a fresh store, shown the way docker would show them.
 *
 * 1. `examples/hello`: COPY and metadata only, so it needs nothing but stratum; built
 *    twice to show the second build served from the cache.
 * 2. `examples/busybox` then `examples/app`: a base image made from Debian's
 *    busybox-static and an app with a RUN step in a real container. These need
 *    `/bin/busybox`, `getfattr` and root with runc (or unshare+chroot); without them the demo says
 *    what is missing and skips them.
 *
 * Set STRATUM_DEMO_KEEP=1 to keep the store (it is an OCI layout skopeo and umoci read).
 *
 * @module
 */
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { main } from "../cli.ts";
import { detectExecutor } from "../builder/mod.ts";

const examples = dirname(fileURLToPath(import.meta.url));
const work = await mkdtemp(join(tmpdir(), "stratum-demo-"));
const root = join(work, "store");

function onPath(tool: string): boolean {
  return (process.env.PATH ?? "").split(":").some((dir) => dir && existsSync(join(dir, tool)));
}

async function stratum(title: string, ...args: string[]): Promise<void> {
  console.log(`\n$ stratum ${args.join(" ")}    # ${title}`);
  const code = await main(["--root", root, ...args]);
  if (code !== 0) throw new Error(`stratum ${args[0]} exited with ${code}`);
}

try {
  const hello = join(examples, "hello");
  await stratum(
    "build without a daemon",
    "build",
    "--progress",
    "plain",
    "-t",
    "example/hello:1",
    hello,
  );
  await stratum(
    "again: every step comes from the cache",
    "build",
    "--explain-cache",
    "-q",
    "-t",
    "example/hello:1",
    hello,
  );
  await stratum("the image", "images");
  await stratum("its layers", "layers", "example/hello:1");
  await stratum("its files, each with the layer it comes from", "ls", "example/hello:1");

  const executor = await detectExecutor();
  const missing = [
    ...existsSync("/bin/busybox") ? [] : ["/bin/busybox (Debian busybox-static)"],
    ...onPath("getfattr") ? [] : ["getfattr (Debian attr) to read a RUN's overlay markers"],
    ...executor ? [] : ["root with runc, crun or unshare+chroot to run a container"],
  ];
  if (missing.length > 0) {
    console.log(`\nSkipping the RUN example: it needs ${missing.join(", ")}.`);
  } else {
    const base = join(work, "busybox-context");
    await mkdir(base);
    await copyFile(join(examples, "busybox", "Dockerfile"), join(base, "Dockerfile"));
    await copyFile("/bin/busybox", join(base, "busybox"));
    await stratum(
      "a base image from busybox-static",
      "build",
      "-q",
      "-t",
      "example/busybox:1",
      base,
    );
    await stratum(
      `RUN in a real container (${executor})`,
      "build",
      "--progress",
      "plain",
      "-t",
      "example/app:1",
      join(examples, "app"),
    );
    await stratum("layers with what each added and removed", "layers", "example/app:1");
    await stratum("what RUN and COPY made", "ls", "example/app:1", "/app");
    await stratum("loadable by docker load", "save", "-o", join(work, "app.tar"), "example/app:1");
  }
  await stratum("re-hash every blob", "fsck");
  console.log(
    process.env.STRATUM_DEMO_KEEP
      ? `\nThe store is at ${root}: an OCI layout (skopeo inspect oci:${root}:example/hello:1)`
      : "\nDone. Set STRATUM_DEMO_KEEP=1 to keep the store, an OCI layout skopeo and umoci read.",
  );
} catch (e) {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  if (!process.env.STRATUM_DEMO_KEEP) await rm(work, { recursive: true, force: true });
}
