import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  BuildCache,
  type KeyComponents,
  keyed,
  type LastRun,
  recordedComponents,
  type RecordedStep,
  type RunStep,
} from "./build_cache.ts";
import { explainMiss } from "./miss_reason.ts";

function components(file: string, key: string): KeyComponents {
  return { parent: "", instruction: "COPY", inputs: { [`ctx:${file}`]: key } };
}

function inputsOf(step: RunStep | undefined): unknown {
  return step && JSON.parse(new TextDecoder().decode(step.components as Uint8Array)).inputs;
}

/** The step at `position` with its components read whole, 7 bytes a read, or undefined. */
function readStep(last: LastRun, position: string): Promise<RunStep | undefined> {
  return last.withStep(position, async (found) => {
    if (!found) return undefined;
    const read = found.components as (into: Uint8Array) => Promise<number>;
    const parts: number[] = [];
    const piece = new Uint8Array(7);
    for (let n; (n = await read(piece)) > 0;) parts.push(...piece.subarray(0, n));
    return { ...found, components: new Uint8Array(parts) };
  });
}

function step(position: string, key: string, file: string): RecordedStep {
  const json = JSON.stringify(components(file, key));
  return { position, label: `COPY ${file} /`, key, componentsJson: json };
}

async function withCache(fn: (cache: BuildCache, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "stratum-build-cache-"));
  try {
    await fn(new BuildCache(root), root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test("a build whose step keys equal the last build's rewrites nothing of the run", async () => {
  await withCache(async (cache, root) => {
    const steps = [step("0/from", "sha256:a", "x"), step("0/1", "sha256:b", "x")];
    await cache.saveRun("ctx\0Dockerfile\0", steps, await cache.lastRun("ctx\0Dockerfile\0"));
    const dir = join(root, "build-cache", "runs");
    const before = await Promise.all((await readdir(dir)).map((n) => stat(join(dir, n))));
    assert.equal(before.length, 2);
    const last = await cache.lastRun("ctx\0Dockerfile\0");
    assert.equal(last.key("0/1"), "sha256:b");
    await cache.saveRun("ctx\0Dockerfile\0", steps, last);
    const after = await Promise.all((await readdir(dir)).map((n) => stat(join(dir, n))));
    assert.deepEqual(after.map((s) => s.ino).sort(), before.map((s) => s.ino).sort());
    // One key changed: both files are written again, and the step reads back.
    const changed = [steps[0], step("0/1", "sha256:c", "y")];
    await cache.saveRun("ctx\0Dockerfile\0", changed, last);
    const next = await cache.lastRun("ctx\0Dockerfile\0");
    assert.equal(next.key("0/1"), "sha256:c");
    assert.deepEqual(inputsOf(await readStep(next, "0/1")), { "ctx:y": "sha256:c" });
  });
});

test("a miss is explained against the last build's components, read only then", async () => {
  await withCache(async (cache) => {
    await cache.saveRun("r", [step("0/1", "sha256:b", "x")], await cache.lastRun("r"));
    const last = await cache.lastRun("r");
    assert.equal(
      await last.withStep("0/1", (previous) =>
        explainMiss(
          new TextEncoder().encode(JSON.stringify(components("y", "sha256:c"))),
          previous,
          undefined,
          "sha256:c",
        )),
      "context file x removed; context file y added",
    );
    assert.equal(await readStep(last, "9/9"), undefined);
  });
});

test("keys and components from two different builds are not paired", async () => {
  await withCache(async (cache, root) => {
    await cache.saveRun("r", [step("0/1", "sha256:b", "x")], await cache.lastRun("r"));
    const runs = join(root, "build-cache", "runs");
    const components = (await readdir(runs)).find((n) => n.endsWith(".jsonl"))!;
    // Another build's components landed, its keys not yet.
    await cache.saveRun("other", [step("0/1", "sha256:z", "other")], await cache.lastRun("o"));
    const other = (await readdir(runs)).find((n) => n.endsWith(".jsonl") && n !== components)!;
    await writeFile(join(runs, components), await readFile(join(runs, other)));
    const last = await cache.lastRun("r");
    assert.equal(last.key("0/1"), "sha256:b");
    assert.equal(await readStep(last, "0/1"), undefined);
    assert.ok((await readFile(join(runs, components), "utf8")).includes("sha256:z"));
  });
});

test("a run recorded before keys had their own file reads as no earlier build", async () => {
  await withCache(async (cache) => {
    const last = await cache.lastRun("never built");
    assert.equal(last.key("0/from"), undefined);
    assert.equal(await readStep(last, "0/from"), undefined);
    assert.equal(last.sameKeys([]), true);
  });
});

test("a step's key and JSON do not depend on the order its inputs were added in", async () => {
  const sorted = { "ctx:a": "644:x", "ctx:a/b": "644:y", "ctx:a-c": "dir:755", "ctx:b": '"q"' };
  // The order a directory walk gives: a's children before "a-c", which sorts before them.
  const walked = { "ctx:a": "644:x", "ctx:a-c": "dir:755", "ctx:a/b": "644:y", "ctx:b": '"q"' };
  const a = await keyed({ parent: "p", instruction: "COPY", inputs: walked });
  const b = await keyed({ instruction: "COPY", inputs: sorted, parent: "p" });
  assert.equal(a.key, b.key);
  assert.equal(a.json, b.json);
  assert.equal(
    a.json,
    '{"inputs":{"ctx:a":"644:x","ctx:a-c":"dir:755","ctx:a/b":"644:y","ctx:b":"\\"q\\""},' +
      '"instruction":"COPY","parent":"p"}',
  );
  // Undefined members are left out, wherever they are.
  const c = await keyed({
    parent: "p",
    instruction: "COPY",
    inputs: { ...sorted, "ctx:z": undefined } as unknown as Record<string, string>,
  });
  assert.equal(c.json, a.json);
});

test("large components wait in a file until the run is saved, and read back whole", async () => {
  await withCache(async (cache, root) => {
    const inputs: Record<string, string> = {};
    for (let i = 0; i < 2000; i++) {
      inputs[`ctx:files/f${String(i).padStart(5, "0")}.txt`] = `644:${i}`;
    }
    const big = await keyed({ parent: "p", instruction: "COPY files/ /files/", inputs });
    const spooled = await recordedComponents(root, big.json);
    assert.equal(typeof spooled, "object", "a file, not the text");
    assert.equal(await readFile((spooled as { file: string }).file, "utf8"), big.json);
    const small = step("0/from", "sha256:a", "x");
    assert.equal(
      await recordedComponents(root, small.componentsJson as string),
      small.componentsJson,
    );

    const steps = [small, {
      position: "0/1",
      label: "COPY",
      key: big.key,
      componentsJson: spooled,
    }];
    await cache.saveRun("r", steps, await cache.lastRun("r"));
    const last = await cache.lastRun("r");
    assert.deepEqual(inputsOf(await readStep(last, "0/1")), inputs);
    assert.deepEqual(inputsOf(await readStep(last, "0/from")), { "ctx:x": "sha256:a" });
    const runs = join(root, "build-cache", "runs");
    const record = (await readdir(runs)).find((n) => n.endsWith(".jsonl"))!;
    const lines = (await readFile(join(runs, record), "utf8")).split("\n");
    assert.deepEqual(lines.map((l) => JSON.parse(l || "null")?.position), [
      "0/from",
      undefined,
      "0/1",
      undefined,
      undefined,
    ], "a line of position, label and key, then one of components, for each step");
    assert.equal(lines[3], big.json);
  });
});

test("streamed inputs give the key and JSON of the same inputs held in the object", async () => {
  const held: Record<string, string> = {
    "ctx:": "dir:755",
    "ctx:a": "dir:755",
    "ctx:a-c": "644:x",
    'ctx:a/"q"': "link:\\back",
    "ctx:a/é": "644:y",
    "heredoc:EOF": "sha256:h",
    "url:https://x/y": "sha256:u",
  };
  const streamedNames = Object.keys(held).filter((k) => k.startsWith("ctx:")).sort();
  const plain = { "heredoc:EOF": held["heredoc:EOF"], "url:https://x/y": held["url:https://x/y"] };
  const streamed = {
    each: (emit: (n: string, v: string) => void) => {
      for (const name of streamedNames) emit(name, held[name]);
    },
  };
  for (const args of [undefined, { B: "2", A: "1" }]) {
    const base = { parent: "p", instruction: "COPY . /", ...(args ? { args } : {}) };
    const whole = await keyed({ ...base, inputs: held });
    const inMemory = await keyed({ ...base, inputs: plain, streamed });
    assert.deepEqual(inMemory, whole);
    await withCache(async (_cache, root) => {
      const spooled = await keyed({ ...base, inputs: plain, streamed }, root);
      assert.equal(spooled.key, whole.key);
      const file = (spooled.json as { file: string }).file;
      assert.equal(await readFile(file, "utf8"), whole.json);
    });
  }
  // Nothing streamed and no inputs: still an empty inputs object, as a COPY had.
  const empty = { each: () => {} };
  assert.deepEqual(
    await keyed({ parent: "p", instruction: "COPY", streamed: empty }),
    await keyed({ parent: "p", instruction: "COPY", inputs: {} }),
  );
});

test("saving a run removes the one-document record of earlier versions", async () => {
  await withCache(async (cache, root) => {
    await cache.saveRun("r", [step("0/1", "sha256:a", "x")], await cache.lastRun("r"));
    const runs = join(root, "build-cache", "runs");
    const record = (await readdir(runs)).find((n) => n.endsWith(".jsonl"))!;
    const legacy = join(runs, record.replace(/\.jsonl$/, ".json"));
    await writeFile(legacy, "[]");
    await writeFile(`${legacy}.keys`, "[]");
    await cache.saveRun("r", [step("0/1", "sha256:b", "x")], await cache.lastRun("r"));
    assert.deepEqual((await readdir(runs)).sort(), [record, `${record}.keys`]);
  });
});
