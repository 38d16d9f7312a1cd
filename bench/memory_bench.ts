/**
 * Memory benchmark: peak RSS (VmHWM) of the commands that stream a blob, on an image with
 * one 1 GiB layer, each command in a process of its own, with skopeo's pull and push of the
 * same image from the same local docker-registry for comparison. `serve` is the peak of a
 * `stratum serve` that receives the image by push and sends it back by pull.
 *
 *   deno task bench memory            (or: deno run -A bench/memory_bench.ts [--mb 1024])
 *
 * stratum runs as `deno run -A --v8-flags=… tests/_rss_child.ts` (the CLI plus a last VmHWM
 * line, with the launchers' V8 flags). It needs about 5 GB of free disk in the temp
 * directory for the copies.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { spawn } from "node:child_process";
import { freePort, startRegistry } from "../tests/_cncf_registry.ts";
import { writeBigImage } from "../tests/_big_image.ts";
import { cliArgs, measure, type Measured } from "./_measure.ts";

const CHILD = fileURLToPath(new URL("../tests/_rss_child.ts", import.meta.url));

function line(what: string, m: Measured): string {
  return `${what.padEnd(14)} ${m.rssMb.toFixed(0).padStart(4)} MB peak RSS  ${
    m.seconds.toFixed(1).padStart(5)
  }s`;
}

/**
 * `stratum serve` over an empty store while stratum pushes the image to it and pulls it
 * back into a third store: its peak covers receiving and sending a 1 GiB blob.
 */
async function serveBoth(
  work: string,
  stratum: (root: string, ...args: string[]) => Promise<Measured>,
): Promise<Measured> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const start = performance.now();
  const serve = spawn(process.execPath, [
    ...cliArgs(CHILD),
    "--root",
    join(work, "served"),
    "serve",
    "--addr",
    host,
    "--namespace",
    host,
  ], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  const closed = new Promise<void>((resolve) => serve.on("close", () => resolve()));
  await new Promise<void>((resolve) =>
    serve.stderr!.on("data", (d) => {
      err += d;
      if (err.includes("listening")) resolve();
    })
  );
  try {
    const remote = `${host}/bench/big:1`;
    await stratum("a", "tag", "big:1", remote);
    await stratum("a", "push", "-q", remote);
    await stratum("d", "pull", "-q", remote);
  } finally {
    serve.kill("SIGTERM");
    await closed;
    await rm(join(work, "d"), { recursive: true, force: true });
    await rm(join(work, "served"), { recursive: true, force: true });
  }
  const kb = Number(/VmHWM (\d+)\s*$/.exec(err)?.[1] ?? 0);
  return { seconds: (performance.now() - start) / 1000, rssMb: kb / 1024, stderr: err };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const i = argv.indexOf("--mb");
  const mb = i >= 0 ? Number(argv[i + 1]) : 1024;
  const work = await mkdtemp(join(tmpdir(), "stratum-memory-bench-"));
  const reg = await startRegistry("none");
  try {
    const stratum = (root: string, ...args: string[]) =>
      measure(process.execPath, cliArgs(CHILD, "--root", join(work, root), ...args));
    console.log(`image: one layer of ${mb} MiB (random bytes, uncompressed)`);
    await writeBigImage(join(work, "a"), "big:1", mb << 20);
    const remote = `${reg.host}/bench/big:1`;
    console.log(line("save", await stratum("a", "save", "-o", join(work, "big.tar"), "big:1")));
    const exported = join(work, "export.tar");
    console.log(line("export", await stratum("a", "export", "-o", exported, "big:1")));
    await rm(exported);
    console.log(line("load", await stratum("b", "load", "-q", "-i", join(work, "big.tar"))));
    await rm(join(work, "big.tar"));
    await rm(join(work, "b"), { recursive: true });
    await stratum("a", "tag", "big:1", remote);
    console.log(line("push", await stratum("a", "push", "-q", remote)));
    console.log(line("pull", await stratum("c", "pull", "-q", remote)));
    await rm(join(work, "c"), { recursive: true });
    console.log(line("serve", await serveBoth(work, stratum)));
    const pulled = join(work, "k");
    console.log(line(
      "skopeo pull",
      await measure("skopeo", [
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${remote}`,
        `oci:${pulled}:big`,
      ]),
    ));
    // A registry of its own: on the first one skopeo would mount the blob, not send it.
    const other = await startRegistry("none");
    try {
      console.log(line(
        "skopeo push",
        await measure("skopeo", [
          "copy",
          "--quiet",
          "--dest-tls-verify=false",
          `oci:${pulled}:big`,
          `docker://${other.host}/bench/big:1`,
        ]),
      ));
    } finally {
      await other.close();
    }
  } finally {
    await reg.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
