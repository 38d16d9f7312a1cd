import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
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
