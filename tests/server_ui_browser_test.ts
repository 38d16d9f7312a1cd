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
import { type BrowserContext, chromium } from "playwright-core";
import { createDemoApp, demoBuildEngine, serveRegistry } from "../server/mod.ts";
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

/** Debian's chromium, headless, with a profile under `root`. */
function launch(root: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(join(root, "profile"), {
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
    const browser = await launch(root);
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
      assert.match(await bottom.locator(".wasted").textContent() ?? "", /Wasted\s*38B/);

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

test(
  "an empty store's demo shows the seeded image, its ENV and HEALTHCHECK as written, in MB/kB",
  { skip: missingPeers("chromium") },
  async () => {
    const root = await mkdtemp(join(tmpdir(), "stratum-ui-"));
    const store = await openStore(join(root, "store"));
    const ui = createDemoApp(store, {
      build: demoBuildEngine(join(root, "store")),
      namespace: "localhost",
    });
    assert.equal((await ui.seed()).seeded, true);
    const server = await serveRegistry({ store, addr: "127.0.0.1:0", ui });
    const browser = await launch(root);
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console: ${m.text()}`);
      });
      await page.goto(`${server.url}/`);

      // The first click a visitor makes: the placeholder's name.
      const placeholder = await page.getByLabel("Image reference").getAttribute("placeholder");
      assert.equal(placeholder, "demo/app:1");
      await page.getByLabel("Image reference").fill(placeholder);
      await page.getByLabel("Image reference").press("Enter");
      await page.getByRole("status").filter({ hasText: "Inspected" }).waitFor();
      assert.equal(await page.locator("#stack li.layer").count(), 4);

      const summary = async (term: string) =>
        await page.locator(`#summary dt:text-is("${term}") + dd`).textContent();
      assert.match(await summary("Size") ?? "", /^\d+(\.\d+)?kB in 4 layers$/);
      assert.match(await summary("Env") ?? "", /APP_PORT=8080\s*GREETING=hello from stratum/);
      assert.equal(
        await summary("Healthcheck"),
        'HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD ["/app/healthcheck"]',
      );
      assert.equal(await summary("Exposed ports"), "8080/tcp");
      // Steps without a layer read as the Dockerfile wrote them, not as Go values.
      const steps = await page.locator("#stack li.step code").allTextContents();
      assert.ok(
        steps.includes(
          'HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD ["/app/healthcheck"]',
        ),
        steps.join("\n"),
      );
      assert.ok(steps.includes("EXPOSE 8080/tcp"), steps.join("\n"));
      assert.ok(!steps.some((t) => t.includes("&{") || t.includes("map[")), steps.join("\n"));
      const wasted = await page.locator("#stack li.layer .wasted dd").allTextContents();
      assert.ok(wasted.includes("32B"), wasted.join(" "));

      // The parse view: ENV pairs, a shell-form and an exec-form HEALTHCHECK, an ARG.
      await page.getByLabel("Dockerfile", { exact: true }).fill(
        'FROM scratch\nENV A=1 B="two words"\nENV C 3\nARG V=2\n' +
          "HEALTHCHECK --interval=5m --timeout=3s CMD wget -q http://localhost/ || exit 1\n" +
          'HEALTHCHECK CMD ["/bin/check", "a b"]\n',
      );
      await page.getByRole("button", { name: "Parse" }).click();
      await page.locator("#parse-status").filter({ hasText: "Parsed 6 instructions" }).waitFor();
      const parsed = (await page.locator("#instructions li").allTextContents())
        .map((t) => t.replace(/^L\d+/, ""));
      assert.deepEqual(parsed, [
        "FROM scratch",
        'ENV A=1 B="two words"',
        "ENV C=3",
        "ARG V=2",
        "HEALTHCHECK --interval=5m --timeout=3s CMD wget -q http://localhost/ || exit 1",
        'HEALTHCHECK CMD ["/bin/check","a b"]',
      ]);
      assert.ok(!parsed.some((t) => t.includes("[object Object]")));

      await mkdir(OUT, { recursive: true });
      await page.screenshot({ path: join(OUT, "server_ui_seeded.png"), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await server.close();
      await rm(root, { recursive: true, force: true });
    }
  },
);
