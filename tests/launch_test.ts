import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { DENO_V8_FLAGS_OPTION, V8_FLAGS } from "../cli/_launch.ts";

const deno = process.versions.deno !== undefined;
const script = fileURLToPath(
  new URL(`./_heap_child.${import.meta.url.endsWith(".js") ? "js" : "ts"}`, import.meta.url),
);

/** The young generation's size in the child, run as a launcher runs the CLI or without flags. */
function youngGeneration(flags: boolean): number {
  const args = deno
    ? ["run", "-A", ...(flags ? [DENO_V8_FLAGS_OPTION] : []), script]
    : [script, ...(flags ? ["--set-flags"] : [])];
  const out = execFileSync(process.execPath, args, { encoding: "utf8" });
  const { newSpace, kept } = JSON.parse(out.trim().split("\n").pop()!);
  assert.equal(kept, 400_000);
  return newSpace;
}

test("the launchers' V8 flags keep the young generation small when much survives", () => {
  // Without them V8 doubles it up to 2 × 16 or 2 × 32 MiB, which a build then keeps.
  const without = youngGeneration(false);
  assert.ok(without > 8 << 20, `the default young generation grows past 8 MiB: ${without}`);
  const withFlags = youngGeneration(true);
  if (deno) assert.ok(withFlags <= 8 << 20, `${withFlags}`);
  // Node takes them once its heap is made, when the young generation's limit is set: they
  // slow its growth (to half here) but cannot cap it.
  else assert.ok(withFlags < without, `${withFlags} < ${without}`);
});

test("every launcher passes cli/_launch.ts's V8 flags", () => {
  if (deno) {
    const root = (name: string) => readFileSync(new URL(`../${name}`, import.meta.url), "utf8");
    const tasks = JSON.parse(root("deno.json")).tasks as Record<string, string>;
    for (const name of ["stratum", "demo", "compile"]) {
      assert.match(tasks[name], new RegExp(` ${DENO_V8_FLAGS_OPTION} `), `task ${name}`);
    }
    assert.ok(
      root("README.md").includes(`deno install -g -A -f -n stratum ${DENO_V8_FLAGS_OPTION}`),
    );
    assert.ok(root("npm_build.ts").includes("v8.setFlagsFromString(flag)"));
  } else {
    // The npm build: its bin sets the flags before the CLI's modules load.
    const bin = readFileSync(new URL("../../bin/stratum.js", import.meta.url), "utf8");
    const set = bin.indexOf(
      `for (const flag of ${JSON.stringify(V8_FLAGS)}) v8.setFlagsFromString`,
    );
    assert.ok(set > 0 && set < bin.indexOf(`import("../esm/cli.js")`), bin);
  }
});

test("the CLI has glibc return large freed blocks where it may, and never prompts for it", {
  skip: !deno || process.platform !== "linux" ? "Deno on Linux only (it uses FFI)" : false,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "stratum-launch-"));
  try {
    const child = join(dir, "child.ts");
    const launch = new URL("../cli/_launch.ts", import.meta.url).href;
    writeFileSync(
      child,
      `import { returnLargeFreedBlocks } from "${launch}";\nconsole.log(returnLargeFreedBlocks());\n`,
    );
    const run = (...permissions: string[]) =>
      execFileSync(process.execPath, ["run", ...permissions, child], {
        encoding: "utf8",
        // A prompt would wait on stdin: closed, it fails the run instead.
        stdio: ["ignore", "pipe", "pipe"],
      }).trim();
    assert.equal(run("-A"), "true");
    assert.equal(run("--allow-read"), "false");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
