import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

test("readXattrs() without getfattr on PATH fails and names the package, never reads as no xattrs", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratum-xattrs-"));
  try {
    // A child process with an empty PATH: changing this process's PATH would race the
    // other test files that spawn tools.
    // Beside this file, as .ts on Deno or .js in the npm build run by Node.
    const ext = import.meta.url.slice(import.meta.url.lastIndexOf("."));
    const platform = new URL(`./_platform${ext}`, import.meta.url).href;
    const script = `import { readXattrs } from ${JSON.stringify(platform)};
      try { const x = await readXattrs(${JSON.stringify(dir)}); console.log("read " + x.size); }
      catch (e) { console.log("rejected: " + e.message); }`;
    const evalArgs = "Deno" in globalThis ? ["eval"] : ["--input-type=module", "--eval"];
    const out = execFileSync(process.execPath, [...evalArgs, script], {
      encoding: "utf8",
      env: { ...process.env, PATH: join(dir, "empty") },
    });
    assert.match(out, /^rejected: .*getfattr is not installed.*apt-get install attr/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
