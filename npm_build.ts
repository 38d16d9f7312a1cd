/**
 * Builds the npm package into `npm/` (the job JSR's dnt does) and runs the test suite on
 * Node against that build:
 *
 * 1. writes `npm/package.json` (an `exports` entry per module, `bin: stratum`) and
 *    installs the pinned dependencies plus the TypeScript compiler;
 * 2. compiles every module with `tsc` into `npm/esm/` (ESM + `.d.ts`; `.ts` import
 *    specifiers rewritten to `.js`); tests are compiled too but left out of the package;
 * 3. runs `node --test` on the compiled tests.
 *
 * The package is ESM-only: `require()` reaches a stub that says so (the `require` export
 * condition) instead of Node's misleading "No exports main defined". Types resolve under
 * every TypeScript `moduleResolution`: `exports` for node16/nodenext/bundler, `types` and
 * `typesVersions` for node10. Dependencies used only by tests (`playwright-core`) go to
 * `devDependencies`, so users do not install a browser driver.
 *
 * `--skip-tests` stops after the build. `--sea` then also builds `dist/stratum`, a single
 * executable made with Node's single-executable-application support from the compiled CLI
 * (bundled by esbuild, injected by postject): `deno task compile:node`, the offline
 * alternative to `deno compile`, whose runtime (denort) is downloaded from outside npm.
 * `.ci/npm_smoke.sh` tests the packed tarball as a user installs it.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { V8_FLAGS } from "./cli/_launch.ts";

const ROOT = dirname(fileURLToPath(import.meta.url));
const OUT = join(ROOT, "npm");
const TYPESCRIPT = "5.9.3";
const NODE_TYPES = "24.19.4";
// Directories compiled into the package; tests/ and bench/ only for the test run.
const MODULES = ["digest", "image", "storage", "unionfs", "registry_client", "builder", "server"];
// Imports only tests use: devDependencies of the package, installed for the Node test run.
const TEST_ONLY = new Set(["playwright-core"]);
// The package's source repository (package.json `repository`), which npm shows and provenance
// checks: the public URL of this checkout's `origin` remote, or STRATUM_REPOSITORY. Never a
// guessed URL: a wrong one would send users (and provenance) to someone else's code.
const REPOSITORY = process.env.STRATUM_REPOSITORY ?? publicOrigin();
const ESBUILD = "0.28.2";
const POSTJECT = "1.0.0-alpha.6";

/** The origin remote as an npm `git+https` URL, or undefined when it is not a public host. */
function publicOrigin(): string | undefined {
  let url: string;
  try {
    url = execFileSync("git", ["remote", "get-url", "origin"], { cwd: ROOT, encoding: "utf8" })
      .trim();
  } catch {
    return undefined;
  }
  const scp = /^git@([^:]+):(.+)$/.exec(url);
  if (scp) url = `https://${scp[1]}/${scp[2]}`;
  if (!/^https:\/\/[^/]+\/.+/.test(url)) return undefined;
  return `git+${url.endsWith(".git") ? url : `${url}.git`}`;
}

function run(cmd: string, args: string[], cwd: string): void {
  execFileSync(cmd, args, { cwd, stdio: "inherit" });
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "testdata" && e.name !== "out") out.push(...sources(p));
    } else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

const deno = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
const modules = MODULES.filter((m) =>
  statSync(join(ROOT, m), { throwIfNoEntry: false })?.isDirectory()
);

// npm: specifiers in deno.json's import map become package.json dependencies.
const dependencies: Record<string, string> = {};
const devDependencies: Record<string, string> = {
  typescript: TYPESCRIPT,
  "@types/node": NODE_TYPES,
};
for (const spec of Object.values(deno.imports as Record<string, string>)) {
  const m = /^npm:(@?[^@]+)@(.+)$/.exec(spec);
  if (m) (TEST_ONLY.has(m[1]) ? devDependencies : dependencies)[m[1]] = m[2];
}

