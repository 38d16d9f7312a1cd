/**
 * The demo page in a real browser: Debian's chromium, driven by playwright-core, opens `/` of
 * `stratum serve` with the UI, inspects an image pushed to that same server and finds its
 * layers, a file with the layer it comes from, and a whiteout. The screenshot lands in
 * tests/out/ (not committed) for a person to look at.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { createDemoApp, serveRegistry } from "../server/mod.ts";
import { loadArchive, openStore } from "../storage/mod.ts";
import { dockerArchive, layerTar, streamOf } from "./_fixtures.ts";
import { missingPeers } from "./_peers.ts";

const OUT = fileURLToPath(new URL("./out/", import.meta.url));

async function threeLayerArchive(): Promise<Uint8Array> {
  const layers = [
    await layerTar([
      { name: "bin/", type: "directory" },
      { name: "bin/busybox", body: new Uint8Array(4096), mode: 0o755 },
      { name: "bin/sh", type: "symlink", linkname: "busybox" },
      { name: "etc/", type: "directory" },
      { name: "etc/motd", body: "Welcome to the demo image\n" },
      { name: "etc/os-release", body: 'NAME="demo"\n' },
    ]),
    await layerTar([
      { name: "app/", type: "directory" },
      { name: "app/server.js", body: "console.log('hi');\n".repeat(20) },
      { name: "etc/os-release", body: 'NAME="demo"\nVERSION="2"\n' },
    ]),
    await layerTar([
      { name: "etc/.wh.motd", body: "" },
      { name: "app/config.json", body: '{"port":8080}\n' },
    ]),
  ];
  return (await dockerArchive(layers, { repoTags: ["localhost/demo/app:1"] })).tar;
}

test(
  "the demo page shows an image pushed to the same server: layers, a file's layer, a whiteout",
  { skip: missingPeers("chromium") },
  async () => {
    const root = await mkdtemp(join(tmpdir(), "stratum-ui-"));
    const store = await openStore(join(root, "store"));
    await loadArchive(store, streamOf(await threeLayerArchive()));
    const server = await serveRegistry({
      store,
      addr: "127.0.0.1:0",
      ui: createDemoApp(store),
    });
    const browser = await chromium.launchPersistentContext(join(root, "profile"), {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1400, height: 1000 },
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => {
        // The 400 of the bad Dockerfile and the 501 of the build are expected; CSP violations
        // and the like are not.
        if (m.type() === "error" && !/status of (400|501)/.test(m.text())) {
          problems.push(`console: ${m.text()}`);
        }
      });
      await page.goto(`${server.url}/`);

      // Keyboard only: type the reference and press Enter.
      await page.getByLabel("Image reference").fill(`${server.url.slice(7)}/demo/app:1`);
      await page.getByLabel("Image reference").press("Enter");
      await page.getByRole("status").filter({ hasText: "Inspected" }).waitFor();

      const layers = page.locator("#stack li.layer");
      assert.equal(await layers.count(), 3);
      // The stack shows the top layer first, each with its history step.
      assert.deepEqual(await layers.locator(".created-by").allTextContents(), [
        "step 2",
        "step 1",
        "step 0",
      ]);
      const top = layers.nth(0);
      assert.match(await top.textContent() ?? "", /deletes\s*\/etc\/motd\s*\(hides L0\)/);
      assert.match(await top.locator(".counts").textContent() ?? "", /Removed\s*1 file/);
      const bottom = layers.nth(2);
      // os-release (12 bytes) was replaced and motd (26) deleted by later layers.
      assert.match(await bottom.locator(".wasted").textContent() ?? "", /Wasted\s*38 B/);

      const row = (path: string) => page.locator(`#tree-body tr:has(td.path[title="${path}"])`);
      assert.equal(await row("/etc/os-release").locator(".badge").textContent(), "L1");
      assert.equal(await row("/bin/busybox").locator(".badge").textContent(), "L0");
      assert.equal(await row("/app/config.json").locator(".badge").textContent(), "L2");
      assert.match(await row("/bin/sh").textContent() ?? "", /→ busybox/);
      const motd = row("/etc/motd");
      assert.equal(await motd.getAttribute("class"), "deleted");
      assert.match(await motd.textContent() ?? "", /deleted.*L2 whiteout/);

      // A Dockerfile with an error shows it with its line.
      await page.getByLabel("Dockerfile", { exact: true }).fill(
        "FROM scratch\nCOPY hello.txt /\nFROBNICATE\n",
      );
      await page.getByRole("button", { name: "Parse" }).click();
      await page.locator("#parse-errors").filter({ hasText: "line 3" }).waitFor();
      assert.equal(await page.locator("#gutter .bad").textContent(), "3");

      await mkdir(OUT, { recursive: true });
      await page.screenshot({ path: join(OUT, "server_ui.png"), fullPage: true });

      // The path filter narrows the tree to matching paths, deleted ones included.
      await page.getByLabel("Filter paths").fill("motd");
      await page.locator("#tree-count").filter({ hasText: "1 matching" }).waitFor();
      assert.equal(await page.locator("#tree-body tr").count(), 1);
      await page.getByLabel("Show deleted paths (whiteouts)").uncheck();
      await page.locator("#tree-count").filter({ hasText: "0 matching" }).waitFor();

      // Showing one layer's files from the stack.
      await page.getByLabel("Filter paths").fill("");
      await page.getByRole("button", { name: "Show only files from layer 1" }).click();
      const fromL1 = await page.locator("#tree-body td.path").evaluateAll((cells) =>
        cells.map((c) => c.getAttribute("title"))
      );
      assert.deepEqual(fromL1, ["/app", "/app/server.js", "/etc/os-release"]);

      // This server has no build engine: the page says so instead of failing silently.
      await page.getByLabel("Dockerfile", { exact: true }).fill("FROM scratch\nCOPY a /a\n");
      await page.getByRole("button", { name: "Build" }).click();
      await page.locator("#build-error").filter({ hasText: "no build engine" }).waitFor();

      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await server.close();
      await rm(root, { recursive: true, force: true });
    }
  },
);
