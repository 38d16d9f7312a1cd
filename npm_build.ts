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
 * `--skip-tests` stops after the build.
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

const ROOT = dirname(fileURLToPath(import.meta.url));
const OUT = join(ROOT, "npm");
const TYPESCRIPT = "5.9.3";
const NODE_TYPES = "24.19.4";
// Directories compiled into the package; tests/ and bench/ only for the test run.
const MODULES = ["digest", "image", "storage", "unionfs", "registry_client", "builder", "server"];

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
for (const spec of Object.values(deno.imports as Record<string, string>)) {
  const m = /^npm:(@?[^@]+)@(.+)$/.exec(spec);
  if (m) dependencies[m[1]] = m[2];
}

const exportsMap: Record<string, unknown> = {
  ".": { types: "./esm/mod.d.ts", import: "./esm/mod.js" },
  "./cli": { types: "./esm/cli.d.ts", import: "./esm/cli.js" },
};
for (const m of modules) {
  exportsMap[`./${m}`] = { types: `./esm/${m}/mod.d.ts`, import: `./esm/${m}/mod.js` };
}

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
      type: "module",
      engines: { node: ">=20" },
      bin: { stratum: "./bin/stratum.js" },
      exports: exportsMap,
      files: [
        "esm/**/*.js",
        "esm/**/*.d.ts",
        "!esm/**/*_test.*",
        "!esm/tests/**",
        "!esm/bench/**",
        "bin/",
      ],
      dependencies,
      devDependencies: { typescript: TYPESCRIPT, "@types/node": NODE_TYPES },
    },
    null,
    2,
  ) + "\n",
);
writeFileSync(
  join(OUT, "bin", "stratum.js"),
  `#!/usr/bin/env node\nimport process from "node:process";\nimport { main } from "../esm/cli.js";\nprocess.exitCode = await main(process.argv.slice(2));\n`,
  { mode: 0o755 },
);

// Sources are copied under npm/ so that npm/package.json ("type": "module") and
// npm/node_modules govern them, as they will in the published package.
const SRC = join(OUT, "src");
for (const entry of ["mod.ts", "cli.ts", ...modules, "tests"]) {
  cpSync(join(ROOT, entry), join(SRC, entry), { recursive: true });
}
const files = [
  join(SRC, "mod.ts"),
  join(SRC, "cli.ts"),
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
console.log(`built npm/ (${modules.length} modules)`);

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
  console.log(`running ${compiled.length} test files on Node ${process.versions.node}`);
  run("node", ["--test", "--test-concurrency=2", ...compiled.sort()], OUT);
}