// `types` comes first in each condition (TypeScript takes the first match); `require` is a
// stub that throws a clear error, since the modules use top-level await and cannot be
// required even where Node supports require(esm).
const entry = (js: string) => ({
  types: js.replace(/\.js$/, ".d.ts"),
  import: js,
  require: "./require.cjs",
});
const exportsMap: Record<string, unknown> = {
  ".": entry("./esm/mod.js"),
  "./cli": entry("./esm/cli.js"),
};
// node10 resolution ignores `exports`: it maps subpaths through typesVersions.
const typesPaths: Record<string, string[]> = { cli: ["esm/cli.d.ts"] };
for (const m of modules) {
  exportsMap[`./${m}`] = entry(`./esm/${m}/mod.js`);
  typesPaths[m] = [`esm/${m}/mod.d.ts`];
}
exportsMap["./package.json"] = "./package.json";

rmSync(OUT, { recursive: true, force: true });
mkdirSync(join(OUT, "bin"), { recursive: true });
writeFileSync(
  join(OUT, "package.json"),
  JSON.stringify(
    {
      name: "@stratum/stratum",
      version: deno.version,
      description:
        "A daemonless container-image toolkit: build, store, pull, push and serve OCI images",
      license: deno.license,
      ...(REPOSITORY ? { repository: { type: "git", url: REPOSITORY } } : {}),
      keywords: ["oci", "docker", "container", "image", "registry", "dockerfile", "deno"],
      type: "module",
      engines: { node: ">=20" },
      bin: { stratum: "./bin/stratum.js" },
      main: "./esm/mod.js",
      types: "./esm/mod.d.ts",
      typesVersions: { "*": typesPaths },
      exports: exportsMap,
      files: [
        "esm/**/*.js",
        "esm/**/*.d.ts",
        "!esm/**/*_test.*",
        "!esm/**/_*test_util.*",
        "!esm/tests/**",
        "!esm/bench/**",
        "!esm/examples/**",
        "bin/",
        "require.cjs",
        "README.md",
        "LICENSE",
      ],
      dependencies,
      devDependencies,
    },
    null,
    2,
  ) + "\n",
);
// Node, unlike Deno, takes V8 flags at run time: the bin and the single executable set
// cli/_launch.ts's before the CLI's modules load, so `npm install -g` needs no shebang flags.
const setV8Flags = `import v8 from "node:v8";\n` +
  `for (const flag of ${JSON.stringify(V8_FLAGS)}) v8.setFlagsFromString(flag);\n`;
writeFileSync(
  join(OUT, "bin", "stratum.js"),
  `#!/usr/bin/env node\nimport process from "node:process";\n${setV8Flags}` +
    `const { main } = await import("../esm/cli.js");\n` +
    `process.exitCode = await main(process.argv.slice(2));\n`,
  { mode: 0o755 },
);
writeFileSync(
  join(OUT, "require.cjs"),
  `"use strict";\n// stratum is published as ES modules only (they use top-level await).\n` +
    `throw new Error(\n  'stratum is ESM-only: use import("@stratum/stratum") ' +\n` +
    `    "(or await import() from CommonJS) instead of require()",\n);\n`,
);
cpSync(join(ROOT, "README.md"), join(OUT, "README.md"));
cpSync(join(ROOT, "LICENSE"), join(OUT, "LICENSE"));

// Sources are copied under npm/ so that npm/package.json ("type": "module") and
// npm/node_modules govern them, as they will in the published package.
const SRC = join(OUT, "src");
for (const entry of ["mod.ts", "cli.ts", "cli", ...modules, "tests"]) {
  cpSync(join(ROOT, entry), join(SRC, entry), { recursive: true });
}
const files = [
  join(SRC, "mod.ts"),
  join(SRC, "cli.ts"),
  ...sources(join(SRC, "cli")),
  ...modules.flatMap((m) => sources(join(SRC, m))),
  ...sources(join(SRC, "tests")),
].map((f) => relative(OUT, f));
writeFileSync(
  join(OUT, "tsconfig.json"),
  JSON.stringify(
    {
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2023", "DOM", "DOM.Iterable", "DOM.AsyncIterable"],
        types: ["node"],
        strict: true,
        declaration: true,
        rootDir: "src",
        outDir: "esm",
        allowImportingTsExtensions: true,
        rewriteRelativeImportExtensions: true,
        skipLibCheck: true,
        noEmitOnError: true,
      },
      files,
    },
    null,
    2,
  ),
);

