#!/usr/bin/env bash
# Smoke test of the npm package as a user gets it: packs npm/ (built by `deno task npm`),
# installs the tarball into an empty project (its dependencies come from the npm registry),
# then imports it from ESM, require()s it, type-checks a TypeScript user under the
# node10, node16 and bundler module resolutions, and runs its `stratum` bin.
# Run from the repository root: bash .ci/npm_smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f npm/package.json ] || { echo "npm smoke: npm/ is not built; run 'deno task npm' first"; exit 1; }
TYPESCRIPT=$(sed -nE 's/^const TYPESCRIPT = "([^"]+)".*/\1/p' npm_build.ts)
NODE_TYPES=$(sed -nE 's/^const NODE_TYPES = "([^"]+)".*/\1/p' npm_build.ts)
work=$(mktemp -d /tmp/stratum-npm-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
CHECK_TAIL=30
. .ci/_check.sh

tarball=$(cd npm && npm pack --silent --pack-destination "$work")
tar -tzf "$work/$tarball" | sed 's#^package/##' | sort >"$work/files"
echo "tarball: $tarball, $(du -k "$work/$tarball" | cut -f1) kB packed, $(wc -l <"$work/files") files (node $(node --version))"
ships() { grep -qxF "$1" "$work/files"; }
check "ships README.md, LICENSE, package.json, the bin and the require stub" \
  bash -c "$(declare -f ships); work=$work; ships README.md && ships LICENSE && ships package.json && ships bin/stratum.js && ships require.cjs"
no_tests() { ! grep -E '(_test\.|_test_util\.|^esm/tests/|^esm/bench/|testdata/|^esm/examples/)' "$work/files"; }
check "ships no tests, test helpers, test data or examples" no_tests
check "ships a .d.ts beside each module door" \
  bash -c "for m in mod digest/mod image/mod storage/mod unionfs/mod registry_client/mod builder/mod server/mod cli; do grep -qxF esm/\$m.d.ts $work/files || { echo missing esm/\$m.d.ts; exit 1; }; done"

app=$work/app
mkdir -p "$app"
cd "$app"
npm init -y >/dev/null
npm pkg set type=module >/dev/null
npm install --no-audit --no-fund --loglevel=error "$work/$tarball" "typescript@$TYPESCRIPT" "@types/node@$NODE_TYPES" >/dev/null
echo "installed: $(du -sm node_modules | cut -f1) MB in node_modules (with typescript and @types/node)"
check "playwright-core is not installed with the package" test ! -e node_modules/playwright-core

cat >esm.mjs <<'JS'
import { DigestStream, memoryStore, parseReference, saveDockerArchive } from "@stratum/stratum";
import { MemoryBlobStore } from "@stratum/stratum/storage";
import { parseDockerfile } from "@stratum/stratum/builder";
const hashed = new DigestStream();
await new Response(saveDockerArchive(memoryStore(), []).pipeThrough(hashed)).arrayBuffer();
const { digest } = await hashed.result;
if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`bad digest ${digest}`);
if (parseReference("busybox").toString() !== "docker.io/library/busybox:latest") {
  throw new Error(`bad reference ${parseReference("busybox")}`);
}
if (typeof MemoryBlobStore !== "function" || typeof parseDockerfile !== "function") {
  throw new Error("subpath exports are missing");
}
console.log("esm ok", digest);
JS
check "import from ESM (root and subpaths)" node esm.mjs

cat >req.cjs <<'JS'
try {
  require("@stratum/stratum");
  console.log("require() did not fail");
  process.exit(1);
} catch (e) {
  if (!/ESM-only/.test(e.message)) throw e;
  console.log(e.message);
}
import("@stratum/stratum").then((m) => {
  if (typeof m.memoryStore !== "function") throw new Error("import() from CommonJS failed");
});
JS
check "require() says it is ESM-only; import() from CommonJS works" node req.cjs

cat >use.ts <<'TS'
import { type Digest, memoryStore, parseReference } from "@stratum/stratum";
import { MemoryBlobStore, type ResolvedImage } from "@stratum/stratum/storage";
import { parseDockerfile } from "@stratum/stratum/builder";
import type { Platform } from "@stratum/stratum/image";
const store = memoryStore();
const name: string = parseReference("busybox").toString();
const blobs: MemoryBlobStore = new MemoryBlobStore();
const platform: Platform | undefined = undefined;
const resolved: ResolvedImage | undefined = undefined;
const digest: Digest | undefined = undefined;
// The types are real, not `any`: a wrong use is an error.
// @ts-expect-error a reference is not a number
const wrong: number = parseReference("busybox");
void [store, name, blobs, platform, resolved, digest, wrong, parseDockerfile];
TS
tsc_with() { # tsc_with MODULE RESOLUTION
  cat >"tsconfig.$2.json" <<JSON
{ "compilerOptions": { "module": "$1", "moduleResolution": "$2", "target": "ES2022",
    "lib": ["ES2023", "DOM", "DOM.Iterable", "DOM.AsyncIterable"], "types": ["node"],
    "strict": true, "noEmit": true, "skipLibCheck": true, "ignoreDeprecations": "5.0" },
  "files": ["use.ts"] }
JSON
  npx tsc -p "tsconfig.$2.json"
}
check "TypeScript finds the types (moduleResolution node10)" tsc_with esnext node10
check "TypeScript finds the types (moduleResolution node16)" tsc_with node16 node16
check "TypeScript finds the types (moduleResolution bundler)" tsc_with esnext bundler

export STRATUM_ROOT="$work/store"
bin_images() { npx stratum images >"$work/images" && [ "$(wc -l <"$work/images")" -eq 1 ] && grep -q '^REPOSITORY' "$work/images"; }
check "npx stratum images (empty store)" bin_images
bin_help() { npx stratum --help >"$work/help" && grep -q '^Usage: stratum' "$work/help"; }
check "npx stratum --help" bin_help
echo "npm-smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