run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], OUT);
run(join(OUT, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], OUT);
// Test fixtures (builder/testdata, ...) sit next to the compiled tests, and the examples
// the CLI tests build sit where they do in the repository.
cpSync(SRC, join(OUT, "esm"), { recursive: true, filter: (p) => !p.endsWith(".ts") });
cpSync(join(ROOT, "examples"), join(OUT, "esm", "examples"), {
  recursive: true,
  filter: (p) => !p.endsWith(".ts"),
});
// The node that runs the tests, not the Node version Deno's compatibility layer reports.
const NODE_VERSION = execFileSync("node", ["--version"], { encoding: "utf8" }).trim();
console.log(
  `built npm/ (${modules.length} modules; tsc ${TYPESCRIPT}, tests on Node ${NODE_VERSION})`,
);
if (!REPOSITORY) {
  console.log("package.json has no repository: no public origin remote (set STRATUM_REPOSITORY)");
}

if (process.argv.includes("--sea")) buildSingleExecutable();

/**
 * Builds `dist/stratum` with Node's single executable applications: the CLI bundled into
 * one CommonJS file (SEA runs no ES modules on Node 20), a preparation blob, and a copy of
 * the running `node` with the blob injected.
 */
function buildSingleExecutable(): void {
  const dist = join(ROOT, "dist");
  const work = join(OUT, "sea");
  mkdirSync(work, { recursive: true });
  mkdirSync(dist, { recursive: true });
  run("npm", [
    "install",
    "--no-save",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    `esbuild@${ESBUILD}`,
    `postject@${POSTJECT}`,
  ], OUT);
  writeFileSync(
    join(work, "main.mjs"),
    `import process from "node:process";\n${setV8Flags}` +
      `import("../esm/cli.js").then(({ main }) => main(process.argv.slice(2)))\n` +
      `  .then((code) => { process.exitCode = code; });\n`,
  );
  run(join(OUT, "node_modules", ".bin", "esbuild"), [
    "sea/main.mjs",
    "--bundle",
    "--platform=node",
    "--format=cjs",
    "--target=node20",
    "--log-level=warning",
    // cli.ts runs itself under `if (import.meta.main)` with a top-level await, which CommonJS
    // cannot hold; main.mjs is the entry here, so that branch is dead and dropped.
    "--define:import.meta.main=false",
    "--minify-syntax",
    "--outfile=sea/stratum.cjs",
  ], OUT);
  writeFileSync(
    join(work, "sea.json"),
    JSON.stringify({
      main: "stratum.cjs",
      output: "stratum.blob",
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
    }),
  );
  run("node", ["--experimental-sea-config", "sea.json"], work);
  const bin = join(dist, "stratum");
  rmSync(bin, { force: true });
  const node = execFileSync("node", ["-p", "process.execPath"], { encoding: "utf8" }).trim();
  cpSync(node, bin);
  run(join(OUT, "node_modules", ".bin", "postject"), [
    bin,
    "NODE_SEA_BLOB",
    join(work, "stratum.blob"),
    "--sentinel-fuse",
    "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
  ], OUT);
  console.log(
    `built ${relative(ROOT, bin)} (${
      (statSync(bin).size / 1e6).toFixed(1)
    } MB, Node ${NODE_VERSION})`,
  );
}

if (!process.argv.includes("--skip-tests")) {
  const compiled: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith("_test.js")) compiled.push(relative(OUT, p));
    }
  };
  walk(join(OUT, "esm"));
  console.log(`running ${compiled.length} test files on Node ${NODE_VERSION}`);
  run("node", ["--test", "--test-concurrency=2", ...compiled.sort()], OUT);
}
